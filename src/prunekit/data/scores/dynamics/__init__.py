"""Training-dynamics scores: from any training loop, and as registered scorers.

==================  ==============================================================================
module              job
==================  ==============================================================================
``recorder``        ``Recorder``: per-example logit statistics, fed batch by batch from any loop
``functions``       ``el2n``, ``forgetting``, ``aum``, ``dynamic_uncertainty`` of recorded runs
``gradients``       ``grand`` (all parameters) and ``grand_last_layer`` of a model
``lightning``       ``RecorderCallback``: feeds a ``Recorder`` from PyTorch Lightning
``scorers``         the registered scorers: R seeded proxy trainings → the scores above
==================  ==============================================================================

Every score is a **difficulty** (higher = harder; docs/ALGORITHMS.md §1.0). From your own loop::

    from prunekit.data.scores.dynamics import Recorder, el2n, aum
    rec = Recorder(n, n_classes)
    ...  # each batch: rec.record(indices, logits, labels, epoch)
    scores = aum(rec)

Under DistributedDataParallel each process records its own shard; ``rec.all_gather()`` (or
``Recorder.merge_files`` of the per-rank ``rec.save`` files) merges them into the record of one
process (docs/TRAINING.md).
"""

from prunekit.data.scores.dynamics import scorers  # noqa: F401  (registration)
from prunekit.data.scores.dynamics.functions import aum, dynamic_uncertainty, el2n, forgetting
from prunekit.data.scores.dynamics.gradients import grand, grand_last_layer, grand_reference
from prunekit.data.scores.dynamics.lightning import RecorderCallback
from prunekit.data.scores.dynamics.recorder import Recorder

__all__ = [
    "Recorder",
    "RecorderCallback",
    "aum",
    "dynamic_uncertainty",
    "el2n",
    "forgetting",
    "grand",
    "grand_last_layer",
    "grand_reference",
]
