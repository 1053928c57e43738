"""``prunekit sparse ...``: sparse training of built-in models and per-layer reports."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from prunekit.cli._common import console, option
from prunekit.sparse.train import TRAIN_SPARSE_PARAMS

app = typer.Typer(help="Network weights: sparse training (GraNet and baselines) and reports.",
                  no_args_is_help=True)

# The command trains at a higher peak learning rate than the library default (0.05), and always
# passes a ΔT (the library also takes None: each method's own).
_P = TRAIN_SPARSE_PARAMS.replace(lr={"default": 0.1}, delta_t={"none_means": None})


def _opt(name: str, *flags: str):
    """The option of the declared parameter ``name`` (help: meaning, valid values, default)."""
    return option(_P[name], *flags)


@app.command("train")
def train_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="Checkpoint to write (.pt): weights (masked ones exactly 0), masks, metadata."),
    model: str = _opt("model", "--model", "-m"),
    data: str = _opt("data"),
    method: str = _opt("method"),
    sparsity: float = _opt("sparsity"),
    epochs: int = _opt("epochs"),
    lr: float = _opt("lr"),
    batch_size: int = _opt("batch_size"),
    delta_t: int = _opt("delta_t"),
    include: Optional[List[str]] = typer.Option(None, help="Sparsify only layers matching this glob (module or parameter name, e.g. 'fc*'); repeatable."),
    exclude: Optional[List[str]] = typer.Option(None, help="Keep layers matching this glob dense; repeatable."),
    dense_first_last: bool = _opt("dense_first_last", "--dense-first-last"),
    device: str = _opt("device"),
    seed: int = _opt("seed"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a built-in model with a sparse method; prints test accuracy and density and writes a
    checkpoint (model state + masks + metadata) atomically.

    Example:

        prunekit sparse train --model lenet300 --method granet --sparsity 0.95 --epochs 20 -o lenet.pt
    """
    from prunekit.sparse.train import train_sparse

    run = train_sparse(model, data, method=method, sparsity=sparsity, epochs=epochs, seed=seed, lr=lr,
                       batch_size=batch_size, delta_t=delta_t, include=include, exclude=exclude,
                       dense_first_last=dense_first_last, device=device, show_progress=False if quiet else None,
                       out=out)
    sp = run.sparsifier
    kept = f"{sum(sp.masks.nonzeros().values()):,} of {sp.masks.numel():,} weights" if sp is not None else "dense"
    console.print(f"{method} {model} on {data}: test accuracy {100 * run.test_accuracy:.2f}%, "
                  f"density {run.density:.4f} ({kept}), {run.steps} steps in {run.seconds:.1f}s → {out}")


@app.command("report")
def report_cmd(
    checkpoint: Path = typer.Argument(..., help="Checkpoint written by 'prunekit sparse train'."),
    png: Optional[Path] = typer.Option(None, help="Also write a per-layer bar plot (PNG) here."),
) -> None:
    """Per-layer density, nonzeros and theoretical FLOPs of a checkpoint.

    Example:

        prunekit sparse report lenet.pt --png lenet.png
    """
    from prunekit.sparse.sparsity_report import checkpoint_report, print_report

    rep = checkpoint_report(checkpoint, png)
    print_report(rep.rows, title=rep.title, console=console)
    tot = rep.totals
    if tot["flops_fraction"] is not None:
        console.print(f"theoretical forward FLOPs per example: {tot['flops']:,} of {tot['flops_dense']:,} dense "
                      f"({100 * tot['flops_fraction']:.1f}%); dense kernels run at the dense cost")
    if rep.png is not None:
        console.print(f"plot → {rep.png}")
