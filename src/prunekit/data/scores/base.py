"""The scorer contract and registry.

A scorer maps an ``ExampleSet`` to one or more per-example score columns (float, length N, no NaN),
documents each column's direction (``difficulty``: higher = harder; ``redundancy``; ``value``;
``cluster-statistic``; ``random``) and may also return a cluster id per example and, for
deduplication, the row each removed example duplicates.

``__init__`` only stores parameters (unknown names are rejected); ``score`` validates them through
the scorer's ``spec`` and then against the data. Geometry scorers in one run share one k-means
clustering through ``ScoringContext``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from prunekit.data.registry import Component, Registry
from prunekit.data.scores.clustering import fit_clusters
from prunekit.io.examples import ExampleSet

DIRECTIONS = ("difficulty", "redundancy", "value", "cluster-statistic", "random")


@dataclass
class ScoreResult:
    columns: dict[str, np.ndarray]
    directions: dict[str, str]
    cluster: np.ndarray | None = None
    duplicate_of: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


class ScoringContext:
    """Shared state of one scoring run: the examples, the seed and the clustering cache."""

    def __init__(self, examples: ExampleSet, *, seed: int = 0, show_progress: bool | None = None,
                 clustering_params: dict[str, Any] | None = None) -> None:
        self.examples = examples
        self.seed = int(seed)
        self.show_progress = show_progress
        self.clustering_params = dict(clustering_params or {})
        self._clusterings: dict[tuple, Any] = {}
        # other work scorers of one run share (e.g. the proxy trainings of dynamics scores)
        self.cache: dict[Any, Any] = {}

    def clustering(self, *, k: int, metric: str, sample: int, niter: int):
        key = (k, metric, sample, niter, self.seed)
        if key not in self._clusterings:
            self._clusterings[key] = fit_clusters(
                self.examples.embeddings, k, metric=metric, sample=sample, niter=niter,
                seed=self.seed, show_progress=self.show_progress,
            )
        return self._clusterings[key]


class Scorer(Component):
    """Base class. Subclasses set ``name``, ``summary``, ``spec`` (their parameters) and
    ``columns`` (column → direction), and implement ``_score(examples, ctx, p)`` where ``p`` holds
    the parameters checked against ``spec``."""

    kind = "scorer"
    columns: ClassVar[dict[str, str]] = {}
    uses_clustering: ClassVar[bool] = False

    def score(self, examples: ExampleSet, context: ScoringContext | None = None) -> ScoreResult:
        ctx = context or ScoringContext(examples)
        res = self._score(examples, ctx, self.checked_params())
        n = len(examples)
        for col, values in res.columns.items():
            # The contract every scorer keeps; a violation is a bug in prunekit, not bad input.
            if values.shape != (n,) or not np.isfinite(values).all():
                raise RuntimeError(f"scorer {self.name} produced an invalid column {col}")
        return res

    def _score(self, examples: ExampleSet, ctx: ScoringContext, p: dict[str, Any]) -> ScoreResult:  # pragma: no cover
        raise NotImplementedError


SCORERS: Registry[Scorer] = Registry("scorer")
register = SCORERS.register
#: ``get_scorer(name, **params)``: a scorer holding ``params``
get_scorer = SCORERS.make
#: ``scorer_params()``: option name → ``Param`` over every registered scorer (``Registry.params``)
scorer_params = SCORERS.params
