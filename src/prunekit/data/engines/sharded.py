"""The geometry pipeline over a sharded data set, distributed by Ray Data or run in this process.

``score_shards`` runs prototypicality / SemDeDup / DBP statistics on the shards of
a folder or glob and writes the same artefacts as ``score`` (+ ``select``) on the concatenated
rows, bit for bit — only the ``seconds`` of each scorer differ:

==========  ===========================================================================  ========
stage       work                                                                         where
==========  ===========================================================================  ========
embed       (``encoder``) raw inputs → cached embedding shards (``embed.py``)            actors
scan        list the shards, check headers, read ids and labels                          driver
centroids   gather the k-means sample by global row number, fit faiss k-means             driver
identity    the data's identity digest (streamed; a chained hash cannot be split), in a   driver
            thread while the workers assign and deduplicate
assign      per shard: read, normalise, nearest centroid                                  workers
dedup       per cluster: its rows from every shard, SemDeDup                             workers
merge       N-long arrays → the scorers, in a context holding the clustering and the     driver
            near-duplicates (``run_scorers``) → ``select`` → merged + per-shard Parquet
==========  ===========================================================================  ========

``engine="ray"``: assign and dedup are Ray Data datasets (``raydata.py``: ``map_batches`` over
the shards; ``groupby("cluster").map_groups`` through Ray's shuffle), whose results stream back
to the driver. ``engine="inprocess"``: the same stages as plain functions of files
(``stages.py``: the unit rows handed from assign to dedup in files sorted by cluster), one after
another in this process.

Resume: finished pieces — one per shard for ``assign``, one per range of clusters for ``dedup``
— are files under ``<out>.parts/_work`` whose names and recorded keys say what they were computed
from; a rerun skips every finished piece (the centroids are kept too). The work folder is removed
after a successful run. A worker killed mid-piece is retried; a piece's result is a pure function
of its inputs and is written atomically, so the retry's output is the same. Cost model and
measurements: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from prunekit.data.engines import raydata, stages
from prunekit.data.engines.inprocess import InProcessExecutor
from prunekit.data.pipeline import plan_scoring, run_scorers, select
from prunekit.data.scores.base import ScoringContext
from prunekit.data.scores.clustering import Clustering, clustering_params, fit_centroids, sample_rows
from prunekit.data.scores.semdedup import DEFAULT_MEMORY, cluster_groups
from prunekit.data.table import ScoreTable
from prunekit.errors import ConfigError
from prunekit.io.atomic import atomic_path
from prunekit.io.shards import ShardSet, scan_shards

ENGINES = ("ray", "inprocess")
#: scorers the sharded engines run (the others train proxy models on the whole data set, or read
#: every row themselves)
SUPPORTED = ("prototypicality", "semdedup", "density")


@dataclass
class ShardedRun:
    """What ``score_shards`` did: the tables, where they were written, seconds per stage, and which
    pieces were computed or found finished."""

    scores: ScoreTable
    selection: ScoreTable | None
    paths: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)
    computed: dict[str, list] = field(default_factory=dict)
    skipped: dict[str, list] = field(default_factory=dict)


class _Request(Exception):
    """Raised by the planning context: the clustering a scorer asks for."""


class _PlanningContext(ScoringContext):
    def clustering(self, *, k: int, metric: str, sample: int, niter: int):
        raise _Request((k, metric, sample, niter))


def _clustering_request(scorers, ss: ShardSet, seed: int, shared: dict) -> tuple | None:
    """The one (k, metric, sample, niter) the geometry scorers ask for, resolved by their own code."""
    ctx = _PlanningContext(ss, seed=seed, clustering_params=shared)  # type: ignore[arg-type]
    wanted = set()
    for s in scorers:
        if s.uses_clustering:
            try:
                s._score(ss, ctx, s.checked_params())
            except _Request as r:
                wanted.add(r.args[0])
    if len(wanted) > 1:
        raise ConfigError("the sharded engine runs one clustering: give the geometry scorers one k (--k)")
    return wanted.pop() if wanted else None


def score_shards(
    source: str | Path,
    methods: str | Sequence[str],
    out: str | Path,
    *,
    engine: str = "ray",
    address: str | None = None,
    workers: int | None = None,
    seed: int = 0,
    selection: dict[str, Any] | None = None,
    embedding_column: Any = None,
    label_column: str | None = None,
    id_column: str | None = None,
    show_progress: bool | None = None,
    encoder: str | None = None,
    input_column: str | None = None,
    batch_size: int | None = None,
    cache_dir: str | Path | None = None,
    keep_work: bool = False,
    _fault: dict | None = None,
    **params: Any,
) -> ShardedRun:
    """Score the shards of ``source`` (folder, glob or fsspec URI) and write ``out`` (merged) and
    ``<out>.parts/scores/part-NNNNN.parquet`` (one per input shard, same columns and metadata).

    ``selection``: ``{"out": path, "method": "dbp", "keep": 0.3, "dedup": True, **selector
    params}`` also selects and writes the selection the same way (``<out>.parts/selection/``).
    ``engine``: ``"ray"`` (``address`` of an existing cluster, else a local one; ``workers``:
    pieces run at once) or ``"inprocess"`` (the same pieces, one after another, in this process).

    ``encoder``: the shards hold raw inputs (``input_column``, default ``text`` or ``image``; or
    ``.npy`` arrays of items), embedded first by ``embed.embed_shards`` — on Ray in actors, one
    encoder each, ``batch_size`` rows per call — and cached in ``cache_dir``; see ``embed``."""
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    methods = [methods] if isinstance(methods, str) else list(methods)
    other = [m for m in methods if m not in SUPPORTED]
    if other:
        raise ConfigError(f"the {engine} sharded engine runs {', '.join(SUPPORTED)}; not {other[0]!r}")
    out = ScoreTable.check_output(out, [("data", source)])
    sel_out = ScoreTable.check_output(selection["out"], [("data", source), ("score table", out)]) if selection else None
    memory = params.get("memory") or DEFAULT_MEMORY
    t = {}
    parts_dir = Path(f"{out}.parts")
    work = parts_dir / "_work"
    run = ShardedRun(None, None, {"out": out, "parts": parts_dir})  # type: ignore[arg-type]
    executor = None
    try:
        if encoder is not None:
            from prunekit.data.engines import embed

            embed.encoder_identity(encoder)  # an encoder that does not import: refused before Ray starts
            executor = _executor(engine, address, workers, show_progress)
            done = embed.embed_shards(source, encoder, executor, input_column=input_column, id_column=id_column,
                                      label_column=label_column, batch_size=batch_size or embed.DEFAULT_BATCH,
                                      cache_dir=cache_dir)
            run.computed["embed"], run.skipped["embed"] = done.computed, done.skipped
            t["embed"] = done.seconds
            run.paths["embeddings"] = done.uris
        elif input_column is not None or batch_size is not None:
            raise ConfigError("input_column and batch_size apply with an encoder")
        t0 = time.perf_counter()
        ss = (embed.scan_embedded(done) if encoder is not None else
              scan_shards(source, embedding_column=embedding_column, label_column=label_column, id_column=id_column))
        scorers, shared = plan_scoring(methods, params, len(ss), ss.n_classes)
        request = _clustering_request(scorers, ss, seed, shared)
        dd = next((s for s in scorers if s.name == "semdedup"), None)
        t["scan"] = time.perf_counter() - t0
        ctx = ScoringContext(ss, seed=seed, show_progress=show_progress, clustering_params=shared)  # type: ignore[arg-type]
        if executor is None:
            executor = _executor(engine, address, workers, show_progress)  # an unreachable cluster: nothing written
        work.mkdir(parents=True, exist_ok=True)
        # the identity digest is one stream over every byte, on the driver; it needs nothing the
        # other stages compute, so it runs while the workers assign and deduplicate (after the
        # k-means fit, which needs the driver's cores)
        background: list[_Background] = []

        def start_identity() -> None:
            background.append(_Background(lambda: ss.identity))

        if request is not None:
            cl, dup = _cluster_and_dedup(ss, request, dd, seed, memory, work, executor, run, t, _fault,
                                         after_fit=start_identity)
            ctx._clusterings[(*request, ctx.seed)] = cl
            if dd is not None:
                p = dd.checked_params()
                ctx.cache[("semdedup", p["eps"], p["policy"])] = dup
        if not background:
            start_identity()
        t0 = time.perf_counter()
        background[0].result()
        t["identity_wait"] = time.perf_counter() - t0
        t["identity"] = background[0].seconds
    finally:
        if executor is not None:
            executor.close()
    t0 = time.perf_counter()
    table = run_scorers(ss, scorers, ctx)  # type: ignore[arg-type]
    run.scores = table
    if selection:  # selected before anything is written: a refused selection leaves no artefact
        sp = {k: v for k, v in selection.items() if k not in ("out", "method", "keep", "count", "dedup")}
        run.selection = select(table, selection["method"], selection.get("keep"), count=selection.get("count"),
                               dedup=bool(selection.get("dedup")), seed=seed, **sp)
    _write(table, out, parts_dir / "scores", ss)
    if run.selection is not None:
        _write(run.selection, sel_out, parts_dir / "selection", ss)
        run.paths["selection"] = sel_out
    t["merge"] = time.perf_counter() - t0
    run.seconds = {k: round(v, 3) for k, v in t.items()}
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return run


class _Background:
    """``fn()`` in a daemon thread (an interrupted run does not wait for it); ``result()`` joins it
    and raises its error, ``seconds`` is how long it ran."""

    def __init__(self, fn) -> None:
        import threading

        self.seconds, self._value, self._error = 0.0, None, None

        def run() -> None:
            t0 = time.perf_counter()
            try:
                self._value = fn()
            except BaseException as exc:  # noqa: BLE001 - re-raised by result()
                self._error = exc
            self.seconds = time.perf_counter() - t0

        self._thread = threading.Thread(target=run, name="prunekit-identity", daemon=True)
        self._thread.start()

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _cluster_and_dedup(ss, request, dd, seed, memory, work, executor, run, t, fault, after_fit=lambda: None):
    k, metric, sample, niter = request
    t0 = time.perf_counter()
    k, idx, niter = sample_rows(len(ss), k, metric=metric, sample=sample, niter=niter, seed=seed)
    cparams = clustering_params(k, metric, len(idx), niter, seed)
    ckey = stages.key_digest({"clustering": cparams, "shards": [s.key() for s in ss.shards],
                              "options": ss.options})
    cfile = work / f"centroids-{ckey}.npz"
    if stages.finished(cfile, ckey):
        with np.load(cfile) as z:
            centroids = z["centroids"]
    else:
        train = stages.gather_sample(ss.shards, idx, ss.options, normalize=metric == "cosine")
        centroids = fit_centroids(train, k, metric=metric, niter=niter, seed=seed)
        del train
        stages._save(cfile, ckey, centroids=centroids)
    t["centroids"] = time.perf_counter() - t0
    after_fit()

    t0 = time.perf_counter()
    dataflow = getattr(executor, "ray", None)  # the Ray engine: Ray Data datasets (raydata.py)
    want_rows = dd is not None and dataflow is None  # the in-process pieces hand rows over in files
    jobs, pending, afiles, rfiles = [], [], [], []
    for i, s in enumerate(ss.shards):
        digest = stages.key_digest({"centroids": ckey, "shard": s.key(),
                                    "rows": "ray-data" if dataflow is not None else want_rows})
        afile, rfile = work / f"assign-{i:05d}.npz", work / f"rows-{i:05d}.npy"
        afiles.append(afile)
        rfiles.append(rfile)
        if stages.finished(afile, digest) and (not want_rows or rfile.exists()):
            run.skipped.setdefault("assign", []).append(s.name)
            continue
        run.computed.setdefault("assign", []).append(s.name)
        pending.append((i, afile, digest))
        jobs.append((stages.assign_shard, (s, ss.options, centroids, metric),
                     {"rows_file": rfile if want_rows else None, "out": afile, "digest": digest, "fault": fault}))
    if dataflow is not None:
        raydata.assign(dataflow, ss, centroids, metric, pending, workers=executor.workers,
                       show_progress=executor.show_progress, fault=fault)
    else:
        executor.run(jobs, f"assigning {len(ss):,} rows in {len(ss.shards)} shards")
    assign, distance = stages.merge_assignments(afiles)
    t["assign"] = time.perf_counter() - t0
    cl = Clustering(centroids, assign, distance, metric, cparams)
    if dd is None:
        return cl, None
    t0 = time.perf_counter()
    p = dd.checked_params()
    sizes = np.bincount(assign, minlength=k)
    groups = cluster_groups(sizes, max(1, min(int(memory) // (4 * ss.dim), -(-len(ss) // 32))))
    parts = [(s.offset, str(a), str(r)) for s, a, r in zip(ss.shards, afiles, rfiles)]
    jobs, pending, dfiles = [], [], []
    for c0, c1 in groups:
        digest = stages.key_digest({"centroids": ckey, "shards": [s.key() for s in ss.shards], "eps": p["eps"],
                                    "policy": p["policy"], "seed": seed, "clusters": (c0, c1)})
        dfile = work / f"dedup-{c0:06d}-{c1:06d}.npz"
        dfiles.append(dfile)
        if stages.finished(dfile, digest):
            run.skipped.setdefault("dedup", []).append((c0, c1))
            continue
        run.computed.setdefault("dedup", []).append((c0, c1))
        pending.append((c0, c1, dfile, digest))
        jobs.append((stages.dedup_clusters, (c0, c1, parts),
                     {"eps": p["eps"], "policy": p["policy"], "seed": seed, "out": dfile, "digest": digest}))
    if dataflow is not None:
        raydata.dedup(dataflow, ss, assign, distance, k, pending, eps=p["eps"], policy=p["policy"], seed=seed,
                      metric=metric, workers=executor.workers, show_progress=executor.show_progress, fault=fault)
    else:
        executor.run(jobs, f"SemDeDup in {k} clusters ({len(groups)} groups)")
    dup = stages.merge_duplicates(dfiles, len(ss))
    t["dedup"] = time.perf_counter() - t0
    return cl, dup


def _write(table: ScoreTable, path: Path, parts: Path, ss: ShardSet) -> None:
    """The merged table at ``path`` and one part per input shard (rows of that shard, the same
    columns and metadata; ``duplicate_of`` holds ids, so a part stands on its own)."""
    import pyarrow.parquet as pq

    arrow = table.to_arrow()
    parts.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(ss.shards):
        with atomic_path(parts / f"part-{i:05d}.parquet") as tmp:
            pq.write_table(arrow.slice(s.offset, s.rows), tmp)
    table.write(path)


def _executor(engine: str, address: str | None, workers: int | None, show_progress: bool | None):
    if engine == "ray":
        from prunekit.data.engines.ray_engine import RayExecutor

        return RayExecutor(address=address, workers=workers, show_progress=show_progress)
    return InProcessExecutor(show_progress)
