"""Masks fixed before training: static random (ERK or uniform layer densities) and SNIP.

Algorithm and parameters: docs/ALGORITHMS.md §5.6.
"""

from __future__ import annotations

from collections import OrderedDict

from prunekit.errors import ConfigError, InputError, require
from prunekit.params import Spec
from prunekit.sparse.methods.base import Sparsifier
from prunekit.sparse.params import DISTRIBUTION, RESCALE_INIT

__all__ = ["StaticRandom", "SNIP"]


class StaticRandom(Sparsifier):
    """Random masks at initialisation, never changed ("the unreasonable effectiveness of random
    pruning"): exactly ``round(d_l·numel)`` random weights per layer, ``d_l`` from ERK (default).
    ``rescale_init`` scales the surviving initial weights by ``1/√d_l`` (see ``Sparsifier._random_init``)."""

    name = "random"
    options = Spec(Sparsifier.options, DISTRIBUTION, RESCALE_INIT)

    def __init__(self, model, optimizer, sparsity, *, distribution: str = "erk", rescale_init: bool = False,
                 **kw) -> None:
        self.distribution = DISTRIBUTION.check(distribution)
        self.rescale_init = RESCALE_INIT.check(rescale_init)
        super().__init__(model, optimizer, sparsity, **kw)

    def _init_masks(self) -> None:
        self._random_init(self.density_target, self.distribution, rescale=self.rescale_init)
        self._record(event="init", distribution=self.distribution)


class SNIP(Sparsifier):
    """SNIP (Lee et al. 2019): at initialisation, keep the global top-k of ``|g ⊙ w|`` where ``g`` is
    the gradient of ``loss_fn(model(inputs), targets)`` on one batch; fixed afterwards.

    Args:
        batch: ``(inputs, targets)`` — one training batch, on the model's device.
        loss_fn: ``loss_fn(outputs, targets) -> scalar``; default cross-entropy.
    """

    name = "snip"
    global_selection = True

    def __init__(self, model, optimizer, sparsity, *, batch=None, loss_fn=None, **kw) -> None:
        if batch is None or not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ConfigError("SNIP needs batch=(inputs, targets): one training batch to score connections on")
        self.batch = batch
        self.loss_fn = loss_fn
        super().__init__(model, optimizer, sparsity, **kw)
        self.batch = None  # do not keep the data alive

    def _init_masks(self) -> None:
        torch = require("torch", "torch")
        from prunekit.sparse.criteria import kept_count, snip_masks

        x, y = self.batch
        loss_fn = self.loss_fn or torch.nn.functional.cross_entropy
        params = self.masks.params
        # Keep whatever gradients the caller had; SNIP's own backward must not leak into training.
        saved = {n: (None if p.grad is None else p.grad.detach().clone()) for n, p in self.model.named_parameters()}
        self.model.zero_grad(set_to_none=True)
        loss = loss_fn(self.model(x), y)
        if not torch.is_tensor(loss) or loss.dim() != 0:
            raise InputError("SNIP's loss_fn must return a scalar tensor")
        loss.backward()
        grads = OrderedDict((n, p.grad) for n, p in params.items())
        k = kept_count(self.density_target, self.masks.numel())
        new = snip_masks(params, grads, k)
        for n, p in self.model.named_parameters():
            p.grad = saved[n]
        self.masks.set_masks(new)
        self._record(event="init", loss=float(loss.detach()))
