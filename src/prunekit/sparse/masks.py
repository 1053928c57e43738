"""The mask manager: one boolean mask per sparsified weight tensor, keyed by parameter name.

Which tensors are sparsified: the ``weight`` of every module of the chosen types (``nn.Linear`` and
``nn.Conv1d/2d/3d`` by default), optionally filtered by name; biases and normalisation parameters
never. ``True`` in a mask means *kept* (active), ``False`` means pruned.

Masks are applied *after* each optimizer step (:meth:`MaskManager.apply`): masked weights are set
to 0 and so is their optimizer state (SGD ``momentum_buffer``, Adam ``exp_avg``/``exp_avg_sq``, any
per-parameter state tensor of the weight's shape). Gradients are never masked: the dense gradient
of every weight, pruned or not, stays in ``p.grad`` for gradient-based regrowth — which is why this
does not use ``torch.ao.pruning`` or parametrizations (both give masked weights a zero gradient).

Algorithm and parameters: docs/ALGORITHMS.md §5.1.
"""

from __future__ import annotations

import fnmatch
from collections import OrderedDict
from typing import Mapping, Sequence

from prunekit.errors import ConfigError, InputError, require

__all__ = ["MaskManager", "prunable_weights", "DEFAULT_MODULE_TYPES"]

#: module type names sparsified by default (resolved lazily so importing this module needs no torch)
DEFAULT_MODULE_TYPES = ("Linear", "Conv1d", "Conv2d", "Conv3d")

_STATE_FORMAT = "prunekit.sparse.masks/1"


def _torch():
    return require("torch", "torch")


def _resolve_types(module_types) -> tuple:
    nn = _torch().nn
    if module_types is None:
        module_types = DEFAULT_MODULE_TYPES
    out = []
    for t in module_types:
        if isinstance(t, str):
            if not hasattr(nn, t) or not isinstance(getattr(nn, t), type):
                raise ConfigError(f"unknown module type {t!r}; use torch.nn class names such as Linear, Conv2d")
            t = getattr(nn, t)
        if not (isinstance(t, type) and issubclass(t, nn.Module)):
            raise ConfigError(f"module_types must be torch.nn.Module subclasses or their names, got {t!r}")
        out.append(t)
    if not out:
        raise ConfigError("module_types is empty: nothing could be sparsified")
    return tuple(out)


def _as_patterns(p: str | Sequence[str] | None, what: str) -> tuple[str, ...]:
    if p is None:
        return ()
    if isinstance(p, str):
        p = (p,)
    p = tuple(p)
    if not all(isinstance(x, str) and x for x in p):
        raise ConfigError(f"{what} must be a glob pattern or a list of them, got {p!r}")
    return p


def _matches(patterns: tuple[str, ...], module_name: str, param_name: str) -> bool:
    # A pattern may name the module ("fc1", "features.*") or the parameter ("fc1.weight").
    return any(fnmatch.fnmatchcase(module_name, pat) or fnmatch.fnmatchcase(param_name, pat) for pat in patterns)


def prunable_weights(model, *, module_types=None, include=None, exclude=None,
                     dense_first_last: bool = False) -> "OrderedDict[str, object]":
    """The weights a mask manager would sparsify, ``{parameter name: Parameter}`` in registration order.

    ``include``/``exclude``: glob pattern(s) matched against the module name (``"fc1"``,
    ``"body.*"``) or the parameter name (``"fc1.weight"``). ``dense_first_last`` keeps the first and
    the last candidate layer (registration order, which is forward order for ``Sequential``-style
    models) dense. Raises ``ConfigError`` when nothing is left, naming the filter.
    """
    torch = _torch()
    if not isinstance(model, torch.nn.Module):
        raise InputError(f"expected a torch.nn.Module, got {type(model).__name__}")
    types = _resolve_types(module_types)
    inc = _as_patterns(include, "include")
    exc = _as_patterns(exclude, "exclude")
    candidates: list[tuple[str, str, object]] = []
    seen: set[int] = set()
    for mname, module in model.named_modules():
        if not isinstance(module, types):
            continue
        w = getattr(module, "weight", None)
        if not isinstance(w, torch.nn.Parameter) or id(w) in seen:  # shared weights: sparsify once
            continue
        seen.add(id(w))
        candidates.append((mname, f"{mname}.weight" if mname else "weight", w))
    type_names = "/".join(t.__name__ for t in types)
    if not candidates:
        raise ConfigError(f"no prunable layers: the model has no {type_names} layers with a weight")
    all_names = [m for m, _, _ in candidates]
    if inc:
        candidates = [c for c in candidates if _matches(inc, c[0], c[1])]
        if not candidates:
            raise ConfigError(f"name filter include={list(inc)} matched none of the {type_names} layers "
                              f"({', '.join(all_names)})")
    if exc:
        candidates = [c for c in candidates if not _matches(exc, c[0], c[1])]
        if not candidates:
            raise ConfigError(f"name filter exclude={list(exc)} excluded every {type_names} layer "
                              f"({', '.join(all_names)})")
    if dense_first_last:
        if len(candidates) <= 2:
            raise ConfigError(f"dense_first_last leaves nothing to sparsify: only {len(candidates)} prunable "
                              f"layer(s) ({', '.join(c[0] for c in candidates)})")
        candidates = candidates[1:-1]
    return OrderedDict((pname, w) for _, pname, w in candidates)


class MaskManager:
    """Boolean masks for the prunable weights of ``model`` (see :func:`prunable_weights`).

    All masks start all-``True`` (dense). ``masks[name]`` is a bool tensor of the weight's shape on
    the weight's device. Methods change masks with :meth:`set_mask`; :meth:`apply` enforces them.
    """

    def __init__(self, model, *, module_types=None, include=None, exclude=None,
                 dense_first_last: bool = False) -> None:
        torch = _torch()
        self.model = model
        self.params = prunable_weights(model, module_types=module_types, include=include,
                                       exclude=exclude, dense_first_last=dense_first_last)
        self.masks: "OrderedDict[str, object]" = OrderedDict(
            (n, torch.ones_like(p, dtype=torch.bool)) for n, p in self.params.items())
        # 0/1 copies in the weight's dtype: multiplying by a float mask is ~25x faster than by a
        # bool one on CPU (no type promotion), and apply() runs after every optimizer step.
        self._factors: dict[str, object] = {}
        self.config = {"module_types": [t.__name__ for t in _resolve_types(module_types)],
                       "include": list(_as_patterns(include, "include")),
                       "exclude": list(_as_patterns(exclude, "exclude")),
                       "dense_first_last": bool(dense_first_last)}

    # ------------------------------------------------------------------ counts

    @property
    def names(self) -> list[str]:
        return list(self.masks)

    def shapes(self) -> "OrderedDict[str, tuple[int, ...]]":
        return OrderedDict((n, tuple(p.shape)) for n, p in self.params.items())

    def numel(self) -> int:
        """Number of sparsifiable weights (biases and dense-kept layers not included)."""
        return sum(m.numel() for m in self.masks.values())

    def nonzeros(self) -> "OrderedDict[str, int]":
        """Active (mask ``True``) weights per layer."""
        torch = _torch()
        return OrderedDict((n, int(torch.count_nonzero(m))) for n, m in self.masks.items())

    def density(self) -> float:
        """Fraction of the sparsifiable weights that are active, in [0, 1]."""
        return sum(self.nonzeros().values()) / self.numel()

    def layer_densities(self) -> "OrderedDict[str, float]":
        torch = _torch()
        return OrderedDict((n, int(torch.count_nonzero(m)) / m.numel()) for n, m in self.masks.items())

    # ------------------------------------------------------------------ changing masks

    def set_mask(self, name: str, mask) -> None:
        """Replace the mask of ``name`` (bool or 0/1 tensor of the weight's shape)."""
        torch = _torch()
        if name not in self.masks:
            raise InputError(f"no mask named {name!r}; masks: {', '.join(self.masks)}")
        p = self.params[name]
        mask = torch.as_tensor(mask)
        if tuple(mask.shape) != tuple(p.shape):
            raise InputError(f"mask for {name} has shape {tuple(mask.shape)}, the weight {tuple(p.shape)}")
        self.masks[name] = mask.to(device=p.device, dtype=torch.bool)
        self._factors.pop(name, None)

    def set_masks(self, masks: Mapping[str, object]) -> None:
        for n, m in masks.items():
            self.set_mask(n, m)

    # ------------------------------------------------------------------ enforcing masks

    def _factor(self, name: str):
        """The mask of ``name`` as 0/1 in the weight's dtype and device (cached)."""
        m, p = self.masks[name], self.params[name]
        f = self._factors.get(name)
        if f is None or f.device != p.device or f.dtype != p.dtype:
            if m.device != p.device:  # the model was moved (e.g. .cuda()) after the masks were made
                m = self.masks[name] = m.to(p.device)
            f = self._factors[name] = m.to(p.dtype)
        return f

    def apply(self, optimizer=None) -> None:
        """Zero every masked weight and, if ``optimizer`` is given, its optimizer state.

        Optimizer state: every tensor in ``optimizer.state[p]`` with the weight's shape (SGD
        ``momentum_buffer``; Adam/AdamW ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``; ...), so a
        regrown weight starts without stale momentum. Scalar state (``step``) is left alone.
        Gradients are left alone on purpose (regrowth reads them).
        """
        torch = _torch()
        with torch.no_grad():
            for n, p in self.params.items():
                f = self._factor(n)
                p.mul_(f)
                if optimizer is not None:
                    state = optimizer.state.get(p)
                    if state:
                        for v in state.values():
                            if torch.is_tensor(v) and v.shape == p.shape:
                                v.mul_(f if v.dtype == f.dtype else f.to(v.dtype))

    # ------------------------------------------------------------------ (de)serialisation

    def state_dict(self) -> dict:
        """Masks (bool, CPU) and shapes, keyed by parameter name; plain data for ``torch.save``."""
        return {"format": _STATE_FORMAT,
                "masks": OrderedDict((n, m.detach().cpu().clone()) for n, m in self.masks.items()),
                "shapes": {n: list(s) for n, s in self.shapes().items()},
                "config": dict(self.config)}

    @classmethod
    def from_state_dict(cls, model, state: Mapping) -> "MaskManager":
        """A manager on ``model`` with the layer selection and the masks saved in ``state`` (the output
        of :meth:`state_dict`, e.g. the ``masks`` of a checkpoint)."""
        if not isinstance(state, Mapping):
            raise InputError("not a prunekit mask state_dict (expected the output of MaskManager.state_dict())")
        cfg = state.get("config", {})
        mm = cls(model, module_types=cfg.get("module_types"), include=cfg.get("include") or None,
                 exclude=cfg.get("exclude") or None, dense_first_last=bool(cfg.get("dense_first_last")))
        mm.load_state_dict(state)
        return mm

    def load_state_dict(self, state: Mapping) -> None:
        """Load masks saved by :meth:`state_dict`; raises ``InputError`` naming what does not fit."""
        torch = _torch()
        if not isinstance(state, Mapping) or state.get("format") != _STATE_FORMAT or "masks" not in state:
            raise InputError("not a prunekit mask state_dict (expected the output of MaskManager.state_dict())")
        saved = state["masks"]
        missing = [n for n in self.masks if n not in saved]
        unexpected = [n for n in saved if n not in self.masks]
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"no saved mask for {', '.join(missing)}")
            if unexpected:
                parts.append(f"saved masks for layers this model does not sparsify: {', '.join(unexpected)}")
            raise InputError("mask state_dict was made for a different model: " + "; ".join(parts))
        for n, m in saved.items():
            shape = tuple(self.params[n].shape)
            if not torch.is_tensor(m) or tuple(m.shape) != shape:
                got = tuple(m.shape) if torch.is_tensor(m) else type(m).__name__
                raise InputError(f"mask state_dict was made for a different model: the mask of {n} has shape "
                                 f"{got}, the model expects {shape}")
        for n, m in saved.items():
            self.set_mask(n, m)

    def __repr__(self) -> str:
        return (f"MaskManager({len(self.masks)} tensors, {self.numel():,} weights, "
                f"density {self.density():.4f})")


