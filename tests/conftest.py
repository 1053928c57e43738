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

from planted import CLASS_SIZES, DIM, gaussian_mixture, planted_duplicates  # noqa: E402,F401


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
