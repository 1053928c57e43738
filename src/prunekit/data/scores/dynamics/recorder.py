"""The per-example ``Recorder``, fed from any training loop.

Call ``Recorder.record(indices, logits, labels, epoch)`` once per training batch, with the logits of
the training forward pass (before the optimiser step, as in Toneva et al. and Pleiss et al.) and the
dataset row numbers of the batch. The recorder detaches, computes five small per-example vectors on
the logits' device, copies only those to the CPU and writes them into preallocated arrays:

- per epoch, arrays of shape (E, N) (E grows as epochs appear; NaN where an example was not seen in
  that epoch; an example presented twice in one epoch keeps its last value): EL2N, true-class
  probability ``p_y``, logit margin, probability margin and correctness (``argmax z == y``), and the
  correctness at the epoch's first presentation (so records can be merged exactly);
- in presentation order (for forgetting): the previous correctness, the number of forgetting events,
  whether the example was ever correct and its number of presentations.

Several seeded runs are several recorders; the score functions (``functions.py``) take one
``Recorder`` or a list of them. From PyTorch Lightning: ``RecorderCallback`` (``lightning.py``).
Distributed training (one recorder per process, each seeing its shard): ``Recorder.merge``,
``Recorder.all_gather`` and ``Recorder.merge_files`` combine them into the record of one process
(``_merge.py``; docs/TRAINING.md).

Algorithm and parameters: docs/ALGORITHMS.md §1.1–§1.5.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from prunekit.data.scores.dynamics._inputs import as_int_vector, is_int, load_torch
from prunekit.data.scores.dynamics._merge import DUPLICATES, FIELDS as _FIELDS, merge_states
from prunekit.errors import ConfigError, InputError

# Per-epoch float quantities (_FIELDS) are in the row order of the (5, B) block a batch produces.
_STATE_VERSION = 2  # 2 added first_correct and epochs_out_of_order (version 1 states still load)


def _epoch_view(field: str) -> property:
    """A read-only (E, N) view of one per-epoch float array of a ``Recorder``."""
    return property(lambda self: self._epoch_arrays[field][: self._n_epochs],
                    doc=f"(E, N) float32 {field} per epoch (NaN = not seen that epoch).")


class Recorder:
    """Per-example training-dynamics recorder for N examples and C classes (call ``record`` from any
    training loop; see the module docstring).

    Per-epoch arrays, shape (E, N) with E = 1 + the largest epoch recorded: ``el2n``, ``p_true``,
    ``logit_margin``, ``prob_margin`` (float32, NaN = not seen that epoch), ``correct`` and
    ``first_correct`` (int8, 1 / 0, −1 = not seen; at the epoch's last and first presentation).
    Presentation-order state, shape (N,): ``forgetting_events`` (int32), ``ever_correct`` (bool),
    ``n_presentations`` (int32), ``last_correct`` (int8, −1 = never seen).

    Memory: 18 bytes per example per epoch (1M examples × 20 epochs ≈ 360 MB), plus 10 per example.
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
        self._first = np.empty((0, self.n), np.int8)
        self.forgetting_events = np.zeros(self.n, np.int32)
        self.ever_correct = np.zeros(self.n, bool)
        self.n_presentations = np.zeros(self.n, np.int32)
        self.last_correct = np.full(self.n, -1, np.int8)
        self._last_epoch: int | None = None
        # True once an epoch was recorded after a later one: presentation order is then not epoch
        # order, and merging (which rebuilds forgetting in epoch order) refuses the record.
        self._out_of_order = False
        # False after loading a version-1 state, which lacks first_correct (see merge).
        self._first_known = True

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
            fresh = self._correct[epoch, rows] < 0
            self._first[epoch, rows[fresh]] = a[fresh]
            self._correct[epoch, rows] = a
            # Forgetting: a 1 -> 0 transition between this presentation and the previous one.
            self.forgetting_events[rows] += (self.last_correct[rows] == 1) & (a == 0)
            self.last_correct[rows] = a
            self.ever_correct[rows] |= a.astype(bool)
            self.n_presentations[rows] += 1
        if self._last_epoch is not None and epoch < self._last_epoch:
            self._out_of_order = True
        self._last_epoch = epoch

    def _ensure_epoch(self, epoch: int) -> None:
        if epoch >= self._cap:
            cap = max(epoch + 1, 2 * self._cap, 4)
            for f in _FIELDS:
                old = self._epoch_arrays[f]
                new = np.full((cap, self.n), np.nan, np.float32)
                new[: old.shape[0]] = old
                self._epoch_arrays[f] = new
            for name in ("_correct", "_first"):
                old = getattr(self, name)
                new = np.full((cap, self.n), -1, np.int8)
                new[: old.shape[0]] = old
                setattr(self, name, new)
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
    def first_correct(self) -> np.ndarray:
        """(E, N) int8: correctness at the first presentation in each epoch (−1 = not seen)."""
        return self._first[: self._n_epochs]

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
            "first_correct": self._first[:e].copy(),
            "epochs_out_of_order": int(self._out_of_order),
            "forgetting_events": self.forgetting_events.copy(),
            "ever_correct": self.ever_correct.copy(),
            "n_presentations": self.n_presentations.copy(),
            "last_correct": self.last_correct.copy(),
        }
        for f in _FIELDS:
            state[f] = self._epoch_arrays[f][:e].copy()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` (of this version or version 1); N and C must match."""
        missing = [k for k in ("version", "n", "n_classes", "n_epochs", "correct", *_FIELDS,
                               "forgetting_events", "ever_correct", "n_presentations", "last_correct")
                   if k not in state]
        if missing:
            raise InputError(f"not a Recorder state: missing {', '.join(missing)}")
        version = int(state["version"])
        if version == _STATE_VERSION:
            missing = [k for k in ("first_correct", "epochs_out_of_order") if k not in state]
            if missing:
                raise InputError(f"not a Recorder state: missing {', '.join(missing)}")
        elif version != 1:
            raise InputError(f"unsupported Recorder state version {state['version']!r}")
        n, c, e = int(state["n"]), int(state["n_classes"]), int(state["n_epochs"])
        if (n, c) != (self.n, self.n_classes):
            raise InputError(f"state is for n={n}, n_classes={c}; this recorder has n={self.n}, "
                             f"n_classes={self.n_classes}")
        for k in (*_FIELDS, "correct", "first_correct"):
            if k not in state:
                continue
            if np.shape(state[k]) != (e, n):
                raise InputError(f"state[{k!r}] has shape {np.shape(state[k])}, expected {(e, n)}")
        for k in ("forgetting_events", "ever_correct", "n_presentations", "last_correct"):
            if np.shape(state[k]) != (n,):
                raise InputError(f"state[{k!r}] has shape {np.shape(state[k])}, expected {(n,)}")
        self._cap = self._n_epochs = e
        for f in _FIELDS:
            self._epoch_arrays[f] = np.array(state[f], np.float32)
        self._correct = np.array(state["correct"], np.int8)
        # Version 1 did not keep the first presentation: equal to the last one when each example
        # was presented at most once per epoch (merge refuses the other examples).
        self._first_known = version >= 2
        self._first = np.array(state["first_correct"] if self._first_known else state["correct"], np.int8)
        self._out_of_order = bool(int(state["epochs_out_of_order"])) if self._first_known else False
        self._last_epoch = e - 1 if e else None
        self.forgetting_events = np.array(state["forgetting_events"], np.int32)
        self.ever_correct = np.array(state["ever_correct"], bool)
        self.n_presentations = np.array(state["n_presentations"], np.int32)
        self.last_correct = np.array(state["last_correct"], np.int8)


    # ------------------------------------------------------------------ files and merging

    def save(self, path: Any) -> None:
        """Write ``state_dict()`` to ``path`` as an uncompressed ``.npz`` (read back by ``load``)."""
        np.savez(path, **self.state_dict())

    @classmethod
    def load(cls, path: Any) -> Recorder:
        """A recorder from a file written by ``save`` (or ``np.savez(path, **rec.state_dict())``)."""
        try:
            with np.load(path, allow_pickle=False) as f:
                state = {k: f[k] for k in f.files}
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read a Recorder from {str(path)!r}: {exc}") from exc
        for k in ("n", "n_classes"):
            if k not in state:
                raise InputError(f"{str(path)!r} is not a Recorder file: no {k!r}")
        rec = cls(int(state["n"]), int(state["n_classes"]))
        rec.load_state_dict(state)
        return rec

    @classmethod
    def merge(cls, records: Any, *, duplicates: str = "padding") -> Recorder:
        """One recorder from the records of the W processes of a distributed training (each saw
        its own shard of the examples; ``records`` in rank order).

        The result is exactly what one ``Recorder`` would hold had it been fed, epoch after epoch,
        record 0's batches of that epoch, then record 1's, and so on: per-epoch values are taken
        from the record that saw the example that epoch; ``n_presentations`` add up; forgetting
        events are rebuilt in epoch order (a 1 → 0 change between epochs recorded by different
        processes counts). Each record must have been fed its epochs in increasing order.

        ``duplicates`` — an example recorded by several records in the same epoch:

        - ``"padding"`` (default): allowed for as many examples per epoch as ``DistributedSampler``
          repeats to pad N to a multiple of W ((−N) mod W; none with ``drop_last=True``); each copy
          is a presentation, taken in rank order (the higher rank's values are the epoch's value).
          More overlap is an ``InputError`` (the same record given twice, or every process recorded
          every example).
        - ``"count"``: any overlap is allowed and counted that way (e.g. samplers with replacement).
        - ``"error"``: any overlap is an ``InputError``.
        """
        if isinstance(records, Recorder) or not isinstance(records, (list, tuple)):
            raise InputError(f"merge takes a list of Recorders, got {type(records).__name__}")
        if not records:
            raise InputError("merge needs at least one Recorder")
        for i, r in enumerate(records):
            if not isinstance(r, Recorder):
                raise InputError(f"merge takes Recorders; item {i} is a {type(r).__name__}")
            if (r.n, r.n_classes) != (records[0].n, records[0].n_classes):
                raise InputError(f"record {i} has n={r.n}, n_classes={r.n_classes}; record 0 has "
                                 f"n={records[0].n}, n_classes={records[0].n_classes}")
        if duplicates not in DUPLICATES:
            raise ConfigError(f"duplicates must be one of {', '.join(DUPLICATES)}, got {duplicates!r}")
        states = []
        for i, r in enumerate(records):
            if r._out_of_order:
                raise InputError(f"record {i} was fed an epoch after a later one: its presentation "
                                 "order is not epoch order, so its forgetting events cannot be merged")
            if not r._first_known and (r.n_presentations != r.seen.sum(axis=0)).any():
                raise InputError(f"record {i} comes from a version-1 state (no first_correct) and "
                                 "presents some example twice in an epoch: it cannot be merged exactly")
            states.append(r.state_dict())
        merged = cls(records[0].n, records[0].n_classes)
        merged.load_state_dict(merge_states(states, duplicates))
        return merged

    @classmethod
    def merge_files(cls, paths: Any, *, duplicates: str = "padding") -> Recorder:
        """``merge`` of the files each process wrote with ``save`` (``paths`` in rank order)."""
        if isinstance(paths, (str, bytes)) or not hasattr(paths, "__iter__"):
            raise InputError(f"merge_files takes a list of paths, got {type(paths).__name__}")
        return cls.merge([cls.load(p) for p in paths], duplicates=duplicates)

    def all_gather(self, group: Any = None, *, duplicates: str = "padding") -> Recorder:
        """Under ``torch.distributed``: every process of ``group`` (default: the whole world) calls
        this with its own recorder and receives the ``merge`` of all of them, in rank order.

        Collective (every rank must call it) and pickle-based (``all_gather_object``): each process
        briefly holds all W records — for very large N × E, ``save`` per rank and ``merge_files``
        instead. With NCCL, set the device first (``torch.cuda.set_device``), as that call needs."""
        dist = load_torch().distributed
        if not dist.is_available() or not dist.is_initialized():
            raise InputError("Recorder.all_gather needs an initialised torch.distributed process group "
                             "(torch.distributed.init_process_group); use Recorder.merge otherwise")
        states: list[Any] = [None] * dist.get_world_size(group)
        dist.all_gather_object(states, self.state_dict(), group=group)
        recs = []
        for st in states:
            r = Recorder(self.n, self.n_classes)
            r.load_state_dict(st)
            recs.append(r)
        return Recorder.merge(recs, duplicates=duplicates)


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
