"""The per-example ``Recorder``, fed from any training loop.

Call ``Recorder.record(indices, logits, labels, epoch)`` once per training batch, with the logits of
the training forward pass (before the optimiser step, as in Toneva et al. and Pleiss et al.) and the
dataset row numbers of the batch. The recorder detaches, computes five small per-example vectors on
the logits' device, copies only those to the CPU and writes them into preallocated arrays:

- per epoch, arrays of shape (E, N) (E grows as epochs appear; NaN where an example was not seen in
  that epoch; an example presented twice in one epoch keeps its last value): EL2N, true-class
  probability ``p_y``, logit margin, probability margin and correctness (``argmax z == y``);
- in presentation order (for forgetting): the previous correctness, the number of forgetting events,
  whether the example was ever correct and its number of presentations.

Several seeded runs are several recorders; the score functions (``functions.py``) take one
``Recorder`` or a list of them. From PyTorch Lightning: ``RecorderCallback`` (``lightning.py``).

Algorithm and parameters: docs/ALGORITHMS.md §1.1–§1.5.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from prunekit.data.scores.dynamics._inputs import as_int_vector, is_int, load_torch
from prunekit.errors import ConfigError, InputError

# Per-epoch float quantities, in the row order of the (5, B) block a batch produces.
_FIELDS = ("el2n", "p_true", "logit_margin", "prob_margin")
_STATE_VERSION = 1


def _epoch_view(field: str) -> property:
    """A read-only (E, N) view of one per-epoch float array of a ``Recorder``."""
    return property(lambda self: self._epoch_arrays[field][: self._n_epochs],
                    doc=f"(E, N) float32 {field} per epoch (NaN = not seen that epoch).")


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
        if not is_int(n) or n < 1:
            raise ConfigError(f"n (the number of examples) must be a positive integer, got {n!r}")
        if not is_int(n_classes) or n_classes < 2:
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
        torch = load_torch()
        if not is_int(epoch) or epoch < 0:
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
        idx = as_int_vector("indices", indices, b, self.n, f"row numbers of the {self.n} examples")
        lab = as_int_vector("labels", labels, b, self.n_classes, f"{self.n_classes} classes")
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

    el2n = _epoch_view("el2n")
    p_true = _epoch_view("p_true")
    logit_margin = _epoch_view("logit_margin")
    prob_margin = _epoch_view("prob_margin")

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
