"""The registered training-dynamics scorers: R short, seeded proxy trainings on all the data,
recorded batch by batch, then scored and averaged over runs (docs/ALGORITHMS.md §1.1–§1.5).

Scorers of one ``score()`` call with the same proxy settings share the same trainings: asking for
el2n, forgetting and aum together costs R trainings, not 3R. GraNd and its last-layer variant take
the gradient norms of R proxy models at initialisation (or after ``epochs`` of training).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from prunekit.data.scores.base import ScoreResult, Scorer, ScoringContext, register
from prunekit.data.scores.dynamics.functions import VARIANT, WINDOW, aum, dynamic_uncertainty, el2n, forgetting
from prunekit.data.scores.dynamics.gradients import grand, grand_last_layer
from prunekit.data.scores.dynamics.recorder import Recorder
from prunekit.data.train import TRAIN_PARAMS, TrainConfig, fit, make_model
from prunekit.errors import ConfigError, InputError
from prunekit.io.arrays import as_float32_block
from prunekit.io.examples import ExampleSet
from prunekit.params import Param, Spec


def _proxy(name: str, help: str) -> Param:
    """A training parameter of the proxy models: ``TrainConfig``'s declaration, meaning reworded."""
    return dataclasses.replace(TRAIN_PARAMS[name], help=help)


#: the proxy trainings' parameters, shared by every dynamics scorer (they also key the shared trainings)
PROXY_PARAMS = Spec(
    Param("runs", int, low=1, default=5, help="Seeded proxy trainings averaged"),
    _proxy("epochs", "Epochs of each proxy training"),
    _proxy("model", "Proxy model"),
    _proxy("width", "Width multiplier of the proxy model"),
    _proxy("depth", "Hidden layers of the proxy mlp"),
    _proxy("batch_size", "Batch size of the proxy trainings"),
    _proxy("lr", "Peak learning rate of the proxy trainings"),
    _proxy("optimizer", "Optimizer of the proxy trainings"),
)
AT_EPOCH = Param("at_epoch", int, low=0, default=None, none_means="the proxy's last epoch",
                 help="el2n: 0-based epoch the score is read at")


def _dense(ex: ExampleSet) -> np.ndarray:
    """The embeddings in memory as float32, NaN/inf refused (proxy models train on all of them)."""
    return as_float32_block(ex.embeddings, 0, copy=not isinstance(ex.embeddings, np.memmap))


def _need_labels(ex: ExampleSet, name: str) -> np.ndarray:
    if ex.labels is None:
        raise InputError(f"scorer {name!r} trains proxy models and needs labels")
    return ex.labels


def _config(p: dict[str, Any], seed: int) -> TrainConfig:
    return TrainConfig(model=p["model"], width=p["width"], depth=p["depth"], epochs=p["epochs"],
                       batch_size=p["batch_size"],
                       lr=p["lr"], optimizer=p["optimizer"], seed=seed).validate()


def proxy_recordings(ex: ExampleSet, ctx: ScoringContext, p: dict[str, Any], name: str) -> tuple[list, dict]:
    """R recorded proxy trainings (cached in the scoring context); ``p``: checked ``PROXY_PARAMS``."""
    runs = p["runs"]
    key = ("proxy", tuple(sorted((k, p[k]) for k in PROXY_PARAMS.names())), ctx.seed)
    if key not in ctx.cache:
        X = _dense(ex)
        y = _need_labels(ex, name)
        C = ex.n_classes
        recs, t0 = [], time.perf_counter()
        for r in range(runs):
            rec = Recorder(len(X), C)
            fit(X, y, _config(p, ctx.seed * 1000 + r), n_classes=C, recorder=rec,
                show_progress=ctx.show_progress)
            recs.append(rec)
        ctx.cache[key] = (recs, {"runs": runs, "proxy_seconds": time.perf_counter() - t0})
    return ctx.cache[key]


class _DynamicsScorer(Scorer):
    """A dynamics scorer: one difficulty column, named after the scorer."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            cls.columns = {cls.name: "difficulty"}

    def _result(self, values: np.ndarray, info: dict[str, Any]) -> ScoreResult:
        return ScoreResult({self.name: np.asarray(values, dtype=np.float64)}, dict(self.columns), info=info)


class _RecordedScorer(_DynamicsScorer):
    """A score of the recorded proxy trainings: subclasses implement ``_from_recordings``."""

    spec = PROXY_PARAMS

    def _score(self, ex: ExampleSet, ctx: ScoringContext, p: dict[str, Any]) -> ScoreResult:
        recs, info = proxy_recordings(ex, ctx, p, self.name)
        values, extra = self._from_recordings(recs, p)
        return self._result(values, {**info, **extra})

    def _from_recordings(self, recs: list, p: dict[str, Any]) -> tuple[np.ndarray, dict]:  # pragma: no cover
        raise NotImplementedError


@register
class EL2NScorer(_RecordedScorer):
    """EL2N (Paul et al., §1.1): ``‖softmax(z) − e_y‖₂`` at epoch ``at_epoch`` of each proxy training
    (default: its last), averaged over the runs."""

    name = "el2n"
    summary = "EL2N: ‖p − e_y‖ early in training, averaged over proxy runs"
    spec = Spec(PROXY_PARAMS, AT_EPOCH)

    def _score(self, ex: ExampleSet, ctx: ScoringContext, p: dict[str, Any]) -> ScoreResult:
        at = p["at_epoch"]
        if not (at is None or at < p["epochs"]):  # before any training
            raise ConfigError(f"at_epoch must be in [0, {p['epochs']}), got {self.params['at_epoch']!r}")
        return super()._score(ex, ctx, p)

    def _from_recordings(self, recs, p):
        epoch = p["epochs"] - 1 if p["at_epoch"] is None else p["at_epoch"]
        return el2n(recs, epoch), {"at_epoch": epoch}


@register
class ForgettingScorer(_RecordedScorer):
    """Forgetting events (Toneva et al., §1.3), summed over the runs; an example a run never learns
    scores that run's largest number of presentations + 1."""

    name = "forgetting"
    summary = "forgetting events (never-learned = presentations + 1)"

    def _from_recordings(self, recs, p):
        scores, never = forgetting(recs)
        return scores, {"never_learned": int(never)}


@register
class AUMScorer(_RecordedScorer):
    """Area under the margin (Pleiss et al., §1.4), negated (higher = harder): the mean margin of the
    logits (``variant="logit"``) or of the probabilities (``"prob"``, the margin CCS accumulates)."""

    name = "aum"
    summary = "area under the margin, negated (logit or prob variant)"
    spec = Spec(PROXY_PARAMS, VARIANT)

    def _from_recordings(self, recs, p):
        return aum(recs, variant=p["variant"]), {"variant": p["variant"]}


@register
class DynamicUncertaintyScorer(_RecordedScorer):
    """Dynamic uncertainty (He et al., §1.5): the std of the true-class probability over sliding
    windows of ``window`` epochs, averaged over windows and runs. It ranks *fluctuating* examples
    hardest; to find mislabeled examples use aum, el2n or forgetting."""

    name = "dynamic_uncertainty"
    summary = "std of the true-class probability over sliding windows of epochs"
    spec = Spec(PROXY_PARAMS, WINDOW)

    def _from_recordings(self, recs, p):
        return dynamic_uncertainty(recs, window=p["window"]), {}


class _GradScorer(_DynamicsScorer):
    spec = PROXY_PARAMS.replace(epochs={"low": 0, "default": 0, "help": "Epochs of each proxy training "
                                        "before the gradient norms are taken (0: at initialisation)"})
    full = True

    def _score(self, ex: ExampleSet, ctx: ScoringContext, p: dict[str, Any]) -> ScoreResult:
        X = _dense(ex)
        y = _need_labels(ex, self.name)
        runs, epochs = p["runs"], p["epochs"]
        total = np.zeros(len(X))
        t0 = time.perf_counter()
        for r in range(runs):
            seed = ctx.seed * 1000 + r
            if epochs:
                model = fit(X, y, _config(p, seed), n_classes=ex.n_classes, show_progress=ctx.show_progress).model
            else:
                model = make_model(p["model"], X.shape[1], ex.n_classes, seed=seed, width=p["width"],
                                   depth=p["depth"])
            total += (grand if self.full else grand_last_layer)(model, X, y)
        return self._result(total / runs, {"runs": runs, "epochs": epochs, "seconds": time.perf_counter() - t0})


@register
class GraNdScorer(_GradScorer):
    """GraNd (Paul et al., §1.2): the per-example gradient norm over all parameters of R proxy
    models at initialisation (or after ``epochs`` of training), averaged."""

    name = "grand"
    summary = "GraNd: per-example gradient norm over all parameters (torch.func)"


@register
class GraNdLastLayerScorer(_GradScorer):
    """The gradient norm over the last linear layer only: cheap, and a different score than GraNd."""

    name = "grand_last_layer"
    summary = "gradient norm over the last linear layer only (cheap; not GraNd)"
    full = False
