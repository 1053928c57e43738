"""Selectors: scores → a keep mask with a reason per dropped example (see ``base`` and ``methods``)."""

from prunekit.data.select import methods  # noqa: F401  (registration)
from prunekit.data.select.base import SELECTORS, Selection, Selector, budget, get_selector, register
from prunekit.data.select.methods import capped_simplex_projection, dbp_quotas

__all__ = ["SELECTORS", "Selection", "Selector", "budget", "capped_simplex_projection",
           "dbp_quotas", "get_selector", "register"]
