"""Shards behind ``s3://`` URIs (fsspec's S3 filesystem, ``prunekit[s3]``) against a local moto S3
server: the same rows, ids and labels as the local copy; the CLI keeps the URI whole (a ``Path``
would make ``s3:/bucket``); the Ray engine's workers read the shards from the store and write the
local engine's artefact."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("moto.server")
pytest.importorskip("s3fs")

from moto_s3 import moto_s3  # noqa: E402
from prunekit.cli import main  # noqa: E402
from prunekit.data import ScoreTable, score  # noqa: E402
from prunekit.io.shards import read_shards  # noqa: E402

BUCKET = "emb-bucket"


@pytest.fixture(scope="module")
def s3_shards(tmp_path_factory, dup_mixture_arrays):
    """Three Parquet shards (ids, labels, embeddings) in a moto bucket and in a local folder."""
    import s3fs

    X, y = dup_mixture_arrays
    X = X.astype(np.float32)[:600]
    local = tmp_path_factory.mktemp("shards")
    with moto_s3() as env:
        fs = s3fs.S3FileSystem(anon=False, skip_instance_cache=True)
        fs.mkdir(BUCKET)
        for i, (a, b) in enumerate([(0, 200), (200, 450), (450, 600)]):
            t = pa.table({"id": [f"ex-{j}" for j in range(a, b)], "label": [f"c{v}" for v in y[a:b]],
                          "embedding": pa.array(list(X[a:b]), type=pa.list_(pa.float32()))})
            pq.write_table(t, local / f"part-{i}.parquet")
            fs.put(str(local / f"part-{i}.parquet"), f"{BUCKET}/emb/part-{i}.parquet")
        yield env, local


def test_s3_shards_read_as_the_local_copy(s3_shards):
    _, local = s3_shards
    remote = read_shards(f"s3://{BUCKET}/emb/*.parquet")
    here = read_shards(str(local))
    assert np.array_equal(remote.embeddings, here.embeddings)
    assert list(remote.ids) == list(here.ids) and np.array_equal(remote.labels, here.labels)
    assert remote.source["shards"][0] == f"s3://{BUCKET}/emb/part-0.parquet"


def test_cli_keeps_the_uri(s3_shards, tmp_path, capsys):
    _, local = s3_shards
    out = tmp_path / "s.parquet"
    assert main(["data", "score", f"s3://{BUCKET}/emb/*.parquet", "-m", "prototypicality", "--k", "6",
                 "-o", str(out), "-q"]) == 0
    expected = score(read_shards(str(local)), ["prototypicality"], k=6)
    assert np.array_equal(ScoreTable.read(out).scores["prototypicality"], expected.scores["prototypicality"])


@pytest.mark.slow
def test_ray_workers_read_the_store(s3_shards, tmp_path):
    """``--engine ray`` in its own process (a local Ray started by the command, whose workers
    inherit the store's environment): the same scores as the local engine on the local copy."""
    env, local = s3_shards
    out = tmp_path / "ray.parquet"
    exe = Path(sys.executable).with_name("prunekit")
    run = subprocess.run([str(exe), "data", "score", f"s3://{BUCKET}/emb",
                          "-m", "prototypicality", "-m", "semdedup", "--k", "6", "--engine", "ray", "--workers", "2",
                          "-o", str(out), "-q"], env={**os.environ, **env}, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    got = ScoreTable.read(out)
    expected = score(read_shards(str(local)), ["prototypicality", "semdedup"], k=6)
    for col in ("prototypicality", "semdedup"):
        assert np.array_equal(got.scores[col], expected.scores[col]), col
    assert list(got.duplicate_of) == list(expected.duplicate_of)
    assert got.meta["source"]["shards"][0] == f"s3://{BUCKET}/emb/part-0.parquet"
