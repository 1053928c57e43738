"""Feature standardisation: an option of every training command (``standardize``), and the
one-line warning when a user's features look unscaled.

``standardize = true`` z-scores every feature with the **training** set's mean and standard
deviation (constant features are only centred) and applies the same transform to the test data.
The transform is part of the run: the metrics (and a trained checkpoint's config) record the
mean and standard deviation, so a model can be used on new data the same way.
"""

from __future__ import annotations

import warnings

import numpy as np

from prunekit.params import Param

__all__ = ["STANDARDIZE", "UnscaledFeaturesWarning", "looks_unscaled", "standardize", "warn_if_unscaled"]

STANDARDIZE = Param("standardize", bool, default=False,
                    help="z-score every feature with the training set's mean and std (test data alike)")


class UnscaledFeaturesWarning(UserWarning):
    """The features of a training file look unscaled and ``standardize`` is off."""


def looks_unscaled(X: np.ndarray, sample: int = 20_000) -> str:
    """Why ``X`` looks unscaled ('' when it does not), from the per-feature ranges (max − min) of the
    non-constant features on at most ``sample`` rows: ranges that differ by more than 100× between the
    10th and 90th percentile feature (e.g. an income next to an age), typical ranges above 1000 or
    below 0.001, or typical feature means more than 10 typical ranges away from 0. Pixels in [0, 1]
    or [0, 255] and z-scored or min–max-scaled features pass."""
    X = np.asarray(X[:sample], dtype=np.float64)
    if X.ndim != 2 or len(X) < 2:
        return ""
    rng = X.max(axis=0) - X.min(axis=0)
    live = rng > 0
    if not live.any():
        return ""
    lo, mid, hi = np.percentile(rng[live], [10, 50, 90])
    if hi / lo > 100:
        return f"feature ranges differ by {hi / lo:.0f}× ({lo:.3g} to {hi:.3g}, 10th–90th percentile)"
    if not 1e-3 <= mid <= 1e3:
        return f"the typical feature range is {mid:.3g}"
    typical_mean = float(np.median(np.abs(X.mean(axis=0)[live])))
    if typical_mean > 10 * mid:
        return f"features are offset (typical |mean| {typical_mean:.3g} vs typical range {mid:.3g})"
    return ""


def warn_if_unscaled(X: np.ndarray, name: str) -> None:
    """One warning line when ``X`` (the training features of ``name``) looks unscaled."""
    why = looks_unscaled(X)
    if why:
        warnings.warn(f"the features of {name} look unscaled ({why}); set standardize = true "
                      "(--standardize) to z-score them", UnscaledFeaturesWarning, stacklevel=2)


def standardize(X: np.ndarray, X_test: np.ndarray | None = None):
    """(X z-scored, X_test with the same transform or None, {"mean": [...], "std": [...]}) as float32;
    the mean and std are the training set's (a constant feature keeps std 1: only centred)."""
    X64 = np.asarray(X, dtype=np.float64)
    mean = X64.mean(axis=0)
    std = X64.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    Xs = ((X64 - mean) / std).astype(np.float32)
    Xt = None if X_test is None else ((np.asarray(X_test, dtype=np.float64) - mean) / std).astype(np.float32)
    return Xs, Xt, {"mean": mean.tolist(), "std": std.tolist()}
