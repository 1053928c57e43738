"""Shard sources (io/shards.py): listing, the identity of the concatenation, and the bad input the
sharded engines refuse before any work — one line naming the shard, exit 2, nothing written.
No Ray is started here: these are caught while the shards are scanned."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prunekit.cli import main
from prunekit.io import read_examples
from prunekit.io.shards import is_shard_source, read_shards, scan_shards


def _save(folder, arrays, ext=".npy"):
    folder.mkdir(exist_ok=True)
    for i, a in enumerate(arrays):
        np.save(folder / f"part-{i}{ext}", a) if ext == ".npy" else None
    return folder


def test_shards_are_the_concatenation(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2500, 6)).astype(np.float32)
    np.save(tmp_path / "all.npy", X)
    src = _save(tmp_path / "sh", [X[:7], X[7:1800], X[1800:]])
    ss = scan_shards(src)
    whole = read_examples(tmp_path / "all.npy")
    assert [s.rows for s in ss.shards] == [7, 1793, 700] and [s.offset for s in ss.shards] == [0, 7, 1800]
    assert ss.identity == whole.identity  # the identity of the rows, however they are stored
    ex = read_shards(f"file://{src}/part-*.npy")  # an fsspec URI and a glob
    np.testing.assert_array_equal(ex.embeddings, X)
    np.testing.assert_array_equal(ex.ids, np.arange(2500))
    assert is_shard_source(str(src)) and not is_shard_source(str(tmp_path / "all.npy"))


def test_local_cli_scores_a_folder_of_shards(tmp_path, capsys):
    X = np.random.default_rng(1).normal(size=(300, 5)).astype(np.float32)
    src = _save(tmp_path / "sh", [X[:100], X[100:]])
    assert main(["data", "score", str(src), "-m", "prototypicality", "--k", "4", "-o", str(tmp_path / "s.parquet"), "-q"]) == 0


def _parquet(path, ids, X):
    pq.write_table(pa.table({"id": ids, "embedding": pa.array(list(X), type=pa.list_(pa.float32()))}), path)


def _dim(d):
    _save(d, [np.ones((10, 8), np.float32), np.ones((10, 9), np.float32)])


def _dtype(d):
    _save(d, [np.ones((10, 8), np.float32), np.ones((10, 8), np.float64)])


def _lying_extension(d):
    _save(d, [np.ones((10, 8), np.float32)])
    _parquet(d / "part-1.npy", ["a"] * 1, np.ones((1, 8), np.float32))


def _duplicate_ids(d):
    d.mkdir()
    _parquet(d / "p0.parquet", ["a", "b"], np.ones((2, 4), np.float32))
    _parquet(d / "p1.parquet", ["c", "a"], np.ones((2, 4), np.float32))


CASES = {
    "dimension": (_dim, [], ["part-1.npy", "9-wide", "part-0.npy", "8-wide"]),
    "dtype": (_dtype, [], ["part-1.npy", "float64", "float32"]),
    "extension": (_lying_extension, [], ["part-1.npy", "Parquet", "extension"]),
    "duplicate ids": (_duplicate_ids, [], ["'a'", "p0.parquet", "p1.parquet"]),
    "unreachable address": (lambda d: _save(d, [np.ones((10, 4), np.float32)]), ["--address", "127.0.0.1:1"],
                            ["cannot reach", "127.0.0.1:1"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_shards(case, tmp_path, capsys):
    setup, extra, words = CASES[case]
    src = tmp_path / "shards"
    setup(src)
    out = tmp_path / "s.parquet"
    code = main(["data", "score", str(src), "-m", "prototypicality", "--k", "2", "--engine", "ray", *extra,
                 "-o", str(out), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error:"), err
    for w in words:
        assert w in err, (w, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shards"]  # nothing written


def test_table_of_shards_finds_its_data(tmp_path, capsys):
    """A table scored from shards reads them back for explain/export (its recorded source)."""
    X = np.random.default_rng(2).normal(size=(200, 5)).astype(np.float32)
    src = _save(tmp_path / "sh", [X[:50], X[50:]])
    out, kept = tmp_path / "s.parquet", tmp_path / "kept.npy"
    assert main(["data", "score", f"{src}/part-*.npy", "-m", "prototypicality", "--k", "3", "-o", str(out), "-q"]) == 0
    assert main(["data", "select", str(out), "-s", "hardest", "--keep", "0.5", "-o", str(tmp_path / "sel.parquet")]) == 0
    assert main(["data", "export", str(tmp_path / "sel.parquet"), "-o", str(kept)]) == 0
    assert np.load(kept).shape == (100, 5)


@pytest.mark.parametrize("uri, words", [
    ("nosuch://bucket/emb/*.npy", "cannot read nosuch://bucket/emb/*.npy: Protocol not known: nosuch"),
    ("s3://bucket/emb/*.npy", "pip install 'prunekit[s3]'"),
])
def test_uri_without_a_filesystem_is_one_line(uri, words, tmp_path, capsys, monkeypatch):
    """An fsspec protocol nobody knows, or one whose package is missing (s3fs hidden here): one
    line, exit 2, nothing written."""
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "s3fs", None)  # "import s3fs" fails
    # backends fsspec imported before (another test's); the module, not fsspec's "registry" mapping
    known = importlib.import_module("fsspec.registry")._registry
    for proto in ("s3", "s3a"):
        monkeypatch.delitem(known, proto, raising=False)
    out = tmp_path / "s.parquet"
    code = main(["data", "score", uri, "-m", "prototypicality", "-o", str(out), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and words in err, err
    assert not out.exists()
