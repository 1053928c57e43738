"""DP4TL: prune the *source* data of pretraining by how the *target* task uses it (Zhang et al.,
"Selectivity Drives Productivity: Efficient Dataset Pruning for Enhanced Transfer Learning", 2023).

The scored examples are the source; ``target`` is the target task's training data (a file read
like the source, or in the API an ``ExampleSet`` / (M, D) array; its labels are not used). Each
source example gets, as a **value** column, the number of target examples its group receives; the
``dp4tl`` selector then keeps whole groups, most used first.

- ``dp4tl_lm`` (label mapping, supervised source): a surrogate classifier trained on the source
  classes — prunekit's trainer, or your checkpoint (``surrogate``) — predicts every target example;
  the group of a source example is its class, and the column ``dp4tl_lm`` is how many target
  examples the surrogate assigns to that class.
- ``dp4tl_fm`` (feature mapping, self-supervised source): the source features are clustered (the
  run's shared k-means, ``CLUSTER_PARAMS``); each target example goes to the nearest cluster mean;
  the group is the cluster and ``dp4tl_fm`` counts the target examples assigned to it. The score
  is indexed by the *source cluster* (the public code's loop indexes it by the target sample;
  docs/ALGORITHMS.md §1.11 says why: this is the method as the paper describes it).

``label_mapping_counts`` and ``feature_mapping_counts`` are the two computations on arrays, for
your own surrogate model or features.

Algorithm and parameters: docs/ALGORITHMS.md §1.11.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import numpy as np

from prunekit.data.scores.base import ScoreResult, Scorer, ScoringContext, register
from prunekit.data.scores.clustering import CLUSTER_PARAMS, assign_block, centroid_index
from prunekit.data.scores.dynamics.scorers import PROXY_PARAMS
from prunekit.data.scores.geometry import context_clustering
from prunekit.errors import ConfigError, InputError
from prunekit.io.arrays import as_float32_block, normalize_rows
from prunekit.io.examples import ExampleSet
from prunekit.params import Param, Spec

TARGET = Param("target", str, default=None, none_means="required by the DP4TL scorers",
               help="dp4tl: the target task's training data (a file read like the source; labels unused)")
SURROGATE = Param("surrogate", str, default=None, none_means="train one on the source with the proxy parameters",
                  help="dp4tl_lm: checkpoint of your source classifier (.pt written by prunekit)")
#: the surrogate's training: the proxy parameters of the dynamics scorers, one run
SURROGATE_PARAMS = PROXY_PARAMS.without("runs")


def target_matrix(target: Any, source_dim: int, scorer: str = "dp4tl") -> np.ndarray:
    """The target examples as a float32 (M, D) array from a path, an ``ExampleSet`` or an array;
    ``InputError`` when their feature width differs from the source's."""
    if target is None:
        raise ConfigError(f"scorer {scorer!r} needs target=<the target task's training data> (--target)")
    if isinstance(target, (str, os.PathLike)):
        from prunekit.io import read_examples

        if not os.path.exists(target):
            raise InputError(f"target data {target} does not exist")
        target = read_examples(target)
    if isinstance(target, ExampleSet):
        T = target.embeddings
    else:
        T = np.asarray(target)
        if T.ndim != 2 or T.shape[0] == 0:
            raise InputError(f"target data must be a non-empty (M, D) array, got shape {T.shape}")
    if T.shape[1] != source_dim:
        raise InputError(f"the target data has {T.shape[1]} features per example but the source has "
                         f"{source_dim}: DP4TL maps target examples into the source's feature space")
    return as_float32_block(T, 0, copy=True)


def label_mapping_counts(target_logits: np.ndarray, n_classes: int) -> np.ndarray:
    """Per source class, how many target examples a source classifier predicts as it:
    ``bincount(argmax(logits))`` of length ``n_classes`` (ties in a row: the lowest class)."""
    logits = np.asarray(target_logits)
    if logits.ndim != 2 or logits.shape[1] != n_classes:
        raise InputError(f"target logits must have shape (M, {n_classes}), got {logits.shape}")
    return np.bincount(logits.argmax(axis=1), minlength=n_classes).astype(np.int64)


def feature_mapping_counts(centroids: np.ndarray, target: np.ndarray, metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """``(counts per source cluster (k,), cluster of each target example (M,))``: every target
    example goes to its nearest cluster mean (cosine on unit rows, or L2); the count is indexed by
    the source cluster."""
    T = np.array(target, dtype=np.float32, copy=True)
    if metric == "cosine":
        normalize_rows(T)
    assign, _ = assign_block(centroid_index(centroids, metric), centroids, T, metric)
    return np.bincount(assign, minlength=len(centroids)).astype(np.int64), assign


def _target_param(scorer: Scorer) -> tuple[dict[str, Any], Any]:
    """Stored params with ``target`` as text (for the table's metadata) and the target itself."""
    t = scorer.params.get("target")
    if t is None or isinstance(t, str):
        return scorer.params, t
    if isinstance(t, os.PathLike):
        return {**scorer.params, "target": os.fspath(t)}, os.fspath(t)
    shape = getattr(getattr(t, "embeddings", t), "shape", None)
    if shape is None:
        return scorer.params, t  # refused by the declaration
    return {**scorer.params, "target": f"<in memory: {shape[0]} x {shape[1] if len(shape) > 1 else '?'}>"}, t


class _DP4TL(Scorer):
    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.params, self._target = _target_param(self)

    def checked_params(self) -> dict[str, Any]:
        given = dict(self.params)
        if isinstance(self._target, (ExampleSet, np.ndarray)):
            given["target"] = "<in memory>"  # checked by target_matrix
        p = self.spec.resolve(given, self.owner())
        p["target"] = self._target
        return p


def _ranking(counts: np.ndarray) -> list[int]:
    """Groups in keep order: most target examples first, ties by group id."""
    return np.lexsort((np.arange(len(counts)), -counts)).tolist()


@register
class LabelMappingScorer(_DP4TL):
    name = "dp4tl_lm"
    summary = "DP4TL label mapping: target examples a source-class surrogate predicts as the example's class (value)"
    spec = Spec(SURROGATE_PARAMS, SURROGATE, TARGET)
    columns = {"dp4tl_lm": "value"}

    def _score(self, examples: ExampleSet, ctx: ScoringContext, p: dict[str, Any]) -> ScoreResult:
        X = as_float32_block(examples.embeddings, 0, copy=not isinstance(examples.embeddings, np.memmap))
        if examples.labels is None:
            raise InputError("scorer 'dp4tl_lm' maps target examples onto source classes and needs source labels")
        y = examples.labels
        C = int(examples.n_classes)
        T = target_matrix(p["target"], examples.dim, self.name)
        t0 = time.perf_counter()
        predict = self._surrogate(X, y, ctx, p, C)
        counts = label_mapping_counts(predict(T), C)
        seconds = time.perf_counter() - t0
        return ScoreResult(
            {"dp4tl_lm": counts[y].astype(np.float64)}, dict(self.columns),
            info={"target_examples": int(len(T)), "group": "label", "group_counts": counts.tolist(),
                  "group_order": _ranking(counts), "surrogate_seconds": round(seconds, 3)},
        )

    def _surrogate(self, X: np.ndarray, y: np.ndarray, ctx: ScoringContext, p: dict[str, Any],
                   n_classes: int) -> Callable[[np.ndarray], np.ndarray]:
        """``target features → logits``: the user's checkpoint, or a classifier trained on (X, y)."""
        from prunekit.data.train.trainer import TrainConfig, fit, predict_logits

        if p["surrogate"] is not None:
            from prunekit.nn import load_checkpoint

            model = load_checkpoint(p["surrogate"]).model
            out = predict_logits(model, np.zeros((1, X.shape[1]), np.float32))
            if out.shape[1] != n_classes:
                raise InputError(f"surrogate {p['surrogate']} predicts {out.shape[1]} classes; the source has {n_classes}")
            return lambda T: predict_logits(model, T)
        cfg = TrainConfig(**{k: p[k] for k in SURROGATE_PARAMS.names()}, seed=ctx.seed).validate()
        r = fit(X, y, cfg, n_classes=n_classes, show_progress=ctx.show_progress)
        return lambda T: predict_logits(r.model, T)


@register
class FeatureMappingScorer(_DP4TL):
    name = "dp4tl_fm"
    summary = "DP4TL feature mapping: target examples nearest to the example's source cluster mean (value)"
    spec = Spec(CLUSTER_PARAMS, TARGET)
    columns = {"dp4tl_fm": "value"}
    uses_clustering = True

    def _score(self, examples: ExampleSet, ctx: ScoringContext, p: dict[str, Any]) -> ScoreResult:
        cl = context_clustering(self, examples, ctx, {k: p[k] for k in CLUSTER_PARAMS.names()})
        T = target_matrix(p["target"], examples.dim, self.name)
        counts, _ = feature_mapping_counts(cl.centroids, T, cl.metric)
        return ScoreResult(
            {"dp4tl_fm": counts[cl.assign].astype(np.float64)}, dict(self.columns), cluster=cl.assign,
            info={"clustering": cl.params, "target_examples": int(len(T)), "group": "cluster",
                  "group_counts": counts.tolist(), "group_order": _ranking(counts)},
        )


__all__ = ["FeatureMappingScorer", "LabelMappingScorer", "SURROGATE", "TARGET", "feature_mapping_counts",
           "label_mapping_counts", "target_matrix"]
