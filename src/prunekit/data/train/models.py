"""The models ``prunekit.data`` trains, from the one registry :mod:`prunekit.nn.models`.

``MODELS`` here is the *data* family of that registry — ``mlp``, ``cnn``, ``linear``: the models
with ``features(x)`` and ``head`` that the trainer, distillation and GraNd's last-layer scores use —
not every registered model (that is ``prunekit.nn.MODELS``). ``make_model`` is the registry's
``prunekit.nn.make_model`` itself.
"""

from prunekit.nn.models import DATA_MODELS as MODELS
from prunekit.nn.models import make_model

__all__ = ["MODELS", "make_model"]
