"""Gradual pruning on the cubic schedule: GMP and GraNet (GMP + zero-cost neuroregeneration).

Algorithm and parameters: docs/ALGORITHMS.md §5.8–§5.9.
"""

from __future__ import annotations

from prunekit.errors import ConfigError
from prunekit.params import Spec
from prunekit.sparse.methods.base import Sparsifier, last_grid_point
from prunekit.sparse.params import (DELTA_T, DROP_END, DROP_START, INIT, INIT_DENSITY, RESCALE_INIT, T_END,
                                    T_START)
from prunekit.sparse.schedules import CosineDecay, CubicSchedule

__all__ = ["GMP", "GraNet", "DEFAULT_END_FRACTION"]

#: default end of pruning as a fraction of training (GraNet's CIFAR runs prune from epoch 0 to
#: 110 of 160, ≈ 0.69)
DEFAULT_END_FRACTION = 0.7


class GMP(Sparsifier):
    """Gradual magnitude pruning (Zhu & Gupta 2017), global: at the prune steps of the cubic
    schedule (every ``delta_t`` optimizer steps in ``[t_start, t_end]``, and at ``t_end``) the
    active weights are pruned by global magnitude to the schedule's density. Starts dense. No
    regrowth.

    Defaults: ``t_start = 0``, ``t_end = round(0.7·total_steps)``, ``delta_t = 100``.
    """

    name = "gmp"
    needs_total_steps = True
    global_selection = True
    options = Spec(Sparsifier.options, T_START, T_END, DELTA_T)

    def __init__(self, model, optimizer, sparsity, *, total_steps: int | None = None, t_start: int | None = None,
                 t_end: int | None = None, delta_t: int = 100, **kw) -> None:
        self._window = (T_START.check(t_start), T_END.check(t_end), DELTA_T.check(delta_t))
        super().__init__(model, optimizer, sparsity, total_steps=total_steps, **kw)

    def _s_initial(self) -> float:
        return 0.0

    def _configure(self) -> None:
        t_start, t_end, delta_t = self._window
        t0 = 0 if t_start is None else t_start
        tf = int(round(DEFAULT_END_FRACTION * self.total_steps)) if t_end is None else t_end
        self.schedule = CubicSchedule(self._s_initial(), self.sparsity, t0, tf, delta_t)  # validates
        if self.schedule.t_end > self.total_steps:
            raise ConfigError(f"pruning ends at step {tf}, after the end of training (total_steps "
                              f"{self.total_steps})")

    def _last_prune_event(self, t: int) -> int | None:
        s = self.schedule
        if t >= s.t_end:
            return s.t_end
        return last_grid_point(t, s.t_start, s.delta_t)

    def scheduled_density(self, t: int) -> float:
        """Density the masks hold after step ``t``: the schedule at the last prune step <= t."""
        ev = self._last_prune_event(t)
        return self.schedule.density(t if ev is None else ev)

    def _prune_if_due(self, t_prev: int, t: int) -> bool:
        ev = self._last_prune_event(t)
        if ev is None or ev <= t_prev:
            return False
        kept = self._global_prune(self.schedule.density(ev))
        self._record(event="prune", scheduled_density=round(self.schedule.density(ev), 6), kept=kept)
        return True

    def _update(self, t_prev: int, t: int) -> bool:
        return self._prune_if_due(t_prev, t)


class GraNet(GMP):
    """GraNet (Liu et al. 2021): GMP + zero-cost neuroregeneration.

    Every ``delta_t`` steps from ``t_start`` on: (1) at the cubic schedule's prune steps, global
    magnitude pruning to its density; (2) then, per layer, drop the fraction ``r`` of the layer's
    active weights with the smallest |w| and regrow as many at inactive positions with the largest
    |grad| of the current minibatch (``ceil(r·active)``, as in GraNet's code). ``r`` decays by
    cosine from ``drop_start`` (0.5) to ``drop_end`` (0.005) over the whole run; step (2) keeps
    running after pruning ends. Regrown weights start at 0 with zero optimizer state.

    ``init="dense"`` (dense-to-sparse, ``s_initial = 0``) or ``init="erk"`` (sparse-to-sparse: a
    random ERK mask at ``init_density`` = 0.5; the schedule starts from ``1 − init_density``;
    ``rescale_init`` scales its surviving initial weights by ``1/√(layer density)``).
    """

    name = "granet"
    uses_gradients = True
    options = Spec(GMP.options, INIT, INIT_DENSITY, DROP_START, DROP_END, RESCALE_INIT)

    def __init__(self, model, optimizer, sparsity, *, total_steps: int | None = None, t_start: int | None = None,
                 t_end: int | None = None, delta_t: int = 100, init: str = "dense", init_density: float = 0.5,
                 drop_start: float = 0.5, drop_end: float = 0.005, rescale_init: bool = False, **kw) -> None:
        init = INIT.check(init)
        init_density = INIT_DENSITY.check(init_density)
        self.rescale_init = RESCALE_INIT.check(rescale_init)
        if self.rescale_init and init != "erk":
            raise ConfigError("rescale_init applies to a sparse start only (init='erk', method granet_s2s)")
        self.init = init
        self.init_density = init_density if init == "erk" else 1.0
        if init == "erk":
            self.name = "granet_s2s"
        self._drop = (DROP_START.check(drop_start), DROP_END.check(drop_end))
        super().__init__(model, optimizer, sparsity, total_steps=total_steps, t_start=t_start, t_end=t_end,
                         delta_t=delta_t, **kw)

    def _s_initial(self) -> float:
        return 1.0 - self.init_density

    def _configure(self) -> None:
        if self.init_density < self.density_target:
            raise ConfigError(f"init_density {self.init_density} is below the final density "
                              f"{self.density_target}: sparse-to-sparse GraNet only prunes further")
        super()._configure()
        self.drop_fraction = CosineDecay(self._drop[0], self._drop[1], self.total_steps)

    def _init_masks(self) -> None:
        if self.init == "erk":
            self._random_init(self.init_density, "erk", rescale=self.rescale_init)
            self._record(event="init", distribution="erk", init_density=self.init_density)

    def _update(self, t_prev: int, t: int) -> bool:
        changed = self._prune_if_due(t_prev, t)
        s = self.schedule
        ev = last_grid_point(t, s.t_start, s.delta_t)
        if ev is not None and ev > t_prev:
            r = self.drop_fraction(t)
            moved = self._drop_and_regrow(r, by_gradient=True, rounding="ceil")
            self._record(event="regrow", drop_fraction=round(r, 6), moved=moved)
            changed = True
        return changed
