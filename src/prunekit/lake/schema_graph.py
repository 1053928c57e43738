"""Stage 1: the schema containment graph, built with an inverted index (never all pairs).

A candidate pair ``(parent, child)`` means ``schema(child) ⊆ schema(parent)``: every column of the
child (normalised name, normalised type; see ``model.normalise_name``/``normalise_type``) is a
column of the parent, and ``parent != child``. Order of columns and letter case do not matter;
``int32`` matches ``int64`` and ``string`` matches ``large_string``. The scan passes the *compared*
profiles (``semantics.compared_profiles``): types are families (every number is ``number`` unless
``numbers="type"``), index columns are left out. A column of the Arrow null type (all null: a CSV
column of empty fields) fits a same-named column of any type, both ways.

The index maps each column signature ``(name, type)`` to the set of tables that have it; the
candidate parents of a child are the intersection of the posting lists of its columns, taken
smallest first (sets for short lists, bitsets when all the child's columns are common). No pair
of tables is ever enumerated unless it is a candidate.

Narrow children (fewer than ``min_columns`` columns, default 2) are matched only against tables
with the identical schema. Their values occurring in the same-named column of a wider table is
almost always a coincidence (a vector ``x`` of small integers "is contained" in every table with an
``x`` column holding those integers) and rebuilding a vector from an unrelated table is not a
deletion anyone wants; exact duplicates of narrow tables are still found. ``min_columns=1`` turns
this off.

Algorithm and parameters: docs/ALGORITHMS.md §4.3.
"""

from __future__ import annotations

from collections import defaultdict

from prunekit.lake.model import TableProfile
from prunekit.lake.params import MIN_COLUMNS


def column_signatures(profile: TableProfile) -> frozenset[tuple[str, str]]:
    return frozenset((c.name, c.type) for c in profile.columns)


def _fits(child: frozenset, parent: dict[str, str]) -> bool:
    """Every child column is a parent column of the same type, or one of the two is of null type."""
    return all(n in parent and (parent[n] == t or "null" in (t, parent[n])) for n, t in child)


def _bitset(ids: set[int]) -> int:
    """The integer with bits ``ids`` set."""
    import numpy as np

    bits = np.zeros(max(ids) + 1, dtype=bool)
    bits[np.fromiter(ids, dtype=np.int64, count=len(ids))] = True
    return int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little")


def schema_candidates(profiles: dict[str, TableProfile], *, min_columns: int = MIN_COLUMNS.default
                      ) -> list[tuple[str, str]]:
    """Sorted ``(parent, child)`` pairs with ``schema(child) ⊆ schema(parent)``, ``parent != child``.

    Per child, the posting lists of its columns are intersected smallest first. When the smallest
    is short (the usual case: some column of the child is rare) the intersection runs on Python
    sets and costs O(length of that list); when every column of the child is common (a list longer
    than N/64), it runs on bitsets (Python integers, bit i = table i), an AND in C over N/64 words.
    """
    MIN_COLUMNS.check(min_columns)
    names = sorted(profiles)
    n = len(names)
    members: dict[tuple[str, str], set[int]] = defaultdict(set)
    schema_members: dict[frozenset, set[int]] = defaultdict(set)
    by_name: dict[str, set[int]] = defaultdict(set)       # any type: posting of a null-typed child column
    sigs, types = [], []
    for i, name in enumerate(names):
        s = column_signatures(profiles[name])
        sigs.append(s)
        types.append(dict(s))
        schema_members[s].add(i)
        for sig in s:
            members[sig].add(i)
            by_name[sig[0]].add(i)
    for (cname, t), ids in list(members.items()):       # null-typed parent columns fit every type
        if t != "null":
            members[(cname, t)] = ids | members.get((cname, "null"), set())
    for (cname, t) in [k for k in members if k[1] == "null"]:
        members[(cname, t)] = by_name[cname]
    small = max(64, n // 64)
    bitsets: dict[tuple[str, str], int] = {}   # built on first use, for long lists only
    nbytes = 8 * ((n + 63) // 64)

    pairs: list[tuple[str, str]] = []
    for i, s in enumerate(sigs):
        if len(s) < min_columns:
            found = [j for j in schema_members[s] if j != i]
        else:
            order = sorted(s, key=lambda sig: len(members[sig]))
            if len(members[order[0]]) <= small:
                cand = set(members[order[0]])
                for sig in order[1:]:
                    cand &= members[sig]       # iterates the smaller operand
                    if len(cand) <= 1:
                        break
                cand.discard(i)
                found = [j for j in cand if _fits(s, types[j])]   # re-check after an early stop
            else:
                mask = -1
                for sig in order:
                    if sig not in bitsets:
                        bitsets[sig] = _bitset(members[sig])
                    mask &= bitsets[sig]
                    if not mask:
                        break
                found = [j for j in _positions(mask, nbytes) if j != i] if mask > 0 else []
        child = names[i]
        pairs.extend((names[j], child) for j in found)
    pairs.sort()
    return pairs


def _positions(mask: int, nbytes: int) -> list[int]:
    """Indices of the set bits of ``mask``: numpy finds the non-zero 64-bit words (N/64 of them),
    Python walks the few set bits inside those words."""
    import numpy as np

    words = np.frombuffer(mask.to_bytes(nbytes, "little"), dtype="<u8")
    out = []
    for w in np.flatnonzero(words).tolist():
        x = int(words[w])
        base = 64 * w
        while x:
            low = x & -x
            out.append(base + low.bit_length() - 1)
            x ^= low
    return out
