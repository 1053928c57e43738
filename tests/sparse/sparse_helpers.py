"""Small seeded models and data for the sparse tests (no downloads)."""

from __future__ import annotations

import torch
from torch import nn


def lenet300(seed: int = 0, dim: int = 784, n_classes: int = 10) -> nn.Module:
    from prunekit.nn import make_model

    return make_model("lenet300", dim, n_classes, seed=seed)


class TinyNet(nn.Module):
    """Conv + BatchNorm + LayerNorm + Linear layers: the mask manager must pick only conv/linear
    weights."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc1 = nn.Linear(4 * 8 * 8, 32)
        self.ln = nn.LayerNorm(32)
        self.fc2 = nn.Linear(32, 16)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x.reshape(-1, 1, 8, 8)))).flatten(1)
        return self.head(torch.relu(self.fc2(torch.relu(self.ln(self.fc1(x))))))


def blobs(n: int = 512, dim: int = 64, n_classes: int = 3, seed: int = 0):
    """Linearly separable-ish Gaussian blobs: ``X (n, dim) float32, y (n,) int64``."""
    g = torch.Generator().manual_seed(seed)
    centres = 2.0 * torch.randn(n_classes, dim, generator=g)
    y = torch.randint(0, n_classes, (n,), generator=g)
    X = centres[y] + torch.randn(n, dim, generator=g)
    return X, y


def run_steps(model, opt, sp, X, y, steps: int, *, batch: int = 64, callback=None, seed: int = 0):
    """The documented loop: backward → optimizer.step → sparsifier.step → zero_grad. Returns losses."""
    g = torch.Generator().manual_seed(seed)
    losses = []
    for s in range(steps):
        idx = torch.randint(0, len(y), (batch,), generator=g)
        loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
        loss.backward()
        opt.step()
        if callback is not None:
            callback("before", s)
        sp.step()
        if callback is not None:
            callback("after", s)
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return losses
