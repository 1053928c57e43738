"""The pruning planner: how much data can be dropped, with which method and KD weight, before
accuracy falls by more than a tolerance?

The planner answers from *pilot sweeps on subsamples* instead of a full sweep:

1. Draw nested, class-stratified subsamples of the training set (by default 1/8, 1/4 and 1/2 of
   it; each smaller one inside the larger) and run an ordinary resumable sweep on each
   (``pilot/n<size>/``): every method × keep fraction × seed × {CE, KD}, plus full-subsample
   training.
2. For every (method, keep fraction, KD) fit a power law of test error against the number of
   kept examples across the pilots, ``err ≈ a·m^(−b)`` with ``m = keep · n_pilot``, and
   extrapolate to ``m = keep · N`` (N = the full training set). The full-data reference is the
   same fit for plain cross-entropy training on whole pilots, extrapolated to N.
3. The predicted drop of a setting is ``100 · (err_setting(keep·N) − err_full(N))`` accuracy
   points. Its margin combines two things: the fits' standard errors (log-space regression,
   ``z`` standard errors; ``z = 1`` by default), which only see scatter around the power law, and
   a **backtest**: fit on all pilots but the largest, predict the drop at the largest, and take
   the miss against the drop measured there — which sees how wrong the power law itself is (hard-
   example methods, for instance, collapse on small pools and then recover steeply: a curve a
   power law overshoots). A setting is **supported** when its predicted drop plus the margin is
   within the tolerance and both fits are usable (error falls with data: ``b > 0``; at least
   three points; three pilot sizes for the backtest). The recommendation is the supported setting with the
   smallest keep fraction; ties prefer no KD (KD needs a full-data teacher), then the smaller
   predicted drop.
4. The recommended setting is run once on the full data, next to full-data training, and the
   predicted accuracy and drop are reported against the measured ones.

When no setting is supported the planner says so and why (which fits failed, the best predicted
drop and its margin), and runs nothing more. The extrapolation is only as good as the power law:
the pilots should reach at least a quarter of the data, and the result table shows every fit's
exponent and R² so a reader can judge it.

``recommend_from_rows`` is the pure decision function (rows in, recommendation out), tested on planted
curves; ``recommend`` does the pilots, the decision and the final run.

Algorithm and parameters: docs/ALGORITHMS.md §3.6.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from prunekit.data.experiment.forecast import TOLERANCE, Z, Forecast, Recommendation, recommend_from_rows
from prunekit.errors import ConfigError, InputError
from prunekit.params import Param

RECOMMEND_KEYS = ("tolerance", "pilots", "final_seeds", "z")
#: the planner's own options, declared once
FINAL_SEEDS = Param("final_seeds", int, low=1, default=1, help="Seeds of the final run of the recommendation")


# ----------------------------------------------------------------------------- pilots


def pilot_sizes(n: int, fractions: list[float], n_classes: int) -> list[int]:
    """Pilot training-set sizes; each must hold at least 5 examples per class and be < n."""
    if not fractions or len(fractions) < 2:
        raise ConfigError("pilots needs at least two subsample fractions, e.g. [0.125, 0.25, 0.5]")
    sizes = []
    for f in sorted(set(fractions)):
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f < 1:
            raise ConfigError(f"pilot fraction {f!r} is outside (0, 1)")
        s = int(round(f * n))
        if s < 5 * n_classes:
            raise ConfigError(f"pilot fraction {f:g} gives {s} examples, fewer than 5 per class "
                              f"({5 * n_classes}); use larger pilots")
        sizes.append(s)
    return sizes


def nested_subsamples(y: np.ndarray, sizes: list[int], seed: int) -> list[np.ndarray]:
    """Row numbers of class-stratified subsamples, each contained in the next larger one.

    Every class's rows are shuffled once; a subsample of size s takes the first ⌊s · share⌋ of each
    class (largest remainders fill up to exactly s), so smaller pilots are subsets of larger ones
    and the curves compare like with like.
    """
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    order = {c: rng.permutation(np.flatnonzero(y == c)) for c in classes}
    out = []
    for s in sizes:
        exact = counts * (s / len(y))
        take = np.floor(exact).astype(int)
        rest = s - take.sum()
        if rest > 0:
            take[np.argsort(-(exact - take), kind="stable")[:rest]] += 1
        rows = np.concatenate([order[c][:t] for c, t in zip(classes, take)])
        out.append(np.sort(rows))
    return out


@dataclass
class RecommendRun:
    out: Path
    recommendation: Recommendation
    measured: dict[str, Any] | None
    pilot_seconds: float        # compute of the pilots: cells' training + scoring seconds, summed
    final_seconds: float        # compute of the final run: its cells' training + scoring seconds, summed
    recipe: dict[str, Any] | None = None   # the training recipe of every pilot and final cell
    baseline: str = ""          # which full-data model the drops are measured against


#: the training settings a plan states as its recipe (those its config has)
RECIPE_KEYS = ("model", "width", "depth", "optimizer", "lr", "weight_decay", "schedule", "momentum", "epochs",
               "budget", "batch_size", "standardize", "alpha", "tau", "teacher", "proxy_runs", "proxy_epochs")


def plan_recipe(config: dict) -> dict[str, Any]:
    """The recipe the planner trains with: the config's training settings that take effect (a
    factory model has no built-in width or depth, AdamW no momentum; stating them misleads)."""
    from prunekit.nn.factory import is_factory

    recipe = {k: config[k] for k in RECIPE_KEYS if k in config and config[k] is not None and config[k] != {}}
    if is_factory(str(recipe.get("model", ""))):
        recipe.pop("width", None)
        recipe.pop("depth", None)
    if recipe.get("optimizer") == "adamw":
        recipe.pop("momentum", None)
    return recipe


def baseline_text(recipe: dict[str, Any], n_full: int, measured: bool) -> str:
    """One sentence naming the full-data baseline every drop is measured against."""
    how = ", ".join(f"{k} {v}" for k, v in recipe.items() if k in ("model", "optimizer", "lr", "schedule",
                                                                   "epochs", "budget", "batch_size"))
    return (f"Drops are against full-data training on all {n_full:,} examples with the planner's own recipe "
            f"({how}; plain cross-entropy): predicted by extrapolating the whole-pilot fits to N"
            + (", and measured in the final run" if measured else "")
            + ". It is not your production model: a longer or different recipe has another baseline.")


def _data_checksum(*arrays: np.ndarray) -> str:
    import hashlib

    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _check_pilot_dir(pdir: Path, ident: dict, force: bool) -> None:
    """The pilot subsamples are files the pilot sweeps point to: a directory written for other
    data must never be reused silently (the sweeps would resume on stale files)."""
    import shutil

    meta = pdir / "pilot.json"
    if meta.exists():
        try:
            old = json.loads(meta.read_text())
        except (json.JSONDecodeError, OSError):
            old = None
        if old == ident:
            return
        if not force:
            raise InputError(f"{pdir} holds pilots of other data or pilot sizes; use --force to replace them "
                             "or choose another output directory")
        shutil.rmtree(pdir)
    elif pdir.exists() and any(pdir.iterdir()):
        # not ours: --force replaces prunekit's pilots, never a folder of someone else's files
        raise InputError(f"{pdir} exists and holds no planner pilots; choose another output directory")
    pdir.mkdir(parents=True, exist_ok=True)
    from prunekit.io.atomic import atomic_path

    with atomic_path(meta) as tmp:
        tmp.write_text(json.dumps(ident, indent=1))


def _npy(path: Path, arr: np.ndarray) -> None:
    from prunekit.io.atomic import atomic_path

    if path.exists():
        return
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, arr)


def recommend(
    config: "Any",
    out: str | os.PathLike,
    *,
    tolerance: float | None = None,
    pilots: list[float] | None = None,
    final_seeds: int | None = None,
    z: float | None = None,
    overrides: dict[str, Any] | None = None,
    run_final: bool = True,
    force: bool = False,
    show_progress: bool | None = None,
) -> RecommendRun:
    """Pilot sweeps on subsamples → recommendation → one run of it on the full data.

    ``config``: a ``SweepConfig`` (its methods, keep fractions (1.0 is added), seeds, KD choices,
    model and training settings are the pilots'), or what ``prunekit data plan`` takes — a bundled
    data set name, a training file or a ``.toml`` plan config — read by :func:`recommend_config`
    with ``overrides``. Planner options not given here come from the TOML file, else the defaults
    (tolerance 1.0, pilots 1/8, 1/4, 1/2, one final seed, z 1.0). Writes ``out/pilot/n<size>/``
    (sweeps), ``out/final/<method>-keep<k>-kd<0|1>/`` (the final sweep), ``out/plan.json`` and
    ``out/plan.png``. Resumable: pilots and the final run are ordinary sweeps and skip finished cells.
    """
    import warnings

    from prunekit.data.experiment.sweep import SweepConfig, _load, run_sweep
    from prunekit.data.train.recipe import UnscaledFeaturesWarning

    opts: dict[str, Any] = {}
    if isinstance(config, (str, os.PathLike)):
        config, opts = recommend_config(str(config), overrides)
    elif overrides:
        raise ConfigError("overrides apply to a data spec or a .toml config, not to a SweepConfig")
    cfg = config
    if not isinstance(cfg, SweepConfig):
        raise ConfigError("recommend needs a SweepConfig, a bundled data set name, a training file or a .toml config")
    tolerance = opts.get("tolerance", 1.0) if tolerance is None else tolerance
    pilots = opts.get("pilots") if pilots is None else pilots
    final_seeds = opts.get("final_seeds", 1) if final_seeds is None else final_seeds
    z = opts.get("z", 1.0) if z is None else z
    FINAL_SEEDS.check(final_seeds)
    Z.check(z)
    TOLERANCE.check(tolerance)
    pilots = [0.125, 0.25, 0.5] if pilots is None else list(pilots)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"output {out} exists and is not a directory")
    name, X, y, X_test, y_test, C = _load(cfg)
    sizes = pilot_sizes(len(y), pilots, C)
    base = cfg.to_dict()
    # the pilots' files hold the data as loaded: standardised already (with the full training set's
    # statistics) when the config says so
    base.update(keep=sorted(set(cfg.keep) | {1.0}), kd=sorted(set(cfg.kd) | {False}), standardize=False)
    pdir = out / "pilot"
    from prunekit.io.atomic import check_not_input

    check_not_input(pdir, [(what, p) for what, p in (("data", cfg.data), ("labels", cfg.labels), ("test data", cfg.test),
                                                      ("test labels", cfg.test_labels))
                           if p is not None and Path(str(p)).exists()], folder=True)
    _check_pilot_dir(pdir, {"data": name, "n": len(y), "sizes": sizes,
                            "checksum": _data_checksum(X, y, X_test, y_test)}, force)
    _npy(pdir / "test.npy", np.asarray(X_test, dtype=np.float32))
    _npy(pdir / "test_labels.npy", np.asarray(y_test, dtype=np.int64))
    rows: list[dict] = []
    for s, idx in zip(sizes, nested_subsamples(np.asarray(y), sizes, seed=0)):
        d = pdir / f"n{s}"
        d.mkdir(exist_ok=True)
        _npy(d / "train.npy", np.asarray(X, dtype=np.float32)[idx])
        _npy(d / "train_labels.npy", np.asarray(y, dtype=np.int64)[idx])
        pc = dict(base, data=str(d / "train.npy"), labels=str(d / "train_labels.npy"),
                  test=str(pdir / "test.npy"), test_labels=str(pdir / "test_labels.npy"))
        with warnings.catch_warnings():  # said once, for the full data, by _load above
            warnings.simplefilter("ignore", UnscaledFeaturesWarning)
            res = run_sweep(SweepConfig.from_dict(pc), d / "sweep", force=force, show_progress=show_progress)
        rows += [dict(r, pool=s) for r in res.rows]
    # Compute the pilots cost, summed from the cells (a resumed plan's wall time would say 0):
    # training of every cell plus each (pilot, seed)'s scoring calls once.
    from prunekit.data.experiment.sweep_config import is_dynamics

    def compute_seconds(cells: list[dict]) -> float:
        scoring = {}
        for r in cells:
            if r["method"] in ("random", "rs2", "full"):
                continue
            group = "dynamics" if r["method"] == "ccs" or is_dynamics(r["method"]) else "geometry"
            scoring[(r.get("pool"), r["seed"], group)] = float(r["scoring_seconds"])
        return sum(float(r["training_seconds"]) for r in cells) + sum(scoring.values())

    pilot_seconds = compute_seconds(rows)
    rec = recommend_from_rows(rows, n_full=len(y), tolerance=tolerance, z=z)

    measured = None
    final_seconds = 0.0
    if rec.chosen is not None and run_final:
        c = rec.chosen
        fc = dict(cfg.to_dict(), methods=[c.method], keep=[c.keep, 1.0], seeds=final_seeds,
                  kd=sorted({False, c.kd}), select={m: v for m, v in cfg.select.items() if m == c.method})
        fc_cfg = SweepConfig.from_dict(fc)
        # One directory per recommended setting: a later plan that recommends something else
        # (new pilots, another tolerance) runs beside it instead of colliding with it.
        fdir = out / "final" / f"{c.method}-keep{c.keep:g}-kd{int(c.kd)}"
        fres = run_sweep(fc_cfg, fdir, force=force, show_progress=show_progress)
        mine = [r for r in fres.rows if r["method"] == c.method and r["kd"] == c.kd]
        ref = [r for r in fres.rows if r["method"] == "full" and not r["kd"]]
        acc = 100.0 * float(np.mean([r["accuracy"] for r in mine]))
        full_acc = 100.0 * float(np.mean([r["accuracy"] for r in ref]))
        measured = {"accuracy": acc, "full_accuracy": full_acc, "drop": full_acc - acc,
                    "within_tolerance": bool(full_acc - acc <= tolerance), "seeds": final_seeds,
                    "alpha": float(np.mean([r["alpha"] for r in mine])),
                    "training_seconds": float(np.mean([r["training_seconds"] for r in mine])),
                    "full_training_seconds": float(np.mean([r["training_seconds"] for r in ref])),
                    "scoring_seconds": float(np.mean([r["scoring_seconds"] for r in mine]))}
        # summed from the cells like the pilots' (a resumed final run's wall time would say 0)
        final_seconds = compute_seconds(fres.rows)
    recipe = plan_recipe(cfg.to_dict())
    result = RecommendRun(out, rec, measured, pilot_seconds, final_seconds, recipe,
                          baseline_text(recipe, len(y), measured is not None))
    write_recommendation(result, name=name, sizes=sizes, config=cfg.to_dict(), rows=rows)
    return result


def write_recommendation(result: RecommendRun, *, name: str, sizes: list[int], config: dict, rows: list[dict]) -> None:
    """``plan.json`` (decision, predictions, measurement, pilot rows) and ``plan.png``."""
    from prunekit.io.atomic import atomic_path

    from prunekit.data.experiment.report_parts import relative_paths

    out = result.out
    doc = {"dataset": name, "pilot_sizes": sizes, "config": relative_paths(config, out),
           "recipe": result.recipe, "baseline": result.baseline,
           "recommendation": result.recommendation.to_dict(), "measured": result.measured,
           "pilot_seconds": result.pilot_seconds, "final_seconds": result.final_seconds,
           "pilot_rows": [{k: r[k] for k in ("method", "keep", "seed", "kd", "alpha", "accuracy", "pool")}
                          for r in rows]}
    with atomic_path(out / "plan.json") as tmp:
        tmp.write_text(json.dumps(doc, indent=1, default=float))
    plot_recommendation(result, rows, out / "plan.png", config=config)


def plot_recommendation(result: RecommendRun, rows: list[dict], path: Path, config: dict | None = None) -> Path:
    """Predicted drop vs keep per method and KD (error bars: the margin), the tolerance band, and
    the measured drop of the recommended setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from prunekit.io.atomic import atomic_path

    rec = result.recommendation
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    series: dict[tuple, list[Forecast]] = {}
    for c in rec.candidates:
        if c.method != "full" and math.isfinite(c.predicted_drop):
            series.setdefault((c.method, c.kd), []).append(c)
    from prunekit.data.colors import method_colors
    from prunekit.data.experiment.report_parts import keeps_what

    colours = method_colors({m for m, _ in series})
    for (method, kd), cs in sorted(series.items()):
        cs.sort(key=lambda c: c.keep)
        # one colour per method, KD dashed (as in the sweep report); small offset so bars don't hide
        ax.errorbar([c.keep + (0.006 if kd else -0.006) for c in cs], [c.predicted_drop for c in cs],
                    yerr=[c.margin if math.isfinite(c.margin) else 0.0 for c in cs], color=colours[method],
                    ls="--" if kd else "-", marker="o", ms=4, capsize=3,
                    label=f"{method}, {keeps_what(method, config)}{' + KD' if kd else ''}")
    ax.axhspan(-1e9, rec.tolerance, color="tab:green", alpha=0.08, lw=0)
    ax.axhline(rec.tolerance, color="tab:green", lw=1, label=f"tolerance {rec.tolerance:g} pt")
    if rec.chosen is not None and result.measured is not None:
        ax.plot([rec.chosen.keep], [result.measured["drop"]], marker="*", ms=16, color="black", ls="none",
                label="measured (recommended)")
    drops = [c.predicted_drop for cs in series.values() for c in cs]
    if drops:
        lo, hi = min(min(drops), 0.0), max(drops)
        ax.set_ylim(lo - 1, min(hi + 2, max(3 * rec.tolerance + 5, 10)))
    ax.set_xlabel("kept fraction")
    ax.set_ylabel("predicted accuracy drop at full size (points)")
    recipe = result.recipe or {}
    how = ", ".join(f"{k} {recipe[k]}" for k in ("model", "optimizer", "lr", "epochs", "budget") if k in recipe)
    import textwrap

    ax.set_title(textwrap.fill(f"planner: extrapolated from pilots to N = {rec.n_full}; baseline: full-data "
                               f"cross-entropy training with the planner's recipe ({how})", 95), fontsize=8.5)
    ax.grid(alpha=0.3)
    # under the plot, outside the axes: the labels say what each curve keeps, and a legend inside
    # the axes hid the error bars (as in the sweep report)
    fig.set_layout_engine("constrained")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", fontsize=7.5, ncol=2, frameon=False)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


__all__ = ["FINAL_SEEDS", "RECIPE_KEYS", "RecommendRun", "baseline_text", "plan_recipe", "nested_subsamples", "pilot_sizes", "recommend", "recommend_config"]


def recommend_config(source: str, overrides: dict[str, Any] | None = None) -> tuple["Any", dict[str, Any]]:
    """(SweepConfig of the pilots, planner options) from a TOML file or a data spec.

    ``source`` ending in ``.toml`` is read like a sweep config plus the planner's keys
    (``tolerance``, ``pilots``, ``final_seeds``, ``z``); anything else is the ``data`` of a sweep
    config with the planner's defaults. ``overrides`` (e.g. from the command line; None values are
    ignored) win over both.
    """
    from prunekit.data.experiment.sweep import SweepConfig

    defaults = {"methods": ["random", "el2n", "ccs"], "keep": [0.1, 0.2, 0.3, 0.5, 0.7], "seeds": 2,
                "kd": [False, True], "epochs": 10}
    if str(source).endswith(".toml"):
        from prunekit.data.experiment.sweep_config import read_toml

        d, base = read_toml(source, "plan config")
    else:
        d, base = {"data": str(source)}, None
    d = dict(defaults, **d)
    for k, v in (overrides or {}).items():
        if v is not None:
            d[k] = v
    opts = {k: d.pop(k) for k in RECOMMEND_KEYS if k in d}
    return SweepConfig.from_dict(d, base=base), opts
