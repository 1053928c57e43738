"""Shared fixtures: small planted data sets (seeded, deterministic) and a scored table.

Arrays are session-scoped (built once); ``ExampleSet`` objects are rebuilt per test because they
are mutable.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

# Progress bars never render in tests (stderr may be a terminal when run by hand).
os.environ.setdefault("PRUNEKIT_PROGRESS", "0")

# faiss runs on one OpenMP thread in this process: the test inputs are tiny, and on a shared,
# busy machine OpenMP barriers between threads that cannot be scheduled made k-means on 1,000 rows
# take ~0.4 s instead of ~2 ms (the whole suite 3x slower, and erratic). Subprocesses are not
# affected; test_scorer_contract checks that the thread count does not change any result.
import faiss  # noqa: E402

FAISS_THREADS = faiss.omp_get_max_threads()
faiss.omp_set_num_threads(1)

from prunekit.data import score  # noqa: E402
from prunekit.io.examples import from_arrays  # noqa: E402

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


@pytest.fixture(scope="session")
def mixture_arrays():
    return gaussian_mixture()


@pytest.fixture
def mixture(mixture_arrays):
    """The planted 5-class mixture as an ``ExampleSet`` (N = 1000, D = 32, labels)."""
    X, y = mixture_arrays
    return from_arrays(X.copy(), labels=y.copy())


@pytest.fixture(scope="session")
def dup_mixture_arrays():
    """The mixture with 60 rows replaced by near-copies of other rows of their class."""
    X, y = gaussian_mixture(seed=1)
    X = X.copy()
    rng = np.random.default_rng(7)
    n = len(y)
    targets = rng.choice(n, size=60, replace=False)
    others = np.setdiff1d(np.arange(n), targets)
    for t in targets:
        same = others[y[others] == y[t]]
        src = same[rng.integers(len(same))]
        X[t] = X[src] + 1e-3 * rng.normal(size=X.shape[1])
    return X, y


@pytest.fixture(scope="session")
def scored_table(dup_mixture_arrays):
    """A ``ScoreTable`` of 1000 rows scored with every built-in geometry scorer and ``random``
    (shared k = 20 clustering); it has labels, clusters and ``duplicate_of``. Do not mutate."""
    X, y = dup_mixture_arrays
    ex = from_arrays(X, labels=y)
    table = score(ex, ["prototypicality", "density", "semdedup", "random"], k=20, seed=0)
    assert (table.duplicate_of >= 0).sum() >= 30  # the fixture is only useful with duplicates
    return table


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models: one intra-op thread. On a busy 2-core machine, two threads that cannot both be
    scheduled made the training tests ~8x slower (85 s vs 10 s); restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
