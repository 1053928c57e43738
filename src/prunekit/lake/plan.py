"""Deletion plan: which contained tables to delete (and rebuild on demand) at least total cost.

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
kept. Solved with ``scipy.optimize.milp`` (HiGHS, relative gap 0); ``greedy`` is the fallback
(also used automatically when the MILP fails or hits its time limit without a solution). Tables
without usable edges are kept and are not part of the problem.
"""

from __future__ import annotations

import csv
import datetime as _dt
import fnmatch
import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from prunekit.errors import ConfigError, InputError
from prunekit.io.atomic import atomic_path
from prunekit.lake.model import ScanResult

PLAN_FORMAT = "prunekit-lake-plan"
PLAN_VERSION = 1
SOLVERS = ("milp", "greedy")


@dataclass(frozen=True)
class CostModel:
    """Prices and throughput turning bytes into monthly cost and seconds (see the module docstring)."""

    storage_price_per_gb_month: float = 0.023
    scan_price_per_gb: float = 0.005
    throughput_mb_per_s: float = 100.0
    default_accesses: float = 0.0
    max_rebuild_seconds: float | None = None

    def __post_init__(self) -> None:
        for name in ("storage_price_per_gb_month", "scan_price_per_gb", "default_accesses"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"{name} must be a finite number >= 0, got {v!r}")
        t = self.throughput_mb_per_s
        if not isinstance(t, (int, float)) or not math.isfinite(t) or t <= 0:
            raise ConfigError(f"throughput_mb_per_s must be a finite number > 0, got {t!r}")
        m = self.max_rebuild_seconds
        if m is not None and (not isinstance(m, (int, float)) or math.isnan(m) or m < 0):
            raise ConfigError(f"max_rebuild_seconds must be >= 0 (or None for no limit), got {m!r}")

    def storage_cost(self, nbytes: float) -> float:
        return nbytes / 1e9 * self.storage_price_per_gb_month

    def rebuild_cost(self, parent_bytes: float) -> float:
        return parent_bytes / 1e9 * self.scan_price_per_gb

    def rebuild_seconds(self, parent_bytes: float) -> float:
        return parent_bytes / (self.throughput_mb_per_s * 1e6)


@dataclass(frozen=True)
class Candidate:
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
    candidates: list[Candidate]
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


@dataclass
class Solution:
    parent_of: dict[str, str]
    objective: float
    solver: str
    status: str
    bound: float | None = None
    gap: float | None = None
    seconds: float = 0.0
    note: str = ""


# --- inputs --------------------------------------------------------------------------------------


def load_scan(path: str | Path) -> tuple[ScanResult, Path, str]:
    """A scan from ``containment.json`` or the folder holding it: ``(scan, json path, sha256)``."""
    p = Path(path)
    if p.is_dir():
        p = p / "containment.json"
    if not p.exists():
        raise InputError(f"{p}: no such file (expected a scan folder or its containment.json)")
    try:
        text = p.read_text()
        scan = ScanResult.from_json(text)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{p}: not a prunekit lake scan ({type(exc).__name__}: {exc})") from exc
    return scan, p, hashlib.sha256(text.encode()).hexdigest()


def read_access_csv(path: str | Path, known: Iterable[str]) -> tuple[dict[str, float], dict[str, float]]:
    """``(accesses, limits)`` from a CSV with columns ``table,accesses`` and optionally
    ``max_rebuild_seconds`` (empty = the default limit). Every table must be a table of the scan."""
    p = Path(path)
    known = set(known)
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise InputError(f"{p}: cannot read access counts: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: access counts are not UTF-8 text") from exc
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise InputError(f"{p}: empty; expected a header 'table,accesses'")
    header = [c.strip().lower() for c in rows[0]]
    if "table" not in header or "accesses" not in header:
        raise InputError(f"{p}: header must name columns 'table' and 'accesses', got {','.join(rows[0])}")
    it, ia = header.index("table"), header.index("accesses")
    il = header.index("max_rebuild_seconds") if "max_rebuild_seconds" in header else None
    accesses: dict[str, float] = {}
    limits: dict[str, float] = {}
    unknown: list[str] = []
    for lineno, r in enumerate(rows[1:], start=2):
        if len(r) < len(header):
            raise InputError(f"{p}: line {lineno}: expected {len(header)} fields, got {len(r)}")
        name = r[it].strip()
        if name in accesses:
            raise InputError(f"{p}: line {lineno}: table {name!r} is listed twice")
        accesses[name] = _number(p, lineno, "accesses", r[ia])
        if il is not None and r[il].strip():
            limits[name] = _number(p, lineno, "max_rebuild_seconds", r[il])
        if name not in known:
            unknown.append(name)
    if unknown:
        more = f" (and {len(unknown) - 10} more)" if len(unknown) > 10 else ""
        raise InputError(f"{p}: tables not in the scan: {', '.join(unknown[:10])}{more}")
    return accesses, limits


def _number(p: Path, lineno: int, what: str, text: str) -> float:
    try:
        v = float(text.strip())
    except ValueError:
        raise InputError(f"{p}: line {lineno}: {what} {text.strip()!r} is not a number") from None
    if not math.isfinite(v) or v < 0:
        raise InputError(f"{p}: line {lineno}: {what} must be a finite number >= 0, got {text.strip()}")
    return v


def resolve_pins(patterns: Iterable[str], names: Iterable[str]) -> set[str]:
    """Table names matched by ``--pin`` values (exact names or shell globs); each must match."""
    names = sorted(names)
    out: set[str] = set()
    for pat in patterns:
        hit = [n for n in names if n == pat] or [n for n in names if fnmatch.fnmatchcase(n, pat)]
        if not hit:
            raise ConfigError(f"--pin {pat!r} matches no table of the scan")
        out.update(hit)
    return out


# --- the problem ---------------------------------------------------------------------------------


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
    cands: dict[tuple[str, str], Candidate] = {}
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
        cands[key] = Candidate(child=e.child, parent=e.parent, columns=tuple(e.columns),
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


# --- solvers -------------------------------------------------------------------------------------


def _arrays(problem: Problem):
    from scipy.sparse import coo_matrix

    n, m = len(problem.names), len(problem.candidates)
    idx = {name: i for i, name in enumerate(problem.names)}
    c = np.array([problem.storage[x] for x in problem.names] + [k.access_cost for k in problem.candidates])
    # keep_i + Σ_j y_ji = 1
    rows = list(range(n)) + [idx[k.child] for k in problem.candidates]
    cols = list(range(n)) + [n + e for e in range(m)]
    a_eq = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n + m)).tocsr()
    # y_ji - keep_j <= 0
    r2 = [e for e in range(m)] * 2
    c2 = [n + e for e in range(m)] + [idx[k.parent] for k in problem.candidates]
    v2 = [1.0] * m + [-1.0] * m
    a_ub = coo_matrix((v2, (r2, c2)), shape=(m, n + m)).tocsr()
    lb = np.zeros(n + m)
    for name in problem.pinned:
        if name in idx:
            lb[idx[name]] = 1.0
    return c, a_eq, a_ub, lb


def _decode(problem: Problem, x: np.ndarray) -> dict[str, str]:
    n = len(problem.names)
    return {k.child: k.parent for e, k in enumerate(problem.candidates) if x[n + e] > 0.5}


def _undominated(problem: Problem) -> Problem:
    """The problem without candidates that cost at least as much as keeping their child
    (``f_i·r_ji ≥ S_i``). Keeping the child instead is never worse — it only adds a possible
    parent — so the optimum is unchanged, and the huge access costs of hot tables no longer set
    the scale of the objective."""
    keep = [k for k in problem.candidates if k.access_cost < problem.storage[k.child]]
    if len(keep) == len(problem.candidates):
        return problem
    return Problem(names=problem.names, size_bytes=problem.size_bytes, storage=problem.storage,
                   accesses=problem.accesses, limits=problem.limits, pinned=problem.pinned,
                   candidates=keep, dropped=problem.dropped)


def _best_parents(problem: Problem, parent_of: dict[str, str]) -> dict[str, str]:
    """For a fixed set of kept tables, each deleted table's cheapest kept parent, exactly (HiGHS
    compares costs only to its tolerances)."""
    opts: dict[str, list[tuple[float, str]]] = {}
    for k in problem.candidates:
        if k.child in parent_of and k.parent not in parent_of:
            opts.setdefault(k.child, []).append((k.access_cost, k.parent))
    return {child: min(opts[child])[1] for child in parent_of}


def _scaled(problem: Problem):
    """Undominated problem, its arrays with costs scaled so keeping every table costs 1e6, and the scale."""
    problem = _undominated(problem)
    c, a_eq, a_ub, lb = _arrays(problem)
    total = float(np.sum(np.abs(c[:len(problem.names)])))
    scale = total / 1e6 if total > 0 else 1.0
    return problem, c / scale, a_eq, a_ub, lb, scale


def solve_milp(problem: Problem, time_limit: float = 60.0) -> Solution:
    """Exact solution with HiGHS (relative gap 0).

    HiGHS stops when incumbent and bound are within an absolute 1e-6, and reduced costs are
    compared to absolute tolerances too: per-byte costs of a few micro-units would all look equal.
    So dominated candidates are dropped first and the costs are scaled so that keeping every table
    costs 1e6; within that scale, differences between solutions are far above the tolerances.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    t0 = time.perf_counter()
    full = problem
    problem, c, a_eq, a_ub, lb, scale = _scaled(problem)
    cons = [LinearConstraint(a_eq, 1.0, 1.0)]
    if a_ub.shape[0]:
        cons.append(LinearConstraint(a_ub, -np.inf, 0.0))
    res = milp(c, constraints=cons, integrality=np.ones(len(c)), bounds=Bounds(lb, 1.0),
               options={"time_limit": float(time_limit), "mip_rel_gap": 0.0, "presolve": True})
    if res.x is None:
        raise _SolverFailed(f"HiGHS status {res.status}: {res.message}")
    parent_of = _decode(problem, res.x)
    bad = full.violations(parent_of)
    if bad:
        raise _SolverFailed(f"HiGHS returned an infeasible point ({bad[0]})")
    parent_of = _best_parents(problem, parent_of)
    secs = time.perf_counter() - t0
    bound = getattr(res, "mip_dual_bound", None)
    gap = getattr(res, "mip_gap", None)
    return Solution(parent_of=parent_of, objective=full.cost(parent_of), solver="milp",
                    status="optimal" if res.status == 0 else "time_limit",
                    bound=None if bound is None or not np.isfinite(bound) else float(bound) * scale,
                    gap=None if gap is None or not np.isfinite(gap) else float(gap), seconds=secs,
                    note="" if res.status == 0 else str(res.message))


class _SolverFailed(RuntimeError):
    pass


def solve_greedy(problem: Problem, *, with_bound: bool = True) -> Solution:
    """Delete tables in order of net saving ``S_i − f_i·r_ji``, each from the best parent that
    is kept and stays kept. One pass suffices: deleting a table or locking a parent only ever
    removes options, so a pair skipped once never becomes feasible later. The bound is the LP
    relaxation of the MILP (when scipy is present)."""
    t0 = time.perf_counter()
    # Ties (e.g. accesses 0) go to the parent that is cheapest to keep: in a duplicate group the
    # smallest copy is the one locked as a parent, so the larger ones get deleted.
    order = sorted(problem.candidates,
                   key=lambda k: (-(problem.storage[k.child] - k.access_cost),
                                  problem.storage[k.parent], k.child, k.parent))
    parent_of: dict[str, str] = {}
    locked = set(problem.pinned)
    for k in order:
        if problem.storage[k.child] - k.access_cost <= 0:
            break
        if k.child in parent_of or k.child in locked or k.parent in parent_of:
            continue
        parent_of[k.child] = k.parent
        locked.add(k.parent)
    bound = None
    if with_bound and problem.candidates:
        try:
            bound = _lp_bound(problem)
        except Exception:  # the bound is a report, never a reason to fail the plan
            bound = None
    obj = problem.cost(parent_of)
    gap = None if bound is None else max(0.0, (obj - bound) / max(abs(obj), 1e-300))
    return Solution(parent_of=parent_of, objective=obj, solver="greedy", status="heuristic",
                    bound=bound, gap=gap, seconds=time.perf_counter() - t0)


def _lp_bound(problem: Problem) -> float:
    from scipy.optimize import Bounds, LinearConstraint, milp

    # Same reduction and scaling as the MILP: an LP stopped early by absolute tolerances on tiny
    # costs would report a value above the true LP optimum, which is no bound at all.
    _, c, a_eq, a_ub, lb, scale = _scaled(problem)
    cons = [LinearConstraint(a_eq, 1.0, 1.0)]
    if a_ub.shape[0]:
        cons.append(LinearConstraint(a_ub, -np.inf, 0.0))
    res = milp(c, constraints=cons, integrality=np.zeros(len(c)), bounds=Bounds(lb, 1.0))
    if res.x is None or res.status != 0:
        raise RuntimeError(res.message)
    return float(res.fun) * scale


def solve(problem: Problem, solver: str = "milp", *, time_limit: float = 60.0) -> Solution:
    """``milp`` (falls back to greedy when HiGHS fails, or when it stops at the time limit with a
    worse incumbent) or ``greedy``."""
    if solver not in SOLVERS:
        raise ConfigError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
    if not (isinstance(time_limit, (int, float)) and time_limit > 0):
        raise ConfigError(f"time_limit must be > 0 seconds, got {time_limit!r}")
    if not problem.candidates:
        return Solution(parent_of={}, objective=problem.cost({}), solver=solver, status="trivial",
                        bound=problem.cost({}), gap=0.0, note="no usable edges: nothing to delete")
    if solver == "greedy":
        return solve_greedy(problem)
    try:
        sol = solve_milp(problem, time_limit=time_limit)
    except ImportError as exc:
        g = solve_greedy(problem, with_bound=False)
        g.note = f"milp unavailable ({exc}); greedy fallback"
        return g
    except (_SolverFailed, ValueError, RuntimeError) as exc:
        g = solve_greedy(problem)
        g.note = f"milp failed ({exc}); greedy fallback"
        return g
    if sol.status != "optimal":
        g = solve_greedy(problem, with_bound=False)
        if g.objective < sol.objective:
            g.bound, g.note = sol.bound, "milp stopped at its time limit with a worse incumbent; greedy fallback"
            g.gap = None if g.bound is None else max(0.0, (g.objective - g.bound) / max(abs(g.objective), 1e-300))
            return g
    return sol


# --- the plan file -------------------------------------------------------------------------------


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def make_plan(scan: ScanResult, cost: CostModel | None = None, *,
              accesses: Mapping[str, float] | None = None,
              limits: Mapping[str, float] | None = None,
              pins: Iterable[str] = (),
              protected: Mapping[str, str] | None = None,
              solver: str = "milp", time_limit: float = 60.0,
              scan_source: str | Path | None = None, scan_sha256: str | None = None) -> dict[str, Any]:
    """The plan as a JSON-able dict (see ``save_plan``).

    ``pins``: names or globs that must be kept. ``protected``: tables that must be kept for a
    reason of their own (``prunekit.lake.apply.protected_tables(root)`` gives the parents of
    tables already in the lake's trash, which must not be deleted under their children's recipes).
    """
    cost = cost or CostModel()
    known = set(scan.profiles)
    for what, d in (("accesses", accesses or {}), ("limits", limits or {})):
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(f"{what} name tables not in the scan: {', '.join(unknown[:10])}")
    pinned = {n: "pinned" for n in resolve_pins(pins, known)}
    for n, why in (protected or {}).items():
        if n in known:
            pinned.setdefault(n, why)
    problem = build_problem(scan, cost, accesses=accesses, limits=limits, pinned=pinned)
    sol = solve(problem, solver, time_limit=time_limit)
    prof = scan.profiles
    by_pair = {(c.child, c.parent): c for c in problem.candidates}
    deletions = []
    for child, parent in sorted(sol.parent_of.items()):
        k = by_pair[(child, parent)]
        deletions.append({
            "table": child, "parent": parent, "columns": list(k.columns), "semantics": k.semantics,
            "duplicate": k.duplicate, "derived": k.derived,
            "size_bytes": prof[child].size_bytes, "storage_cost": problem.storage[child],
            "rebuild_cost": k.rebuild_cost, "access_cost": k.access_cost,
            "rebuild_seconds": k.rebuild_seconds, "accesses": problem.accesses[child],
        })
    tables = {}
    for n in problem.names:
        p = prof[n]
        tables[n] = {
            "path": p.path, "format": p.format, "rows": p.rows, "size_bytes": p.size_bytes,
            "checksum": p.checksum, "fingerprint": p.fingerprint,
            "accesses": problem.accesses[n], "max_rebuild_seconds": problem.limits[n],
            "pinned": problem.pinned.get(n), "storage_cost": problem.storage[n],
            "action": "delete" if n in sol.parent_of else "keep",
        }
    before = problem.cost({})
    storage_saved = sum(problem.storage[c] for c in sol.parent_of)
    access_added = sum(by_pair[(c, p)].access_cost for c, p in sol.parent_of.items())
    return {
        "format": PLAN_FORMAT,
        "version": PLAN_VERSION,
        "created": _now(),
        "scan": {"root": scan.root, "semantics": scan.semantics, "engine": scan.engine,
                 "source": str(scan_source) if scan_source else None, "sha256": scan_sha256,
                 "tables": len(prof), "edges": len(scan.edges)},
        "cost_model": asdict(cost),
        "tables": tables,
        "deletions": deletions,
        "summary": {
            "tables_considered": len(problem.names),
            "candidates": len(problem.candidates),
            "edges_dropped": problem.dropped,
            "deletions": len(deletions),
            "bytes_considered": int(sum(problem.size_bytes.values())),
            "bytes_freed": int(sum(problem.size_bytes[c] for c in sol.parent_of)),
            "cost_before": before,
            "cost_after": sol.objective,
            "storage_saved": storage_saved,
            "access_cost_added": access_added,
            "savings": before - sol.objective,
        },
        "solver": {"name": sol.solver, "status": sol.status, "objective": sol.objective,
                   "bound": sol.bound, "gap": sol.gap, "seconds": sol.seconds, "note": sol.note},
    }


def save_plan(plan: Mapping[str, Any], path: str | Path) -> Path:
    """Write the plan JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(plan, indent=1, sort_keys=False, default=str))
    return Path(path)


def load_plan(path: str | Path) -> dict[str, Any]:
    """Read and validate a plan file (format, version, and the fields ``apply`` relies on)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such plan file")
    try:
        plan = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{p}: not a readable plan ({exc})") from exc
    return validate_plan(plan, str(p))


def validate_plan(plan: Any, where: str = "plan") -> dict[str, Any]:
    """The checks ``load_plan`` makes, for a plan given as a dict (``apply_plan`` calls it too)."""
    p = where
    if not isinstance(plan, Mapping) or plan.get("format") != PLAN_FORMAT:
        raise InputError(f"{p}: not a prunekit lake plan")
    if plan.get("version") != PLAN_VERSION:
        raise InputError(f"{p}: plan version {plan.get('version')} (this prunekit reads {PLAN_VERSION})")
    try:
        root = plan["scan"]["root"]
        tables = plan["tables"]
        for d in plan["deletions"]:
            for key in ("table", "parent"):
                t = tables[d[key]]
                missing = [f for f in ("path", "checksum", "format", "size_bytes") if f not in t]
                if missing:
                    raise InputError(f"{p}: table {d[key]} lacks {', '.join(missing)}")
        deleted = {d["table"] for d in plan["deletions"]}
    except (KeyError, TypeError) as exc:
        raise InputError(f"{p}: plan is missing a field ({exc})") from exc
    bad = sorted(d["table"] for d in plan["deletions"] if d["parent"] in deleted)
    if bad:
        raise InputError(f"{p}: plan rebuilds {', '.join(bad)} from tables it also deletes")
    if not root:
        raise InputError(f"{p}: plan has no lake root")
    return dict(plan)
