"""Dynamic sparse training from a random sparse start: RigL (regrow by gradient) and SET (regrow
at random). The number of active weights per layer never changes.

Algorithm and parameters: docs/ALGORITHMS.md §5.10–§5.11.
"""

from __future__ import annotations

from prunekit.params import Spec
from prunekit.sparse.methods.base import Sparsifier, last_grid_point
from prunekit.sparse.params import DELTA_T, DISTRIBUTION, DROP_FRACTION, RESCALE_INIT, STOP_FRACTION
from prunekit.sparse.schedules import CosineDecay

__all__ = ["RigL", "SET"]


class RigL(Sparsifier):
    """RigL (Evci et al. 2020): random ERK masks at the target density; every ``delta_t`` (100)
    steps until ``stop_fraction`` (75 %) of training, per layer drop ``int(r·active)`` active weights
    with the smallest |w| and regrow as many inactive ones with the largest |grad| of the current
    minibatch. ``r`` decays by cosine from ``drop_fraction`` (0.3) to 0 at the stop step. Regrown
    weights start at 0 with zero optimizer state. ``rescale_init`` scales the surviving initial
    weights by ``1/√(layer density)`` (off by default, as in RigL).
    """

    name = "rigl"
    needs_total_steps = True
    uses_gradients = True
    _by_gradient = True
    options = Spec(Sparsifier.options, DELTA_T, DROP_FRACTION, STOP_FRACTION, DISTRIBUTION, RESCALE_INIT)

    def __init__(self, model, optimizer, sparsity, *, total_steps: int | None = None, delta_t: int = 100,
                 drop_fraction: float = 0.3, stop_fraction: float = 0.75, distribution: str = "erk",
                 rescale_init: bool = False, **kw) -> None:
        self.delta_t = DELTA_T.check(delta_t)
        self._drop0 = DROP_FRACTION.check(drop_fraction)
        self.stop_fraction = STOP_FRACTION.check(stop_fraction)
        self.distribution = DISTRIBUTION.check(distribution)
        self.rescale_init = RESCALE_INIT.check(rescale_init)
        super().__init__(model, optimizer, sparsity, total_steps=total_steps, **kw)

    def _configure(self) -> None:
        self.t_stop = max(1, int(round(self.stop_fraction * self.total_steps)))
        self.drop_fraction = CosineDecay(self._drop0, 0.0, self.t_stop)

    def _init_masks(self) -> None:
        self._random_init(self.density_target, self.distribution, rescale=self.rescale_init)
        self._record(event="init", distribution=self.distribution)

    def _update(self, t_prev: int, t: int) -> bool:
        ev = last_grid_point(t, 0, self.delta_t)
        if ev is None or ev <= t_prev or ev == 0 or ev >= self.t_stop:
            return False
        r = self.drop_fraction(ev)
        moved = self._drop_and_regrow(r, by_gradient=self._by_gradient, rounding="floor")
        self._record(event="regrow", drop_fraction=round(r, 6), moved=moved)
        return True


class SET(RigL):
    """SET (Mocanu et al. 2018) on RigL's schedule: like :class:`RigL` but regrowth picks inactive
    positions uniformly at random (from the seeded generator) instead of by gradient."""

    name = "set"
    uses_gradients = False
    _by_gradient = False
