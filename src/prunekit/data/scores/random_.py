"""``random``: a uniform [0, 1) score per example from the run's seed (direction: random).

Selecting the "hardest" by it is a seeded uniform random subset: the baseline every comparison
must include.

Algorithm and parameters: docs/ALGORITHMS.md §1.10.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prunekit.data.scores.base import ScoreResult, Scorer, ScoringContext, register
from prunekit.io.arrays import iter_blocks
from prunekit.io.examples import ExampleSet


@register
class RandomScorer(Scorer):
    name = "random"
    summary = "seeded uniform [0, 1) score (baseline)"
    columns = {"random": "random"}

    def _score(self, examples: ExampleSet, ctx: ScoringContext, p: dict[str, Any]) -> ScoreResult:
        X = examples.embeddings
        if isinstance(X, np.memmap):
            # In-memory rows were validated on construction; mapped ones only when streamed. The
            # baseline must refuse the same bad input as every other scorer (one sequential pass).
            for _ in iter_blocks(X):
                pass
        rng = np.random.default_rng(ctx.seed)
        return ScoreResult({"random": rng.random(len(examples))}, dict(self.columns))
