"""k-means of the embeddings, shared by the geometry scorers (prototypicality, density, semdedup).

k-means runs in faiss on a sample of ``sample`` rows (all rows when N is smaller), then every row
is assigned in one streaming pass over the (possibly memory-mapped) matrix. The cluster parameters
(``CLUSTER_PARAMS``: k, metric, sample, niter) are declared here once for every scorer that
clusters.

Algorithm and parameters: docs/ALGORITHMS.md §1.6.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prunekit._progress import progress
from prunekit.errors import InputError
from prunekit.io.arrays import gather_rows, iter_blocks
from prunekit.params import Param, Spec

METRICS = ("cosine", "l2")

K = Param("k", int, low=1, default=None,
          none_means="one cluster per class for prototypicality alone with labels, else round(√N)",
          help="k-means clusters")
METRIC = Param("metric", "choice", choices=METRICS, default="cosine",
               help="k-means distance (cosine: on L2-normalised rows)")
SAMPLE = Param("sample", int, low=1, default=100_000, help="Rows k-means is fitted on (all rows are assigned)")
NITER = Param("niter", int, low=1, default=20, help="k-means iterations")
#: the parameters of the one clustering the geometry scorers of a run share
CLUSTER_PARAMS = Spec(K, METRIC, SAMPLE, NITER)
#: ``k`` where a number of clusters must be given (``fit_clusters``)
_K_GIVEN = dataclasses.replace(K, none_means=None)


@dataclass
class Clustering:
    """k-means of N examples: ``centroids`` (k, D) float32 (unit norm for cosine), ``assign`` (N,)
    int32 cluster of each row, ``distance`` (N,) float32 distance of each row to its centroid."""

    centroids: np.ndarray
    assign: np.ndarray
    distance: np.ndarray
    metric: str
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def k(self) -> int:
        return int(self.centroids.shape[0])

    def sizes(self) -> np.ndarray:
        return np.bincount(self.assign, minlength=self.k)


def check_k(k: int, n: int) -> int:
    """``k`` as an int, refused in ``K``'s wording, or when larger than the ``n`` examples."""
    k = _K_GIVEN.check(k)
    if k > n:
        raise InputError(f"k = {k} clusters is larger than the number of examples ({n})")
    return k


def fit_clusters(
    X: np.ndarray,
    k: int,
    *,
    metric: str = "cosine",
    sample: int = 100_000,
    niter: int = 20,
    seed: int = 0,
    show_progress: bool | None = None,
) -> Clustering:
    """k-means on a random sample of ``sample`` rows, then assign all N rows (streamed)."""
    t0 = time.perf_counter()
    n, d = X.shape
    cosine = metric == "cosine"
    k, idx, niter = sample_rows(n, k, metric=metric, sample=sample, niter=niter, seed=seed)
    centroids = fit_centroids(gather_rows(X, idx, normalize=cosine), k, metric=metric, niter=niter, seed=seed)
    index = centroid_index(centroids, metric)
    assign = np.empty(n, dtype=np.int32)
    dist = np.empty(n, dtype=np.float32)
    with progress(n, f"assigning {n:,} rows to {k} clusters", show_progress) as advance:
        for start, stop, block in iter_blocks(X, normalize=cosine):
            assign[start:stop], dist[start:stop] = assign_block(index, centroids, block, metric)
            advance(stop - start)
    return Clustering(centroids, assign, dist, metric, clustering_params(k, metric, len(idx), niter, seed),
                      time.perf_counter() - t0)


# The steps of ``fit_clusters``, also run one by one by the distributed engine (data/engines/):
# the same sample, the same centroids, the same per-row assignment.


def sample_rows(n: int, k: int, *, metric: str, sample: int, niter: int, seed: int) -> tuple[int, np.ndarray, int]:
    """Checked ``(k, sorted row numbers k-means is fitted on, niter)`` for N = ``n`` rows."""
    METRIC.check(metric)
    k = check_k(k, n)
    sample = SAMPLE.check(sample)
    niter = NITER.check(niter)
    rng = np.random.default_rng(seed)
    m = min(n, max(int(sample), k))
    idx = np.sort(rng.choice(n, size=m, replace=False)) if m < n else np.arange(n)
    return k, idx, niter


def fit_centroids(train: np.ndarray, k: int, *, metric: str, niter: int, seed: int) -> np.ndarray:
    """faiss k-means on the (normalised for cosine) sample rows: ``(k, D)`` float32 centroids."""
    import faiss

    km = faiss.Kmeans(
        train.shape[1], k, niter=int(niter), seed=int(seed) % (2**31), spherical=metric == "cosine",
        verbose=False,
        # We subsample ourselves; stop faiss from subsampling again or warning about sizes.
        max_points_per_centroid=1 << 30, min_points_per_centroid=1,
    )
    km.train(train)
    return np.ascontiguousarray(km.centroids, dtype=np.float32)


def centroid_index(centroids: np.ndarray, metric: str):
    import faiss

    index = faiss.IndexFlatIP(centroids.shape[1]) if metric == "cosine" else faiss.IndexFlatL2(centroids.shape[1])
    index.add(centroids)
    return index


def assign_block(index, centroids: np.ndarray, block: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(cluster int32, distance float32) of each row of a float32 block (normalised for cosine).

    faiss's search results vary in their last bits with the batch size and the thread count, so
    they only propose each row's two nearest centroids; the row's distance to both is then
    recomputed by a row-wise reduction that is the same whatever the block, shard, thread or engine,
    and the nearer one wins (ties: the smaller cluster id). A row's result thus depends on the row
    alone (unless three centroids are equally near to within float32 rounding)."""
    m, k = len(block), len(centroids)
    kk = min(2, k)
    t = max(1, int(getattr(_faiss(), "cvar").distance_compute_blas_threshold) - 1)
    cand = np.concatenate([index.search(block[s : s + t], kk)[1] for s in range(0, m, t)]) if m else \
        np.zeros((0, kk), np.int64)
    scores = np.stack([_rowwise(block, centroids[cand[:, j]], metric) for j in range(kk)], axis=1)
    pick = np.zeros(m, dtype=np.int64)
    if kk == 2:
        pick = ((scores[:, 1] > scores[:, 0]) | ((scores[:, 1] == scores[:, 0]) & (cand[:, 1] < cand[:, 0])))
        pick = pick.astype(np.int64)
    rows = np.arange(m)
    best = scores[rows, pick]
    assign = cand[rows, pick].astype(np.int32)
    if metric == "cosine":
        return assign, np.maximum(np.float32(0.0), np.float32(1.0) - best).astype(np.float32)
    return assign, np.sqrt(np.maximum(np.float32(0.0), -best)).astype(np.float32)


def _rowwise(block: np.ndarray, cents: np.ndarray, metric: str) -> np.ndarray:
    """Per row: cosine similarity (rows and centroids unit) or minus the squared L2 distance, as a
    float32 reduction over each row alone (higher = nearer)."""
    if metric == "cosine":
        return (block * cents).sum(axis=1, dtype=np.float32)
    diff = block - cents
    return -(diff * diff).sum(axis=1, dtype=np.float32)


def _faiss():
    import faiss

    return faiss


def clustering_params(k: int, metric: str, sample: int, niter: int, seed: int) -> dict[str, Any]:
    return {"k": k, "metric": metric, "sample": sample, "niter": int(niter), "seed": int(seed)}


def default_k(n: int, n_classes: int | None, *, prefer_classes: bool) -> int:
    """k ≈ number of classes when labels are known (prototypicality), else round(√N)."""
    if prefer_classes and n_classes:
        return max(1, min(n, n_classes))
    return max(1, min(n, int(round(np.sqrt(n)))))
