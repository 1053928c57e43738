"""The one model registry: small classifiers over flat float32 vectors ``(N, D)``.

=========  ======  =========================================================================
name       family  architecture
=========  ======  =========================================================================
mlp        data    Linear D→256w→128w→n_classes, ReLU (``body`` + ``head``)
cnn        data    conv 3×3 16w → pool → conv 3×3 32w → pool → Linear 32w·(side/4)²→128w →
                   n_classes (``body`` + ``head``); square side ≥ 4
linear     data    one Linear D→n_classes (a linear probe on the inputs)
lenet300   sparse  LeNet-300-100: Linear D→300→100→n_classes, ReLU (``fc1, fc2, fc3``)
lenet5     sparse  LeNet-5 for 28×28 grey images: conv 5×5 6 (padding 2) → pool → conv 5×5 16 →
                   pool → Linear 400→120→84→n_classes (``conv1, conv2, fc1, fc2, fc3``)
smallcnn   sparse  conv 3×3 16 → pool → conv 3×3 32 → pool → Linear 32·(side/4)²→128→n_classes
                   (``conv1, conv2, fc1, fc2``); square side divisible by 4
=========  ======  =========================================================================

(``w`` = ``width``; convs use padding 1 unless stated, pools are 2×2 max-pools.) CNNs reshape the
flat input to ``(N, 1, side, side)``, ``side = √D`` (28×28 MNIST, 8×8 digits).

The two families differ in more than their layers, and each pillar trains its own family
(:data:`DATA_MODELS`, :data:`SPARSE_MODELS`) so that published numbers stay reproducible:

- **data** models expose ``features(x)`` (penultimate activations) and ``head`` (the final
  ``nn.Linear``; ``model(x) == head(features(x))``), which GraNd's last-layer scores and the
  teacher/student code rely on; ``width`` scales their hidden sizes (``mlp``, ``cnn``); their weights
  are LeCun-uniform (variance 1/fan_in) and biases U(±1/√fan_in), drawn from a private generator
  seeded with ``seed``.
- **sparse** models name their layers as the sparse-training literature does (the per-layer report
  and mask names use them); they have no ``width``; their weights are PyTorch's default
  initialisation drawn under ``torch.random.fork_rng`` after ``torch.manual_seed(seed)`` (the
  global random state is left as it was).

``cnn`` and ``smallcnn`` are the same architecture at ``width=1`` but **not** the same model: their
layer names differ (``body.0, body.3, body.7, head`` vs ``conv1, conv2, fc1, fc2``), so their
state_dicts do not load into each other, and so does the initialisation: for the same seed both
draw the same uniform numbers, so the biases are equal but every ``cnn`` weight is √3 times the
``smallcnn`` one (variance 1/fan_in vs PyTorch's 1/(3·fan_in)); ``cnn`` also has ``features``/``head``
and ``width``. Trained numbers of one do not carry over to the other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from prunekit.errors import ConfigError, require
from prunekit.nn.params import DEPTH, DIM, N_CLASSES, SEED, WIDTH
from prunekit.params import Param

__all__ = ["MODELS", "DATA_MODELS", "SPARSE_MODELS", "MODEL", "ModelInfo", "make_model"]


@dataclass(frozen=True)
class ModelInfo:
    """One registry entry. ``build(dim, n_classes, width)`` returns the module with the framework's
    default weights; :func:`make_model` seeds them as ``init`` says."""

    family: str  # "data" or "sparse": which pillar trains it (see the module docstring)
    width: bool  # takes a width multiplier
    init: str  # "generator": LeCun-uniform from a private generator; "torch": default init under fork_rng
    build: Callable[[int, int, int], Any]


def _side(name: str, dim: int) -> int:
    side = int(round(math.sqrt(dim)))
    if side * side != dim:
        raise ConfigError(f"model {name!r} needs square grey images given as flat vectors; {dim} features is "
                          "not a square (use lenet300)")
    return side


@lru_cache(maxsize=None)
def _data_classes():
    torch = require("torch", "torch")
    nn = torch.nn

    class _Base(nn.Module):
        def forward(self, x):
            return self.head(self.features(x))

    class MLP(_Base):
        def __init__(self, dim, n_classes, width, depth=2):
            super().__init__()
            # depth hidden layers: 256w wide, the last one 128w (depth 2: D→256w→128w, as always)
            sizes = [dim] + [256 * width] * (depth - 1) + [128 * width]
            layers = []
            for a, b in zip(sizes[:-1], sizes[1:]):
                layers += [nn.Linear(a, b), nn.ReLU()]
            self.body = nn.Sequential(*layers)
            self.head = nn.Linear(sizes[-1], n_classes)

        def features(self, x):
            return self.body(x)

    class SmallCNN(_Base):
        def __init__(self, side, n_classes, width):
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
        def __init__(self, dim, n_classes):
            super().__init__()
            self.head = nn.Linear(dim, n_classes)

        def features(self, x):
            return x

    return MLP, SmallCNN, LinearProbe


@lru_cache(maxsize=None)
def _sparse_classes():
    torch = require("torch", "torch")
    nn = torch.nn

    class LeNet300(nn.Module):
        def __init__(self, dim, n_classes):
            super().__init__()
            self.fc1, self.fc2, self.fc3 = nn.Linear(dim, 300), nn.Linear(300, 100), nn.Linear(100, n_classes)

        def forward(self, x):
            x = torch.relu(self.fc1(x.reshape(x.shape[0], -1)))
            return self.fc3(torch.relu(self.fc2(x)))

    class LeNet5(nn.Module):
        def __init__(self, side, n_classes):
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
        def __init__(self, side, n_classes):
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

    return LeNet300, LeNet5, SmallCNN


def _mlp(dim, n_classes, width, depth=2):
    return _data_classes()[0](dim, n_classes, width, depth)


def _cnn(dim, n_classes, width):
    side = int(round(math.sqrt(dim)))
    if side * side != dim or side < 4:
        raise ConfigError(f"model 'cnn' needs square images given as flat vectors; dim {dim} is not a square")
    return _data_classes()[1](side, n_classes, width)


def _linear(dim, n_classes, width):
    return _data_classes()[2](dim, n_classes)


def _lenet300(dim, n_classes, width):
    return _sparse_classes()[0](dim, n_classes)


def _lenet5(dim, n_classes, width):
    side = _side("lenet5", dim)
    if side != 28:
        raise ConfigError(f"lenet5 is defined for 28×28 images (e.g. mnist5k); this data is "
                          f"{side}×{side} — use smallcnn or lenet300")
    return _sparse_classes()[1](side, n_classes)


def _smallcnn(dim, n_classes, width):
    side = _side("smallcnn", dim)
    if side % 4 or side < 4:
        raise ConfigError(f"smallcnn needs a square side divisible by 4; got {side}×{side}")
    return _sparse_classes()[2](side, n_classes)


#: every model, by name (see the module docstring for what each is and how the families differ)
MODELS: dict[str, ModelInfo] = {
    "mlp": ModelInfo("data", width=True, init="generator", build=_mlp),
    "cnn": ModelInfo("data", width=True, init="generator", build=_cnn),
    "linear": ModelInfo("data", width=False, init="generator", build=_linear),
    "lenet300": ModelInfo("sparse", width=False, init="torch", build=_lenet300),
    "lenet5": ModelInfo("sparse", width=False, init="torch", build=_lenet5),
    "smallcnn": ModelInfo("sparse", width=False, init="torch", build=_smallcnn),
}

#: the models prunekit.data trains (features(x) + head, width, generator init)
DATA_MODELS: tuple[str, ...] = tuple(n for n, m in MODELS.items() if m.family == "data")
#: the models prunekit.sparse trains (literature layer names, torch default init)
SPARSE_MODELS: tuple[str, ...] = tuple(n for n, m in MODELS.items() if m.family == "sparse")

MODEL = Param("model", "choice", choices=tuple(MODELS), help="A model of the registry prunekit.nn.MODELS")


def make_model(name: str, dim: int, n_classes: int, *, seed: int = 0, width: int = 1, depth: int = 2):
    """A freshly initialised model of the registry; its weights depend on ``seed`` alone.

    ``width`` scales the hidden sizes of the models that have one (``mlp``, ``cnn``: e.g. 2 for a
    larger teacher); for the others it must stay 1. ``depth``: hidden layers of ``mlp`` (2; 256w
    wide, the last 128w). ``name`` may also be a user's factory ``"module:function"``
    (:mod:`prunekit.nn.factory`), called with ``(dim, n_classes, seed)``; width and depth are then
    the factory's business."""
    torch = require("torch", "torch")
    from prunekit.nn.factory import build_factory, is_factory

    if is_factory(name):
        if WIDTH.check(width) != 1 or DEPTH.check(depth) != 2:
            raise ConfigError(f"width and depth apply to the built-in models; the factory {name!r} builds its own "
                              f"(got width {width}, depth {depth}): give them to the factory instead")
        return build_factory(name, DIM.check(dim), N_CLASSES.check(n_classes), SEED.check(seed))
    name = MODEL.check(name)
    depth = DEPTH.check(depth)
    if depth != 2 and name != "mlp":
        raise ConfigError(f"model {name!r} has no depth setting (only 'mlp' has one); depth must be 2 for it, "
                          f"got {depth!r}")
    dim, n_classes, seed, width = DIM.check(dim), N_CLASSES.check(n_classes), SEED.check(seed), WIDTH.check(width)
    info = MODELS[name]
    if width != 1 and not info.width:
        wide = ", ".join(n for n, m in MODELS.items() if m.width)
        raise ConfigError(f"model {name!r} has no width multiplier (only {wide} have one); width must be 1 "
                          f"for it, got {width!r}")
    if info.init == "torch":
        with torch.random.fork_rng(devices=[]):  # fork_rng needs a list; CPU only
            torch.manual_seed(seed)
            return info.build(dim, n_classes, width)
    model = _mlp(dim, n_classes, width, depth) if name == "mlp" else info.build(dim, n_classes, width)
    _generator_init(torch, model, seed)
    return model


def _generator_init(torch, model, seed: int) -> None:
    """LeCun-uniform weights and U(±1/√fan_in) biases from a generator seeded with ``seed``."""
    nn = torch.nn
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                fan_in = m.weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in)
                m.weight.copy_((torch.rand(m.weight.shape, generator=g) * 2 - 1) * bound * math.sqrt(3))
                m.bias.copy_((torch.rand(m.bias.shape, generator=g) * 2 - 1) * bound)
