"""Solving the deletion problem: an exact MILP, a greedy heuristic, and the choice between them.

Solved with ``scipy.optimize.milp`` (HiGHS, relative gap 0); ``greedy`` is the fallback (also used
automatically when the MILP fails or hits its time limit without a solution, or with a worse
incumbent than greedy's).

Algorithm and parameters: docs/ALGORITHMS.md §4.9.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from prunekit.lake.deletion_problem import Problem
from prunekit.lake.params import SOLVER, TIME_LIMIT


@dataclass
class Solution:
    """A solver's answer: ``{deleted child: kept parent}``, its objective, and how it was found."""

    parent_of: dict[str, str]
    objective: float
    solver: str
    status: str
    bound: float | None = None
    gap: float | None = None
    seconds: float = 0.0
    note: str = ""


def _arrays(problem: Problem):
    from scipy.sparse import coo_matrix

    n, m = len(problem.names), len(problem.candidates)
    idx = {name: i for i, name in enumerate(problem.names)}
    c = np.array([problem.storage[x] for x in problem.names] + [k.cost for k in problem.candidates])
    # keep_i + Σ_j y_ji = 1
    rows = list(range(n)) + [idx[k.child] for k in problem.candidates]
    cols = list(range(n)) + [n + e for e in range(m)]
    a_eq = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n + m)).tocsr()
    # y_ji - keep_j <= 0
    r2 = [e for e in range(m)] * 2
    c2 = [n + e for e in range(m)] + [idx[k.parent] for k in problem.candidates]
    v2 = [1.0] * m + [-1.0] * m
    # keep_b - keep_a <= 0: a before b in the keep order of a group of identical tables
    order = problem.order_pairs()
    for t, (a, b) in enumerate(order):
        r2 += [m + t, m + t]
        c2 += [idx[b], idx[a]]
        v2 += [1.0, -1.0]
    a_ub = coo_matrix((v2, (r2, c2)), shape=(m + len(order), n + m)).tocsr()
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
    (``f_i·r_ji + R_ji ≥ S_i``: a deletion whose recipe and rebuilds cost what it saves, or more, is
    never planned). Without keep-order constraints keeping the child instead is never worse — it
    only adds a possible parent — so the optimum is unchanged; with them the plan is the optimum
    among deletions that save something. Either way the huge access costs of hot tables no longer
    set the scale of the objective."""
    keep = [k for k in problem.candidates if k.cost < problem.storage[k.child]]
    if len(keep) == len(problem.candidates):
        return problem
    return dataclasses.replace(problem, candidates=keep)


def _best_parents(problem: Problem, parent_of: dict[str, str]) -> dict[str, str]:
    """For a fixed set of kept tables, each deleted table's cheapest kept parent, exactly (HiGHS
    compares costs only to its tolerances)."""
    opts: dict[str, list[tuple[float, int, str]]] = {}
    rank = _ranks(problem)
    for k in problem.candidates:
        if k.child in parent_of and k.parent not in parent_of:
            # Ties (a copy of an identical table): the one first in the keep order.
            opts.setdefault(k.child, []).append((k.cost, rank.get(k.parent, 0), k.parent))
    return {child: min(opts[child])[2] for child in parent_of}


def _ranks(problem: Problem) -> dict[str, int]:
    """Position of each member of a group of identical tables in its keep order."""
    return {m: t for g in problem.groups for t, m in enumerate(g)}


def _scaled(problem: Problem):
    """Undominated problem, its arrays with costs scaled so keeping every table costs 1e6, and the scale."""
    problem = _undominated(problem)
    c, a_eq, a_ub, lb = _arrays(problem)
    total = float(np.sum(np.abs(c[:len(problem.names)])))
    scale = total / 1e6 if total > 0 else 1.0
    return problem, c / scale, a_eq, a_ub, lb, scale


def solve_milp(problem: Problem, time_limit: float = TIME_LIMIT.default) -> Solution:
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
    """Delete tables in order of net saving ``S_i − f_i·r_ji − R_ji``, each from the best parent
    that is kept and stays kept. Keep order: a copy of an identical table is deleted only after
    every copy after it in the keep order, and locking a copy as a parent locks the copies before
    it. Passes repeat until one deletes nothing (without groups, one pass suffices: deleting a table
    or locking a parent only ever removes options). The bound is the LP relaxation of the MILP
    (when scipy is present)."""
    t0 = time.perf_counter()
    rank = _ranks(problem)
    group_of = {m: g for g in problem.groups for m in g}
    # Ties (e.g. accesses 0) go to the parent first in the keep order, then to the one cheapest
    # to keep.
    order = sorted(problem.candidates,
                   key=lambda k: (-(problem.storage[k.child] - k.cost), rank.get(k.parent, 0),
                                  problem.storage[k.parent], k.child, k.parent))
    parent_of: dict[str, str] = {}
    locked: set[str] = set()

    def lock(name: str) -> None:
        g = group_of.get(name)
        locked.update(g[:rank[name] + 1] if g else (name,))

    for name in problem.pinned:
        lock(name)
    changed = True
    while changed:
        changed = False
        for k in order:
            if problem.storage[k.child] - k.cost <= 0:
                break
            if k.child in parent_of or k.child in locked or k.parent in parent_of:
                continue
            g = group_of.get(k.child)
            if g and any(m not in parent_of for m in g[rank[k.child] + 1:]):
                continue  # a copy after it in the keep order is still kept
            parent_of[k.child] = k.parent
            lock(k.parent)
            changed = True
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


def solve(problem: Problem, solver: str = SOLVER.default, *, time_limit: float = TIME_LIMIT.default) -> Solution:
    """``milp`` (falls back to greedy when HiGHS fails, or when it stops at the time limit with a
    worse incumbent) or ``greedy``."""
    SOLVER.check(solver)
    TIME_LIMIT.check(time_limit)
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
