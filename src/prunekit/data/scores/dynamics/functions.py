"""Training-dynamics scores over recorded trainings (pure functions of one ``Recorder`` or a list
of them, one per seeded run). Every score is a **difficulty** (higher = harder; docs/ALGORITHMS.md
§1.0–§1.5), (N,) float64:

===========================  ==================================================================
function                     score (per example)
===========================  ==================================================================
``el2n(recs, epoch)``        ``||p − e_y||₂`` at one recorded epoch, mean over runs (§1.1)
``forgetting(recs)``         1 → 0 correctness transitions between consecutive presentations,
                             summed over runs; never-learned examples score ``P + 1`` (§1.3)
``aum(recs, variant)``       ``−mean_t M_t``; ``M_t = z_y − max_{k≠y} z_k`` ("logit", Pleiss et
                             al.) or ``p_y − max_{k≠y} p_k`` ("prob", CCS's margin) (§1.4)
``dynamic_uncertainty``      mean over windows of the std of the true-class probability (§1.5)
===========================  ==================================================================

Missing data
------------
An example with no recorded value in any run scores NaN (these are pure functions; the scorer that
wraps them decides what to do). An example seen in only some runs is averaged over the runs that saw
it (forgetting: the mean over those runs times the number of runs, which equals the sum when every
run saw it).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from prunekit.data.scores.dynamics._inputs import is_int
from prunekit.data.scores.dynamics.recorder import Recorder
from prunekit.errors import ConfigError, InputError
from prunekit.params import Param

def _recorders(recs: Recorder | Sequence[Recorder]) -> list[Recorder]:
    rl = [recs] if isinstance(recs, Recorder) else list(recs) if isinstance(recs, (list, tuple)) else None
    if rl is None or not all(isinstance(r, Recorder) for r in rl):
        raise InputError(f"expected a Recorder or a list of Recorders, got {type(recs).__name__}")
    if not rl:
        raise InputError("no recorders given")
    n, c = rl[0].n, rl[0].n_classes
    for i, r in enumerate(rl):
        if (r.n, r.n_classes) != (n, c):
            raise InputError(f"recorder {i} has n={r.n}, n_classes={r.n_classes}; recorder 0 has "
                             f"n={n}, n_classes={c}")
        if r.n_epochs == 0:
            raise InputError(f"recorder {i} has recorded nothing")
    return rl


def _nanmean_rows(a: np.ndarray) -> np.ndarray:
    """Mean over axis 0 ignoring NaN; NaN where a column has no value (no warning)."""
    ok = ~np.isnan(a)
    cnt = ok.sum(axis=0)
    tot = np.where(ok, a, 0.0).sum(axis=0, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)


def el2n(recs: Recorder | Sequence[Recorder], epoch: int) -> np.ndarray:
    """EL2N ``||p − e_y||₂`` at the 0-based ``epoch`` (the value of the example's last presentation
    in that epoch), averaged over runs. Difficulty. (N,) float64; NaN if no run saw the example
    in that epoch."""
    rl = _recorders(recs)
    if not is_int(epoch) or epoch < 0:
        raise ConfigError(f"epoch must be a non-negative integer, got {epoch!r}")
    for i, r in enumerate(rl):
        if epoch >= r.n_epochs:
            raise InputError(f"epoch {epoch} was not recorded: recorder {i} has epochs 0..{r.n_epochs - 1}")
    return _nanmean_rows(np.stack([r.el2n[epoch].astype(np.float64) for r in rl]))


def forgetting(recs: Recorder | Sequence[Recorder]) -> tuple[np.ndarray, int]:
    """Forgetting events (Toneva et al.): the number of 1 → 0 correctness transitions between
    consecutive presentations, summed over runs. Difficulty.

    Never-learned examples (presented but never correct in a run) score ``P + 1`` for that run,
    where P is the run's largest number of presentations of any example (= the number of epochs
    when every example is presented once per epoch): harder than any learned example, even under
    sampling with replacement, since a learned example with p presentations has at most p/2 events.

    Returns ``(scores (N,) float64, n_never_learned)``: ``n_never_learned`` counts the examples that
    were never learned in at least one run. Examples never presented in a run are left out of that
    run (see the module docstring); never presented at all → NaN.
    """
    rl = _recorders(recs)
    per_run = np.full((len(rl), rl[0].n), np.nan)
    never_any = np.zeros(rl[0].n, bool)
    for i, r in enumerate(rl):
        presented = r.n_presentations > 0
        never = presented & ~r.ever_correct
        s = r.forgetting_events.astype(np.float64)
        s[never] = float(r.n_presentations.max()) + 1.0
        s[~presented] = np.nan
        per_run[i] = s
        never_any |= never
    return _nanmean_rows(per_run) * len(rl), int(never_any.sum())


AUM_VARIANTS = ("logit", "prob")
VARIANT = Param("variant", "choice", choices=AUM_VARIANTS, default="logit",
                help="aum: margin of the logits (Pleiss et al.) or of the probabilities (CCS)")
WINDOW = Param("window", int, low=2, default=10, help="dynamic_uncertainty: epochs per sliding window")


def aum(recs: Recorder | Sequence[Recorder], variant: str = "logit") -> np.ndarray:
    """Negated area under the margin: ``−mean_t M_t`` over the recorded epochs in which the example
    was seen, averaged over runs. Difficulty (low AUM = hard or mislabeled ⇒ high score).

    ``variant="logit"``: ``M_t = z_y − max_{k≠y} z_k`` (Pleiss et al.). ``variant="prob"``:
    ``M_t = p_y − max_{k≠y} p_k``, the margin CCS accumulates as ``Σ_t M_t``; we return the *mean*
    (the sum divided by the number of epochs — the same ranking when every example is seen every
    epoch, and comparable across runs of different lengths), negated.
    """
    rl = _recorders(recs)
    VARIANT.check(variant)
    per_run = [_nanmean_rows(r.logit_margin if variant == "logit" else r.prob_margin) for r in rl]
    return -_nanmean_rows(np.stack(per_run))


def dynamic_uncertainty(recs: Recorder | Sequence[Recorder], window: int = 10, *, ddof: int = 1) -> np.ndarray:
    """Dynamic uncertainty (He et al.): with p_e the true-class probability at epoch e,
    ``U_k = std(p_k, …, p_{k+J−1})`` and score = mean over k of U_k (higher = more uncertain =
    harder), averaged over runs. Difficulty.

    Epochs that were not recorded at all are skipped. When a run has fewer recorded epochs than
    ``window`` (J = 10 in the paper), its single window spans all of them. An example missing from
    some epochs uses the values it has inside each window (a window needs ``ddof + 1`` values).
    ``ddof=1`` (sample std, as ``torch.std``) is our default; the ranking does not depend on it when
    every example is seen every epoch.

    It ranks *fluctuating* examples hardest: an example the model consistently gets wrong (e.g. an
    unlearnable flipped label) has a stable p_y ≈ 0 and a low score — use AUM, EL2N or forgetting
    to find mislabeled examples.
    """
    rl = _recorders(recs)
    window = WINDOW.check(window)
    if not is_int(ddof) or ddof < 0:
        raise ConfigError(f"ddof must be a non-negative integer, got {ddof!r}")
    per_run = []
    for i, r in enumerate(rl):
        p = r.p_true.astype(np.float64)
        p = p[~np.isnan(p).all(axis=1)]
        if p.shape[0] < 2:
            raise InputError(f"dynamic uncertainty needs at least 2 recorded epochs; recorder {i} has {p.shape[0]}")
        per_run.append(_window_std_mean(p, min(int(window), p.shape[0]), int(ddof)))
    return _nanmean_rows(np.stack(per_run))


def _window_std_mean(p: np.ndarray, j: int, ddof: int) -> np.ndarray:
    """Mean over sliding windows of j rows of the NaN-aware std of each column of p (E, N);
    O(E·N) memory via cumulative sums (centred first, so the sums of squares do not cancel)."""
    ok = ~np.isnan(p)
    mu = _nanmean_rows(p)
    x = np.where(ok, p - np.nan_to_num(mu), 0.0)
    zero = np.zeros((1, p.shape[1]))
    c0 = np.concatenate([zero, np.cumsum(ok, axis=0, dtype=np.float64)])
    c1 = np.concatenate([zero, np.cumsum(x, axis=0)])
    c2 = np.concatenate([zero, np.cumsum(x * x, axis=0)])
    cnt = c0[j:] - c0[:-j]
    s1 = c1[j:] - c1[:-j]
    s2 = c2[j:] - c2[:-j]
    valid = cnt > ddof
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.maximum(s2 - s1 * s1 / np.maximum(cnt, 1), 0.0) / np.maximum(cnt - ddof, 1)
    u = np.where(valid, np.sqrt(var), np.nan)
    return _nanmean_rows(u)
