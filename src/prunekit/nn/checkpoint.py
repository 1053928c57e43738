"""The one checkpoint format of prunekit: a model of the registry, its weights, and what its run
recorded, in one ``torch.save`` file written atomically.

Payload (``format`` :data:`CHECKPOINT_FORMAT`)::

    {"format": "prunekit.checkpoint/2", "prunekit": <version>,
     "config": {"model", "dim", "n_classes", ["width"], … the run's settings},
     "state_dict": {…},            # CPU tensors
     "masks": None | {…},          # a MaskManager.state_dict() (sparse runs)
     "events": [...],              # mask updates (sparse runs)
     "metrics": {...}}             # test accuracy/loss, steps, seconds, history (sparse runs)

:func:`load_checkpoint` also reads the two earlier formats, so files users already have keep
working: ``{"prunekit_checkpoint": 1, "prunekit_version", "config", "state_dict"}`` (written by
``prunekit data train`` / ``prunekit.data.train.save_checkpoint``) and
``{"format": "prunekit.sparse.checkpoint/1", "config", "state_dict", "masks", "events", "metrics"}``
(written by ``prunekit sparse train``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prunekit._version import __version__
from prunekit.errors import InputError, require

__all__ = ["CHECKPOINT_FORMAT", "Checkpoint", "save_checkpoint", "load_checkpoint"]

CHECKPOINT_FORMAT = "prunekit.checkpoint/2"
_DATA_V1 = "prunekit_checkpoint/1"  # marker key "prunekit_checkpoint": 1, no "format" key
_SPARSE_V1 = "prunekit.sparse.checkpoint/1"
_ENTRIES = ("state_dict", "masks", "events", "metrics")


@dataclass(frozen=True)
class Checkpoint:
    """What :func:`load_checkpoint` returns. Unpacks as ``model, config = load_checkpoint(path)``.

    ``model``: rebuilt with :func:`prunekit.nn.make_model`, weights loaded, on the CPU.
    ``masks``: the saved ``MaskManager.state_dict()`` or None (``prunekit.sparse.MaskManager
    .from_state_dict(ck.model, ck.masks)`` rebuilds the manager). ``format``: the format the file
    was written in."""

    model: Any
    config: dict
    masks: dict | None = None
    events: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    format: str = CHECKPOINT_FORMAT

    def __iter__(self):
        return iter((self.model, self.config))

    def __getitem__(self, i: int):
        return (self.model, self.config)[i]


def save_checkpoint(run, path: str | os.PathLike) -> Path:
    """Write ``run`` to ``path`` atomically; returns the path.

    ``run``: anything with ``model`` and ``config`` (a dict naming ``model``, ``dim``, ``n_classes``
    and, when not 1, ``width``), e.g. a ``prunekit.data.train.TrainResult`` or a
    ``prunekit.sparse.train.SparseRun``. If it has a ``checkpoint_entries()`` method, the dict it
    returns is saved too: ``masks``, ``events``, ``metrics``, and ``state_dict`` to save instead of
    the model's own (e.g. with masked weights exactly 0).
    """
    torch = require("torch", "torch")
    from prunekit.io.atomic import atomic_path

    missing = [k for k in ("model", "dim", "n_classes") if k not in run.config]
    if missing:
        raise InputError(f"the run's config lacks {', '.join(missing)}: the model could not be rebuilt on load")
    extra = run.checkpoint_entries() if hasattr(run, "checkpoint_entries") else {}
    unknown = sorted(set(extra) - set(_ENTRIES))
    if unknown:
        raise InputError(f"checkpoint entries {unknown} are not part of {CHECKPOINT_FORMAT} ({', '.join(_ENTRIES)})")
    state = extra.get("state_dict")
    if state is None:
        state = run.model.state_dict()
    payload = {
        "format": CHECKPOINT_FORMAT,
        "prunekit": __version__,
        "config": run.config,
        "state_dict": {k: v.detach().cpu() for k, v in state.items()},
        "masks": extra.get("masks"),
        "events": list(extra.get("events") or []),
        "metrics": dict(extra.get("metrics") or {}),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def _format_of(payload) -> str | None:
    if not isinstance(payload, dict):
        return None
    if payload.get("format") in (CHECKPOINT_FORMAT, _SPARSE_V1):
        return payload["format"]
    if payload.get("prunekit_checkpoint") == 1:
        return _DATA_V1
    return None


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (or by an earlier prunekit, see the
    module docstring). ``InputError`` for a missing file, a file that is not a prunekit checkpoint,
    or weights that do not fit the model the config names."""
    torch = require("torch", "torch")
    from prunekit.nn.models import MODELS, make_model

    p = Path(path)
    if not p.is_file():
        raise InputError(f"checkpoint {p} does not exist")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle/zip errors have many types; the message is what matters
        raise InputError(f"{p} is not a prunekit checkpoint (not a readable torch checkpoint: "
                         f"{type(exc).__name__})") from None
    fmt = _format_of(payload)
    if fmt is None:
        raise InputError(f"{p} is not a prunekit checkpoint")
    cfg = payload["config"]
    info = MODELS.get(cfg["model"])
    # data checkpoints record width for every model; it means something only where the model has one
    width = int(cfg.get("width", 1)) if info is not None and info.width else 1
    model = make_model(cfg["model"], int(cfg["dim"]), int(cfg["n_classes"]), width=width)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise InputError(f"{p}: weights do not fit model {cfg['model']}: {str(exc).splitlines()[0]}") from None
    return Checkpoint(model=model, config=cfg, masks=payload.get("masks"), events=list(payload.get("events") or []),
                      metrics=dict(payload.get("metrics") or {}), format=fmt)
