"""Every scalar parameter of the sparse methods and of PERP, declared once (:class:`prunekit.params.Param`).

Each declaration gives the one validation error (``"<name> must be <what>, got <value>"``), the
``--help`` text and the values the bad-input tests try. Sparsifier classes list theirs in
``options`` (a :class:`~prunekit.params.Spec`); ``prunekit.sparse.train`` builds the training
loop's spec from these and :mod:`prunekit.nn.params`. Non-scalar options (``include``/``exclude``
globs, ``module_types``, SNIP's ``batch`` and ``loss_fn``) are checked where they are used.
"""

from __future__ import annotations

import dataclasses

from prunekit.nn.params import SEED as _SEED
from prunekit.params import REQUIRED, Param

__all__ = [
    "SPARSITY", "TOTAL_STEPS", "SEED", "DENSE_FIRST_LAST", "DELTA_T", "DISTRIBUTION", "RESCALE_INIT", "SCOPE",
    "PRUNE_STEP", "T_START", "T_END", "INIT", "INIT_DENSITY", "DROP_START", "DROP_END", "DROP_FRACTION",
    "STOP_FRACTION", "RATE", "REWIND_STEP", "RANK",
]

# ----------------------------------------------------------------------------- every method

SPARSITY = Param("sparsity", float, low=0.0, high=1.0, high_open=True, default=REQUIRED,
                 help="Fraction of the sparsified (Linear/Conv) weights removed at the end")
TOTAL_STEPS = Param("total_steps", int, low=1, default=None, none_means="none (the scheduled methods need it)",
                    help="Optimizer steps of the whole run")
SEED = dataclasses.replace(_SEED, help="Seeds every random choice of the method")
DENSE_FIRST_LAST = Param("dense_first_last", bool, default=False,
                         help="Keep the first and last prunable layers dense")

# ----------------------------------------------------------------------------- shared by several methods

DELTA_T = Param("delta_t", int, low=1, default=100, help="Optimizer steps between mask updates")
DISTRIBUTION = Param("distribution", "choice", choices=("erk", "uniform"), default="erk",
                     help="Layer densities of a random mask")
RESCALE_INIT = Param("rescale_init", bool, default=False,
                     help="Scale each layer's surviving initial weights by 1/√(layer density)")

# ----------------------------------------------------------------------------- one method each

SCOPE = Param("scope", "choice", choices=("global", "layer"), default="global",
              help="One magnitude threshold over all layers, or the same density in every layer")
PRUNE_STEP = Param("prune_step", int, low=0, default=None, none_means="total_steps // 2",
                   help="Optimizer step of the one-shot prune (0: at once)")
T_START = Param("t_start", int, low=0, default=None, none_means="0", help="First prune step of the cubic schedule")
T_END = Param("t_end", int, low=0, default=None, none_means="round(0.7 · total_steps)",
              help="Last prune step of the cubic schedule")
INIT = Param("init", "choice", choices=("dense", "erk"), default="dense",
             help="GraNet's start: dense (dense-to-sparse) or a random ERK mask (sparse-to-sparse)")
INIT_DENSITY = Param("init_density", float, low=0.0, low_open=True, high=1.0, default=0.5,
                     help="Density of the random ERK start (init 'erk')")
DROP_START = Param("drop_start", float, low=0.0, high=1.0, default=0.5,
                   help="Drop fraction at the start (cosine decay)")
DROP_END = Param("drop_end", float, low=0.0, high=1.0, default=0.005, help="Drop fraction at the end (cosine decay)")
DROP_FRACTION = Param("drop_fraction", float, low=0.0, high=1.0, default=0.3,
                      help="Drop fraction at the start, decayed by cosine to 0 at stop_fraction")
STOP_FRACTION = Param("stop_fraction", float, low=0.0, low_open=True, high=1.0, default=0.75,
                      help="Fraction of training after which masks stop changing")
RATE = Param("rate", float, low=0.0, low_open=True, high=1.0, high_open=True, default=0.2,
             help="Fraction of the surviving weights pruned per lottery-ticket round")
REWIND_STEP = Param("rewind_step", int, low=0, default=None, none_means="round_length // 10",
                    help="Step whose weights every round restarts from (0: the initialisation)")

# ----------------------------------------------------------------------------- PERP

RANK = Param("rank", int, low=1, default=4, help="Rank of the low-rank adapter on each pruned Linear")
