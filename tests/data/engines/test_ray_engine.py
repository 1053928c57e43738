"""The Ray engine (``score_shards(engine="ray")``, ``prunekit data score --engine ray``) writes the
local engine's artefacts exactly, on several shard layouts; resumes without redoing finished shards;
survives a killed worker; refuses bad input in one line. All on the one shared local Ray
(``ray_cluster``, 2 CPUs)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prunekit.cli import main
from prunekit.data import score, select
from prunekit.data.engines import score_shards
from prunekit.errors import InputError
from prunekit.io.shards import read_shards

pytestmark = pytest.mark.slow
GEOMETRY = ["prototypicality", "semdedup", "density"]


def _same(a, b) -> None:
    """Equal columns and metadata; only the scorers' seconds may differ."""
    ta, tb = a.to_arrow(), b.to_arrow()
    assert ta.schema.names == tb.schema.names
    for c in ta.schema.names:
        assert ta.column(c).equals(tb.column(c)), c
    ma, mb = (json.loads(t.schema.metadata[b"prunekit"]) for t in (ta, tb))
    for m in (ma, mb):
        for r in m["scorers"]:
            r.pop("seconds")
    assert ma == mb


def _npy_shards(X, folder, cuts):
    folder.mkdir()
    for i, (a, b) in enumerate(zip(cuts, cuts[1:])):
        np.save(folder / f"part-{i:02d}.npy", X[a:b])
    return folder


def _parquet_shards(X, y, folder, cuts):
    folder.mkdir()
    for i, (a, b) in enumerate(zip(cuts, cuts[1:])):
        t = pa.table({"id": [f"ex-{j}" for j in range(a, b)], "label": [f"class-{v}" for v in y[a:b]],
                      "embedding": pa.array(list(X[a:b]), type=pa.list_(pa.float32()))})
        pq.write_table(t, folder / f"part-{i}.parquet")
    return folder


@pytest.fixture(scope="module")
def dups(dup_mixture_arrays):
    X, y = dup_mixture_arrays
    return X.astype(np.float32), y


LAYOUTS = {
    # uneven .npy shards, two of one row (below faiss's batch threshold): ids are row numbers
    "npy-uneven": (lambda X, y, d: _npy_shards(X, d, [0, 1, 19, 400, 401, 1000]), GEOMETRY, {"k": 20}),
    # Parquet shards with string ids and labels; the random keep order of SemDeDup
    "parquet-ids-labels": (lambda X, y, d: _parquet_shards(X, y, d, [0, 300, 650, 1000]), GEOMETRY,
                           {"k": 16, "policy": "random", "eps": 0.1}),
    # a glob of .npy shards; no SemDeDup
    "npy-glob": (lambda X, y, d: str(_npy_shards(X, d, [0, 500, 1000]) / "part-*.npy"),
                 ["prototypicality", "density"], {"k": 12}),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_ray_equals_local(layout, dups, tmp_path, ray_cluster):
    X, y = dups
    make, methods, params = LAYOUTS[layout]
    src = str(make(X, y, tmp_path / "shards"))
    local = score(read_shards(src), methods, seed=3, **params)
    dedup = "semdedup" in methods
    local_sel = select(local, "dbp", 0.5, dedup=dedup, seed=3)
    run = score_shards(src, methods, tmp_path / "s.parquet", engine="ray", seed=3, show_progress=False,
                       selection={"out": tmp_path / "sel.parquet", "method": "dbp", "keep": 0.5, "dedup": dedup},
                       **params)
    _same(local, run.scores)
    _same(local_sel, run.selection)
    from prunekit.data import ScoreTable

    _same(local_sel, ScoreTable.read(tmp_path / "sel.parquet"))
    if dedup:
        assert (local.duplicate_of >= 0).sum() >= 30  # the planted near-duplicates were found
    # one part per shard, the shard's rows with the same columns and metadata
    parts = sorted((tmp_path / "s.parquet.parts" / "selection").glob("part-*.parquet"))
    assert len(parts) == len(run.scores.meta["source"]["shards"])
    merged = pa.concat_tables([pq.read_table(p) for p in parts])
    assert merged.equals(run.selection.to_arrow())
    assert not (tmp_path / "s.parquet.parts" / "_work").exists()


def test_resume_redoes_no_finished_shard(dups, tmp_path, ray_cluster):
    X, _ = dups
    src = _npy_shards(X, tmp_path / "shards", [0, 200, 400, 600, 800, 1000])
    out = tmp_path / "s.parquet"
    kw = dict(engine="ray", workers=1, k=20, seed=0, show_progress=False)
    with pytest.raises(InputError, match="part-02.npy: injected failure"):
        score_shards(src, GEOMETRY, out, _fault={"shard": "part-02.npy", "mode": "fail"}, **kw)
    assert not out.exists()  # no partial merged artefact
    work = tmp_path / "s.parquet.parts" / "_work"
    done = {p.name: p.stat().st_mtime_ns for p in work.glob("assign-*.npz")}
    assert sorted(done) == ["assign-00000.npz", "assign-00001.npz"]  # finished before the failure
    run = score_shards(src, GEOMETRY, out, keep_work=True, **kw)
    assert run.skipped["assign"] == ["part-00.npy", "part-01.npy"]
    assert run.computed["assign"] == ["part-02.npy", "part-03.npy", "part-04.npy"]
    assert {n: (work / n).stat().st_mtime_ns for n in done} == done  # not rewritten
    _same(score(read_shards(str(src)), GEOMETRY, k=20, seed=0), run.scores)
    again = score_shards(src, GEOMETRY, out, **kw)  # everything finished: nothing is recomputed
    assert not again.computed and len(again.skipped["assign"]) == 5
    _same(run.scores, again.scores)


def test_killed_worker_is_retried(dups, tmp_path, ray_cluster):
    X, _ = dups
    src = _npy_shards(X, tmp_path / "shards", [0, 300, 700, 1000])
    marker = tmp_path / "killed"
    run = score_shards(src, GEOMETRY, tmp_path / "s.parquet", engine="ray", k=20, show_progress=False,
                       _fault={"shard": "part-01.npy", "mode": "kill", "marker": str(marker)})
    assert marker.exists()  # the first attempt's worker process exited mid-piece
    _same(score(read_shards(str(src)), GEOMETRY, k=20), run.scores)


def _cli(capsys, *argv):
    code = main(["data", "score", *map(str, argv)])
    err = capsys.readouterr().err.strip()
    return code, err


def test_bad_shard_in_a_worker(dups, tmp_path, ray_cluster, capsys):
    X, _ = dups
    X = X.copy()
    X[450, 3] = np.nan
    src = _npy_shards(X, tmp_path / "shards", [0, 400, 1000])
    out = tmp_path / "s.parquet"
    code, err = _cli(capsys, src, "-m", "semdedup", "--k", 10, "--engine", "ray", "-o", out, "-q")
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "shard part-01.npy" in err and "NaN" in err
    assert not out.exists()
