"""The sparsifier base class: owns a :class:`MaskManager`, counts optimizer steps, and calls the
method's update logic; the training loop stays the user's.

Call order in any loop (the sparsifier reads the dense gradients of the step that just happened)::

    loss.backward()
    optimizer.step()
    sparsifier.step()        # masks updated and applied: masked weights and their optimizer state = 0
    optimizer.zero_grad()

The step count ``t`` is the number of ``optimizer.step()`` calls since the sparsifier was created
(a step post-hook on the optimizer counts them), so schedules are in optimizer steps. Calling
``sparsifier.step()`` without a new optimizer step raises ``InputError``.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from prunekit.errors import ConfigError, InputError, require
from prunekit.params import Spec
from prunekit.sparse.masks import MaskManager
from prunekit.sparse.params import DENSE_FIRST_LAST, SEED, SPARSITY, TOTAL_STEPS

__all__ = ["Sparsifier", "ORDER_HINT"]

ORDER_HINT = "order: loss.backward() → optimizer.step() → sparsifier.step() → optimizer.zero_grad()"


def _torch():
    return require("torch", "torch")


def check_total_steps(total_steps, required: bool, method: str) -> int | None:
    total_steps = TOTAL_STEPS.check(total_steps)
    if total_steps is None and required:
        raise ConfigError(f"{method} needs total_steps (the number of optimizer steps of the run)")
    return total_steps


def last_grid_point(t: int, start: int, every: int) -> int | None:
    """Largest ``start + k·every <= t`` (k >= 0), or None if ``t < start``."""
    if t < start:
        return None
    return start + ((t - start) // every) * every


class Sparsifier:
    """Base class. Subclasses set ``name``, ``needs_total_steps`` and implement
    :meth:`_init_masks` (masks before training) and :meth:`_update` (changes at step ``t``).

    Args:
        model: the ``nn.Module`` being trained.
        optimizer: the optimizer that trains it (its state of masked weights is zeroed).
        sparsity: target fraction of the sparsified weights removed, in [0, 1).
        total_steps: optimizer steps of the whole run (needed by scheduled methods).
        seed: seeds every random choice of the method (its own ``torch.Generator``).
        module_types, include, exclude, dense_first_last: which weights are sparsified, see
            :func:`prunekit.sparse.masks.prunable_weights`.
    """

    name = "base"
    needs_total_steps = False
    uses_gradients = False
    #: True for the methods that select weights over all layers together (global magnitude, GMP,
    #: GraNet, SNIP, the lottery ticket): the target is then checked against the per-layer floor
    global_selection = False
    #: the scalar options, declared once (non-scalar ones: module_types, include, exclude)
    options = Spec(SPARSITY, TOTAL_STEPS, SEED, DENSE_FIRST_LAST)

    def __init__(self, model, optimizer, sparsity: float, *, total_steps: int | None = None, seed: int = 0,
                 module_types=None, include=None, exclude=None, dense_first_last: bool = False) -> None:
        torch = _torch()
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise InputError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        self.sparsity = SPARSITY.check(sparsity)
        self.density_target = 1.0 - self.sparsity
        self.total_steps = check_total_steps(total_steps, self.needs_total_steps, self.name)
        self.seed = SEED.check(seed)
        dense_first_last = DENSE_FIRST_LAST.check(dense_first_last)
        self.model = model
        self.optimizer = optimizer
        self.masks = MaskManager(model, module_types=module_types, include=include, exclude=exclude,
                                 dense_first_last=dense_first_last)
        if self.global_selection:  # refuse an unreachable target before any mask is made
            from prunekit.sparse.criteria import check_floor_reachable

            check_floor_reachable(self.masks.shapes(), self.sparsity, self.name)
        in_opt = {id(p) for g in optimizer.param_groups for p in g["params"]}
        outside = [n for n, p in self.masks.params.items() if id(p) not in in_opt]
        if outside:
            raise ConfigError(f"the optimizer does not train the sparsified weights {', '.join(outside)}: "
                              "build the optimizer on model.parameters() first")
        self.generator = torch.Generator().manual_seed(seed)
        self.t = 0
        self._opt_steps = 0
        self.events: list[dict[str, Any]] = []  # one record per mask update: what changed, when
        self._hook = None
        self._configure()
        self._init_masks()
        self.masks.apply(optimizer)
        # Registered last: a constructor that fails leaves no hook behind on the optimizer.
        self._hook = optimizer.register_step_post_hook(self._count_step)

    # ------------------------------------------------------------------ subclass interface

    def _configure(self) -> None:
        """Build schedules from the validated ``sparsity``/``total_steps`` (before the masks)."""

    def _init_masks(self) -> None:
        """Set the masks before training (default: dense)."""

    def _update(self, t_prev: int, t: int) -> bool:
        """Change masks for the optimizer steps ``(t_prev, t]``; return True if anything changed."""
        return False

    def _extra_state(self) -> dict:
        return {}

    def _load_extra_state(self, state: Mapping) -> None:
        pass

    # ------------------------------------------------------------------ public

    def _count_step(self, optimizer, args, kwargs) -> None:
        self._opt_steps += 1

    @property
    def optimizer_stepped(self) -> bool:
        """True when ``optimizer.step()`` ran since the last :meth:`step` (step() may be called)."""
        return self._opt_steps > self.t

    def step(self) -> bool:
        """Update and apply the masks after ``optimizer.step()``; returns True if the masks changed.

        Raises ``InputError`` when the optimizer has not stepped since the last call, or when a
        gradient-based update finds no gradients (``zero_grad`` was called too early).
        """
        if not self.optimizer_stepped:
            raise InputError("sparsifier.step() was called but the optimizer has not stepped since the last "
                             f"call ({ORDER_HINT})")
        t_prev, self.t = self.t, self._opt_steps
        # The optimizer just moved masked weights (their dense gradient is not masked): re-zero them
        # and their state first, so magnitudes and "regrown at 0" are measured on the masked model.
        self.masks.apply(self.optimizer)
        changed = self._update(t_prev, self.t)
        if changed:
            self.masks.apply(self.optimizer)
        return changed

    def schedule_position(self, t: int) -> tuple[int, int]:
        """``(position, length)`` of step ``t`` in the learning-rate schedule: the whole run by
        default; lottery-ticket rounds restart it."""
        return t, (self.total_steps or max(t, 1))

    def density(self) -> float:
        return self.masks.density()

    def remove(self) -> None:
        """Detach from the optimizer (removes the step-counting hook)."""
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    def state_dict(self) -> dict:
        return {"method": self.name, "t": self.t, "sparsity": self.sparsity, "seed": self.seed,
                "total_steps": self.total_steps, "masks": self.masks.state_dict(),
                "generator": self.generator.get_state(), "events": list(self.events),
                "extra": self._extra_state()}

    def load_state_dict(self, state: Mapping) -> None:
        if not isinstance(state, Mapping) or "masks" not in state or "method" not in state:
            raise InputError("not a sparsifier state_dict (expected the output of Sparsifier.state_dict())")
        if state["method"] != self.name:
            raise InputError(f"state_dict is from method {state['method']!r}, this sparsifier is {self.name!r}")
        self.masks.load_state_dict(state["masks"])
        self.t = self._opt_steps = int(state["t"])
        self.generator.set_state(state["generator"])
        self.events = list(state.get("events", []))
        self._load_extra_state(state.get("extra", {}))
        self.masks.apply(self.optimizer)

    # ------------------------------------------------------------------ helpers for subclasses

    def _grads(self) -> dict:
        """Dense gradients of the sparsified weights from the step just taken."""
        torch = _torch()
        grads = {}
        for n, p in self.masks.params.items():
            if p.grad is None:
                raise InputError(f"no gradient for {n} at step {self.t}: {self.name} regrows by gradient and "
                                 f"needs the gradients of the step ({ORDER_HINT})")
            grads[n] = p.grad
        if all(not torch.any(g) for g in grads.values()):
            raise InputError(f"all gradients are zero at step {self.t}: zero_grad() was probably called before "
                             f"sparsifier.step() ({ORDER_HINT})")
        return grads

    def _random_init(self, density: float, distribution: str = "erk", rescale: bool = False) -> None:
        """Random masks with exactly ``round(d_l · numel)`` active weights per layer, the layer
        densities ``d_l`` from ERK or uniform for overall ``density``.

        ``rescale``: multiply each layer's surviving initial weights by ``1/√d_l`` so its output
        variance matches the dense initialisation (a layer keeping 5 % of its inputs otherwise
        shrinks its signal ~4.5x, and deep sparse nets can sit at chance level for many epochs)."""
        from prunekit.sparse.criteria import topk_mask
        from prunekit.sparse.density import erk_densities, kept_counts, uniform_densities

        if distribution == "erk":
            dens = erk_densities(self.masks.shapes(), density)
        elif distribution == "uniform":
            dens = uniform_densities(self.masks.shapes(), density)
        else:
            raise ConfigError(f"unknown layer-density distribution {distribution!r}; use 'erk' or 'uniform'")
        counts = kept_counts(self.masks.shapes(), dens)
        torch = _torch()
        for n, p in self.masks.params.items():
            scores = torch.rand(p.shape, generator=self.generator)  # CPU: same masks on any device
            self.masks.set_mask(n, topk_mask(scores, counts[n]))
            if rescale:
                with torch.no_grad():
                    p.mul_(math.sqrt(p.numel() / counts[n]))

    def _global_prune(self, density: float) -> int:
        """Global magnitude pruning of the active weights to ``round(density · numel)`` of them
        (never re-activates: clamped to the active count; every layer keeps its floor, see
        :func:`~prunekit.sparse.criteria.layer_floor`). Returns the kept count."""
        from prunekit.sparse.criteria import global_magnitude_masks, kept_count

        torch = _torch()
        k = kept_count(density, self.masks.numel())
        new = global_magnitude_masks(self.masks.params, self.masks.masks, k)
        self.masks.set_masks(new)
        return sum(int(torch.count_nonzero(m)) for m in new.values())

    def _drop_and_regrow(self, fraction: float, *, by_gradient: bool, rounding: str = "ceil") -> int:
        """Per layer: drop ``fraction`` of the active weights with the smallest |w| and regrow as
        many at inactive positions (largest |grad|, or at random). Returns the number moved."""
        from prunekit.sparse.criteria import drop_and_regrow

        torch = _torch()
        grads = self._grads() if by_gradient else None
        moved = 0
        for n, p in self.masks.params.items():
            m = self.masks.masks[n]
            active = int(torch.count_nonzero(m))
            k = n_swap_ceil(fraction, active) if rounding == "ceil" else int(fraction * active)
            if k == 0:
                continue
            new, dropped, grown = drop_and_regrow(p, m, k, grad=None if grads is None else grads[n],
                                                  generator=self.generator)
            self.masks.set_mask(n, new)
            moved += int(torch.count_nonzero(grown))
        return moved

    def _record(self, **info) -> None:
        info = {"t": self.t, **info, "density": round(self.masks.density(), 6)}
        self.events.append(info)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(sparsity={self.sparsity}, t={self.t}, density={self.masks.density():.4f})"


def n_swap_ceil(fraction: float, n_active: int) -> int:
    """Weights to drop (and regrow) in a layer: ``ceil(fraction · active)`` (GraNet's rounding)."""
    return int(math.ceil(fraction * n_active - 1e-12))
