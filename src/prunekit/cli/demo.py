"""``prunekit demo``: the README's main command."""

from __future__ import annotations

from pathlib import Path

import typer

from prunekit.cli._common import console, option, table
from prunekit.data.select import KEEP
from prunekit.nn.params import SEED


def demo(
    out: Path = typer.Option(Path("prunekit-demo"), "--out", "-o", help="Directory for the artefacts."),
    keep: float = option(KEEP, default=0.3),
    seed: int = option(SEED),
    sweep: bool = typer.Option(True, "--sweep/--no-sweep", help="Also run the compact sweep and write its report."),
    text: bool = typer.Option(True, "--text/--no-text", help="Also embed 1000 Rotten Tomatoes snippets and write their gallery."),
) -> None:
    """Score, select and export MNIST-5k, show what each selection costs in accuracy, then run a
    compact sweep (methods × keep × 2 seeds × CE/KD, and RS2) and write its HTML report; write a
    gallery page of what was dropped for MNIST-5k and for Rotten Tomatoes review snippets.

    Example:

        prunekit demo -o prunekit-demo
    """
    from prunekit.data.mnist_demo import run_demo

    r = run_demo(out, keep=keep, seed=seed, with_sweep=sweep, with_text=text)
    console.print(
        f"MNIST-5k: {r['n_train']:,} training images (test {r['n_test']:,}); k = {r['k']} clusters; "
        f"{r['near_duplicates']} near-duplicates (eps 0.05); scoring took {r['score_seconds']:.1f}s"
    )
    full = r["rows"][0]["accuracy"]
    table(
        f"keep {r['keep']:.0%}: logistic regression on the kept pixels, fixed test split",
        ["selection", "kept", "test accuracy", "vs full data"],
        [(x["method"], x["kept"], f"{100 * x['accuracy']:.2f}%", f"{100 * (x['accuracy'] - full):+.2f} pts")
         for x in r["rows"]],
    )
    console.print(f"artefacts in {r['out_dir']}/ (scores.parquet, selection_*.parquet, kept_dbp.parquet, "
                  f"dbp_centroid_distance.png); took {r['total_seconds']:.1f}s")
    console.print(f"gallery of what DBP dropped: {r['gallery']}")
    tg = r.get("text_gallery")
    if tg and "skipped" in tg:
        console.print(f"[dim]text gallery skipped: {tg['skipped']}[/dim]")
    elif tg:
        console.print(f"Rotten Tomatoes: {tg['n']:,} snippets, kept {tg['kept']:,} (DBP, near-duplicates dropped "
                      f"first); gallery: {tg['gallery']} ({tg['seconds']:.0f}s)")
    sw = r.get("sweep")
    if sw:
        rows = [(m, f"{k:g}", "KD" if kd else "CE", n, f"{100 * a:.2f} ± {100 * sd:.2f}") for m, k, kd, n, a, sd in sw["summary"]]
        table(f"compact sweep on MNIST-5k: test accuracy % (mean ± std over seeds); {sw['ran']} runs in "
              f"{sw['seconds']:.0f}s ({sw['skipped']} reused)", ["method", "keep", "loss", "seeds", "accuracy"], rows)
        console.print(f"report: {sw['report']}")
    console.print("next: [bold]prunekit data plan mnist5k --tolerance 1.0 -o runs/plan[/bold] (how much can be dropped), "
                  "[bold]prunekit lake demo[/bold] (contained tables in a real lake), "
                  "[bold]prunekit sparse train --method granet --sparsity 0.95 -o lenet.pt[/bold] (sparse weights)")
