"""``prunekit data sweep``: a resumable sweep of methods × keep fractions × seeds × {CE, KD}."""

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

    Restarting with the same config resumes: finished cells are skipped.
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

    cfg = SweepConfig.from_toml(config)
    res = run_sweep(cfg, out, force=force, workers=workers, show_progress=False if quiet else None)
    if quiet:
        return
    table(f"{res.total} cells ({res.skipped} already done, {res.ran} run) → {res.path}",
          ["method", "keep", "kd", "seeds", "accuracy %", "± std"],
          [(m, f"{k:g}", "yes" if kd else "no", n, f"{100 * a:.2f}", f"{100 * s:.2f}")
           for m, k, kd, n, a, s in summary(res.rows)])
    console.print(f"results → {res.path}")
