"""``prunekit data sweep``: a resumable sweep of methods × keep fractions × seeds × {CE, KD};
``prunekit data report``: its HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from prunekit.cli._common import option
from prunekit.data.experiment.forecast import TOLERANCE
from prunekit.data.experiment.recommend import FINAL_SEEDS
from prunekit.data.train.trainer import TRAIN_PARAMS as _TP


def sweep_cmd(
    config: Path = typer.Argument(..., help="Sweep config (TOML): data, methods, keep, seeds, kd, alpha, model, epochs, ..."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (results.parquet, per-cell files, caches)."),
    force: bool = typer.Option(False, "--force", help="Replace the results of a different config in --out."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", help="Cells run in this many processes (default: the config's, else 1)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar, log lines or summary."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as one JSON document (stdout) instead of a table."),
) -> None:
    """Run every method × keep × seed × KD cell of CONFIG and write one Parquet table.

    Restarting with the same config resumes: finished cells are skipped (the folder's identity is
    its settings and the data's content, not paths: a moved folder resumes too). --force runs a
    changed config in OUT, rerunning only the cells whose settings changed. Without a terminal,
    one line per finished cell (progress, ETA) goes to stderr. At the end the report (report.html
    and its PNGs) is written into OUT/report/.
    keep = 1.0 is the full-data model; "rs2" trains on a fresh random subset every epoch.

    Example:

        prunekit data sweep sweep.toml -o runs/digits --workers 2

    with sweep.toml:

        data = "digits"
        methods = ["random", "el2n", "aum", "ccs", "rs2"]
        keep = [0.1, 0.3, 0.5, 1.0]
        seeds = 2
        kd = [ false, true ]
        epochs = 10
    """
    from prunekit.cli._common import console, table, warnings_as_lines
    from prunekit.data.experiment import SweepConfig, run_sweep, summary

    with warnings_as_lines():
        res = run_sweep(SweepConfig.from_toml(config), out, force=force, workers=workers,
                        show_progress=False if quiet else None, report=True)
    if json_out:
        import json

        typer.echo(json.dumps({"total": res.total, "skipped": res.skipped, "ran": res.ran, "results": str(res.path),
                               "report": str(res.report),
                               "summary": [{"method": m, "keep": k, "kd": kd, "seeds": n, "accuracy": a, "std": sd}
                                           for m, k, kd, n, a, sd in summary(res.rows)]}))
        return
    if quiet:
        return
    table(f"{res.total} cells ({res.skipped} already done, {res.ran} run) → {res.path}",
          ["method", "keep", "kd", "seeds", "accuracy %", "± std"],
          [(m, f"{k:g}", "yes" if kd else "no", n, f"{100 * a:.2f}", f"{100 * s:.2f}")
           for m, k, kd, n, a, s in summary(res.rows)])
    console.print(f"results → {res.path}")
    console.print(f"report → {res.report}")


def report_cmd(
    sweep_dir: Path = typer.Argument(..., help="A sweep's output directory (holding results.parquet), or the table itself."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Report directory (default: SWEEP_DIR/report)."),
) -> None:
    """Write the HTML report of a sweep: report.html (plots embedded) and the PNGs.

    Plots: accuracy vs kept fraction, test error vs kept examples with power-law fits, time to
    accuracy counting scoring and teacher training (wall and CPU seconds), kept examples per class;
    then a results table and the config (paths relative to the report).
    An earlier report in the output directory is replaced.

    Example:

        prunekit data report runs/digits -o runs/digits/report
    """
    from prunekit.cli._common import console
    from prunekit.data.experiment.sweep_report import write_report
    from prunekit.errors import InputError

    if not sweep_dir.exists():
        raise InputError(f"sweep directory {sweep_dir} does not exist")
    base = sweep_dir if sweep_dir.is_dir() else sweep_dir.parent
    path = write_report(sweep_dir, out if out is not None else base / "report")
    console.print(f"report → {path}")


def _floats(text: Optional[str], what: str) -> Optional[list[float]]:
    from prunekit.errors import ConfigError

    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{what} must be comma-separated numbers, got {text!r}") from None


def plan_cmd(
    source: str = typer.Argument(..., help="A bundled data set name, a training file, or a plan/sweep config (.toml)."),
    tolerance: Optional[float] = option(TOLERANCE, "--tolerance", "-t", default=None),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (pilot sweeps, final run, plan.json, plan.png)."),
    methods: Optional[str] = typer.Option(None, "--methods", "-m", help="Comma-separated methods (default: random,el2n,ccs)."),
    keep: Optional[str] = typer.Option(None, "--keep", help="Comma-separated kept fractions to consider (default: 0.1,0.2,0.3,0.5,0.7)."),
    pilots: Optional[str] = typer.Option(None, "--pilots", help="Comma-separated pilot subsample fractions (default: 0.125,0.25,0.5)."),
    seeds: Optional[int] = typer.Option(None, "--seeds", help="Seeds per pilot cell (default: 2)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Training epochs (of the full pilot; equal steps for subsets) (default: 10)."),
    kd: Optional[bool] = typer.Option(None, "--kd/--no-kd", help="Also consider distillation from a full-data teacher (default: yes)."),
    test: Optional[str] = typer.Option(None, "--test", help="Labelled test data (needed for a training file)."),
    labels: Optional[str] = typer.Option(None, "--labels", help="Labels .npy for a .npy training file."),
    test_labels: Optional[str] = typer.Option(None, "--test-labels", help="Labels .npy for a .npy test file."),
    final_seeds: Optional[int] = option(FINAL_SEEDS, "--final-seeds", default=None),
    run_final: bool = typer.Option(True, "--run/--no-run", help="Run the recommended setting once on the full data."),
    model: Optional[str] = option(_TP["model"], "--model", default=None),
    optimizer: Optional[str] = option(_TP["optimizer"], "--optimizer", default=None),
    lr: Optional[float] = option(_TP["lr"], "--lr", default=None),
    weight_decay: Optional[float] = option(_TP["weight_decay"], "--weight-decay", default=None),
    schedule: Optional[str] = option(_TP["schedule"], "--schedule", default=None),
    standardize: Optional[bool] = typer.Option(None, "--standardize/--no-standardize", help="z-score the features with the training set's mean and std (default: no)."),
    force: bool = typer.Option(False, "--force", help="Replace pilots or results of a different config in --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or log lines."),
    json_out: bool = typer.Option(False, "--json", help="Print plan.json's decision (recommendation, measurement, recipe) as JSON instead of tables."),
) -> None:
    """Recommend a method, kept fraction and KD weight predicted to stay within TOLERANCE points
    of full-data accuracy, from pilot sweeps on subsamples; then run it once and compare.

    The pilots train every method × keep × seed × {CE, KD} on nested subsamples (default 1/8, 1/4,
    1/2 of the training set), fit a power law of error against kept examples per setting,
    extrapolate to the full set, and keep the smallest fraction whose predicted drop plus one
    standard error is within the tolerance. When no setting qualifies, it says why.

    Example:

        prunekit data plan mnist5k --tolerance 1.0 -o runs/plan-mnist

    The pilots train with your recipe: pass a .toml with the sweep's recipe keys (model — a
    built-in or your factory 'module:function' —, optimizer, lr, schedule, \\[teacher], \\[select.*]),
    or the options below.
    """
    from prunekit.cli._common import console, table, warnings_as_lines
    from prunekit.data.experiment.recommend import recommend

    with warnings_as_lines():
        res = recommend(source, out, overrides={
            "tolerance": tolerance, "pilots": _floats(pilots, "--pilots"), "final_seeds": final_seeds,
            "methods": methods.split(",") if methods else None, "keep": _floats(keep, "--keep"), "seeds": seeds,
            "epochs": epochs, "kd": None if kd is None else ([False, True] if kd else [False]), "test": test,
            "labels": labels, "test_labels": test_labels, "model": model, "optimizer": optimizer, "lr": lr,
            "weight_decay": weight_decay, "schedule": schedule, "standardize": standardize},
            run_final=run_final, force=force, show_progress=False if quiet else None)
    if json_out:
        typer.echo((res.out / "plan.json").read_text())
        return
    rec = res.recommendation
    rows = [(c.method, f"{c.keep:g}", f"{c.alpha:.2f}" if c.kd else "0 (CE)", f"{c.predicted_accuracy:.2f}",
             f"{c.predicted_drop:+.2f} ± {c.margin:.2f}", f"{c.backtest:.2f}", f"{c.exponent:.3f}", f"{c.r2:.2f}",
             "yes" if c.supported else f"no: {c.reason}")
            for c in sorted(rec.candidates, key=lambda c: (c.method, c.kd, c.keep)) if c.method != "full"]
    table(f"pilot predictions at N = {rec.n_full} (full data: {rec.full_accuracy:.2f} % ± {rec.full_margin:.2f}; "
          f"pilot compute {res.pilot_seconds:.0f} s)",
          ["method", "keep", "KD α", "pred. acc %", "pred. drop ± margin", "backtest miss", "b", "R²", "supported"], rows)
    if rec.chosen is None:
        console.print(f"[bold]The pilot cannot support a recommendation within {rec.tolerance:g} points.[/bold]")
        for r in rec.reasons:
            console.print(f"  - {r}")
    else:
        c = rec.chosen
        console.print(f"[bold]Recommended:[/bold] {c.method}, keep {c.keep:g}, "
                      f"{'KD weight α = %.2f' % c.alpha if c.kd else 'no KD (α = 0)'}; predicted accuracy "
                      f"{c.predicted_accuracy:.2f} %, drop {c.predicted_drop:.2f} ± {c.margin:.2f} points")
        m = res.measured
        if m is not None:
            verdict = "within" if m["within_tolerance"] else "NOT within"
            console.print(f"Measured on the full data ({m['seeds']} seed{'s' if m['seeds'] > 1 else ''}): "
                          f"{m['accuracy']:.2f} % vs full data {m['full_accuracy']:.2f} % → drop {m['drop']:.2f} "
                          f"points ({verdict} the tolerance); predicted drop was {c.predicted_drop:.2f}")
    console.print("recipe: " + ", ".join(f"{k} {v}" for k, v in (res.recipe or {}).items()))
    console.print(res.baseline)
    console.print(f"plan → {res.out / 'plan.json'}  ·  plot → {res.out / 'plan.png'}")
