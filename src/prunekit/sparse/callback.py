"""A thin Lightning callback around any sparse method (imports ``lightning`` when this module is
imported, never before).

    trainer = L.Trainer(max_epochs=10, callbacks=[SparseCallback("granet", sparsity=0.9)])

On ``on_train_start`` it builds the sparsifier on the module and its (single) optimizer, with
``total_steps = trainer.estimated_stepping_batches``; after every training batch whose optimizer
step happened it calls ``sparsifier.step()`` (Lightning zeroes gradients at the start of the next
step, so the dense gradients are still there). Masks are saved in Lightning checkpoints.
"""

from __future__ import annotations

import math

from prunekit.errors import ConfigError, require

L = require("lightning.pytorch", "lightning")

__all__ = ["SparseCallback"]


class SparseCallback(L.Callback):
    """Run sparse ``method`` (a name of ``prunekit.sparse.methods.METHODS``) at ``sparsity`` in a
    Lightning fit. ``options`` go to the method (``delta_t``, ``seed``, ``batch`` for SNIP, ...)."""

    def __init__(self, method: str, sparsity: float, **options) -> None:
        from prunekit.sparse.methods import METHODS
        from prunekit.sparse.params import SPARSITY

        if method not in METHODS:
            raise ConfigError(f"unknown sparse method {method!r}; valid methods: {', '.join(METHODS)}")
        self.method = method
        self.sparsity = SPARSITY.check(sparsity)
        self.options = options
        self.sparsifier = None
        self._pending = None

    def on_train_start(self, trainer, pl_module) -> None:
        from prunekit.sparse.methods import make_sparsifier

        if len(trainer.optimizers) != 1:
            raise ConfigError(f"SparseCallback needs exactly one optimizer, the module has {len(trainer.optimizers)}")
        total = trainer.estimated_stepping_batches
        if not math.isfinite(total):
            raise ConfigError("SparseCallback needs a finite run (max_epochs or max_steps) to place its schedule")
        opts = {"total_steps": int(total), **self.options}
        self.sparsifier = make_sparsifier(self.method, pl_module, trainer.optimizers[0], self.sparsity, **opts)
        if self._pending is not None:
            self.sparsifier.load_state_dict(self._pending)
            self._pending = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # With gradient accumulation the optimizer steps only every k batches.
        if self.sparsifier is not None and self.sparsifier.optimizer_stepped:
            self.sparsifier.step()

    def state_dict(self) -> dict:
        return {} if self.sparsifier is None else self.sparsifier.state_dict()

    def load_state_dict(self, state_dict) -> None:
        if state_dict:
            self._pending = state_dict
