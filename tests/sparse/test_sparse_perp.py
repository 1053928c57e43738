"""PERP on a small transformer defined here: magnitude-prune, retrain biases + norms + masked
low-rank adapters, merge; every masked weight stays exactly 0."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from prunekit.errors import ConfigError, InputError
from prunekit.sparse import MaskManager, perp_merge, perp_prepare, trainable_fraction
from prunekit.sparse.criteria import global_magnitude_masks
from prunekit.sparse.perp import MaskedLowRankLinear


class Block(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.h = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.up, self.down = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):  # x: (B, T, d)
        B, T, d = x.shape
        h = self.ln1(x)
        q, k, v = (f(h).reshape(B, T, self.h, d // self.h).transpose(1, 2) for f in (self.q, self.k, self.v))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.h), dim=-1)
        x = x + self.o((att @ v).transpose(1, 2).reshape(B, T, d))
        return x + self.down(torch.relu(self.up(self.ln2(x))))


class TinyTransformer(nn.Module):
    def __init__(self, vocab=16, d=64, heads=4, layers=2, T=12):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(0.02 * torch.randn(T, d))
        self.blocks = nn.Sequential(*(Block(d, heads) for _ in range(layers)))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, tokens):
        return self.head(self.ln(self.blocks(self.emb(tokens) + self.pos)))


def task(n=256, T=12, vocab=16, seed=0):
    """Predict the token one position back (a copy task that needs attention)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, vocab, (n, T), generator=g)
    y = torch.roll(x, 1, dims=1)
    return x, y


def train(model, x, y, steps, lr, params=None):
    opt = torch.optim.Adam(params if params is not None else model.parameters(), lr=lr)
    losses = []
    for s in range(steps):
        idx = slice((s * 32) % len(x), (s * 32) % len(x) + 32)
        loss = nn.functional.cross_entropy(model(x[idx]).flatten(0, 1), y[idx].flatten())
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses


def test_perp_retrain_and_merge_keeps_every_masked_weight_zero():
    torch.manual_seed(0)
    model = TinyTransformer()
    x, y = task()
    train(model, x, y, 60, 3e-3)
    # magnitude-prune all Linear layers except the head to 70 % (global)
    mm = MaskManager(model, module_types=["Linear"], exclude="head")
    mm.set_masks(global_magnitude_masks(mm.params, mm.masks, round(0.3 * mm.numel())))
    mm.apply()
    masks = {n: m.clone() for n, m in mm.masks.items()}
    loss_pruned = nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten()).item()

    info = perp_prepare(model, masks, rank=2, seed=0)
    assert len(info["adapted"]) == 12  # q, k, v, o, up, down × 2 blocks
    assert 0 < info["fraction"] < 0.08, info  # only biases, norms and rank-2 adapters train
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert all(("lora_" in n) or n.endswith(".bias") or ".ln" in n or n.startswith("ln.") for n in trainable), trainable
    assert "emb.weight" not in trainable and "pos" not in trainable
    # B = 0 at the start: the adapted model computes exactly the pruned model
    with torch.no_grad():
        assert nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten()).item() == pytest.approx(loss_pruned, rel=1e-5)

    losses = train(model, x, y, 40, 3e-3, params=[p for p in model.parameters() if p.requires_grad])
    assert sum(losses[-5:]) / 5 < loss_pruned  # retraining recovers something
    with torch.no_grad():
        before_merge = model(x)

    merged = perp_merge(model)
    assert len(merged) == 12
    assert not any(isinstance(m, MaskedLowRankLinear) for m in model.modules())
    for n, m in masks.items():
        w = model.get_parameter(n)
        assert torch.all(w[~m] == 0), n  # exact zeros, every masked weight
        assert torch.any(w[m] != 0)
    with torch.no_grad():
        assert torch.allclose(model(x), before_merge, atol=1e-5)
    assert trainable_fraction(model)["fraction"] == 1.0


def test_perp_bad_input():
    model = TinyTransformer(layers=1)
    with pytest.raises(ConfigError, match="rank"):
        perp_prepare(model, {"blocks.0.q.weight": torch.ones(64, 64, dtype=torch.bool)}, rank=0)
    with pytest.raises(InputError, match="does not name"):
        perp_prepare(model, {"nope.weight": torch.ones(2, 2, dtype=torch.bool)})
    with pytest.raises(ConfigError, match="no pruned nn.Linear"):
        perp_prepare(nn.Sequential(nn.Conv2d(1, 2, 3)), {"0.weight": torch.ones(2, 1, 3, 3, dtype=torch.bool)})
    with pytest.raises(InputError, match="shape"):
        perp_prepare(model, {"blocks.0.q.weight": torch.ones(3, 3, dtype=torch.bool)})
