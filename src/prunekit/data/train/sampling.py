"""Which rows each epoch trains on: a fixed subset (shuffled each epoch) or RS2 — a fresh random
subset of the kept budget every epoch (Okanovic et al., ICLR 2024).

RS2 without replacement shuffles all rows once and walks consecutive windows of the budget
across epochs, reshuffling when exhausted, so every example is seen once per ⌈1/f⌉ epochs (at
least once when the budget does not divide N: the last, short window is topped up); with
replacement each epoch draws an independent subset. Optionally class-balanced. Pure NumPy: the
trainer asks for epoch e's rows; no PyTorch internals are patched and the epoch length any
scheduler sees is exactly ⌈budget / batch⌉ steps.

Algorithm and parameters: docs/ALGORITHMS.md §3.3.
"""

from __future__ import annotations

import numpy as np

from prunekit.errors import ConfigError, InputError


class FixedSubset:
    """The same rows every epoch, in a fresh seeded order."""

    def __init__(self, rows: np.ndarray, seed: int = 0) -> None:
        if len(rows) == 0:
            raise InputError("the training subset is empty (keep budget zero)")
        self.rows = np.asarray(rows, dtype=np.int64)
        self.rng = np.random.default_rng(seed)

    @property
    def per_epoch(self) -> int:
        return len(self.rows)

    def epoch(self, e: int) -> np.ndarray:
        return self.rng.permutation(self.rows)


class RS2:
    """Repeated random sampling: ``per_epoch`` rows of ``n`` each epoch."""

    def __init__(self, n: int, per_epoch: int, *, replace: bool = False, labels: np.ndarray | None = None,
                 balanced: bool = False, seed: int = 0) -> None:
        if not 1 <= per_epoch <= n:
            raise ConfigError(f"RS2 budget per epoch must be in [1, {n}], got {per_epoch}")
        if balanced and labels is None:
            raise InputError("class-balanced RS2 needs labels")
        self.n, self.per_epoch, self.replace, self.balanced = n, int(per_epoch), bool(replace), bool(balanced)
        self.labels = labels
        self.rng = np.random.default_rng(seed)
        self._order = np.empty(0, dtype=np.int64)
        self._pos = 0
        self._last = -1

    def _balanced_draw(self) -> np.ndarray:
        from prunekit.data.select.base import proportional

        classes, sizes = np.unique(self.labels, return_counts=True)
        q = proportional(sizes, self.per_epoch)
        parts = [self.rng.choice(np.flatnonzero(self.labels == c), k, replace=False) for c, k in zip(classes, q)]
        return self.rng.permutation(np.concatenate(parts))

    def epoch(self, e: int) -> np.ndarray:
        if e != self._last + 1:
            raise ConfigError("RS2 epochs must be drawn in order (0, 1, 2, …)")
        self._last = e
        if self.replace or self.balanced:
            if self.balanced:
                return self._balanced_draw()
            return self.rng.choice(self.n, self.per_epoch, replace=False)
        # without replacement across epochs: consecutive windows of one permutation. When the
        # budget does not divide n, the last, short window of a permutation is topped up with
        # other rows of the same permutation (never rows of the next one): an epoch never holds a
        # row twice, and every block of ⌈n / budget⌉ epochs sees every row at least once.
        if self._pos >= len(self._order):
            self._order = self.rng.permutation(self.n)
            self._pos = 0
        start = self._pos
        window = self._order[start : start + self.per_epoch]
        self._pos = start + self.per_epoch
        if len(window) < self.per_epoch:
            extra = self.rng.choice(self._order[:start], self.per_epoch - len(window), replace=False)
            window = np.concatenate([window, extra])
        return window
