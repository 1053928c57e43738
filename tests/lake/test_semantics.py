"""The lake's value semantics (docs/LAKE.md, "Value semantics"): planted pairs for each way a copy of
a table used to be missed (row-index columns, int vs float, empty CSV strings, date-looking text),
the rules that must not relax (bool vs int, float32 vs float64), the Python reference against the
DuckDB (and Spark) engines and the sample's hashes, the options that tighten the rules, and a CSV
copy with its pandas index deleted and restored byte for byte."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from prunekit.cli import main
from prunekit.lake.apply import apply_plan
from prunekit.lake.backends import get_verifier, verify_group
from prunekit.lake.catalog import scan_catalog
from prunekit.lake.deletion_plan import plan_to_file
from prunekit.lake.exact import table_difference
from prunekit.lake.model import ColumnProfile, TableProfile
from prunekit.lake.purge import purge
from prunekit.lake.restore import restore_tables
from prunekit.lake.scan import scan, scan_to_folder
from prunekit.lake.semantics import (
    align_child,
    index_columns,
    reference_contains,
    reference_rows,
    value_column,
    value_row_hashes,
)
from prunekit.lake.tableio import read_table
from prunekit.lake.verify import canonical, column_set

N = 60


def _pairs(root: Path, **options) -> set[tuple[str, str]]:
    return {(e.parent, e.child) for e in scan(root, cache=False, **options).edges}


def _base(n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"id": np.arange(n, dtype=np.int64) * 7,
                         "name": [f"name {i % 13}" for i in range(n)],
                         "score": np.round(rng.normal(size=n) * 10, 2)})


def _parquet(df: pd.DataFrame, path: Path, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, **kw)
    return path


def _csv(df: pd.DataFrame, path: Path, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, **kw)
    return path


# --- row-index columns ------------------------------------------------------------------------------

def test_index_column_rule():
    t = pa.table({"": [3, 7, 9], "rownames": ["Mazda", "Fiat", "Mazda"], "Unnamed: 0": [1, 2, 3],
                  "__index_level_0__": ["a", "b", None], "index": [0, 1, 2], "x": [0, 1, 2]})
    # named like a row index and unique labels (no NULL); "index" only when it is 0..n-1 or 1..n
    assert index_columns(t) == ["", "Unnamed: 0", "index"]
    assert index_columns(pa.table({"index": [5, 1, 2]})) == []
    assert index_columns(pa.table({"ROWNAMES ": ["b", "a"]})) == ["ROWNAMES "]


@pytest.mark.parametrize("spelling", ["csv_index", "unnamed", "index_level", "rownames_labels",
                                      "rownames_1n", "empty_name_parquet"])
def test_index_columns_are_left_out(tmp_path, spelling):
    df = _base()
    parent = _parquet(df, tmp_path / "lake/parent.parquet", index=False)
    sub = df.iloc[np.arange(5, 45, 2)]                       # a subset: its index labels are 5, 7, …
    lake = tmp_path / "lake"
    if spelling == "csv_index":                              # pandas' default: header "", labels 5, 7, …
        _csv(sub, lake / "child.csv")
    elif spelling == "unnamed":                              # a CSV re-read by pandas and written again
        _csv(sub.reset_index().rename(columns={"index": "Unnamed: 0"}), lake / "child.csv", index=False)
    elif spelling == "index_level":                          # pandas to_parquet of a non-range index
        _parquet(sub.sample(frac=1, random_state=0), lake / "child.parquet")     # shuffled: no range
        assert "__index_level_0__" in pq.read_schema(lake / "child.parquet").names
    elif spelling == "rownames_labels":                      # R row names
        _parquet(sub.assign(rownames=[f"car {i}" for i in range(len(sub))]), lake / "child.parquet", index=False)
    elif spelling == "rownames_1n":
        _csv(sub.assign(rownames=np.arange(1, len(sub) + 1)), lake / "child.csv", index=False)
    else:
        pq.write_table(pa.Table.from_pandas(sub, preserve_index=False).append_column("", pa.array(
            np.arange(len(sub)))), lake / "child.parquet")
    prof = scan(lake, cache=False).profiles["child"]
    assert [c.index for c in prof.columns].count(True) == 1
    assert _pairs(lake) == {("parent", "child")}
    # compared, the index column is a column the parent lacks
    assert _pairs(lake, index_columns="compare") == set()
    assert parent.exists()


def test_both_sides_with_different_row_names(tmp_path):
    df = _base()
    _parquet(df.assign(rownames=np.arange(1, N + 1)), tmp_path / "p.parquet", index=False)
    _parquet(df.iloc[10:30].assign(rownames=np.arange(1, 21)), tmp_path / "c.parquet", index=False)
    assert _pairs(tmp_path) == {("p", "c")}
    assert _pairs(tmp_path, index_columns="compare") == set()


# --- CSV twins: int vs float, empty string fields, date-looking text ---------------------------------

def test_int_column_with_a_null_matches_its_float_csv_copy(tmp_path):
    t = pa.table({"k": pa.array([1, None, 3, 4], pa.int64()), "s": ["a", "b", "c", "d"]})
    pq.write_table(t, tmp_path / "ints.parquet")
    (tmp_path / "floats.csv").write_text("k,s\n1.0,a\n,b\n3.0,c\n4.0,d\n")
    assert read_table(tmp_path / "floats.csv").schema.field("k").type == pa.float64()
    assert _pairs(tmp_path) == {("ints", "floats"), ("floats", "ints")}
    assert _pairs(tmp_path, numbers="type") == set()


def test_empty_csv_fields_are_null_in_string_columns(tmp_path):
    (tmp_path / "t.csv").write_text('a,s,q\n1,,""\n2,x,"NA"\n3,NA,y\n')
    t = read_table(tmp_path / "t.csv")
    assert t.column("s").to_pylist() == [None, "x", None]        # unquoted empty field, NA: NULL
    assert t.column("q").to_pylist() == ["", "NA", "y"]          # quoted: a value
    pq.write_table(pa.table({"a": [1, 2, 3], "s": pa.array([None, "x", None], pa.string()),
                             "q": ["", "NA", "y"]}), tmp_path / "p.parquet")
    pacsv.write_csv(pq.read_table(tmp_path / "p.parquet"), tmp_path / "w.csv")   # pyarrow's writer
    assert _pairs(tmp_path) >= {("p", "t"), ("t", "p"), ("p", "w"), ("w", "p")}


@pytest.mark.parametrize("texts, kind", [
    (["2020-01-31", None, "1999-12-31"], "date"),
    (["2020-01-31 10:00:00", "2020-02-01 00:00:00.5", None], "timestamp"),
    (["10:00:00", "23:59:00", None], "time"),
])
def test_date_looking_text_matches_its_csv_copy(tmp_path, texts, kind):
    t = pa.table({"d": pa.array(texts, pa.string()), "k": [1, 2, 3]})
    pq.write_table(t, tmp_path / "text.parquet")
    pacsv.write_csv(t, tmp_path / "parsed.csv")
    parsed = read_table(tmp_path / "parsed.csv").column("d").type
    assert not pa.types.is_string(parsed)                        # the CSV reader parses it
    assert value_column(t.column("d"))[0].startswith(kind)       # the text is compared as that
    assert _pairs(tmp_path) == {("text", "parsed"), ("parsed", "text")}
    other = pa.table({"d": pa.array([texts[0].replace("-", "/"), None, None]), "k": [1, 2, 3]})
    pq.write_table(other, tmp_path / "other.parquet")            # not a date: text, never a date
    assert not {p for p in _pairs(tmp_path) if "other" in p}


def test_text_that_is_not_wholly_dates_stays_text(tmp_path):
    pq.write_table(pa.table({"d": ["2020-01-31", "unknown"], "k": [1, 2]}), tmp_path / "p.parquet")
    pq.write_table(pa.table({"d": pa.array([None, None], pa.date32()), "k": [1, 2]}), tmp_path / "c.parquet")
    assert value_column(pq.read_table(tmp_path / "p.parquet").column("d"))[0] == "string"
    assert _pairs(tmp_path) == set()


# --- value rules: the engines, the Python reference and the sample agree ----------------------------

def _profile(t: pa.Table) -> TableProfile:
    cols = []
    for name in t.column_names:
        kind, _ = value_column(t.column(name))
        cols.append(ColumnProfile(name=name.lower(), original_name=name, type=kind, arrow_type=str(t.schema.field(name).type)))
    return TableProfile(name="t", path="", format="parquet", columns=tuple(cols), rows=t.num_rows,
                        size_bytes=0, fingerprint="", checksum="")


def _col(values, typ=None):
    return {"x": pa.array(values, typ), "y": pa.array(["a"] * len(values))}


F32_01 = float(np.float32(0.1))
TS = dt.datetime(2020, 1, 31, 10, 0, 0)
CASES = {   # name: (child, parent, contained)
    "3 = 3.0": (_col([3], pa.int64()), _col([3.0, 4.5]), True),
    "3.0 = 3": (_col([3.0]), _col([3, 4], pa.int32()), True),
    "3.0 = decimal 3.00": (_col([3.0]), _col([Decimal("3.00"), Decimal("1.25")]), True),
    "2.5 not in ints": (_col([2.5]), _col([2, 3]), False),
    "int beyond 2**53": (_col([2 ** 53 + 1], pa.int64()), _col([float(2 ** 53), 0.5]), False),
    "int 2**60 = float": (_col([2 ** 60], pa.int64()), _col([float(2 ** 60), 0.5]), True),
    "uint64 max": (_col([2 ** 64 - 1], pa.uint64()), _col([Decimal(2 ** 64 - 1), Decimal("0.5")]), True),
    "-0.0 = 0": (_col([-0.0]), _col([0], pa.int64()), True),
    "0 = -0.0": (_col([0.0]), _col([-0.0, 0.5]), True),
    "NaN = NULL": (_col([float("nan")]), _col([None, 1.5], pa.float64()), True),
    "NULL = NaN": (_col([None], pa.int64()), _col([float("nan"), 1.5]), True),
    "NULL is not 0": (_col([None], pa.int64()), _col([0, 1], pa.int64()), False),
    "0.1 f32 != 0.1 f64": (_col([0.1], pa.float32()), _col([0.1, 0.5]), False),
    "0.1 f32 = its widening": (_col([0.1], pa.float32()), _col([F32_01, 0.5]), True),
    "decimal 0.1 != float 0.1": (_col([Decimal("0.1")]), _col([0.1, 0.5]), False),
    "decimal 0.1 = decimal 0.100": (_col([Decimal("0.1")]), _col([Decimal("0.100"), Decimal("0.5")]), True),
    "decimal 0.5 = float 0.5": (_col([Decimal("0.5")]), _col([0.5, 1.5]), True),
    "bool is not 1": (_col([True]), _col([1, 0], pa.int64()), False),
    "date text = date": (_col(["2020-01-31"]), _col([dt.date(2020, 1, 31)], pa.date32()), True),
    "date = date text": (_col([dt.date(2020, 1, 31)], pa.date32()), _col(["2020-01-31", None]), True),
    "ts s = ts ns": (_col([TS], pa.timestamp("s")),
                     _col([TS], pa.timestamp("ns")), True),
    "ts UTC = ts naive": (_col([TS], pa.timestamp("ms", "UTC")),
                          _col([TS], pa.timestamp("us")), True),
    "null column": (_col([None, None], pa.null()), _col([None, None, 1.0], pa.float64()), True),
    "nulls in a null column": (_col([None], pa.string()), _col([None, None], pa.null()), True),
    "text exact": (_col(["a "]), _col(["a", "b"]), False),
}


def _engine_answer(verifier, child: pa.Table, parent: pa.Table, semantics: str) -> bool:
    cp, pp = _profile(child), _profile(parent)
    cs = column_set(cp)
    return verify_group(verifier, canonical(parent, pp, cs), [("c", canonical(child, cp, cs))], semantics)["c"]


def _reference(child: pa.Table, parent: pa.Table, semantics: str) -> bool:
    cp, pp = _profile(child), _profile(parent)
    kinds_c = [c.type for c in cp.columns]
    kinds_p = [pp.column(c.name).type for c in cp.columns]
    names = [c.original_name for c in cp.columns]
    if any(kc == "bool" or kp == "bool" for kc, kp in zip(kinds_c, kinds_p) if kc != kp):
        return False                                    # bool never meets a number
    return reference_contains(reference_rows(child, names, kinds_c), reference_rows(parent, names, kinds_p),
                              semantics)


@pytest.mark.parametrize("name", list(CASES))
def test_duckdb_and_python_reference_agree(name):
    child, parent, want = CASES[name]
    child, parent = pa.table(child), pa.table(parent)
    v = get_verifier("duckdb")
    try:
        for semantics in ("bag", "set"):
            assert _reference(child, parent, semantics) is want, (name, semantics)
            assert _engine_answer(v, child, parent, semantics) is want, (name, semantics)
    finally:
        v.close()


@pytest.mark.parametrize("name", [n for n, (_, _, want) in CASES.items() if want])
def test_equal_values_hash_alike(name):
    child, parent, _ = CASES[name]
    child, parent = pa.table(child), pa.table(parent)
    hc = value_row_hashes(child, ["x", "y"], [c.type for c in _profile(child).columns])
    hp = value_row_hashes(parent, ["x", "y"], [c.type for c in _profile(parent).columns])
    assert set(hc.tolist()) <= set(hp.tolist())          # the sample never refutes a true containment


def test_random_columns_engine_equals_reference():
    rng = np.random.default_rng(7)
    pool = [0, 1, 2, 3, -0.0, 0.5, 2.5, float("nan"), None, 2 ** 53, 2 ** 53 + 1]
    makers = [lambda v: pa.array([x if x is None or isinstance(x, float) else float(x) for x in v], pa.float64()),
              lambda v: pa.array([x if x is None or isinstance(x, float) else float(x) for x in v], pa.float32()),
              lambda v: pa.array([None if x is None or x != x or x != int(x) else int(x) for x in v], pa.int64()),
              lambda v: pa.array([None if x is None or x != x else Decimal(repr(float(x))) for x in v],
                                 pa.decimal128(20, 1))]
    v = get_verifier("duckdb")
    try:
        for trial in range(60):
            vals = [pool[i] for i in rng.integers(0, len(pool), 6)]
            c_vals = [vals[i] for i in rng.integers(0, 6, 3)]
            mc, mp = makers[rng.integers(0, 4)], makers[rng.integers(0, 4)]
            child = pa.table({"x": mc(c_vals), "y": pa.array(["a"] * 3)})
            parent = pa.table({"x": mp(vals), "y": pa.array(["a"] * 6)})
            for semantics in ("bag", "set"):
                want = _reference(child, parent, semantics)
                assert _engine_answer(v, child, parent, semantics) is want, (trial, c_vals, vals, semantics)
            if _reference(child, parent, "set"):
                kinds = [c.type for c in _profile(child).columns], [c.type for c in _profile(parent).columns]
                assert set(value_row_hashes(child, ["x", "y"], kinds[0]).tolist()) <= \
                    set(value_row_hashes(parent, ["x", "y"], kinds[1]).tolist())
    finally:
        v.close()


def test_align_lifts_the_child_or_refutes_it():
    def can(values, typ=None):
        t = pa.table({"x": pa.array(values, typ)})
        return canonical(t, _profile(t), ("x",))

    ints, floats = can([1, 2], pa.int64()), can([0.5, 1.0])
    assert floats.schema.field(0).type == pa.float64() and ints.schema.field(0).type == pa.int64()
    assert align_child(ints, floats.schema).column(0).to_pylist() == [1.0, 2.0]
    assert align_child(floats, ints.schema) is None               # 0.5 is in no int column
    assert align_child(can([2 ** 53 + 1], pa.int64()), floats.schema) is None
    assert can([1.0, None, float("nan")]).column(0).type == pa.int64()   # integral floats: int64 form


@pytest.mark.slow
def test_spark_agrees(spark_verifier):
    for name, (child, parent, want) in CASES.items():
        child, parent = pa.table(child), pa.table(parent)
        for semantics in ("bag", "set"):
            assert _engine_answer(spark_verifier, child, parent, semantics) is want, (name, semantics)


# --- the options, and a CSV copy with its index deleted and restored exactly -------------------------

def test_cli_option_and_recorded_values(tmp_path):
    df = _base()
    _parquet(df, tmp_path / "lake/p.parquet", index=False)
    _csv(df.iloc[:20], tmp_path / "lake/c.csv")
    assert main(["lake", "scan", str(tmp_path / "lake"), "-o", str(tmp_path / "s1"), "-q", "--no-graph"]) == 0
    assert main(["lake", "scan", str(tmp_path / "lake"), "-o", str(tmp_path / "s2"), "-q", "--no-graph",
                 "--index-columns", "compare", "--numbers", "type"]) == 0
    s1 = json.loads((tmp_path / "s1/containment.json").read_text())
    s2 = json.loads((tmp_path / "s2/containment.json").read_text())
    assert [(e["parent"], e["child"]) for e in s1["edges"]] == [("p", "c")] and s2["edges"] == []
    assert s1["values"] == {"index_columns": "ignore", "numbers": "value"}
    assert s2["values"] == {"index_columns": "compare", "numbers": "type"}
    assert s1["edges"][0]["columns"] == ["id", "name", "score"]
    assert [c["index"] for c in s1["profiles"]["c"]["columns"]] == [True, False, False, False]


def test_csv_with_index_is_planned_applied_and_restored_byte_identical(tmp_path):
    rng = np.random.default_rng(3)
    n = 3000
    df = pd.DataFrame({"id": np.arange(n), "city": [f"city {i % 17}" for i in range(n)],
                       "amount": np.round(rng.uniform(0, 500, n), 2), "qty": rng.integers(1, 9, n)})
    lake = tmp_path / "lake"
    _parquet(df, lake / "orders.parquet", index=False)
    child = _csv(df[df.qty > 4], lake / "exports/big_orders.csv")            # index labels kept
    # qty as float, and pandas' index (not a range: a column __index_level_0__)
    floats = _parquet(df.take(rng.permutation(np.arange(0, n, 3))).astype({"qty": "float64"}),
                      lake / "exports/thirds.parquet")
    assert "__index_level_0__" in pq.read_schema(floats).names
    original = {p: (p.read_bytes(), read_table(p)) for p in (child, floats)}
    scan_to_folder(lake, tmp_path / "scan", graph=False)
    plan = plan_to_file(tmp_path / "scan", tmp_path / "plan.json")
    planned = {d["table"]: d["parent"] for d in plan["deletions"]}
    assert planned == {"exports/big_orders": "orders", "exports/thirds": "orders"}
    report = apply_plan(tmp_path / "plan.json", execute=True)
    assert sorted(report.deleted) == ["exports/big_orders", "exports/thirds"] and not report.refused
    assert not child.exists() and not floats.exists()
    purge(lake, execute=True)                                   # only the recipes are left
    restored = restore_tables(lake, ["exports/big_orders", "exports/thirds"])
    assert all(r["mode"] == "rebuild" for r in restored)
    for p, (data, table) in original.items():
        assert table_difference(table, read_table(p)) is None, p
    assert child.read_bytes() == original[child][0]            # the CSV: byte for byte


def test_a_child_matching_only_by_nan_for_null_is_not_planned(tmp_path):
    n = 2000
    parent = pa.table({"k": np.arange(n), "v": pa.array([None if i % 5 == 0 else float(i) for i in range(n)])})
    (tmp_path / "lake").mkdir()
    pq.write_table(parent, tmp_path / "lake/p.parquet")
    child = pa.table({"k": np.arange(n // 2), "v": pa.array([float("nan") if i % 5 == 0 else float(i)
                                                             for i in range(n // 2)])})
    pq.write_table(child, tmp_path / "lake/c.parquet")
    scan_to_folder(tmp_path / "lake", tmp_path / "scan", graph=False)
    assert ("p", "c") in {(e.parent, e.child) for e in scan(tmp_path / "lake", cache=False).edges}
    plan = plan_to_file(tmp_path / "scan", tmp_path / "plan.json")
    assert plan["deletions"] == [] and list(plan["summary"]["no_recipe"]) == ["c ⊆ p"]


def test_catalog_profiles_show_index_and_value_types(tmp_path):
    lake = tmp_path / "lake"
    _csv(pd.DataFrame({"d": ["2020-01-31", "2020-02-01"], "x": [1.5, 2.0]}), lake / "t.csv")
    cat = scan_catalog(lake, cache=False)
    cols = {c.name: c for c in cat.profiles["t"].columns}
    assert cols[""].index and not cols["d"].index
    assert cols["d"].type == "date" and cols["d"].min == "2020-01-31"
    assert cat.skipped == []
