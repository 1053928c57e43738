"""The contract every registered scorer keeps (scikit-learn's ``estimator_checks`` habit).

Parametrized over ``SCORERS``, so a scorer added to the registry is checked without editing this
file. Parameters a scorer needs to run on the small fixture go in ``PARAMS``.
"""

from __future__ import annotations

import numpy as np
import pytest

from prunekit.data import score
from prunekit.data.scores import SCORERS, ScoringContext, get_scorer
from prunekit.data.scores.base import DIRECTIONS
from prunekit.errors import ConfigError, InputError, PrunekitError
from prunekit.io.examples import ExampleSet, from_arrays, read_examples

NAMES = sorted(SCORERS)

# Parameters that make a scorer fit the 1000-row fixture (others run with their defaults).
PARAMS: dict[str, dict] = {
    "prototypicality": {"k": 8},
    "density": {"k": 8},
    "semdedup": {"k": 8},
    # training-dynamics scorers: short proxy trainings are enough for the contract
    **{n: {"runs": 2, "epochs": 2} for n in ("el2n", "forgetting", "aum", "dynamic_uncertainty")},
    "grand": {"runs": 1},
    "grand_last_layer": {"runs": 1},
    # DP4TL: a target in the fixture's 32-D feature space (in memory); a short surrogate training
    "dp4tl_lm": {"target": np.random.default_rng(0).normal(size=(40, 32)), "epochs": 2},
    "dp4tl_fm": {"k": 8, "target": np.random.default_rng(0).normal(size=(40, 32))},
}


def params_for(name: str) -> dict:
    return dict(PARAMS.get(name, {}))


def run(name: str, ex: ExampleSet, seed: int = 0, **extra):
    scorer = get_scorer(name, **{**params_for(name), **extra})
    return scorer.score(ex, ScoringContext(ex, seed=seed))


@pytest.mark.parametrize("name", NAMES)
def test_registry_entry_is_described(name):
    cls = SCORERS[name]
    assert cls.name == name
    assert cls.summary
    assert cls.columns, "a scorer declares the columns it produces"
    for col, direction in cls.columns.items():
        assert direction in DIRECTIONS, f"{name}.{col}: direction {direction!r}"


@pytest.mark.parametrize("name", NAMES)
def test_columns_shape_dtype_finite(name, mixture):
    n = len(mixture)
    res = run(name, mixture)
    assert set(res.columns) == set(SCORERS[name].columns)
    assert set(res.directions) == set(res.columns)
    for col, values in res.columns.items():
        assert isinstance(values, np.ndarray)
        assert values.shape == (n,), col
        assert values.dtype.kind == "f", f"{col} has dtype {values.dtype}"
        assert np.isfinite(values).all(), col
        assert res.directions[col] in DIRECTIONS
    if res.cluster is not None:
        assert res.cluster.shape == (n,)
        assert res.cluster.dtype.kind in "iu"
        assert res.cluster.min() >= 0
    if res.duplicate_of is not None:
        d = res.duplicate_of
        assert d.shape == (n,) and d.dtype.kind == "i"
        assert ((d == -1) | ((d >= 0) & (d < n))).all()
        removed = np.flatnonzero(d >= 0)
        # every removal points at an example that is itself kept
        assert (d[d[removed]] == -1).all()
        assert not np.any(d[removed] == removed)


@pytest.mark.parametrize("name", NAMES)
def test_pipeline_table_matches_scorer(name, mixture):
    table = score(mixture, name, seed=0, **params_for(name))
    assert len(table) == len(mixture)
    assert set(SCORERS[name].columns) <= set(table.scores)
    for col in SCORERS[name].columns:
        assert table.directions[col] in DIRECTIONS
        assert table.scores[col].shape == (len(mixture),)
        assert np.isfinite(table.scores[col]).all()
    assert [r["method"] for r in table.meta["scorers"]] == [name]


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_bytes(name, mixture_arrays):
    X, y = mixture_arrays
    a = run(name, from_arrays(X.copy(), labels=y), seed=3)
    b = run(name, from_arrays(X.copy(), labels=y), seed=3)
    assert a.columns.keys() == b.columns.keys()
    for col in a.columns:
        assert a.columns[col].dtype == b.columns[col].dtype
        assert a.columns[col].tobytes() == b.columns[col].tobytes(), col
    for attr in ("cluster", "duplicate_of"):
        va, vb = getattr(a, attr), getattr(b, attr)
        assert (va is None) == (vb is None)
        if va is not None:
            assert va.tobytes() == vb.tobytes(), attr


@pytest.mark.parametrize("name", NAMES)
def test_rows_on_disk_give_the_same_scores(name, mixture_arrays, tmp_path):
    """A memory-mapped .npy and the same array in memory score identically."""
    X, y = mixture_arrays
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", y)
    mm = read_examples(tmp_path / "x.npy", labels=tmp_path / "y.npy")
    assert isinstance(mm.embeddings, np.memmap)
    a = run(name, mm, seed=1)
    b = run(name, from_arrays(X.copy(), labels=y), seed=1)
    for col in a.columns:
        assert a.columns[col].tobytes() == b.columns[col].tobytes(), col


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("name", NAMES)
def test_empty_input(name, tmp_path):
    with pytest.raises(InputError, match="0 rows"):
        score(from_arrays(np.zeros((0, 16), np.float32)), name)
    np.save(tmp_path / "empty.npy", np.zeros((0, 16), np.float32))
    with pytest.raises(InputError, match="0 rows"):
        score(read_examples(tmp_path / "empty.npy"), name)


@pytest.mark.parametrize("name", NAMES)
def test_mismatched_labels_length(name, mixture_arrays, tmp_path):
    X, y = mixture_arrays
    with pytest.raises(InputError, match="different lengths"):
        score(from_arrays(X, labels=y[:-1]), name)
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", y[:-3])
    with pytest.raises(InputError, match="different lengths"):
        score(read_examples(tmp_path / "x.npy", labels=tmp_path / "y.npy"), name)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_embeddings(name, bad, mixture_arrays, tmp_path):
    X, y = mixture_arrays
    X = X.copy()
    X[637, 5] = bad
    with pytest.raises(InputError, match="NaN or inf.*row 637"):
        score(from_arrays(X, labels=y), name, **params_for(name))
    # A memory-mapped file is only checked while it is streamed: the scorer must still refuse it.
    np.save(tmp_path / "x.npy", X)
    ex = read_examples(tmp_path / "x.npy")
    assert isinstance(ex.embeddings, np.memmap)
    with pytest.raises(InputError, match="NaN or inf.*row 637"):
        score(ex, name, **params_for(name))


@pytest.mark.parametrize("name", NAMES)
def test_unknown_parameter(name, mixture):
    with pytest.raises(ConfigError, match="no_such_param"):
        get_scorer(name, no_such_param=1)
    with pytest.raises(ConfigError, match="no_such_param"):
        score(mixture, name, no_such_param=1)


def test_unknown_scorer_lists_valid_names(mixture):
    for call in (lambda: get_scorer("no-such-scorer"), lambda: score(mixture, "no-such-scorer")):
        with pytest.raises(ConfigError) as info:
            call()
        msg = str(info.value)
        assert "no-such-scorer" in msg
        for name in NAMES:
            assert name in msg
    with pytest.raises(ConfigError):
        score(mixture, [])


@pytest.mark.parametrize("name", NAMES)
def test_k_larger_than_n(name):
    ex = from_arrays(np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32))
    if "k" in SCORERS[name].spec:
        with pytest.raises(InputError, match="larger than the number of examples"):
            score(ex, name, k=13)
        with pytest.raises(ConfigError, match="k must be an integer ≥ 1"):
            score(ex, name, k=0)
    else:
        # A scorer without clustering must not silently ignore k.
        with pytest.raises(ConfigError, match="'k'"):
            score(ex, name, k=13)


@pytest.mark.parametrize("name", NAMES)
def test_errors_are_prunekit_errors_not_crashes(name):
    """Odd but valid shapes either work (finite output) or raise a PrunekitError."""
    rng = np.random.default_rng(0)
    cases = {
        "one row": rng.normal(size=(1, 8)),
        "one column": rng.normal(size=(50, 1)) + 3.0,
        "identical rows": np.ones((40, 8)),
        "integer rows": rng.integers(1, 5, size=(60, 8)),
    }
    for what, X in cases.items():
        ex = from_arrays(X)
        try:
            table = score(ex, name, k=1) if "k" in SCORERS[name].spec else score(ex, name)
        except PrunekitError:
            continue
        for col, values in table.scores.items():
            assert values.shape == (len(X),), (what, col)
            assert np.isfinite(values).all(), (what, col)


@pytest.mark.parametrize("name", NAMES)
def test_zero_row_with_cosine(name):
    X = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    X[11] = 0.0
    cls = SCORERS[name]
    if cls.uses_clustering and cls.spec.defaults().get("metric") == "cosine":
        with pytest.raises(InputError, match="row 11 .*all zeros"):
            score(from_arrays(X), name, k=3)
    else:
        # labels too, for the scorers that train proxy models
        params = {**params_for(name), **({"k": 3} if "k" in cls.spec else {}),
                  **({"target": X[:10]} if "target" in cls.spec else {})}  # DP4TL: a target as wide as X
        table = score(from_arrays(X, labels=np.arange(30) % 3), name, **params)
        assert all(np.isfinite(v).all() for v in table.scores.values())


@pytest.mark.parametrize("name", NAMES)
def test_wrongly_typed_parameters(name, mixture):
    """Every declared parameter given a value of the wrong kind fails as a PrunekitError (the CLI
    prints it as one line), never as a TypeError/ValueError from deep inside."""
    for param in SCORERS[name].spec.names():
        for bad in ("not-a-value", [1, 2], -1):
            with pytest.raises(PrunekitError):
                score(mixture, name, **{**params_for(name), param: bad})


@pytest.mark.parametrize("name", NAMES)
def test_thread_count_does_not_change_results(name, mixture_arrays):
    """The suite runs faiss on one thread (see conftest); the results are the same bytes with
    several threads."""
    import os

    import faiss

    X, y = mixture_arrays
    one = run(name, from_arrays(X, labels=y), seed=2)
    faiss.omp_set_num_threads(max(2, os.cpu_count() or 2))
    try:
        many = run(name, from_arrays(X, labels=y), seed=2)
    finally:
        faiss.omp_set_num_threads(1)
    for col in one.columns:
        assert one.columns[col].tobytes() == many.columns[col].tobytes(), col
    if one.cluster is not None:
        assert one.cluster.tobytes() == many.cluster.tobytes()
