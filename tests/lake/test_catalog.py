"""The lake catalogue: what is a table, profiles, bad files, the profile cache."""

from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from prunekit.errors import InputError
from prunekit.lake.catalog import discover, scan_catalog
from prunekit.lake.profile import _aggregate_bounds, footer_bounds
from prunekit.lake.model import normalise_type
from prunekit.lake.tableio import read_table


@pytest.fixture
def lake(tmp_path, planted_lake) -> Path:
    root = tmp_path / "lake"
    shutil.copytree(planted_lake, root, ignore=shutil.ignore_patterns(".prunekit"))
    return root


def test_discovery_rules(lake):
    refs, skipped = discover(lake)
    names = {r.name: r for r in refs}
    # a folder of parts is one table named by the folder; its _SUCCESS marker is no table
    assert names["sales/base_parts"].format == "parquet"
    assert not any(n.startswith("sales/base_parts/") for n in names)
    assert names["people/people"].format == "csv"
    # dot-folders (cache, apply's trash) are never scanned
    assert not any(".prunekit" in r.path for r in refs)
    assert skipped == []


def test_folder_of_named_tables_is_not_a_parts_table(tmp_path):
    (tmp_path / "pkg").mkdir()
    for n in ("alpha", "beta"):
        pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "pkg" / f"{n}.parquet")
    parts = tmp_path / "t.parquet"
    parts.mkdir()
    pq.write_table(pa.table({"a": [1]}), parts / "anything.parquet")
    refs, _ = discover(tmp_path)
    assert sorted(r.name for r in refs) == ["pkg/alpha", "pkg/beta", "t"]


def test_name_collision_keeps_extensions(tmp_path):
    pq.write_table(pa.table({"a": [1]}), tmp_path / "t.parquet")
    (tmp_path / "t.csv").write_text("a\n1\n")
    refs, _ = discover(tmp_path)
    assert sorted(r.name for r in refs) == ["t.csv", "t.parquet"]


def test_nonexistent_root_is_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        scan_catalog(tmp_path / "nope")
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        scan_catalog(f)


def test_bad_files_are_skipped_with_reasons_and_the_scan_goes_on(lake):
    cat = scan_catalog(lake, cache=False)
    reasons = {Path(s.path).name: s.reason for s in cat.skipped}
    assert set(reasons) == {"corrupt.parquet", "ragged.csv", "empty.parquet", "dupcols.csv"}
    assert "cannot read as parquet" in reasons["corrupt.parquet"]
    assert "CSV parse error" in reasons["ragged.csv"] or "columns" in reasons["ragged.csv"]
    assert "0 rows" in reasons["empty.parquet"]
    assert "duplicate column names" in reasons["dupcols.csv"]
    assert all("\n" not in r for r in reasons.values())
    assert "sales/base" in cat.profiles and len(cat.profiles) == 19


def _reference_column(col: pa.ChunkedArray):
    vals = col.to_pylist()
    nulls = sum(v is None for v in vals)
    kind = normalise_type(col.type)
    nans = sum(1 for v in vals if isinstance(v, float) and math.isnan(v)) if kind == "float" else 0
    ordinary = [v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return nulls, nans, ordinary


def test_profiles_match_a_direct_computation(lake):
    cat = scan_catalog(lake, cache=False)
    for name, prof in cat.profiles.items():
        t = read_table(prof.path, prof.format)
        assert prof.rows == t.num_rows
        for c, orig in zip(prof.columns, t.column_names):
            nulls, nans, ordinary = _reference_column(t.column(orig))
            assert (c.nulls, c.nans) == (nulls, nans), (name, orig)
            if c.type in ("int", "float", "string", "bool") and ordinary:
                assert c.min == min(ordinary) and c.max == max(ordinary), (name, orig)
            if c.type == "date" and ordinary:
                assert c.min == min(ordinary).isoformat() and c.max == max(ordinary).isoformat()
    # -0.0 is a value like 0.0; bounds never hold NaN
    base = cat.profiles["sales/base"].column("score")
    assert base.nans == 4 and base.nulls == 3
    assert not (isinstance(base.min, float) and math.isnan(base.min))


def test_footer_bounds_are_trusted_only_where_exact(tmp_path):
    t = pa.table({"i": pa.array([5, -3, None, 9], pa.int32()), "b": [True, False, None, True],
                  "s": ["b", "a", None, "c"], "f": [1.5, float("nan"), None, -0.0],
                  "u": pa.array([1, 2, 3, 4], pa.uint32()),
                  "d": pa.array([3, 1, None, 2], pa.int32()).cast(pa.date32())})
    path = tmp_path / "t.parquet"
    pq.write_table(t, path, row_group_size=2)
    fb = footer_bounds(path)
    assert set(fb) == {"i", "b", "d"}          # strings, floats and unsigned ints are not trusted
    for name, (lo, hi) in fb.items():
        kind = normalise_type(t.schema.field(name).type)
        assert (lo, hi) == _aggregate_bounds(t.column(name).combine_chunks(), kind)


def test_profile_cache_reprofiles_only_changed_tables(lake):
    first = scan_catalog(lake)
    assert len(first.profiled) == 23 and first.cached == []
    assert (lake / ".prunekit/profiles.json").exists()
    second = scan_catalog(lake)
    assert second.profiled == [] and len(second.cached) == 23
    assert {k: v.fingerprint for k, v in second.profiles.items()} == \
           {k: v.fingerprint for k, v in first.profiles.items()}
    # change one table (new content, new mtime) and add one
    t = read_table(lake / "sales/sub_rows.parquet")
    time.sleep(0.01)
    pq.write_table(t.slice(0, 50), lake / "sales/sub_rows.parquet")
    pq.write_table(pa.table({"z": [1, 2]}), lake / "vec/new.parquet")
    third = scan_catalog(lake)
    assert sorted(third.profiled) == ["sales/sub_rows", "vec/new"]
    assert third.profiles["sales/sub_rows"].rows == 50
    # a removed table disappears from the result
    os.remove(lake / "vec/new.parquet")
    fourth = scan_catalog(lake)
    assert "vec/new" not in fourth.profiles and fourth.profiled == []


def test_explicit_cache_path_and_no_cache(lake, tmp_path):
    cache = tmp_path / "elsewhere.json"
    scan_catalog(lake, cache=cache)
    assert cache.exists() and not (lake / ".prunekit").exists()
    assert scan_catalog(lake, cache=cache).profiled == []
    assert len(scan_catalog(lake, cache=False).profiled) == 23
    nested = tmp_path / "new-dir" / "c.json"      # its folder is created
    scan_catalog(lake, cache=nested)
    assert nested.exists()
    with pytest.raises(InputError, match="profile cache"):
        scan_catalog(lake, cache=tmp_path)       # a folder is no cache file


def test_profiles_are_the_same_whatever_the_file_layout(tmp_path):
    rng = np.random.default_rng(1)
    t = pa.table({"a": rng.integers(0, 5, 100), "b": rng.normal(size=100)})
    pq.write_table(t, tmp_path / "one.parquet")
    d = tmp_path / "many"
    d.mkdir()
    for i in range(4):
        pq.write_table(t.slice(25 * i, 25), d / f"part-{i}.parquet")
    prof = scan_catalog(tmp_path, cache=False).profiles
    assert prof["one"].fingerprint == prof["many"].fingerprint
    assert prof["one"].columns == prof["many"].columns
    assert prof["one"].checksum != prof["many"].checksum
    assert float(pc.min(t["b"]).as_py()) == prof["one"].column("b").min
