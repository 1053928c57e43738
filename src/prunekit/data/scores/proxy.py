"""Training-dynamics scorers: R short, seeded proxy trainings on all the data, recorded batch by
batch, then scored and averaged over runs (ALGORITHMS.md 1.1–1.5).

=====================  ==============================================================  ==========
name                   score                                                           direction
=====================  ==============================================================  ==========
el2n                   ‖p − e_y‖₂ at epoch ``at_epoch`` (default: the proxy's last)     difficulty
forgetting             forgetting events; never-learned = presentations + 1           difficulty
aum                    −(mean margin over epochs), ``variant`` logit or prob            difficulty
dynamic_uncertainty    mean over windows of std of the true-class probability          difficulty
grand                  ‖∇_w ℓ‖₂ over all parameters at initialisation (+``grand_epochs``) difficulty
grand_last_layer       the same over the last linear layer only (a different score)    difficulty
=====================  ==============================================================  ==========

Scorers of one ``score()`` call with the same proxy settings share the same trainings: asking for
el2n, forgetting and aum together costs R trainings, not 3R.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from prunekit.data.scores.base import Scorer, ScoreResult, ScoringContext, register
from prunekit.errors import ConfigError, InputError
from prunekit.io.examples import ExampleSet

PROXY_DEFAULTS: dict[str, Any] = {"runs": 5, "epochs": 10, "model": "mlp", "width": 1, "batch_size": 128,
                                  "lr": 0.05, "optimizer": "sgd"}


def _positive(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ConfigError(f"{name} must be a positive integer, got {v!r}")
    return int(v)


def _dense(ex: ExampleSet) -> np.ndarray:
    """The embeddings in memory as float32, NaN/inf refused (proxy models train on all of them)."""
    from prunekit.io.arrays import as_float32_block

    return as_float32_block(ex.embeddings, 0, copy=not isinstance(ex.embeddings, np.memmap))


def _need_labels(ex: ExampleSet, name: str) -> np.ndarray:
    if ex.labels is None:
        raise InputError(f"scorer {name!r} trains proxy models and needs labels")
    return ex.labels


def _check_proxy(params: dict[str, Any], *, epochs_may_be_zero: bool = False) -> None:
    """Validate the proxy-training parameters up front (they also form a cache key)."""
    from prunekit.data.train.models import MODELS
    from prunekit.data.train.trainer import OPTIMIZERS

    for name in ("runs", "width", "batch_size"):
        _positive(name, params[name])
    e = params["epochs"]
    if isinstance(e, bool) or not isinstance(e, (int, np.integer)) or e < (0 if epochs_may_be_zero else 1):
        raise ConfigError(f"epochs must be an integer >= {0 if epochs_may_be_zero else 1}, got {e!r}")
    if not isinstance(params["model"], str) or params["model"] not in MODELS:
        raise ConfigError(f"unknown proxy model {params['model']!r}; valid models: {', '.join(MODELS)}")
    if not isinstance(params["optimizer"], str) or params["optimizer"] not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {params['optimizer']!r}; valid: {', '.join(OPTIMIZERS)}")
    lr = params["lr"]
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ConfigError(f"lr must be a number > 0, got {lr!r}")


def _config(params: dict[str, Any], seed: int):
    from prunekit.data.train import TrainConfig

    return TrainConfig(model=params["model"], width=params["width"], epochs=_positive("epochs", params["epochs"]),
                       batch_size=_positive("batch_size", params["batch_size"]), lr=params["lr"],
                       optimizer=params["optimizer"], seed=seed).validate()


def proxy_recordings(ex: ExampleSet, ctx: ScoringContext, params: dict[str, Any], name: str) -> tuple[list, dict]:
    """R recorded proxy trainings (cached in the scoring context)."""
    from prunekit.data.scores.dynamics import Recorder
    from prunekit.data.train import fit

    _check_proxy(params)
    runs = int(params["runs"])
    key = ("proxy", tuple(sorted((k, params[k]) for k in PROXY_DEFAULTS)), ctx.seed)
    if key not in ctx.cache:
        X = _dense(ex)
        y = _need_labels(ex, name)
        C = ex.n_classes
        recs, t0 = [], time.perf_counter()
        for r in range(runs):
            rec = Recorder(len(X), C)
            fit(X, y, _config(params, ctx.seed * 1000 + r), n_classes=C, recorder=rec,
                show_progress=ctx.show_progress)
            recs.append(rec)
        ctx.cache[key] = (recs, {"runs": runs, "proxy_seconds": time.perf_counter() - t0})
    return ctx.cache[key]


class _DynamicsScorer(Scorer):
    defaults = dict(PROXY_DEFAULTS)

    def _score(self, ex: ExampleSet, ctx: ScoringContext) -> ScoreResult:
        self._from_recordings(None)  # validates this scorer's own parameters before any training
        recs, info = proxy_recordings(ex, ctx, self.params, self.name)
        values, extra = self._from_recordings(recs)
        return ScoreResult({self.name: np.asarray(values, dtype=np.float64)}, dict(self.columns),
                           info={**info, **extra})

    def _from_recordings(self, recs):  # pragma: no cover
        raise NotImplementedError


@register
class EL2NScorer(_DynamicsScorer):
    name = "el2n"
    summary = "EL2N: ‖p − e_y‖ early in training, averaged over proxy runs"
    defaults = {**PROXY_DEFAULTS, "at_epoch": None}
    columns = {"el2n": "difficulty"}

    def _from_recordings(self, recs):
        from prunekit.data.scores.dynamics import el2n

        _check_proxy(self.params)
        at = self.params["at_epoch"]
        epoch = self.params["epochs"] - 1 if at is None else at
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or not 0 <= epoch < self.params["epochs"]:
            raise ConfigError(f"at_epoch must be in [0, {self.params['epochs']}), got {at!r}")
        if recs is None:
            return None, {}
        return el2n(recs, int(epoch)), {"at_epoch": int(epoch)}


@register
class ForgettingScorer(_DynamicsScorer):
    name = "forgetting"
    summary = "forgetting events (never-learned = presentations + 1)"
    columns = {"forgetting": "difficulty"}

    def _from_recordings(self, recs):
        from prunekit.data.scores.dynamics import forgetting

        if recs is None:
            return None, {}
        scores, never = forgetting(recs)
        return scores, {"never_learned": int(never)}


@register
class AUMScorer(_DynamicsScorer):
    name = "aum"
    summary = "area under the margin, negated (logit or prob variant)"
    defaults = {**PROXY_DEFAULTS, "variant": "logit"}
    columns = {"aum": "difficulty"}

    def _from_recordings(self, recs):
        from prunekit.data.scores.dynamics import aum

        v = self.params["variant"]
        if not isinstance(v, str) or v not in ("logit", "prob"):
            raise ConfigError(f"variant must be logit or prob, got {v!r}")
        if recs is None:
            return None, {}
        return aum(recs, variant=v), {"variant": v}


@register
class DynamicUncertaintyScorer(_DynamicsScorer):
    name = "dynamic_uncertainty"
    summary = "std of the true-class probability over sliding windows of epochs"
    defaults = {**PROXY_DEFAULTS, "window": 10}
    columns = {"dynamic_uncertainty": "difficulty"}

    def _from_recordings(self, recs):
        from prunekit.data.scores.dynamics import dynamic_uncertainty

        window = _positive("window", self.params["window"])
        if recs is None:
            return None, {}
        return dynamic_uncertainty(recs, window=window), {}


class _GradScorer(Scorer):
    defaults = {**PROXY_DEFAULTS, "epochs": 0}
    full = True

    def _score(self, ex: ExampleSet, ctx: ScoringContext) -> ScoreResult:
        from prunekit.data.scores.dynamics import grand, grand_last_layer
        from prunekit.data.train import fit, make_model

        _check_proxy(self.params, epochs_may_be_zero=True)
        X = _dense(ex)
        y = _need_labels(ex, self.name)
        runs, epochs = int(self.params["runs"]), int(self.params["epochs"])
        total = np.zeros(len(X))
        t0 = time.perf_counter()
        for r in range(runs):
            seed = ctx.seed * 1000 + r
            if epochs:
                model = fit(X, y, _config({**self.params}, seed), n_classes=ex.n_classes,
                            show_progress=ctx.show_progress).model
            else:
                model = make_model(self.params["model"], X.shape[1], ex.n_classes, seed=seed, width=self.params["width"])
            total += (grand if self.full else grand_last_layer)(model, X, y)
        return ScoreResult({self.name: total / runs}, dict(self.columns),
                           info={"runs": runs, "epochs": int(epochs), "seconds": time.perf_counter() - t0})


@register
class GraNdScorer(_GradScorer):
    name = "grand"
    summary = "GraNd: per-example gradient norm over all parameters (torch.func)"
    columns = {"grand": "difficulty"}


@register
class GraNdLastLayerScorer(_GradScorer):
    name = "grand_last_layer"
    summary = "gradient norm over the last linear layer only (cheap; not GraNd)"
    columns = {"grand_last_layer": "difficulty"}
    full = False
