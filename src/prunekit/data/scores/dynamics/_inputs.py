"""Input checks shared by the recorder and the gradient norms: torch on demand, integer vectors."""

from __future__ import annotations

from typing import Any

import numpy as np

from prunekit.errors import InputError, require


def load_torch():
    """The torch module, or ``MissingDependencyError`` with the pip line that installs it."""
    return require("torch", "torch")


def is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def to_numpy_1d(name: str, a: Any) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor on any device
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.ndim != 1:
        raise InputError(f"{name} must be a 1-D array, got shape {a.shape}")
    return a


def as_int_vector(name: str, a: Any, n: int, upper: int, what: str) -> np.ndarray:
    a = to_numpy_1d(name, a)
    if a.dtype.kind not in "iu":
        if a.dtype.kind == "f" and a.size and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
            a = a.astype(np.int64)
        elif a.size:
            raise InputError(f"{name} must be integers, got dtype {a.dtype}")
        else:
            a = a.astype(np.int64)
    if len(a) != n:
        raise InputError(f"{name} has {len(a)} entries but the batch has {n} rows of logits")
    if a.size:
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi >= upper:
            bad = int(a[(a < 0) | (a >= upper)][0])
            raise InputError(f"{name} must lie in [0, {upper}) ({what}); got {bad}")
    return a.astype(np.int64, copy=False)
