"""Teachers for knowledge distillation on pruned data (Ben-Baruch et al.).

A teacher is trained on the **full** data (by prunekit, cached on disk by configuration and data
checksum), loaded from a prunekit checkpoint, or any callable mapping a float32 batch (B, D) to
logits (B, C). Its logits for every training example are computed **once** (N × C) and then
indexed per batch — never recomputed per epoch.

Algorithm and parameters: docs/ALGORITHMS.md §3.2.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

from prunekit.data.train.trainer import TrainConfig, fit, load_checkpoint, predict_logits
from prunekit.errors import ConfigError, InputError, require
from prunekit.io.cache import cached_array, checksum_arrays


def _call_teacher(fn: Callable, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    torch = require("torch", "torch")
    out = []
    with torch.no_grad():
        for s in range(0, len(X), batch_size):
            z = fn(torch.from_numpy(np.array(X[s : s + batch_size], dtype=np.float32)))
            z = z.detach().cpu().numpy() if hasattr(z, "detach") else np.asarray(z)
            out.append(np.asarray(z, dtype=np.float32))
    return np.concatenate(out)


def teacher_logits(
    X: np.ndarray,
    y: np.ndarray,
    *,
    teacher: str | Path | Callable | None = None,
    config: TrainConfig | None = None,
    n_classes: int | None = None,
    cache: bool = True,
    show_progress: bool | None = None,
    data_identity=None,
    force: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    """(N, C) teacher logits for every row of X, and a description with the teacher's cost.

    ``teacher``: None → train ``config`` (default: the student's) on all of (X, y); a path → a
    prunekit checkpoint (refused if it records a data identity other than ``data_identity``, unless
    ``force``); a callable/nn.Module → called once over X in batches."""
    y = np.asarray(y, dtype=np.int64)
    C = int(n_classes if n_classes is not None else y.max() + 1)
    t0 = time.perf_counter()
    info: dict[str, Any] = {}
    if teacher is None:
        cfg = (config or TrainConfig()).validate()
        key = {"kind": "teacher-logits", "config": asdict(cfg), "n_classes": C,
               "data": checksum_arrays(np.asarray(X, dtype=np.float32), y)}
        trained: dict[str, Any] = {}

        def compute() -> np.ndarray:
            r = fit(X, y, cfg, n_classes=C, show_progress=show_progress)
            trained["seconds"] = r.seconds
            return predict_logits(r.model, X)

        logits = cached_array(key, compute, name="teacher") if cache else compute()
        info = {"teacher": "trained on all data", "config": asdict(cfg),
                "train_seconds": trained.get("seconds", 0.0), "cached": "seconds" not in trained}
    elif isinstance(teacher, (str, Path)):
        model, cfg = load_checkpoint(teacher)
        forced = None
        if data_identity is not None:
            from prunekit.io.identity import check_identity

            forced = check_identity(cfg.get("data_identity"), data_identity, artefact=f"teacher {teacher}",
                                    data="the training data", force=force)
        if cfg.get("dim") != X.shape[1]:
            raise InputError(f"teacher {teacher} expects {cfg.get('dim')} features; the data has {X.shape[1]}")
        logits = predict_logits(model, X)
        info = {"teacher": str(teacher), "config": cfg}
        if forced:
            info["data_mismatch"] = forced
    elif callable(teacher):
        logits = _call_teacher(teacher, X)
        info = {"teacher": type(teacher).__name__}
    else:
        raise ConfigError("teacher must be None, a checkpoint path or a callable returning logits")
    logits = np.asarray(logits, dtype=np.float32)
    if logits.ndim != 2 or logits.shape[0] != len(X):
        raise InputError(f"the teacher returned shape {logits.shape}; expected ({len(X)}, {C})")
    if logits.shape[1] != C:
        raise InputError(f"the teacher has {logits.shape[1]} classes but the data has {C}")
    info["seconds"] = time.perf_counter() - t0
    return logits, info

