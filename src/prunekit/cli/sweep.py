"""``prunekit data sweep``: a resumable sweep of methods × keep fractions × seeds × {CE, KD};
``prunekit data report``: its HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def sweep_cmd(
    config: Path = typer.Argument(..., help="Sweep config (TOML): data, methods, keep, seeds, kd, alpha, model, epochs, ..."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (results.parquet, per-cell files, caches)."),
    force: bool = typer.Option(False, "--force", help="Replace the results of a different config in --out."),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", help="Cells run in this many processes (default: the config's, else 1)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Run every method × keep × seed × KD cell of CONFIG and write one Parquet table.

    Restarting with the same config resumes: finished cells are skipped. At the end the report
    (report.html and its PNGs) is written into OUT/report/.
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
    from prunekit.cli._common import console, table
    from prunekit.data.experiment import SweepConfig, run_sweep, summary
    from prunekit.data.experiment.report import write_report

    cfg = SweepConfig.from_toml(config)
    res = run_sweep(cfg, out, force=force, workers=workers, show_progress=False if quiet else None)
    report = write_report(out, out / "report")
    if quiet:
        return
    table(f"{res.total} cells ({res.skipped} already done, {res.ran} run) → {res.path}",
          ["method", "keep", "kd", "seeds", "accuracy %", "± std"],
          [(m, f"{k:g}", "yes" if kd else "no", n, f"{100 * a:.2f}", f"{100 * s:.2f}")
           for m, k, kd, n, a, s in summary(res.rows)])
    console.print(f"results → {res.path}")
    console.print(f"report → {report}")


def report_cmd(
    sweep_dir: Path = typer.Argument(..., help="A sweep's output directory (holding results.parquet), or the table itself."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Report directory (default: SWEEP_DIR/report)."),
) -> None:
    """Write the HTML report of a sweep: report.html (plots embedded) and the PNGs.

    Plots: accuracy vs kept fraction, test error vs kept examples with power-law fits, time to
    accuracy with the scoring cost, kept examples per class; then a results table and the config.
    An earlier report in the output directory is replaced.

    Example:

        prunekit data report runs/digits -o runs/digits/report
    """
    from prunekit.cli._common import console
    from prunekit.data.experiment.report import write_report
    from prunekit.errors import InputError

    if not sweep_dir.exists():
        raise InputError(f"sweep directory {sweep_dir} does not exist")
    base = sweep_dir if sweep_dir.is_dir() else sweep_dir.parent
    path = write_report(sweep_dir, out if out is not None else base / "report")
    console.print(f"report → {path}")
