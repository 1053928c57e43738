"""``prunekit demo``: the README's main command."""

from __future__ import annotations

from pathlib import Path

import typer

from prunekit.cli._common import console, table


def demo(
    out: Path = typer.Option(Path("prunekit-demo"), "--out", "-o", help="Directory for the artefacts."),
    keep: float = typer.Option(0.3, help="Fraction of the training set to keep."),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    """Score, select and export MNIST-5k, and show what each selection costs in accuracy.

    Example:

        prunekit demo --keep 0.3 -o prunekit-demo
    """
    from prunekit.data.demo import run_demo

    r = run_demo(out, keep=keep, seed=seed)
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
