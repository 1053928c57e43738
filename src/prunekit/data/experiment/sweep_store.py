"""A sweep's output directory: what it holds, how a run claims it, and its results table.

``sweep.json``
    the normalised configuration and its hash (``workers`` excluded: it does not change results);
``cells/<cell>.json``
    one file per finished cell, written atomically — the source of truth for what is done;
``results.parquet``
    every finished cell as one row, in a fixed order; rewritten atomically after each cell, so a
    reader (or a SIGKILL) never sees a half-written table;
``cache/seed<k>/``
    per-seed artefacts reused across keep fractions and across restarts: the score tables with
    their scoring wall time and ``teacher.npy`` (teacher logits).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from prunekit.data.experiment.sweep_config import SweepConfig, cells
from prunekit.errors import InputError

RESULT_COLUMNS = ("dataset", "config_hash", "method", "keep", "seed", "kd", "alpha", "accuracy", "loss",
                  "scoring_seconds", "training_seconds", "steps", "examples", "run_id", "kept_per_class")
OWNED = ("sweep.json", "results.parquet", "cells", "cache", "report")


def cell_order(cfg: SweepConfig) -> dict[str, int]:
    """Cell key → its row position in the results table."""
    return {c.key: i for i, c in enumerate(cells(cfg))}


def json_write(path: Path, obj: Any) -> None:
    from prunekit.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))


def prepare_dir(out: Path, cfg: SweepConfig, force: bool, identity: dict | None = None) -> None:
    """Create ``out`` or check it holds this very sweep, run on the same data (``identity``, see
    :mod:`prunekit.io.identity`): a resumed sweep never mixes cells of two data sets. Another
    sweep's files are cleared only when forced."""
    if out.exists() and not out.is_dir():
        raise InputError(f"output {out} exists and is not a directory")
    meta = out / "sweep.json"
    if out.is_dir() and any(out.iterdir()):
        if not meta.exists():
            raise InputError(f"output directory {out} is not empty and holds no sweep; choose a new or empty directory")
        try:
            stored = json.loads(meta.read_text())
            old, old_identity = stored.get("config_hash"), stored.get("data_identity")
        except (json.JSONDecodeError, OSError, AttributeError):
            old = old_identity = None
        changed = _data_changed(old_identity, identity)
        if old != cfg.digest() or changed:
            if not force:
                why = (f"holds results of a different sweep config ({old} vs {cfg.digest()})" if old != cfg.digest()
                       else f"holds results of this sweep made on different data ({changed})")
                raise InputError(f"output directory {out} {why}; use --force to replace them")
            for name in OWNED:  # only what a sweep writes, never anything else in the directory
                p = out / name
                if p.is_dir():
                    shutil.rmtree(p)
                elif p.exists():
                    p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / "cells").mkdir(exist_ok=True)
    for tmp in list(out.glob(".*.tmp")) + list((out / "cells").glob(".*.tmp")):
        tmp.unlink(missing_ok=True)  # left by a killed run; never a result
    if not meta.exists():
        json_write(meta, {"config_hash": cfg.digest(), "config": cfg.to_dict(), "data_identity": identity})


def _data_changed(old: dict | None, new: dict | None) -> str:
    """What differs between the data a sweep folder was made on and the data now ('' = nothing, or
    unknown: a folder of an older prunekit records none)."""
    from prunekit.io.identity import DataIdentity

    a, b = DataIdentity.from_dict(old), DataIdentity.from_dict(new)
    if a is None or b is None:
        return ""
    return "; ".join(a.differences(b))


def finished(out: Path, cfg: SweepConfig) -> dict[str, dict]:
    """Rows of the finished cells of this sweep, by cell key."""
    order = cell_order(cfg)
    done = {}
    for p in (out / "cells").glob("*.json"):
        if p.stem in order:
            try:
                done[p.stem] = json.loads(p.read_text())
            except json.JSONDecodeError:  # pragma: no cover - cell files are written atomically
                continue
    return done


def write_results(out: Path, cfg: SweepConfig, done: dict[str, dict]) -> Path:
    """Rewrite ``results.parquet`` atomically from the finished cells, in cell order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from prunekit.io.atomic import atomic_path

    order = cell_order(cfg)
    rows = [done[k] for k in sorted(done, key=order.__getitem__)]
    schema = pa.schema([("dataset", pa.string()), ("config_hash", pa.string()), ("method", pa.string()),
                        ("keep", pa.float64()), ("seed", pa.int64()), ("kd", pa.bool_()), ("alpha", pa.float64()),
                        ("accuracy", pa.float64()), ("loss", pa.float64()), ("scoring_seconds", pa.float64()),
                        ("training_seconds", pa.float64()), ("steps", pa.int64()), ("examples", pa.int64()),
                        ("run_id", pa.string()), ("kept_per_class", pa.string())])
    # .get: cells finished by an older prunekit have no kept_per_class (null)
    table = pa.table({c: [r.get(c) for r in rows] for c in RESULT_COLUMNS}, schema=schema)
    path = out / "results.parquet"
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path
