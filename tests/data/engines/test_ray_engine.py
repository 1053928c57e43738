"""The Ray engine (``score_shards(engine="ray")``, ``prunekit data score --engine ray``) writes the
local engine's artefacts exactly, on several shard layouts; resumes without redoing finished shards;
survives a killed worker; refuses bad input in one line. All on the one shared local Ray
(``ray_cluster``, 2 CPUs; one module, so that one pytest worker starts it).

Raw inputs embedded with the user's encoder first (``--encoder``; tiny encoders from
``encoders.py``): the Ray engine (actors, one encoder each) and the local engine write equal
artefacts; embeddings are cached per shard by content + encoder, so a rerun (on either engine)
encodes nothing again; an encoder failing on one batch names the shard and rows, leaves no merged
artefact and keeps the shards finished before it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prunekit.cli import main
from prunekit.data import ScoreTable, score, select
from prunekit.data.engines import score_shards
from prunekit.data.engines.embed import build_encoder, read_embedded
from prunekit.errors import InputError
from prunekit.io.shards import read_shards

pytestmark = pytest.mark.slow
GEOMETRY = ["prototypicality", "semdedup", "density"]
ENC = str(Path(__file__).with_name("encoders.py"))
TEXT, FAILING, ARRAY = f"{ENC}:make_text", f"{ENC}:make_failing", f"{ENC}:make_array"
CRASHING = f"{ENC}:make_crashing"
WORDS = [["cat", "dog", "bird", "fish", "horse"], ["red", "green", "blue", "black", "white"],
         ["rain", "snow", "wind", "storm", "sun"]]


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
    _same(local_sel, ScoreTable.read(tmp_path / "sel.parquet"))
    if dedup:
        assert (local.duplicate_of >= 0).sum() >= 30  # the planted near-duplicates were found
    # one part per shard, the shard's rows with the same columns and metadata
    parts = sorted((tmp_path / "s.parquet.parts" / "selection").glob("part-*.parquet"))
    assert len(parts) == len(run.scores.meta["source"]["shards"])
    merged = pa.concat_tables([pq.read_table(p) for p in parts])
    assert merged.equals(run.selection.to_arrow())
    assert not (tmp_path / "s.parquet.parts" / "_work").exists()


@pytest.mark.parametrize("layout", ["npy-uneven", "parquet-ids-labels"])
def test_inprocess_engine_equals_local(layout, dups, tmp_path):
    """The same stages without Ray (``engine="inprocess"``: unit rows handed from assign to
    SemDeDup in files sorted by cluster) write the local engine's artefacts too."""
    X, y = dups
    make, methods, params = LAYOUTS[layout]
    src = str(make(X, y, tmp_path / "shards"))
    local = score(read_shards(src), methods, seed=3, **params)
    run = score_shards(src, methods, tmp_path / "s.parquet", engine="inprocess", seed=3, show_progress=False,
                       selection={"out": tmp_path / "sel.parquet", "method": "dbp", "keep": 0.5, "dedup": True},
                       **params)
    _same(local, run.scores)
    _same(select(local, "dbp", 0.5, dedup=True, seed=3), run.selection)
    assert (run.scores.duplicate_of >= 0).sum() >= 30


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


def test_killed_semdedup_worker_is_retried(dups, tmp_path, ray_cluster):
    """A worker dies inside SemDeDup, after Ray Data's shuffle grouped the rows by cluster: the
    group's task is retried and the artefact is still the local engine's."""
    X, _ = dups
    src = _npy_shards(X, tmp_path / "shards", [0, 500, 1000])
    marker = tmp_path / "killed"
    run = score_shards(src, ["semdedup"], tmp_path / "s.parquet", engine="ray", k=8, show_progress=False,
                       _fault={"cluster": 3, "marker": str(marker)})
    assert marker.read_text() == "killed"
    _same(score(read_shards(str(src)), ["semdedup"], k=8), run.scores)


def test_resume_skips_finished_cluster_ranges(dups, tmp_path, ray_cluster):
    """A rerun after every shard was assigned redoes only the SemDeDup ranges without a marker,
    reading only the shards that hold their rows."""
    X, _ = dups
    src = _npy_shards(X, tmp_path / "shards", [0, 250, 500, 750, 1000])
    out = tmp_path / "s.parquet"
    kw = dict(engine="ray", k=20, seed=0, show_progress=False, memory=4 * 32 * 160)  # ranges of <= 160 rows
    first = score_shards(src, GEOMETRY, out, keep_work=True, **kw)
    work = tmp_path / "s.parquet.parts" / "_work"
    ranges = sorted(work.glob("dedup-*.npz"))
    assert len(ranges) >= 3 and len(first.computed["dedup"]) == len(ranges)
    ranges[1].unlink()
    kept = {p.name: p.stat().st_mtime_ns for p in ranges if p.exists()}
    again = score_shards(src, GEOMETRY, out, keep_work=True, **kw)
    assert len(again.skipped["assign"]) == 4 and "assign" not in again.computed
    assert len(again.computed["dedup"]) == 1 and len(again.skipped["dedup"]) == len(ranges) - 1
    assert {n: (work / n).stat().st_mtime_ns for n in kept} == kept
    _same(first.scores, again.scores)


def test_progress_lines_in_a_log(dups, tmp_path, ray_cluster, capsys, monkeypatch):
    """Without a terminal the whole job reports progress in plain lines (forced here by a zero
    interval): every stage's share of rows, then its end."""
    monkeypatch.setenv("PRUNEKIT_PROGRESS", "1")
    monkeypatch.setenv("PRUNEKIT_PROGRESS_EVERY", "0")
    X, _ = dups
    src = _npy_shards(X, tmp_path / "shards", [0, 500, 1000])
    assert main(["data", "score", str(src), "-m", "semdedup", "--k", "8", "--engine", "ray",
                 "-o", str(tmp_path / "s.parquet")]) == 0
    err = capsys.readouterr().err
    assert "assigning 1,000 rows in 2 shards: 100 % (1,000 / 1,000)" in err
    assert "assigning 1,000 rows in 2 shards: done in " in err
    assert re.search(r"SemDeDup of 1,000 rows in 8 clusters: 100 % \(1,000 / 1,000\) · elapsed [\d:]+ · ETA 0:00:00", err)


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


# ----------------------------------------------------------------------------- --encoder


def _texts(n=240, seed=0):
    """Sentences from three vocabularies (labels) with some exact repeats (duplicates)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    texts = [" ".join(rng.choice(WORDS[c], 6)) + f" {rng.integers(1000)}" for c in y]
    for i in rng.choice(n, 20, replace=False):
        texts[i] = texts[(i + 7) % n]
    return texts, y


def _text_shards(folder, texts, y, cuts, *, poison=None):
    folder.mkdir(exist_ok=True)
    for i, (a, b) in enumerate(zip(cuts, cuts[1:])):
        t = list(texts[a:b])
        if poison == i:
            t[5] = "BOOM"
        pq.write_table(pa.table({"id": [f"doc-{j}" for j in range(a, b)], "label": [f"c{v}" for v in y[a:b]],
                                 "text": t}), folder / f"part-{i}.parquet")
    return folder


def test_encoder_on_ray_equals_local_and_is_cached(tmp_path, ray_cluster, monkeypatch):
    monkeypatch.setenv("PRUNEKIT_CACHE", str(tmp_path / "cache"))
    texts, y = _texts()
    src = _text_shards(tmp_path / "raw", texts, y, [0, 70, 160, 240])
    kw = dict(k=6, seed=1, show_progress=False, encoder=TEXT, batch_size=32)
    run = score_shards(src, GEOMETRY, tmp_path / "ray.parquet", engine="ray", **kw,
                       selection={"out": tmp_path / "sel.parquet", "method": "dbp", "keep": 0.5, "dedup": True})
    assert run.computed["embed"] == ["part-0.parquet", "part-1.parquet", "part-2.parquet"]
    assert (run.scores.duplicate_of >= 0).sum() >= 15  # the repeated texts
    meta = run.scores.meta["source"]
    assert meta["encoder"]["encoder_id"] == "trigram-projection-v1" and meta["input_column"] == "text"
    assert list(run.scores.ids[:2]) == ["doc-0", "doc-1"]
    # the local engine: the same function in this process, reading the cache the Ray actors wrote
    ex = read_embedded(str(src), TEXT, batch_size=32)
    local = score(ex, GEOMETRY, k=6, seed=1)
    _same(local, run.scores)
    _same(select(local, "dbp", 0.5, dedup=True, seed=1), ScoreTable.read(tmp_path / "sel.parquet"))
    # a rerun encodes nothing
    again = score_shards(src, GEOMETRY, tmp_path / "again.parquet", engine="ray", **kw)
    assert again.skipped["embed"] == run.computed["embed"] and not again.computed["embed"]
    _same(run.scores, again.scores)


def test_encoder_failing_on_one_batch(tmp_path, ray_cluster, monkeypatch, capsys):
    monkeypatch.setenv("PRUNEKIT_CACHE", str(tmp_path / "cache"))
    texts, y = _texts()
    cuts = [0, 80, 160, 240]
    src = _text_shards(tmp_path / "raw", texts, y, cuts, poison=2)
    out = tmp_path / "s.parquet"
    code = main(["data", "score", str(src), "-m", "prototypicality", "--k", "6", "--engine", "ray", "--workers", "1",
                 "--encoder", FAILING, "--batch-size", "32", "-o", str(out), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "shard part-2.parquet, rows 0–31 (batch 0)" in err and "cannot encode BOOM" in err
    assert not out.exists() and not Path(f"{out}.parts").exists()  # no partial artefact
    assert len(list((tmp_path / "cache").glob("shard-embeddings-*.parquet"))) == 2  # shards 0 and 1 stay
    # the local engine says the same (shards 0 and 1 come from the cache: it is shared, keyed by content)
    with pytest.raises(InputError, match="part-2.parquet, rows 0–31"):
        score_shards(_text_shards(tmp_path / "raw2", texts, y, cuts, poison=2), ["prototypicality"],
                     tmp_path / "t.parquet", engine="inprocess", k=6, encoder=FAILING, batch_size=32,
                     show_progress=False)
    # the shard fixed: only it is encoded
    _text_shards(tmp_path / "raw", texts, y, cuts)
    run = score_shards(src, ["prototypicality"], out, engine="inprocess", k=6, encoder=FAILING, batch_size=32,
                       show_progress=False)
    assert run.skipped["embed"] == ["part-0.parquet", "part-1.parquet"]
    assert run.computed["embed"] == ["part-2.parquet"]


@pytest.mark.timeout(240)
def test_encoder_crashing_its_process_ends_the_run(tmp_path, ray_cluster, monkeypatch, capsys):
    """An encoder that kills its actor's process on some input: the actor is restarted a few times,
    then the run stops with exit 2 and no merged artefact (Ray Data alone would retry forever)."""
    monkeypatch.setenv("PRUNEKIT_CACHE", str(tmp_path / "cache"))
    texts, y = _texts(60)
    src = _text_shards(tmp_path / "raw", texts, y, [0, 30, 60], poison=1)
    out = tmp_path / "s.parquet"
    code = main(["data", "score", str(src), "-m", "prototypicality", "--k", "3", "--engine", "ray", "--workers", "1",
                 "--encoder", CRASHING, "-o", str(out), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: a Ray worker died and its retries ran out"), err[-1]
    assert not out.exists() and not Path(f"{out}.parts").exists()


def test_image_arrays_local_cli(tmp_path, monkeypatch, capsys):
    """.npy shards of items (N, 4, 4) → the array encoder, through the local engine's CLI."""
    monkeypatch.setenv("PRUNEKIT_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    X = rng.integers(0, 255, size=(150, 4, 4)).astype(np.uint8)
    (tmp_path / "img").mkdir()
    np.save(tmp_path / "img" / "a.npy", X[:100])
    np.save(tmp_path / "img" / "b.npy", X[100:])
    out = tmp_path / "s.parquet"
    assert main(["data", "score", str(tmp_path / "img"), "-m", "prototypicality", "--k", "4",
                 "--encoder", ARRAY, "-o", str(out), "-q"]) == 0
    t = ScoreTable.read(out)
    assert len(t) == 150 and t.meta["source"]["shard_format"] == "npy"
    ex = read_embedded(str(tmp_path / "img"), ARRAY)
    assert np.allclose(ex.embeddings, build_encoder(ARRAY)(X))


@pytest.mark.parametrize("spec, words", [
    ("no_such_pkg.mod:make", "does not import: ModuleNotFoundError"),
    (f"{ENC}:missing", "does not import: AttributeError"),
    (f"{ENC}:not_a_factory", "is a int, not a function"),
    ("minilm", "must be 'all-MiniLM-L6-v2'"),
])
def test_encoder_that_does_not_import(spec, words, tmp_path, capsys):
    texts, y = _texts(30)
    src = _text_shards(tmp_path / "raw", texts, y, [0, 30])
    out = tmp_path / "s.parquet"
    # --engine ray: refused before Ray starts (no cluster needed)
    code = main(["data", "score", str(src), "-m", "prototypicality", "--engine", "ray", "--encoder", spec,
                 "-o", str(out), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and words in err, err
    assert not out.exists()
