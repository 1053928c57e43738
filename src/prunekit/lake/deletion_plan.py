"""The deletion plan: which contained tables to delete, as a JSON file made from a scan.

``make_plan`` builds the problem (``deletion_problem``: cost model, candidates, each with the exact
size of the recipe that would stay behind, and the keep order of identical tables), solves it
(``deletion_solver``) and returns the plan as a JSON-able dict: the scan it came from, the cost
model, every table considered with its costs and action, the deletions (each with the parent it is
rebuilt from, its recipe bytes and the reason), a summary — bytes freed *net* of the recipes — and
the solver's report. ``plan_to_file`` is the ``prunekit lake plan``
command: inputs read (``plan_inputs``), the lake's trash taken into account, the plan written.
``load_plan``/``validate_plan`` check a plan before ``apply`` relies on it.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Mapping

from prunekit.errors import InputError
from prunekit.io.atomic import atomic_path, check_not_input, check_writable
from prunekit.lake.deletion_problem import CostModel, KeepOrder, build_problem, relpath
from prunekit.lake.deletion_solver import solve
from prunekit.lake.jsonfile import read_json, utc_timestamp
from prunekit.lake.model import ScanResult
from prunekit.lake.objectstore import is_uri, state_root
from prunekit.lake.params import (
    DEFAULT_ACCESSES,
    MAX_REBUILD_SECONDS,
    PREFER,
    SCAN_PRICE,
    SOLVER,
    STORAGE_PRICE,
    THROUGHPUT,
    TIME_LIMIT,
)
from prunekit.lake.plan_inputs import (
    check_prefer,
    check_prefer_matches,
    load_scan,
    measure_recipes,
    read_access_csv,
    resolve_pins,
    scan_json_path,
    table_mtimes,
)
from prunekit.lake.trash import Echo, protected_tables, recovered, trash_root

PLAN_FORMAT = "prunekit-lake-plan"
PLAN_VERSION = 1



def make_plan(scan: ScanResult, cost: CostModel | None = None, *,
              accesses: Mapping[str, float] | None = None,
              limits: Mapping[str, float] | None = None,
              pins: Iterable[str] = (),
              protected: Mapping[str, str] | None = None,
              solver: str = SOLVER.default, time_limit: float = TIME_LIMIT.default,
              prefer: Iterable[str] | None = PREFER.default, measure: bool = True,
              scan_source: str | Path | None = None, scan_sha256: str | None = None) -> dict[str, Any]:
    """The plan as a JSON-able dict (see ``save_plan``).

    ``pins``: names or globs that must be kept. ``protected``: tables that must be kept for a
    reason of their own (``prunekit.lake.trash.protected_tables(root)`` gives the parents of
    tables already in the lake's trash, which must not be deleted under their children's recipes).
    ``prefer``: globs of lake-relative paths, the third rule of the keep order of identical tables
    (``deletion_problem.KeepOrder``).

    ``measure``: read the candidate tables and build each recipe as ``apply`` will, to count its
    exact bytes (savings net of the recipes that stay behind) and leave out candidates without an
    exact recipe — what ``plan_to_file`` (the command) does. Without it only the scan is used
    (plus the tables' modification times, for the keep order): recipes count 0 bytes, so the
    savings are gross, and the summary says so (``recipes_measured``).
    """
    cost = cost or CostModel()
    prefer = check_prefer(prefer)
    SOLVER.check(solver)
    TIME_LIMIT.check(time_limit)
    known = set(scan.profiles)
    for what, d in (("accesses", accesses or {}), ("limits", limits or {})):
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(f"{what} name tables not in the scan: {', '.join(unknown[:10])}")
    pinned = {n: "pinned" for n in resolve_pins(pins, known)}
    for n, why in (protected or {}).items():
        if n in known:
            pinned.setdefault(n, why)
    check_prefer_matches(prefer, (relpath(scan, n) for n in known))
    grouped = sorted({m for g in scan.duplicate_groups for m in g if m in known})
    order = KeepOrder(prefer=prefer, mtimes=table_mtimes(scan, grouped))
    problem = build_problem(scan, cost, accesses=accesses, limits=limits, pinned=pinned,
                            recipes=(lambda cands: measure_recipes(scan, cands)) if measure else None,
                            keep_order=order)
    sol = solve(problem, solver, time_limit=time_limit)
    prof = scan.profiles
    by_pair = {(c.child, c.parent): c for c in problem.candidates}
    group_of = {m: g for g in problem.groups for m in g}
    deletions = []
    for child, parent in sorted(sol.parent_of.items()):
        k = by_pair[(child, parent)]
        deletions.append({
            "table": child, "parent": parent, "columns": list(k.columns), "semantics": k.semantics,
            "duplicate": k.duplicate, "derived": k.derived,
            "size_bytes": prof[child].size_bytes, "recipe_bytes": k.recipe_bytes,
            "net_bytes": prof[child].size_bytes - k.recipe_bytes, "storage_cost": problem.storage[child],
            "recipe_cost": k.recipe_cost, "rebuild_cost": k.rebuild_cost, "access_cost": k.access_cost,
            "rebuild_seconds": k.rebuild_seconds, "accesses": problem.accesses[child],
            "reason": _reason(scan, problem, order, sol.parent_of, group_of.get(child), child, parent),
        })
    smallest_recipe: dict[str, int] = {}
    for k in problem.candidates:
        smallest_recipe[k.child] = min(k.recipe_bytes, smallest_recipe.get(k.child, k.recipe_bytes))
    tables = {}
    for n in problem.names:
        p = prof[n]
        tables[n] = {
            "path": p.path, "format": p.format, "rows": p.rows, "size_bytes": p.size_bytes,
            "checksum": p.checksum, "fingerprint": p.fingerprint,
            "accesses": problem.accesses[n], "max_rebuild_seconds": problem.limits[n],
            "pinned": problem.pinned.get(n), "storage_cost": problem.storage[n],
            "recipe_bytes": smallest_recipe.get(n) if measure else None,   # its smallest recipe
            "action": "delete" if n in sol.parent_of else "keep",
        }
    before = problem.cost({})
    storage_saved = sum(problem.storage[c] - by_pair[(c, p)].recipe_cost for c, p in sol.parent_of.items())
    access_added = sum(by_pair[(c, p)].access_cost for c, p in sol.parent_of.items())
    deleted_bytes = sum(d["size_bytes"] for d in deletions)
    recipe_bytes = sum(d["recipe_bytes"] for d in deletions)
    return {
        "format": PLAN_FORMAT,
        "version": PLAN_VERSION,
        "created": utc_timestamp(),
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
            "bytes_deleted": int(deleted_bytes),
            "recipe_bytes": int(recipe_bytes) if measure else None,
            "bytes_freed": int(deleted_bytes - recipe_bytes),   # net: the recipes stay in the lake
            "recipes_measured": bool(measure),
            "no_recipe": problem.no_recipe,
            "keep_order": {"prefer": list(prefer), "groups": problem.groups},
            "cost_before": before,
            "cost_after": sol.objective,
            "storage_saved": storage_saved,
            "access_cost_added": access_added,
            "savings": before - sol.objective,
        },
        "solver": {"name": sol.solver, "status": sol.status, "objective": sol.objective,
                   "bound": sol.bound, "gap": sol.gap, "seconds": sol.seconds, "note": sol.note},
    }


def _reason(scan: ScanResult, problem, order: KeepOrder, parent_of: Mapping[str, str],
            group: list[str] | None, child: str, parent: str) -> str:
    """Why ``child`` goes: the identical copy that stays (first kept in ``group``, the child's
    duplicate group in keep order) and the keep-order rule that chose it, or the table it is
    contained in."""
    kept = next((m for m in group if m not in parent_of), None) if group else None
    if kept is None:
        return f"contained in {relpath(scan, parent)}"
    why = f"identical to {relpath(scan, kept)}, {order.why(kept, child, scan, problem)}"
    return why if parent == kept else f"{why}; rebuilt from {relpath(scan, parent)}"


def save_plan(plan: Mapping[str, Any], path: str | Path) -> Path:
    """Write the plan JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(plan, indent=1, sort_keys=False, default=str))
    return Path(path)


def load_plan(path: str | Path) -> dict[str, Any]:
    """Read and validate a plan file (format, version, and the fields ``apply`` relies on)."""
    p = Path(path)
    plan = read_json(p, "plan", missing=f"{p}: no such plan file")
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


def plan_to_file(scan: str | Path, out: str | Path, *, access: str | Path | None = None,
                 pins: Iterable[str] = (), solver: str = SOLVER.default,
                 time_limit: float = TIME_LIMIT.default,
                 storage_price_per_gb_month: float = STORAGE_PRICE.default,
                 scan_price_per_gb: float = SCAN_PRICE.default,
                 throughput_mb_per_s: float = THROUGHPUT.default,
                 default_accesses: float = DEFAULT_ACCESSES.default,
                 max_rebuild_seconds: float | None = MAX_REBUILD_SECONDS.default,
                 prefer: Iterable[str] | None = PREFER.default,
                 echo: Echo | None = None) -> dict[str, Any]:
    """The ``prunekit lake plan`` command: the plan of the scan at ``scan`` (a scan folder or its
    ``containment.json``), written to ``out`` and returned.

    ``access``: CSV ``table,accesses[,max_rebuild_seconds]``. ``prefer``: globs of lake-relative
    paths whose copies of identical tables are kept first (after pins and access counts). When the
    lake has a trash, its lock is taken, an interrupted command recovered (``echo`` gets a line per
    table) and the parents of the tables in the trash are kept (``protected_tables``). The plan
    reads the lake's candidate tables to size their recipes (``make_plan``). Every parameter is
    checked before anything is read; ``out`` must not be one of the inputs.
    """
    cost = CostModel(storage_price_per_gb_month=storage_price_per_gb_month, scan_price_per_gb=scan_price_per_gb,
                     throughput_mb_per_s=throughput_mb_per_s, default_accesses=default_accesses,
                     max_rebuild_seconds=max_rebuild_seconds)
    SOLVER.check(solver)
    TIME_LIMIT.check(time_limit)
    prefer = check_prefer(prefer)
    check_writable(out)
    check_not_input(out, [("scan", scan_json_path(scan)), ("access CSV", access)])
    result, source, sha = load_scan(scan)
    accesses, limits = read_access_csv(access, result.profiles) if access else ({}, {})
    protected: dict[str, str] = {}
    root = Path(result.root)
    if is_uri(result.root):   # a lake on an object store: its journal is in a local state folder
        from prunekit.lake import objectstore_trash
        with objectstore_trash.recovered(result.root, echo):
            protected = protected_tables(state_root(result.root))
    elif trash_root(root).is_dir():
        with recovered(root, echo):
            protected = protected_tables(root)
    plan = make_plan(result, cost, accesses=accesses, limits=limits, pins=pins, protected=protected,
                     solver=solver, time_limit=time_limit, prefer=prefer, measure=True,
                     scan_source=source, scan_sha256=sha)
    save_plan(plan, out)
    return plan
