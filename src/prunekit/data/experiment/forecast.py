"""The planner's decision, pure: pilot results in, a recommendation out.

For every (method, keep fraction, KD) a power law of test error against kept examples is fitted
across the pilot sizes and extrapolated to the full set; the predicted drop against full-data
training gets a margin (the fits' standard errors and a backtest on the largest pilot), and the
smallest supported keep fraction wins (``recommend`` in ``recommend.py`` runs the pilots). Tested
on planted curves.

Algorithm and parameters: docs/ALGORITHMS.md §3.6.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import numpy as np

from prunekit.errors import InputError
from prunekit.params import Param

#: the decision's own options, declared once
TOLERANCE = Param("tolerance", float, low=0.0, default=1.0,
                  help="Accuracy points the pruned model may lose against full data")
Z = Param("z", float, low=0.0, default=1.0, help="Standard errors added to the predicted drop")
N_FULL = Param("n_full", int, low=1, help="Training examples of the full data")


@dataclass(frozen=True)
class CurveFit:
    """``err ≈ a·m^(−b)`` fitted in log–log space, with what a prediction needs for its error bar."""

    a: float
    b: float
    r2: float
    n_points: int
    x_mean: float      # mean of log m
    sxx: float         # Σ (log m − mean)²
    sigma: float       # residual standard deviation in log space (nan with < 3 points)

    def predict(self, m: float) -> tuple[float, float]:
        """(predicted error at ``m``, standard error of log(prediction); nan when unknown)."""
        err = self.a * m ** (-self.b)
        if not math.isfinite(self.sigma) or self.sxx <= 0:
            return err, float("nan")
        se = self.sigma * math.sqrt(1.0 / self.n_points + (math.log(m) - self.x_mean) ** 2 / self.sxx)
        return err, se


def fit_curve(m: Iterable[float], err: Iterable[float]) -> CurveFit:
    """Least-squares fit of ``log err = log a − b log m``; zero errors carry no logarithm and are
    dropped. Raises ``InputError`` with fewer than two usable points at distinct ``m``."""
    from prunekit.data.experiment.scaling import fit_power_law

    m = np.asarray(list(m), dtype=np.float64)
    err = np.asarray(list(err), dtype=np.float64)
    pl = fit_power_law(m, err)
    ok = err > 0
    x, y = np.log(m[ok]), np.log(err[ok])
    resid = y - (math.log(pl.a) - pl.b * x)
    dof = len(x) - 2
    sigma = float(math.sqrt(np.sum(resid ** 2) / dof)) if dof > 0 else float("nan")
    return CurveFit(pl.a, pl.b, pl.r2, pl.n_points, float(x.mean()), float(np.sum((x - x.mean()) ** 2)), sigma)


@dataclass
class Forecast:
    """One (method, keep, KD) setting with its prediction at full size."""

    method: str
    keep: float
    kd: bool
    alpha: float
    predicted_accuracy: float   # %
    predicted_drop: float       # accuracy points below predicted full-data accuracy
    margin: float               # hypot(z standard errors, backtest miss), in accuracy points
    backtest: float             # |predicted − measured| drop at the largest pilot, fitted on the others
    exponent: float
    r2: float
    points: int
    supported: bool
    reason: str = ""


@dataclass
class Recommendation:
    """The planner's decision. ``chosen`` is None when the pilot cannot support one (``reasons``)."""

    tolerance: float
    n_full: int
    full_accuracy: float        # predicted, %
    full_margin: float
    full_fit: dict[str, float]
    candidates: list[Forecast]
    chosen: Forecast | None
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["chosen"] = None if self.chosen is None else asdict(self.chosen)
        return d


def recommend_from_rows(rows: Iterable[dict], n_full: int, tolerance: float, *, z: float = 1.0,
                   min_points: int = 3) -> Recommendation:
    """Decide from pilot results.

    ``rows``: dicts with ``method, keep, kd, alpha, accuracy`` (fraction in [0, 1]) and ``pool``
    (the pilot's training-set size); ``method == "full"`` rows (``keep == 1``) are whole-pilot
    training. ``n_full``: size of the real training set. ``tolerance``: accuracy points.
    """
    TOLERANCE.check(tolerance)
    N_FULL.check(n_full)
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["method"], float(r["keep"]), bool(r["kd"])), []).append(r)
    full_rows = groups.get(("full", 1.0, False), [])
    reasons: list[str] = []
    pools = sorted({r["pool"] for r in full_rows})
    if len(pools) < 2:
        raise InputError("the pilot has no full-subsample (keep 1.0, no KD) runs at two or more sizes")

    def fit(rs):
        return fit_curve([r["keep"] * r["pool"] for r in rs], [1.0 - r["accuracy"] for r in rs])

    def points(rs):
        return sum(1 for r in rs if r["accuracy"] < 1.0)

    def backtest(rs) -> float:
        """Fit setting and full data on all pilots but the largest, predict the drop at the largest
        and compare with the drop measured there. The standard errors only see scatter around the
        power law; this sees how wrong the power law itself is when extrapolating (in points)."""
        if len(pools) < 3:
            return float("nan")
        top = pools[-1]
        try:
            f_c = fit([r for r in rs if r["pool"] < top])
            f_f = fit([r for r in full_rows if r["pool"] < top])
        except InputError:
            return float("nan")
        at_c = [r["accuracy"] for r in rs if r["pool"] == top]
        at_f = [r["accuracy"] for r in full_rows if r["pool"] == top]
        if not at_c or not at_f:
            return float("nan")
        predicted = f_c.predict(rs[0]["keep"] * top)[0] - f_f.predict(float(top))[0]
        measured = (1.0 - np.mean(at_c)) - (1.0 - np.mean(at_f))
        return 100.0 * abs(predicted - measured)

    if len(pools) < 3:
        reasons.append(f"the pilot has {len(pools)} sizes; a recommendation needs 3 (two to fit, the largest "
                       "to check the extrapolation)")
    full = fit(full_rows)
    full_err, full_se = full.predict(float(n_full))
    full_delta = full_err * (math.exp(z * full_se) - 1.0) if math.isfinite(full_se) else float("nan")
    full_ok = True
    if full.b <= 0:
        full_ok = False
        reasons.append(f"full-data error does not fall with more data in the pilots (exponent {full.b:.3f}); "
                       "the curve cannot be extrapolated")
    if points(full_rows) < min_points or not math.isfinite(full_se):
        full_ok = False
        reasons.append(f"full-data curve has fewer than {min_points} usable points")

    cands: list[Forecast] = []
    for (method, keep, kd), rs in sorted(groups.items()):
        if method == "full" and not kd:
            continue
        alpha = float(np.mean([r.get("alpha", 0.0) for r in rs]))
        try:
            f = fit(rs)
        except InputError as exc:
            cands.append(Forecast(method, keep, kd, alpha, float("nan"), float("nan"), float("nan"), float("nan"),
                                   float("nan"), float("nan"), points(rs), False, str(exc)))
            continue
        err, se = f.predict(keep * n_full)
        delta = err * (math.exp(z * se) - 1.0) if math.isfinite(se) else float("nan")
        drop = 100.0 * (err - full_err)
        bt = backtest(rs)
        margin = math.hypot(100.0 * math.hypot(delta, full_delta), bt) \
            if math.isfinite(delta) and math.isfinite(full_delta) and math.isfinite(bt) else float("nan")
        why = ""
        if not full_ok:
            why = "full-data curve unusable"
        elif not math.isfinite(bt):
            why = "no backtest (needs 3 pilot sizes)"
        elif f.b <= 0:
            why = "error does not fall with data (b ≤ 0)"
        elif points(rs) < min_points or not math.isfinite(se):
            why = f"< {min_points} usable points"
        elif drop + margin > tolerance:
            why = "drop + margin > tolerance"
        cands.append(Forecast(method, keep, kd, alpha, 100.0 * (1.0 - err), drop, margin, bt, f.b, f.r2,
                               points(rs), not why, why))
    ok = [c for c in cands if c.supported and c.method != "full"]
    chosen = min(ok, key=lambda c: (c.keep, c.kd, c.predicted_drop)) if ok else None
    if chosen is None and full_ok:
        finite = [c for c in cands if math.isfinite(c.predicted_drop) and c.method != "full"]
        if finite:
            best = min(finite, key=lambda c: c.predicted_drop + (c.margin if math.isfinite(c.margin) else 0.0))
            reasons.append(f"no pruned setting is predicted within {tolerance:g} points: the closest is "
                           f"{best.method} keep {best.keep:g}{' + KD' if best.kd else ''} at "
                           f"{best.predicted_drop:.2f} ± {best.margin:.2f} points")
        else:
            reasons.append("no pruned setting has a usable curve")
    return Recommendation(tolerance=float(tolerance), n_full=int(n_full), full_accuracy=100.0 * (1.0 - full_err),
                          full_margin=100.0 * full_delta if math.isfinite(full_delta) else float("nan"),
                          full_fit={"a": full.a, "b": full.b, "r2": full.r2, "points": full.n_points},
                          candidates=cands, chosen=chosen, reasons=reasons)


