"""``prunekit sparse ...``: sparse training of built-in models and per-layer reports."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from prunekit.cli._common import console

app = typer.Typer(help="Network weights: sparse training (GraNet and baselines) and reports.",
                  no_args_is_help=True)


@app.command("train")
def train_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="Checkpoint to write (.pt): weights (masked ones exactly 0), masks, metadata."),
    model: str = typer.Option("lenet300", "--model", "-m", help="lenet300 (LeNet-300-100), lenet5 (28×28 input) or smallcnn (square input)."),
    data: str = typer.Option("mnist5k", help="Bundled data set: mnist5k, digits (8×8), optdigits, penbased."),
    method: str = typer.Option("granet", help="dense, magnitude, magnitude_layer, random, snip, gmp, granet, granet_s2s, rigl, set, lth."),
    sparsity: float = typer.Option(0.9, help="Fraction of the Linear/Conv weights removed at the end, in [0, 1)."),
    epochs: int = typer.Option(10, help="Training epochs."),
    lr: float = typer.Option(0.1, help="Peak learning rate (SGD, momentum 0.9, cosine decay)."),
    batch_size: int = typer.Option(128, help="Batch size."),
    delta_t: int = typer.Option(100, help="Optimizer steps between mask updates (gmp, granet, rigl, set)."),
    include: Optional[List[str]] = typer.Option(None, help="Sparsify only layers matching this glob (module or parameter name, e.g. 'fc*'); repeatable."),
    exclude: Optional[List[str]] = typer.Option(None, help="Keep layers matching this glob dense; repeatable."),
    dense_first_last: bool = typer.Option(False, "--dense-first-last", help="Keep the first and last layers dense."),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N or auto."),
    seed: int = typer.Option(0, help="Random seed (initialisation, batch order, masks)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train a built-in model with a sparse method; prints test accuracy and density and writes a
    checkpoint (model state + masks + metadata) atomically.

    Example:

        prunekit sparse train --model lenet300 --method granet --sparsity 0.95 --epochs 20 -o lenet.pt
    """
    from prunekit.errors import ConfigError
    from prunekit.io.atomic import check_writable
    from prunekit.sparse.train import save_checkpoint, train_sparse

    check_writable(out)
    selection = {k: v for k, v in (("include", include), ("exclude", exclude)) if v}
    if dense_first_last:
        selection["dense_first_last"] = True
    if selection and method == "dense":
        raise ConfigError("--include/--exclude/--dense-first-last choose layers to sparsify; --method dense has none")
    run = train_sparse(model, data, method=method, sparsity=sparsity, epochs=epochs, seed=seed, lr=lr,
                       batch_size=batch_size, delta_t=delta_t, device=device, method_options=selection or None,
                       show_progress=False if quiet else None)
    save_checkpoint(run, out)
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
    import torch

    from prunekit.io.atomic import check_writable
    from prunekit.sparse.report import layer_report, plot_report, print_report, report_totals
    from prunekit.sparse.train import load_checkpoint

    if png is not None:
        check_writable(png)
    ck = load_checkpoint(checkpoint)
    cfg, met = ck["config"], ck["metrics"]
    rows = layer_report(ck["model"], ck["mask_manager"], torch.zeros(1, int(cfg["dim"])))
    title = (f"{cfg['method']} {cfg['model']} on {cfg['data']}, sparsity target {cfg['sparsity']}, "
             f"test accuracy {100 * met['test_accuracy']:.2f}%")
    print_report(rows, title=title, console=console)
    tot = report_totals(rows)
    if tot["flops_fraction"] is not None:
        console.print(f"theoretical forward FLOPs per example: {tot['flops']:,} of {tot['flops_dense']:,} dense "
                      f"({100 * tot['flops_fraction']:.1f}%); dense kernels run at the dense cost")
    if png is not None:
        plot_report(rows, png, title=f"{cfg['method']} {cfg['model']}")
        console.print(f"plot → {png}")
