"""Network weights: masks, layer densities, schedules and sparse-training methods (GraNet and
baselines), PERP retraining, export and per-layer reports.

Layers, lowest first: ``params`` (every scalar parameter, declared once) and
``density``/``schedules``/``criteria`` (pure functions) → ``masks`` (:class:`MaskManager`) →
``methods`` (sparsifiers) → ``train``/``callback`` (loops), ``sparsity_report`` → CLI. Models,
devices, evaluation and checkpoints come from :mod:`prunekit.nn`, shared with ``prunekit.data``
(which this package never imports).

Use in any loop (the sparsifier reads the dense gradients of the step)::

    sp = make_sparsifier("granet", model, optimizer, sparsity=0.9, total_steps=T)
    for x, y in batches:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        sp.step()             # after optimizer.step(), before zero_grad()
        optimizer.zero_grad()

Sparsity is the removed fraction of the sparsified weights (Linear/Conv weights; never biases or
normalisation parameters); density = 1 − sparsity.
"""

from __future__ import annotations

from prunekit.sparse.density import erk_densities, kept_counts, uniform_densities
from prunekit.sparse.export import sparse_state_dict, to_torch_prune
from prunekit.sparse.masks import MaskManager, prunable_weights
from prunekit.sparse.methods import METHODS, ORDER_HINT, Sparsifier, make_sparsifier
from prunekit.sparse.perp import perp_merge, perp_prepare, trainable_fraction
from prunekit.sparse.sparsity_report import (checkpoint_report, layer_report, plot_report, print_report,
                                             report_totals)
from prunekit.sparse.schedules import (CosineDecay, CubicSchedule, cosine_decay, cubic_sparsity, lth_rounds,
                                       prune_steps)

__all__ = [
    "MaskManager", "prunable_weights", "erk_densities", "uniform_densities", "kept_counts",
    "cubic_sparsity", "prune_steps", "cosine_decay", "lth_rounds", "CubicSchedule", "CosineDecay",
    "METHODS", "ORDER_HINT", "Sparsifier", "make_sparsifier",
    "perp_prepare", "perp_merge", "trainable_fraction",
    "to_torch_prune", "sparse_state_dict",
    "layer_report", "report_totals", "print_report", "plot_report", "checkpoint_report",
    "SparseCallback",
]


def __getattr__(name):
    # Lightning is heavy (~5 s to import) and optional: load it only when the callback is asked for.
    if name == "SparseCallback":
        from prunekit.sparse.callback import SparseCallback

        return SparseCallback
    raise AttributeError(f"module 'prunekit.sparse' has no attribute {name!r}")
