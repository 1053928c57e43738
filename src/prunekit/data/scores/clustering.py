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
            assign[start:stop], dist[start:stop] = assign_block(index, block, metric)
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


def assign_block(index, block: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(cluster int32, distance float32) of each row of a float32 block (normalised for cosine).

    faiss searches a batch below ``distance_compute_blas_threshold`` rows with its own kernels and
    a larger one with BLAS, whose last bits differ. Every row goes through the same kernel whatever
    the size of its block (a large threshold: batches below it; a small one: batches padded up to
    it), so a row's result does not depend on how the rows were split into blocks or shards."""
    import faiss

    t = int(faiss.cvar.distance_compute_blas_threshold)
    m = len(block)
    if t > 1024:
        parts = [index.search(block[s : s + t - 1], 1) for s in range(0, m, t - 1)]
        D = np.concatenate([p[0][:, 0] for p in parts]) if parts else np.zeros(0, np.float32)
        I = np.concatenate([p[1][:, 0] for p in parts]) if parts else np.zeros(0, np.int64)
    else:
        padded = np.concatenate([block, np.repeat(block[:1], t - m, axis=0)]) if 0 < m < t else block
        D, I = index.search(padded, 1)
        D, I = D[:m, 0], I[:m, 0]
    if metric == "cosine":
        return I.astype(np.int32), np.maximum(0.0, 1.0 - D).astype(np.float32)
    return I.astype(np.int32), np.sqrt(np.maximum(0.0, D)).astype(np.float32)


def clustering_params(k: int, metric: str, sample: int, niter: int, seed: int) -> dict[str, Any]:
    return {"k": k, "metric": metric, "sample": sample, "niter": int(niter), "seed": int(seed)}


def default_k(n: int, n_classes: int | None, *, prefer_classes: bool) -> int:
    """k ≈ number of classes when labels are known (prototypicality), else round(√N)."""
    if prefer_classes and n_classes:
        return max(1, min(n, n_classes))
    return max(1, min(n, int(round(np.sqrt(n)))))
