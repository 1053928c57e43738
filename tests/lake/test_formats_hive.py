"""Hive-partitioned folders (``table/key=value/…/part.parquet``) as lake tables: read with their
key columns typed as pyarrow.dataset infers them, in path order; found contained, planned, deleted
and restored exactly; broken folders skipped by name with one reason."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from _lake_tree import tree
from prunekit.lake.apply import apply_plan
from prunekit.lake.catalog import discover
from prunekit.lake.deletion_plan import plan_to_file
from prunekit.lake.formats import folder_format
from prunekit.lake.purge import purge
from prunekit.lake.restore import restore_tables
from prunekit.lake.scan import scan, scan_to_folder
from prunekit.lake.tableio import read_table


def _sales(n: int = 4000, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({"id": np.arange(n), "amount": rng.normal(size=n).round(3),
                     "name": [f"n{i % 97}" for i in range(n)],
                     "year": pa.array(rng.integers(2020, 2023, n), pa.int32()),
                     "region": rng.choice(["eu", "us", "asia"], n)})


def _write_partitioned(folder: Path, table: pa.Table, keys: list[str], fmt: str = "parquet",
                       parts: int = 2, skip: dict | None = None) -> None:
    """``table`` as ``folder/k1=v1/k2=v2/part-i.<fmt>`` (``parts`` files a partition), key columns
    dropped from the files; partitions whose key values match ``skip`` are left out."""
    df = table.to_pandas()
    for vals, grp in df.groupby(keys):
        vals = vals if isinstance(vals, tuple) else (vals,)
        if skip and all(dict(zip(keys, vals)).get(k) == v for k, v in skip.items()):
            continue
        d = folder.joinpath(*(f"{k}={v}" for k, v in zip(keys, vals)))
        d.mkdir(parents=True)
        sub = pa.Table.from_pandas(grp.drop(columns=keys), preserve_index=False)
        step = -(-len(sub) // parts)
        for i in range(parts):
            piece = sub.slice(i * step, step)
            if fmt == "csv":
                pacsv.write_csv(piece, d / f"part-{i}.csv")
            else:
                pq.write_table(piece, d / f"part-{i}.parquet")


def test_read_types_order_and_nulls_as_pyarrow_dataset(tmp_path):
    t = tmp_path / "t"
    for rel, rows in [("year=2021/region=us", [3]), ("year=2020/region=eu", [1, 2]),
                      ("year=10/region=a%20b", [4]), ("year=9/region=__HIVE_DEFAULT_PARTITION__", [5])]:
        (t / rel).mkdir(parents=True)
        pq.write_table(pa.table({"v": rows}), t / rel / "data.parquet")
    (t / "_SUCCESS").write_text("")
    assert folder_format(t) == ("hive", None)
    got = read_table(t)
    # rows: parts in relative-path (string) order, then file order; keys appended, typed as inferred
    assert got.to_pydict() == {"v": [4, 1, 2, 3, 5], "year": [10, 2020, 2020, 2021, 9],
                               "region": ["a b", "eu", "eu", "us", None]}
    files = sorted(str(f) for f in t.rglob("*.parquet"))
    expect = ds.dataset(files, format="parquet", partitioning="hive", partition_base_dir=str(t)).schema
    assert got.schema.equals(expect)
    assert got.schema.field("year").type == pa.int32() and got.schema.field("region").type == pa.string()


def test_big_integer_keys_are_strings_like_pyarrow(tmp_path):
    t = tmp_path / "t"
    for v in ("1", "9999999999"):
        (t / f"k={v}").mkdir(parents=True)
        pq.write_table(pa.table({"a": [1]}), t / f"k={v}" / "p.parquet")
    assert read_table(t).schema.field("k").type == pa.string()


def test_csv_parts(tmp_path):
    t = tmp_path / "t"
    _write_partitioned(t, _sales(200), ["region"], fmt="csv")
    got = read_table(t)
    assert got.column_names == ["id", "amount", "name", "year", "region"]
    assert got.num_rows == 200 and sorted(set(got.column("region").to_pylist())) == ["asia", "eu", "us"]


def _tree_of_data(folder: Path) -> dict[str, str]:
    return {k: v for k, v in tree(folder).items() if v != "dir"}


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_partitioned_child_contained_planned_applied_restored(tmp_path, fmt):
    """A partitioned copy of part of a Parquet table (EU and US, not Asia) is found inside it,
    planned, moved to the trash and back byte for byte, and — once purged — rebuilt from its
    recipe with the same part files."""
    lake = tmp_path / "lake"
    lake.mkdir()
    parent = _sales()
    pq.write_table(parent, lake / "all_sales.parquet")
    child = lake / "sales"
    _write_partitioned(child, parent, ["year", "region"], fmt=fmt, skip={"region": "asia"})
    (child / "_SUCCESS").write_text("")
    before = tree(child)

    result, _ = scan_to_folder(lake, tmp_path / "scan", graph=False)
    assert result.profiles["sales"].format == "hive"
    assert [(e.parent, e.child) for e in result.edges] == [("all_sales", "sales")]
    plan = plan_to_file(tmp_path / "scan", tmp_path / "plan.json")
    assert [d["table"] for d in plan["deletions"]] == ["sales"]
    report = apply_plan(tmp_path / "plan.json", execute=True)
    assert report.deleted == ["sales"] and not child.exists()

    restored = restore_tables(lake, ["sales"])
    assert restored[0]["mode"] == "trash" and tree(child) == before

    assert apply_plan(tmp_path / "plan.json", execute=True).deleted == ["sales"]
    assert [r["outcome"] for r in purge(lake, execute=True)] == ["purged"]
    restored = restore_tables(lake, ["sales"])
    assert restored[0]["mode"] == "rebuild"
    assert tree(child) == before    # pyarrow-written parts and the empty _SUCCESS come back byte for byte
    assert restored[0]["byte_identical"]


def test_partitioned_parent_of_a_csv_child(tmp_path):
    lake = tmp_path / "lake"
    parent = _sales(3000, seed=1)
    _write_partitioned(lake / "sales", parent, ["region"])
    whole = read_table(lake / "sales")
    pacsv.write_csv(whole.filter(pa.compute.equal(whole["year"], 2021)).select(["id", "amount", "year"]),
                    lake / "y2021.csv")
    result = scan(lake, cache=False)
    assert [(e.parent, e.child) for e in result.edges] == [("sales", "y2021")]


def test_mixed_schemas_make_one_named_skip(tmp_path):
    lake = tmp_path / "lake"
    t = lake / "events"
    for y, cols in [(2020, {"a": [1, 2], "b": ["x", "y"]}), (2021, {"a": [3], "c": [1.5]})]:
        (t / f"year={y}").mkdir(parents=True)
        pq.write_table(pa.table(cols), t / f"year={y}" / "part-0.parquet")
    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"]}), lake / "ok.parquet")
    result = scan(lake, cache=False)
    assert set(result.profiles) == {"ok"}
    [skip] = result.skipped
    assert skip.path == str(t)
    assert "mixed schemas across partitions" in skip.reason and "year=2021/part-0.parquet" in skip.reason \
        and "c: double" in skip.reason and "\n" not in skip.reason


def _part(folder: Path, rel: str, cols: dict | None = None, name: str = "part-0.parquet") -> None:
    (folder / rel).mkdir(parents=True, exist_ok=True)
    if name.endswith(".csv"):
        pacsv.write_csv(pa.table(cols or {"a": [1]}), folder / rel / name)
    else:
        pq.write_table(pa.table(cols or {"a": [1]}), folder / rel / name)


@pytest.mark.parametrize("build,words", [
    (lambda t: (_part(t, "year=1/region=eu"), _part(t, "year=2/country=fr")), "different keys at depth 2"),
    (lambda t: (_part(t, "year=1/region=eu"), _part(t, "year=2")), "different depths"),
    (lambda t: (_part(t, "year=1"), _part(t, "year=2", name="part-0.csv")), "mixed parquet and csv"),
    (lambda t: (_part(t, "year=1"), (t / "year=1" / "notes.txt").write_text("x")), "not a .parquet or .csv"),
    (lambda t: (_part(t, "year=1"), _part(t, "year=1/month=2")), "both partition folders and files"),
    (lambda t: _part(t, "a=1", {"a": [1], "b": [2]}), "partition key 'a' is also a column"),
])
def test_broken_partitioned_folders_are_skipped_by_name(tmp_path, build, words):
    lake = tmp_path / "lake"
    t = lake / "broken"
    build(t)
    pq.write_table(pa.table({"a": [1, 2], "b": [3, 4]}), lake / "fine.parquet")
    result = scan(lake, cache=False)
    assert set(result.profiles) == {"fine"}
    assert [s.path for s in result.skipped] == [str(t)]
    assert words in result.skipped[0].reason


def test_a_folder_of_tables_is_not_partitioned(tmp_path):
    lake = tmp_path / "lake"
    (lake / "AER").mkdir(parents=True)
    pq.write_table(pa.table({"a": [1], "b": [2]}), lake / "AER" / "Fertility.parquet")
    (lake / "x=1").mkdir()
    pq.write_table(pa.table({"a": [1], "b": [2]}), lake / "x=1" / "t.parquet")
    refs, skipped = discover(lake)
    assert [(r.name, r.format) for r in refs] == [("AER/Fertility", "parquet"), ("x=1/t", "parquet")]
    assert not skipped


def test_profile_cache_follows_a_changed_part(tmp_path):
    lake = tmp_path / "lake"
    _write_partitioned(lake / "sales", _sales(300), ["region"])
    assert scan(lake).profiles["sales"].rows == 300
    f = sorted((lake / "sales").rglob("*.parquet"))[0]
    pq.write_table(pq.read_table(f).slice(0, 1), f)
    os.utime(f, ns=(1, 1))
    assert scan(lake).profiles["sales"].rows < 300
