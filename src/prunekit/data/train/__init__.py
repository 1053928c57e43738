"""Training on the kept subset: a small deterministic trainer, knowledge distillation from a
teacher trained on all the data, and RS2 (repeated random sampling)."""

from prunekit.data.train.kd import teacher_logits
from prunekit.data.train.models import MODELS, make_model
from prunekit.data.train.sampling import RS2, FixedSubset
from prunekit.data.train.subset import SubsetRun, TrainingData, load_training_data, train_subset
from prunekit.data.train.trainer import (
    TRAIN_PARAMS, TrainConfig, TrainResult, evaluate, fit, kd_alpha_auto, kd_loss, load_checkpoint, predict_logits,
    rows_from_selection, save_checkpoint,
)

__all__ = ["SubsetRun", "TRAIN_PARAMS", "TrainingData", "load_training_data", "train_subset", "MODELS", "RS2", "FixedSubset", "TrainConfig", "TrainResult", "evaluate", "fit", "kd_alpha_auto",
           "kd_loss", "load_checkpoint", "make_model", "predict_logits", "save_checkpoint", "rows_from_selection", "teacher_logits"]

