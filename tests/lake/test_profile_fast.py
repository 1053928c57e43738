"""The cold scan's shortcuts give exactly what the plain code gives: one read for table + checksum +
footers, NumPy statistics, profiling in forked processes, the fingerprint on demand, tables handed
from profiling to the content stages and read ahead there."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prunekit.lake import catalog as catalog_mod
from prunekit.lake import tableio
from prunekit.lake.catalog import discover, scan_catalog
from prunekit.lake.profile import (_aggregate_bounds, _numpy_stats, footer_bounds, bounds_from_footers,
                                   profile_or_skip, table_fingerprint, with_fingerprint)
from prunekit.lake.scan import scan_traced
from prunekit.lake.semantics import value_column


def _same(a: pa.Table, b: pa.Table) -> bool:
    """Equal schemas and values, NaN equal to NaN (``Table.equals`` holds NaN unequal to itself)."""
    if not a.schema.equals(b.schema) or a.num_rows != b.num_rows:
        return False
    for x, y in zip(a.columns, b.columns):
        if pa.types.is_floating(x.type):
            nx, ny = x.to_numpy(), y.to_numpy()
            if not (np.array_equal(nx, ny, equal_nan=True) and x.is_null().equals(y.is_null())):
                return False
        elif not x.equals(y):
            return False
    return True


def _edges(result):
    return [(e.parent, e.child, e.derived, e.duplicate) for e in result.edges]


def test_one_read_gives_the_table_checksum_and_footers_of_separate_reads(planted_lake, monkeypatch):
    refs, _ = discover(planted_lake)
    kinds = {r.format for r in refs}
    assert {"parquet", "csv"} <= kinds
    checked = 0
    for r in refs:
        try:
            plain = tableio.read_table(r.path, r.format)
        except Exception:
            with pytest.raises(tableio.InputError):
                tableio.read_with_checksum(r.path, r.format)
            continue
        table, checksum, footers = tableio.read_with_checksum(r.path, r.format)
        assert _same(table, plain) and checksum == tableio.file_checksum(r.path), r.name
        if r.format == "parquet":
            assert bounds_from_footers(footers) == footer_bounds(r.path), r.name
        checked += 1
    assert checked > 10
    # above the in-memory limit: the same answers from two streaming passes, no footers
    monkeypatch.setattr(tableio, "ONE_READ_BYTES", 0)
    r = next(r for r in refs if r.format == "parquet" and profile_or_skip(r).__class__.__name__ == "TableProfile")
    table, checksum, footers = tableio.read_with_checksum(r.path, r.format)
    assert footers == [] and checksum == tableio.file_checksum(r.path)
    assert _same(table, tableio.read_table(r.path, r.format))


@pytest.mark.parametrize("seed", range(6))
def test_numpy_statistics_equal_the_arrow_aggregates(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 50))
    f = rng.normal(size=n) * 10 ** rng.integers(-3, 300)
    f[rng.random(n) < 0.2] = np.nan
    f[rng.random(n) < 0.2] = -0.0
    nulls = rng.random(n) < 0.2
    cols = [pa.array(f, mask=nulls), pa.array(f.astype(np.float32), mask=nulls),
            pa.array(rng.integers(-2**62, 2**62, n)), pa.array(rng.integers(0, 2**63, n, dtype=np.uint64)),
            pa.array(rng.integers(-5, 5, n).astype(np.int8))]
    for col in cols:
        kind, arr = value_column(col)
        got = _numpy_stats(arr, kind)
        assert got is not None, col.type
        nans = int(np.isnan(arr.to_numpy(zero_copy_only=False)).sum()) - arr.null_count if kind == "float" else 0
        assert got[0] == nans
        if arr.null_count + nans == len(arr):
            assert got[1:] == (None, None)
            continue
        want = _aggregate_bounds(arr, kind)
        assert got[1:] == want and all(not (isinstance(v, float) and math.copysign(1, v) < 0 and v == 0)
                                        for v in got[1:]), (col.type, got, want)


def test_processes_threads_and_one_thread_give_the_same_profiles(planted_lake, monkeypatch):
    serial = scan_catalog(planted_lake, cache=False, workers=1)
    threads = scan_catalog(planted_lake, cache=False, workers=2)
    monkeypatch.setattr(catalog_mod, "PROCESS_MIN_TABLES", 2)
    forked = scan_catalog(planted_lake, cache=False, workers=2)
    assert len(serial.profiles) > 10 and serial.skipped
    for other in (threads, forked):
        assert other.profiles == serial.profiles
        assert [(s.path, s.reason) for s in other.skipped] == [(s.path, s.reason) for s in serial.skipped]


def test_fingerprint_on_demand(planted_lake, tmp_path):
    cat = scan_catalog(planted_lake, cache=False)
    assert all(p.fingerprint is None for p in cat.profiles.values())
    name, prof = next(iter(cat.profiles.items()))
    table = tableio.read_table(prof.path, prof.format)
    full = with_fingerprint(prof)
    assert full.fingerprint == table_fingerprint(table) == with_fingerprint(prof, table).fingerprint
    assert with_fingerprint(full) is full
    # the same rows in another order and file: the same fingerprint
    pq.write_table(table.take(np.arange(table.num_rows)[::-1]), tmp_path / "rev.parquet")
    assert table_fingerprint(tableio.read_table(tmp_path / "rev.parquet")) == full.fingerprint


@pytest.mark.parametrize("semantics", ["bag", "set"])
def test_handing_tables_over_and_reading_ahead_change_no_answer(planted_lake, monkeypatch, semantics):
    from prunekit.lake import content, verify

    fast, fast_trace = scan_traced(planted_lake, cache=False, semantics=semantics, min_columns=1)
    # the plain path: nothing handed over by the profiler, nothing read ahead
    monkeypatch.setattr(verify.TableStore, "put", lambda self, name, table: None)
    monkeypatch.setattr(verify.TableStore, "prefetch", lambda self, names: (lambda: None))
    plain, plain_trace = scan_traced(planted_lake, cache=False, semantics=semantics, min_columns=1)
    assert _edges(fast) == _edges(plain) and fast.edges
    assert fast.duplicate_groups == plain.duplicate_groups
    assert fast_trace.verified == plain_trace.verified
    assert fast_trace.sample_dropped == plain_trace.sample_dropped
    assert fast_trace.read < plain_trace.read   # the plain path read again what profiling had read
    assert content  # the module whose walk both runs took


def test_a_broken_worker_pool_falls_back_to_threads(planted_lake, monkeypatch):
    from concurrent.futures.process import BrokenProcessPool

    class Dying:   # two results, then a worker "killed"
        def __init__(self, *a, **k):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def map(self, fn, items, chunksize=1):
            items = list(items)
            yield fn(items[0])
            yield fn(items[1])
            raise BrokenProcessPool("a worker died")

    refs, _ = discover(planted_lake)
    monkeypatch.setattr(catalog_mod, "PROCESS_MIN_TABLES", 2)
    monkeypatch.setattr(catalog_mod, "ProcessPoolExecutor", Dying)
    ticks = []
    got = catalog_mod._profile_all(refs, 2, ticks.append)
    want = [profile_or_skip(r) for r in refs]
    assert got == want and sum(ticks) == len(refs)     # every table once, progress counted once


def test_no_fork_for_tables_whose_readers_hold_connections(planted_lake, monkeypatch, tmp_path):
    """A Delta or Iceberg table (deltalake's runtime, an SQLite catalog) or an object-store path keeps
    profiling in threads: forking those clients is unsafe."""
    from dataclasses import replace

    class Forked(Exception):
        pass

    class NoFork:
        def __init__(self, *a, **k):
            raise Forked("profiled in forked processes")

    refs, _ = discover(planted_lake)
    monkeypatch.setattr(catalog_mod, "PROCESS_MIN_TABLES", 2)
    monkeypatch.setattr(catalog_mod, "ProcessPoolExecutor", NoFork)
    for odd in (replace(refs[0], format="delta", path=str(tmp_path / "gone")),
                replace(refs[0], path="s3://bucket/lake/t.parquet")):
        assert len(catalog_mod._profile_all([*refs, odd], 2, lambda n: None)) == len(refs) + 1
    with pytest.raises(Forked):   # plain local files do fork
        catalog_mod._profile_all(refs, 2, lambda n: None)
