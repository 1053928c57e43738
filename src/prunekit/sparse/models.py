"""Built-in models for sparse-training experiments; inputs are flat vectors ``(N, D)`` float32.

- ``lenet300`` — LeNet-300-100: Linear D→300→100→n_classes with ReLU (layers ``fc1, fc2, fc3``).
- ``lenet5`` — LeNet-5 for 28×28 grey images: conv 5×5 (6, padding 2) → max-pool → conv 5×5 (16)
  → max-pool → Linear 400→120→84→n_classes (layers ``conv1, conv2, fc1, fc2, fc3``).
- ``smallcnn`` — two 3×3 conv blocks (16, 32 channels, padding 1, max-pool 2) and Linear
  ``32·(side/4)²``→128→n_classes, for any square side divisible by 4 (28×28 MNIST, 8×8 digits).

CNNs reshape the flat input to ``(N, 1, side, side)``, ``side = √D``.
"""

from __future__ import annotations

import math

from prunekit.errors import ConfigError, require

__all__ = ["MODELS", "make_model"]

MODELS = ("lenet300", "lenet5", "smallcnn")


def _side(name: str, dim: int) -> int:
    side = int(round(math.sqrt(dim)))
    if side * side != dim:
        raise ConfigError(f"model {name!r} needs square grey images given as flat vectors; {dim} features is "
                          "not a square (use lenet300)")
    return side


def make_model(name: str, dim: int, n_classes: int = 10, *, seed: int = 0):
    """A freshly initialised model; its weights depend only on ``seed``."""
    torch = require("torch", "torch")
    nn = torch.nn
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}")
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ConfigError(f"input dimension must be a positive integer, got {dim!r}")
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ConfigError(f"need at least 2 classes, got {n_classes!r}")

    class LeNet300(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.fc3 = nn.Linear(dim, 300), nn.Linear(300, 100), nn.Linear(100, n_classes)

        def forward(self, x):
            x = torch.relu(self.fc1(x.reshape(x.shape[0], -1)))
            return self.fc3(torch.relu(self.fc2(x)))

    class LeNet5(nn.Module):
        def __init__(self, side):
            super().__init__()
            self.side = side
            self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1, self.fc2, self.fc3 = nn.Linear(16 * 5 * 5, 120), nn.Linear(120, 84), nn.Linear(84, n_classes)

        def forward(self, x):
            x = x.reshape(-1, 1, self.side, self.side)
            x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
            x = torch.max_pool2d(torch.relu(self.conv2(x)), 2).flatten(1)
            return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))

    class SmallCNN(nn.Module):
        def __init__(self, side):
            super().__init__()
            self.side = side
            self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
            self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
            self.fc1, self.fc2 = nn.Linear(32 * (side // 4) ** 2, 128), nn.Linear(128, n_classes)

        def forward(self, x):
            x = x.reshape(-1, 1, self.side, self.side)
            x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
            x = torch.max_pool2d(torch.relu(self.conv2(x)), 2).flatten(1)
            return self.fc2(torch.relu(self.fc1(x)))

    devices = []  # fork_rng needs a list; CPU only
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        if name == "lenet300":
            return LeNet300()
        side = _side(name, dim)
        if name == "lenet5":
            if side != 28:
                raise ConfigError(f"lenet5 is defined for 28×28 images (e.g. mnist5k); this data is "
                                  f"{side}×{side} — use smallcnn or lenet300")
            return LeNet5(side)
        if side % 4 or side < 4:
            raise ConfigError(f"smallcnn needs a square side divisible by 4; got {side}×{side}")
        return SmallCNN(side)

