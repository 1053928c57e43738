"""Deletion plan: MILP optimum = brute force, pins, latency limits, greedy, access CSV, plan JSON."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from _planted_plan import planted
from prunekit.cli import main
from prunekit.errors import ConfigError, InputError
from prunekit.lake import deletion_plan as lp
from prunekit.lake import deletion_problem as dp
from prunekit.lake import deletion_solver as ds
from prunekit.lake.params import SOLVERS
from prunekit.lake.model import Edge, ScanResult, TableProfile

COST = dp.CostModel(storage_price_per_gb_month=0.023, scan_price_per_gb=0.005, throughput_mb_per_s=100.0)


# --- random instances and the brute-force reference ---------------------------------------------


def random_instance(seed: int, n: int):
    """Tables with log-uniform sizes, random containment edges (some unverified, some derived,
    some duplicate pairs), access counts, per-table latency limits and pins."""
    rng = np.random.default_rng(seed)
    names = [f"t{i:02d}" for i in range(n)]
    sizes = (10 ** rng.uniform(4, 8, n)).astype(int)
    profiles = {m: TableProfile(name=m, path=f"/lake/{m}.parquet", format="parquet", columns=(), rows=1,
                                size_bytes=int(s), fingerprint=f"fp{m}", checksum=f"ck{m}")
                for m, s in zip(names, sizes)}
    edges = []
    for j, i in itertools.permutations(range(n), 2):
        if rng.random() < 0.25:
            kind = rng.choice(["verified", "derived", "unverified"], p=[0.7, 0.2, 0.1])
            edges.append(Edge(parent=names[j], child=names[i], columns=("a",),
                              verified=kind == "verified", derived=kind == "derived"))
    for _ in range(2):  # duplicate pairs: edges both ways
        a, b = rng.choice(n, 2, replace=False)
        edges += [Edge(parent=names[a], child=names[b], columns=("a",), verified=True, duplicate=True),
                  Edge(parent=names[b], child=names[a], columns=("a",), verified=True, duplicate=True)]
    accesses = {m: float(rng.choice([0, 1, 10, 100, 1000])) for m in names}
    limits = {m: float(rng.uniform(0.05, 1.0)) for m in names if rng.random() < 0.3}
    pins = [m for m in names if rng.random() < 0.15]
    scan = ScanResult(root="/lake", semantics="bag", engine="test", profiles=profiles, edges=edges,
                      duplicate_groups=[])
    return scan, accesses, limits, pins


def brute_force(scan, cost, accesses, limits, pins):
    """Enumerate every kept set containing the pins; each other table takes its cheapest usable
    kept parent. Returns (objective over *all* tables, {child: parent})."""
    names = sorted(scan.profiles)
    size = {m: scan.profiles[m].size_bytes for m in names}
    S = {m: size[m] / 1e9 * cost.storage_price_per_gb_month for m in names}
    usable: dict[str, list[tuple[str, float]]] = {m: [] for m in names}
    for e in scan.edges:
        if not (e.verified or e.derived):
            continue
        secs = size[e.parent] / (cost.throughput_mb_per_s * 1e6)
        lim = limits.get(e.child, cost.max_rebuild_seconds)
        if lim is not None and secs > lim:
            continue
        f = accesses.get(e.child, cost.default_accesses)
        usable[e.child].append((e.parent, f * size[e.parent] / 1e9 * cost.scan_price_per_gb))
    best, best_sol = math.inf, None
    free = [m for m in names if m not in pins]
    for r in range(len(free) + 1):
        for dropped in itertools.combinations(free, r):
            kept = set(names) - set(dropped)
            total = sum(S[m] for m in kept)
            sol = {}
            for i in dropped:
                opts = [(c, j) for j, c in usable[i] if j in kept]
                if not opts:
                    break
                c, j = min(opts)
                total += c
                sol[i] = j
            else:
                if total < best:
                    best, best_sol = total, sol
    return best, best_sol


INSTANCES = [(seed, n) for seed, n in zip(range(12), [5, 6, 7, 8, 9, 10, 10, 11, 11, 12, 12, 12])]


def _solve(scan, accesses, limits, pins, solver):
    problem = dp.build_problem(scan, COST, accesses=accesses, limits=limits, pinned={p: "pin" for p in pins})
    sol = ds.solve(problem, solver)
    outside = sum(scan.profiles[m].size_bytes / 1e9 * COST.storage_price_per_gb_month
                  for m in scan.profiles if m not in problem.names)
    return problem, sol, outside


def test_milp_equals_brute_force_on_small_instances():
    stats = {"deleted": 0, "latency_dropped": 0, "kept_for_access": 0}
    for seed, n in INSTANCES:
        scan, accesses, limits, pins = random_instance(seed, n)
        best, best_sol = brute_force(scan, COST, accesses, limits, pins)
        problem, sol, outside = _solve(scan, accesses, limits, pins, "milp")
        assert sol.solver == "milp" and sol.status == "optimal", (seed, sol)
        assert problem.violations(sol.parent_of) == []
        assert sol.objective + outside == pytest.approx(best, rel=1e-9), (seed, n, sol.parent_of, best_sol)
        assert sol.bound == pytest.approx(sol.objective, rel=1e-6)
        for child, parent in sol.parent_of.items():
            assert child not in pins and parent not in sol.parent_of
            lim = limits.get(child)
            assert lim is None or scan.profiles[parent].size_bytes / 1e8 <= lim
        stats["deleted"] += len(sol.parent_of)
        stats["latency_dropped"] += problem.dropped["latency"]
        stats["kept_for_access"] += sum(1 for k in problem.candidates
                                        if k.child not in sol.parent_of and k.access_cost > problem.storage[k.child])
    # The instances exercise every constraint (a generator producing trivial cases would not).
    assert all(v > 0 for v in stats.values()), stats


def test_greedy_is_feasible_and_never_below_the_optimum():
    worse = 0
    for seed, n in INSTANCES:
        scan, accesses, limits, pins = random_instance(seed, n)
        best, _ = brute_force(scan, COST, accesses, limits, pins)
        problem, sol, outside = _solve(scan, accesses, limits, pins, "greedy")
        assert sol.solver == "greedy"
        assert problem.violations(sol.parent_of) == []
        assert not set(pins) & set(sol.parent_of)
        assert sol.objective + outside >= best * (1 - 1e-12)
        assert sol.bound is not None and sol.bound + outside <= best * (1 + 1e-9)  # LP relaxation bound
        worse += sol.objective + outside > best * (1 + 1e-9)
    assert worse >= 1  # greedy is a heuristic: on some instance it must actually be worse


def test_duplicate_group_keeps_exactly_one_copy():
    profiles = {m: TableProfile(name=m, path=f"/l/{m}", format="parquet", columns=(), rows=5,
                                size_bytes=s, fingerprint="f", checksum="c")
                for m, s in (("a", 300), ("b", 200), ("c", 100))}
    edges = [Edge(parent=p, child=c, columns=("x",), verified=True, duplicate=True)
             for p, c in itertools.permutations("abc", 2)]
    scan = ScanResult(root="/l", semantics="bag", engine="t", profiles=profiles, edges=edges, duplicate_groups=[])
    for solver in SOLVERS:
        sol = ds.solve(dp.build_problem(scan, COST), solver)
        assert sorted(sol.parent_of) == ["a", "b"] and set(sol.parent_of.values()) == {"c"}


def test_unverified_edges_are_never_used():
    profiles = {m: TableProfile(name=m, path=f"/l/{m}", format="parquet", columns=(), rows=5,
                                size_bytes=100, fingerprint="f", checksum="c") for m in "ab"}
    scan = ScanResult(root="/l", semantics="bag", engine="t", profiles=profiles,
                      edges=[Edge(parent="a", child="b", columns=("x",))], duplicate_groups=[])
    problem = dp.build_problem(scan, COST)
    assert problem.candidates == [] and problem.dropped["unverified"] == 1
    assert ds.solve(problem).parent_of == {}


def test_milp_failure_falls_back_to_greedy(monkeypatch):
    scan, accesses, limits, pins = random_instance(1, 8)

    def boom(problem, time_limit=60.0):
        raise ds._SolverFailed("HiGHS status 4: simulated")

    monkeypatch.setattr(ds, "solve_milp", boom)
    problem = dp.build_problem(scan, COST, accesses=accesses)
    sol = ds.solve(problem, "milp")
    assert sol.solver == "greedy" and "fallback" in sol.note and "simulated" in sol.note
    assert problem.violations(sol.parent_of) == []


def test_time_limit_with_a_worse_incumbent_falls_back_to_greedy(monkeypatch):
    scan, accesses, limits, pins = random_instance(2, 9)
    problem = dp.build_problem(scan, COST, accesses=accesses)
    exact = ds.solve(problem, "milp")

    def stopped(problem, time_limit=60.0):  # HiGHS at its limit, incumbent = keep everything
        return ds.Solution(parent_of={}, objective=problem.cost({}), solver="milp", status="time_limit",
                           bound=exact.objective * 0.5)

    monkeypatch.setattr(ds, "solve_milp", stopped)
    sol = ds.solve(problem, "milp")
    assert sol.solver == "greedy" and "time limit" in sol.note
    assert sol.objective < problem.cost({}) and sol.bound == exact.objective * 0.5


def test_cost_model_and_solver_options_are_validated():
    with pytest.raises(ConfigError, match="throughput"):
        dp.CostModel(throughput_mb_per_s=0)
    with pytest.raises(ConfigError, match="storage_price"):
        dp.CostModel(storage_price_per_gb_month=-1)
    with pytest.raises(ConfigError, match="solver"):
        ds.solve(dp.Problem([], {}, {}, {}, {}, {}, []), "simplex")


# --- the planted lake through the CLI --------------------------------------------------------------


@pytest.fixture
def scan_json(tmp_path):
    scan, paths = planted(tmp_path / "lake")
    p = tmp_path / "scan" / "containment.json"
    p.parent.mkdir()
    p.write_text(scan.to_json())
    return scan, p


def _plan(tmp_path, scan_json, *args):
    out = tmp_path / "plan.json"
    code = main(["lake", "plan", str(scan_json), "-o", str(out), "-q", *args])
    return code, (json.loads(out.read_text()) if code == 0 else None)


def test_plan_json_records_the_scan_identity_and_the_decision(tmp_path, scan_json):
    scan, path = scan_json
    code, plan = _plan(tmp_path, path.parent)  # the scan folder works as well as the file
    assert code == 0
    assert plan["scan"]["root"] == scan.root and plan["scan"]["source"] == str(path)
    for name, t in plan["tables"].items():
        assert t["checksum"] == scan.profiles[name].checksum
        assert t["fingerprint"] == scan.profiles[name].fingerprint
    assert "misc/unrelated" not in plan["tables"]  # no edges: not part of the problem
    deleted = {d["table"]: d["parent"] for d in plan["deletions"]}
    # Exactly one copy of the duplicate pair stays; parents are all kept.
    assert len({"base/orders", "copies/orders_parts"} - set(deleted)) == 1
    assert "derived/eu_orders" in deleted
    assert not set(deleted.values()) & set(deleted)
    # The two CSV children (269 and 553 bytes) are smaller than any recipe: deleting them would
    # grow the lake, so they stay, and the plan says how big their recipe would be.
    for small in ("exports/orders_small", "exports/amounts"):
        t = plan["tables"][small]
        assert small not in deleted and t["action"] == "keep" and t["recipe_bytes"] > t["size_bytes"]
    s = plan["summary"]
    assert s["recipes_measured"] and s["bytes_deleted"] == sum(scan.profiles[d].size_bytes for d in deleted)
    assert s["bytes_freed"] == sum(scan.profiles[d["table"]].size_bytes - d["recipe_bytes"]
                                   for d in plan["deletions"]) == s["bytes_deleted"] - s["recipe_bytes"]
    assert all(0 < d["recipe_bytes"] < d["size_bytes"] for d in plan["deletions"])
    assert s["savings"] == pytest.approx(s["cost_before"] - s["cost_after"])
    assert s["cost_after"] == pytest.approx(plan["solver"]["objective"])
    assert plan["solver"]["name"] == "milp" and plan["solver"]["bound"] == pytest.approx(plan["solver"]["objective"])


def test_pins_and_latency_limit(tmp_path, scan_json, capsys):
    scan, path = scan_json
    code, plan = _plan(tmp_path, path, "--pin", "copies/orders_parts", "--pin", "exports/*")
    assert code == 0
    deleted = {d["table"] for d in plan["deletions"]}
    assert not deleted & {"copies/orders_parts", "exports/orders_small", "exports/amounts"}
    assert "base/orders" in deleted  # rebuildable from the pinned copy
    assert plan["tables"]["exports/amounts"]["pinned"] == "pinned"
    # A limit below every parent's read time leaves nothing to delete.
    fastest = min(scan.profiles[e.parent].size_bytes for e in scan.edges) / 100e6
    code, plan = _plan(tmp_path, path, "--max-rebuild-seconds", str(fastest / 2))
    assert code == 0 and plan["deletions"] == []
    assert plan["summary"]["edges_dropped"]["latency"] == len(scan.edges)
    assert main(["lake", "plan", str(path), "-o", str(tmp_path / "x.json"), "--pin", "nope/*"]) == 2
    assert "matches no table" in capsys.readouterr().err


def test_access_counts_keep_hot_tables(tmp_path, scan_json):
    scan, path = scan_json
    csv = tmp_path / "access.csv"
    # eu_orders is read so often that rebuilding it costs more than storing it.
    csv.write_text("table,accesses\nderived/eu_orders,100000\ncopies/orders_parts,0\n")
    code, plan = _plan(tmp_path, path, "--access", str(csv))
    assert code == 0
    deleted = {d["table"] for d in plan["deletions"]}
    assert "derived/eu_orders" not in deleted and "copies/orders_parts" in deleted
    assert plan["tables"]["derived/eu_orders"]["accesses"] == 100000
    # A per-table limit from the CSV stops only that table.
    csv.write_text("table,accesses,max_rebuild_seconds\nderived/eu_orders,0,0\ncopies/orders_parts,0,\n")
    code, plan = _plan(tmp_path, path, "--access", str(csv))
    deleted = {d["table"] for d in plan["deletions"]}
    assert "derived/eu_orders" not in deleted and "copies/orders_parts" in deleted


@pytest.mark.parametrize("text, message", [
    ("table,accesses\nexports/amounts,3\nno/such,1\nghost,2\n", "tables not in the scan: no/such, ghost"),
    ("table,accesses\nexports/amounts,many\n", "line 2: accesses 'many' is not a number"),
    ("table,accesses\nexports/amounts,-1\n", "line 2: accesses must be a finite number >= 0"),
    ("name,count\nexports/amounts,1\n", "header must name columns 'table' and 'accesses'"),
    ("table,accesses\nexports/amounts,1\nexports/amounts,2\n", "listed twice"),
    ("", "empty"),
])
def test_bad_access_csv_is_one_error_line(tmp_path, scan_json, capsys, text, message):
    _, path = scan_json
    csv = tmp_path / "access.csv"
    csv.write_text(text)
    assert main(["lake", "plan", str(path), "-o", str(tmp_path / "p.json"), "--access", str(csv)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "p.json").exists()


def test_greedy_cli_and_bad_inputs(tmp_path, scan_json, capsys):
    _, path = scan_json
    code, plan = _plan(tmp_path, path, "--solver", "greedy")
    assert code == 0 and plan["solver"]["name"] == "greedy"
    assert plan["solver"]["bound"] <= plan["solver"]["objective"] * (1 + 1e-12)
    assert main(["lake", "plan", str(tmp_path / "missing.json"), "-o", str(tmp_path / "p.json")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "junk.json").write_text("{}")
    assert main(["lake", "plan", str(tmp_path / "junk.json"), "-o", str(tmp_path / "p.json")]) == 2
    assert "not a prunekit lake scan" in capsys.readouterr().err
    assert main(["lake", "plan", str(path), "-o", str(tmp_path / "p.json"), "--throughput", "0"]) == 2
    assert "throughput" in capsys.readouterr().err


def test_load_plan_rejects_inconsistent_plans(tmp_path, scan_json):
    _, path = scan_json
    code, plan = _plan(tmp_path, path)
    d = plan["deletions"][0]
    plan["deletions"].append({**d, "table": d["parent"], "parent": plan["deletions"][1]["table"]})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(plan))
    with pytest.raises(InputError, match="from tables it also deletes"):
        lp.load_plan(bad)
    bad.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(InputError, match="not a prunekit lake plan"):
        lp.load_plan(bad)
