"""The deletion problem: which contained tables to delete (and rebuild on demand) at least total cost.

Cost model (every term in currency per month; defaults are list-price orders of magnitude, change
them with the options):

- storage of table i:  ``S_i = bytes_i / 1e9 · storage_price_per_gb_month``  (default 0.023);
- one rebuild of i from parent j: ``r_ji = bytes_j / 1e9 · scan_price_per_gb`` (default 0.005,
  i.e. 5 per TB scanned): a rebuild reads the whole parent;
- rebuild latency: ``t_ji = bytes_j / (throughput_mb_per_s · 1e6)`` seconds (default 100 MB/s);
- accesses per month ``f_i`` from an optional CSV (``table,accesses[,max_rebuild_seconds]``),
  ``default_accesses`` (0) for tables it does not list: with no access data a deleted table is
  assumed never read, and only the latency limit stops a deletion.

- the recipe that stays behind when i is deleted (rebuilt from j) is stored too:
  ``R_ji = recipe_bytes_ji / 1e9 · storage_price_per_gb_month``, with the recipe's exact size
  (``plan_inputs.measure_recipes`` builds it as ``apply`` will and counts the bytes it would write).

Variables ``keep_i ∈ {0,1}`` for every table touching a usable edge and ``y_ji ∈ {0,1}`` for every
usable edge ``i ⊆ j`` — verified (or derived from verified edges by transitivity), with ``t_ji``
within i's limit (``max_rebuild_seconds``, per table from the CSV or one default) and an exact
recipe::

    minimise   Σ_i S_i·keep_i + Σ_(j,i) (f_i·r_ji + R_ji)·y_ji
    subject to keep_i + Σ_j y_ji = 1      (every table is kept or rebuilt from exactly one parent)
               y_ji ≤ keep_j              (only from a kept parent: never from another deleted table)
               keep_i = 1 for pinned i
               keep_b ≤ keep_a            (a before b in the keep order of a group of identical tables)

In a group of exact duplicates, edges run both ways, and the constraints leave the copies first in
the **keep order** (``KeepOrder``): pinned, then more accessed, then matched by an earlier
``--prefer`` glob, then older (modification time), then shorter lake-relative path, then path order.
Tables without usable edges are kept and are not part of the problem. ``deletion_solver`` solves it;
``deletion_plan`` turns the solution into the plan file.

Algorithm and parameters: docs/ALGORITHMS.md §4.8.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Mapping, Sequence, Union

from prunekit.lake.model import ScanResult
from prunekit.lake.params import (
    COST_PARAMS,
    DEFAULT_ACCESSES,
    MAX_REBUILD_SECONDS,
    SCAN_PRICE,
    STORAGE_PRICE,
    THROUGHPUT,
)


@dataclass(frozen=True)
class CostModel:
    """Prices and throughput turning bytes into monthly cost and seconds (see the module docstring)."""

    storage_price_per_gb_month: float = STORAGE_PRICE.default
    scan_price_per_gb: float = SCAN_PRICE.default
    throughput_mb_per_s: float = THROUGHPUT.default
    default_accesses: float = DEFAULT_ACCESSES.default
    max_rebuild_seconds: float | None = MAX_REBUILD_SECONDS.default

    def __post_init__(self) -> None:
        for p in COST_PARAMS:   # checked, kept as given (the plan file records them as given)
            p.check(getattr(self, p.name))

    def storage_cost(self, nbytes: float) -> float:
        return nbytes / 1e9 * self.storage_price_per_gb_month

    def rebuild_cost(self, parent_bytes: float) -> float:
        return parent_bytes / 1e9 * self.scan_price_per_gb

    def rebuild_seconds(self, parent_bytes: float) -> float:
        return parent_bytes / (self.throughput_mb_per_s * 1e6)


@dataclass(frozen=True)
class DeletionCandidate:
    """One way to delete ``child``: rebuild it from ``parent`` (a variable ``y_ji`` of the MILP)."""

    child: str
    parent: str
    columns: tuple[str, ...]
    semantics: str
    duplicate: bool
    derived: bool
    rebuild_cost: float       # per rebuild
    rebuild_seconds: float
    access_cost: float        # per month: accesses(child) · rebuild_cost
    recipe_bytes: int = 0     # the recipe that stays behind (exact size when measured)
    recipe_cost: float = 0.0  # per month: its storage

    @property
    def cost(self) -> float:
        """What deleting the child this way costs per month: its accesses' rebuilds + the recipe."""
        return self.access_cost + self.recipe_cost


@dataclass
class Problem:
    """The optimisation input: tables touching a usable edge, their costs, pins and candidates."""

    names: list[str]
    size_bytes: dict[str, int]
    storage: dict[str, float]
    accesses: dict[str, float]
    limits: dict[str, float | None]
    pinned: dict[str, str]                  # name -> why
    candidates: list[DeletionCandidate]
    dropped: dict[str, int] = field(default_factory=dict)
    groups: list[list[str]] = field(default_factory=list)   # identical tables, in keep order
    no_recipe: dict[str, str] = field(default_factory=dict)  # "child ⊆ parent" -> why no recipe

    def cost(self, parent_of: Mapping[str, str]) -> float:
        """Objective of a solution given as ``{deleted child: kept parent}``."""
        by_pair = {(c.child, c.parent): c for c in self.candidates}
        total = sum(self.storage[n] for n in self.names if n not in parent_of)
        total += sum(by_pair[(c, p)].cost for c, p in parent_of.items())
        return float(total)

    def order_pairs(self) -> list[tuple[str, str]]:
        """``(a, b)``: a comes right before b in a group's keep order (``keep_b ≤ keep_a``)."""
        return [(g[t], g[t + 1]) for g in self.groups for t in range(len(g) - 1)]

    def violations(self, parent_of: Mapping[str, str]) -> list[str]:
        """Why a solution is infeasible (empty when it is feasible)."""
        pairs = {(c.child, c.parent) for c in self.candidates}
        out = []
        for c, p in parent_of.items():
            if (c, p) not in pairs:
                out.append(f"{c} from {p}: not a usable edge")
            if p in parent_of:
                out.append(f"{c} from {p}: the parent is deleted too")
            if c in self.pinned:
                out.append(f"{c}: pinned ({self.pinned[c]})")
        for a, b in self.order_pairs():
            if a in parent_of and b not in parent_of:
                out.append(f"{a} deleted while {b}, after it in the keep order, is kept")
        return out


RecipeSizes = Union[Mapping[tuple[str, str], int],
                    Callable[[Sequence[DeletionCandidate]], tuple[dict[tuple[str, str], int], dict[tuple[str, str], str]]]]


def build_problem(scan: ScanResult, cost: CostModel | None = None, *,
                  accesses: Mapping[str, float] | None = None,
                  limits: Mapping[str, float] | None = None,
                  pinned: Mapping[str, str] | None = None,
                  recipes: RecipeSizes | None = None,
                  keep_order: "KeepOrder | None" = None) -> Problem:
    """Usable edges → candidates, with their costs; counts of edges left out and why.

    ``recipes``: the recipe bytes of each ``(child, parent)`` candidate, as a mapping (missing
    pairs: 0) or as a function of the candidates returning ``(bytes, refusals)`` — a candidate
    refused there (no exact recipe) is left out. ``None``: recipes are not counted (0 bytes).
    ``keep_order``: how identical tables are ranked (default: ``KeepOrder`` without preferences).
    """
    cost = cost or CostModel()
    accesses = dict(accesses or {})
    limits = dict(limits or {})
    pinned = dict(pinned or {})
    prof = scan.profiles
    # A pinned child keeps its candidates (fixed to 0 by keep_i = 1), so it is part of the plan
    # and its entry says why it stays.
    dropped = {"unverified": 0, "unknown_table": 0, "latency": 0}
    cands: dict[tuple[str, str], DeletionCandidate] = {}
    for e in scan.edges:
        if not (e.verified or e.derived):
            dropped["unverified"] += 1
            continue
        if e.parent not in prof or e.child not in prof or e.parent == e.child:
            dropped["unknown_table"] += 1
            continue
        secs = cost.rebuild_seconds(prof[e.parent].size_bytes)
        limit = limits.get(e.child, cost.max_rebuild_seconds)
        if limit is not None and secs > limit:
            dropped["latency"] += 1
            continue
        key = (e.child, e.parent)
        if key in cands and not cands[key].derived:
            continue  # keep the directly verified edge over a derived duplicate of it
        rc = cost.rebuild_cost(prof[e.parent].size_bytes)
        f = accesses.get(e.child, cost.default_accesses)
        cands[key] = DeletionCandidate(child=e.child, parent=e.parent, columns=tuple(e.columns),
                                       semantics=e.semantics, duplicate=e.duplicate, derived=not e.verified,
                                       rebuild_cost=rc, rebuild_seconds=secs, access_cost=f * rc)
    found = sorted(cands.values(), key=lambda c: (c.child, c.parent))
    no_recipe: dict[str, str] = {}
    dropped["no_recipe"] = 0
    if recipes is not None:
        sizes, refused = (recipes(found) if callable(recipes) else (dict(recipes), {}))
        kept = []
        for c in found:
            why = refused.get((c.child, c.parent))
            if why is not None:
                dropped["no_recipe"] += 1
                no_recipe[f"{c.child} ⊆ {c.parent}"] = why
                continue
            nb = int(sizes.get((c.child, c.parent), 0))
            kept.append(replace(c, recipe_bytes=nb, recipe_cost=cost.storage_cost(nb)))
        found = kept
    names = sorted({c.child for c in found} | {c.parent for c in found})
    problem = Problem(
        names=names,
        size_bytes={n: prof[n].size_bytes for n in names},
        storage={n: cost.storage_cost(prof[n].size_bytes) for n in names},
        accesses={n: accesses.get(n, cost.default_accesses) for n in names},
        limits={n: limits.get(n, cost.max_rebuild_seconds) for n in names},
        pinned={n: r for n, r in pinned.items() if n in prof},
        candidates=found,
        dropped=dropped,
        no_recipe=no_recipe,
    )
    order = keep_order or KeepOrder()
    for members in _merged(scan.duplicate_groups, set(names)):
        problem.groups.append(order.rank(members, scan, problem))
    return problem


def _merged(groups: Iterable[Iterable[str]], inside: set[str]) -> list[list[str]]:
    """Duplicate groups restricted to ``inside``, overlapping ones merged (identity is
    transitive), each of at least two tables."""
    owner: dict[str, int] = {}
    merged: list[set[str]] = []
    for g in groups:
        members = {m for m in g if m in inside}
        hit = sorted({owner[m] for m in members if m in owner})
        target = hit[0] if hit else len(merged)
        if not hit:
            merged.append(set())
        for h in hit[1:]:
            merged[target] |= merged[h]
            merged[h] = set()
        merged[target] |= members
        for m in merged[target]:
            owner[m] = target
    return [sorted(g) for g in merged if len(g) >= 2]


# --- which copy of identical tables stays ----------------------------------------------------------


@dataclass(frozen=True)
class KeepOrder:
    """The order in which copies of identical tables are kept (the first kept copy is the one the
    others are rebuilt from). Rules, each deciding only when the ones before it tie:

    1. pinned (``--pin``, or the parent of a table in the trash) before not pinned;
    2. more accesses per month (the access CSV, else ``--default-accesses``) first;
    3. matched by an earlier ``--prefer`` glob (lake-relative path, shell-style; ``*`` also crosses
       ``/``) first; matched by none last;
    4. older modification time first (a folder of parts: its newest file; unknown last);
    5. shorter lake-relative path first;
    6. lexicographic lake-relative path (always decides).
    """

    prefer: tuple[str, ...] = ()
    mtimes: Mapping[str, float | None] = field(default_factory=dict)

    def _facts(self, name: str, scan: ScanResult, problem: Problem) -> tuple:
        path = relpath(scan, name)
        glob = next((i for i, g in enumerate(self.prefer) if fnmatch.fnmatchcase(path, g)), len(self.prefer))
        mtime = self.mtimes.get(name)
        return (0 if name in problem.pinned else 1, -problem.accesses.get(name, 0.0), glob,
                float("inf") if mtime is None else mtime, len(path), path)

    def rank(self, members: Iterable[str], scan: ScanResult, problem: Problem) -> list[str]:
        return sorted(members, key=lambda m: self._facts(m, scan, problem))

    def why(self, kept: str, other: str, scan: ScanResult, problem: Problem) -> str:
        """The rule that puts ``kept`` before ``other``, in words (for the plan's reasons)."""
        a, b = self._facts(kept, scan, problem), self._facts(other, scan, problem)
        if a[0] != b[0]:
            reason = problem.pinned.get(kept, "pinned")
            return "kept by --pin" if reason == "pinned" else f"kept as the {reason}"
        if a[1] != b[1]:
            return f"kept as more accessed ({-a[1]:g} vs {-b[1]:g} a month)"
        if a[2] != b[2]:
            return f"kept by --prefer '{self.prefer[a[2]]}'"
        if a[3] != b[3]:
            return "kept as the older copy (modified first)" if b[3] != float("inf") else \
                "kept as the copy with a known modification time"
        if a[4] != b[4]:
            return "kept as the shorter path"
        return "kept as first in path order"


def relpath(scan: ScanResult, name: str) -> str:
    """A table's path relative to the lake root ('/'-separated, with its extension); its name when
    the path lies elsewhere."""
    from pathlib import PurePath

    path, root = PurePath(scan.profiles[name].path), PurePath(scan.root)
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return name
