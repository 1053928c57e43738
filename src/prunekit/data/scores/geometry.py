"""Embedding-geometry scores: k-means clustering shared by prototypicality (SSP), cluster
statistics for density-based pruning (DBP) and SemDeDup.

Directions (this project's convention, ALGORITHMS.md Part 1):

- ``prototypicality``: **difficulty** = distance to the nearest k-means centroid (``1 - cos`` for
  ``metric="cosine"`` on L2-normalised embeddings, Euclidean for ``metric="l2"``). Typical = easy.
- ``density`` (DBP cluster statistics), per example, the statistics of its cluster:
  ``cluster_d_intra`` (mean member distance to the centroid), ``cluster_d_inter`` (mean of
  ``1 - cos`` to the ``n_neighbors`` nearest other centroids), ``cluster_complexity``
  (= d_intra · d_inter; clusters of 1–2 members get the mean over the others), and
  ``centroid_distance`` (difficulty, as prototypicality).

k-means runs in faiss on a sample of ``sample`` rows (all rows when N is smaller), then every row
is assigned in one streaming pass over the (possibly memory-mapped) matrix.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prunekit._progress import progress
from prunekit.errors import ConfigError, InputError
from prunekit.io.arrays import gather_rows, iter_blocks

METRICS = ("cosine", "l2")


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


def check_metric(metric: str) -> str:
    if not isinstance(metric, str) or metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; valid metrics: {', '.join(METRICS)}")
    return metric


def check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_k(k: int, n: int) -> int:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    if k > n:
        raise InputError(f"k = {k} clusters is larger than the number of examples ({n})")
    return int(k)


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
    import faiss

    t0 = time.perf_counter()
    n, d = X.shape
    check_metric(metric)
    k = check_k(k, n)
    sample = check_positive_int("sample", sample)
    niter = check_positive_int("niter", niter)
    cosine = metric == "cosine"
    rng = np.random.default_rng(seed)
    m = min(n, max(int(sample), k))
    idx = np.sort(rng.choice(n, size=m, replace=False)) if m < n else np.arange(n)
    train = gather_rows(X, idx, normalize=cosine)
    km = faiss.Kmeans(
        d, k, niter=int(niter), seed=int(seed) % (2**31), spherical=cosine, verbose=False,
        # We subsample ourselves; stop faiss from subsampling again or warning about sizes.
        max_points_per_centroid=1 << 30, min_points_per_centroid=1,
    )
    km.train(train)
    del train
    centroids = np.ascontiguousarray(km.centroids, dtype=np.float32)
    index = faiss.IndexFlatIP(d) if cosine else faiss.IndexFlatL2(d)
    index.add(centroids)
    assign = np.empty(n, dtype=np.int32)
    dist = np.empty(n, dtype=np.float32)
    with progress(n, f"assigning {n:,} rows to {k} clusters", show_progress) as advance:
        for start, stop, block in iter_blocks(X, normalize=cosine):
            D, I = index.search(block, 1)
            assign[start:stop] = I[:, 0]
            if cosine:
                dist[start:stop] = np.maximum(0.0, 1.0 - D[:, 0])
            else:
                dist[start:stop] = np.sqrt(np.maximum(0.0, D[:, 0]))
            advance(stop - start)
    params = {"k": k, "metric": metric, "sample": m, "niter": int(niter), "seed": int(seed)}
    return Clustering(centroids, assign, dist, metric, params, time.perf_counter() - t0)


def default_k(n: int, n_classes: int | None, *, prefer_classes: bool) -> int:
    """k ≈ number of classes when labels are known (prototypicality), else round(√N)."""
    if prefer_classes and n_classes:
        return max(1, min(n, n_classes))
    return max(1, min(n, int(round(np.sqrt(n)))))


def cluster_statistics(cl: Clustering, n_neighbors: int = 20) -> dict[str, np.ndarray]:
    """Per-cluster DBP statistics (arrays of length k): size, d_intra, d_inter, complexity.

    Empty clusters get size 0 and complexity 0 (they receive no quota)."""
    k = cl.k
    sizes = cl.sizes()
    sums = np.bincount(cl.assign, weights=cl.distance.astype(np.float64), minlength=k)
    d_intra = np.divide(sums, sizes, out=np.zeros(k), where=sizes > 0)
    c = cl.centroids.astype(np.float64)
    c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    if k > 1:
        dis = 1.0 - c @ c.T
        np.fill_diagonal(dis, np.inf)
        nn = min(n_neighbors, k - 1)
        part = np.partition(dis, nn - 1, axis=1)[:, :nn]
        d_inter = part.mean(axis=1)
    else:
        d_inter = np.zeros(1)
    complexity = d_intra * d_inter
    small = (sizes > 0) & (sizes <= 2)
    big = sizes > 2
    # Clusters of 1-2 members have no meaningful spread: give them the mean complexity (DBP's rule).
    if small.any():
        complexity[small] = complexity[big].mean() if big.any() else 1.0
    complexity[sizes == 0] = 0.0
    return {"size": sizes, "d_intra": d_intra, "d_inter": d_inter, "complexity": complexity}


# ----------------------------------------------------------------------------- scorers

from prunekit.data.scores.base import Scorer, ScoreResult, ScoringContext, register  # noqa: E402
from prunekit.io.examples import ExampleSet  # noqa: E402

CLUSTER_DEFAULTS: dict[str, Any] = {"k": None, "metric": "cosine", "sample": 100_000, "niter": 20}


def context_clustering(scorer: Scorer, examples: ExampleSet, ctx: ScoringContext) -> Clustering:
    """The run's clustering; k defaults to the number of classes (prototypicality alone, labelled
    data) or round(√N)."""
    p = {**scorer.params, **{k: v for k, v in ctx.clustering_params.items() if v is not None}}
    k = p["k"]
    if k is None:
        k = default_k(len(examples), examples.n_classes, prefer_classes=scorer.name == "prototypicality")
    return ctx.clustering(
        k=check_k(k, len(examples)), metric=check_metric(p["metric"]),
        sample=check_positive_int("sample", p["sample"]), niter=check_positive_int("niter", p["niter"]),
    )


@register
class PrototypicalityScorer(Scorer):
    name = "prototypicality"
    summary = "SSP: distance to the nearest k-means centroid (difficulty)"
    defaults = dict(CLUSTER_DEFAULTS)
    columns = {"prototypicality": "difficulty"}
    uses_clustering = True

    def _score(self, examples: ExampleSet, ctx: ScoringContext) -> ScoreResult:
        cl = context_clustering(self, examples, ctx)
        return ScoreResult(
            {"prototypicality": cl.distance.astype(np.float64)}, dict(self.columns),
            cluster=cl.assign, info={"clustering": cl.params},
        )


@register
class DensityScorer(Scorer):
    name = "density"
    summary = "DBP cluster statistics: d_intra, d_inter, complexity (+ centroid distance)"
    defaults = {**CLUSTER_DEFAULTS, "n_neighbors": 20}
    columns = {
        "centroid_distance": "difficulty",
        "cluster_d_intra": "cluster-statistic",
        "cluster_d_inter": "cluster-statistic",
        "cluster_complexity": "cluster-statistic",
    }
    uses_clustering = True

    def _score(self, examples: ExampleSet, ctx: ScoringContext) -> ScoreResult:
        nn = self.params["n_neighbors"]
        if not isinstance(nn, (int, np.integer)) or nn < 1:
            raise ConfigError(f"n_neighbors must be a positive integer, got {nn!r}")
        cl = context_clustering(self, examples, ctx)
        st = cluster_statistics(cl, int(nn))
        a = cl.assign
        return ScoreResult(
            {
                "centroid_distance": cl.distance.astype(np.float64),
                "cluster_d_intra": st["d_intra"][a],
                "cluster_d_inter": st["d_inter"][a],
                "cluster_complexity": st["complexity"][a],
            },
            dict(self.columns),
            cluster=a,
            info={"clustering": cl.params, "n_neighbors": int(nn)},
        )
