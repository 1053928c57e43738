"""Pruning training examples: score every example, select a subset, export it.

``score(examples, methods)`` → ``ScoreTable``; ``select(table, method, keep=…)`` → ``ScoreTable``
with ``keep``/``reason``; ``export(table, examples, out)``. Registries: ``prunekit.data.scores``,
``prunekit.data.select``.
"""

from prunekit.data.pipeline import export, score, select
from prunekit.data.table import ScoreTable

__all__ = ["ScoreTable", "export", "score", "select"]
