"""Apache Iceberg tables listed from a catalog named by a ``<name>.iceberg.json`` file in the lake:
read through pyiceberg, the snapshot in the profile's signature, containment both ways; Iceberg
children are never deleted (the plan leaves them out, apply refuses them, with the reason); an
Iceberg parent rebuilds its deleted children exactly; a catalog that does not answer is one error."""

from __future__ import annotations

import json
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


def test_iceberg_child_found_but_never_deleted(tmp_path):
    """A filtered, projected Iceberg copy of a Parquet table is found inside it; the plan leaves it
    out with the reason, and apply given it anyway refuses it and changes nothing."""
    cat = _catalog(tmp_path)
    cat.create_namespace("shop")
    parent = _orders()
    lake = _lake(tmp_path)
    pq.write_table(parent, lake / "orders.parquet")
    _table(cat, "shop.negative", parent.filter(pc.less(parent["amount"], 0)).select(["id", "name"]))
    result, _ = scan_to_folder(lake, tmp_path / "scan", graph=False)
    assert [(e.parent, e.child) for e in result.edges] == [("orders", "shop.negative")]
    plan = plan_to_file(tmp_path / "scan", tmp_path / "plan.json")
    assert plan["deletions"] == []
    assert "Iceberg tables are not deleted" in plan["summary"]["no_recipe"]["shop.negative ⊆ orders"]

    before, catalog_bytes = tree(lake), (tmp_path / "cat.db").read_bytes()
    forced = forced_plan(result, [("shop.negative", "orders")])
    [dry] = apply_plan(forced).rows
    assert dry["outcome"] == "refused" and "Iceberg tables are not deleted" in dry["detail"]
    report = apply_plan(forced, execute=True)
    [row] = report.refused
    assert row["table"] == "shop.negative" and "Iceberg tables are not deleted" in row["detail"]
    assert tree(lake) == before and (tmp_path / "cat.db").read_bytes() == catalog_bytes
    assert read_table(result.profiles["shop.negative"].path).num_rows == result.profiles["shop.negative"].rows


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
