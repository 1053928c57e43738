"""Honest savings: a plan counts the recipes that stay behind, exactly; purge reports what it
really freed; recipes are compact, and recipes in the old, larger format still restore."""

from __future__ import annotations

import base64
import hashlib
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from _copies_lake import COPY, copies_scan, sales, write_copies_lake
from prunekit.cli import main
from prunekit.lake import deletion_plan as lp
from prunekit.lake import deletion_problem as dp
from prunekit.lake import deletion_solver as ds
from prunekit.lake.apply import apply_plan
from prunekit.lake.exact import table_difference
from prunekit.lake.model import Edge, ScanResult, TableProfile
from prunekit.lake.params import SOLVERS
from prunekit.lake.purge import files_bytes, purge
from prunekit.lake.recipe import POSITIONS_PARQUET, RECIPE_JSON, Recipe, build_recipe, rebuild
from prunekit.lake.restore import restore_tables
from prunekit.lake.scan import scan_to_folder
from prunekit.lake.tableio import read_table
from prunekit.lake.trash import entry_dir


def _on_disk(path) -> int:
    return files_bytes(path)


@pytest.mark.parametrize("solver", SOLVERS)
def test_scan_plan_apply_purge_frees_what_the_plan_predicted(tmp_path, solver, capsys):
    root = tmp_path / "lake"
    paths = write_copies_lake(root)
    table_bytes = {n: _on_disk(p) for n, p in paths.items()}
    scan_to_folder(root, tmp_path / "scan", cache=False, graph=False)
    plan = lp.plan_to_file(tmp_path / "scan", tmp_path / "plan.json", solver=solver)
    d = {x["table"]: x for x in plan["deletions"]}
    # The copy in scratch/ and the two big children go; the 3-row CSV would be replaced by a
    # recipe bigger than itself, so it stays.
    assert set(d) == {COPY, "derived/eu_sales", "exports/first"}
    tiny = plan["tables"]["exports/tiny"]
    assert tiny["action"] == "keep" and tiny["recipe_bytes"] > tiny["size_bytes"] == table_bytes["exports/tiny"]

    before = {n: read_table(paths[n]) for n in d}
    report = apply_plan(tmp_path / "plan.json", execute=True)
    assert sorted(report.deleted) == sorted(d)
    # The plan's recipe sizes are the recipes apply wrote, byte for byte.
    recipe_bytes = {n: _on_disk(entry_dir(root, n)) - _on_disk(entry_dir(root, n) / "data") for n in d}
    assert {n: x["recipe_bytes"] for n, x in d.items()} == recipe_bytes
    s = plan["summary"]
    assert s["bytes_freed"] == sum(table_bytes[n] - recipe_bytes[n] for n in d)
    assert s["bytes_deleted"] == sum(table_bytes[n] for n in d) and s["recipe_bytes"] == sum(recipe_bytes.values())

    capsys.readouterr()
    assert main(["lake", "purge", "--lake", str(root), "--execute"]) == 0
    out = capsys.readouterr().out
    assert f"purged {COPY}: {table_bytes[COPY]:,} bytes deleted, its recipe ({recipe_bytes[COPY]:,} bytes) kept" in out
    # What the lake gained, measured on disk: the tables' bytes gone, the recipes' bytes still there.
    assert all(not paths[n].exists() and not (entry_dir(root, n) / "data").exists() for n in d)
    freed = sum(table_bytes[n] - _on_disk(entry_dir(root, n)) for n in d)
    predicted = s["bytes_freed"]
    assert predicted > 0 and abs(freed - predicted) <= 0.01 * predicted
    assert "net; refused 0" in out
    # Restores still give every table back exactly.
    for n in d:
        restore_tables(root, [n])
        assert table_difference(read_table(paths[n]), before[n]) is None


def test_purge_rows_report_measured_bytes(tmp_path):
    root = tmp_path / "lake"
    paths = write_copies_lake(root)
    plan = lp.make_plan(copies_scan(root, paths), measure=True)
    sizes = {n: _on_disk(paths[n]) for n in (x["table"] for x in plan["deletions"])}
    apply_plan(plan, execute=True)
    dry = {r["table"]: r for r in purge(root)}
    rows = {r["table"]: r for r in purge(root, execute=True)}
    assert set(rows) == set(sizes) and all(r["outcome"] == "purged" for r in rows.values())
    for n, r in rows.items():
        assert r["size_bytes"] == sizes[n] == dry[n]["size_bytes"]
        assert r["recipe_bytes"] == _on_disk(entry_dir(root, n)) == dry[n]["recipe_bytes"]
        assert r["net_bytes"] == sizes[n] - r["recipe_bytes"]
    by = {x["table"]: x for x in plan["deletions"]}
    freed, predicted = sum(r["net_bytes"] for r in rows.values()), plan["summary"]["bytes_freed"]
    assert abs(freed - predicted) <= 0.01 * predicted
    assert all(rows[n]["net_bytes"] == by[n]["net_bytes"] for n in rows)


# --- the objective counts recipes ---------------------------------------------------------------


def _two_parents():
    prof = {m: TableProfile(name=m, path=f"/l/{m}.parquet", format="parquet", columns=(), rows=1,
                            size_bytes=s, fingerprint="f", checksum="c")
            for m, s in (("child", 10_000), ("p1", 50_000), ("p2", 60_000), ("small", 1_000))}
    edges = [Edge(parent=p, child=c, columns=("x",), verified=True)
             for p, c in (("p1", "child"), ("p2", "child"), ("p1", "small"))]
    return ScanResult(root="/l", semantics="bag", engine="t", profiles=prof, edges=edges, duplicate_groups=[])


@pytest.mark.parametrize("solver", SOLVERS)
def test_objective_uses_net_savings(solver):
    scan = _two_parents()
    # From p1 the recipe would be 9,000 bytes, from p2 only 500: p2 is chosen although p1 is the
    # cheaper read. The small table's recipe (1,200) outweighs it (1,000): never deleted.
    recipes = {("child", "p1"): 9_000, ("child", "p2"): 500, ("small", "p1"): 1_200}
    problem = dp.build_problem(scan, dp.CostModel(), recipes=recipes)
    sol = ds.solve(problem, solver)
    assert sol.parent_of == {"child": "p2"}
    # A recipe exactly as big as its table saves nothing either.
    problem = dp.build_problem(scan, dp.CostModel(), recipes={**recipes, ("small", "p1"): 1_000})
    assert "small" not in ds.solve(problem, solver).parent_of
    # Without recipes counted (the old accounting) the small table would go.
    assert "small" in ds.solve(dp.build_problem(scan, dp.CostModel()), solver).parent_of


def test_no_exact_recipe_is_not_planned(tmp_path):
    root = tmp_path / "lake"
    (root / "d").mkdir(parents=True)
    n = 2000
    x = np.arange(n, dtype=np.float64)
    pq.write_table(pa.table({"id": pa.array(np.arange(n)), "x": x}), root / "d/parent.parquet")
    bad = x[:1500].copy()
    bad[0] = -0.0                 # value-equal to the parent's 0.0, but not bit-identical
    pq.write_table(pa.table({"id": pa.array(np.arange(1500)), "x": bad}), root / "d/negzero.parquet")
    pq.write_table(pa.table({"id": pa.array(np.arange(1500)), "x": x[:1500]}), root / "d/fine.parquet")
    scan_to_folder(root, tmp_path / "scan", cache=False, graph=False)
    plan = lp.plan_to_file(tmp_path / "scan", tmp_path / "plan.json")
    assert [x["table"] for x in plan["deletions"]] == ["d/fine"]
    refused = {k: v for k, v in plan["summary"]["no_recipe"].items() if k.startswith("d/negzero ⊆")}
    assert set(refused) == {"d/negzero ⊆ d/parent", "d/negzero ⊆ d/fine"}  # from either parent
    assert all("no bit-identical row" in why for why in refused.values())
    # fine and negzero are value-identical, so fine ⊆ negzero is refused too (0.0 vs -0.0 bits).
    assert set(plan["summary"]["no_recipe"]) == set(refused) | {"d/fine ⊆ d/negzero"}
    assert plan["summary"]["edges_dropped"]["no_recipe"] == 3


# --- compact recipes, and old recipes still read -------------------------------------------------


def test_recipes_are_compact(tmp_path):
    parent = sales(20_000)
    pq.write_table(parent, tmp_path / "p.parquet")
    same_order = parent.slice(0, 15_000)
    shuffled = parent.take(pa.array(np.random.default_rng(0).permutation(20_000)[:15_000]))
    for name, child in (("same", same_order), ("shuffled", shuffled)):
        pq.write_table(child, tmp_path / f"{name}.parquet")
        r = build_recipe(tmp_path / f"{name}.parquet", tmp_path / "p.parquet", root=tmp_path)
        files = r.files()
        r.save(tmp_path / f"rec_{name}")
        for f, content in files.items():  # files() is exactly what save writes
            assert (tmp_path / f"rec_{name}" / f).read_bytes() == content
        assert r.nbytes() == _on_disk(tmp_path / f"rec_{name}")
        plain = 8 * 15_000          # what int64 positions cost before (before compression)
        limit = 1_000 if name == "same" else plain / 3   # a run: nothing; shuffled: ~log2(parent rows) bits
        assert len(files[POSITIONS_PARQUET]) < limit, (name, len(files[POSITIONS_PARQUET]))
        assert len(files[RECIPE_JSON]) < 2_500
        assert table_difference(rebuild(Recipe.load(tmp_path / f"rec_{name}"), root=tmp_path), child) is None


def test_recipes_in_the_old_format_still_load_and_rebuild(tmp_path):
    parent = sales(500)
    pq.write_table(parent, tmp_path / "p.parquet")
    child = parent.take(pa.array([7, 3, 400, 11, 0]))
    pq.write_table(child, tmp_path / "c.parquet")
    r = build_recipe(tmp_path / "c.parquet", tmp_path / "p.parquet", root=tmp_path)
    # Written as version 1 recipes were before: default Parquet positions, indented JSON and the
    # schema as plain base64.
    old = tmp_path / "old"
    old.mkdir()
    pq.write_table(pa.table({"position": pa.array(r.positions, pa.int64())}), old / POSITIONS_PARQUET)
    meta = json.loads(json.dumps(r.meta))
    meta["child"]["schema"] = base64.b64encode(child.schema.serialize().to_pybytes()).decode("ascii")
    meta["positions"] = dict(meta["positions"], file=POSITIONS_PARQUET,
                             sha256=hashlib.sha256((old / POSITIONS_PARQUET).read_bytes()).hexdigest())
    (old / RECIPE_JSON).write_text(json.dumps(meta, indent=1, sort_keys=True))
    loaded = Recipe.load(old)
    assert loaded.child_schema.equals(child.schema, check_metadata=True)
    assert table_difference(rebuild(loaded, root=tmp_path), child) is None
    assert os.path.getsize(old / RECIPE_JSON) > len(r.files()[RECIPE_JSON])
