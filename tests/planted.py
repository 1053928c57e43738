"""Planted data for the tests (seeded, deterministic): a Gaussian mixture and planted near-duplicates.

A module of its own rather than conftest.py: test modules import from it, and ``from conftest import``
resolves to whichever of the suite's conftest.py files pytest imported last.
"""

from __future__ import annotations

import numpy as np

CLASS_SIZES = (400, 250, 200, 100, 50)  # an imbalanced 5-class mixture, N = 1000
DIM = 32


def gaussian_mixture(sizes=CLASS_SIZES, dim=DIM, *, spread=1.0, seed=0):
    """Rows drawn around one random centre per class: ``(X float32 (N, dim), y int64 (N,))``.

    Centre and noise have comparable norms, so members of a class have cosine ~0.5 to each other:
    clustered, but far from near-duplicates (cosine > 0.95)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), dim))
    X = np.concatenate([c + spread * rng.normal(size=(s, dim)) for c, s in zip(centres, sizes)])
    y = np.repeat(np.arange(len(sizes)), sizes)
    perm = rng.permutation(len(y))  # classes interleaved, so row order carries no signal
    return X[perm].astype(np.float32), y[perm].astype(np.int64)


def planted_duplicates(n_groups=50, n_background=600, dim=DIM, *, noise=1e-3, seed=0):
    """``n_groups`` groups of 2–5 noisy copies of a random unit vector plus ``n_background``
    distinct random points, shuffled.

    Returns ``(X float32, group (N,) int64)`` with ``group = -1`` for background rows. Copies differ
    by ~noise·√dim (1 − cos ≈ 1e-5 ≪ eps); random points in 32-D have |cos| < ~0.8."""
    rng = np.random.default_rng(seed)
    rows, group = [], []
    for g in range(n_groups):
        v = rng.normal(size=dim)
        v /= np.linalg.norm(v)
        for _ in range(int(rng.integers(2, 6))):
            rows.append(v + noise * rng.normal(size=dim))
            group.append(g)
    bg = rng.normal(size=(n_background, dim))
    X = np.concatenate([np.array(rows), bg])
    group = np.concatenate([np.array(group), np.full(n_background, -1)])
    perm = rng.permutation(len(group))
    return X[perm].astype(np.float32), group[perm].astype(np.int64)
