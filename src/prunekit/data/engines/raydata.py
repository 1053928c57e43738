"""The Ray engine's dataflow (``engine="ray"``): assignment and SemDeDup as Ray Data datasets.

Two datasets, each streamed back to the driver, which writes the completion markers:

1. **assign** — ``from_items`` of the unfinished shards → ``map_batches`` (tasks, one CPU each, at
   most ``workers`` at once): read and validate the shard, normalise (cosine), nearest centroid of
   every row (``clustering.assign_block``, as the local engine). Each row comes back as (shard,
   row in the shard, cluster, distance); once a shard's rows are all back, the driver writes its marker
   ``assign-NNNNN.npz`` (the assignment itself — a few bytes per row).
2. **dedup** — ``from_items`` of the shards holding rows of unfinished clusters → ``map_batches``:
   read again, normalise, keep those rows with their global row number, cluster and distance
   (the assignment is handed to each task from the object store, not recomputed) →
   ``groupby("cluster").map_groups``: Ray Data's shuffle brings each cluster's rows together, from
   whatever shards and nodes they came; the group is put back in row order and SemDeDup runs on
   it (``semdedup.dedup_members``, the local engine's function). Once every cluster of a range
   is back, the driver writes the range's marker ``dedup-C0-C1.npz``.

The rows travel through Ray's object store, never through the driver or a shared folder: workers
need to read the shards (a local path on a one-machine cluster, or an fsspec URI they can all
reach), nothing else. The markers are on the driver, so a rerun skips every finished shard and
cluster range. A task whose worker process dies is retried by Ray (``max_retries``); its output
is a pure function of the shard, so the retry's is the same. An input error in a task stops the
run with the driver's markers kept; its message names the shard.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from prunekit.data.engines import stages
from prunekit.data.scores.clustering import assign_block, centroid_index
from prunekit.data.scores.semdedup import dedup_members, one_blas_thread
from prunekit.errors import InputError, PrunekitError
from prunekit.io.arrays import iter_blocks
from prunekit.io.shards import Shard, read_shard


@contextlib.contextmanager
def quiet_data(ray) -> Iterator[Any]:
    """Ray Data without its own progress bars, plan printouts and logged tracebacks (prunekit
    reports progress over the whole job, and errors in one line); restored after."""
    from ray.data import DataContext

    ctx = DataContext.get_current()
    want = {"enable_progress_bars": False, "print_on_execution_start": False, "log_internal_stack_trace": False,
            "raise_original_map_exception": True}  # the last: the user's error, not UserCodeException
    try:  # a sort-based shuffle for groupby: 4.6x faster than Ray's default hash shuffle here
        from ray.data.context import ShuffleStrategy  # (SemDeDup of 200,000 rows: 2.8 s vs 12.9 s)

        want["shuffle_strategy"] = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    except ImportError:
        pass
    want = {k: v for k, v in want.items() if hasattr(ctx, k)}  # settings an older Ray lacks are skipped
    saved = {k: getattr(ctx, k) for k in want}
    loggers = [logging.getLogger("ray.data")]
    levels = [lg.level for lg in loggers]
    for k, v in want.items():
        setattr(ctx, k, v)
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield ray.data
    finally:
        for k, v in saved.items():
            setattr(ctx, k, v)
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def _value(x):
    """An argument handed through the object store (``ray.put``) or directly."""
    import ray

    return ray.get(x) if isinstance(x, ray.ObjectRef) else x


# ----------------------------------------------------------------------------- the tasks' functions


def _assign_batch(batch: dict, *, shards: dict, options: dict, centroids, metric: str, fault: dict | None):
    """Dataset 1's map: for each shard index of the batch, every row's (cluster, distance)."""
    centroids = _value(centroids)
    index = centroid_index(centroids, metric)
    for i in batch["shard"]:
        s: Shard = shards[int(i)]
        assign = np.empty(s.rows, dtype=np.int32)
        dist = np.empty(s.rows, dtype=np.float32)
        try:
            stages._maybe_fault(fault, s)
            X, _, _ = stages._named(s, read_shard, s, options)
            try:
                for a, b, block in iter_blocks(X, normalize=metric == "cosine"):
                    assign[a:b], dist[a:b] = assign_block(index, centroids, block, metric)
            except InputError as exc:
                raise InputError(f"shard {s.name}: {exc}") from None
        except InputError as exc:
            # an error travels as data, behind the shards finished before it: the driver writes
            # their markers, then stops the run (a raised error would overtake them)
            yield {"shard": np.array([int(i)], dtype=np.int32), "error": np.array([str(exc)])}
            return
        yield {"shard": np.full(s.rows, int(i), dtype=np.int32), "at": np.arange(s.rows, dtype=np.int32),
               "cluster": assign, "distance": dist}


def _member_rows(batch: dict, *, shards: dict, options: dict, assignments: dict, wanted, metric: str):
    """Dataset 2's map: the unit rows of a shard that belong to the ``wanted`` clusters (bool per
    cluster), with their global row number, cluster and distance; one block at a time."""
    wanted = _value(wanted)
    for i in batch["shard"]:
        s: Shard = shards[int(i)]
        assign, dist = _value(assignments[int(i)])
        X, _, _ = stages._named(s, read_shard, s, options)
        try:
            for a, b, block in iter_blocks(X, normalize=metric == "cosine"):
                keep = np.flatnonzero(wanted[assign[a:b]])
                if len(keep):
                    yield {"row": (s.offset + a + keep).astype(np.int64), "cluster": assign[a:b][keep],
                           "distance": dist[a:b][keep], "unit": block[keep]}
        except InputError as exc:
            raise InputError(f"shard {s.name}: {exc}") from None


def _dedup_group(group: dict, *, eps: float, policy: str, seed: int, fault: dict | None = None) -> dict:
    """Dataset 2's ``map_groups``: SemDeDup of one cluster, its rows put back in row order."""
    order = np.argsort(group["row"], kind="stable")
    rows = np.asarray(group["row"])[order]
    cluster = int(group["cluster"][0])
    if fault and fault.get("cluster") == cluster and not Path(fault["marker"]).exists():
        Path(fault["marker"]).write_text("killed")  # the resilience test: the first attempt's worker dies
        os._exit(1)
    with one_blas_thread():  # the bits of the local engine's products (see one_blas_thread)
        dup, msim = dedup_members(rows, np.asarray(group["distance"])[order], np.asarray(group["unit"])[order],
                                  cluster, eps=eps, policy=policy, seed=seed)
    return {"row": rows, "cluster": np.full(len(rows), cluster, dtype=np.int32), "duplicate_of": dup,
            "semdedup": msim}


# ----------------------------------------------------------------------------- the driver


def assign(ray, ss, centroids: np.ndarray, metric: str, pending: list[tuple[int, Path, str]], *, workers: int,
           show_progress: bool | None, fault: dict | None) -> None:
    """Dataset 1 over the ``pending`` shards ``(index, marker file, key digest)``; writes each
    shard's marker as soon as all its rows are back."""
    from prunekit._progress import progress

    if not pending:
        return
    shards = {i: ss.shards[i] for i, _, _ in pending}
    files = {i: (f, d) for i, f, d in pending}
    got: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # a shard's (cluster, distance), placed by row
    count = dict.fromkeys(shards, 0)
    total = sum(s.rows for s in shards.values())
    with quiet_data(ray) as rd, progress(total, f"assigning {total:,} rows in {len(shards)} shards",
                                         show_progress) as advance:
        ds = rd.from_items([{"shard": i} for i in shards], override_num_blocks=len(shards)).map_batches(
            _assign_batch, batch_size=1, batch_format="numpy", num_cpus=1, concurrency=workers,
            fn_kwargs={"shards": shards, "options": ss.options, "centroids": ray.put(centroids), "metric": metric,
                       "fault": fault})
        for batch in _batches(ds):
            if "error" in batch:
                raise InputError(str(batch["error"][0]))
            for i in np.unique(batch["shard"]):
                sel = batch["shard"] == i
                i = int(i)
                if i not in got:
                    got[i] = (np.empty(shards[i].rows, np.int32), np.empty(shards[i].rows, np.float32))
                at = batch["at"][sel]  # Ray Data may split a shard's rows into several blocks
                got[i][0][at], got[i][1][at] = batch["cluster"][sel], batch["distance"][sel]
                count[i] += int(sel.sum())
                advance(int(sel.sum()))
                if count[i] == shards[i].rows:
                    f, digest = files[i]
                    stages._save(f, digest, assign=got[i][0], distance=got[i][1])
                    del got[i]
    _check_complete({shards[i].name: (count[i], shards[i].rows) for i in shards}, "shard")


def _check_complete(counts: dict, what: str) -> None:
    """Every row of every piece came back (else the run stops, naming the first piece short)."""
    for name, (got, want) in counts.items():
        if got != want:
            raise PrunekitError(f"Ray Data returned {got:,} of the {want:,} rows of {what} {name}; "
                                "the finished pieces are kept, run the command again")


def dedup(ray, ss, assign_all: np.ndarray, dist_all: np.ndarray, k: int, pending: list[tuple[int, int, Path, str]],
          *, eps: float, policy: str, seed: int, metric: str, workers: int, show_progress: bool | None,
          fault: dict | None = None) -> None:
    """Dataset 2 for the ``pending`` cluster ranges ``(c0, c1, marker file, key digest)``; writes
    each range's marker as soon as all its rows are back."""
    from prunekit._progress import progress

    sizes = np.bincount(assign_all, minlength=k)
    wanted = np.zeros(k, dtype=bool)
    range_of = np.full(k, -1, dtype=np.int64)
    need, got = {}, {}
    for j, (c0, c1, f, digest) in enumerate(pending):
        wanted[c0:c1] = True
        range_of[c0:c1] = j
        need[j] = int(sizes[c0:c1].sum())
        got[j] = []
        if need[j] == 0:
            _save_range(f, digest, [])
    if not wanted.any() or not need or not any(need.values()):
        return
    has = [i for i, s in enumerate(ss.shards) if wanted[assign_all[s.offset : s.offset + s.rows]].any()]
    total = sum(need.values())
    count = dict.fromkeys(need, 0)
    with quiet_data(ray) as rd, progress(total, f"SemDeDup of {total:,} rows in {int((sizes[wanted] > 0).sum())} clusters",
                                         show_progress) as advance:
        shards = {i: ss.shards[i] for i in has}
        parts = {i: ray.put((assign_all[s.offset : s.offset + s.rows], dist_all[s.offset : s.offset + s.rows]))
                 for i, s in shards.items()}
        rows = rd.from_items([{"shard": i} for i in has], override_num_blocks=len(has)).map_batches(
            _member_rows, batch_size=1, batch_format="numpy", num_cpus=1, concurrency=workers,
            fn_kwargs={"shards": shards, "options": ss.options, "assignments": parts, "wanted": ray.put(wanted),
                       "metric": metric})
        out = rows.groupby("cluster").map_groups(_dedup_group, batch_format="numpy", num_cpus=1,
                                                 concurrency=workers,
                                                 fn_kwargs={"eps": eps, "policy": policy, "seed": seed,
                                                            "fault": fault})
        for batch in _batches(out):
            for j in np.unique(range_of[batch["cluster"]]):
                sel = range_of[batch["cluster"]] == j
                j = int(j)
                got[j].append((batch["row"][sel], batch["duplicate_of"][sel], batch["semdedup"][sel]))
                count[j] += int(sel.sum())
                advance(int(sel.sum()))
                if count[j] == need[j]:
                    _, _, f, digest = pending[j]
                    _save_range(f, digest, got[j])
                    got[j] = []
    _check_complete({f"{pending[j][0]}–{pending[j][1] - 1}": (count[j], need[j]) for j in need if need[j]},
                    "cluster range")


def _save_range(f: Path, digest: str, parts: list) -> None:
    """A cluster range's marker, in the format of ``stages.dedup_clusters``."""
    cat = (lambda n, dt: np.concatenate([p[n] for p in parts]) if parts else np.zeros(0, dt))
    stages._save(f, digest, rows=cat(0, np.int64), duplicate_of=cat(1, np.int64), semdedup=cat(2, np.float32))


def _batches(ds) -> Iterator[dict]:
    """The dataset's blocks as NumPy batches; a task's error comes out as the user's error."""
    try:
        yield from ds.iter_batches(batch_size=None, batch_format="numpy")
    except Exception as exc:  # noqa: BLE001 - Ray wraps the task's error; unwrapped to one line
        raise _unwrap(exc) from None


def _unwrap(exc: BaseException) -> BaseException:
    """The user's error out of Ray's wrappers (a task error's ``cause``, Ray Data's
    ``UserCodeException`` chained over it); a worker that kept dying becomes one line."""
    seen, e = set(), exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if getattr(e, "cause", None) is not None:  # a RayTaskError, even one that subclasses the user's error
            e = e.cause
            continue
        if isinstance(e, PrunekitError):
            if e.args and isinstance(e.args[0], str) and "\nFailed to " in e.args[0]:
                e.args = (e.args[0].split("\nFailed to ")[0], *e.args[1:])  # Ray Data's retry note
            return e
        name = type(e).__name__
        if "WorkerCrashed" in name or "ActorDied" in name or "ObjectLost" in name:
            return PrunekitError(f"a Ray worker died and its retries ran out: {str(e).splitlines()[0]}")
        e = e.__cause__ or e.__context__
    return exc
