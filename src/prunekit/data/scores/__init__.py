"""Per-example scores in one registry (see ``base.py`` for the contract).

=================  =========================================================  =================
name               what                                                       direction
=================  =========================================================  =================
prototypicality    SSP: distance to nearest k-means centroid                   difficulty
density            DBP cluster statistics (d_intra, d_inter, complexity)      cluster-statistic
semdedup           near-duplicates within clusters; ``duplicate_of``           redundancy
random             seeded uniform score                                        random
=================  =========================================================  =================

Training dynamics (``dynamics.py``: pure functions over a ``Recorder`` fed from any training loop,
not registered scorers): ``el2n``, ``forgetting``, ``aum`` (logit / prob), ``dynamic_uncertainty``,
``grand`` (per-example gradient norm, all parameters) and ``grand_last_layer`` — all difficulties.
"""

from prunekit.data.scores import dynamics, geometry, proxy, random_, semdedup  # noqa: F401  (registration)
from prunekit.data.scores.base import SCORERS, Scorer, ScoreResult, ScoringContext, get_scorer, register

__all__ = ["SCORERS", "Scorer", "ScoreResult", "ScoringContext", "get_scorer", "register"]
