"""A plain training loop for the built-in models on the bundled data sets, with any sparse method.

This is what ``prunekit sparse train`` and ``benchmarks/sparse_mnist.py`` run; it is also the
reference for the call order in a hand-written loop::

    loss.backward(); optimizer.step(); sparsifier.step(); optimizer.zero_grad()

Optimiser: SGD with momentum, learning rate decayed by cosine over the run (for the lottery ticket,
over each round: see ``Sparsifier.schedule_position``), no warm-up. Everything random is seeded by
``seed``: model initialisation, batch order, and the method's choices.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from prunekit._version import __version__
from prunekit.errors import ConfigError, InputError, require

__all__ = ["SparseRun", "train_sparse", "save_checkpoint", "load_checkpoint", "DATASETS", "METHOD_NAMES"]

#: bundled data sets with features that this loop trains on
DATASETS = ("mnist5k", "digits", "optdigits", "penbased")
CHECKPOINT_FORMAT = "prunekit.sparse.checkpoint/1"


def _method_names() -> tuple[str, ...]:
    from prunekit.sparse.methods import METHODS

    return ("dense", *METHODS)


METHOD_NAMES = _method_names()


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


def _pos_int(x, what: str) -> int:
    if isinstance(x, bool) or not isinstance(x, int) or x < 1:
        raise ConfigError(f"{what} must be a positive integer, got {x!r}")
    return x


def _device(torch, device: str):
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto") from None
    if d.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available")
    return d


def evaluate(model, X, y, batch_size: int = 1000) -> tuple[float, float]:
    """``(accuracy, mean cross-entropy)`` of ``model`` on tensors ``X`` (N, D), ``y`` (N,)."""
    torch = require("torch", "torch")
    model.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for i in range(0, len(y), batch_size):
            out = model(X[i:i + batch_size])
            loss += float(torch.nn.functional.cross_entropy(out, y[i:i + batch_size], reduction="sum"))
            correct += int((out.argmax(1) == y[i:i + batch_size]).sum())
    model.train()
    return correct / len(y), loss / len(y)


def train_sparse(model: str = "lenet300", data: str = "mnist5k", *, method: str = "granet", sparsity: float = 0.9,
                 epochs: int = 10, seed: int = 0, lr: float = 0.05, batch_size: int = 128, momentum: float = 0.9,
                 weight_decay: float = 1e-4, delta_t: int | None = 100, method_options: dict | None = None,
                 device: str = "cpu", show_progress: bool | None = None, dataset=None) -> SparseRun:
    """Train built-in ``model`` on bundled ``data`` with sparse ``method`` to ``sparsity``.

    Args:
        model: ``lenet300``, ``lenet5`` (28×28 input) or ``smallcnn`` (square input).
        data: a bundled data set name (:data:`DATASETS`); ``dataset`` may pass it pre-loaded.
        method: ``dense`` or a name of ``prunekit.sparse.methods.METHODS``.
        sparsity: fraction of the sparsified weights removed at the end, in [0, 1) (ignored by dense).
        delta_t: optimizer steps between mask updates, for the methods that have them.
        method_options: extra keyword arguments for the method's class.
    """
    torch = require("torch", "torch")
    from prunekit.datasets import load
    from prunekit.sparse.density import check_sparsity
    from prunekit.sparse.methods import METHODS, accepted_options, make_sparsifier
    from prunekit.sparse.models import make_model
    from prunekit._progress import progress

    if method not in METHOD_NAMES:
        raise ConfigError(f"unknown method {method!r}; valid methods: {', '.join(METHOD_NAMES)}")
    sparsity = 0.0 if method == "dense" else check_sparsity(sparsity)
    _pos_int(epochs, "epochs")
    _pos_int(batch_size, "batch size")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ConfigError(f"learning rate must be a positive number, got {lr!r}")
    if not 0.0 <= momentum < 1.0:
        raise ConfigError(f"momentum must be in [0, 1), got {momentum!r}")
    if weight_decay < 0:
        raise ConfigError(f"weight decay must be >= 0, got {weight_decay!r}")
    if dataset is None:
        if data not in DATASETS:
            raise ConfigError(f"unknown data set {data!r} for sparse training; valid: {', '.join(DATASETS)}")
        dataset = load(data)
    dev = _device(torch, device)

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
        opts.update(method_options or {})
        sp = make_sparsifier(method, net, opt, sparsity, **opts)

    run = SparseRun(model=net, sparsifier=sp, config={
        "model": model, "data": getattr(dataset, "name", data), "dim": int(X.shape[1]), "n_classes": n_classes,
        "method": method, "sparsity": sparsity, "epochs": epochs, "seed": seed, "lr": lr, "batch_size": batch_size,
        "momentum": momentum, "weight_decay": weight_decay, "delta_t": delta_t, "total_steps": total,
        "method_options": {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in (method_options or {}).items()
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
    run.test_accuracy, run.test_loss = evaluate(net, Xt, yt)
    run.density = sp.density() if sp is not None else 1.0
    return run


# ----------------------------------------------------------------------------- checkpoints


def save_checkpoint(run: SparseRun, path) -> None:
    """Write model weights (masked weights exactly 0), masks and metadata to ``path`` atomically."""
    torch = require("torch", "torch")
    from prunekit.io.atomic import atomic_path
    from prunekit.sparse.export import sparse_state_dict

    sp = run.sparsifier
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": run.config,
        "state_dict": sparse_state_dict(run.model, sp) if sp is not None else
        {k: v.detach().cpu().clone() for k, v in run.model.state_dict().items()},
        "masks": sp.masks.state_dict() if sp is not None else None,
        "events": list(sp.events) if sp is not None else [],
        "metrics": {"test_accuracy": run.test_accuracy, "test_loss": run.test_loss, "density": run.density,
                    "steps": run.steps, "seconds": run.seconds, "history": run.history},
    }
    payload["state_dict"] = {k: v.cpu() for k, v in payload["state_dict"].items()}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`. Returns the payload plus ``model``
    (rebuilt, weights loaded, CPU) and ``mask_manager`` (a MaskManager with the saved masks, or None)."""
    torch = require("torch", "torch")
    from pathlib import Path

    from prunekit.sparse.masks import MaskManager
    from prunekit.sparse.models import make_model

    p = Path(path)
    if not p.is_file():
        raise InputError(f"checkpoint {p} does not exist")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors have many types; the message is what matters
        raise InputError(f"{p} is not a readable torch checkpoint ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{p} is not a prunekit sparse checkpoint (written by 'prunekit sparse train')")
    cfg = payload["config"]
    model = make_model(cfg["model"], int(cfg["dim"]), int(cfg["n_classes"]))
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise InputError(f"{p}: weights do not fit model {cfg['model']}: {str(exc).splitlines()[0]}") from None
    mm = None
    if payload.get("masks") is not None:
        mcfg = payload["masks"].get("config", {})
        mm = MaskManager(model, module_types=mcfg.get("module_types"), include=mcfg.get("include") or None,
                         exclude=mcfg.get("exclude") or None, dense_first_last=bool(mcfg.get("dense_first_last")))
        mm.load_state_dict(payload["masks"])
    payload["model"] = model
    payload["mask_manager"] = mm
    return payload
