"""Where a model runs and what it predicts: the device resolver, batched logits and accuracy/loss.

Inputs may be NumPy arrays or tensors; logits are computed in eval mode in batches and returned
as float32 NumPy arrays, and the model's train/eval mode is restored afterwards.
"""

from __future__ import annotations

import numpy as np

from prunekit.errors import ConfigError, require
from prunekit.nn.params import DEVICE

__all__ = ["resolve_device", "predict_logits", "evaluate"]


def resolve_device(device):
    """A ``torch.device`` from ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when available).

    ``ConfigError`` for an unknown name, or for CUDA on a machine without it."""
    torch = require("torch", "torch")
    if isinstance(device, torch.device):
        device = str(device)
    device = DEVICE.check(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for but CUDA is not available on this machine")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ConfigError(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto") from None


def predict_logits(model, X, *, batch_size: int = 1024, device="cpu") -> np.ndarray:
    """(N, C) float32 logits, in eval mode, batched. ``X``: (N, D) array or tensor."""
    torch = require("torch", "torch")
    was = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(X), batch_size):
            xb = X[s : s + batch_size]
            if torch.is_tensor(xb):
                xb = xb.to(device=device, dtype=torch.float32)
            else:
                xb = torch.from_numpy(np.array(xb, dtype=np.float32)).to(device)
            out.append(model(xb).float().cpu().numpy())
    model.train(was)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def evaluate(model, X, y, *, batch_size: int = 1024, device="cpu") -> tuple[float, float]:
    """``(accuracy, mean cross-entropy)`` of ``model`` on ``X`` (N, D) and labels ``y`` (N,)."""
    torch = require("torch", "torch")
    logits = predict_logits(model, X, batch_size=batch_size, device=device)
    y = y.detach().cpu().numpy() if torch.is_tensor(y) else y
    lt = torch.from_numpy(logits)
    yt = torch.from_numpy(np.array(y, dtype=np.int64))  # a copy: y may be read-only
    loss = float(torch.nn.functional.cross_entropy(lt, yt))
    return float((logits.argmax(1) == np.asarray(y)).mean()), loss
