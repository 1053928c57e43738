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

Variables ``keep_i ∈ {0,1}`` for every table touching a usable edge and ``y_ji ∈ {0,1}`` for every
usable edge ``i ⊆ j`` — verified (or derived from verified edges by transitivity) and with
``t_ji`` within i's limit (``max_rebuild_seconds``, per table from the CSV or one default)::

    minimise   Σ_i S_i·keep_i + Σ_(j,i) f_i·r_ji·y_ji
    subject to keep_i + Σ_j y_ji = 1      (every table is kept or rebuilt from exactly one parent)
               y_ji ≤ keep_j              (only from a kept parent: never from another deleted table)
               keep_i = 1 for pinned i

In a group of exact duplicates, edges run both ways, and the two constraints leave exactly one copy
kept. Tables without usable edges are kept and are not part of the problem. ``deletion_solver``
solves it; ``deletion_plan`` turns the solution into the plan file.

Algorithm and parameters: docs/ALGORITHMS.md §4.8.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

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

    def cost(self, parent_of: Mapping[str, str]) -> float:
        """Objective of a solution given as ``{deleted child: kept parent}``."""
        by_pair = {(c.child, c.parent): c for c in self.candidates}
        total = sum(self.storage[n] for n in self.names if n not in parent_of)
        total += sum(by_pair[(c, p)].access_cost for c, p in parent_of.items())
        return float(total)

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
        return out


def build_problem(scan: ScanResult, cost: CostModel | None = None, *,
                  accesses: Mapping[str, float] | None = None,
                  limits: Mapping[str, float] | None = None,
                  pinned: Mapping[str, str] | None = None) -> Problem:
    """Usable edges → candidates, with their costs; counts of edges left out and why."""
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
    names = sorted({c.child for c in cands.values()} | {c.parent for c in cands.values()})
    return Problem(
        names=names,
        size_bytes={n: prof[n].size_bytes for n in names},
        storage={n: cost.storage_cost(prof[n].size_bytes) for n in names},
        accesses={n: accesses.get(n, cost.default_accesses) for n in names},
        limits={n: limits.get(n, cost.max_rebuild_seconds) for n in names},
        pinned={n: r for n, r in pinned.items() if n in prof},
        candidates=sorted(cands.values(), key=lambda c: (c.child, c.parent)),
        dropped=dropped,
    )
