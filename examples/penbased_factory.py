"""A user's own model factory for prunekit (used by examples/penbased_sweep.toml).

prunekit calls ``make(dim, n_classes, seed)`` for every student, the KD teacher and the
proxy trainings of the dynamics scores (torch is seeded with ``seed`` first). It must return
an ``nn.Module`` mapping a float32 batch ``(B, dim)`` to logits ``(B, n_classes)``.

Pen-based digits have 16 features (8 resampled (x, y) pen positions), so a small pre-norm
residual MLP with LayerNorm and dropout is plenty.
"""
import torch
import torch.nn as nn


class _Block(nn.Module):
    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.ff = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.ff(self.norm(x))


class PenNet(nn.Module):
    def __init__(self, dim: int, n_classes: int, width: int = 128, blocks: int = 2,
                 dropout: float = 0.1):
        super().__init__()
        self.stem = nn.Linear(dim, width)
        self.blocks = nn.Sequential(*[_Block(width, dropout) for _ in range(blocks)])
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


def make(dim: int, n_classes: int, seed: int) -> nn.Module:
    return PenNet(dim, n_classes)
