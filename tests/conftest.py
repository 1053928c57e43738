"""Shared fixtures: small planted data sets (seeded, deterministic), a scored table, and engines
(one local Spark session per process).

Arrays are session-scoped (built once); ``ExampleSet`` objects are rebuilt per test because they
are mutable.

The suite runs serially (``pytest``) or in two worker processes (``pytest -n 2 --dist loadfile
--no-loadscope-reorder``, what scripts/test.sh does): each test module goes to one worker (its
module-scoped fixtures are built once), modules holding ``slow`` tests are handed out first, and a
session fixture (an engine, a data set) is built at most once per worker.
"""

from __future__ import annotations

import os

# Set before numpy, torch or faiss is imported (they read these once, when loaded).
# Progress bars never render in tests (stderr may be a terminal when run by hand).
os.environ.setdefault("PRUNEKIT_PROGRESS", "0")
# One compute thread per process, subprocesses included (they inherit the environment): the inputs
# are tiny, and on a 2-core machine shared by two pytest workers or other jobs, OpenMP threads that
# cannot be scheduled spin at every barrier. Measured: a 14-cell sweep on digits took 157 s with
# torch's default two threads next to one other busy process, 9.5 s with one. Tests that check
# results do not depend on the thread count set it explicitly (test_scorer_contract).
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# Rich sizes its console from the terminal, else $COLUMNS, else 80 columns; at 80 a long temporary
# path (pytest-xdist adds ``popen-gwN/``) wraps the words tests look for. A fixed width makes the
# output the same in every terminal, worker and temporary directory.
os.environ["COLUMNS"] = "200"

# faiss on one OpenMP thread in this process too (it may have been imported before this file).
import faiss  # noqa: E402

faiss.omp_set_num_threads(1)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from prunekit.data import score  # noqa: E402
from prunekit.io.examples import from_arrays  # noqa: E402

from planted import CLASS_SIZES, DIM, gaussian_mixture, planted_duplicates  # noqa: E402,F401

# ----------------------------------------------------------------------------- scheduling


def pytest_collection_modifyitems(config, items):
    """Modules holding ``slow`` tests run first: under ``--dist loadfile --no-loadscope-reorder``
    workers take modules in this order, so a long module does not start last and become the tail of
    the run. Stable: the order is otherwise kept, and a module's tests stay together."""
    def module(item):
        return item.nodeid.split("::")[0]

    slow = {module(it) for it in items if it.get_closest_marker("slow")}
    items.sort(key=lambda it: module(it) not in slow)


# ----------------------------------------------------------------------------- environment


@pytest.fixture(scope="session", autouse=True)
def _private_prunekit_cache(tmp_path_factory):
    """prunekit's on-disk cache (embeddings, teacher logits) lives in this run's temporary directory:
    no test reads an entry left by an earlier run or writes to ~/.cache/prunekit. Tests that check
    the cache still point ``PRUNEKIT_CACHE`` at their own directory."""
    mp = pytest.MonkeyPatch()
    mp.setenv("PRUNEKIT_CACHE", str(tmp_path_factory.mktemp("prunekit-cache")))
    yield
    mp.undo()


# ----------------------------------------------------------------------------- data


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
    scheduled made the training tests ~8x slower (85 s vs 10 s); restored afterwards. (The
    environment set above already starts torch on one thread unless $OMP_NUM_THREADS says
    otherwise.)"""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------- engines


@pytest.fixture(scope="session")
def spark_session():
    """The one local Spark session of the process (``local[2]``; its JVM takes ~10 s to start). Tests never start
    their own: configuration that only takes effect when the JVM starts (``spark.jars.packages``,
    ``spark.sql.extensions`` and catalogs for Delta or Iceberg, object-store settings) goes here,
    since a later ``getOrCreate`` silently returns the running session without it. Skips when
    pyspark or a Java runtime is missing; stopped at the end of the run."""
    pytest.importorskip("pyspark")
    from prunekit.lake.backends import get_verifier

    try:
        session = get_verifier("spark", master="local[2]").spark  # the quiet session prunekit builds
    except Exception as exc:  # no Java runtime on this machine
        pytest.skip(f"Spark cannot start here: {exc}")
    yield session
    session.stop()


@pytest.fixture
def spark_verifier(spark_session):
    """A Spark verification engine on the shared session (cheap: no JVM start; a fresh one per test,
    so no cached parent survives a failed test)."""
    from prunekit.lake.backends import get_verifier

    v = get_verifier("spark", session=spark_session)
    yield v
    v.close()


@pytest.fixture(scope="session")
def ray_cluster():
    """The one local Ray of the process (2 CPUs, no dashboard; ~5-10 s to start), shared by every
    Ray test: tests never start their own (a second ``ray.init`` in one process is refused), and
    what they run uses the running one. Skips when Ray is not installed; shut down at the end."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()
