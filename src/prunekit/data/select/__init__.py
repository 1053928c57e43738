"""Selectors: scores → a keep mask with a reason per dropped example (the contract: ``base``; the
selectors and their parameters: ``methods``; docs/ALGORITHMS.md Part 2).

The registered selectors (``SELECTORS``; ``prunekit data select -s <name>``):

==========  ====================================================================================
name        rule
==========  ====================================================================================
hardest     keep the highest scores (optionally class-balanced: proportional or equal)
easiest     keep the lowest scores (same options)
offset      drop the ``beta`` hardest fraction of N first, then keep the hardest of the rest
random      uniform sample (optionally class-balanced)
ccs         coverage-centric: hard cutoff of the ``beta`` hardest, ``bins`` equal-width score bins,
            water-filled budget, uniform sampling inside each bin
dbp         density-based cluster quotas: softmax(complexity / tau), projected onto the capped
            simplex, hardest (or easiest / random) within each cluster
sorscher    keep-easy or keep-hard chosen from how much data is kept (the rule of Sorscher et al.)
dp4tl       whole groups (source classes or clusters) in descending order of a per-group value:
            how many target examples DP4TL maps onto them (``transfer``)
importance  importance resampling of log-weights without replacement by Gumbel top-k, or
            deterministic top-k (DSIR; ``transfer``)
==========  ====================================================================================

``selector_params()`` gives every selector parameter's declaration by name (for a command line);
``KEEP`` and ``COUNT`` declare the budget.
"""

from prunekit.data.select import methods, transfer  # noqa: F401  (registration)
from prunekit.data.select.base import (
    COUNT, KEEP, SELECTORS, Selection, Selector, budget, get_selector, register, selector_params,
)
from prunekit.data.select.methods import capped_simplex_projection, dbp_quotas
from prunekit.data.select.transfer import gumbel_top_k

__all__ = ["COUNT", "KEEP", "SELECTORS", "Selection", "Selector", "budget", "capped_simplex_projection",
           "dbp_quotas", "get_selector", "gumbel_top_k", "register", "selector_params"]
