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


def _unreadable(p: Path, exc: Exception) -> InputError:
    """Why ``torch.load`` could not read ``p``, in one line."""
    import pickle

    with open(p, "rb") as fh:
        head = fh.read(4)
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):  # neither torch's zip nor a pickle
        why = "not a file written by torch.save"
    elif isinstance(exc, pickle.UnpicklingError) and "weights only" in str(exc).lower():
        why = "it holds Python objects besides tensors and plain data, which prunekit does not unpickle"
    else:
        why = "a torch.save file, but corrupt or truncated"
    return InputError(f"{p} is not a prunekit checkpoint (not a readable torch checkpoint: {why})")


def _shape(t) -> str:
    return str(tuple(t.shape)) if hasattr(t, "shape") else type(t).__name__


def _misfit(expected: dict, found) -> str | None:
    """What keeps ``found`` (a state_dict from a file) from loading into a model whose state_dict is
    ``expected``: every wrong-shaped entry with both shapes, then missing and unexpected names; None
    when it fits. Built here rather than cut from torch's multi-line message."""
    wrong = [f"{k} has shape {_shape(found[k])} in the file, the model expects {_shape(v)}"
             for k, v in expected.items() if k in found and _shape(found[k]) != _shape(v)]
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    parts = wrong[:3] + ([f"and {len(wrong) - 3} more wrong shapes"] if len(wrong) > 3 else [])
    for what, names in (("missing", missing), ("not in the model", unexpected)):
        if names:
            parts.append(f"{what}: {', '.join(names[:4])}" + (f" and {len(names) - 4} more" if len(names) > 4 else ""))
    return "; ".join(parts) or None


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (or by an earlier prunekit, see the
    module docstring). ``InputError``, one line, for a missing, empty or unreadable file, a file that
    is not a prunekit checkpoint, or weights that do not fit the model the config names (each
    wrong-shaped layer with the shape found and the shape expected)."""
    torch = require("torch", "torch")
    from prunekit.errors import PrunekitError
    from prunekit.nn.models import MODELS, make_model

    p = Path(path)
    if p.is_dir():
        raise InputError(f"checkpoint {p} is a directory, expected a file")
    if not p.is_file():
        raise InputError(f"checkpoint {p} does not exist")
    if p.stat().st_size == 0:
        raise InputError(f"checkpoint {p} is an empty file (0 bytes), not a prunekit checkpoint")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise InputError(f"cannot read checkpoint {p}: {exc.strerror or exc}") from None
    except Exception as exc:  # pickle/zip errors have many types; the message is what matters
        raise _unreadable(p, exc) from None
    fmt = _format_of(payload)
    if fmt is None:
        raise InputError(f"{p} is not a prunekit checkpoint")
    cfg = payload.get("config")
    lacks = [k for k in ("model", "dim", "n_classes") if not isinstance(cfg, dict) or k not in cfg]
    if lacks:
        raise InputError(f"{p} is not a usable prunekit checkpoint: its config lacks {', '.join(lacks)}")
    state = payload.get("state_dict")
    if not isinstance(state, dict):
        raise InputError(f"{p} is not a usable prunekit checkpoint: it has no state_dict of weights")
    info = MODELS.get(cfg["model"]) if isinstance(cfg["model"], str) else None
    if info is None:
        raise InputError(f"{p} names model {cfg['model']!r}, which is not a prunekit model ({', '.join(MODELS)})")
    # data checkpoints record width for every model; it means something only where the model has one
    try:
        width = int(cfg.get("width", 1)) if info.width else 1
        model = make_model(cfg["model"], int(cfg["dim"]), int(cfg["n_classes"]), width=width)
    except (PrunekitError, TypeError, ValueError) as exc:
        raise InputError(f"{p}: its config does not build model {cfg['model']}: {exc}") from None
    what = f"{p}: weights do not fit model {cfg['model']} ({cfg['dim']} inputs, {cfg['n_classes']} classes)"
    misfit = _misfit(model.state_dict(), state)
    if misfit is not None:
        raise InputError(f"{what}: {misfit}")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # anything else torch refuses: its whole message, on one line
        raise InputError(f"{what}: {' '.join(str(exc).split())}") from None
    return Checkpoint(model=model, config=cfg, masks=payload.get("masks"), events=list(payload.get("events") or []),
                      metrics=dict(payload.get("metrics") or {}), format=fmt)
