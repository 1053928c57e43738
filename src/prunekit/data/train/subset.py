"""Training on a kept subset, end to end: what ``prunekit data train`` does and what every cell of
a sweep does, as one library call.

``load_training_data`` reads the training (and test) data from a file or a bundled data set;
``train_subset`` resolves the subset (a selection table, row numbers, RS2 or all the data), the
teacher (trained on all the data, a checkpoint, or given logits), trains, and returns the model with
its metrics — the same dictionary the CLI writes to ``<out>.metrics.json``::

    from prunekit.data.train import TrainConfig, train_subset

    run = train_subset("mnist5k", TrainConfig(model="cnn"), selection="selection.parquet", kd_alpha="auto")
    run.save("student.pt")          # the checkpoint and student.pt.metrics.json
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from prunekit.data.train.trainer import TrainConfig, TrainResult, fit, rows_from_selection, save_checkpoint
from prunekit.errors import ConfigError, InputError
from prunekit.io.examples import ExampleSet
from prunekit.params import Param

__all__ = ["KD_ALPHA", "SubsetRun", "TrainingData", "load_training_data", "train_subset"]

#: the distillation weight: a number, or "auto" = clip(1 − keep, 0.25, 0.9)
KD_ALPHA = Param("kd_alpha", float, low=0.0, high=1.0, also=("auto",), default=0.0,
                 help="Distillation weight; 'auto' = clip(1 - keep, 0.25, 0.9)")
KD_TAU = Param("kd_tau", float, low=0.0, low_open=True, default=4.0, help="Distillation temperature")


@dataclass
class TrainingData:
    """Labelled training examples, optional labelled test arrays and the number of classes."""

    name: str
    examples: ExampleSet
    X_test: np.ndarray | None
    y_test: np.ndarray | None
    n_classes: int | None

    @property
    def X(self) -> np.ndarray:
        return self.examples.embeddings

    @property
    def y(self) -> np.ndarray | None:
        return self.examples.labels


def load_training_data(data: str | os.PathLike, *, labels=None, test=None, test_labels=None,
                       need_test: bool = False) -> TrainingData:
    """Examples (+ test arrays) from a file read by ``read_examples`` or a bundled data set name
    (whose fixed test split is used; ``test`` must then be absent). ``need_test``: a file needs
    labelled ``test`` data (sweeps measure accuracy)."""
    from prunekit.datasets import DATASETS, load
    from prunekit.io import read_examples

    text = str(data)
    if not Path(text).exists() and text in DATASETS:
        if test is not None:
            raise InputError(f"{text} is a bundled data set with its own test split; drop --test")
        ds = load(text)
        if ds.X_train is None:
            raise ConfigError(f"{text} has no features to train on")
        return TrainingData(text, ds.train_examples(), ds.X_test, ds.y_test, len(ds.label_names))
    if not Path(text).exists():
        raise InputError(f"{text} is neither a file nor a bundled data set ({', '.join(DATASETS)})")
    ex = read_examples(text, labels=labels)
    X_test = y_test = None
    if test is not None:
        te = read_examples(test, labels=test_labels)
        if te.labels is None:
            raise InputError("test data needs labels")
        if te.dim != ex.dim:
            raise InputError(f"test data has {te.dim} features; training data has {ex.dim}")
        X_test, y_test = np.asarray(te.embeddings), te.labels
    elif need_test:
        raise ConfigError("training on a file needs labelled test data for accuracy")
    n_classes = ex.n_classes if ex.labels is not None else None
    if y_test is not None and n_classes is not None:
        n_classes = max(n_classes, int(y_test.max()) + 1)
    return TrainingData(Path(text).name, ex, X_test, y_test, n_classes)


@dataclass
class SubsetRun:
    """A trained subset model: ``result`` (model, history, steps, seconds, config) and ``metrics``
    (the JSON-able summary: keep, subset kind, accuracy, loss, scoring/teacher/training seconds …)."""

    result: TrainResult
    metrics: dict[str, Any]
    kept_per_class: np.ndarray | None
    #: the files this run read, as (what, path) pairs: ``save`` never replaces one
    inputs: tuple = ()

    @property
    def model(self):
        return self.result.model

    def save(self, out: str | os.PathLike) -> tuple[Path, Path]:
        """Write the checkpoint to ``out`` and the metrics to ``<out>.metrics.json`` (atomically)."""
        from prunekit.io.atomic import atomic_path, check_not_input, check_writable

        out = Path(out)
        metrics_path = out.with_name(out.name + ".metrics.json")
        for o in (out, metrics_path):
            check_writable(o)
            check_not_input(o, self.inputs)
        save_checkpoint(self.result, out)
        with atomic_path(metrics_path) as tmp:
            tmp.write_text(json.dumps(self.metrics, indent=1))
        return out, metrics_path


def _alpha(kd_alpha: Any) -> float | str:
    """``kd_alpha`` from the API or the command line ("0.5", "auto") checked by :data:`KD_ALPHA`."""
    if kd_alpha is None:
        return 0.0
    if isinstance(kd_alpha, str) and kd_alpha != "auto":
        try:
            kd_alpha = float(kd_alpha)
        except ValueError:
            raise KD_ALPHA.error(kd_alpha) from None
    return KD_ALPHA.check(kd_alpha)


def train_subset(
    data: TrainingData | str | os.PathLike,
    config: TrainConfig | None = None,
    *,
    selection=None,
    rows: np.ndarray | None = None,
    rs2: float | None = None,
    rs2_replace: bool = False,
    rs2_balanced: bool = False,
    kd_alpha: float | str | None = None,
    kd_tau: float = 4.0,
    teacher=None,
    teacher_logits: np.ndarray | None = None,
    teacher_model: str | None = None,
    teacher_width: int | None = None,
    teacher_recipe: dict[str, Any] | None = None,
    scoring_seconds: float | None = None,
    labels=None,
    test=None,
    test_labels=None,
    show_progress: bool | None = None,
    force: bool = False,
    standardize: bool = False,
) -> SubsetRun:
    """Train ``config`` on a subset of ``data`` and evaluate it on the test split.

    The subset: ``selection`` (a selection table or its path; its scoring time is counted),
    ``rows`` (row numbers), ``rs2`` (a fresh random fraction every epoch) or, by default, all the
    data. Distillation: ``kd_alpha`` > 0 or ``"auto"`` with ``teacher_logits`` (N, C), a ``teacher``
    checkpoint/callable, or — by default — a teacher trained on all the data with the student's
    configuration (``teacher_model`` / ``teacher_width`` change its model, ``teacher_recipe`` any
    other recipe key, e.g. ``{"epochs": 30, "lr": 0.01}``), cached on disk.
    ``data``: :class:`TrainingData`, a file, or a bundled data set name (``labels``, ``test``,
    ``test_labels`` as for :func:`load_training_data`).

    A selection or teacher checkpoint made on other data than ``data`` is refused (rows, ids or
    content differ, see :mod:`prunekit.io.identity`); ``force`` trains anyway and records the
    mismatch in the metrics (``data_mismatch``). The checkpoint and the metrics record the
    training data's identity (``data_identity``). ``standardize``: z-score the features with the
    training set's mean and std (test data alike; recorded in the checkpoint's config); without it,
    features of a file that look unscaled get one warning (``UnscaledFeaturesWarning``)."""
    from prunekit.data.table import ScoreTable
    from prunekit.data.train.kd import teacher_logits as compute_teacher

    if teacher is not None and kd_alpha is None:
        raise ConfigError("--teacher is only used for distillation: add --kd-alpha (a number or 'auto')")
    td = data if isinstance(data, TrainingData) else load_training_data(
        data, labels=labels, test=test, test_labels=test_labels)
    if td.y is None:
        raise ConfigError("training needs labels (--labels for .npy, or a label column)")
    cfg = (config or TrainConfig()).validate()
    from prunekit.data.train.recipe import STANDARDIZE, standardize as zscore, warn_if_unscaled

    X, X_test, scaling = td.X, td.X_test, None
    if STANDARDIZE.check(standardize):
        X, X_test, scaling = zscore(td.X, td.X_test)
    elif not isinstance(data, TrainingData) and Path(str(data)).exists():
        warn_if_unscaled(td.X, td.name)
    if selection is not None and rs2 is not None:
        raise ConfigError("give --selection or --rs2, not both")
    if rows is not None and (selection is not None or rs2 is not None):
        raise ConfigError("give one subset: selection, rows or rs2")
    scoring = 0.0 if scoring_seconds is None else float(scoring_seconds)
    mismatch: dict[str, Any] = {}
    if selection is not None:
        table = selection if isinstance(selection, ScoreTable) else ScoreTable.read(selection)
        forced = table.check_data(td.examples, data=td.name, force=force)
        if forced:
            mismatch["selection"] = forced
        rows = rows_from_selection(table, td.examples.ids)
        if scoring_seconds is None:
            scoring = float(sum(r.get("seconds", 0.0) for r in table.meta.get("scorers", [])))
    alpha = _alpha(kd_alpha)  # checked before any teacher is trained
    KD_TAU.check(kd_tau)
    tinfo: dict[str, Any] = {}
    T = None
    if alpha != 0.0:
        if teacher_logits is not None:
            T = teacher_logits
        else:
            # on all the data the two budgets are the same steps: one cached teacher for both
            from prunekit.data.train.trainer import TRAIN_PARAMS

            extra = dict(teacher_recipe or {})
            TRAIN_PARAMS.check_names(extra, "the teacher's recipe")
            tcfg = TrainConfig(**{**cfg.__dict__, **extra, "model": teacher_model or extra.get("model", cfg.model),
                                  "width": extra.get("width", cfg.width) if teacher_width is None else teacher_width,
                                  "budget": "steps"})
            T, tinfo = compute_teacher(X, td.y, teacher=teacher, config=tcfg, n_classes=td.n_classes,
                                       data_identity=td.examples.identity, force=force)
            if "data_mismatch" in tinfo:
                mismatch["teacher"] = tinfo["data_mismatch"]
    r = fit(X, td.y, cfg, rows=rows, rs2_keep=rs2, rs2_replace=rs2_replace, rs2_balanced=rs2_balanced,
            teacher_logits=T, kd_alpha=alpha, kd_tau=kd_tau, n_classes=td.n_classes, X_test=X_test,
            y_test=td.y_test, show_progress=show_progress)
    r.config["standardize"] = scaling  # None, or the training set's per-feature mean and std
    identity = td.examples.identity.to_dict()
    r.config["data_identity"] = identity  # saved in the checkpoint: a teacher made from it is checked
    n = len(td.examples)
    keep = rs2 if rs2 is not None else (len(rows) / n if rows is not None else 1.0)
    # kept examples per class (index = class); RS2 draws a new subset every epoch: none
    kept = None if rs2 is not None else np.bincount(
        td.y if rows is None else td.y[np.asarray(rows)], minlength=int(r.config["n_classes"]))
    metrics = {
        "keep": keep, "subset": "rs2" if rs2 is not None else ("selection" if rows is not None else "all"),
        "examples_per_epoch": r.examples_per_epoch, "steps": r.steps, "budget": cfg.budget,
        "standardize": scaling is not None,
        "test_accuracy": r.test_accuracy, "test_loss": r.test_loss,
        "scoring_seconds": scoring, "teacher_seconds": tinfo.get("seconds", 0.0),
        "train_seconds": r.seconds, "kd_alpha": r.config["kd_alpha"], "kd_tau": kd_tau,
        "config": r.config, "history": r.history, "data_identity": identity,
    }
    if mismatch:
        metrics["data_mismatch"] = mismatch
    def path_of(x):
        return x if isinstance(x, (str, os.PathLike)) and Path(x).exists() else None

    inputs = (("data", path_of(data)), ("selection", path_of(selection)), ("labels", path_of(labels)),
              ("test data", path_of(test)), ("test labels", path_of(test_labels)), ("teacher", path_of(teacher)))
    return SubsetRun(r, metrics, kept, inputs)
