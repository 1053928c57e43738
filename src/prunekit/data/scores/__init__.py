"""Per-example scores in one registry (see ``base.py`` for the contract).

=================  =========================================================  =================
name               what                                                       direction
=================  =========================================================  =================
prototypicality    SSP: distance to nearest k-means centroid                   difficulty
density            DBP cluster statistics (d_intra, d_inter, complexity)      cluster-statistic
semdedup           near-duplicates within clusters; ``duplicate_of``           redundancy
random             seeded uniform score                                        random
=================  =========================================================  =================
"""

from prunekit.data.scores import geometry, random_, semdedup  # noqa: F401  (registration)
from prunekit.data.scores.base import SCORERS, Scorer, ScoreResult, ScoringContext, get_scorer, register

__all__ = ["SCORERS", "Scorer", "ScoreResult", "ScoringContext", "get_scorer", "register"]
