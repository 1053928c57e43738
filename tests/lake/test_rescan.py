"""Incremental re-scans: the profile cache and the scan cache (``lake/scan_cache.py``).

A re-scan of an unchanged lake reads no table; a changed, added, dropped or renamed table is read
(or only checksummed) and nothing else; every re-scan finds exactly what a cold scan finds."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prunekit.cli import main
from prunekit.lake import profile as profile_mod
from prunekit.lake import tableio
from prunekit.lake import verify as verify_mod
from prunekit.lake.scan import scan_traced
from prunekit.lake.scan_cache import ScanCache, scan_cache_dir


@pytest.fixture
def lake(tmp_path, planted_lake) -> Path:
    root = tmp_path / "lake"
    shutil.copytree(planted_lake, root, ignore=shutil.ignore_patterns(".prunekit"))
    return root


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """Every table read through ``tableio.read_table`` or ``read_with_checksum`` (by the profiler or
    the content stages)."""
    seen: list[str] = []

    def counting(real):
        def read(path, fmt=None):
            seen.append(str(path))
            return real(path, fmt)
        return read

    for name in ("read_table", "read_with_checksum"):
        spy = counting(getattr(tableio, name))
        for mod in (tableio, profile_mod, verify_mod):
            if hasattr(mod, name):
                monkeypatch.setattr(mod, name, spy)
    return seen


def _edges(result) -> list[tuple]:
    return sorted((e.parent, e.child, e.columns, e.verified, e.derived, e.duplicate) for e in result.edges)


def _cold(root: Path, **options):
    return scan_traced(root, cache=False, min_columns=1, **options)[0]


def _rescan(root: Path, **options):
    return scan_traced(root, min_columns=1, **options)


def _touch_later(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def test_unchanged_lake_reads_no_table(lake, reads):
    first, _ = _rescan(lake)
    assert first.reads["read"] == first.reads["tables"] > 0 and first.reads["reused"] == 0
    reads.clear()
    second, trace = _rescan(lake)
    assert reads == []                                   # nothing parsed, by anyone
    assert second.reads["read"] == 0 and second.reads["reused"] == second.reads["tables"]
    assert trace.read == set() and trace.cache_hits > 0
    assert _edges(second) == _edges(first)
    assert second.duplicate_groups == first.duplicate_groups
    assert [(s.stage, s.pairs_in, s.pairs_out) for s in second.stages] == \
           [(s.stage, s.pairs_in, s.pairs_out) for s in first.stages]


def test_one_changed_table_is_the_only_one_profiled(lake, reads):
    _rescan(lake)
    t = tableio.read_table(lake / "sales/sub_rows.parquet")
    pq.write_table(t.slice(0, 50), lake / "sales/sub_rows.parquet")
    _touch_later(lake / "sales/sub_rows.parquet")
    reads.clear()
    result, trace = _rescan(lake)
    assert result.reads["profiled"] == 1
    partners = {p for p, c in trace.stats if c == "sales/sub_rows"} | \
               {c for p, c in trace.stats if p == "sales/sub_rows"}
    assert trace.read <= {"sales/sub_rows"} | partners   # only pairs involving it are looked at
    assert {Path(r).name for r in reads} <= {Path(result.profiles[n].path).name
                                             for n in {"sales/sub_rows"} | partners}
    assert _edges(result) == _edges(_cold(lake))


@pytest.mark.parametrize("semantics", ["bag", "set"])
def test_added_dropped_and_renamed_tables_match_a_cold_scan(lake, reads, semantics):
    _rescan(lake, semantics=semantics)
    base = tableio.read_table(lake / "sales/base.parquet")
    pq.write_table(base.slice(0, 99), lake / "sales/added.parquet")              # added: a child
    os.remove(lake / "sales/base_copy.parquet")                                   # dropped
    (lake / "moved").mkdir()
    os.rename(lake / "big/events_sub.parquet", lake / "moved/events_sub2.parquet")  # renamed
    shutil.move(lake / "sales/base_parts", lake / "moved/parts_renamed")           # renamed folder
    reads.clear()
    result, trace = _rescan(lake, semantics=semantics)
    assert result.reads["profiled"] == 1                   # only the added table is parsed to profile
    assert result.reads["moved"] == 2                      # the renamed ones are recognised by checksum
    cold = _cold(lake, semantics=semantics)
    assert _edges(result) == _edges(cold)
    assert ("sales/base", "sales/added") in {(e.parent, e.child) for e in result.edges}
    assert ("big/events", "moved/events_sub2") in {(e.parent, e.child) for e in result.edges}
    assert not any("base_copy" in e.child or "base_copy" in e.parent for e in result.edges)
    # a third scan of the changed lake reads nothing again
    reads.clear()
    third, _ = _rescan(lake, semantics=semantics)
    assert reads == [] and _edges(third) == _edges(cold)


def test_touched_but_unchanged_table_is_not_profiled_again(lake, reads):
    _rescan(lake)
    _touch_later(lake / "sales/base.parquet")
    reads.clear()
    result, _ = _rescan(lake)
    assert reads == [] and result.reads["moved"] == 1 and result.reads["read"] == 0


def test_options_and_code_changes_never_reuse_wrong_answers(lake, reads):
    bag, _ = _rescan(lake)
    set_, _ = _rescan(lake, semantics="set")               # other semantics: verified again
    assert _edges(set_) == _edges(_cold(lake, semantics="set")) != _edges(bag)
    small, trace = _rescan(lake, sample_rows=5, seed=3)    # other sample: sampled again
    assert trace.read and _edges(small) == _edges(bag)
    # a scan cache written by other code is ignored as a whole
    index = scan_cache_dir(lake / ".prunekit/profiles.json") / "index.json"
    d = json.loads(index.read_text())
    d["code"] = "other"
    index.write_text(json.dumps(d))
    reads.clear()
    again, trace = _rescan(lake)
    assert trace.cache_hits == 0 and trace.read and _edges(again) == _edges(bag)


def test_damaged_or_unwritable_cache_only_costs_reading(lake, reads):
    first, _ = _rescan(lake)
    folder = scan_cache_dir(lake / ".prunekit/profiles.json")
    for f in folder.glob("samples-*.npy"):
        f.write_bytes(b"garbage")
    (folder / "index.json").write_text("{not json")
    result, trace = _rescan(lake)
    assert _edges(result) == _edges(first) and trace.read
    for f in folder.glob("samples-*.npy"):
        f.write_bytes(b"garbage")                           # index fine, blob damaged
    result, _ = _rescan(lake)
    assert _edges(result) == _edges(first)


def test_no_cache_writes_nothing(lake):
    scan_traced(lake, cache=False)
    assert not (lake / ".prunekit").exists()


def test_scan_cache_forgets_contents_that_left_the_lake(lake):
    _rescan(lake)
    folder = scan_cache_dir(lake / ".prunekit/profiles.json")
    before = json.loads((folder / "index.json").read_text())
    shutil.rmtree(lake / "big")
    _rescan(lake)
    after = json.loads((folder / "index.json").read_text())
    assert len(after["exact_pairs"]) < len(before["exact_pairs"])
    assert not any("events" in k for k in after["samples"])
    assert ScanCache(folder).exact_pairs == after["exact_pairs"]


def test_cli_reports_tables_read_and_reused(lake, tmp_path, capsys):
    out = tmp_path / "scan"
    assert main(["lake", "scan", str(lake), "-o", str(out), "--no-graph"]) in (0, None)
    capsys.readouterr()
    time.sleep(0.01)
    assert main(["lake", "scan", str(lake), "-o", str(out), "--no-graph"]) in (0, None)
    text = " ".join(capsys.readouterr().out.split())
    assert "tables read: 0 of" in text and "reused from the caches" in text


def test_explicit_cache_file_puts_the_scan_cache_next_to_it(lake, tmp_path, reads):
    cache = tmp_path / "c" / "profiles.json"
    scan_traced(lake, cache=cache)
    assert (tmp_path / "c" / "profiles.scan" / "index.json").exists()
    assert not (lake / ".prunekit").exists()
    reads.clear()
    result, _ = scan_traced(lake, cache=cache)
    assert reads == [] and result.reads["read"] == 0


def test_new_child_of_a_cached_parent_reads_only_the_child(lake, reads):
    """The parent's projection hashes come from the cache: a child the sample rejects needs no
    parent read."""
    _rescan(lake)
    pq.write_table(pa.table({"k": pa.array([5, 3], pa.int64()), "g": ["g1", "g2"],
                             "v": [50.0, 2.0]}), lake / "big/stranger.parquet")   # inside every bound
    reads.clear()
    result, trace = _rescan(lake)
    assert ("big/events", "big/stranger") in trace.sample_dropped
    names = [Path(r).name for r in reads]
    assert names.count("stranger.parquet") == 1        # read once, to be profiled, then reused
    assert "events.parquet" not in names and "big/events" not in trace.read
    assert _edges(result) == _edges(_cold(lake))


def test_parent_prefilter_gives_the_missing_counts_of_whole_parents(planted_lake, monkeypatch):
    """Big parents are hashed only on the rows whose most selective column can match a sampled
    row; the sample stage must drop exactly the pairs (with exactly the counts) it drops when
    every row is hashed."""
    from prunekit.lake import content as scan_mod

    whole = scan_traced(planted_lake, cache=False, min_columns=1)
    monkeypatch.setattr(scan_mod, "PREFILTER_ROWS", 0)
    monkeypatch.setattr(scan_mod, "PREFILTER_RATIO", 0)
    used = []
    real = scan_mod._parent_hashes

    def spy(*a):
        h = real(*a)
        used.append(h is not None)
        return h

    monkeypatch.setattr(scan_mod, "_parent_hashes", spy)
    filtered = scan_traced(planted_lake, cache=False, min_columns=1)
    assert sum(used) >= 5
    assert filtered[1].sample_dropped == whole[1].sample_dropped
    assert filtered[1].sample == whole[1].sample
    assert _edges(filtered[0]) == _edges(whole[0])


def test_one_by_one_verifier_uses_the_cache_too(lake):
    """An engine without ``contains_many`` is asked pair by pair; cached answers spare it."""
    from prunekit.lake.backends import get_verifier

    class OneByOne:
        name = "one-by-one"

        def __init__(self):
            self.inner, self.asked = get_verifier("duckdb"), 0

        def open_parent(self, parent):
            self.inner.open_parent(parent)

        def contains(self, child, semantics):
            self.asked += 1
            return self.inner.contains(child, semantics)

        def close_parent(self):
            self.inner.close_parent()

        def close(self):
            self.inner.close()

    def pairs(result):      # one by one, more pairs turn out implied (derived) than in a batch
        return {(e.parent, e.child) for e in result.edges}

    v = OneByOne()
    first, _ = scan_traced(lake, min_columns=1, verifier=v)
    assert v.asked > 0 and pairs(first) == pairs(_cold(lake))
    v.asked = 0
    second, _ = scan_traced(lake, min_columns=1, verifier=v)
    assert v.asked == 0 and _edges(second) == _edges(first)
    v.close()
