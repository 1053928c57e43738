"""Schedules as pure functions of the optimizer step ``t`` (number of optimizer steps taken), plus
thin frozen wrappers that carry their parameters.

- :func:`cubic_sparsity` — Zhu & Gupta's gradual schedule used by GMP and GraNet:
  ``s_t = s_f + (s_i − s_f)·(1 − (t − t0)/(tf − t0))³``, clamped to ``s_i`` before ``t0`` and to
  ``s_f`` after ``tf``. Sparsity is the *removed* fraction here (density = 1 − s).
- :func:`prune_steps` / :func:`is_prune_step` — pruning happens at ``t0, t0+ΔT, t0+2ΔT, … < tf``
  and at ``tf`` itself, so the final sparsity is reached exactly at ``tf``.
- :func:`cosine_decay` — drop fraction of dynamic sparse training: from ``start`` to ``end`` by a
  half cosine over ``[0, t_end]``, constant afterwards (GraNet: 0.5 → 0.005 over the whole run;
  RigL: 0.3 → 0 at 75 % of training, no updates after).
- :func:`lth_rounds` — rounds of iterative magnitude pruning at a fixed rate per round.

Algorithm and parameters: docs/ALGORITHMS.md §5.3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from prunekit.errors import ConfigError

__all__ = [
    "cubic_sparsity", "prune_steps", "is_prune_step", "cosine_decay", "lth_rounds",
    "CubicSchedule", "CosineDecay", "check_steps",
]


def _int(x, what: str, *, minimum: int = 0) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or x != int(x):
        raise ConfigError(f"{what} must be an integer number of optimizer steps, got {x!r}")
    x = int(x)
    if x < minimum:
        raise ConfigError(f"{what} must be >= {minimum}, got {x}")
    return x


def _frac(x, what: str, *, upper_open: bool = False) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a number in [0, 1{')' if upper_open else ']'}, got {x!r}") from None
    ok = 0.0 <= v < 1.0 if upper_open else 0.0 <= v <= 1.0
    if not ok or math.isnan(v):
        raise ConfigError(f"{what} must be in [0, 1{')' if upper_open else ']'}, got {x!r}")
    return v


def check_steps(t_start, t_end, what: str = "schedule") -> tuple[int, int]:
    """Validate a step window; ``ConfigError`` when it ends before it starts."""
    t0 = _int(t_start, f"{what} start")
    tf = _int(t_end, f"{what} end")
    if tf < t0:
        raise ConfigError(f"{what} ends before it starts: end step {tf} < start step {t0}")
    return t0, tf


def cubic_sparsity(t: int, *, s_initial: float, s_final: float, t_start: int, t_end: int) -> float:
    """Sparsity (removed fraction) at optimizer step ``t`` on the cubic schedule, in [0, 1).

    ``t_end == t_start`` is a one-shot schedule: ``s_initial`` before, ``s_final`` from ``t_start``.
    """
    s_i = _frac(s_initial, "s_initial", upper_open=True)
    s_f = _frac(s_final, "s_final", upper_open=True)
    t0, tf = check_steps(t_start, t_end)
    if t < t0:
        return s_i
    if t >= tf:
        return s_f
    return s_f + (s_i - s_f) * (1.0 - (t - t0) / (tf - t0)) ** 3


def prune_steps(t_start: int, t_end: int, delta_t: int) -> list[int]:
    """The steps at which the cubic schedule prunes: ``t0 + k·ΔT < tf``, then ``tf``."""
    t0, tf = check_steps(t_start, t_end)
    dt = _int(delta_t, "delta_t (steps between updates)", minimum=1)
    return list(range(t0, tf, dt)) + [tf]


def is_prune_step(t: int, t_start: int, t_end: int, delta_t: int) -> bool:
    """True when ``t`` is one of :func:`prune_steps` (O(1), no list)."""
    t0, tf = check_steps(t_start, t_end)
    dt = _int(delta_t, "delta_t (steps between updates)", minimum=1)
    return t == tf or (t0 <= t < tf and (t - t0) % dt == 0)


def cosine_decay(t: int, *, start: float, end: float, t_end: int) -> float:
    """``end + (start − end)·(1 + cos(π·min(t, t_end)/t_end))/2``: ``start`` at 0, ``end`` from
    ``t_end`` on. Used for the drop fraction of drop-and-regrow (a fraction of a layer's active
    weights)."""
    a = _frac(start, "cosine start")
    b = _frac(end, "cosine end")
    T = _int(t_end, "cosine decay length", minimum=1)
    x = min(max(t, 0), T) / T
    return b + (a - b) * 0.5 * (1.0 + math.cos(math.pi * x))


def lth_rounds(target_sparsity: float, rate: float = 0.2) -> int:
    """Rounds of iterative magnitude pruning, each removing ``rate`` of the surviving weights,
    needed to reach ``target_sparsity``: the smallest R with ``(1 − rate)^R ≤ 1 − target``.

    90/95/98/99 % at rate 0.2 → 11/14/18/21 rounds. Sparsity 0 → 0 rounds.
    """
    s = _frac(target_sparsity, "target sparsity", upper_open=True)
    r = _frac(rate, "pruning rate per round", upper_open=True)
    if r == 0.0:
        raise ConfigError("pruning rate per round must be > 0")
    if s == 0.0:
        return 0
    R = math.log(1.0 - s) / math.log(1.0 - r)
    # Round-off guard: (0.8)^R landing exactly on the target must not cost an extra round.
    return max(1, math.ceil(R - 1e-9))


@dataclass(frozen=True)
class CubicSchedule:
    """Cubic sparsity schedule from ``s_initial`` to ``s_final`` over steps ``[t_start, t_end]``,
    pruning every ``delta_t`` steps (see :func:`prune_steps`)."""

    s_initial: float
    s_final: float
    t_start: int
    t_end: int
    delta_t: int

    def __post_init__(self) -> None:
        _frac(self.s_initial, "s_initial", upper_open=True)
        _frac(self.s_final, "s_final", upper_open=True)
        check_steps(self.t_start, self.t_end)
        _int(self.delta_t, "delta_t (steps between updates)", minimum=1)
        if self.s_final < self.s_initial:
            raise ConfigError(f"final sparsity {self.s_final} is below the initial {self.s_initial}: "
                              "gradual pruning only removes weights")

    def sparsity(self, t: int) -> float:
        return cubic_sparsity(t, s_initial=self.s_initial, s_final=self.s_final,
                              t_start=self.t_start, t_end=self.t_end)

    def density(self, t: int) -> float:
        return 1.0 - self.sparsity(t)

    def is_prune_step(self, t: int) -> bool:
        return is_prune_step(t, self.t_start, self.t_end, self.delta_t)

    def steps(self) -> list[int]:
        return prune_steps(self.t_start, self.t_end, self.delta_t)


@dataclass(frozen=True)
class CosineDecay:
    """Cosine decay of a fraction from ``start`` to ``end`` over ``[0, t_end]``."""

    start: float
    end: float
    t_end: int

    def __post_init__(self) -> None:
        cosine_decay(0, start=self.start, end=self.end, t_end=self.t_end)  # validates

    def __call__(self, t: int) -> float:
        return cosine_decay(t, start=self.start, end=self.end, t_end=self.t_end)
