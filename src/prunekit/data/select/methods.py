"""The selectors (docs/ALGORITHMS.md §2.1–§2.8; the table of them is in the package docstring) and their
parameters, each declared once and shared by the selectors that take it."""

from __future__ import annotations

import dataclasses

import numpy as np

from prunekit.data.select.base import Selector, proportional, ranked, register, waterfill
from prunekit.data.table import ScoreTable
from prunekit.errors import InputError
from prunekit.params import Param, Spec

BALANCES = ("proportional", "equal")
WITHIN = ("hardest", "easiest", "random")

SCORE = Param("score", str, default=None, none_means="the first difficulty column", help="Score column to rank by")
BALANCE = Param("balance", "choice", choices=BALANCES, default=None, none_means="no class balance",
                help="Class quotas of the kept examples (equal: water-filled from the smallest class)")
BETA = Param("beta", float, low=0.0, high=1.0, high_open=True, default=0.1,
             help="Fraction of N dropped as the hardest first")
BINS = Param("bins", int, low=1, default=50, help="ccs: equal-width score bins")
CUTOFF_SCORE = Param("cutoff_score", str, default=None, none_means="the score column",
                     help="ccs: column the hard cutoff ranks by")
COMPLEXITY = Param("complexity", str, default="cluster_complexity", help="dbp: column of the cluster complexity")
TAU = Param("tau", float, low=0.0, low_open=True, default=0.5, help="dbp: softmax temperature of the cluster quotas")
WITHIN_CLUSTER = Param("within", "choice", choices=WITHIN, default="hardest", help="dbp: which members of a cluster are kept")
ABUNDANT = Param("abundant", int, low=1, default=20_000,
                 help="sorscher: from this many kept examples on, keep the hardest (else the easiest)")


def _class_quotas(table: ScoreTable, pool: np.ndarray, m: int, balance: str) -> dict[int, int]:
    if table.labels is None:
        raise InputError(f"balance={balance!r} needs labels; the table has none")
    y = table.labels[pool]
    classes, sizes = np.unique(y, return_counts=True)
    q = proportional(sizes, m) if balance == "proportional" else waterfill(sizes, m)
    return {int(c): int(k) for c, k in zip(classes, q)}


class _Ranked(Selector):
    """Keep the top of a ranking, globally or per class."""

    spec = Spec(SCORE, BALANCE)
    descending = True
    word = "hardest"

    def _ranking_pool(self, table, pool, name, values, p):
        return pool, []

    def _select(self, table, pool, m, rng, p):
        balance = p["balance"]
        name, values = self.score_column(table, p["score"])
        pool, drops = self._ranking_pool(table, pool, name, values, p)
        if m > len(pool):
            raise InputError(f"asked to keep {m} examples but only {len(pool)} are eligible")
        cmp = "<" if self.descending else ">"
        if balance is None:
            order = ranked(pool, values, descending=self.descending)
            kept, dropped = order[:m], order[m:]
            if len(dropped):
                cut = values[order[m - 1]]
                drops.append((dropped, f"below cut: {name} {cmp} {cut:.4g} (keeping the {self.word} {m})"))
            return kept, drops
        quotas = _class_quotas(table, pool, m, balance)
        y = table.labels
        kept_parts = []
        for c, q in quotas.items():
            rows = pool[y[pool] == c]
            order = ranked(rows, values, descending=self.descending)
            kept_parts.append(order[:q])
            if len(order) > q:
                drops.append((order[q:], f"class quota: class {c} keeps its {self.word} {q} of {len(rows)} by {name}"))
        return np.concatenate(kept_parts), drops


@register
class Hardest(_Ranked):
    name = "hardest"
    summary = "keep the highest scores"


@register
class Easiest(_Ranked):
    name = "easiest"
    summary = "keep the lowest scores"
    descending = False
    word = "easiest"


@register
class Offset(_Ranked):
    name = "offset"
    summary = "drop the beta hardest fraction first, then keep the hardest"
    spec = Spec(SCORE, BALANCE, BETA)

    def _ranking_pool(self, table, pool, name, values, p):
        beta = p["beta"]
        n_off = int(np.floor(beta * len(table) + 0.5))
        order = ranked(pool, values, descending=True)
        off = order[:n_off]
        drops = [(off, f"offset: among the {n_off} hardest by {name}, dropped first (beta={beta:g})")] if n_off else []
        return np.sort(order[n_off:]), drops


@register
class Random(Selector):
    name = "random"
    summary = "uniform random subset (optionally class-balanced)"
    spec = Spec(BALANCE)

    def _select(self, table, pool, m, rng, p):
        balance = p["balance"]
        if balance is None:
            perm = rng.permutation(pool)
            return perm[:m], [(perm[m:], "not sampled: outside the random subset")]
        quotas = _class_quotas(table, pool, m, balance)
        kept, drops = [], []
        for c, q in quotas.items():
            perm = rng.permutation(pool[table.labels[pool] == c])
            kept.append(perm[:q])
            drops.append((perm[q:], f"not sampled: class {c} quota {q}"))
        return np.concatenate(kept), drops


@register
class CCS(Selector):
    """Coverage-centric coreset selection (Zheng et al., ICLR 2023).

    ``beta``: fraction of N with the highest difficulty removed first (the paper uses 0.3 for
    CIFAR-10 at keep 0.1 and 0.2 for ImageNet at keep 0.2; our default 0.1 is a mild setting —
    tune it per keep fraction). ``cutoff_score`` (default: the score itself) decides the cutoff;
    the paper uses accumulated margin (AUM) there."""

    name = "ccs"
    summary = "coverage-centric: hard cutoff + equal-width bins + water-filling"
    spec = Spec(SCORE, BETA, BINS, CUTOFF_SCORE)

    def _select(self, table, pool, m, rng, p):
        beta, bins = p["beta"], p["bins"]
        name, values = self.score_column(table, p["score"])
        cut_name = p["cutoff_score"] or name
        cut_values = table.column(cut_name)
        n_cut = int(np.floor(beta * len(table) + 0.5))
        order = ranked(pool, cut_values, descending=True)
        cutoff, rest = order[:n_cut], np.sort(order[n_cut:])
        drops = [(cutoff, f"hard cutoff: among the {n_cut} hardest by {cut_name} (likely mislabeled)")] if n_cut else []
        if m > len(rest):
            raise InputError(
                f"CCS: asked to keep {m} but only {len(rest)} remain after the hard cutoff "
                f"(beta={beta:g}); lower beta"
            )
        v = values[rest]
        lo, hi = float(v.min()), float(v.max())
        if hi > lo:
            b = np.minimum(((v - lo) / (hi - lo) * bins).astype(np.int64), bins - 1)
        else:
            b = np.zeros(len(rest), dtype=np.int64)
        sizes = np.bincount(b, minlength=bins)
        quotas = waterfill(sizes, m)
        kept = []
        for j in np.flatnonzero(sizes):
            members = rest[b == j]
            perm = rng.permutation(members)
            q = int(quotas[j])
            kept.append(perm[:q])
            if q < len(members):
                drops.append((perm[q:], f"bin quota: {name} bin {j} of {bins} keeps {q} of {len(members)}"))
        return np.concatenate(kept), drops


def capped_simplex_projection(target: np.ndarray, lower: np.ndarray, upper: np.ndarray, total: float,
                              iters: int = 200) -> np.ndarray:
    """argmin ||x - target||² s.t. sum(x) = total, lower <= x <= upper: x = clip(target - λ, lower,
    upper) with λ found by bisection (sum is monotone in λ)."""
    if lower.sum() > total + 1e-9 or upper.sum() < total - 1e-9:
        raise InputError("cluster quotas are infeasible: the budget is outside the bounds' range")
    lo = float((target - upper).min()) - 1.0
    hi = float((target - lower).max()) + 1.0
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if np.clip(target - mid, lower, upper).sum() > total:
            lo = mid
        else:
            hi = mid
    return np.clip(target - 0.5 * (lo + hi), lower, upper)


def round_preserving_total(x: np.ndarray, upper: np.ndarray, total: int) -> np.ndarray:
    """Integers near ``x`` that sum to ``total`` and stay <= upper (largest remainders first)."""
    out = np.floor(x + 1e-9).astype(np.int64)
    out = np.minimum(out, upper)
    rest = int(total - out.sum())
    if rest > 0:
        frac = x - out
        frac[out >= upper] = -np.inf
        order = np.lexsort((np.arange(len(x)), -frac))
        out[order[:rest]] += 1
    elif rest < 0:
        frac = x - out
        order = np.lexsort((np.arange(len(x)), frac))
        order = order[out[order] > 0]
        out[order[: -rest]] -= 1
    return out


def dbp_quotas(sizes: np.ndarray, complexity: np.ndarray, m: int, tau: float = 0.5) -> np.ndarray:
    """Per-cluster quotas of density-based pruning (Abbas et al., ICLR 2024).

    P = softmax(complexity / tau) over the non-empty clusters; minimise ||x - P·m||² subject to
    sum x = m and lb <= x <= size with lb = min(floor(m / K · 0.5), size - 1); integers preserving m."""
    sizes = np.asarray(sizes, dtype=np.int64)
    present = sizes > 0
    K = int(present.sum())
    z = np.where(present, complexity / tau, -np.inf)
    z = z - z[present].max()
    P = np.where(present, np.exp(z), 0.0)
    P /= P.sum()
    lb = np.where(present, np.minimum(np.floor(m / K * 0.5), sizes - 1), 0).astype(np.float64)
    x = capped_simplex_projection(P * m, lb, sizes.astype(np.float64), float(m))
    return round_preserving_total(x, sizes, m)


@register
class DBP(Selector):
    name = "dbp"
    summary = "density-based cluster quotas (softmax of complexity, capped projection)"
    spec = Spec(dataclasses.replace(SCORE, default="centroid_distance"), COMPLEXITY, TAU, WITHIN_CLUSTER)

    def _select(self, table, pool, m, rng, p):
        if table.cluster is None:
            raise InputError("dbp needs clusters: score with 'density' first")
        tau, within = p["tau"], p["within"]
        name, values = self.score_column(table, p["score"])
        cplx = table.column(p["complexity"])
        cl = table.cluster[pool]
        k = int(table.cluster.max()) + 1
        sizes = np.bincount(cl, minlength=k)
        # every member of a cluster carries the cluster's complexity: take it from any member
        per_cluster = np.zeros(k)
        per_cluster[cl] = cplx[pool]
        quotas = dbp_quotas(sizes, per_cluster, m, tau)
        order = np.argsort(cl, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        kept, drops = [], []
        for c in np.flatnonzero(sizes):
            rows = pool[order[bounds[c]:bounds[c + 1]]]
            if within == "random":
                rows = rng.permutation(rows)
            else:
                rows = ranked(rows, values, descending=within == "hardest")
            q = int(quotas[c])
            kept.append(rows[:q])
            if q < len(rows):
                drops.append((rows[q:], f"cluster quota: cluster {c} keeps {q} of {len(rows)}"))
        return np.concatenate(kept), drops


@register
class Sorscher(_Ranked):
    """Keep-easy when little data is kept, keep-hard when much is (Sorscher et al., 2022).

    ``abundant`` (default 20,000 kept examples) is this project's threshold, not the paper's: the
    paper's rule is qualitative (the crossover depends on the task)."""

    name = "sorscher"
    summary = "keep easiest when few examples are kept, hardest when many are"
    spec = Spec(SCORE, BALANCE, ABUNDANT)

    def _select(self, table, pool, m, rng, p):
        self.descending = m >= p["abundant"]
        self.word = "hardest" if self.descending else "easiest"
        return super()._select(table, pool, m, rng, p)
