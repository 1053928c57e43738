"""Training on the kept subset: a small deterministic trainer, knowledge distillation from a
teacher trained on all the data, and RS2 (repeated random sampling)."""

from prunekit.data.train.kd import teacher_logits
from prunekit.data.train.models import MODELS, make_model
from prunekit.data.train.sampling import RS2, FixedSubset
from prunekit.data.train.trainer import (
    TrainConfig, TrainResult, evaluate, fit, kd_alpha_auto, kd_loss, load_checkpoint, predict_logits,
    save_checkpoint,
)

__all__ = ["MODELS", "RS2", "FixedSubset", "TrainConfig", "TrainResult", "evaluate", "fit", "kd_alpha_auto",
           "kd_loss", "load_checkpoint", "make_model", "predict_logits", "save_checkpoint", "rows_from_selection", "teacher_logits"]


def rows_from_selection(table, ids):
    """Row numbers (into data whose ids are ``ids``) of the examples a selection table keeps:
    an (M,) int64 array, sorted."""
    import numpy as np

    from prunekit.errors import InputError

    if table.keep is None:
        raise InputError("the subset artefact has no selection (keep column): run select first")
    kept = table.ids[table.keep]
    pos = {v: i for i, v in enumerate(np.asarray(ids).tolist())}
    missing = [v for v in kept.tolist() if v not in pos]
    if missing:
        raise InputError(f"{len(missing)} kept ids of the subset are not in the data (e.g. {missing[0]!r})")
    if len(kept) == 0:
        raise InputError("the subset keeps no examples (keep budget zero)")
    return np.sort(np.array([pos[v] for v in kept.tolist()], dtype=np.int64))
