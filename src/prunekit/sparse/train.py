"""A plain training loop for the built-in models on the bundled data sets, with any sparse method.

This is what ``prunekit sparse train`` and ``benchmarks/sparse_mnist.py`` run; it is also the
reference for the call order in a hand-written loop::

    loss.backward(); optimizer.step(); sparsifier.step(); optimizer.zero_grad()

Optimiser: SGD with momentum, learning rate decayed by cosine over the run (for the lottery ticket,
over each round: see ``Sparsifier.schedule_position``), no warm-up. Everything random is seeded by
``seed``: model initialisation, batch order, and the method's choices. Models, the device, the
evaluation and the checkpoint file come from :mod:`prunekit.nn`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

from prunekit._version import __version__
from prunekit.errors import ConfigError, InputError, require
from prunekit.nn import params as nnp
from prunekit.params import Param, Spec
from prunekit.sparse.params import DELTA_T, DENSE_FIRST_LAST, SPARSITY

__all__ = ["SparseRun", "train_sparse", "TRAIN_SPARSE_PARAMS", "TRAINABLE_DATASETS", "METHOD_NAMES",
           "trainable_datasets"]


def _method_names() -> tuple[str, ...]:
    from prunekit.sparse.methods import METHODS

    return ("dense", *METHODS)


METHOD_NAMES = _method_names()


def trainable_datasets() -> tuple[str, ...]:
    """The bundled data sets (``prunekit.datasets.DATASETS``) this loop trains on: every one whose
    features ship with its package, i.e. not those whose loader computes them with an embedding
    model (an ``embed`` parameter: rotten_tomatoes runs a transformer for about a minute first)."""
    import inspect

    from prunekit.datasets import DATASETS

    return tuple(n for n, loader in DATASETS.items() if "embed" not in inspect.signature(loader).parameters)


#: the bundled data sets this loop trains on (:func:`trainable_datasets`; a subset of
#: ``prunekit.datasets.DATASETS``, which lists every bundled set)
TRAINABLE_DATASETS = trainable_datasets()


def _sparse_models() -> tuple[str, ...]:
    from prunekit.nn.models import SPARSE_MODELS

    return SPARSE_MODELS


#: the parameters of :func:`train_sparse` and ``prunekit sparse train``, declared once
TRAIN_SPARSE_PARAMS = Spec(
    Param("model", "choice", default="lenet300", choices=_sparse_models,
          help="Built-in model (prunekit.nn.MODELS): LeNet-300-100, LeNet-5 (28×28 input) or a small CNN "
               "(square input)"),
    Param("data", "choice", default="mnist5k", choices=TRAINABLE_DATASETS, help="Bundled data set"),
    Param("method", "choice", default="granet", choices=METHOD_NAMES,
          help="Sparse method (prunekit.sparse.methods.METHODS), or dense"),
    dataclasses.replace(SPARSITY, default=0.9, help=SPARSITY.help + " (ignored by dense)"),
    nnp.EPOCHS,
    nnp.BATCH_SIZE,
    dataclasses.replace(nnp.SEED, help="Random seed (initialisation, batch order, masks)"),
    dataclasses.replace(nnp.LR, help="Peak learning rate (SGD with momentum, cosine decay)"),
    nnp.MOMENTUM,
    dataclasses.replace(nnp.WEIGHT_DECAY, default=1e-4),
    dataclasses.replace(DELTA_T, none_means="each method's own", help=DELTA_T.help + " (gmp, granet, rigl, set)"),
    DENSE_FIRST_LAST,
    nnp.DEVICE,
)


@dataclass
class SparseRun:
    """Result of :func:`train_sparse`. ``history``: one dict per epoch (``epoch``, ``train_loss``
    mean cross-entropy, ``density``, ``seconds``); ``losses``: the loss of every optimizer step."""

    model: Any
    sparsifier: Any
    config: dict
    history: list = field(default_factory=list)
    losses: list = field(default_factory=list)
    test_accuracy: float = float("nan")
    test_loss: float = float("nan")
    density: float = 1.0
    steps: int = 0
    seconds: float = 0.0

    def checkpoint_entries(self) -> dict:
        """What :func:`prunekit.nn.save_checkpoint` stores besides the config: the weights with every
        masked one exactly 0, the masks, the mask-update events and the metrics."""
        from prunekit.sparse.export import sparse_state_dict

        sp = self.sparsifier
        return {
            "state_dict": sparse_state_dict(self.model, sp) if sp is not None else
            {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "masks": sp.masks.state_dict() if sp is not None else None,
            "events": list(sp.events) if sp is not None else [],
            "metrics": {"test_accuracy": self.test_accuracy, "test_loss": self.test_loss, "density": self.density,
                        "steps": self.steps, "seconds": self.seconds, "history": self.history},
        }

    def save(self, path: str | os.PathLike):
        """Write the checkpoint (:func:`prunekit.nn.save_checkpoint`) atomically; returns its path."""
        from prunekit.nn import save_checkpoint

        return save_checkpoint(self, path)


def train_sparse(model: str = "lenet300", data: str = "mnist5k", *, method: str = "granet", sparsity: float = 0.9,
                 epochs: int = 10, seed: int = 0, lr: float = 0.05, batch_size: int = 128, momentum: float = 0.9,
                 weight_decay: float = 1e-4, delta_t: int | None = 100, include=None, exclude=None,
                 dense_first_last: bool = False, method_options: dict | None = None, device: str = "cpu",
                 show_progress: bool | None = None, dataset=None, out: str | os.PathLike | None = None) -> SparseRun:
    """Train built-in ``model`` on bundled ``data`` with sparse ``method`` to ``sparsity``.

    Every parameter of :data:`TRAIN_SPARSE_PARAMS` is checked before any data is loaded.

    Args:
        model: ``lenet300``, ``lenet5`` (28×28 input) or ``smallcnn`` (square input).
        data: a name of :data:`TRAINABLE_DATASETS`; ``dataset`` may pass it pre-loaded.
        method: ``dense`` or a name of ``prunekit.sparse.methods.METHODS``.
        sparsity: fraction of the sparsified weights removed at the end, in [0, 1) (ignored by dense).
        delta_t: optimizer steps between mask updates, for the methods that have them.
        include, exclude, dense_first_last: which layers are sparsified (every method takes them).
        method_options: extra keyword arguments for the method's class.
        out: if given, the checkpoint path: checked writable before anything else, written
            atomically at the end (:meth:`SparseRun.save`).
    """
    torch = require("torch", "torch")
    from prunekit._progress import progress
    from prunekit.datasets import load
    from prunekit.nn import evaluate, make_model, resolve_device
    from prunekit.sparse.methods import METHODS, accepted_options, make_sparsifier

    if out is not None:
        from prunekit.io.atomic import check_writable

        check_writable(out)
    method = TRAIN_SPARSE_PARAMS["method"].check(method)
    given = {"model": model, "method": method, "sparsity": 0.0 if method == "dense" else sparsity, "epochs": epochs,
             "batch_size": batch_size, "seed": seed, "lr": lr, "momentum": momentum, "weight_decay": weight_decay,
             "delta_t": delta_t, "dense_first_last": dense_first_last, "device": device}
    if dataset is None:
        given["data"] = data
    p = TRAIN_SPARSE_PARAMS.resolve(given, "train_sparse")
    sparsity, epochs, batch_size, seed = p["sparsity"], p["epochs"], p["batch_size"], p["seed"]
    lr, momentum, weight_decay, delta_t = p["lr"], p["momentum"], p["weight_decay"], p["delta_t"]
    selection = {k: v for k, v in (("include", include), ("exclude", exclude)) if v}
    if p["dense_first_last"]:
        selection["dense_first_last"] = True
    if selection and method == "dense":
        raise ConfigError("include/exclude/dense_first_last choose layers to sparsify; method 'dense' has none")
    twice = sorted(set(selection) & set(method_options or {}))
    if twice:
        raise ConfigError(f"{twice[0]} is given twice: as an argument and in method_options")
    method_options = {**(method_options or {}), **selection}
    dev = resolve_device(p["device"])
    if dataset is None:
        dataset = load(data)

    X = torch.as_tensor(dataset.X_train.copy(), dtype=torch.float32, device=dev)
    y = torch.as_tensor(dataset.y_train.copy(), dtype=torch.long, device=dev)
    Xt = torch.as_tensor(dataset.X_test.copy(), dtype=torch.float32, device=dev)
    yt = torch.as_tensor(dataset.y_test.copy(), dtype=torch.long, device=dev)
    n_classes = len(dataset.label_names)
    net = make_model(model, int(X.shape[1]), n_classes, seed=seed).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    n = len(y)
    steps_per_epoch = math.ceil(n / batch_size)
    total = epochs * steps_per_epoch
    g = torch.Generator().manual_seed(seed)
    orders = [torch.randperm(n, generator=g).to(dev) for _ in range(epochs)]

    sp = None
    if method != "dense":
        opts: dict[str, Any] = {"total_steps": total, "seed": seed}
        cls = METHODS[method][0]
        if delta_t is not None and "delta_t" in accepted_options(cls):
            opts["delta_t"] = delta_t
        if method == "snip":  # SNIP scores on the first training batch of the run
            first = orders[0][:batch_size]
            opts["batch"] = (X[first], y[first])
        opts.update(method_options)
        sp = make_sparsifier(method, net, opt, sparsity, **opts)

    run = SparseRun(model=net, sparsifier=sp, config={
        "model": model, "data": getattr(dataset, "name", data), "dim": int(X.shape[1]), "n_classes": n_classes,
        "method": method, "sparsity": sparsity, "epochs": epochs, "seed": seed, "lr": lr, "batch_size": batch_size,
        "momentum": momentum, "weight_decay": weight_decay, "delta_t": delta_t, "total_steps": total,
        "method_options": {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in method_options.items()
                           if isinstance(v, (int, float, str, bool, list, tuple))},
        "device": str(dev), "prunekit": __version__})
    t_start = time.perf_counter()
    step = 0
    net.train()
    with progress(total, f"{method} {model}", show_progress) as advance:
        for epoch in range(epochs):
            t_ep, ep_loss = time.perf_counter(), 0.0
            for i in range(0, n, batch_size):
                idx = orders[epoch][i:i + batch_size]
                pos, length = sp.schedule_position(step) if sp is not None else (step, total)
                for group in opt.param_groups:
                    group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * min(pos, length) / length))
                loss = torch.nn.functional.cross_entropy(net(X[idx]), y[idx])
                loss.backward()
                opt.step()
                if sp is not None:
                    sp.step()
                opt.zero_grad(set_to_none=True)
                step += 1
                lv = loss.item()
                if not math.isfinite(lv):
                    raise InputError(f"training diverged at step {step} (loss {lv}); lower the learning rate")
                run.losses.append(lv)
                ep_loss += lv * len(idx)
                advance(1)
            run.history.append({"epoch": epoch + 1, "train_loss": ep_loss / n,
                                "density": sp.density() if sp is not None else 1.0,
                                "seconds": time.perf_counter() - t_ep})
    run.seconds = time.perf_counter() - t_start
    run.steps = step
    run.test_accuracy, run.test_loss = evaluate(net, Xt, yt, batch_size=1000, device=dev)
    run.density = sp.density() if sp is not None else 1.0
    if out is not None:
        run.save(out)
    return run
