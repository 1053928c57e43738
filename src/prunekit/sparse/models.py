"""The models ``prunekit.sparse`` trains, from the one registry :mod:`prunekit.nn.models` (kept so
that ``from prunekit.sparse.models import make_model``, as earlier docs showed, still works).

``MODELS`` here is the *sparse* family of that registry — ``lenet300``, ``lenet5``, ``smallcnn`` —
not every registered model (that is ``prunekit.nn.MODELS``). ``make_model`` is
``prunekit.nn.make_model`` itself (``n_classes`` has no default there).
"""

from prunekit.nn.models import SPARSE_MODELS as MODELS
from prunekit.nn.models import make_model

__all__ = ["MODELS", "make_model"]
