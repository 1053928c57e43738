"""Which copy of identical tables stays: pins, accesses, --prefer, age, path length, path order —
on real planted lakes with identical files under scratch/ and warehouse/ — and the MILP with the
keep order and recipe costs equal to brute force."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from _copies_lake import COPY, SALES, copies_scan, touch, write_copies_lake
from prunekit.cli import main
from prunekit.errors import ConfigError, InputError
from prunekit.lake import deletion_plan as lp
from prunekit.lake import deletion_problem as dp
from prunekit.lake import deletion_solver as ds
from prunekit.lake.model import Edge, ScanResult, TableProfile
from prunekit.lake.params import PREFER, SOLVERS

COST = dp.CostModel()


def _plan_cli(tmp_path, scan: ScanResult, *args: str) -> dict:
    sj = tmp_path / "scan.json"
    sj.write_text(scan.to_json())
    out = tmp_path / "plan.json"
    assert main(["lake", "plan", str(sj), "-o", str(out), "-q", *args]) == 0
    return json.loads(out.read_text())


def _by_table(plan: dict) -> dict[str, dict]:
    return {d["table"]: d for d in plan["deletions"]}


@pytest.fixture
def lake(tmp_path):
    root = tmp_path / "lake"
    paths = write_copies_lake(root)
    return root, paths


@pytest.mark.parametrize("solver", SOLVERS)
def test_older_copy_stays_then_prefer_overrides_age(tmp_path, lake, solver):
    root, paths = lake
    scan = copies_scan(root, paths)
    assert sorted([SALES, COPY]) in scan.duplicate_groups
    # warehouse is older: it stays, whatever the solver.
    d = _by_table(_plan_cli(tmp_path, scan, "--solver", solver))
    assert SALES not in d and d[COPY]["parent"] == SALES
    assert d[COPY]["reason"] == "identical to warehouse/sales.parquet, kept as the older copy (modified first)"
    # Make the scratch copy the older one: now it stays ...
    touch(paths[COPY], -100)
    d = _by_table(_plan_cli(tmp_path, scan, "--solver", solver))
    assert COPY not in d and d[SALES]["parent"] == COPY
    assert d[SALES]["reason"] == "identical to scratch/sales.parquet, kept as the older copy (modified first)"
    # ... unless the user prefers the warehouse: --prefer comes before age.
    plan = _plan_cli(tmp_path, scan, "--solver", solver, "--prefer", "warehouse/**")
    d = _by_table(plan)
    assert SALES not in d and d[COPY]["parent"] == SALES
    assert d[COPY]["reason"] == "identical to warehouse/sales.parquet, kept by --prefer 'warehouse/**'"
    assert plan["summary"]["keep_order"]["prefer"] == ["warehouse/**"]
    # Children are rebuilt from the copy that stays, and say so.
    for child in ("derived/eu_sales", "exports/first"):
        assert d[child]["parent"] == SALES and d[child]["reason"] == "contained in warehouse/sales.parquet"


def test_earlier_prefer_glob_wins_and_pins_and_accesses_come_first(tmp_path, lake):
    root, paths = lake
    scan = copies_scan(root, paths)
    d = _by_table(_plan_cli(tmp_path, scan, "--prefer", "scratch/*", "--prefer", "warehouse/*"))
    assert COPY not in d and "kept by --prefer 'scratch/*'" in d[SALES]["reason"]
    # A pin beats --prefer.
    d = _by_table(_plan_cli(tmp_path, scan, "--prefer", "warehouse/*", "--pin", COPY))
    assert COPY not in d and d[SALES]["reason"] == "identical to scratch/sales.parquet, kept by --pin"
    # Access counts beat --prefer: the copy people read stays.
    csv = tmp_path / "access.csv"
    csv.write_text(f"table,accesses\n{COPY},3\n{SALES},1\n")
    d = _by_table(_plan_cli(tmp_path, scan, "--prefer", "warehouse/*", "--access", str(csv)))
    assert COPY not in d
    assert d[SALES]["reason"] == "identical to scratch/sales.parquet, kept as more accessed (3 vs 1 a month)"


def test_same_age_shorter_path_then_path_order(tmp_path):
    root = tmp_path / "lake"
    # Same mtimes for every copy: the shorter lake-relative path stays; equal lengths: path order.
    extra = {"copy/deep/x/sales": 0.0, "a/sales": 0.0, "b/sales": 0.0}
    paths = write_copies_lake(root, extra_copies=extra, offsets={SALES: 0.0, COPY: 0.0})
    scan = copies_scan(root, paths)
    plan = lp.make_plan(scan)
    d = _by_table(plan)
    members = {SALES, COPY, *extra}
    assert set(d) & members == members - {"a/sales"}
    assert plan["summary"]["keep_order"]["groups"] == [["a/sales", "b/sales", COPY, SALES, "copy/deep/x/sales"]]
    assert d["b/sales"]["reason"] == "identical to a/sales.parquet, kept as first in path order"
    assert d[SALES]["reason"] == "identical to a/sales.parquet, kept as the shorter path"


def test_trash_parents_rank_as_pins(tmp_path, lake):
    root, paths = lake
    scan = copies_scan(root, paths)
    plan = lp.make_plan(scan, protected={COPY: "parent of x in the trash"})
    assert _by_table(plan)[SALES]["reason"] == \
        "identical to scratch/sales.parquet, kept as the parent of x in the trash"


def test_prefer_is_validated(tmp_path, lake, capsys):
    root, paths = lake
    scan = copies_scan(root, paths)
    with pytest.raises(ConfigError, match="--prefer 'gold/\\*' matches no table path"):
        lp.make_plan(scan, prefer=["gold/*"])
    with pytest.raises(ConfigError) as err:
        lp.make_plan(scan, prefer=[SALES, 3])
    assert str(err.value) == str(PREFER.error(3))
    sj = tmp_path / "scan.json"
    sj.write_text(scan.to_json())
    assert main(["lake", "plan", str(sj), "-o", str(tmp_path / "p.json"), "--prefer", "gold/*"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --prefer 'gold/*' matches no table") and len(err.splitlines()) == 1
    assert not (tmp_path / "p.json").exists()


# --- outputs never replace inputs ------------------------------------------------------------------


def test_plan_refuses_to_write_over_its_inputs(tmp_path, lake, capsys):
    root, paths = lake
    scan_dir = tmp_path / "scan"
    scan_dir.mkdir()
    sj = scan_dir / "containment.json"
    sj.write_text(copies_scan(root, paths).to_json())
    csv = tmp_path / "access.csv"
    csv.write_text(f"table,accesses\n{SALES},1\n")
    before = {p: p.read_bytes() for p in (sj, csv)}
    for out, scan_arg, what in ((sj, scan_dir, "scan"), (sj, sj, "scan"), (csv, sj, "access CSV")):
        with pytest.raises(InputError, match=f"refusing to write {out}: it is the {what}"):
            lp.plan_to_file(scan_arg, out, access=csv)
        assert main(["lake", "plan", str(scan_arg), "-o", str(out), "--access", str(csv)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(out) in err and what in err
    assert {p: p.read_bytes() for p in (sj, csv)} == before
    # A plan next to the scan file (in its folder) replaces nothing: allowed.
    lp.plan_to_file(scan_dir, scan_dir / "plan.json")
    assert sj.read_bytes() == before[sj]


# --- MILP with keep order and recipe costs = brute force -----------------------------------------


def random_instance(seed: int, n: int):
    """Random tables with log-uniform sizes, a group of 2–4 identical tables (edges both ways and
    into bigger tables), other random edges, accesses, pins and per-candidate recipe sizes."""
    rng = np.random.default_rng(seed)
    names = [f"t{i:02d}" for i in range(n)]
    sizes = (10 ** rng.uniform(4, 7, n)).astype(int)
    k = int(rng.integers(2, 5))
    group = [str(x) for x in rng.choice(names, k, replace=False)]
    for m in group[1:]:
        sizes[names.index(m)] = sizes[names.index(group[0])] + int(rng.integers(-500, 500))
    profiles = {m: TableProfile(name=m, path=f"/lake/{m}.parquet", format="parquet", columns=(), rows=1,
                                size_bytes=int(s), fingerprint="f", checksum="c") for m, s in zip(names, sizes)}
    edges = [Edge(parent=a, child=b, columns=("x",), verified=True, duplicate=True)
             for a, b in itertools.permutations(group, 2)]
    for j, i in itertools.permutations(range(n), 2):
        if names[j] in group and names[i] in group:
            continue
        if rng.random() < 0.25:
            edges.append(Edge(parent=names[j], child=names[i], columns=("x",), verified=True))
    accesses = {m: float(rng.choice([0, 0, 1, 1000])) for m in names}
    pins = [m for m in names if rng.random() < 0.1]
    recipes = {(e.child, e.parent): int(profiles[e.child].size_bytes * rng.choice([0.01, 0.3, 0.9, 1.2]))
               for e in edges}
    mtimes = {m: float(rng.integers(0, 3)) for m in names}
    scan = ScanResult(root="/lake", semantics="bag", engine="test", profiles=profiles, edges=edges,
                      duplicate_groups=[sorted(group)])
    return scan, accesses, pins, recipes, mtimes


def brute_force(problem: dp.Problem) -> float:
    """Every kept set containing the pins whose kept group members come first in the keep order;
    each other table takes its cheapest kept parent among deletions that save something."""
    names = problem.names
    best = math.inf
    opts = {m: [(k.cost, k.parent) for k in problem.candidates
                if k.child == m and k.cost < problem.storage[m]] for m in names}
    free = [m for m in names if m not in problem.pinned]
    for r in range(len(free) + 1):
        for dropped in itertools.combinations(free, r):
            gone = set(dropped)
            if any(a in gone and b not in gone for a, b in problem.order_pairs()):
                continue
            total = sum(problem.storage[m] for m in names if m not in gone)
            for i in dropped:
                c = [cost for cost, j in opts[i] if j not in gone]
                if not c:
                    break
                total += min(c)
            else:
                best = min(best, total)
    return best


def test_milp_with_keep_order_and_recipes_equals_brute_force():
    seen = {"order_binds": 0, "recipe_drops": 0}
    for seed in range(14):
        scan, accesses, pins, recipes, mtimes = random_instance(seed, 6 + seed % 5)
        problem = dp.build_problem(scan, COST, accesses=accesses, pinned={p: "pinned" for p in pins},
                                   recipes=recipes, keep_order=dp.KeepOrder(mtimes=mtimes))
        best = brute_force(problem)
        sol = ds.solve(problem, "milp")
        assert sol.status == "optimal" and problem.violations(sol.parent_of) == []
        assert sol.objective == pytest.approx(best, rel=1e-9), seed
        greedy = ds.solve(problem, "greedy")
        assert problem.violations(greedy.parent_of) == [] and greedy.objective >= best * (1 - 1e-12)
        for sol_ in (sol, greedy):  # never a deletion that saves nothing
            assert all(next(k for k in problem.candidates if (k.child, k.parent) == (c, p)).cost
                       < problem.storage[c] for c, p in sol_.parent_of.items())
        free = dp.build_problem(scan, COST, accesses=accesses, pinned={p: "pinned" for p in pins},
                                recipes=recipes, keep_order=dp.KeepOrder(mtimes=mtimes))
        free.groups = []
        seen["order_binds"] += ds.solve(free, "milp").objective < sol.objective - 1e-15
        seen["recipe_drops"] += sum(1 for k in problem.candidates if k.recipe_cost >= problem.storage[k.child]
                                    and k.access_cost < problem.storage[k.child])
    assert all(v > 0 for v in seen.values()), seen  # the instances exercise both new terms
