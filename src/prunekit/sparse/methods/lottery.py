"""Lottery ticket / iterative magnitude pruning with weight rewinding (Frankle et al. 2019, 2020).

The run's ``total_steps`` are split into ``R + 1`` equal rounds, ``R = lth_rounds(sparsity)``
(20 % of the survivors per round: 90/95/98/99 % → 11/14/18/21 rounds). At the end of each of
the first ``R`` rounds: global magnitude pruning of 20 % of the surviving weights (the last round
lands exactly on the target), then every parameter and buffer of the model and the optimizer
state are rewound to their values at ``rewind_step``; the masks stay. The last round trains the
final ticket. So LTH here costs the same number of optimizer steps as every other method; its
real cost in the original protocol (a full training per round) is ``R + 1`` times that.

Algorithm and parameters: docs/ALGORITHMS.md §5.12.
"""

from __future__ import annotations

import copy

import dataclasses

from prunekit.errors import ConfigError
from prunekit.params import Spec
from prunekit.sparse.methods.base import Sparsifier
from prunekit.sparse.params import RATE, REWIND_STEP
from prunekit.sparse.schedules import lth_rounds

__all__ = ["LotteryTicket"]


class LotteryTicket(Sparsifier):
    """Iterative magnitude pruning with rewinding, in one run of ``total_steps`` optimizer steps.

    Args:
        rate: fraction of the surviving weights pruned per round (0.2).
        rewind_step: step whose weights every round restarts from; default ``round_length // 10``
            (early in the first round). 0 rewinds to the initialisation (the original LTH).

    :meth:`schedule_position` restarts the learning-rate schedule at every round, so a loop that
    asks it for the LR position trains each round with the same schedule.
    """

    name = "lth"
    needs_total_steps = True
    global_selection = True
    options = Spec(Sparsifier.options, RATE, REWIND_STEP)

    def __init__(self, model, optimizer, sparsity, *, total_steps: int | None = None, rate: float = 0.2,
                 rewind_step: int | None = None, **kw) -> None:
        self.rate = RATE.check(rate)
        self._rewind_arg = REWIND_STEP.check(rewind_step)
        self._checkpoint = None
        super().__init__(model, optimizer, sparsity, total_steps=total_steps, **kw)

    def _configure(self) -> None:
        self.rounds = lth_rounds(self.sparsity, self.rate)
        if self.total_steps < self.rounds + 1:
            raise ConfigError(f"{self.total_steps} optimizer steps cannot hold {self.rounds + 1} lottery-ticket "
                              f"rounds; train longer or lower the sparsity")
        self.round_length = self.total_steps // (self.rounds + 1)
        rw = self.round_length // 10 if self._rewind_arg is None else self._rewind_arg
        # inside the first round: the declaration with this run's upper bound, so the same wording
        self.rewind_step = dataclasses.replace(REWIND_STEP, high=self.round_length, high_open=True).check(rw)
        self.round = 0

    def _init_masks(self) -> None:
        if self.rewind_step == 0:
            self._save_checkpoint()

    def round_density(self, k: int) -> float:
        """Density after ``k`` pruning rounds: ``(1 − rate)^k``, the target from round ``R`` on."""
        return max(self.density_target, (1.0 - self.rate) ** k) if k < self.rounds else self.density_target

    def schedule_position(self, t: int) -> tuple[int, int]:
        """LR position of the step after ``t`` steps: ``(t − round start, round length)``; the last
        round also takes the steps left over by the integer division."""
        k = min(t // self.round_length, self.rounds)
        length = self.round_length if k < self.rounds else self.total_steps - self.rounds * self.round_length
        return t - k * self.round_length, length

    def _save_checkpoint(self) -> None:
        model_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        opt_state = {p: copy.deepcopy(self.optimizer.state[p]) for g in self.optimizer.param_groups
                     for p in g["params"] if p in self.optimizer.state}
        self._checkpoint = (model_state, opt_state)

    def _rewind(self) -> None:
        model_state, opt_state = self._checkpoint
        self.model.load_state_dict(model_state)
        # Only per-parameter state is rewound; param_groups (the LR) belong to the loop's schedule.
        for g in self.optimizer.param_groups:
            for p in g["params"]:
                self.optimizer.state.pop(p, None)
                if p in opt_state:
                    self.optimizer.state[p] = copy.deepcopy(opt_state[p])

    def _update(self, t_prev: int, t: int) -> bool:
        if self._checkpoint is None and t >= self.rewind_step:
            self._save_checkpoint()
        k = min(t // self.round_length, self.rounds)
        if k <= self.round:
            return False
        self.round = k
        kept = self._global_prune(self.round_density(k))
        self._rewind()
        self._record(event="round", round=k, kept=kept)
        return True

    def _params(self) -> list:
        return [p for g in self.optimizer.param_groups for p in g["params"]]

    def _extra_state(self) -> dict:
        ckpt = None
        if self._checkpoint is not None:  # a resumed run must rewind to the same weights
            model_state, opt_state = self._checkpoint
            index = {id(p): i for i, p in enumerate(self._params())}
            ckpt = {"model": model_state, "optimizer": {index[id(p)]: s for p, s in opt_state.items()}}
        return {"round": self.round, "rewind_step": self.rewind_step, "checkpoint": ckpt}

    def _load_extra_state(self, state) -> None:
        self.round = int(state.get("round", self.round))
        ckpt = state.get("checkpoint")
        if ckpt is not None:
            params = self._params()
            self._checkpoint = (ckpt["model"], {params[int(i)]: s for i, s in ckpt["optimizer"].items()})
