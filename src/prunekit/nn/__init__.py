"""Neural-network plumbing shared by both pillars: the model registry, the device resolver,
batched inference and evaluation, and the checkpoint format.

``prunekit.data`` (training on kept subsets) and ``prunekit.sparse`` (sparse training) both build
on this package and never on each other; nothing here imports either of them. Importing it needs
no torch (torch is imported when a function needs it).

- :mod:`prunekit.nn.models` — ``MODELS`` (every model; ``DATA_MODELS``, ``SPARSE_MODELS`` are the
  families each pillar trains) and ``make_model(name, dim, n_classes, *, seed=0, width=1)``;
- :mod:`prunekit.nn.inference` — ``resolve_device``, ``predict_logits``, ``evaluate``;
- :mod:`prunekit.nn.checkpoint` — ``save_checkpoint``, ``load_checkpoint`` (reads the older formats too);
- :mod:`prunekit.nn.params` — the declared parameters of models and training loops (seed, device, …).
"""

from prunekit.nn.checkpoint import CHECKPOINT_FORMAT, Checkpoint, load_checkpoint, save_checkpoint
from prunekit.nn.inference import evaluate, predict_logits, resolve_device
from prunekit.nn.models import DATA_MODELS, MODELS, SPARSE_MODELS, ModelInfo, make_model

__all__ = ["MODELS", "DATA_MODELS", "SPARSE_MODELS", "ModelInfo", "make_model", "resolve_device", "predict_logits",
           "evaluate", "CHECKPOINT_FORMAT", "Checkpoint", "save_checkpoint", "load_checkpoint"]
