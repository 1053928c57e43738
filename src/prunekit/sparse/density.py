"""Layer densities as pure functions of the layer shapes: uniform and ERK.

Densities are **kept** fractions in (0, 1] (density = 1 − sparsity). Inputs are ``{name: shape}``
of the sparsifiable weight tensors only: **biases are not counted** — they are never sparsified,
and the overall density is the kept fraction of the *weights* (with biases counted as dense, the
ERK fixture below would come out at fc1 0.078, not 0.080).

ERK (Erdős–Rényi-Kernel, Evci et al. 2020; GraNet's code): the raw score of a layer is
``sum(shape) / prod(shape)`` — ``(n_in + n_out) / (n_in·n_out)`` for a Linear weight,
``(c_out + c_in + k_h + k_w) / (c_out·c_in·k_h·k_w)`` for a Conv2d one. Densities are ``ε·raw``
with one ε chosen so that the total number of kept weights is ``density · Σ numel``; a layer whose
density would exceed 1 is made dense and ε is re-solved over the others (largest raw score first,
one at a time, as in RigL's code). Fixture: LeNet-300-100 (784-300-100-10) at density 0.1 gives
fc1 0.0796, fc2 0.2302, fc3 1.0.

Algorithm and parameters: docs/ALGORITHMS.md §5.2.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Iterable, Mapping, Sequence

from prunekit.errors import ConfigError, InputError

__all__ = ["erk_densities", "uniform_densities", "kept_counts", "check_density"]


def check_density(density: float, what: str = "density") -> float:
    """Validate a density (kept fraction) in (0, 1]; returns it as float."""
    try:
        d = float(density)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a number in (0, 1], got {density!r}") from None
    if not (0.0 < d <= 1.0) or math.isnan(d):
        raise ConfigError(f"{what} must be in (0, 1] (the fraction of weights kept), got {density!r}")
    return d


def _check_shapes(shapes: Mapping[str, Sequence[int]]) -> "OrderedDict[str, tuple[int, ...]]":
    if not isinstance(shapes, Mapping) or not shapes:
        raise InputError("shapes must be a non-empty mapping {layer name: weight shape}")
    out = OrderedDict()
    for n, s in shapes.items():
        s = tuple(int(x) for x in s)
        if not s or any(x <= 0 for x in s):
            raise InputError(f"layer {n!r} has an invalid shape {s}")
        out[n] = s
    return out


def _check_inputs(shapes, density, dense):
    """(validated shapes, validated density, the set of layers kept dense — all among the shapes)."""
    shapes = _check_shapes(shapes)
    d = check_density(density)
    dense = set(dense)
    unknown = dense - set(shapes)
    if unknown:
        raise ConfigError(f"dense layers not among the shapes: {', '.join(sorted(unknown))}")
    return shapes, d, dense


def _numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def uniform_densities(shapes: Mapping[str, Sequence[int]], density: float, *,
                      dense: Iterable[str] = ()) -> "OrderedDict[str, float]":
    """The same density for every layer, except the ``dense`` ones (1.0); the others are re-solved
    so that the overall kept fraction of the weights is still ``density``.

    Raises ``ConfigError`` when the dense layers alone hold more than ``density`` of the weights.
    """
    shapes, d, dense = _check_inputs(shapes, density, dense)
    total = sum(_numel(s) for s in shapes.values())
    n_dense = sum(_numel(shapes[n]) for n in dense)
    rest = total - n_dense
    if rest == 0:
        return OrderedDict((n, 1.0) for n in shapes)
    d_rest = (d * total - n_dense) / rest
    if d_rest <= 0:
        raise ConfigError(f"density {d} is too low: the dense layers ({', '.join(sorted(dense))}) alone "
                          f"hold {n_dense / total:.4f} of the weights")
    return OrderedDict((n, 1.0 if n in dense else min(1.0, d_rest)) for n in shapes)


def erk_densities(shapes: Mapping[str, Sequence[int]], density: float, *,
                  dense: Iterable[str] = ()) -> "OrderedDict[str, float]":
    """ERK layer densities for an overall weight density ``density`` (see the module docstring).

    Args:
        shapes: ``{name: weight shape}`` of the sparsified tensors (no biases).
        density: overall kept fraction of their weights, in (0, 1].
        dense: layers forced dense before solving.

    Returns ``{name: density in (0, 1]}`` in the order of ``shapes``.
    """
    shapes, d, dense = _check_inputs(shapes, density, dense)
    numel = {n: _numel(s) for n, s in shapes.items()}
    raw = {n: sum(s) / numel[n] for n, s in shapes.items()}
    target = d * sum(numel.values())
    while True:
        free = [n for n in shapes if n not in dense]
        if not free:
            break
        budget = target - sum(numel[n] for n in dense)
        if budget <= 0:
            raise ConfigError(f"density {d} is too low for the dense layers {', '.join(sorted(dense))}")
        eps = budget / sum(raw[n] * numel[n] for n in free)
        top = max(raw[n] for n in free)
        if eps * top <= 1.0:
            break
        # Only the layer(s) with the largest raw score go dense per pass: making every overflowing
        # layer dense at once can overshoot, since ε grows again after each re-solve.
        dense.update(n for n in free if raw[n] == top)
    return OrderedDict((n, 1.0 if n in dense else eps * raw[n]) for n in shapes)


def kept_counts(shapes: Mapping[str, Sequence[int]], densities: Mapping[str, float]) -> "OrderedDict[str, int]":
    """Number of kept weights per layer: ``round(density · numel)``, at least 1 and at most numel."""
    shapes = _check_shapes(shapes)
    out = OrderedDict()
    for n, s in shapes.items():
        if n not in densities:
            raise InputError(f"no density for layer {n!r}")
        k = _numel(s)
        out[n] = max(1, min(k, int(round(float(densities[n]) * k))))
    return out
