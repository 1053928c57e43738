"""Per-layer sparsity report: density, nonzeros and theoretical FLOPs, as rows, a Rich table or a
PNG bar plot — of any model, or of a checkpoint written by ``prunekit sparse train``
(:func:`checkpoint_report`).

Rows cover every ``nn.Linear``/``nn.Conv1d/2d/3d`` of the model. For a masked layer ``nonzeros`` is
the mask's active count; for the others, the number of nonzero weights. FLOPs are per example and
forward only: ``2 · nonzeros · positions`` (one multiply and one add per active weight and output
position; biases and activations not counted), ``positions`` = output spatial size for convs
(H·W), tokens for Linear on sequences, 1 otherwise — measured by a forward hook on one example
input. ``flops_dense`` is the same with every weight active. These are *theoretical*: dense kernels
run at the dense cost whatever the mask.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from prunekit.errors import ConfigError, InputError, require

__all__ = ["layer_report", "report_totals", "print_report", "plot_report", "CheckpointReport", "checkpoint_report"]


def layer_report(model, masks=None, example_input=None) -> list[dict]:
    """One dict per Linear/Conv layer: ``layer, type, shape, params, nonzeros, density, positions,
    flops_dense, flops`` (FLOPs ``None`` for a conv when no ``example_input`` was given).

    Args:
        masks: a MaskManager, a Sparsifier or ``{param name: bool mask}``; None counts nonzeros.
        example_input: one batch the model accepts (its first dimension is the batch); FLOPs are
            divided by that batch size.
    """
    torch = require("torch", "torch")
    nn = torch.nn
    from prunekit.sparse.export import _masks_of

    mask_of: Mapping[str, object] = {} if masks is None else _masks_of(masks)
    types = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, types)]
    if not layers:
        raise ConfigError("no Linear/Conv layers to report on")
    positions: dict[str, int] = {}
    if example_input is not None:
        if not torch.is_tensor(example_input) or example_input.dim() < 1 or example_input.shape[0] < 1:
            raise InputError("example_input must be a tensor with a batch dimension")
        batch = example_input.shape[0]
        hooks = []
        for n, m in layers:
            def hook(mod, inp, out, n=n):
                channels = out.shape[-1] if isinstance(mod, nn.Linear) else out.shape[1]
                positions[n] = out.numel() // (batch * channels)
            hooks.append(m.register_forward_hook(hook))
        was_training = model.training
        try:
            model.eval()
            with torch.no_grad():
                model(example_input)
        finally:
            for h in hooks:
                h.remove()
            model.train(was_training)
    rows = []
    for n, m in layers:
        w = m.weight
        mask = mask_of.get(f"{n}.weight")
        nnz = int(mask.sum()) if mask is not None else int((w != 0).sum())
        pos = positions.get(n, 1 if isinstance(m, nn.Linear) else None)
        rows.append({
            "layer": n, "type": type(m).__name__, "shape": "×".join(str(s) for s in w.shape),
            "params": w.numel(), "nonzeros": nnz, "density": nnz / w.numel(), "masked": mask is not None,
            "positions": pos,
            "flops_dense": None if pos is None else 2 * w.numel() * pos,
            "flops": None if pos is None else 2 * nnz * pos,
        })
    return rows


def report_totals(rows: list[dict]) -> dict:
    """Totals over the rows: params, nonzeros, density, FLOPs (None if any layer's is unknown)."""
    params = sum(r["params"] for r in rows)
    nnz = sum(r["nonzeros"] for r in rows)
    known = all(r["flops"] is not None for r in rows)
    fd = sum(r["flops_dense"] for r in rows) if known else None
    f = sum(r["flops"] for r in rows) if known else None
    return {"params": params, "nonzeros": nnz, "density": nnz / params, "flops_dense": fd, "flops": f,
            "flops_fraction": (f / fd) if known and fd else None}


def _si(x) -> str:
    if x is None:
        return "?"
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= div:
            return f"{x / div:.2f}{unit}"
    return str(int(x))


def print_report(rows: list[dict], title: str = "per-layer sparsity", console=None) -> None:
    """Render the rows as a Rich table (with a total line)."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for c in ("layer", "type", "shape", "params", "nonzeros", "density", "FLOPs dense", "FLOPs sparse"):
        t.add_column(c, justify="left" if c in ("layer", "type", "shape") else "right")
    for r in rows:
        t.add_row(r["layer"] + ("" if r["masked"] else " (dense)" if r["density"] == 1 else ""), r["type"],
                  r["shape"], f"{r['params']:,}", f"{r['nonzeros']:,}", f"{r['density']:.4f}",
                  _si(r["flops_dense"]), _si(r["flops"]))
    tot = report_totals(rows)
    t.add_row("total", "", "", f"{tot['params']:,}", f"{tot['nonzeros']:,}", f"{tot['density']:.4f}",
              _si(tot["flops_dense"]), _si(tot["flops"]), style="bold")
    (console or Console()).print(t)


def plot_report(rows: list[dict], path, title: str = "per-layer density") -> None:
    """Bar plot (PNG, written atomically): per-layer density, and nonzero vs total weights."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from prunekit.io.atomic import atomic_path

    if not rows:
        raise InputError("nothing to plot: the report has no rows")
    names = [r["layer"] for r in rows]
    x = range(len(rows))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(max(7, 1.3 * len(rows) + 4), 3.6))
    a1.bar(x, [r["density"] for r in rows], color="tab:blue")
    a1.set_ylim(0, 1.05)
    a1.set_ylabel("density (kept fraction)")
    a1.set_title(title)
    for i, r in enumerate(rows):
        a1.text(i, r["density"] + 0.02, f"{r['density']:.3f}", ha="center", fontsize=8)
    a2.bar(x, [r["params"] for r in rows], color="lightgray", label="weights")
    a2.bar(x, [r["nonzeros"] for r in rows], color="tab:orange", label="nonzeros")
    a2.set_yscale("log")
    a2.set_title("weights per layer")
    a2.legend(fontsize=8)
    for a in (a1, a2):
        a.set_xticks(list(x))
        a.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        a.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=120)
    finally:
        plt.close(fig)


@dataclass
class CheckpointReport:
    """What :func:`checkpoint_report` found: the layer rows, their totals, a title naming the run,
    and the PNG written (or None)."""

    rows: list[dict]
    totals: dict
    title: str
    png: Path | None = None


def checkpoint_report(path: str | os.PathLike, png: str | os.PathLike | None = None) -> CheckpointReport:
    """Per-layer report of a checkpoint written by ``prunekit sparse train`` (masks from the file,
    FLOPs from one all-zero example); with ``png``, also the bar plot, written atomically (its
    directory is checked, and that it is not the checkpoint, before anything is read)."""
    torch = require("torch", "torch")
    from prunekit.io.atomic import check_not_input, check_writable
    from prunekit.nn import load_checkpoint
    from prunekit.sparse.masks import MaskManager

    if png is not None:  # before anything is read: never the checkpoint itself, and writable
        check_not_input(png, [("checkpoint", path)])
        check_writable(png)
    ck = load_checkpoint(path)
    cfg, met = ck.config, ck.metrics
    if "method" not in cfg or "test_accuracy" not in met:
        raise InputError(f"{path} is not a prunekit sparse checkpoint (written by 'prunekit sparse train')")
    try:
        mm = MaskManager.from_state_dict(ck.model, ck.masks) if ck.masks is not None else None
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    rows = layer_report(ck.model, mm, torch.zeros(1, int(cfg["dim"])))
    title = (f"{cfg['method']} {cfg['model']} on {cfg['data']}, sparsity target {cfg['sparsity']}, "
             f"test accuracy {100 * met['test_accuracy']:.2f}%")
    if png is not None:
        plot_report(rows, png, title=f"{cfg['method']} {cfg['model']}")
    return CheckpointReport(rows, report_totals(rows), title, None if png is None else Path(png))
