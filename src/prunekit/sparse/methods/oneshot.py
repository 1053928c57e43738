"""One-shot magnitude pruning + fine-tuning: train dense, prune once (global or layer-wise), keep
training the survivors.

Algorithm and parameters: docs/ALGORITHMS.md §5.5, §5.7.
"""

from __future__ import annotations

from prunekit.errors import ConfigError
from prunekit.params import Spec
from prunekit.sparse.methods.base import Sparsifier
from prunekit.sparse.params import PRUNE_STEP, SCOPE, TOTAL_STEPS

__all__ = ["OneShotMagnitude"]


class OneShotMagnitude(Sparsifier):
    """Prune by magnitude once, at optimizer step ``prune_step``, then fine-tune.

    Args:
        scope: ``"global"`` (one threshold over all layers) or ``"layer"`` (every layer at the
            same density ``1 − sparsity``).
        prune_step: step at which to prune; 0 prunes at construction (e.g. a trained model that
            is then fine-tuned); default ``total_steps // 2`` (half dense training, half fine-tuning).
    """

    name = "magnitude"
    options = Spec(Sparsifier.options, SCOPE, PRUNE_STEP)

    def __init__(self, model, optimizer, sparsity, *, scope: str = "global", prune_step: int | None = None,
                 total_steps: int | None = None, **kw) -> None:
        scope = SCOPE.check(scope)
        prune_step = PRUNE_STEP.check(prune_step)
        total_steps = TOTAL_STEPS.check(total_steps)
        if prune_step is None:
            if total_steps is None:
                raise ConfigError("one-shot magnitude pruning needs prune_step or total_steps (default: prune "
                                  "at total_steps // 2)")
            prune_step = total_steps // 2
        if total_steps is not None and prune_step > total_steps:
            raise ConfigError(f"prune_step {prune_step} is after the end of training (total_steps {total_steps})")
        self.scope = scope
        self.prune_step = prune_step
        self.pruned = False
        self.global_selection = scope == "global"
        if scope == "layer":
            self.name = "magnitude_layer"
        super().__init__(model, optimizer, sparsity, total_steps=total_steps, **kw)

    def _init_masks(self) -> None:
        if self.prune_step == 0:
            self._prune()

    def _prune(self) -> None:
        from prunekit.sparse.criteria import layer_magnitude_mask

        if self.scope == "global":
            self._global_prune(self.density_target)
        else:
            for n, p in self.masks.params.items():
                k = max(1, int(round(self.density_target * p.numel())))
                self.masks.set_mask(n, layer_magnitude_mask(p, self.masks.masks[n], k))
        self.pruned = True
        self._record(event="prune", scope=self.scope)

    def _update(self, t_prev: int, t: int) -> bool:
        if not self.pruned and t >= self.prune_step:
            self._prune()
            return True
        return False

    def _extra_state(self) -> dict:
        return {"pruned": self.pruned, "prune_step": self.prune_step, "scope": self.scope}

    def _load_extra_state(self, state) -> None:
        self.pruned = bool(state.get("pruned", self.pruned))
