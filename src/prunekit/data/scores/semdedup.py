"""SemDeDup: semantic near-duplicates within k-means clusters (Abbas et al., 2023).

Inside each cluster, members are ordered by the keep policy (``hard``: farthest from the centroid
first; ``easy``: nearest first; ``random``). Member j is removed when its cosine similarity to an
*earlier member that is kept* exceeds ``1 - eps``; it then records that kept member as the example
it duplicates. (The public code removes j when any earlier member is close, even a removed one;
this project's rule guarantees every removal points at a kept example.)

Output per example: ``duplicate_of`` (row of the kept example, -1 if kept) and the score column
``semdedup`` = max cosine similarity to any earlier member of its cluster in keep order
(the public statistic M_j; -1 for a cluster's first member). It is a **redundancy**, not a
difficulty: higher = more redundant.

The cluster similarity matrix is computed in row blocks against earlier members only, so memory
stays at ``block × cluster size`` and roughly half of the products are skipped.

Algorithm and parameters: docs/ALGORITHMS.md §1.9.
"""

from __future__ import annotations

import functools
import os
import tempfile
from typing import Any

import numpy as np

from prunekit._progress import progress
from prunekit.data.scores.base import ScoreResult, Scorer, ScoringContext, register
from prunekit.data.scores.clustering import CLUSTER_PARAMS
from prunekit.data.scores.geometry import context_clustering
from prunekit.errors import ConfigError
from prunekit.io.arrays import as_float32_block, iter_raw_blocks, normalize_rows
from prunekit.io.examples import ExampleSet
from prunekit.params import Param, Spec

POLICIES = ("hard", "easy", "random")
DEFAULT_MEMORY = 1 << 30
#: from this many groups on, a memory-mapped matrix is spilled once in cluster order (``semdedup``)
SPILL_GROUPS = 3

EPS = Param("eps", float, low=0.0, high=1.0, high_open=True, default=0.05,
            help="semdedup: remove an example when its cosine similarity to a kept one exceeds 1 - eps")
POLICY = Param("policy", "choice", choices=POLICIES, default="hard",
               help="semdedup: which near-duplicate is kept (hard: farthest from the centroid; easy: nearest)")
MEMORY = Param("memory", int, low=1, default=DEFAULT_MEMORY,
               help="semdedup: bytes of rows held in memory at once")


def keep_order(rows: np.ndarray, distance: np.ndarray, policy: str, rng: np.random.Generator) -> np.ndarray:
    """Positions of a cluster's members (``rows`` ascending, ``distance`` theirs) in keep order
    under the policy; ties by row. ``rng`` is the cluster's own (``cluster_rng``)."""
    if policy == "hard":
        return np.lexsort((rows, -distance))
    if policy == "easy":
        return np.lexsort((rows, distance))
    return rng.permutation(len(rows))


@functools.lru_cache(maxsize=1)
def _blas():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def blas_threads() -> int:
    """The threads the BLAS behind NumPy's products would use now (``$OMP_NUM_THREADS`` etc.)."""
    info = _blas().select(user_api="blas").info()
    return max([1] + [int(i.get("num_threads") or 1) for i in info])


def one_blas_thread():
    """A context in which NumPy's products run on one BLAS thread. SemDeDup's similarities are the
    same bits on every engine only at a fixed BLAS thread count: OpenBLAS rounds some products
    differently on 1 and on 2 threads (on 784-d rows, 3 of 4,000 similarities differed in their
    last bit). So every engine computes them on one thread; the local engine runs clusters in
    parallel instead. Process-wide: hold it around a whole stage, not per cluster from threads."""
    return _blas().limit(limits=1, user_api="blas")


def cluster_rng(seed: int, cluster: int) -> np.random.Generator:
    """The random keep order of one cluster depends on the seed and the cluster only, so clusters
    can be deduplicated in any order, on any worker."""
    return np.random.default_rng([int(seed), int(cluster)])


def dedup_members(rows: np.ndarray, distance: np.ndarray, E: np.ndarray, cluster: int, *, eps: float,
                  policy: str, seed: int, block: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """SemDeDup of one cluster: its members' rows (ascending), their centroid distances and unit
    float32 embeddings (same order). Returns, per member, ``(row it duplicates or -1, max
    similarity to earlier members)`` — the one computation both engines run for every cluster,
    inside ``one_blas_thread()``."""
    dup_of = np.full(len(rows), -1, dtype=np.int64)
    msim = np.full(len(rows), -1.0, dtype=np.float32)
    if len(rows) < 2:
        return dup_of, msim
    perm = keep_order(rows, distance, policy, cluster_rng(seed, cluster))
    dup, ms = _dedup_cluster(np.ascontiguousarray(E[perm]), 1.0 - eps, block, _tri(block))
    removed = dup >= 0
    dup_of[perm[removed]] = rows[perm[dup[removed]]]
    msim[perm] = ms
    return dup_of, msim


@functools.lru_cache(maxsize=4)
def _tri(block: int) -> np.ndarray:
    return np.triu(np.ones((block, block), dtype=bool))


def _dedup_cluster(E: np.ndarray, thr: float, block: int, tri: np.ndarray):
    """Greedy near-duplicate removal on one cluster's unit rows ``E`` (in keep order).

    Returns (local index of the kept duplicate or -1, max similarity to earlier members)."""
    m = E.shape[0]
    kept = np.ones(m, dtype=bool)
    dup = np.full(m, -1, dtype=np.int64)
    msim = np.full(m, -1.0, dtype=np.float32)
    for b in range(0, m, block):
        e = min(m, b + block)
        S = E[b:e] @ E[:e].T  # (e-b, e): similarities to every member up to this block's end
        S[:, b:e][tri[: e - b, : e - b]] = -np.inf  # only earlier members count
        M = S.max(axis=1)
        msim[b:e] = np.maximum(M, -1.0)
        for r in np.flatnonzero(M > thr):
            j = b + r
            cols = np.flatnonzero(S[r, :j] > thr)
            cols = cols[kept[cols]]
            if len(cols):
                kept[j] = False
                dup[j] = cols[np.argmax(S[r, cols])]
    return dup, msim


def semdedup(
    X: np.ndarray,
    assign: np.ndarray,
    distance: np.ndarray,
    k: int,
    *,
    eps: float = 0.05,
    policy: str = "hard",
    seed: int = 0,
    block: int = 256,
    memory: int = DEFAULT_MEMORY,
    show_progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Blocked SemDeDup over clusters. Returns ``(duplicate_of (N,) int64, semdedup (N,) float32)``.

    Clusters are processed in groups whose rows fit in ``memory`` bytes; each group's rows are
    collected, normalised, in one sequential pass over ``X`` (a file larger than RAM is read
    sequentially, never row by row); each cluster is then gathered from memory in keep order.
    With ``SPILL_GROUPS`` groups or more, a memory-mapped ``X`` is instead written once in cluster
    order to a temporary file (as large as the float32 matrix, in the system's temporary folder)
    and each group is read from it as one slice, so the file is read once, not once per group.
    The result is the same either way."""
    eps = EPS.check(eps)
    POLICY.check(policy)
    MEMORY.check(memory)
    n, d = X.shape
    sizes = np.bincount(assign, minlength=k)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    by_cluster = np.argsort(assign, kind="stable")  # clusters one after another, rows ascending
    # groups of consecutive clusters holding at most `memory` bytes of rows (a lone big cluster
    # forms its own group)
    groups = cluster_groups(sizes, max(1, int(memory) // (4 * d)))
    dup_of = np.full(n, -1, dtype=np.int64)
    msim = np.full(n, -1.0, dtype=np.float32)
    spans = [(int(bounds[c0]), int(bounds[c1])) for c0, c1 in groups]
    # Several groups: a pass over the file per group would read it len(groups) times (quadratic in
    # N at a fixed memory budget); spill the rows once in cluster order instead, then each group is
    # one contiguous read (None: in memory, or the spill could not be written).
    spill = _spill_by_cluster(X, assign, k, bounds) if len(groups) >= SPILL_GROUPS else None
    buf = None
    pool = _ClusterPool(blas_threads())
    try:
        with pool, one_blas_thread(), progress(n, f"SemDeDup in {k} clusters", show_progress) as advance:
            for c0, c1 in groups:
                a, b = int(bounds[c0]), int(bounds[c1])
                if b - a == 0:
                    continue
                if not (sizes[c0:c1] > 1).any():
                    advance(b - a)
                    continue
                if buf is None:
                    buf = np.empty((max(b1 - a1 for a1, b1 in spans), d), dtype=np.float32)
                if spill is not None:  # the group's rows in cluster order, rows ascending in each
                    G, at = _read_spilled(spill, a, b, buf, by_cluster[a:b]), None
                else:
                    group_rows = np.sort(by_cluster[a:b])
                    G, at = _collect(X, group_rows, buf), group_rows
                def one(c: int, G=G, a=a, at=at) -> None:
                    lo, hi = int(bounds[c]), int(bounds[c + 1])
                    rows = by_cluster[lo:hi]
                    E = G[lo - a : hi - a] if at is None else G[np.searchsorted(at, rows)]  # rows ascending
                    dup_of[rows], msim[rows] = dedup_members(rows, distance[rows], E, c, eps=eps,
                                                             policy=policy, seed=seed, block=block)

                todo = sorted((c for c in range(c0, c1) if sizes[c] > 1), key=lambda c: -int(sizes[c]))
                pool.run(one, todo)  # each cluster writes its own rows: no lock
                advance(b - a)
    finally:
        if spill is not None:
            spill.close()
    return dup_of, msim


class _ClusterPool:
    """Clusters of one group in ``threads`` threads (NumPy's products release the GIL), largest
    first; one thread runs them in order in the caller's."""

    def __init__(self, threads: int) -> None:
        self.threads, self._ex = max(1, threads), None

    def __enter__(self) -> "_ClusterPool":
        if self.threads > 1:
            from concurrent.futures import ThreadPoolExecutor

            self._ex = ThreadPoolExecutor(self.threads, thread_name_prefix="prunekit-semdedup")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._ex is not None:
            self._ex.shutdown(wait=True, cancel_futures=True)

    def run(self, fn, clusters: list[int]) -> None:
        if self._ex is None:
            for c in clusters:
                fn(c)
            return
        for f in [self._ex.submit(fn, c) for c in clusters]:
            f.result()  # an error in a cluster is raised here


def cluster_groups(sizes: np.ndarray, rows_per_group: int) -> list[tuple[int, int]]:
    """Consecutive cluster ranges ``(c0, c1)`` of at most ``rows_per_group`` rows (a big cluster
    forms its own)."""
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    groups, start, k = [], 0, len(sizes)
    while start < k:
        stop = start + 1
        while stop < k and bounds[stop + 1] - bounds[start] <= rows_per_group:
            stop += 1
        groups.append((start, stop))
        start = stop
    return groups


def _spill_by_cluster(X: np.ndarray, assign: np.ndarray, k: int, bounds: np.ndarray):
    """An unnamed temporary file holding the validated float32 rows of a memory-mapped ``X`` in
    cluster order (rows ascending within a cluster: the order of a stable argsort of ``assign``),
    written in one sequential pass over ``X``; ``None`` for an in-memory ``X`` or when the file
    cannot be written (no space: SemDeDup then makes one pass over ``X`` per group)."""
    if not isinstance(X, np.memmap):
        return None
    fill = bounds[:-1].astype(np.int64)  # next free row of each cluster in the file
    fh = None
    try:
        fh = tempfile.TemporaryFile(prefix="prunekit-semdedup-")
        row_bytes = 4 * X.shape[1]
        for start, stop, raw in iter_raw_blocks(X):
            a = assign[start:stop]
            order = np.argsort(a, kind="stable")
            block = as_float32_block(raw, start, copy=False)[order]  # by cluster, rows ascending
            counts = np.bincount(a, minlength=k)
            present = np.flatnonzero(counts)
            ends = np.cumsum(counts[present])
            mv = memoryview(block).cast("B")
            for c, e, m in zip(present.tolist(), ends.tolist(), counts[present].tolist()):
                _pwrite_all(fh.fileno(), mv[(e - m) * row_bytes : e * row_bytes], int(fill[c]) * row_bytes)
            fill += counts
        return fh
    except BaseException as exc:
        if fh is not None:
            fh.close()
        if isinstance(exc, OSError):
            return None
        raise


def _pwrite_all(fd: int, data: memoryview, pos: int) -> None:
    done = 0
    while done < len(data):
        done += os.pwrite(fd, data[done:], pos + done)


def _read_spilled(fh, a: int, b: int, buf: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Unit-norm rows ``a … b - 1`` of the spill file (the rows ``rows`` of ``X``) into ``buf``."""
    out = buf[: b - a]
    mv = memoryview(out).cast("B")
    row_bytes = 4 * buf.shape[1]
    got, want = 0, (b - a) * row_bytes
    while got < want:
        r = os.preadv(fh.fileno(), [mv[got:want]], a * row_bytes + got)
        if r == 0:
            raise OSError("the SemDeDup spill file is shorter than written")
        got += r
    normalize_rows(out, idx=rows)
    return out


def _collect(X: np.ndarray, rows: np.ndarray, buf: np.ndarray) -> np.ndarray:
    """Unit-norm float32 copies of ``rows`` (sorted ascending), in that order, read in one
    sequential pass over ``X`` and appended — never scattered — into ``buf`` (reused across
    groups: touching fresh memory is what costs most here)."""
    out = buf[: len(rows)]
    w = 0
    for start, stop, raw in iter_raw_blocks(X):
        lo, hi = np.searchsorted(rows, [start, stop])
        if hi > lo:
            sel = rows[lo:hi] - start
            dst = out[w : w + hi - lo]
            if raw.dtype == np.float32:
                np.take(raw, sel, axis=0, out=dst, mode="clip")  # mode="raise" would buffer
            else:
                dst[...] = raw[sel]
            as_float32_block(dst, idx=rows[lo:hi], copy=False)  # NaN/inf check, no copy
            w += hi - lo
    normalize_rows(out, idx=rows)
    return out


def semdedup_reference(
    X: np.ndarray, assign: np.ndarray, distance: np.ndarray, k: int, *, eps: float = 0.05,
    policy: str = "hard", seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Slow, obvious implementation (full cosine matrix per cluster, a Python loop over pairs),
    kept for tests and benchmarks: the fast path must agree with it."""
    n = X.shape[0]
    thr = 1.0 - eps
    dup_of = np.full(n, -1, dtype=np.int64)
    msim = np.full(n, -1.0, dtype=np.float32)
    Xf = np.asarray(X, dtype=np.float64)
    Xf = Xf / np.linalg.norm(Xf, axis=1, keepdims=True)
    order = np.argsort(assign, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(assign, minlength=k))])
    for c in range(k):
        members = order[bounds[c] : bounds[c + 1]]
        if len(members) < 2:
            continue
        rows = members[keep_order(members, distance[members], policy, cluster_rng(seed, c))]
        S = Xf[rows] @ Xf[rows].T
        kept: list[int] = []
        for j in range(len(rows)):
            if j:
                msim[rows[j]] = S[j, :j].max()
            best, best_sim = -1, thr
            for i in kept:
                if S[j, i] > best_sim:
                    best, best_sim = i, S[j, i]
            if best >= 0:
                dup_of[rows[j]] = rows[best]
            else:
                kept.append(j)
    return dup_of, msim


@register
class SemDeDupScorer(Scorer):
    name = "semdedup"
    summary = "near-duplicates within k-means clusters (redundancy + duplicate_of)"
    spec = Spec(CLUSTER_PARAMS, EPS, POLICY, MEMORY)
    columns = {"semdedup": "redundancy"}
    uses_clustering = True

    def _score(self, examples: ExampleSet, ctx: ScoringContext, p: dict[str, Any]) -> ScoreResult:
        eps, policy = p["eps"], p["policy"]
        if p["metric"] != "cosine" or ctx.clustering_params.get("metric", "cosine") != "cosine":
            raise ConfigError("semdedup works on cosine similarity: use metric='cosine'")
        cl = context_clustering(self, examples, ctx, p)
        done = ctx.cache.get(("semdedup", eps, policy))  # computed by a distributed engine
        dup, ms = done if done is not None else semdedup(
            examples.embeddings, cl.assign, cl.distance, cl.k, eps=eps, policy=policy,
            seed=ctx.seed, memory=p["memory"], show_progress=ctx.show_progress,
        )
        return ScoreResult(
            {"semdedup": ms.astype(np.float64)}, dict(self.columns), cluster=cl.assign,
            duplicate_of=dup,
            info={"clustering": cl.params, "eps": eps, "policy": policy,
                  "n_duplicates": int((dup >= 0).sum())},
        )
