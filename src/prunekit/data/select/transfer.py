"""Selectors that choose data for *another* distribution (docs/ALGORITHMS.md §2.9–§2.10):

- ``dp4tl``: keep whole groups (source classes or clusters) in descending order of a per-group
  value — the number of target examples DP4TL maps onto the group (``dp4tl_lm`` / ``dp4tl_fm``).
- ``importance``: importance resampling without replacement by the Gumbel top-k trick on a column
  of log-weights (DSIR's ``dsir`` column, ``prunekit.data.dsir``); deterministic top-k on request.
"""

from __future__ import annotations

import numpy as np

from prunekit.data.select.base import Selector, register
from prunekit.data.table import ScoreTable
from prunekit.errors import InputError
from prunekit.params import Param, Spec

GROUPS = ("label", "cluster")

VALUE_SCORE = Param("score", str, default=None, none_means="the first value column",
                    help="Score column to rank by")
GROUP = Param("group", "choice", choices=GROUPS, default=None,
              none_means="label for dp4tl_lm, else cluster",
              help="dp4tl: what a group is (the example's label or its cluster)")
GUMBEL = Param("gumbel", bool, default=True,
               help="importance: sample by Gumbel top-k (false: keep the k largest log-weights)")


def value_column(selector: Selector, table: ScoreTable, name: str | None) -> tuple[str, np.ndarray]:
    """The column ``name``; ``None``: the table's first column whose direction is ``value``."""
    if name is None:
        values = [c for c in table.scores if table.directions.get(c) == "value"]
        if not values:
            raise InputError(f"selector {selector.name!r} needs score=<column>; no value column among: "
                             f"{', '.join(table.scores) or 'none'}")
        name = values[0]
    return name, table.column(name)


def gumbel_top_k(log_weights: np.ndarray, k: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Rows of ``k`` draws *without replacement* with probability ∝ exp(log_weights): the ``k``
    largest ``log_weights + G`` with G i.i.d. standard Gumbel (Vieira 2014; DSIR's resampling).
    ``rng=None``: deterministic top-k of the log-weights. Ties by row number."""
    w = np.asarray(log_weights, dtype=np.float64)
    keys = w if rng is None else w + rng.gumbel(size=len(w))
    order = np.lexsort((np.arange(len(w)), -keys))
    return np.sort(order[:k])


@register
class DP4TL(Selector):
    """Whole groups, most valuable first; the group at the budget's edge keeps a random part of
    its members (budgets are exact) and says so."""

    name = "dp4tl"
    summary = "keep whole source classes / clusters, those the target uses most first"
    spec = Spec(VALUE_SCORE, GROUP)

    def _select(self, table, pool, m, rng, p):
        name, values = value_column(self, table, p["score"])
        group = p["group"] or ("label" if name == "dp4tl_lm" else "cluster")
        g = table.labels if group == "label" else table.cluster
        if g is None:
            raise InputError(f"dp4tl groups by {group} but the table has no {group} column"
                             + ("" if group == "label" else ": score with 'dp4tl_fm' (or another clustering scorer)"))
        g = np.asarray(g, dtype=np.int64)
        gp = g[pool]
        k = int(g.max()) + 1
        sizes = np.bincount(gp, minlength=k)
        value = np.full(k, -np.inf)
        np.maximum.at(value, gp, values[pool])  # a group's value: its members' largest (all equal for DP4TL)
        present = np.flatnonzero(sizes)
        order = present[np.lexsort((present, -value[present]))]
        kept, drops, filled = [], [], 0
        word = "class" if group == "label" else "cluster"
        for rank, c in enumerate(order.tolist(), start=1):
            rows = pool[gp == c]
            what = f"{word} {c} ranked {rank} of {len(order)} by {name} = {value[c]:.4g}"
            if filled >= m:
                drops.append((rows, f"group rank: {what}; the budget was filled by the groups before it"))
                continue
            take = min(len(rows), m - filled)
            if take < len(rows):
                perm = rng.permutation(rows)
                kept.append(perm[:take])
                drops.append((perm[take:], f"group edge: {what} is where the budget ends; "
                                           f"it keeps {take} of {len(rows)} at random"))
            else:
                kept.append(rows)
            filled += take
        return np.concatenate(kept), drops


@register
class Importance(Selector):
    """Importance resampling without replacement (DSIR): ``k`` = the budget."""

    name = "importance"
    summary = "importance resampling of log-weights without replacement (Gumbel top-k)"
    spec = Spec(VALUE_SCORE, GUMBEL)

    def _select(self, table, pool, m, rng, p):
        name, values = value_column(self, table, p["score"])
        noise = rng if p["gumbel"] else None
        rows = pool[gumbel_top_k(values[pool], m, noise)]
        dropped = np.setdiff1d(pool, rows, assume_unique=True)
        how = "Gumbel top-k sample" if p["gumbel"] else "top-k"
        return rows, [(dropped, f"not resampled: outside the {how} of {m} by {name}")]
