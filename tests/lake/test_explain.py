"""``prunekit lake explain``: the stage that decides one pair, agreeing with the scan on every pair of
the planted lake, and the rows of the child absent from the parent on hand-made pairs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from _planted_lake import brute_force_edges
from prunekit.cli import main
from prunekit.errors import ConfigError, InputError
from prunekit.lake.backends import get_verifier
from prunekit.lake.catalog import scan_catalog
from prunekit.lake.explain import EXPLAIN_ROWS, explain_pair, explain_profiles
from prunekit.lake.params import ENGINE, MIN_COLUMNS, SEMANTICS_PARAM
from prunekit.lake.scan import find_containment


# --- agreement with the scan -------------------------------------------------------------------

@pytest.fixture(scope="module")
def catalog(planted_lake):
    return scan_catalog(planted_lake, cache=False)


@pytest.fixture(scope="module")
def verifier():
    v = get_verifier("duckdb")
    yield v
    v.close()


@pytest.mark.parametrize("semantics, min_columns", [("bag", 2), ("set", 2), ("bag", 1)])
def test_explain_says_contained_exactly_when_the_scan_reports_an_edge(planted_lake, catalog, verifier,
                                                                     semantics, min_columns):
    result, trace = find_containment(catalog, semantics=semantics, min_columns=min_columns, skip_implied=False)
    verified = {(e.parent, e.child) for e in result.edges if e.verified}
    assert verified == {(e.parent, e.child) for e in result.edges}     # nothing left to transitivity
    default, _ = find_containment(catalog, semantics=semantics, min_columns=min_columns)
    assert {(e.parent, e.child) for e in default.edges} == verified    # derived edges are edges too
    truth = brute_force_edges(planted_lake, catalog.profiles, semantics=semantics, min_columns=min_columns)
    profiles = catalog.profiles
    said = set()
    for p in profiles:
        for c in profiles:
            if p == c:
                continue
            e = explain_profiles(profiles[c], profiles[p], semantics=semantics, min_columns=min_columns,
                                 verifier=verifier)
            if e.contained:
                said.add((p, c))
            # the stage that decides is the scan's
            if (p, c) not in trace.schema:
                assert e.stage == "schema" and not e.contained, (p, c)
            elif (p, c) in trace.stats_dropped:
                assert (e.stage, e.reason) == ("statistics", trace.stats_dropped[(p, c)]), (p, c)
            else:
                assert e.stage == "verify", (p, c)
                if not e.contained:   # every rejection shows its rows, and the engine agrees with them
                    assert e.rows and e.missing_rows and e.note is None, (p, c)
            json.dumps(e.to_dict(), allow_nan=False)
    assert said == verified == truth


def test_planted_near_misses_show_the_row_that_differs(planted_lake):
    e = explain_pair("big/events_changed", "big/events", lake=planted_lake)
    assert (e.stage, e.contained, e.missing_rows, e.missing_distinct) == ("verify", False, 1, 1)
    assert e.rows[0]["values"]["v"] == 50.12345 and e.rows[0]["parent_count"] == 0
    # NULL where the parent has NaN: the same null (docs/LAKE.md, "Value semantics")
    assert explain_pair("sales/null_for_nan", "sales/base", lake=planted_lake).contained
    assert explain_pair("sales/sub_rows", "sales/base", lake=planted_lake).contained   # -0.0 = 0.0, NaN = NaN


# --- hand-made pairs ---------------------------------------------------------------------------

def _write(t: pa.Table, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (pacsv.write_csv if path.suffix == ".csv" else pq.write_table)(t, path)
    return path


PARENT = pa.table({"x": pa.array([1, 2, 3, 4, 5, 6], pa.int64()),
                   "y": pa.array(["a", "b", "a", "c", None, "d"]),
                   "z": pa.array([0.5, -0.0, float("nan"), 2.0, 3.0, 4.0])})


@pytest.fixture
def parent(tmp_path) -> Path:
    return _write(PARENT, tmp_path / "parent.parquet")


def test_missing_column(tmp_path, parent):
    child = _write(PARENT.append_column("w", pa.array([1] * 6)).append_column("V", pa.array([1] * 6)),
                   tmp_path / "child.parquet")
    e = explain_pair(child, parent)
    assert (e.contained, e.stage, e.missing_columns) == (False, "schema", ["w", "v"])
    assert "2 child columns not in the parent: w, v" in e.reason
    assert [s["stage"] for s in e.stages] == ["schema"]


def test_type_mismatch(tmp_path, parent):
    child = _write(pa.table({"x": pa.array(["1", "2"]), "y": pa.array(["a", "b"])}), tmp_path / "child.parquet")
    e = explain_pair(child, parent)
    assert (e.contained, e.stage, e.missing_columns) == (False, "schema", [])
    assert [(d["column"], d["child"], d["parent"]) for d in e.type_differences] == [("x", "string", "number")]
    assert "x (string in the child, int64 in the parent)" in e.reason


def test_compatible_types_and_names_pass_the_schema(tmp_path, parent):
    child = _write(pa.table({" Y ": pa.array(["b", "c"], pa.large_string()), "X": pa.array([2, 4], pa.int32())}),
                   tmp_path / "child.parquet")
    e = explain_pair(child, parent)
    assert (e.contained, e.stage, e.engine) == (True, "verify", "duckdb")


def test_narrow_child_only_as_a_duplicate(tmp_path, parent):
    child = _write(PARENT.select(["x"]).slice(0, 3), tmp_path / "child.parquet")
    e = explain_pair(child, parent)
    assert (e.contained, e.stage) == (False, "schema") and "min_columns=2" in e.reason
    assert explain_pair(child, parent, min_columns=1).contained


def test_a_row_missing(tmp_path, parent):
    rows = PARENT.take([4, 0, 2]).to_pylist()
    rows.insert(1, {"x": 3, "y": "b", "z": 0.0})           # inside every bound; not a parent row
    child = _write(pa.Table.from_pylist(rows, schema=PARENT.schema), tmp_path / "child.parquet")
    e = explain_pair(child, parent)
    assert (e.contained, e.stage, e.missing_rows, e.missing_distinct) == (False, "verify", 1, 1)
    (r,) = e.rows
    assert (r["row"], r["values"], r["child_count"], r["parent_count"]) == (1, {"x": 3, "y": "b", "z": 0.0}, 1, 0)
    assert r["text"] == "row 1 (x=3, y='b', z=0.0) appears 1× in the child, 0× in the parent"
    assert explain_pair(child, parent, semantics="set").rows[0]["text"] == \
        "row 1 (x=3, y='b', z=0.0) does not occur in the parent"


def test_multiplicity_short_under_bag_fine_under_set(tmp_path, parent):
    child = _write(PARENT.take([2, 0, 2, 2, 3]), tmp_path / "child.parquet")   # row 2 (with NaN) three times
    e = explain_pair(child, parent)
    assert (e.contained, e.stage, e.missing_rows, e.missing_distinct) == (False, "verify", 2, 1)
    (r,) = e.rows
    assert (r["row"], r["child_count"], r["parent_count"], r["child_rows"]) == (2, 3, 1, [0, 2, 3])
    assert r["text"] == "row 2 (x=3, y='a', z=NaN) appears 3× in the child (rows 0, 2, 3), 1× in the parent"
    assert r["values"]["z"] == "NaN"
    s = explain_pair(child, parent, semantics="set")
    assert (s.contained, s.stage, s.rows) == (True, "verify", [])


def test_statistics_prune_by_bounds(tmp_path, parent):
    child = _write(pa.table({"x": pa.array([2, 9], pa.int64()), "y": pa.array(["a", "b"])}), tmp_path / "c.parquet")
    e = explain_pair(child, parent)
    assert (e.contained, e.stage, e.reason) == (False, "statistics", "x: max 9 > parent max 6")
    assert [c["column"] for c in e.statistics["columns"] if c["decides"]] == ["x"]
    assert e.statistics["columns"][0]["parent"]["max"] == 6 and not e.statistics["rows"]["decides"]
    assert [s["outcome"] for s in e.stages] == ["passed", "ruled out"]


def test_rows_limit_order_and_zero(tmp_path, parent):
    foreign = pa.table({"x": pa.array([5, 4, 3, 2, 1], pa.int64()), "y": pa.array(["b"] * 5),
                        "z": pa.array([1.0] * 5)})
    child = _write(pa.concat_tables([PARENT.slice(0, 1), foreign]), tmp_path / "child.parquet")
    e = explain_pair(child, parent, rows=2)
    assert (e.missing_rows, e.missing_distinct, [r["row"] for r in e.rows]) == (5, 5, [1, 2])
    assert explain_pair(child, parent, rows=0).rows == []


def test_row_groups_stay_exact_when_every_row_hash_collides(tmp_path, parent, monkeypatch):
    from prunekit.lake import tableio

    child = _write(PARENT.take([2, 2, 5]), tmp_path / "child.parquet")
    monkeypatch.setattr(tableio, "row_hashes", lambda t, columns=None: np.zeros(t.num_rows, np.uint64))
    e = explain_pair(child, parent)
    assert [(r["row"], r["child_count"], r["parent_count"]) for r in e.rows] == [(1, 2, 1)]


def test_csv_and_parts_folder_paths(tmp_path):
    parts = tmp_path / "parent_parts"
    for i in range(2):
        _write(PARENT.slice(3 * i, 3), parts / f"part-{i:05d}.parquet")
    child = _write(PARENT.take([1, 3]).select(["x", "y"]), tmp_path / "child.csv")
    assert explain_pair(child, parts).contained
    assert not explain_pair(parts, child).contained


# --- lake names and the command line -----------------------------------------------------------

@pytest.fixture
def lake(tmp_path) -> Path:
    root = tmp_path / "lake"
    _write(PARENT, root / "t/parent.parquet")
    _write(PARENT.take([2, 2]), root / "t/child.parquet")
    return root


def test_lake_names_and_paths_into_the_lake(lake, tmp_path, monkeypatch):
    e = explain_pair("t/child", "t/parent", lake=lake)
    assert (e.child, e.parent, e.contained) == ("t/child", "t/parent", False)
    assert explain_pair(lake / "t/child.parquet", "t/parent.parquet", lake=lake).child == "t/child"
    assert explain_pair("t/child", "t/parent", lake=lake, semantics="set").contained
    with pytest.raises(InputError, match="no table named 't/chld'.*did you mean t/child"):
        explain_pair("t/chld", "t/parent", lake=lake)


def test_cli_prints_the_verdict_and_the_rows(lake, capsys):
    assert main(["lake", "explain", "t/child", "t/parent", "--lake", str(lake)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "t/child ⊆ t/parent: not contained" in out and "decided by verify" in out
    assert "appears 2× in the child (rows 0, 1), 1× in the parent" in out


def test_cli_json_is_the_library_dict(lake, capsys):
    assert main(["lake", "explain", "t/child", "t/parent", "--lake", str(lake), "--json", "--rows", "1"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got == json.loads(json.dumps(explain_pair("t/child", "t/parent", lake=lake, rows=1).to_dict()))
    assert got["rows"][0]["values"] == {"x": 3, "y": "a", "z": "NaN"}


def _tree(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in sorted(root.rglob("*"))}


def _bad(tmp_path, lake):
    (tmp_path / "corrupt.parquet").write_bytes(b"PAR1" + bytes(range(100)) + b"PAR1")
    (tmp_path / "notes.txt").write_text("x\n")
    ok = str(lake / "t/child.parquet")
    return [
        ([str(tmp_path / "nope.parquet"), ok], "does not exist"),
        ([str(tmp_path / "corrupt.parquet"), ok], "corrupt"),
        ([str(tmp_path / "notes.txt"), ok], "is not a table"),
        ([str(lake / "t"), ok], "is not a table"),              # a folder of tables, not of parts
        ([ok, ok], "the same table"),
        ([ok, str(lake / "t/../t/child.parquet")], "the same table"),
        (["t/child", "t/child", "--lake", str(lake)], "the same table"),
        (["t/child", str(lake / "t/child.parquet"), "--lake", str(lake)], "the same table"),
        (["t/nope", "t/parent", "--lake", str(lake)], "no table named 't/nope'"),
        (["t/child", "t/parent", "--lake", str(tmp_path / "nolake")], "does not exist"),
    ]


def test_cli_bad_tables_one_error_line_nothing_written(tmp_path, lake, capsys):
    for args, words in _bad(tmp_path, lake):
        before = _tree(tmp_path)
        assert main(["lake", "explain", *args]) == 2, args
        cap = capsys.readouterr()
        err = cap.err.strip()
        assert err.startswith("error: ") and "\n" not in err and words in err, (args, err)
        assert cap.out == "" and _tree(tmp_path) == before, args


@pytest.mark.parametrize("flag, param, value", [
    ("--semantics", SEMANTICS_PARAM, "multiset"), ("--engine", ENGINE, "oracle"),
    ("--rows", EXPLAIN_ROWS, -1), ("--min-columns", MIN_COLUMNS, 0),
])
def test_cli_bad_options_in_the_declared_words(lake, tmp_path, capsys, flag, param, value):
    before = _tree(tmp_path)
    assert main(["lake", "explain", "t/child", "t/parent", "--lake", str(lake), flag, str(value)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {param.error(value)}"
    assert _tree(tmp_path) == before
    with pytest.raises(ConfigError, match=f"^{param.name} must be"):
        explain_pair("t/child", "t/parent", lake=lake, **{param.name: value})


def test_help_names_the_options_and_defaults(capsys):
    assert main(["lake", "explain", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    for p in (SEMANTICS_PARAM, ENGINE, MIN_COLUMNS, EXPLAIN_ROWS):
        assert f"default: {p.default_text()}" in text, p.name
    assert "--lake" in text and "--json" in text


def test_explain_follows_the_scan_on_index_columns_and_numbers(tmp_path):
    """A copy written by pandas with its index, its ints stored as floats: the scan finds it
    contained, so explain must too; comparing index columns or keeping number types apart rules
    it out, in both."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from prunekit.lake.explain import explain_pair

    parent = pa.table({"rownames": [f"r{i}" for i in range(1, 51)], "x": list(range(50)),
                       "y": [f"v{i % 7}" for i in range(50)]})
    child = pa.table({"__index_level_0__": list(range(20)), "x": [float(v) for v in range(20)],
                      "y": [f"v{i % 7}" for i in range(20)]})
    pq.write_table(parent, tmp_path / "p.parquet")
    pq.write_table(child, tmp_path / "c.parquet")
    e = explain_pair(tmp_path / "c.parquet", tmp_path / "p.parquet")
    assert e.contained, e.summary
    assert e.index_columns == {"child": ["__index_level_0__"], "parent": ["rownames"]}
    e = explain_pair(tmp_path / "c.parquet", tmp_path / "p.parquet", index_columns="compare")
    assert not e.contained and e.stage == "schema"
    e = explain_pair(tmp_path / "c.parquet", tmp_path / "p.parquet", numbers="type")
    assert not e.contained and e.stage == "schema" and e.type_differences[0]["column"] == "x"
