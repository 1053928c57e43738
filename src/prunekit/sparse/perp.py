"""PERP-style retraining after pruning (Zimmer et al.): train only biases, normalisation parameters
and a mask-preserving low-rank adapter on each pruned ``nn.Linear``; merging keeps sparsity exactly.

A pruned Linear with weight ``W`` (out, in) and mask ``M`` becomes ``W_eff = (W + B·A) ⊙ M`` with
``B`` (out, r) zero-initialised and ``A`` (r, in) small random, so training starts from the pruned
model unchanged. ``W`` and ``M`` are frozen. :func:`perp_merge` writes ``(W + B·A) ⊙ M`` back into
a plain ``nn.Linear``: every masked weight is exactly 0 afterwards, by construction.

Limits: only ``nn.Linear`` modules get adapters (pruned Conv layers stay frozen); the packed
``in_proj_weight`` of ``nn.MultiheadAttention`` is not an ``nn.Linear`` and is not adapted.

Algorithm and parameters: docs/ALGORITHMS.md §5.13.
"""

from __future__ import annotations

import math
from typing import Mapping

import dataclasses

from prunekit.errors import ConfigError, InputError, require
from prunekit.params import Spec
from prunekit.sparse.params import RANK, SEED

__all__ = ["MaskedLowRankLinear", "PERP_PARAMS", "perp_prepare", "perp_merge", "trainable_fraction"]

#: the scalar parameters of :func:`perp_prepare`
PERP_PARAMS = Spec(RANK, dataclasses.replace(SEED, help="Seeds the random initialisation of the adapters"))


def _torch():
    return require("torch", "torch")


def _norm_types():
    nn = _torch().nn
    types = [nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm, nn.modules.batchnorm._NormBase]
    if hasattr(nn, "RMSNorm"):
        types.append(nn.RMSNorm)
    return tuple(types)


def _make_wrapper_class():
    torch = _torch()
    nn = torch.nn

    class MaskedLowRankLinear(nn.Module):
        """``y = x·((W + B·A) ⊙ M)ᵀ + bias``; only ``A``, ``B`` (and ``bias``) are trainable."""

        def __init__(self, linear, mask, rank: int, generator=None):
            super().__init__()
            out_f, in_f = linear.weight.shape
            self.in_features, self.out_features = in_f, out_f
            self.weight = nn.Parameter(linear.weight.detach().clone(), requires_grad=False)
            self.register_buffer("mask", mask.to(device=linear.weight.device, dtype=torch.bool).clone())
            self.bias = linear.bias  # shared with the original module: stays trainable
            dev, dt = linear.weight.device, linear.weight.dtype
            a = torch.empty(rank, in_f, dtype=dt)
            nn.init.kaiming_uniform_(a, a=math.sqrt(5), generator=generator)  # LoRA's init for A
            self.lora_A = nn.Parameter(a.to(dev))
            self.lora_B = nn.Parameter(torch.zeros(out_f, rank, dtype=dt, device=dev))

        def effective_weight(self):
            return (self.weight + self.lora_B @ self.lora_A) * self.mask

        def forward(self, x):
            return torch.nn.functional.linear(x, self.effective_weight(), self.bias)

        def extra_repr(self) -> str:
            return (f"in_features={self.in_features}, out_features={self.out_features}, "
                    f"rank={self.lora_A.shape[0]}, density={float(self.mask.float().mean()):.4f}")

    return MaskedLowRankLinear


_CLASS = None


def _wrapper_class():
    global _CLASS
    if _CLASS is None:
        _CLASS = _make_wrapper_class()
    return _CLASS


def __getattr__(name):  # MaskedLowRankLinear is built on first use so this module imports without torch
    if name == "MaskedLowRankLinear":
        return _wrapper_class()
    raise AttributeError(name)


def _set_submodule(model, name: str, new) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def perp_prepare(model, masks: Mapping[str, object], *, rank: int = 4, seed: int = 0) -> dict:
    """Freeze ``model`` except biases, normalisation parameters and new low-rank adapters on every
    pruned ``nn.Linear``; modifies ``model`` in place.

    Args:
        masks: ``{parameter name ("fc1.weight"): bool mask}`` — e.g. ``MaskManager.masks``.
        rank: adapter rank ``r`` (≥ 1).

    Returns ``{"adapted": [module names], "trainable": n, "total": n, "fraction": trainable/total}``
    (counts in parameters; the frozen originals count in ``total``, adapters in both).
    """
    torch = _torch()
    nn = torch.nn
    rank, seed = RANK.check(rank), PERP_PARAMS["seed"].check(seed)
    if not masks:
        raise ConfigError("perp_prepare needs the masks of a pruned model (got none)")
    modules = dict(model.named_modules())
    targets = []
    for pname, m in masks.items():
        mname = pname[:-len(".weight")] if pname.endswith(".weight") else None
        mod = modules.get(mname) if mname is not None else None
        if mod is None:
            raise InputError(f"mask {pname!r} does not name the weight of a module of this model")
        if isinstance(mod, nn.Linear):
            if tuple(m.shape) != tuple(mod.weight.shape):
                raise InputError(f"mask for {pname} has shape {tuple(m.shape)}, the weight {tuple(mod.weight.shape)}")
            if rank > min(mod.weight.shape):
                raise ConfigError(f"rank {rank} exceeds the smaller dimension of {mname} {tuple(mod.weight.shape)}")
            targets.append((mname, mod, m))
    if not targets:
        raise ConfigError("no pruned nn.Linear among the masks: PERP adapters only go on Linear layers")
    norms = _norm_types()
    for p in model.parameters():
        p.requires_grad_(False)
    for mod in model.modules():
        if isinstance(mod, norms):
            for p in mod.parameters(recurse=False):
                p.requires_grad_(True)
        b = getattr(mod, "bias", None)
        if isinstance(b, nn.Parameter):
            b.requires_grad_(True)
    g = torch.Generator().manual_seed(seed)
    cls = _wrapper_class()
    for mname, mod, m in targets:
        _set_submodule(model, mname, cls(mod, m, rank, generator=g))
    info = trainable_fraction(model)
    info["adapted"] = [t[0] for t in targets]
    return info


def trainable_fraction(model) -> dict:
    """``{"trainable": n, "total": n, "fraction": float}`` over ``model.parameters()``."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable": trainable, "total": total, "fraction": trainable / max(total, 1)}


def perp_merge(model) -> list[str]:
    """Replace every adapter module with a plain ``nn.Linear`` holding ``(W + B·A) ⊙ M`` and make
    all parameters trainable again; returns the merged module names. Masked weights are exactly 0."""
    torch = _torch()
    nn = torch.nn
    cls = _wrapper_class()
    merged = []
    for mname, mod in list(model.named_modules()):
        if isinstance(mod, cls):
            lin = nn.Linear(mod.in_features, mod.out_features, bias=mod.bias is not None,
                            device=mod.weight.device, dtype=mod.weight.dtype)
            with torch.no_grad():
                # masked_fill rather than a product: an exact 0 even if W + BA is inf/NaN there
                lin.weight.copy_((mod.weight + mod.lora_B @ mod.lora_A).masked_fill(~mod.mask, 0.0))
            if mod.bias is not None:
                lin.bias = mod.bias
            _set_submodule(model, mname, lin)
            merged.append(mname)
    for p in model.parameters():
        p.requires_grad_(True)
    return merged
