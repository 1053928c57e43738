"""Per-example scores in one registry (see ``base.py`` for the contract).

The registered scorers (``SCORERS``; ``prunekit data score -m <name>``):

===================  =============================================================  =================
name                 score                                                          direction
===================  =============================================================  =================
prototypicality      SSP: distance to the nearest k-means centroid                  difficulty
density              DBP cluster statistics (d_intra, d_inter, complexity)          cluster-statistic
el2n                 ‖p − e_y‖₂ at epoch ``at_epoch`` (default: the proxy's last)    difficulty
forgetting           forgetting events; never-learned = presentations + 1           difficulty
aum                  −(mean margin over epochs), ``variant`` logit or prob           difficulty
dynamic_uncertainty  mean over windows of the std of the true-class probability     difficulty
grand                ‖∇_w ℓ‖₂ over all parameters at initialisation (or ``epochs``)  difficulty
grand_last_layer     the same over the last linear layer only (a different score)   difficulty
random               seeded uniform score                                           random
semdedup             near-duplicates within clusters; ``duplicate_of``              redundancy
dp4tl_lm             DP4TL label mapping: target examples a surrogate trained on    value
                     the source classes predicts as the example's class
dp4tl_fm             DP4TL feature mapping: target examples nearest to the mean     value
                     of the example's source cluster; ``cluster``
===================  =============================================================  =================

Modules: ``clustering`` (the k-means geometry scorers of a run share), ``geometry``
(prototypicality, density), ``semdedup``, ``random_``, ``dp4tl`` (source pruning for transfer:
the ``target`` parameter names the target data; select with the ``dp4tl`` selector) and the
``dynamics`` package: the training
dynamics scorers train R seeded proxy models per run (shared by the dynamics scorers of one call);
the same scores from your own training loop come from ``dynamics.Recorder`` and the functions of
``dynamics`` (``el2n``, ``forgetting``, ``aum``, ``dynamic_uncertainty``, ``grand``,
``grand_last_layer``).

``scorer_params()`` gives every scorer parameter's declaration by name (for a command line).
"""

# Registration, in the order of the table above (the order of SCORERS).
from prunekit.data.scores import geometry  # noqa: F401
from prunekit.data.scores import dynamics, random_, semdedup  # noqa: F401
from prunekit.data.scores import dp4tl  # noqa: F401
from prunekit.data.scores.base import SCORERS, Scorer, ScoreResult, ScoringContext, get_scorer, register, scorer_params

__all__ = ["SCORERS", "Scorer", "ScoreResult", "ScoringContext", "get_scorer", "register", "scorer_params"]
