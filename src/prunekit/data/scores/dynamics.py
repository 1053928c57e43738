"""Training-dynamics scores that work from any training loop: EL2N, forgetting, AUM, dynamic
uncertainty (from a per-example ``Recorder``) and GraNd (from a model).

Every function returns a **difficulty** (higher = harder; ALGORITHMS.md Part 1):

===========================  ==================================================================
function                     score (per example, float64 (N,))
===========================  ==================================================================
``el2n(recs, epoch)``        ``||p − e_y||₂`` at one recorded epoch, mean over runs (§1.1)
``forgetting(recs)``         1 → 0 correctness transitions between consecutive presentations,
                             summed over runs; never-learned examples score ``P + 1`` (§1.3)
``aum(recs, variant)``       ``−mean_t M_t``; ``M_t = z_y − max_{k≠y} z_k`` ("logit", Pleiss et
                             al.) or ``p_y − max_{k≠y} p_k`` ("prob", CCS's margin) (§1.4)
``dynamic_uncertainty``      mean over windows of the std of the true-class probability (§1.5)
``grand(model, X, y)``       ``||∇_w ℓ(f_w(x), y)||₂`` over all trainable parameters (§1.2);
                             exact, batched: per-layer factored norms or torch.func ``vmap(grad)``
``grand_last_layer``         the same restricted to the last linear layer — a different score
===========================  ==================================================================

Recording
---------
Call ``Recorder.record(indices, logits, labels, epoch)`` once per training batch, with the logits of
the training forward pass (before the optimiser step, as in Toneva et al. and Pleiss et al.) and the
dataset row numbers of the batch. The recorder detaches, computes five small per-example vectors on
the logits' device, copies only those to the CPU and writes them into preallocated arrays:

- per epoch, arrays of shape (E, N) (E grows as epochs appear; NaN where an example was not seen in
  that epoch; an example presented twice in one epoch keeps its last value): EL2N, true-class
  probability ``p_y``, logit margin, probability margin and correctness (``argmax z == y``);
- in presentation order (for forgetting): the previous correctness, the number of forgetting events,
  whether the example was ever correct and its number of presentations.

Several seeded runs are several recorders; every score function takes one ``Recorder`` or a list of
them and averages (forgetting: sums) over runs.

Missing data
------------
An example with no recorded value in any run scores NaN (these are pure functions; the scorer that
wraps them decides what to do). An example seen in only some runs is averaged over the runs that saw
it (forgetting: the mean over those runs times the number of runs, which equals the sum when every
run saw it).
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from prunekit.errors import ConfigError, InputError, MissingDependencyError

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

# Per-epoch float quantities, in the row order of the (5, B) block a batch produces.
_FIELDS = ("el2n", "p_true", "logit_margin", "prob_margin")
_STATE_VERSION = 1


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            "torch is needed for this; install it with: pip install 'prunekit[torch]'"
        ) from exc
    return torch


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _to_numpy_1d(name: str, a: Any) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor on any device
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.ndim != 1:
        raise InputError(f"{name} must be a 1-D array, got shape {a.shape}")
    return a


def _as_int_vector(name: str, a: Any, n: int, upper: int, what: str) -> np.ndarray:
    a = _to_numpy_1d(name, a)
    if a.dtype.kind not in "iu":
        if a.dtype.kind == "f" and a.size and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
            a = a.astype(np.int64)
        elif a.size:
            raise InputError(f"{name} must be integers, got dtype {a.dtype}")
        else:
            a = a.astype(np.int64)
    if len(a) != n:
        raise InputError(f"{name} has {len(a)} entries but the batch has {n} rows of logits")
    if a.size:
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi >= upper:
            bad = int(a[(a < 0) | (a >= upper)][0])
            raise InputError(f"{name} must lie in [0, {upper}) ({what}); got {bad}")
    return a.astype(np.int64, copy=False)


class Recorder:
    """Per-example training-dynamics recorder for N examples and C classes (call ``record`` from any
    training loop; see the module docstring).

    Per-epoch arrays, shape (E, N) with E = 1 + the largest epoch recorded: ``el2n``, ``p_true``,
    ``logit_margin``, ``prob_margin`` (float32, NaN = not seen that epoch) and ``correct`` (int8,
    1 / 0, −1 = not seen). Presentation-order state, shape (N,): ``forgetting_events`` (int32),
    ``ever_correct`` (bool), ``n_presentations`` (int32), ``last_correct`` (int8, −1 = never seen).

    Memory: 17 bytes per example per epoch (1M examples × 20 epochs ≈ 340 MB), plus 10 per example.
    """

    def __init__(self, n: int, n_classes: int) -> None:
        if not _is_int(n) or n < 1:
            raise ConfigError(f"n (the number of examples) must be a positive integer, got {n!r}")
        if not _is_int(n_classes) or n_classes < 2:
            raise ConfigError(f"n_classes must be an integer >= 2, got {n_classes!r}")
        self.n = int(n)
        self.n_classes = int(n_classes)
        self._n_epochs = 0
        self._cap = 0
        self._epoch_arrays: dict[str, np.ndarray] = {f: np.empty((0, self.n), np.float32) for f in _FIELDS}
        self._correct = np.empty((0, self.n), np.int8)
        self.forgetting_events = np.zeros(self.n, np.int32)
        self.ever_correct = np.zeros(self.n, bool)
        self.n_presentations = np.zeros(self.n, np.int32)
        self.last_correct = np.full(self.n, -1, np.int8)
        self._last_epoch: int | None = None

    # ------------------------------------------------------------------ recording

    def record(self, indices: Any, logits: Any, labels: Any, epoch: int) -> None:
        """Record one batch: ``indices`` (B,) dataset row numbers, ``logits`` (B, C), ``labels``
        (B,) integer classes, ``epoch`` ≥ 0 (0-based). Tensors may live on any device; NumPy
        arrays work too. Raises ``InputError`` on out-of-range rows/labels or mismatched shapes."""
        torch = _torch()
        if not _is_int(epoch) or epoch < 0:
            raise InputError(f"epoch must be a non-negative integer, got {epoch!r}")
        epoch = int(epoch)
        if isinstance(logits, np.ndarray) or not hasattr(logits, "detach"):
            z = torch.as_tensor(np.asarray(logits))
        else:
            z = logits.detach()
        if z.ndim != 2:
            raise InputError(f"logits must be a 2-D array (B, C), got shape {tuple(z.shape)}")
        b, c = int(z.shape[0]), int(z.shape[1])
        if c != self.n_classes:
            raise InputError(f"logits have {c} columns but the recorder was built for {self.n_classes} classes")
        idx = _as_int_vector("indices", indices, b, self.n, f"row numbers of the {self.n} examples")
        lab = _as_int_vector("labels", labels, b, self.n_classes, f"{self.n_classes} classes")
        if b == 0:
            return
        stats = _batch_stats(z.float().cpu().numpy(), lab)
        if not np.isfinite(stats).all():
            bad = int(np.flatnonzero(~np.isfinite(stats).all(axis=0))[0])
            raise InputError(f"logits contain NaN or inf (batch row {bad}, example {int(idx[bad])})")
        self._ensure_epoch(epoch)
        correct = stats[4].astype(np.int8)
        for sel in _unique_rounds(idx):
            rows = idx if sel is None else idx[sel]
            a = correct if sel is None else correct[sel]
            for i, f in enumerate(_FIELDS):
                self._epoch_arrays[f][epoch, rows] = stats[i] if sel is None else stats[i][sel]
            self._correct[epoch, rows] = a
            # Forgetting: a 1 -> 0 transition between this presentation and the previous one.
            self.forgetting_events[rows] += (self.last_correct[rows] == 1) & (a == 0)
            self.last_correct[rows] = a
            self.ever_correct[rows] |= a.astype(bool)
            self.n_presentations[rows] += 1
        self._last_epoch = epoch

    def _ensure_epoch(self, epoch: int) -> None:
        if epoch >= self._cap:
            cap = max(epoch + 1, 2 * self._cap, 4)
            for f in _FIELDS:
                old = self._epoch_arrays[f]
                new = np.full((cap, self.n), np.nan, np.float32)
                new[: old.shape[0]] = old
                self._epoch_arrays[f] = new
            old = self._correct
            new = np.full((cap, self.n), -1, np.int8)
            new[: old.shape[0]] = old
            self._correct = new
            self._cap = cap
        self._n_epochs = max(self._n_epochs, epoch + 1)

    # ------------------------------------------------------------------ views

    @property
    def n_epochs(self) -> int:
        """E: one more than the largest epoch recorded (epochs never recorded are all-NaN rows)."""
        return self._n_epochs

    @property
    def el2n(self) -> np.ndarray:
        return self._epoch_arrays["el2n"][: self._n_epochs]

    @property
    def p_true(self) -> np.ndarray:
        return self._epoch_arrays["p_true"][: self._n_epochs]

    @property
    def logit_margin(self) -> np.ndarray:
        return self._epoch_arrays["logit_margin"][: self._n_epochs]

    @property
    def prob_margin(self) -> np.ndarray:
        return self._epoch_arrays["prob_margin"][: self._n_epochs]

    @property
    def correct(self) -> np.ndarray:
        return self._correct[: self._n_epochs]

    @property
    def seen(self) -> np.ndarray:
        """(E, N) bool: whether each example was presented in each epoch."""
        return self.correct >= 0

    def __repr__(self) -> str:
        return (f"Recorder(n={self.n}, n_classes={self.n_classes}, epochs={self.n_epochs}, "
                f"presentations={int(self.n_presentations.sum())})")

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        """Plain NumPy arrays and ints (``np.savez`` / ``torch.save`` / pickle all work)."""
        e = self._n_epochs
        state: dict[str, Any] = {
            "version": _STATE_VERSION, "n": self.n, "n_classes": self.n_classes, "n_epochs": e,
            "correct": self._correct[:e].copy(),
            "forgetting_events": self.forgetting_events.copy(),
            "ever_correct": self.ever_correct.copy(),
            "n_presentations": self.n_presentations.copy(),
            "last_correct": self.last_correct.copy(),
        }
        for f in _FIELDS:
            state[f] = self._epoch_arrays[f][:e].copy()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict()``; the recorder's N and C must match."""
        missing = [k for k in ("version", "n", "n_classes", "n_epochs", "correct", *_FIELDS,
                               "forgetting_events", "ever_correct", "n_presentations", "last_correct")
                   if k not in state]
        if missing:
            raise InputError(f"not a Recorder state: missing {', '.join(missing)}")
        if int(state["version"]) != _STATE_VERSION:
            raise InputError(f"unsupported Recorder state version {state['version']!r}")
        n, c, e = int(state["n"]), int(state["n_classes"]), int(state["n_epochs"])
        if (n, c) != (self.n, self.n_classes):
            raise InputError(f"state is for n={n}, n_classes={c}; this recorder has n={self.n}, "
                             f"n_classes={self.n_classes}")
        for k in (*_FIELDS, "correct"):
            if np.shape(state[k]) != (e, n):
                raise InputError(f"state[{k!r}] has shape {np.shape(state[k])}, expected {(e, n)}")
        for k in ("forgetting_events", "ever_correct", "n_presentations", "last_correct"):
            if np.shape(state[k]) != (n,):
                raise InputError(f"state[{k!r}] has shape {np.shape(state[k])}, expected {(n,)}")
        self._cap = self._n_epochs = e
        for f in _FIELDS:
            self._epoch_arrays[f] = np.array(state[f], np.float32)
        self._correct = np.array(state["correct"], np.int8)
        self.forgetting_events = np.array(state["forgetting_events"], np.int32)
        self.ever_correct = np.array(state["ever_correct"], bool)
        self.n_presentations = np.array(state["n_presentations"], np.int32)
        self.last_correct = np.array(state["last_correct"], np.int8)


def _batch_stats(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(5, B) float32: EL2N, p_y, logit margin, prob margin, correct (0/1), from (B, C) logits.

    NumPy on the CPU: for a batch of a few hundred rows a NumPy call costs ~1 µs against ~10 µs for
    a torch op (and torch.softmax even splits a 128 × 10 batch across threads), so moving the
    small logits matrix once and computing here keeps recording to a fraction of a step."""
    z = np.asarray(z, dtype=np.float32)
    r = np.arange(len(z))
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    zy = z[r, y]
    zo = z.copy()
    zo[r, y] = -np.inf
    py = p[r, y]
    q = p.copy()
    q[r, y] = 0.0  # the other classes' probabilities (p_y zeroed)
    # ||p - e_y||² = Σ_{k≠y} p_k² + (1 - p_y)², with 1 - p_y = Σ_{k≠y} p_k: no cancellation when
    # p_y is close to 1 (the easy examples would otherwise all score ~1e-4 noise in float32).
    qs = q.sum(axis=1)
    el2n = np.sqrt(np.einsum("ij,ij->i", q, q) + qs * qs)
    correct = z.argmax(axis=1) == y
    return np.stack([el2n, py, zy - zo.max(axis=1), py - q.max(axis=1), correct.astype(np.float32)])


def _unique_rounds(idx: np.ndarray) -> Iterable[np.ndarray | None]:
    """Split a batch into rounds in which every row number occurs once, in batch order (so an
    example presented twice in one batch is processed in order: last value wins, and forgetting
    sees both presentations). ``None`` = the whole batch (no repeats, the usual case)."""
    if len(idx) < 2:
        yield None
        return
    order = np.argsort(idx, kind="stable")
    s = idx[order]
    new_run = np.ones(len(s), bool)
    new_run[1:] = s[1:] != s[:-1]
    if new_run.all():
        yield None
        return
    pos = np.arange(len(s))
    run_start = np.maximum.accumulate(np.where(new_run, pos, 0))
    rank = np.empty(len(s), np.int64)
    rank[order] = pos - run_start
    for r in range(int(rank.max()) + 1):
        yield np.flatnonzero(rank == r)


# ---------------------------------------------------------------------------- score functions


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
    if not _is_int(epoch) or epoch < 0:
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


def aum(recs: Recorder | Sequence[Recorder], variant: str = "logit") -> np.ndarray:
    """Negated area under the margin: ``−mean_t M_t`` over the recorded epochs in which the example
    was seen, averaged over runs. Difficulty (low AUM = hard or mislabeled ⇒ high score).

    ``variant="logit"``: ``M_t = z_y − max_{k≠y} z_k`` (Pleiss et al.). ``variant="prob"``:
    ``M_t = p_y − max_{k≠y} p_k``, the margin CCS accumulates as ``Σ_t M_t``; we return the *mean*
    (the sum divided by the number of epochs — the same ranking when every example is seen every
    epoch, and comparable across runs of different lengths), negated.
    """
    rl = _recorders(recs)
    if variant not in AUM_VARIANTS:
        raise ConfigError(f"unknown AUM variant {variant!r}; valid variants: {', '.join(AUM_VARIANTS)}")
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
    if not _is_int(window) or window < 2:
        raise ConfigError(f"window must be an integer >= 2, got {window!r}")
    if not _is_int(ddof) or ddof < 0:
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


# ---------------------------------------------------------------------------- GraNd


def _check_model(model) -> None:
    torch = _torch()
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(f"model must be a torch.nn.Module, got {type(model).__name__}")


def _model_device(model):
    torch = _torch()
    for t in model.parameters():
        return t.device
    return torch.device("cpu")


def _inputs(model, X, y):
    """X as a float tensor and y as int64 on the model's device, validated."""
    torch = _torch()
    dev = _model_device(model)
    Xt = X.detach() if hasattr(X, "detach") else torch.from_numpy(np.array(X))
    if Xt.ndim < 2:
        raise InputError(f"X must have a batch dimension (N, ...), got shape {tuple(Xt.shape)}")
    n = int(Xt.shape[0])
    if n == 0:
        raise InputError("no examples: X has 0 rows")
    if not Xt.is_floating_point():
        Xt = Xt.float()
    yn = _to_numpy_1d("y", y)
    if len(yn) != n:
        raise InputError(f"y has {len(yn)} entries but X has {n} rows")
    if yn.dtype.kind not in "iu":
        raise InputError(f"y must be integer class labels, got dtype {yn.dtype}")
    if yn.min() < 0:
        raise InputError(f"labels must be >= 0, got {int(yn.min())}")
    return Xt.to(dev), torch.as_tensor(yn.astype(np.int64)).to(dev), n


def _check_classes(logits_c: int, y) -> None:
    hi = int(y.max())
    if hi >= logits_c:
        raise InputError(f"labels must lie in [0, {logits_c}) (the model has {logits_c} outputs); got {hi}")


class _eval_mode:
    """Put a model in eval mode (BatchNorm running statistics, no dropout) and restore its mode."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.was_training = self.model.training
        self.model.eval()
        return self.model

    def __exit__(self, *exc):
        self.model.train(self.was_training)
        return False


GRAND_METHODS = ("auto", "factored", "vmap")


def grand(model, X, y, *, batch_size: int = 256, method: str = "auto") -> np.ndarray:
    """GraNd: per-example ``||∇_w CE(f_w(x), y)||₂`` over **all** trainable parameters of ``model``
    (those with ``requires_grad``), in eval mode. Difficulty. (N,) float64.

    ``X`` is what the model's ``forward`` takes, with a leading batch dimension; ``y`` integer
    labels in [0, C); ``batch_size`` examples at a time, never a Python loop over examples. The
    paper averages over several seeds at or near initialisation: call this once per model and
    average. Two exact methods:

    - ``"vmap"``: per-example gradients from ``torch.func`` — ``vmap(grad(loss))`` over
      ``functional_call`` — squared and summed. Works for any model torch.func can trace, but
      materialises every per-example gradient (memory ≈ batch_size × n_parameters × 4 bytes). On a
      CPU this is no faster than a per-example autograd loop for small MLPs/CNNs (see
      ``benchmarks/bench_grand.py``): the per-example weight gradients of a linear layer are outer
      products, written out in full.
    - ``"factored"``: one batched forward and one backward to the layer *outputs* only; each layer's
      per-example squared gradient norm is computed from its input and output gradient without
      forming the gradient where that is cheaper — for a linear layer on (B, d) inputs
      ``||g a^T||² = ||g||²·||a||²`` (Goodfellow 2015); convolutions unfold their input; sequences
      pick the cheaper of materialising or Gram matrices. Supported layers: ``Linear``, ``Conv2d``
      (any padding mode, groups), ``BatchNorm*`` with running statistics, ``LayerNorm``. It needs
      every trainable parameter to sit in one of these, each such layer to be called exactly once
      per forward (no weight sharing), and the examples of a batch not to interact in eval mode.
    - ``"auto"`` (default): ``"factored"`` when the model qualifies and its first examples agree
      with ``grand_reference`` (rtol 1e-3; checked on up to 4 examples, else a warning), otherwise
      ``"vmap"``.
    """
    _check_model(model)
    if not _is_int(batch_size) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    if method not in GRAND_METHODS:
        raise ConfigError(f"unknown GraNd method {method!r}; valid methods: {', '.join(GRAND_METHODS)}")
    Xt, yt, n = _inputs(model, X, y)
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError("the model has no trainable parameters (requires_grad is False everywhere)")
    torch = _torch()
    with _eval_mode(model):
        with torch.no_grad():
            _check_classes(int(model(Xt[:1]).shape[-1]), yt)
        if method in ("auto", "factored"):
            why = _factored_unsupported(model)
            if why is None:
                out = _grand_factored(model, Xt, yt, batch_size)
                if isinstance(out, str):
                    why = out
                elif method == "factored":
                    return out
                else:
                    k = min(n, 4)
                    ref = _grand_loop(model, Xt[:k], yt[:k])
                    if np.allclose(out[:k], ref, rtol=1e-3, atol=1e-12):
                        return out
                    import warnings

                    why = "its factored per-layer norms disagree with autograd on the first examples"
                    warnings.warn(f"grand: {why}; using vmap", RuntimeWarning, stacklevel=2)
            if method == "factored":
                raise ConfigError(f"grand(method='factored') cannot handle this model: {why}")
        return _grand_vmap(model, Xt, yt, batch_size)


def _grand_vmap(model, Xt, yt, batch_size: int) -> np.ndarray:
    torch = _torch()
    from torch.func import functional_call, grad, vmap

    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def loss(p, x, t):
        out = functional_call(model, (p, buffers), (x.unsqueeze(0),))
        return torch.nn.functional.cross_entropy(out, t.unsqueeze(0))

    per_example = vmap(grad(loss), in_dims=(None, 0, 0))
    n = int(Xt.shape[0])
    out = np.empty(n, np.float64)
    for s in range(0, n, batch_size):
        g = per_example(params, Xt[s:s + batch_size], yt[s:s + batch_size])
        sq = sum(v.reshape(v.shape[0], -1).pow(2).sum(dim=1).double() for v in g.values())
        out[s:s + batch_size] = sq.sqrt().cpu().numpy()
    return out


def _factored_unsupported(model) -> str | None:
    """Why the factored method cannot handle ``model`` (None if it can)."""
    torch = _torch()
    nn = torch.nn
    from torch.nn.modules.batchnorm import _BatchNorm

    ids = [id(p) for _, p in model.named_parameters(remove_duplicate=False)]
    if len(ids) != len(set(ids)):
        return "some parameters are shared between layers"
    for name, mod in model.named_modules():
        own = {k for k, p in mod.named_parameters(recurse=False) if p.requires_grad}
        if not own:
            continue
        label = f"layer {name or '(root)'} ({type(mod).__name__})"
        if not own <= {"weight", "bias"} or not isinstance(mod, (nn.Linear, nn.Conv2d, _BatchNorm, nn.LayerNorm)):
            return f"{label} has parameters the factored method does not know"
        if isinstance(mod, nn.Conv2d) and isinstance(mod.padding, str) and \
                not hasattr(mod, "_reversed_padding_repeated_twice"):
            return f"{label} uses padding={mod.padding!r}"  # pragma: no cover - very old torch
        if isinstance(mod, _BatchNorm) and (mod.running_mean is None or mod.running_var is None):
            return f"{label} has no running statistics (it normalises with batch statistics)"
    return None


def _grand_factored(model, Xt, yt, batch_size: int) -> np.ndarray | str:
    """Per-example gradient norms from layer inputs and output gradients (see ``grand``); a string
    (the reason) if a layer is not called exactly once per forward."""
    torch = _torch()
    layers = [m for m in model.modules()
              if any(p.requires_grad for p in m.parameters(recurse=False))]
    n = int(Xt.shape[0])
    out = np.empty(n, np.float64)
    for s in range(0, n, batch_size):
        seen: list = []

        def hook(mod, inputs, output):
            seen.append((mod, inputs[0].detach().clone(), output))
            # Downstream layers get a copy, so an in-place op after this layer (ReLU(inplace=True),
            # `out += identity`) cannot change the tensor whose gradient we ask for.
            return output.clone()

        handles = [m.register_forward_hook(hook) for m in layers]
        try:
            with torch.enable_grad():
                logits = model(Xt[s:s + batch_size])
        finally:
            for h in handles:
                h.remove()
        calls = [id(m) for m, _, _ in seen]
        if sorted(calls) != sorted(id(m) for m in layers):
            bad = next(m for m in layers if calls.count(id(m)) != 1)
            return f"layer {type(bad).__name__} is called {calls.count(id(bad))} times per forward"
        # Sum reduction: the gradient of the batch loss at example i's rows is example i's own.
        with torch.enable_grad():
            loss = torch.nn.functional.cross_entropy(logits, yt[s:s + batch_size], reduction="sum")
            grads = torch.autograd.grad(loss, [o for _, _, o in seen], allow_unused=True)
        sq = torch.zeros(logits.shape[0], dtype=torch.float64, device=logits.device)
        for (mod, a, o), g in zip(seen, grads):
            if g is None:  # the layer does not reach the loss: zero gradient
                continue
            sq += _layer_sq_norms(torch, mod, a, g.detach())
        out[s:s + batch_size] = sq.sqrt().cpu().numpy()
    return out


def _layer_sq_norms(torch, mod, a, g):
    """(B,) float64: squared norm of example i's gradient for ``mod``'s trainable parameters, from
    the layer input ``a`` and the gradient ``g`` at its output."""
    nn, F = torch.nn, torch.nn.functional
    from torch.nn.modules.batchnorm import _BatchNorm

    b = a.shape[0]
    w_on = mod.weight is not None and mod.weight.requires_grad
    b_on = getattr(mod, "bias", None) is not None and mod.bias.requires_grad
    zero = torch.zeros(b, dtype=torch.float64, device=g.device)
    if isinstance(mod, nn.Linear):
        if a.ndim == 2:  # rank one: ||g a^T||² = ||g||² ||a||²
            g2 = (g * g).sum(dim=1).double()
            return (g2 * (a * a).sum(dim=1).double() if w_on else zero) + (g2 if b_on else zero)
        a3 = a.reshape(b, -1, a.shape[-1])
        g3 = g.reshape(b, -1, g.shape[-1])
        w = _outer_sum_sq(torch, g3.transpose(1, 2), a3.transpose(1, 2)) if w_on else zero
        bias = (g3.sum(dim=1) ** 2).sum(dim=1).double() if b_on else zero
        return w + bias
    if isinstance(mod, nn.Conv2d):
        if isinstance(mod.padding, str) or mod.padding_mode != "zeros":
            mode = "constant" if mod.padding_mode == "zeros" else mod.padding_mode
            a = F.pad(a, mod._reversed_padding_repeated_twice, mode=mode)
            pad = 0
        else:
            pad = mod.padding
        gr = mod.groups
        A = F.unfold(a, mod.kernel_size, dilation=mod.dilation, padding=pad, stride=mod.stride)
        L = A.shape[-1]
        G = g.reshape(b, g.shape[1], -1)
        w = zero
        if w_on:
            # per group: W_i = G_i A_i^T (Cout/g × Cin/g·k²); the groups are independent blocks
            Ag = A.reshape(b * gr, -1, L)
            Gg = G.reshape(b * gr, -1, L)
            w = _outer_sum_sq(torch, Gg, Ag).reshape(b, gr).sum(dim=1)
        bias = (G.sum(dim=2) ** 2).sum(dim=1).double() if b_on else zero
        return w + bias
    if isinstance(mod, _BatchNorm):
        shape = (1, -1) + (1,) * (a.ndim - 2)
        xhat = (a - mod.running_mean.reshape(shape)) / torch.sqrt(mod.running_var.reshape(shape) + mod.eps)

        def per_channel(t):  # (B, C): summed over positions (sum(dim=[]) would sum everything)
            return t.reshape(b, t.shape[1], -1).sum(dim=2)

        w = (per_channel(g * xhat) ** 2).sum(dim=1).double() if w_on else zero
        bias = (per_channel(g) ** 2).sum(dim=1).double() if b_on else zero
        return w + bias
    if isinstance(mod, nn.LayerNorm):
        k = len(mod.normalized_shape)
        nd = tuple(range(a.ndim - k, a.ndim))
        mu = a.mean(dim=nd, keepdim=True)
        var = a.var(dim=nd, unbiased=False, keepdim=True)
        xhat = (a - mu) / torch.sqrt(var + mod.eps)
        lead = tuple(range(1, a.ndim - k))

        def red(t):  # summed over positions, then squared norm per example
            t = t.sum(dim=lead) if lead else t
            return (t.reshape(b, -1) ** 2).sum(dim=1).double()

        return (red(g * xhat) if w_on else zero) + (red(g) if b_on else zero)
    raise AssertionError(f"unsupported layer {type(mod).__name__}")  # pragma: no cover


def _outer_sum_sq(torch, G, A):
    """(B,) float64 ``||G_i A_i^T||²_F`` for G (B, m, L), A (B, k, L): materialise the (m × k)
    products or use Gram matrices (``Σ (G_i^T G_i) ⊙ (A_i^T A_i)``), whichever costs less."""
    m, k, L = G.shape[1], A.shape[1], G.shape[2]
    if m * k <= L * (m + k):  # cost m·k·L against L²·(m + k)
        W = torch.bmm(G, A.transpose(1, 2))
        return (W * W).sum(dim=(1, 2)).double()
    gg = torch.bmm(G.transpose(1, 2), G)
    aa = torch.bmm(A.transpose(1, 2), A)
    return (gg * aa).sum(dim=(1, 2)).double()


def grand_reference(model, X, y) -> np.ndarray:
    """GraNd by a plain per-example autograd loop (slow; ``grand`` must match it)."""
    torch = _torch()
    _check_model(model)
    Xt, yt, n = _inputs(model, X, y)
    with _eval_mode(model):
        with torch.no_grad():
            _check_classes(int(model(Xt[:1]).shape[-1]), yt)
        return _grand_loop(model, Xt, yt)


def _grand_loop(model, Xt, yt) -> np.ndarray:
    torch = _torch()
    params = [v for v in model.parameters() if v.requires_grad]
    out = np.empty(int(Xt.shape[0]), np.float64)
    for i in range(len(out)):
        with torch.enable_grad():
            loss = torch.nn.functional.cross_entropy(model(Xt[i:i + 1]), yt[i:i + 1])
            gs = torch.autograd.grad(loss, params, allow_unused=True)
        out[i] = float(torch.sqrt(sum(g.double().pow(2).sum() for g in gs if g is not None)))
    return out


def grand_last_layer(model_or_features, X_or_outputs, y, *, probs: bool = False, bias: bool = True,
                     batch_size: int = 4096) -> np.ndarray:
    """GraNd restricted to the last linear layer — **a different, cheaper score than** ``grand``.
    Difficulty. (N,) float64.

    With penultimate features h and g = p − e_y, the cross-entropy gradient with respect to the last
    layer is ``[g (bias), g ⊗ h (weights)]``, so its norm is ``||g|| · sqrt(1 + ||h||²)``
    (``||g|| · ||h||`` without a bias).

    Two call forms:

    - ``grand_last_layer(model, X, y)``: the model must expose ``model.features(x)`` (penultimate
      activations, (B, H)) and ``model.head`` (the final ``nn.Linear``, so that
      ``model(x) == model.head(model.features(x))``); ``ConfigError`` otherwise. Runs in eval mode,
      ``batch_size`` rows at a time; ``bias`` is read from the head.
    - ``grand_last_layer(features, logits, y)`` with arrays ``features`` (N, H) and ``logits`` (N, C)
      — or probabilities with ``probs=True``; ``bias`` says whether the layer had one.
    """
    torch = _torch()
    if isinstance(model_or_features, torch.nn.Module):
        model = model_or_features
        feats = getattr(model, "features", None)
        head = getattr(model, "head", None)
        if not callable(feats) or not isinstance(head, torch.nn.Linear):
            raise ConfigError(
                "grand_last_layer(model, X, y) needs a model with a features(x) method (penultimate "
                "activations) and a head attribute that is the final nn.Linear; "
                f"{type(model).__name__} has "
                f"{'no features method' if not callable(feats) else 'no nn.Linear head'}"
            )
        if not _is_int(batch_size) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        Xt, yt, n = _inputs(model, X_or_outputs, y)
        _check_classes(head.out_features, yt)
        out = np.empty(n, np.float64)
        with _eval_mode(model), torch.no_grad():
            for s in range(0, n, batch_size):
                h = feats(Xt[s:s + batch_size])
                h = h.reshape(h.shape[0], -1)
                z = head(h)
                out[s:s + batch_size] = _last_layer_norm(torch, h, z, yt[s:s + batch_size], False,
                                                         head.bias is not None)
        return out
    H = np.asarray(model_or_features.detach().cpu() if hasattr(model_or_features, "detach") else model_or_features)
    Z = np.asarray(X_or_outputs.detach().cpu() if hasattr(X_or_outputs, "detach") else X_or_outputs)
    if H.ndim != 2 or Z.ndim != 2:
        raise InputError(f"features must be (N, H) and logits (N, C); got shapes {H.shape} and {Z.shape}")
    if len(H) != len(Z):
        raise InputError(f"features have {len(H)} rows but logits have {len(Z)}")
    if len(H) == 0:
        raise InputError("no examples: features have 0 rows")
    yn = _as_int_vector("y", y, len(Z), Z.shape[1], f"{Z.shape[1]} classes")
    for name, a in (("features", H), ("logits", Z)):
        if a.dtype.kind not in "fiu" or not np.isfinite(a).all():
            raise InputError(f"{name} must be finite numbers")
    if probs and (np.any(Z < 0) or not np.allclose(Z.sum(axis=1), 1.0, atol=1e-4)):
        raise InputError("probs=True but the rows are not probability vectors (non-negative, sum 1)")
    return _last_layer_norm(torch, torch.as_tensor(H, dtype=torch.float64), torch.as_tensor(Z, dtype=torch.float64),
                            torch.as_tensor(yn), probs, bias)


def _last_layer_norm(torch, h, z, y, probs: bool, bias: bool) -> np.ndarray:
    h = h.double()
    p = z.double() if probs else torch.softmax(z.double(), dim=1)
    g = p.scatter_add(1, y.reshape(-1, 1), -torch.ones_like(p[:, :1]))
    hn2 = (h * h).sum(dim=1)
    return (g.norm(dim=1) * torch.sqrt(hn2 + (1.0 if bias else 0.0))).cpu().numpy()


# ---------------------------------------------------------------------------- Lightning


_LIGHTNING_PACKAGES = ("lightning.pytorch", "pytorch_lightning")
_CALLBACK_CLASSES: dict[str, type] = {}


def RecorderCallback(recorder: Recorder, *, package: str | None = None):  # noqa: N802 (a class factory)
    """A PyTorch Lightning callback that feeds ``recorder`` from ``on_train_batch_end``.

    Contract: the LightningModule's ``training_step`` returns a dict with ``"loss"`` and also
    ``"logits"`` (B, C), ``"indices"`` (B,) dataset row numbers and ``"labels"`` (B,) — e.g. a
    dataset yielding ``(x, y, index)``. The epoch recorded is ``trainer.current_epoch``. Under
    multi-process (DDP) training each process records its own shard; give each its own recorder.

    Lightning is imported lazily: ``lightning.pytorch`` if installed, else ``pytorch_lightning``
    (or the one named by ``package``, which must be the one your ``Trainer`` comes from). Without
    either, raises ``MissingDependencyError`` (``pip install lightning``).
    """
    import importlib

    if not isinstance(recorder, Recorder):
        raise ConfigError(f"RecorderCallback needs a Recorder, got {type(recorder).__name__}")
    names = _LIGHTNING_PACKAGES if package is None else (package,)
    if package is not None and package not in _LIGHTNING_PACKAGES:
        raise ConfigError(f"package must be one of {', '.join(_LIGHTNING_PACKAGES)}, got {package!r}")
    mod = None
    for name in names:
        try:
            mod = importlib.import_module(name)
            break
        except ImportError:
            continue
    if mod is None:
        raise MissingDependencyError(
            "RecorderCallback needs PyTorch Lightning; install it with: pip install lightning"
        )
    cls = _CALLBACK_CLASSES.get(mod.__name__)
    if cls is None:
        cls = _make_callback_class(mod.Callback)
        _CALLBACK_CLASSES[mod.__name__] = cls
    return cls(recorder)


def _make_callback_class(base: type) -> type:
    class _RecorderCallback(base):  # type: ignore[misc, valid-type]
        """Records logits from ``training_step`` outputs into a ``Recorder`` (see RecorderCallback)."""

        def __init__(self, recorder: Recorder) -> None:
            super().__init__()
            self.recorder = recorder

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if not isinstance(outputs, dict) or not all(k in outputs for k in ("logits", "indices", "labels")):
                got = sorted(outputs) if isinstance(outputs, dict) else type(outputs).__name__
                raise InputError(
                    "RecorderCallback needs training_step to return a dict with 'logits', 'indices' "
                    f"and 'labels' (besides 'loss'); got {got}"
                )
            self.recorder.record(outputs["indices"], outputs["logits"], outputs["labels"],
                                 int(trainer.current_epoch))

        # The recorder travels in Lightning checkpoints, so a resumed run goes on recording. Arrays
        # are stored as tensors: checkpoints load with torch.load(weights_only=True), which
        # refuses NumPy arrays.
        def state_dict(self) -> dict[str, Any]:
            torch = _torch()
            state = self.recorder.state_dict()
            return {"recorder": {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v
                                 for k, v in state.items()}}

        def load_state_dict(self, state_dict: dict[str, Any]) -> None:
            if "recorder" in state_dict:
                state = {k: v.cpu().numpy() if hasattr(v, "numpy") else v
                         for k, v in state_dict["recorder"].items()}
                self.recorder.load_state_dict(state)

    _RecorderCallback.__name__ = _RecorderCallback.__qualname__ = "RecorderCallback"
    return _RecorderCallback
