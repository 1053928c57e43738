"""``RecorderCallback``: a PyTorch Lightning callback that feeds a ``Recorder`` (Lightning is
imported only when a callback is made)."""

from __future__ import annotations

from typing import Any

import numpy as np

from prunekit.data.scores.dynamics._inputs import load_torch
from prunekit.data.scores.dynamics.recorder import Recorder
from prunekit.errors import ConfigError, InputError, MissingDependencyError

_LIGHTNING_PACKAGES = ("lightning.pytorch", "pytorch_lightning")
_CALLBACK_CLASSES: dict[str, type] = {}


def RecorderCallback(recorder: Recorder, *, package: str | None = None):  # noqa: N802 (a class factory)
    """A PyTorch Lightning callback that feeds ``recorder`` from ``on_train_batch_end``.

    Contract: the LightningModule's ``training_step`` returns a dict with ``"loss"`` and also
    ``"logits"`` (B, C), ``"indices"`` (B,) dataset row numbers and ``"labels"`` (B,) — e.g. a
    dataset yielding ``(x, y, index)``. The epoch recorded is ``trainer.current_epoch``. Under
    multi-process (DDP) training each process records its own shard; give each its own recorder and
    merge them afterwards (``rec.all_gather()`` or ``Recorder.merge_files``; docs/TRAINING.md).

    Lightning is imported lazily: ``lightning.pytorch`` if installed, else ``pytorch_lightning``
    (or the one named by ``package``, which must be the one your ``Trainer`` comes from). Without
    either, raises ``MissingDependencyError`` (``pip install lightning``).
    """
    import importlib

    if not isinstance(recorder, Recorder):
        raise ConfigError(f"RecorderCallback needs a Recorder, got {type(recorder).__name__}")
    names = _LIGHTNING_PACKAGES if package is None else (package,)
    if package is not None and package not in _LIGHTNING_PACKAGES:
        raise ConfigError(f"package must be one of {', '.join(_LIGHTNING_PACKAGES)}, got {package!r}")
    mod = None
    for name in names:
        try:
            mod = importlib.import_module(name)
            break
        except ImportError:
            continue
    if mod is None:
        raise MissingDependencyError(
            "RecorderCallback needs PyTorch Lightning; install it with: pip install lightning"
        )
    cls = _CALLBACK_CLASSES.get(mod.__name__)
    if cls is None:
        cls = _make_callback_class(mod.Callback)
        _CALLBACK_CLASSES[mod.__name__] = cls
    return cls(recorder)


def _make_callback_class(base: type) -> type:
    class _RecorderCallback(base):  # type: ignore[misc, valid-type]
        """Records logits from ``training_step`` outputs into a ``Recorder`` (see RecorderCallback)."""

        def __init__(self, recorder: Recorder) -> None:
            super().__init__()
            self.recorder = recorder

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if not isinstance(outputs, dict) or not all(k in outputs for k in ("logits", "indices", "labels")):
                got = sorted(outputs) if isinstance(outputs, dict) else type(outputs).__name__
                raise InputError(
                    "RecorderCallback needs training_step to return a dict with 'logits', 'indices' "
                    f"and 'labels' (besides 'loss'); got {got}"
                )
            self.recorder.record(outputs["indices"], outputs["logits"], outputs["labels"],
                                 int(trainer.current_epoch))

        # The recorder travels in Lightning checkpoints, so a resumed run goes on recording. Arrays
        # are stored as tensors: checkpoints load with torch.load(weights_only=True), which
        # refuses NumPy arrays.
        def state_dict(self) -> dict[str, Any]:
            torch = load_torch()
            state = self.recorder.state_dict()
            return {"recorder": {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v
                                 for k, v in state.items()}}

        def load_state_dict(self, state_dict: dict[str, Any]) -> None:
            if "recorder" in state_dict:
                state = {k: v.cpu().numpy() if hasattr(v, "numpy") else v
                         for k, v in state_dict["recorder"].items()}
                self.recorder.load_state_dict(state)

    _RecorderCallback.__name__ = _RecorderCallback.__qualname__ = "RecorderCallback"
    return _RecorderCallback
