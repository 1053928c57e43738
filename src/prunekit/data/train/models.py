"""Small classifiers for arrays: an MLP for features/embeddings, a small CNN for square grey
images given as flat vectors (28×28 MNIST, 8×8 digits), and a linear probe.

Every model exposes ``features(x)`` (penultimate activations) and ``head`` (the final
``nn.Linear``), which ``grand_last_layer`` and teacher/student code rely on.
"""

from __future__ import annotations

import math

from prunekit.errors import ConfigError, require

MODELS = ("mlp", "cnn", "linear")


def _torch():
    return require("torch", "torch")


def make_model(name: str, dim: int, n_classes: int, *, seed: int = 0, width: int = 1):
    """A freshly initialised model (weights depend only on ``seed``). ``width`` scales hidden sizes
    (teacher capacity: e.g. width=2 for a larger teacher, or a smaller student)."""
    torch = _torch()
    nn = torch.nn
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}")
    if not isinstance(width, int) or width < 1:
        raise ConfigError(f"width must be a positive integer, got {width!r}")
    if n_classes < 2:
        raise ConfigError(f"need at least 2 classes, got {n_classes}")
    g = torch.Generator().manual_seed(int(seed))

    class _Base(nn.Module):
        def forward(self, x):
            return self.head(self.features(x))

    class MLP(_Base):
        def __init__(self):
            super().__init__()
            h1, h2 = 256 * width, 128 * width
            self.body = nn.Sequential(nn.Linear(dim, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU())
            self.head = nn.Linear(h2, n_classes)

        def features(self, x):
            return self.body(x)

    class SmallCNN(_Base):
        def __init__(self, side: int):
            super().__init__()
            self.side = side
            c1, c2 = 16 * width, 32 * width
            self.body = nn.Sequential(
                nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(),
                nn.Linear(c2 * (side // 4) ** 2, 128 * width), nn.ReLU(),
            )
            self.head = nn.Linear(128 * width, n_classes)

        def features(self, x):
            return self.body(x.reshape(-1, 1, self.side, self.side))

    class LinearProbe(_Base):
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(dim, n_classes)

        def features(self, x):
            return x

    if name == "cnn":
        side = int(round(math.sqrt(dim)))
        if side * side != dim or side < 4:
            raise ConfigError(f"model 'cnn' needs square images given as flat vectors; dim {dim} is not a square")
        model = SmallCNN(side)
    elif name == "mlp":
        model = MLP()
    else:
        model = LinearProbe()
    # Initialise from our own generator so weights depend on `seed` alone.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                fan_in = m.weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in)
                m.weight.copy_((torch.rand(m.weight.shape, generator=g) * 2 - 1) * bound * math.sqrt(3))
                m.bias.copy_((torch.rand(m.bias.shape, generator=g) * 2 - 1) * bound)
    return model
