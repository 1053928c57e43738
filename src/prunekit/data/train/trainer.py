"""A small, deterministic PyTorch trainer for classifiers over arrays.

It is a convenience: recording, KD and RS2 all work from a user's own loop too (``Recorder``,
``kd_loss``, ``RS2``). Learning-rate schedules are functions of the optimizer step over the
*total* number of steps, so subsets, RS2 and full data are scheduled alike.

Compute budgets (``budget``):
- ``"steps"`` (the default, in every command): as many optimizer steps as ``epochs`` passes over
  the *full* data would take, whatever the subset size (CCS's protocol) — methods are compared at
  equal compute, so a difference in accuracy comes from *which* examples were kept;
- ``"epochs"``: ``epochs`` passes over what is trained on — fewer steps on smaller subsets.

Algorithm and parameters: docs/ALGORITHMS.md §3.1.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from prunekit._progress import progress
from prunekit.data.train.models import make_model
from prunekit.data.train.sampling import RS2, FixedSubset
from prunekit.errors import ConfigError, InputError, require
# One implementation for both pillars; imported here by fit and re-exported (kd.py, subset.py, __init__).
from prunekit.nn import evaluate, load_checkpoint, predict_logits, resolve_device, save_checkpoint  # noqa: F401
from prunekit.nn import params as P
from prunekit.nn.factory import ModelParam, is_factory, load_factory
from prunekit.params import Param, Spec

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "onecycle", "step", "constant")
BUDGETS = ("epochs", "steps")


def _model_names() -> tuple[str, ...]:
    from prunekit.data.train.models import MODELS

    return tuple(MODELS)


#: the training recipe, declared once: ``TrainConfig``, ``prunekit data train`` and sweep/plan configs
TRAIN_PARAMS = Spec(
    ModelParam("model", "choice", default="mlp", choices=_model_names,
               help="Classifier: a built-in, or your factory 'module:function' called with (dim, n_classes, seed)"),
    P.WIDTH,
    P.DEPTH,
    dataclasses.replace(P.EPOCHS, help="Epochs (see budget)"),
    P.BATCH_SIZE,
    Param("optimizer", "choice", default="sgd", choices=OPTIMIZERS, help="Optimizer"),
    P.LR,
    P.MOMENTUM,
    P.WEIGHT_DECAY,
    Param("schedule", "choice", default="cosine", choices=SCHEDULES,
          help="Learning-rate schedule over the total number of steps (onecycle: warm-up over 30%, then cosine)"),
    Param("budget", "choice", default="steps", choices=BUDGETS,
          help="steps: as many steps as epochs over the full data, whatever the subset; epochs: fewer steps on "
               "smaller subsets"),
    P.DEVICE,
    P.SEED,
)


@dataclass
class TrainConfig:
    model: str = "mlp"
    width: int = 1
    depth: int = 2
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    budget: str = "steps"
    device: str = "cpu"
    seed: int = 0

    def validate(self) -> "TrainConfig":
        for p in TRAIN_PARAMS:
            p.check(getattr(self, p.name))
        if is_factory(self.model):  # imported now: a bad path is refused before any training
            load_factory(self.model)
        resolve_device(self.device)
        return self


@dataclass
class TrainResult:
    model: Any
    history: list[dict[str, float]]
    steps: int
    seconds: float
    config: dict[str, Any]
    examples_per_epoch: int
    test_accuracy: float | None = None
    test_loss: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def kd_alpha_auto(keep: float) -> float:
    """Default KD weight α(keep) = clip(1 − keep, 0.25, 0.9) — our default, not the paper's: the
    paper finds the best α grows as the kept fraction shrinks."""
    return float(np.clip(1.0 - keep, 0.25, 0.9))


def kd_loss(student_logits, labels, teacher_logits, alpha: float, tau: float):
    """(1 − α)·CE(y, s) + α·τ²·KL(softmax(t/τ) ‖ softmax(s/τ)); exactly CE when α = 0."""
    torch = require("torch", "torch")
    F = torch.nn.functional
    ce = F.cross_entropy(student_logits, labels)
    if alpha == 0 or teacher_logits is None:
        return ce
    kl = F.kl_div(
        F.log_softmax(student_logits / tau, dim=1), F.log_softmax(teacher_logits / tau, dim=1),
        reduction="batchmean", log_target=True,
    )
    return (1.0 - alpha) * ce + alpha * tau * tau * kl


def _lr_lambda(schedule: str, total: int) -> Callable[[int], float]:
    if schedule == "cosine":
        return lambda t: 0.5 * (1.0 + math.cos(math.pi * min(t, total) / total))
    if schedule == "onecycle":  # linear warm-up from lr/25 over 30% of the steps, then cosine to 0
        warm = max(1, int(0.3 * total))
        return lambda t: (0.04 + 0.96 * t / warm if t < warm
                          else 0.5 * (1.0 + math.cos(math.pi * min(t - warm, total - warm) / max(1, total - warm))))
    if schedule == "step":
        return lambda t: 0.1 ** ((t >= 0.5 * total) + (t >= 0.75 * total))
    return lambda t: 1.0


def check_labels(y: np.ndarray, n_classes: int) -> None:
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        bad = y[(y < 0) | (y >= n_classes)][0]
        raise InputError(f"label {int(bad)} is outside [0, {n_classes}) (the number of classes)")


def fit(
    X: np.ndarray,
    y: np.ndarray,
    config: TrainConfig | None = None,
    *,
    rows: np.ndarray | None = None,
    rs2_keep: float | None = None,
    rs2_replace: bool = False,
    rs2_balanced: bool = False,
    teacher_logits: np.ndarray | None = None,
    kd_alpha: float | str = 0.0,
    kd_tau: float = 4.0,
    n_classes: int | None = None,
    recorder=None,
    X_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    model=None,
    show_progress: bool | None = None,
) -> TrainResult:
    """Train a classifier on rows of (X, y).

    ``rows``: the kept subset (row numbers; default all). ``rs2_keep``: instead of a fixed subset,
    train on a fresh random ``rs2_keep`` fraction of all rows every epoch (RS2).
    ``teacher_logits`` (N, C) for all rows + ``kd_alpha`` (a number, or ``"auto"`` =
    ``kd_alpha_auto(keep)``) + ``kd_tau`` enable distillation. ``recorder.record(indices, logits,
    labels, epoch)`` is called on every batch. Returns the model, per-epoch history and costs."""
    torch = require("torch", "torch")
    cfg = (config or TrainConfig()).validate()
    X = np.asarray(X)
    y = np.asarray(y, dtype=np.int64)
    n = len(X)
    if n == 0:
        raise InputError("no training examples")
    if len(y) != n:
        raise InputError(f"labels and examples have different lengths ({len(y)} vs {n})")
    C = int(n_classes if n_classes is not None else y.max() + 1)
    check_labels(y, C)
    if rows is not None and rs2_keep is not None:
        raise ConfigError("give either rows (a fixed subset) or rs2_keep (RS2), not both")
    if rs2_keep is not None:
        if not (0 < rs2_keep <= 1):
            raise ConfigError(f"the RS2 fraction (--rs2 / rs2_keep) must be in (0, 1], got {rs2_keep}")
        per_epoch = max(1, int(math.floor(rs2_keep * n + 0.5)))
        sampler = RS2(n, per_epoch, replace=rs2_replace, labels=y, balanced=rs2_balanced, seed=cfg.seed)
        keep = rs2_keep
    else:
        rows = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= n):
            raise InputError(f"subset row numbers must be in [0, {n})")
        sampler = FixedSubset(rows, seed=cfg.seed)
        keep = len(rows) / n
    if kd_alpha == "auto":
        kd_alpha = kd_alpha_auto(keep)
    try:
        kd_alpha = float(kd_alpha)
    except (TypeError, ValueError):
        raise ConfigError(f"kd_alpha must be a number in [0, 1] or 'auto', got {kd_alpha!r}") from None
    if not 0.0 <= kd_alpha <= 1.0:
        raise ConfigError(f"kd_alpha must be in [0, 1] or 'auto', got {kd_alpha}")
    if kd_alpha > 0:
        if teacher_logits is None:
            raise ConfigError("kd_alpha > 0 needs teacher_logits (or a teacher)")
        teacher_logits = np.asarray(teacher_logits, dtype=np.float32)
        if teacher_logits.shape != (n, C):
            raise InputError(
                f"teacher logits have shape {teacher_logits.shape}; expected ({n}, {C}) — "
                "one row per example and one column per class"
            )
        if kd_tau <= 0:
            raise ConfigError(f"kd_tau must be > 0, got {kd_tau}")

    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    net = model if model is not None else make_model(cfg.model, X.shape[1], C, seed=cfg.seed, width=cfg.width,
                                                                 depth=cfg.depth)
    net.to(device).train()
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    per_epoch = sampler.per_epoch
    steps_per_epoch = math.ceil(per_epoch / cfg.batch_size)
    if cfg.budget == "epochs":
        total_steps = cfg.epochs * steps_per_epoch
    else:
        total_steps = cfg.epochs * math.ceil(n / cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg.schedule, total_steps))

    Xt = torch.from_numpy(np.array(X, dtype=np.float32, order="C", copy=True))
    yt = torch.from_numpy(np.array(y, dtype=np.int64))  # a private copy: inputs may be read-only
    Tt = torch.from_numpy(np.array(teacher_logits, dtype=np.float32)) if kd_alpha > 0 else None
    history: list[dict[str, float]] = []
    step = 0
    t0 = time.perf_counter()
    epoch = 0
    with progress(total_steps, f"training {cfg.model} ({total_steps} steps)", show_progress) as advance:
        while step < total_steps:
            idx = sampler.epoch(epoch)
            loss_sum, correct, seen = 0.0, 0, 0
            for s in range(0, len(idx), cfg.batch_size):
                if step >= total_steps:
                    break
                bi = torch.from_numpy(idx[s : s + cfg.batch_size])
                xb, yb = Xt[bi].to(device), yt[bi].to(device)
                logits = net(xb)
                tb = Tt[bi].to(device) if Tt is not None else None
                loss = kd_loss(logits, yb, tb, kd_alpha, kd_tau)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                if recorder is not None:
                    recorder.record(bi, logits.detach(), yb, epoch)
                loss_sum += float(loss.detach()) * len(bi)
                correct += int((logits.detach().argmax(1) == yb).sum())
                seen += len(bi)
                advance(1)
            row = {"epoch": epoch, "step": step, "train_loss": loss_sum / max(1, seen),
                   "train_accuracy": correct / max(1, seen), "lr": float(sched.get_last_lr()[0])}
            if X_test is not None and y_test is not None:
                row["test_accuracy"], row["test_loss"] = evaluate(net, X_test, y_test, device=device)
            history.append(row)
            epoch += 1
    seconds = time.perf_counter() - t0
    res = TrainResult(net, history, step, seconds, {**asdict(cfg), "kd_alpha": kd_alpha, "kd_tau": kd_tau,
                                                    "rs2_keep": rs2_keep, "n_classes": C, "dim": int(X.shape[1])},
                      per_epoch)
    if history and "test_accuracy" in history[-1]:
        res.test_accuracy, res.test_loss = history[-1]["test_accuracy"], history[-1]["test_loss"]
    return res


def rows_from_selection(table, ids):
    """Row numbers (into data whose ids are ``ids``) of the examples a selection table keeps:
    an (M,) int64 array, sorted."""
    if table.keep is None:
        raise InputError("the subset artefact has no selection (keep column): run select first")
    kept = table.ids[table.keep]
    pos = {v: i for i, v in enumerate(np.asarray(ids).tolist())}
    missing = [v for v in kept.tolist() if v not in pos]
    if missing:
        raise InputError(f"{len(missing)} kept ids of the subset are not in the data (e.g. {missing[0]!r})")
    if len(kept) == 0:
        raise InputError("the subset keeps no examples (keep budget zero)")
    return np.sort(np.array([pos[v] for v in kept.tolist()], dtype=np.int64))
