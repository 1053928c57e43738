"""Scaling curves: test error as a power law of the number of training examples.

``fit_power_law(n, err)`` fits ``err ≈ a · n^(−b)`` by least squares on ``log err = log a − b log n``
(the straight line of a log–log plot). Points with ``err ≤ 0`` have no logarithm and are dropped
(a perfect score says nothing about the slope); ``b > 0`` means error falls as data grows.

Algorithm and parameters: docs/ALGORITHMS.md §3.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prunekit.errors import InputError


@dataclass(frozen=True)
class PowerLaw:
    """``err ≈ a · n^(−b)``; ``r2`` is the coefficient of determination in log–log space and
    ``n_points`` the number of points the fit used."""

    a: float
    b: float
    r2: float
    n_points: int

    def predict(self, n) -> np.ndarray:
        return self.a * np.asarray(n, dtype=np.float64) ** (-self.b)


def fit_power_law(n, err) -> PowerLaw:
    """Fit ``err ≈ a · n^(−b)``. ``n``: (P,) example counts > 0; ``err``: (P,) errors (e.g. 1 −
    accuracy), finite, ≥ 0. Needs at least two points with ``err > 0`` at two different ``n``."""
    n = np.asarray(n, dtype=np.float64).reshape(-1) if np.ndim(n) else np.asarray([n], dtype=np.float64)
    err = np.asarray(err, dtype=np.float64).reshape(-1) if np.ndim(err) else np.asarray([err], dtype=np.float64)
    if n.shape != err.shape:
        raise InputError(f"n and err must have the same length, got {len(n)} and {len(err)}")
    if not (np.all(np.isfinite(n)) and np.all(np.isfinite(err))):
        raise InputError("n and err must be finite (no NaN or inf)")
    if np.any(n <= 0):
        raise InputError(f"n must be > 0 (numbers of examples), got {float(n[n <= 0][0])}")
    if np.any(err < 0):
        raise InputError(f"err must be ≥ 0, got {float(err[err < 0][0])}")
    ok = err > 0
    x, y = np.log(n[ok]), np.log(err[ok])
    if len(x) < 2 or np.ptp(x) == 0:
        raise InputError("a power-law fit needs at least two points with err > 0 at different n")
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (intercept + slope * x)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid ** 2)) / ss_tot if ss_tot > 0 else 1.0
    return PowerLaw(a=float(np.exp(intercept)), b=float(-slope), r2=r2, n_points=int(len(x)))


__all__ = ["PowerLaw", "fit_power_law"]
