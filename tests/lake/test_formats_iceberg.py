"""Apache Iceberg tables listed from a catalog named by a ``<name>.iceberg.json`` file in the lake:
read through pyiceberg, the snapshot in the profile's signature, containment both ways; an Iceberg
child deleted (folder into the trash, catalog entry dropped) and restored exactly (the same metadata
file), killed mid-way and recovered; an Iceberg parent rebuilds its deleted children exactly; a
catalog that does not answer is one error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from _lake_tree import forced_plan, tree

pytest.importorskip("pyiceberg")
from pyiceberg.catalog.sql import SqlCatalog  # noqa: E402

from prunekit.cli import main  # noqa: E402
from prunekit.errors import InputError  # noqa: E402
from prunekit.lake.apply import apply_plan  # noqa: E402
from prunekit.lake.catalog import scan_catalog  # noqa: E402
from prunekit.lake.deletion_plan import plan_to_file  # noqa: E402
from prunekit.lake.errors import PlanMismatch  # noqa: E402
from prunekit.lake.purge import purge  # noqa: E402
from prunekit.lake.restore import restore_tables  # noqa: E402
from prunekit.lake.scan import scan, scan_to_folder  # noqa: E402
from prunekit.lake.tableio import file_checksum, read_table  # noqa: E402


def _orders(n: int = 4000, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({"id": np.arange(n), "amount": rng.normal(size=n).round(3),
                     "name": [f"n{i % 97}" for i in range(n)]})


def _catalog(tmp_path: Path) -> SqlCatalog:
    (tmp_path / "wh").mkdir(exist_ok=True)
    return SqlCatalog("wh", uri=f"sqlite:///{tmp_path / 'cat.db'}", warehouse=(tmp_path / "wh").as_uri())


def _lake(tmp_path: Path, **conf) -> Path:
    """A lake folder whose ``wh.iceberg.json`` names the SQL catalog next to it (relative paths)."""
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "wh.iceberg.json").write_text(json.dumps({"type": "sql", "uri": "sqlite:///../cat.db",
                                                      "warehouse": "../wh", **conf}))
    return lake


def _table(cat, ident: str, table: pa.Table, batches: int = 2):
    t = cat.create_table(ident, schema=table.schema)
    step = -(-table.num_rows // batches)
    for i in range(batches):
        t.append(table.slice(i * step, step))
    return t


def test_tables_listed_and_read_in_file_path_order(tmp_path):
    cat = _catalog(tmp_path)
    cat.create_namespace("shop")
    cat.create_namespace("other")
    t = _table(cat, "shop.orders", _orders(300), batches=3)
    _table(cat, "other.x", _orders(10), batches=1)
    lake = _lake(tmp_path, namespaces=["shop"])
    result = scan(lake, cache=False)
    assert set(result.profiles) == {"shop.orders"}           # "namespaces" limits the listing
    prof = result.profiles["shop.orders"]
    assert prof.format == "iceberg" and prof.rows == 300
    assert prof.path == f"{lake / 'wh.iceberg.json'}#shop.orders"
    got = read_table(prof.path)
    files = sorted(task.file.file_path for task in t.scan().plan_files())
    expected = [v for f in files for v in pq.read_table(f.removeprefix("file://")).column("id").to_pylist()]
    assert got.column("id").to_pylist() == expected and got.schema.names == ["id", "amount", "name"]


def test_new_snapshot_reprofiles(tmp_path):
    cat = _catalog(tmp_path)
    cat.create_namespace("shop")
    t = _table(cat, "shop.orders", _orders(100), batches=1)
    lake = _lake(tmp_path)
    first = scan_catalog(lake)
    assert first.profiled == ["shop.orders"] and first.profiles["shop.orders"].signature.startswith("iceberg:s")
    assert scan_catalog(lake).cached == ["shop.orders"]
    t.append(_orders(5, seed=3))
    again = scan_catalog(lake)
    assert again.profiled == ["shop.orders"] and again.profiles["shop.orders"].rows == 105


def _state(lake: Path, ident: str):
    """What must come back exactly: metadata file, snapshot ids and history, schema, rows in order."""
    t = _catalog(lake.parent).load_table(ident)
    return (t.metadata_location, [s.snapshot_id for s in t.metadata.snapshots],
            [(h.snapshot_id, h.timestamp_ms) for h in t.history()], t.schema().model_dump_json(),
            read_table(f"{lake / 'wh.iceberg.json'}#{ident}"))


def _negative_lake(tmp_path: Path):
    cat = _catalog(tmp_path)
    cat.create_namespace("shop")
    parent = _orders()
    lake = _lake(tmp_path)
    pq.write_table(parent, lake / "orders.parquet")
    _table(cat, "shop.negative", parent.filter(pc.less(parent["amount"], 0)).select(["id", "name"]))
    result, _ = scan_to_folder(lake, tmp_path / "scan", graph=False)
    return cat, lake, result


def test_iceberg_child_planned_applied_and_restored_exactly(tmp_path):
    """A filtered, projected Iceberg copy of a Parquet table is found inside it, planned, applied
    (its folder into the trash, its catalog entry dropped), refused by purge, and restored: the
    same metadata file, snapshot ids, history, schema and rows."""
    cat, lake, result = _negative_lake(tmp_path)
    assert [(e.parent, e.child) for e in result.edges] == [("orders", "shop.negative")]
    plan = plan_to_file(tmp_path / "scan", tmp_path / "plan.json")
    assert [(d["table"], d["parent"]) for d in plan["deletions"]] == [("shop.negative", "orders")]
    assert plan["summary"]["no_recipe"] == {}
    before = _state(lake, "shop.negative")
    folder = Path(cat.load_table("shop.negative").location().removeprefix("file://"))
    files = tree(folder)

    [dry] = apply_plan(tmp_path / "plan.json").rows
    assert dry["outcome"] == "would delete" and cat.table_exists("shop.negative")
    assert apply_plan(tmp_path / "plan.json", execute=True).deleted == ["shop.negative"]
    assert not cat.table_exists("shop.negative") and not folder.exists()
    [row] = purge(lake, execute=True)
    assert row["outcome"] == "refused" and "history" in row["detail"]
    with pytest.raises(InputError, match="never rebuilt from a recipe"):
        restore_tables(lake, ["shop.negative"], from_recipe=True)
    [r] = restore_tables(lake, ["shop.negative"])
    assert r["mode"] == "trash" and r["byte_identical"]
    after = _state(lake, "shop.negative")
    assert after[:4] == before[:4] and after[4].equals(before[4]) and tree(folder) == files
    assert not (lake / ".prunekit-trash" / "shop.negative").exists()

    # Re-created meanwhile: the restore is refused, nothing changes; once it is gone, it comes back.
    assert apply_plan(tmp_path / "plan.json", execute=True).deleted == ["shop.negative"]
    impostor = cat.create_table("shop.negative", schema=pa.schema([("x", pa.int64())]))
    with pytest.raises(InputError, match="exists again in catalog wh"):
        restore_tables(lake, ["shop.negative"])
    assert cat.load_table("shop.negative").metadata_location == impostor.metadata_location
    cat.purge_table("shop.negative")
    with pytest.raises(InputError, match="move it away before restoring"):   # its empty folders stay
        restore_tables(lake, ["shop.negative"])
    shutil.rmtree(folder)
    [r] = restore_tables(lake, ["shop.negative"])
    assert _state(lake, "shop.negative")[:4] == before[:4]


def test_iceberg_tables_that_cannot_move_are_left_out_with_the_reason(tmp_path):
    """A table whose data file lies outside its folder is not planned (summary.no_recipe) and apply
    given it anyway refuses it and changes nothing."""
    cat, lake, result = _negative_lake(tmp_path)
    t = cat.load_table("shop.negative")
    extra = tmp_path / "elsewhere.parquet"
    parent = _orders()
    pq.write_table(parent.filter(pc.greater(parent["amount"], 0)).select(["id", "name"]).slice(0, 3), extra)
    t.add_files([extra.as_uri()])
    result, _ = scan_to_folder(lake, tmp_path / "scan", graph=False)
    plan = plan_to_file(tmp_path / "scan", tmp_path / "plan.json")
    assert plan["deletions"] == []
    assert "lies outside its location" in plan["summary"]["no_recipe"]["shop.negative ⊆ orders"]
    before, catalog_bytes = tree(tmp_path / "wh"), (tmp_path / "cat.db").read_bytes()
    forced = forced_plan(result, [("shop.negative", "orders")])
    [dry] = apply_plan(forced).rows
    assert dry["outcome"] == "refused" and "lies outside its location" in dry["detail"]
    [row] = apply_plan(forced, execute=True).refused
    assert "lies outside its location" in row["detail"]
    assert tree(tmp_path / "wh") == before and (tmp_path / "cat.db").read_bytes() == catalog_bytes


RUN = "import sys; from prunekit.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.parametrize("point", ["iceberg-files", "moved-unjournaled", "moved", "dropped-unjournaled",
                                   "restore-moved"])
def test_killed_iceberg_apply_or_restore_recovers(tmp_path, point):
    """SIGKILL between moving the folder and dropping the catalog entry (and around them): the next
    lake command rolls the apply back (folder and catalog entry back) or finishes the restore."""
    import os
    import signal
    import subprocess
    import sys

    from prunekit.lake.trash import lake_state

    cat, lake, _ = _negative_lake(tmp_path)
    plan_to_file(tmp_path / "scan", tmp_path / "plan.json")
    before = _state(lake, "shop.negative")
    env = dict(os.environ, PRUNEKIT_PROGRESS="0", PRUNEKIT_LAKE_CRASH_AT=point)
    if point == "restore-moved":
        assert apply_plan(tmp_path / "plan.json", execute=True).deleted == ["shop.negative"]
        args = ["lake", "restore", "shop.negative", "--lake", str(lake)]
    else:
        args = ["lake", "apply", str(tmp_path / "plan.json"), "--execute"]
    proc = subprocess.run([sys.executable, "-c", RUN, *args], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert main(["lake", "trash", "--lake", str(lake)]) == 0        # any lake command recovers
    assert lake_state(lake)["shop.negative"].state == "in_place"
    after = _state(lake, "shop.negative")
    assert after[:4] == before[:4] and after[4].equals(before[4])
    assert apply_plan(tmp_path / "plan.json", execute=True).deleted == ["shop.negative"]   # and again


def test_iceberg_parent_rebuilds_a_deleted_parquet_child(tmp_path):
    cat = _catalog(tmp_path)
    cat.create_namespace("shop")
    parent = _orders()
    orders = _table(cat, "shop.orders", parent)
    lake = _lake(tmp_path)
    whole = read_table(f"{lake / 'wh.iceberg.json'}#shop.orders")
    child = lake / "big.parquet"
    pq.write_table(whole.filter(pc.greater(whole["amount"], 0.5)), child)
    before = child.read_bytes()
    scan_to_folder(lake, tmp_path / "scan", graph=False)
    plan = plan_to_file(tmp_path / "scan", tmp_path / "plan.json")
    assert [(d["table"], d["parent"]) for d in plan["deletions"]] == [("big", "shop.orders")]
    assert apply_plan(tmp_path / "plan.json", execute=True).deleted == ["big"]
    assert [r["outcome"] for r in purge(lake, execute=True)] == ["purged"]
    [r] = restore_tables(lake, ["big"])
    assert r["mode"] == "rebuild" and child.read_bytes() == before

    # A new snapshot of the parent: the recipe refuses to rebuild from it, and a stale plan is refused.
    assert apply_plan(tmp_path / "plan.json", execute=True).deleted == ["big"]
    orders.append(_orders(3, seed=5))
    with pytest.raises(InputError, match="changed since the recipe was made"):
        restore_tables(lake, ["big"], from_recipe=True)
    [r] = restore_tables(lake, ["big"])                      # the trash copy still comes back
    assert r["mode"] == "trash" and child.read_bytes() == before
    with pytest.raises(PlanMismatch, match="changed since the scan"):
        apply_plan(tmp_path / "plan.json", execute=True)


def test_checksum_follows_the_snapshot(tmp_path):
    cat = _catalog(tmp_path)
    cat.create_namespace("shop")
    t = _table(cat, "shop.orders", _orders(50), batches=1)
    path = f"{_lake(tmp_path) / 'wh.iceberg.json'}#shop.orders"
    first = file_checksum(path)
    assert file_checksum(path) == first
    t.append(_orders(1))
    assert file_checksum(path) != first


def test_name_taken_by_a_file_keeps_the_catalog_path(tmp_path):
    cat = _catalog(tmp_path)
    cat.create_namespace("shop")
    _table(cat, "shop.orders", _orders(50), batches=1)
    lake = _lake(tmp_path)
    pq.write_table(_orders(20, seed=1), lake / "shop.orders.parquet")
    assert set(scan(lake, cache=False).profiles) == {"shop.orders", "wh.iceberg.json#shop.orders"}


@pytest.mark.parametrize("conf,words", [
    ({"type": "sql", "uri": "sqlite:///missing.db"}, "does not exist"),
    ({"type": "sql", "uri": "sqlite:///../empty.db"}, "no such table"),
    ({"type": "rest", "uri": "http://127.0.0.1:9"}, "does not answer"),
])
def test_a_catalog_that_does_not_answer_is_one_error_line(tmp_path, capsys, conf, words):
    (tmp_path / "empty.db").write_bytes(b"")
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "c.iceberg.json").write_text(json.dumps(conf))
    assert main(["lake", "scan", str(lake), "-o", str(tmp_path / "scan"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: Iceberg catalog c.iceberg.json") and words in err[0]
    assert (tmp_path / "empty.db").read_bytes() == b""          # never created or changed
    assert not (lake / "missing.db").exists()
