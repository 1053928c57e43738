"""Parts the reports share: what a method keeps, the named spread statistic, the whole cost of a
result (scoring + teacher + training, wall and CPU) and paths made relative to a report."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: the spread statistic of every "±" in the report, named where it is shown
SPREAD = "population std (ddof 0) over seeds"
_KEEPS = {"rs2": "new random subset each epoch", "ccs": "coverage strata of AUM", "full": "all data",
          "dbp": "cluster quotas by density"}


def keeps_what(method: str, config: dict | None = None) -> str:
    """What a sweep method keeps: its selector direction (``hardest`` unless the config sets one for
    the method), or the rule of random / RS2 / CCS."""
    settings = {}
    for key in ("select", "selectors", "method_settings"):
        got = (config or {}).get(key)
        if isinstance(got, dict) and isinstance(got.get(method), dict):
            settings = got[method]
            break
    if method == "random":
        return "uniform" + (f", {settings['balance']} class balance" if settings.get("balance") else "")
    if method in _KEEPS:
        return _KEEPS[method]
    what = str(settings.get("direction") or "hardest")
    if what == "offset" and settings.get("beta") is not None:
        what += f" (the {settings['beta']:g} hardest dropped first)"
    if settings.get("balance"):
        what += f", {settings['balance']} class balance"
    return what


COST = {"wall": ("scoring_seconds", "teacher_seconds", "training_seconds"),
        "cpu": ("scoring_cpu_seconds", "teacher_cpu_seconds", "training_cpu_seconds")}


def with_costs(df):
    """``df`` with ``wall`` and ``cpu`` totals per cell: scoring + teacher (KD cells) + training.
    A part a table does not record is NaN (``cpu``) or 0 (the teacher of an older sweep's ``wall``)."""
    d = df.copy()
    for kind, cols in COST.items():
        total = np.zeros(len(d))
        for c in cols:
            v = d[c].to_numpy(dtype=float, na_value=np.nan) if c in d.columns else np.full(len(d), np.nan)
            total = total + (np.nan_to_num(v) if c == "teacher_seconds" else v)
        d[kind] = total
    return d


def cost_notes(df) -> list[str]:
    notes = []
    kd = df[df["kd"].astype(bool)]
    if len(kd) and ("teacher_seconds" not in df.columns or kd["teacher_seconds"].isna().any()):
        notes.append("Some KD cells do not record the teacher's training time (made by an older prunekit): "
                     "their points leave out the teacher's cost.")
    if "training_cpu_seconds" not in df.columns or df["training_cpu_seconds"].isna().all():
        notes.append("CPU seconds are not recorded in this results table (an older sweep): CPU panel empty.")
    return notes


def relative_paths(obj, base: Path):
    """``obj`` (a config: dicts, lists, strings) with every absolute path made relative to ``base``,
    so a report holds no absolute path (it stays true when the folder moves with its data)."""
    if isinstance(obj, dict):
        return {k: relative_paths(v, base) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [relative_paths(v, base) for v in obj]
    if isinstance(obj, str) and os.path.isabs(obj):
        return os.path.relpath(obj, os.path.abspath(base))
    return obj


__all__ = ["COST", "SPREAD", "cost_notes", "keeps_what", "relative_paths", "with_costs"]
