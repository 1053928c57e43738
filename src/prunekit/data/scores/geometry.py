"""Embedding-geometry scorers over the run's shared k-means clustering (``clustering.py``):
prototypicality (SSP) and the cluster statistics of density-based pruning (DBP).

Directions (this project's convention, docs/ALGORITHMS.md §1.0, §1.6–§1.8):

- ``prototypicality``: **difficulty** = distance to the nearest k-means centroid (``1 - cos`` for
  ``metric="cosine"`` on L2-normalised embeddings, Euclidean for ``metric="l2"``). Typical = easy.
- ``density`` (DBP cluster statistics), per example, the statistics of its cluster:
  ``cluster_d_intra`` (mean member distance to the centroid), ``cluster_d_inter`` (mean of
  ``1 - cos`` to the ``n_neighbors`` nearest other centroids), ``cluster_complexity``
  (= d_intra · d_inter; clusters of 1–2 members get the mean over the others), and
  ``centroid_distance`` (difficulty, as prototypicality).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prunekit.data.scores.base import ScoreResult, Scorer, ScoringContext, register
from prunekit.data.scores.clustering import CLUSTER_PARAMS, Clustering, check_k, default_k
from prunekit.io.examples import ExampleSet
from prunekit.params import Param, Spec

N_NEIGHBORS = Param("n_neighbors", int, low=1, default=20,
                    help="density: nearest other centroids d_inter averages over")


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


def context_clustering(scorer: Scorer, examples: ExampleSet, ctx: ScoringContext, p: dict[str, Any]) -> Clustering:
    """The run's clustering from the scorer's checked parameters ``p`` and the run's shared ones;
    k defaults to the number of classes (prototypicality alone, labelled data) or round(√N)."""
    shared = {k: v for k, v in ctx.clustering_params.items() if v is not None}
    c = CLUSTER_PARAMS.resolve({**{k: p[k] for k in CLUSTER_PARAMS.names()}, **shared}, scorer.owner())
    k = c["k"]
    if k is None:
        k = default_k(len(examples), examples.n_classes, prefer_classes=scorer.name == "prototypicality")
    return ctx.clustering(k=check_k(k, len(examples)), metric=c["metric"], sample=c["sample"], niter=c["niter"])


@register
class PrototypicalityScorer(Scorer):
    name = "prototypicality"
    summary = "SSP: distance to the nearest k-means centroid (difficulty)"
    spec = CLUSTER_PARAMS
    columns = {"prototypicality": "difficulty"}
    uses_clustering = True

    def _score(self, examples: ExampleSet, ctx: ScoringContext, p: dict[str, Any]) -> ScoreResult:
        cl = context_clustering(self, examples, ctx, p)
        return ScoreResult(
            {"prototypicality": cl.distance.astype(np.float64)}, dict(self.columns),
            cluster=cl.assign, info={"clustering": cl.params},
        )


@register
class DensityScorer(Scorer):
    name = "density"
    summary = "DBP cluster statistics: d_intra, d_inter, complexity (+ centroid distance)"
    spec = Spec(CLUSTER_PARAMS, N_NEIGHBORS)
    columns = {
        "centroid_distance": "difficulty",
        "cluster_d_intra": "cluster-statistic",
        "cluster_d_inter": "cluster-statistic",
        "cluster_complexity": "cluster-statistic",
    }
    uses_clustering = True

    def _score(self, examples: ExampleSet, ctx: ScoringContext, p: dict[str, Any]) -> ScoreResult:
        nn = p["n_neighbors"]
        cl = context_clustering(self, examples, ctx, p)
        st = cluster_statistics(cl, nn)
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
            info={"clustering": cl.params, "n_neighbors": nn},
        )
