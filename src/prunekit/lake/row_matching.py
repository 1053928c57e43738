"""Pairing a child's rows with bit-identical parent rows (the positions of a recipe).

Matching: ``tableio.row_hashes`` groups candidate rows (value-based), the float bit patterns refine
the groups, the k-th occurrence of a key in the child is paired with the k-th occurrence in the
parent (bag semantics: distinct parent rows, multiplicities respected; set semantics: every child
row takes the first equal parent row, positions may repeat). Every pair is then compared on the
actual values; a pair that only agreed by hash goes through an exact row-by-row search. The hash
is never trusted alone.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from prunekit.lake import tableio
from prunekit.lake.exact import exact_form, forms_equal


def _exact_keys(table: pa.Table, forms: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Row keys that separate rows value-equal but not bit-equal (``-0.0``/``0.0``, NaN payloads):
    the value-based ``tableio.row_hashes`` refined with the float bit patterns."""
    h = tableio.row_hashes(table)
    with np.errstate(over="ignore"):
        for i, (field, (_, vals)) in enumerate(zip(table.schema, forms)):
            t = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
            if pa.types.is_floating(t):
                h = tableio.splitmix64(h ^ tableio.splitmix64(vals.astype(np.uint64) + np.uint64(i + 1)))
    return h


def _occurrence_rank(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(order, rank)``: a stable sort of ``keys`` and, per row, how many earlier rows share its key."""
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    n = len(keys)
    starts = np.ones(n, dtype=bool)
    if n:
        starts[1:] = sk[1:] != sk[:-1]
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0)) if n else np.zeros(0, np.int64)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - first
    return order, rank


def match_positions(child: pa.Table, parent_view: pa.Table, candidate: np.ndarray,
                    semantics: str = "bag") -> tuple[np.ndarray, list[int]]:
    """Parent row per child row (``-1`` where none exists) and the unmatched child rows.

    ``parent_view`` holds the parent's columns already renamed and cast to the child's schema;
    ``candidate[p]`` is False for parent rows that cannot hold a child value (lossy casts).
    Bag: distinct parent rows; set: repeated positions allowed.
    """
    cf = [exact_form(c) for c in child.columns]
    pf = [exact_form(c) for c in parent_view.columns]
    kc = _exact_keys(child, cf)
    kp = _exact_keys(parent_view, pf)
    cand_idx = np.nonzero(candidate)[0]
    kp_c = kp[cand_idx]
    order_p, _ = _occurrence_rank(kp_c)
    sorted_kp = kp_c[order_p]
    if semantics == "set":
        rank_c = np.zeros(child.num_rows, dtype=np.int64)
    else:
        _, rank_c = _occurrence_rank(kc)
    lo = np.searchsorted(sorted_kp, kc, side="left")
    at = lo + rank_c
    ok = at < len(sorted_kp)
    ok[ok] = sorted_kp[at[ok]] == kc[ok]
    pos = np.full(child.num_rows, -1, dtype=np.int64)
    pos[ok] = cand_idx[order_p[at[ok]]]
    # Never trust the hash alone: compare the paired rows on their actual values.
    if ok.any():
        rows = np.nonzero(ok)[0]
        same = np.ones(len(rows), dtype=bool)
        for a, b in zip(cf, pf):
            same &= forms_equal((a[0][rows], a[1][rows]), (b[0][pos[rows]], b[1][pos[rows]]))
        pos[rows[~same]] = -1
    need = np.nonzero(pos < 0)[0]
    if len(need):
        _exact_search(child, parent_view, candidate, cf, pf, pos, need, semantics)
    unmatched = [int(r) for r in np.nonzero(pos < 0)[0]]
    return pos, unmatched


def _exact_search(child, parent_view, candidate, cf, pf, pos, need, semantics) -> None:
    """Slow exact path for rows whose hashed pairing failed: scan the value-hash group of each
    row for an unused, bit-identical parent row. Greedy is optimal here because bitwise equality
    is an equivalence relation (any equal row serves any equal child row)."""
    hc = tableio.row_hashes(child)
    hp = tableio.row_hashes(parent_view)
    used = np.zeros(parent_view.num_rows, dtype=bool)
    if semantics != "set":
        used[pos[pos >= 0]] = True
    wanted = np.isin(hp, hc[need]) & candidate
    groups: dict[int, list[int]] = {}
    for p in np.nonzero(wanted)[0]:
        groups.setdefault(int(hp[p]), []).append(int(p))

    def equal(r: int, p: int) -> bool:
        for (vc, xc), (vp, xp) in zip(cf, pf):
            if vc[r] != vp[p] or (vc[r] and xc[r] != xp[p]):
                return False
        return True

    for r in need:
        for p in groups.get(int(hc[r]), ()):
            if used[p]:
                continue
            if equal(int(r), p):
                pos[r] = p
                if semantics != "set":
                    used[p] = True
                break
