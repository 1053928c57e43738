"""Parameters of model building and of a plain training loop, declared once for both pillars.

``prunekit.data`` and ``prunekit.sparse`` build their own specs from these (changing a default or
the help with :meth:`prunekit.params.Spec.replace` where a pillar's recipe differs), so the same
parameter is refused in the same words everywhere.
"""

from __future__ import annotations

from prunekit.params import Param

__all__ = ["SEED", "DEVICE", "DIM", "N_CLASSES", "WIDTH", "DEPTH", "EPOCHS", "BATCH_SIZE", "LR", "MOMENTUM", "WEIGHT_DECAY"]

SEED = Param("seed", int, default=0, help="Random seed")
DEVICE = Param("device", str, default="cpu", help="cpu, cuda, cuda:N or auto")
DIM = Param("dim", int, low=1, help="Input features (a flat vector per example)")
N_CLASSES = Param("n_classes", int, low=2, help="Number of classes")
WIDTH = Param("width", int, low=1, default=1, help="Width multiplier of the hidden layers (mlp, cnn)")
DEPTH = Param("depth", int, low=1, default=2, help="Hidden layers of mlp (256·width wide, the last 128·width)")
EPOCHS = Param("epochs", int, low=1, default=10, help="Training epochs")
BATCH_SIZE = Param("batch_size", int, low=1, default=128, help="Batch size")
LR = Param("lr", float, low=0.0, low_open=True, default=0.05, help="Peak learning rate")
MOMENTUM = Param("momentum", float, low=0.0, high=1.0, high_open=True, default=0.9, help="SGD momentum")
WEIGHT_DECAY = Param("weight_decay", float, low=0.0, default=5e-4, help="Weight decay")
