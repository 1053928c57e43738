"""Merging the ``Recorder`` states of the processes of a distributed training (``Recorder.merge``).

The records are taken in order (rank order). The merged state is the state of one recorder fed, for
each epoch in turn, record 0's presentations of that epoch, then record 1's, and so on. Per example
that is a sequence of *segments* (epoch e, record r), each one or more presentations, and:

- per-epoch values: those of the last segment of the epoch (the last presentation wins, as in
  ``Recorder.record``); ``first_correct``: the first segment's;
- ``n_presentations`` adds up and ``ever_correct`` is an or (both ignore order);
- forgetting events = the events *inside* segments + the 1 → 0 changes *between* consecutive
  segments (last correctness of one == 1, first correctness of the next == 0). A record's events
  inside its segments are its ``forgetting_events`` minus the changes between its own consecutive
  segments (computable from its ``correct`` and ``first_correct``), provided the record was fed its
  epochs in increasing order (the recorder checks that). So the merge is exact, not an estimate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prunekit.errors import InputError

#: the per-epoch float quantities of a Recorder state
FIELDS = ("el2n", "p_true", "logit_margin", "prob_margin")
#: how ``merge`` treats an example recorded by several records in one epoch (Recorder.merge)
DUPLICATES = ("padding", "count", "error")
_SHOW = 5  # examples named in an error message


def _padded(a: np.ndarray, e: int, fill: Any) -> np.ndarray:
    out = np.full((e, a.shape[1]), fill, a.dtype)
    out[: a.shape[0]] = a
    return out


def _changes(segments: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """1 → 0 changes between consecutive segments, each ``(seen, first, last)`` over the N examples
    in sequence order; also the last correctness (−1 = never seen)."""
    prev = np.full(n, -1, np.int8)
    count = np.zeros(n, np.int64)
    for seen, first, last in segments:
        count += seen & (prev == 1) & (first == 0)
        prev = np.where(seen, last, prev)
    return count, prev


def _check_overlap(seen: np.ndarray, duplicates: str) -> None:
    """``seen``: (W, E, N). Raise if several records saw an example in one epoch beyond what
    ``duplicates`` allows."""
    w, _, n = seen.shape
    per = seen.sum(axis=0, dtype=np.int64)  # (E, N) records that saw each example per epoch
    extra = np.maximum(per - 1, 0).sum(axis=1)  # per epoch: presentations beyond one per example
    allowed = {"padding": (-n) % w, "count": None, "error": 0}[duplicates]
    if allowed is None or (extra <= allowed).all():
        return
    e = int(np.flatnonzero(extra > allowed)[0])
    rows = np.flatnonzero(per[e] > 1)
    who = [int(r) for r in np.flatnonzero(seen[:, e, rows[0]])]
    names = ", ".join(str(int(i)) for i in rows[:_SHOW]) + (", …" if len(rows) > _SHOW else "")
    if duplicates == "error":
        rule = 'duplicates="error" allows none'
    else:
        rule = (f"DistributedSampler's padding of N={n} examples over W={w} processes explains at most "
                f"{allowed}")
    raise InputError(
        f"{len(rows)} example(s) ({names}) were recorded by more than one record in epoch {e} (example "
        f"{int(rows[0])} by records {who}); {rule}. Each process should record only the rows of its own "
        "batches (its DistributedSampler shard), and each record be given once; pass "
        'duplicates="count" to count every copy as a presentation')


def merge_states(states: list[dict[str, Any]], duplicates: str) -> dict[str, Any]:
    """The Recorder state of the merged records (see the module docstring); ``states``: version-2
    ``state_dict()`` results with equal N and C."""
    n, c = int(states[0]["n"]), int(states[0]["n_classes"])
    e = max(int(s["n_epochs"]) for s in states)
    correct = [_padded(np.asarray(s["correct"], np.int8), e, -1) for s in states]
    first = [_padded(np.asarray(s["first_correct"], np.int8), e, -1) for s in states]
    seen = np.stack([a >= 0 for a in correct])  # (W, E, N)
    _check_overlap(seen, duplicates)

    inside = np.zeros(n, np.int64)
    for i, s in enumerate(states):
        own, _ = _changes([(seen[i, t], first[i][t], correct[i][t]) for t in range(e)], n)
        events = np.asarray(s["forgetting_events"], np.int64)
        npres = np.asarray(s["n_presentations"], np.int64)
        if (events < own).any() or (npres < seen[i].sum(axis=0)).any():
            bad = int(np.flatnonzero((events < own) | (npres < seen[i].sum(axis=0)))[0])
            raise InputError(f"record {i} is inconsistent at example {bad} (its forgetting events or "
                             "presentation count do not match its per-epoch correctness)")
        inside += events - own
    order = [(seen[i, t], first[i][t], correct[i][t]) for t in range(e) for i in range(len(states))]
    between, last = _changes(order, n)

    out: dict[str, Any] = {"version": 2, "n": n, "n_classes": c, "n_epochs": e, "epochs_out_of_order": 0}
    for name, fill in (*((f, np.nan) for f in FIELDS), ("correct", -1)):
        merged = np.full((e, n), fill, np.float32 if name in FIELDS else np.int8)
        for i, s in enumerate(states):  # later records win, as later presentations do
            merged = np.where(seen[i], _padded(np.asarray(s[name]), e, fill), merged)
        out[name] = merged
    merged_first = np.full((e, n), -1, np.int8)
    for i in reversed(range(len(states))):  # earlier records win
        merged_first = np.where(seen[i], first[i], merged_first)
    out["first_correct"] = merged_first
    out["forgetting_events"] = (inside + between).astype(np.int32)
    out["ever_correct"] = np.logical_or.reduce([np.asarray(s["ever_correct"], bool) for s in states])
    out["n_presentations"] = np.sum([np.asarray(s["n_presentations"], np.int64) for s in states],
                                    axis=0).astype(np.int32)
    out["last_correct"] = last
    return out
