"""The pieces of work of the distributed geometry pipeline, as plain functions of files.

Each runs anywhere (a Ray worker, or this process) and writes its result atomically under the
run's work folder; the result file is the piece's completion marker and records the key of what
it was computed from, so a rerun skips every piece whose key still matches. Every computation is
the local engine's own function (``clustering.assign_block``, ``semdedup.dedup_members``):

1. ``assign_shard`` — one shard: read, validate, normalise (cosine), assign each row to its
   nearest centroid; write the cluster and distance of every row and, when SemDeDup runs, the unit
   rows sorted by (cluster, row) so that a cluster's rows are one contiguous slice per shard.
2. ``dedup_clusters`` — a range of clusters: gather each cluster's rows from the slices of every
   shard (shard order = row order), run SemDeDup on it, write each member's duplicate and
   similarity.
3. ``merge_assignments`` / ``merge_duplicates`` — the driver's N-long arrays from those files.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from prunekit.data.scores.clustering import assign_block, centroid_index
from prunekit.data.scores.semdedup import dedup_members, one_blas_thread
from prunekit.errors import InputError
from prunekit.io.arrays import gather_rows, iter_blocks
from prunekit.io.atomic import atomic_path
from prunekit.io.shards import Shard, read_shard


def key_digest(key: Any) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:24]


def finished(path: Path, digest: str) -> bool:
    """Whether ``path`` is a completed piece computed from the key ``digest``."""
    if not path.exists():
        return False
    try:
        with np.load(path) as z:
            return str(z["key"]) == digest
    except (OSError, ValueError, KeyError):
        return False


def _save(path: Path, digest: str, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, key=np.array(digest), **arrays)


def gather_sample(shards: list[Shard], idx: np.ndarray, options: dict[str, Any], *, normalize: bool) -> np.ndarray:
    """Rows ``idx`` (global, ascending) of the sharded data as validated float32 (the k-means
    sample), read shard by shard: the rows ``gather_rows`` would read from the whole matrix."""
    parts = []
    for s in shards:
        lo, hi = np.searchsorted(idx, [s.offset, s.offset + s.rows])
        if hi > lo:
            X, _, _ = read_shard(s, options)
            parts.append(_named(s, gather_rows, X, idx[lo:hi] - s.offset, normalize=normalize))
    return np.concatenate(parts)


def _named(shard: Shard, fn, *args, **kwargs):
    """Call ``fn``; an input error names the shard."""
    try:
        return fn(*args, **kwargs)
    except InputError as exc:
        raise InputError(f"shard {shard.name}: {exc}") from None


def assign_shard(shard: Shard, options: dict[str, Any], centroids: np.ndarray, metric: str, *,
                 rows_file: Path | None, out: Path, digest: str, fault: dict | None = None) -> dict[str, Any]:
    """Stage 1 on one shard (see the module docstring). Returns its cluster sizes."""
    _maybe_fault(fault, shard)
    X, _, _ = _named(shard, read_shard, shard, options)
    n, k = shard.rows, len(centroids)
    index = centroid_index(centroids, metric)
    assign = np.empty(n, dtype=np.int32)
    dist = np.empty(n, dtype=np.float32)
    unit = np.empty((n, shard.dim), dtype=np.float32) if rows_file is not None else None
    try:
        for start, stop, block in iter_blocks(X, normalize=metric == "cosine"):
            assign[start:stop], dist[start:stop] = assign_block(index, centroids, block, metric)
            if unit is not None:
                unit[start:stop] = block
    except InputError as exc:
        raise InputError(f"shard {shard.name}: {exc}") from None
    order = np.argsort(assign, kind="stable")  # by cluster, rows ascending within one
    offsets = np.concatenate([[0], np.cumsum(np.bincount(assign, minlength=k))]).astype(np.int64)
    if unit is not None:
        with atomic_path(rows_file) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, unit[order])
    _save(out, digest, assign=assign, distance=dist, order=order, offsets=offsets)
    return {"shard": shard.name, "rows": n}


def dedup_clusters(c0: int, c1: int, parts: list[tuple[int, str, str]], *, eps: float, policy: str, seed: int,
                   out: Path, digest: str) -> dict[str, Any]:
    """Stage 2 on clusters ``c0 … c1 - 1``; ``parts`` are (row offset, assignment file, rows file)
    of every shard in order."""
    pieces = []
    for offset, afile, rfile in parts:
        with np.load(afile) as z:
            off, order, dist = z["offsets"], z["order"], z["distance"]
        lo, hi = int(off[c0]), int(off[c1])
        if hi == lo:
            continue
        E = np.load(rfile, mmap_mode="r")
        pieces.append((offset + order[lo:hi], dist[order[lo:hi]], np.array(E[lo:hi]), off[c0 : c1 + 1] - lo))
        del E
    rows_out, dup_out, sim_out = [], [], []
    for j, c in enumerate(range(c0, c1)):
        segs = [(r[o[j] : o[j + 1]], d[o[j] : o[j + 1]], e[o[j] : o[j + 1]]) for r, d, e, o in pieces]
        rows = np.concatenate([s[0] for s in segs]) if segs else np.zeros(0, np.int64)
        if len(rows) < 2:
            continue
        dist = np.concatenate([s[1] for s in segs])
        E = np.concatenate([s[2] for s in segs])
        with one_blas_thread():  # the bits of the local engine's products (see one_blas_thread)
            dup, ms = dedup_members(rows, dist, E, c, eps=eps, policy=policy, seed=seed)
        rows_out.append(rows)
        dup_out.append(dup)
        sim_out.append(ms)
    cat = (lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dt))
    _save(out, digest, rows=cat(rows_out, np.int64), duplicate_of=cat(dup_out, np.int64),
          semdedup=cat(sim_out, np.float32))
    return {"clusters": (c0, c1)}


def merge_assignments(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    assign, dist = [], []
    for f in files:
        with np.load(f) as z:
            assign.append(z["assign"])
            dist.append(z["distance"])
    return np.concatenate(assign), np.concatenate(dist)


def merge_duplicates(files: list[Path], n: int) -> tuple[np.ndarray, np.ndarray]:
    dup_of = np.full(n, -1, dtype=np.int64)
    msim = np.full(n, -1.0, dtype=np.float32)
    for f in files:
        with np.load(f) as z:
            dup_of[z["rows"]] = z["duplicate_of"]
            msim[z["rows"]] = z["semdedup"]
    return dup_of, msim


def _maybe_fault(fault: dict | None, shard: Shard) -> None:
    """Fault injection for the resilience tests: on the shard named ``fault["shard"]``, the first
    attempt (no ``fault["marker"]`` file yet) kills its worker process (``"kill"``) or fails
    (``"fail"``, every attempt)."""
    if not fault or fault.get("shard") != shard.name:
        return
    if fault.get("mode") == "fail":
        raise InputError(f"shard {shard.name}: injected failure")
    marker = Path(fault["marker"])
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        os._exit(1)
