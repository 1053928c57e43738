"""Export masks for other tools: ``torch.nn.utils.prune`` (interoperability) or a plain state_dict
with exact zeros (any loader)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Mapping

from prunekit.errors import InputError, require

__all__ = ["to_torch_prune", "sparse_state_dict"]


def _masks_of(masks) -> Mapping[str, object]:
    from prunekit.sparse.masks import MaskManager

    if isinstance(masks, MaskManager):
        return masks.masks
    if isinstance(getattr(masks, "masks", None), MaskManager):  # a Sparsifier
        return masks.masks.masks
    if isinstance(masks, Mapping):
        return masks
    raise InputError(f"expected a MaskManager, a Sparsifier or {{name: mask}}, got {type(masks).__name__}")


def to_torch_prune(model, masks) -> list[str]:
    """Attach each mask with ``torch.nn.utils.prune.custom_from_mask`` (in place): the module gets
    ``weight_orig`` + ``weight_mask`` and a forward pre-hook, as if pruned by ``torch.nn.utils.prune``.
    ``prune.remove(module, "weight")`` later makes it permanent. Returns the pruned parameter names."""
    torch = require("torch", "torch")
    prune = require("torch.nn.utils.prune", "torch")  # a submodule torch does not import by itself
    modules = dict(model.named_modules())
    done = []
    for pname, m in _masks_of(masks).items():
        mname, _, attr = pname.rpartition(".")
        mod = modules.get(mname)
        if mod is None or not isinstance(getattr(mod, attr, None), torch.Tensor):
            raise InputError(f"mask {pname!r} does not name a parameter of this model")
        w = getattr(mod, attr)
        if tuple(m.shape) != tuple(w.shape):
            raise InputError(f"mask for {pname} has shape {tuple(m.shape)}, the weight {tuple(w.shape)}")
        prune.custom_from_mask(mod, name=attr, mask=m.to(device=w.device, dtype=w.dtype))
        done.append(pname)
    return done


def sparse_state_dict(model, masks) -> "OrderedDict[str, object]":
    """``model.state_dict()`` (detached copies) with every masked weight set to exactly 0; loads
    into the same architecture with ``load_state_dict``, no prunekit needed."""
    sd = OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())
    for pname, m in _masks_of(masks).items():
        if pname not in sd:
            raise InputError(f"mask {pname!r} does not name an entry of the model's state_dict")
        if tuple(m.shape) != tuple(sd[pname].shape):
            raise InputError(f"mask for {pname} has shape {tuple(m.shape)}, the weight {tuple(sd[pname].shape)}")
        sd[pname] = sd[pname].masked_fill(~m.to(device=sd[pname].device, dtype=bool), 0)
    return sd
