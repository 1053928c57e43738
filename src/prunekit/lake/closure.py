"""After verification: transitive closure and exact-duplicate groups.

Containment is transitive: if ``A ⊆ B`` (on cols(A)) and ``B ⊆ C`` (on cols(B)), then
``A ⊆ C`` on cols(A), under bag semantics as under set semantics (projecting a bag inclusion keeps
it an inclusion). The pipeline uses this twice: a pair already implied by proven pairs is not
queried again (``implied``), and the final edge set is closed (``transitive_closure``).

Exact duplicates are tables that contain each other with equal row counts (and, under set
semantics, equal fingerprints, because mutual *set* containment allows different multiplicities).

Algorithm and parameters: docs/ALGORITHMS.md §4.7.
"""

from __future__ import annotations

from collections import defaultdict

from prunekit.lake.model import TableProfile


class ContainmentSet:
    """Proven pairs ``child ⊆ parent``, with lookups in both directions."""

    def __init__(self) -> None:
        self.parents_of: dict[str, set[str]] = defaultdict(set)

    def add(self, parent: str, child: str) -> None:
        self.parents_of[child].add(parent)

    def __contains__(self, pair: tuple[str, str]) -> bool:
        parent, child = pair
        return parent in self.parents_of.get(child, ())

    def implied(self, parent: str, child: str) -> bool:
        """True if some proven ``child ⊆ X`` and ``X ⊆ parent`` exist (one intermediate step)."""
        for x in self.parents_of.get(child, ()):
            if parent in self.parents_of.get(x, ()):
                return True
        return False

    def pairs(self) -> set[tuple[str, str]]:
        return {(p, c) for c, ps in self.parents_of.items() for p in ps}


def transitive_closure(pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """All ``(parent, child)`` reachable child → … → parent through ``pairs``, without self-pairs."""
    up: dict[str, set[str]] = defaultdict(set)
    for p, c in pairs:
        up[c].add(p)
    out = set()
    for start in list(up):
        seen, stack = set(), list(up[start])
        while stack:
            x = stack.pop()
            if x in seen:
                continue
            seen.add(x)
            stack.extend(up.get(x, ()))
        out.update((p, start) for p in seen if p != start)
    return out


def duplicate_groups(pairs: set[tuple[str, str]], profiles: dict[str, TableProfile],
                     semantics: str = "bag") -> list[list[str]]:
    """Groups (sorted, size >= 2, sorted by first member) of mutually contained equal tables."""
    parent_of = {}

    def find(x: str) -> str:
        while parent_of[x] != x:
            parent_of[x] = parent_of[parent_of[x]]
            x = parent_of[x]
        return x

    for p, c in pairs:
        if (c, p) not in pairs or profiles[p].rows != profiles[c].rows:
            continue
        if semantics == "set" and (profiles[p].fingerprint is None
                                   or profiles[p].fingerprint != profiles[c].fingerprint):
            continue
        parent_of.setdefault(p, p)
        parent_of.setdefault(c, c)
        ra, rb = find(p), find(c)
        if ra != rb:
            parent_of[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = defaultdict(list)
    for x in list(parent_of):
        groups[find(x)].append(x)
    return sorted((sorted(g) for g in groups.values() if len(g) >= 2), key=lambda g: g[0])
