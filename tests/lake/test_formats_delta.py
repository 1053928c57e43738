"""Delta Lake tables (a folder holding ``_delta_log/``) as lake tables: the current version read in
file-path order, the version in the profile's signature, containment, delete and restore of the
whole folder byte for byte, rebuild as a new Delta table, purge refused, damaged logs skipped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest

from _lake_tree import tree

deltalake = pytest.importorskip("deltalake")

from prunekit.lake.apply import apply_plan  # noqa: E402
from prunekit.lake.catalog import discover, scan_catalog  # noqa: E402
from prunekit.lake.deletion_plan import plan_to_file  # noqa: E402
from prunekit.lake.delta import log_version  # noqa: E402
from prunekit.lake.exact import table_difference  # noqa: E402
from prunekit.lake.purge import purge  # noqa: E402
from prunekit.lake.restore import restore_tables  # noqa: E402
from prunekit.lake.scan import scan, scan_to_folder  # noqa: E402
from prunekit.lake.tableio import read_table  # noqa: E402


def _sales(n: int = 4000, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({"id": np.arange(n), "amount": rng.normal(size=n).round(3),
                     "name": [f"n{i % 97}" for i in range(n)],
                     "year": pa.array(rng.integers(2020, 2023, n), pa.int32())})


def _delta(path: Path, table: pa.Table, *, batches: int = 2, partition_by=None) -> None:
    step = -(-table.num_rows // batches)
    for i in range(batches):
        deltalake.write_deltalake(str(path), table.slice(i * step, step), mode="append",
                                  partition_by=partition_by)


def test_current_version_in_file_path_order(tmp_path):
    t = tmp_path / "t"
    _delta(t, pa.table({"a": pa.array([1, 2, 3, 4, 5, 6], pa.int64()), "p": pa.array([0, 1, 0, 1, 0, 1], pa.int32())}),
           batches=3, partition_by=["p"])
    deltalake.DeltaTable(str(t)).delete("a = 3")       # a new version without the row a = 3
    assert log_version(t) == 3
    got = read_table(t)
    assert got.schema.names == ["a", "p"] and got.schema.field("p").type == pa.int32()
    assert sorted(got.column("a").to_pylist()) == [1, 2, 4, 5, 6]
    # canonical order: data files of the version sorted by relative path, rows in file order
    dt = deltalake.DeltaTable(str(t))
    adds = pa.table(dt.get_add_actions(flatten=True))
    files = sorted(adds.column("path").to_pylist())
    import pyarrow.parquet as pq
    expected = [v for f in files for v in pq.read_table(t / f).column("a").to_pylist()]
    assert got.column("a").to_pylist() == expected
    assert read_table(t).equals(got)                   # the same order every time


def _lake(tmp_path: Path) -> tuple[Path, pa.Table]:
    lake = tmp_path / "lake"
    lake.mkdir()
    parent = _sales()
    pacsv.write_csv(parent, lake / "all_sales.csv")
    child = parent.filter(pc.greater(parent["amount"], 0)).select(["id", "amount", "year"])
    _delta(lake / "positive", child, partition_by=["year"])
    return lake, child


def test_delta_child_of_a_csv_parent_planned_applied_restored(tmp_path):
    lake, child = _lake(tmp_path)
    folder = lake / "positive"
    before = tree(folder)
    result, _ = scan_to_folder(lake, tmp_path / "scan", graph=False)
    prof = result.profiles["positive"]
    assert prof.format == "delta" and prof.rows == child.num_rows and prof.signature.startswith("delta:v1:")
    assert [(e.parent, e.child) for e in result.edges] == [("all_sales", "positive")]
    plan = plan_to_file(tmp_path / "scan", tmp_path / "plan.json")
    assert [d["table"] for d in plan["deletions"]] == ["positive"]

    assert apply_plan(tmp_path / "plan.json", execute=True).deleted == ["positive"]
    assert not folder.exists()
    assert set(tree(lake / ".prunekit-trash" / "positive" / "data" / "positive")) == set(before)
    [row] = purge(lake, execute=True)
    assert row["outcome"] == "refused" and "history" in row["detail"]
    [r] = restore_tables(lake, ["positive"])
    assert r["mode"] == "trash" and r["byte_identical"] and tree(folder) == before   # _delta_log included

    # From the recipe: a new Delta table (version 0) with the same rows in the same order.
    original = read_table(folder)
    assert apply_plan(tmp_path / "plan.json", execute=True).deleted == ["positive"]
    [r] = restore_tables(lake, ["positive"], from_recipe=True)
    assert r["mode"] == "rebuild" and not r["byte_identical"]
    assert log_version(folder) == 0
    assert table_difference(original, read_table(folder)) is None
    assert deltalake.DeltaTable(str(folder)).metadata().partition_columns == ["year"]


def test_delta_parent_of_a_parquet_child(tmp_path):
    import pyarrow.parquet as pq

    lake = tmp_path / "lake"
    _delta(lake / "sales", _sales(2000, seed=3))
    whole = read_table(lake / "sales")
    pq.write_table(whole.filter(pc.equal(whole["year"], 2022)).select(["id", "name"]), lake / "y2022.parquet")
    result = scan(lake, cache=False)
    assert [(e.parent, e.child) for e in result.edges] == [("sales", "y2022")]


def test_new_version_reprofiles_the_table(tmp_path):
    lake = tmp_path / "lake"
    _delta(lake / "t", _sales(100), batches=1)
    first = scan_catalog(lake)
    assert first.profiles["t"].rows == 100 and first.profiled == ["t"]
    assert scan_catalog(lake).cached == ["t"]
    deltalake.write_deltalake(str(lake / "t"), _sales(10, seed=9), mode="append")
    again = scan_catalog(lake)
    assert again.profiled == ["t"] and again.profiles["t"].rows == 110
    assert again.profiles["t"].signature.startswith("delta:v1:")


def _commit(folder: Path, n: int) -> Path:
    return folder / "_delta_log" / f"{n:020d}.json"


@pytest.mark.parametrize("damage,words", [
    (lambda t: _commit(t, 1).unlink(), "not a readable Delta table"),                  # a gap in the log
    (lambda t: _commit(t, 2).write_text('{"add": {broken'), "not a readable Delta table"),
    (lambda t: [f.unlink() for f in (t / "_delta_log").iterdir()], "not a readable Delta table"),
    (lambda t: _commit(t, 0).unlink(), "not a readable Delta table"),
    (lambda t: sorted(t.glob("*.parquet"))[0].unlink(), "cannot read Delta version 2"),  # a data file gone
])
def test_damaged_delta_tables_are_named_skips(tmp_path, damage, words):
    lake = tmp_path / "lake"
    _delta(lake / "broken", _sales(60), batches=3)
    _delta(lake / "fine", _sales(60), batches=1)
    damage(lake / "broken")
    refs, _ = discover(lake)
    assert [r.format for r in refs] == ["delta", "delta"]
    result = scan(lake, cache=False)
    assert set(result.profiles) == {"fine"}
    [skip] = result.skipped
    assert skip.path == str(lake / "broken") and words in skip.reason and "\n" not in skip.reason
    assert len(skip.reason) < 400


def test_cli_scan_of_a_delta_lake_exits_cleanly(tmp_path):
    """deltalake's own file-system handler made the interpreter abort at exit (status 134)."""
    lake, _ = _lake(tmp_path)
    exe = Path(sys.executable).with_name("prunekit")
    out = subprocess.run([str(exe), "lake", "scan", str(lake), "-o", str(tmp_path / "s"), "-q", "--no-graph"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
