"""The selector contract: scores (+ labels / clusters / duplicates) and a budget → a keep mask and a
reason for every dropped example.

Budgets are exact: ``keep=0.3`` of 1000 keeps exactly 300 (``round(keep · N)``, at least 1);
``count=`` keeps exactly that many. Ties are broken deterministically (by score, then by row).
Randomness comes from ``seed`` only. Reasons read ``"<category>: <detail>"`` so they can be
counted by category.

Dedup-then-select (DBP's order): with ``dedup=True`` the examples whose ``duplicate_of`` is set are
dropped first ("duplicate: …") and the selector fills the budget — still counted on the full N —
from the rest.

Algorithm and parameters: docs/ALGORITHMS.md §2.1–§2.2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prunekit.data.registry import Component, Registry
from prunekit.data.table import ScoreTable
from prunekit.errors import ConfigError, InputError
from prunekit.params import Param


@dataclass
class Selection:
    keep: np.ndarray  # (N,) bool
    reason: np.ndarray  # (N,) object: str for dropped rows, None for kept
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def indices(self) -> np.ndarray:
        return np.flatnonzero(self.keep)


KEEP = Param("keep", float, low=0.0, low_open=True, high=1.0, default=None, none_means="give count instead",
             help="Fraction of the examples kept")
COUNT = Param("count", int, low=1, default=None, none_means="give keep instead",
              help="Number of examples kept (instead of keep)")


def budget(n: int, keep: float | None = None, count: int | None = None) -> int:
    """Exact number of examples to keep from a fraction (0, 1] or a count in [1, n]."""
    if (keep is None) == (count is None):
        raise ConfigError("give exactly one of keep (a fraction in (0, 1]) or count")
    if count is not None:
        count = COUNT.check(count)
        if count > n:
            raise ConfigError(f"count must be between 1 and the number of examples ({n}), got {count}")
        return count
    return max(1, min(n, int(math.floor(KEEP.check(keep) * n + 0.5))))


def ranked(rows: np.ndarray, values: np.ndarray, *, descending: bool) -> np.ndarray:
    """``rows`` ordered by ``values[rows]`` (descending or ascending), ties by row number."""
    v = values[rows]
    return rows[np.lexsort((rows, -v if descending else v))]


def waterfill(sizes: np.ndarray, m: int) -> np.ndarray:
    """Split ``m`` over groups: visit groups from least to most populated (ties by index) and give
    each ``min(size, remaining // groups_left)`` — CCS's rule, also used for equal class quotas."""
    sizes = np.asarray(sizes, dtype=np.int64)
    out = np.zeros_like(sizes)
    remaining = int(m)
    order = np.lexsort((np.arange(len(sizes)), sizes))
    for left, g in zip(range(len(order), 0, -1), order):
        out[g] = min(int(sizes[g]), remaining // left)
        remaining -= int(out[g])
    if remaining:
        raise InputError(f"cannot place {m} examples in groups holding {int(sizes.sum())}")
    return out


def proportional(sizes: np.ndarray, m: int) -> np.ndarray:
    """Largest-remainder split of ``m`` proportional to ``sizes`` (exact total; ties by index)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    total = int(sizes.sum())
    raw = sizes * (m / total)
    out = np.floor(raw).astype(np.int64)
    rest = m - int(out.sum())
    if rest:
        frac = raw - out
        frac[out >= sizes] = -1.0  # a full group cannot take more
        order = np.lexsort((np.arange(len(sizes)), -frac))
        out[order[:rest]] += 1
    return out


class Selector(Component):
    """Base class: subclasses set ``name``, ``summary``, ``spec`` (their parameters) and implement
    ``_select(table, pool, m, rng, p)`` returning ``(kept rows, drops)`` for the rows of ``pool``,
    where ``p`` holds the parameters checked against ``spec`` and ``drops`` is a list of
    ``(rows, reason)`` pairs — ``reason`` one string for all those rows or one string per row."""

    kind = "selector"

    def select(
        self,
        table: ScoreTable,
        keep: float | None = None,
        *,
        count: int | None = None,
        dedup: bool = False,
        seed: int = 0,
    ) -> Selection:
        n = len(table)
        if n == 0:
            raise InputError("no examples to select from")
        m = budget(n, keep, count)
        reason = np.full(n, None, dtype=object)
        pool = np.arange(n)
        if dedup:
            if table.duplicate_of is None:
                raise InputError("dedup=True needs a duplicate_of column: score with 'semdedup' first")
            dup = table.duplicate_of
            dropped = np.flatnonzero(dup >= 0)
            reason[dropped] = [f"duplicate: near-duplicate of id {i}" for i in table.ids[dup[dropped]].tolist()]
            pool = np.flatnonzero(dup < 0)
            if m > len(pool):
                raise InputError(
                    f"asked to keep {m} examples but only {len(pool)} remain after removing "
                    f"{len(dropped)} near-duplicates; lower keep or score with a smaller eps"
                )
        p = self.checked_params()
        rng = np.random.default_rng(seed)
        kept, drops = self._select(table, pool, m, rng, p)
        keep_mask = np.zeros(n, dtype=bool)
        keep_mask[kept] = True
        if int(keep_mask.sum()) != m:  # the contract; a violation is a prunekit bug
            raise RuntimeError(f"selector {self.name} kept {int(keep_mask.sum())} instead of {m}")
        for rows, why in drops:
            reason[rows] = why
        missing = np.flatnonzero(~keep_mask & (reason == None))  # noqa: E711
        if len(missing):
            raise RuntimeError(f"selector {self.name} dropped row {missing[0]} without a reason")
        info = {"selector": self.name, "params": self.params, "kept": m, "n": n,
                "dedup": bool(dedup), "seed": int(seed)}
        return Selection(keep_mask, reason, info)

    def _select(self, table: ScoreTable, pool: np.ndarray, m: int, rng: np.random.Generator,
                p: dict[str, Any]):
        raise NotImplementedError  # pragma: no cover

    # helpers shared by subclasses
    def score_column(self, table: ScoreTable, name: str | None) -> tuple[str, np.ndarray]:
        """The column ``name`` of ``table``; ``None``: its first difficulty column."""
        if name is None:
            dirs = table.directions
            diffs = [c for c in table.scores if dirs.get(c) == "difficulty"]
            if not diffs:
                raise InputError(
                    f"selector {self.name!r} needs score=<column>; no difficulty column among: "
                    f"{', '.join(table.scores) or 'none'}"
                )
            name = diffs[0]
        return name, table.column(name)


SELECTORS: Registry[Selector] = Registry("selector")
register = SELECTORS.register
#: ``get_selector(name, **params)``: a selector holding ``params``
get_selector = SELECTORS.make
#: ``selector_params()``: option name → ``Param`` over every registered selector (``Registry.params``)
selector_params = SELECTORS.params
