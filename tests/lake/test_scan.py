"""The containment pipeline on planted lakes: exact answers, sound pruning, reports, CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _planted_lake import brute_force_edges, write_planted_lake

from prunekit.cli import main
from prunekit.errors import ConfigError, InputError
from prunekit.lake.backends import get_verifier, verify_group
from prunekit.lake.catalog import scan_catalog
from prunekit.lake.model import ScanResult
from prunekit.lake.scan import (
    find_containment,
    savings,
    scan,
    scan_traced,
    write_outputs,
)
from prunekit.lake.schema_graph import schema_candidates
from prunekit.lake.verify import canonical, column_set


@pytest.fixture(scope="module")
def catalog(planted_lake):
    return scan_catalog(planted_lake, cache=False)


def _pairs(result: ScanResult) -> set[tuple[str, str]]:
    return {(e.parent, e.child) for e in result.edges}


@pytest.mark.parametrize("semantics", ["bag", "set"])
@pytest.mark.parametrize("min_columns", [2, 1])
def test_matches_brute_force_reference(planted_lake, catalog, semantics, min_columns):
    result, trace = find_containment(catalog, semantics=semantics, min_columns=min_columns)
    truth = brute_force_edges(planted_lake, catalog.profiles, semantics=semantics, min_columns=min_columns)
    assert _pairs(result) == truth                     # no false positive, no false negative
    # every pair the pruning stages dropped is truly not a containment
    dropped = set(trace.stats_dropped) | set(trace.sample_dropped)
    assert not dropped & truth
    schema_pairs = set(trace.schema)
    assert truth <= schema_pairs
    # verification decided something: there were pairs it had to reject
    assert any(not ok for ok in trace.verified.values())


def test_planted_containments_and_near_misses(catalog):
    result, trace = find_containment(catalog)
    got = _pairs(result)
    for child in ("sales/sub_rows", "sales/proj_upper", "sales/wide_types", "sales/base_copy",
                  "sales/base_parts"):
        assert ("sales/base", child) in got, child
    assert ("big/events", "big/events_sub") in got
    assert ("people/people", "people/people_sub") in got           # CSV in CSV
    assert ("people/people_pq", "people/people") in got            # CSV in Parquet (int32, large_string)
    assert ("sales/extra_row", "sales/base") in got
    assert ("sales/base", "sales/extra_row") not in got
    assert trace.stats_dropped[("sales/base", "sales/extra_row")].startswith("rows")
    # near misses hidden from the sample: they pass stats and sampling, verification rejects them
    for child in ("big/events_changed", "big/events_foreign"):
        pair = ("big/events", child)
        assert pair in trace.stats and pair in trace.sample
        assert trace.verified[pair] is False
        assert pair not in got
    # a duplicated row: bag says no
    assert ("sales/base", "sales/dup_rows") in trace.verified
    assert ("sales/base", "sales/dup_rows") not in got
    # NaN and NULL are the same null
    assert ("sales/base", "sales/null_for_nan") in got


def test_set_semantics_accepts_duplicated_rows(catalog):
    result = find_containment(catalog, semantics="set")[0]
    assert ("sales/base", "sales/dup_rows") in _pairs(result)
    assert all(e.semantics == "set" for e in result.edges)


def test_duplicate_groups_and_derived_edges(catalog):
    result, trace = find_containment(catalog)
    assert ["sales/base", "sales/base_copy", "sales/base_parts"] in result.duplicate_groups
    assert ["people/people", "people/people_pq"] in result.duplicate_groups
    assert ["vec/x_copy", "vec/x_small"] in result.duplicate_groups
    dup = {(e.parent, e.child) for e in result.edges if e.duplicate}
    assert ("sales/base_copy", "sales/base") in dup and ("sales/base", "sales/sub_rows") not in dup
    derived = [e for e in result.edges if e.derived]
    assert derived and all(not e.verified for e in derived)
    assert {(e.parent, e.child) for e in derived} == trace.implied
    # verifying every pair row by row gives the same edges, all verified
    full, full_trace = find_containment(catalog, skip_implied=False)
    assert _pairs(full) == _pairs(result) and not full_trace.implied
    assert all(e.verified and not e.derived for e in full.edges)


def test_narrow_children_only_as_duplicates(catalog):
    default = _pairs(find_containment(catalog)[0])
    assert ("vec/x_copy", "vec/x_small") in default
    assert ("vec/wide_x", "vec/x_small") not in default
    assert ("vec/wide_x", "vec/x_small") in _pairs(find_containment(catalog, min_columns=1)[0])


def test_schema_index_never_pairs_incompatible_tables(catalog):
    prof = catalog.profiles
    pairs = set(schema_candidates(prof, min_columns=1))
    for p in prof:
        for c in prof:
            ok = p != c and set(prof[c].schema.items()) <= set(prof[p].schema.items())
            assert ((p, c) in pairs) == ok


def test_stage_reports(catalog):
    result = find_containment(catalog)[0]
    names = [s.stage for s in result.stages]
    assert names == ["catalog", "schema", "statistics", "sample", "verify", "closure"]
    st = {s.stage: s for s in result.stages}
    assert st["schema"].pairs_in == 19 * 18
    for a, b in [("schema", "statistics"), ("statistics", "sample"), ("sample", "verify")]:
        assert st[a].pairs_out == st[b].pairs_in
        assert st[b].pairs_out <= st[b].pairs_in
    assert st["closure"].pairs_out == len(result.edges)
    assert all(s.seconds >= 0 for s in result.stages)


def _canon(t: pa.Table) -> pa.Table:
    from prunekit.lake.model import ColumnProfile, TableProfile

    cols = tuple(ColumnProfile(name=n.lower(), original_name=n, type="", arrow_type="") for n in t.column_names)
    prof = TableProfile(name="t", path="", format="parquet", columns=cols, rows=t.num_rows,
                        size_bytes=0, fingerprint="", checksum="")
    return canonical(t, prof, column_set(prof))


@pytest.mark.parametrize("child, parent, bag, set_", [
    # NULL matches only NULL; NaN is NULL; -0.0 matches 0.0
    ({"x": pa.array([None], pa.float64())}, {"x": [float("nan")]}, True, True),
    ({"x": pa.array([None], pa.float64())}, {"x": [1.0]}, False, False),
    ({"x": [float("nan")]}, {"x": [float("nan"), 1.0]}, True, True),
    ({"x": [-0.0]}, {"x": [0.0]}, True, True),
    ({"x": pa.array([None], pa.int64())}, {"x": pa.array([None, 1], pa.int64())}, True, True),
    # int widths and string flavours compare by value
    ({"x": pa.array([1, 2], pa.int32())}, {"x": pa.array([2, 1, 3], pa.int64())}, True, True),
    ({"s": pa.array(["a"], pa.large_string())}, {"s": pa.array(["a", "b"], pa.string())}, True, True),
    # multiplicities: bag needs them to fit, set does not
    ({"x": [1, 1]}, {"x": [1, 2]}, False, True),
    ({"x": [1, 1]}, {"x": [1, 1, 2]}, True, True),
])
@pytest.mark.parametrize("engine", ["duckdb"])
def test_verifier_value_semantics(engine, child, parent, bag, set_):
    v = get_verifier(engine)
    try:
        c, p = _canon(pa.table(child)), _canon(pa.table(parent))
        assert verify_group(v, p, [("c", c)], "bag") == {"c": bag}
        assert verify_group(v, p, [("c", c)], "set") == {"c": set_}
    finally:
        v.close()


def test_timestamps_in_different_units_match(tmp_path):
    ts = np.array(["2021-01-01T00:00:01", "2021-06-01T12:00:00", "1999-12-31T23:59:59"],
                  dtype="datetime64[s]")
    pq.write_table(pa.table({"t": pa.array(ts).cast(pa.timestamp("us")), "k": [1, 2, 3]}), tmp_path / "p.parquet")
    pq.write_table(pa.table({"t": pa.array(ts[:2]).cast(pa.timestamp("ms")), "k": [1, 2]}), tmp_path / "c.parquet")
    pq.write_table(pa.table({"t": pa.array(ts[:2]).cast(pa.timestamp("ms")), "k": [2, 1]}), tmp_path / "n.parquet")
    got = _pairs(scan(tmp_path, cache=False))
    assert ("p", "c") in got and ("p", "n") not in got


def test_bad_options():
    with pytest.raises(ConfigError):
        scan_traced(".", semantics="multiset")
    with pytest.raises(ConfigError):
        scan_traced(".", sample_rows=0)
    with pytest.raises(ConfigError):
        scan_traced(".", min_columns=0)
    with pytest.raises(ConfigError):
        get_verifier("oracle")


def test_outputs_and_json_round_trip(catalog, tmp_path):
    result = find_containment(catalog)[0]
    paths = write_outputs(result, tmp_path / "out")
    back = ScanResult.from_json(paths["json"].read_text())
    assert back.edges == result.edges and back.duplicate_groups == result.duplicate_groups
    assert back.profiles == result.profiles
    t = pq.read_table(paths["parquet"])
    assert t.num_rows == len(result.edges)
    assert set(zip(t.column("parent").to_pylist(), t.column("child").to_pylist())) == _pairs(result)
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = paths["html"].read_text()
    assert "data:image/png;base64," in html and "sales/sub_rows" in html
    sv = savings(result)
    names = [d["table"] for d in sv]
    # exactly one member of each duplicate group is not counted as freeable... unless it lies
    # inside a bigger table (sales/base is inside sales/extra_row)
    assert "people/people" not in names and "people/people_pq" in names
    assert {"sales/base", "sales/base_copy", "sales/base_parts"} <= set(names)
    assert sv == sorted(sv, key=lambda d: (-d["bytes"], d["table"]))


def test_reduced_graph_drops_implied_edges(catalog):
    from prunekit.lake.graphview import reduced_edges

    result = find_containment(catalog)[0]
    red = reduced_edges(result)
    # base group → sub_rows is drawn; extra_row → sub_rows is implied through the base group
    base_node = next(p for p, c in red if c == "sales/sub_rows")
    assert base_node.startswith("sales/base")
    assert ("sales/extra_row", "sales/sub_rows") not in red
    assert ("sales/extra_row", base_node) in red


def test_cli_scan(planted_lake, tmp_path, capsys):
    lake = tmp_path / "lake"
    shutil.copytree(planted_lake, lake, ignore=shutil.ignore_patterns(".prunekit"))
    out = tmp_path / "out"
    assert main(["lake", "scan", str(lake), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "statistics" in printed and "largest savings" in printed and "corrupt.parquet" in printed
    data = json.loads((out / "containment.json").read_text())
    assert data["engine"] == "duckdb" and len(data["skipped"]) == 4
    assert (lake / ".prunekit/profiles.json").exists()
    assert main(["lake", "scan", str(lake), "-o", str(out), "--semantics", "set", "-q", "--no-cache",
                 "--no-graph"]) == 0
    assert json.loads((out / "containment.json").read_text())["semantics"] == "set"


def test_cli_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["lake", "scan", str(tmp_path / "missing"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "does not exist" in err and "\n" not in err
    write_planted_lake(tmp_path / "l")
    assert main(["lake", "scan", str(tmp_path / "l"), "-o", str(tmp_path / "o"), "--engine", "oracle"]) == 2
    assert "engine" in capsys.readouterr().err


def test_empty_lake(tmp_path):
    result = scan(tmp_path, cache=False)
    assert result.edges == [] and result.profiles == {} and result.duplicate_groups == []


def test_table_that_vanishes_before_verification(tmp_path):
    t = pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    pq.write_table(t, tmp_path / "p.parquet")
    pq.write_table(t.slice(0, 2), tmp_path / "c.parquet")
    cat = scan_catalog(tmp_path, cache=False)
    (tmp_path / "p.parquet").unlink()
    result, _ = find_containment(cat)
    assert result.edges == []
    assert any("unreadable during verification" in s.reason for s in result.skipped)
    assert "p" not in result.profiles and "c" in result.profiles


def test_find_containment_rejects_bad_input(catalog):
    with pytest.raises(ConfigError):
        find_containment(catalog, semantics="bags")
    with pytest.raises(InputError):
        scan("/definitely/not/here")
