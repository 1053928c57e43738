"""A sweep's output directory: what it holds, how a run claims it, and its results table.

``sweep.json``
    the configuration (paths relative to the folder), its settings and their hash — everything that
    changes results, without file paths and ``workers`` — and the content digests of the training
    and test data: the folder's identity is content, so a moved folder (with its data) resumes;
``cells/<cell>.json``
    one file per finished cell, written atomically — the source of truth for what is done. Each
    records the hash of the settings *that cell* depends on (``cell_hash``, see
    ``sweep_config.cell_settings``): a cell counts as finished only for a config that gives it the
    same hash, so ``--force`` with a changed config reruns exactly the cells it changed and never
    deletes one whose settings are still in the config;
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

from prunekit.data.experiment.sweep_config import SweepConfig, cell_digest, cells, settings_of
from prunekit.errors import InputError

RESULT_COLUMNS = ("dataset", "config_hash", "method", "keep", "seed", "kd", "alpha", "accuracy", "loss",
                  "scoring_seconds", "training_seconds", "steps", "examples", "run_id", "kept_per_class",
                  "training_cpu_seconds", "scoring_cpu_seconds", "teacher_seconds", "teacher_cpu_seconds")
OWNED = ("sweep.json", "results.parquet", "cells", "cache", "report")


def cell_order(cfg: SweepConfig) -> dict[str, int]:
    """Cell key → its row position in the results table."""
    return {c.key: i for i, c in enumerate(cells(cfg))}


def json_write(path: Path, obj: Any) -> None:
    from prunekit.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))


def prepare_dir(out: Path, cfg: SweepConfig, force: bool, identity: dict | None = None,
                heldout: dict | None = None) -> None:
    """Create ``out`` or check it holds this very sweep — the same settings (paths aside) run on the
    same data (``identity`` of the training data, see :mod:`prunekit.io.identity`; ``heldout``: a
    digest of the test data): a resumed sweep never mixes cells of two data sets or two recipes.

    ``force`` with other settings keeps every finished cell (each is rerun only if the settings it
    depends on changed); ``force`` with other data clears what a sweep wrote. A folder written by an
    older prunekit (its hash included absolute paths) is compared by its settings and upgraded."""
    if out.exists() and not out.is_dir():
        raise InputError(f"output {out} exists and is not a directory")
    meta = out / "sweep.json"
    settings = cfg.settings()
    if out.is_dir() and any(out.iterdir()):
        if not meta.exists():
            raise InputError(f"output directory {out} is not empty and holds no sweep; choose a new or empty directory")
        try:
            stored = json.loads(meta.read_text())
            old = settings_of(stored["config"])
        except (json.JSONDecodeError, OSError, AttributeError, KeyError, TypeError):
            stored, old = {}, None
        changed = "; ".join(w for w in (_data_changed(stored.get("data_identity"), identity),
                                        _heldout_changed(stored.get("test_identity"), heldout)) if w)
        differs = _differences(old, settings)
        if differs or changed:
            if not force:
                why = (f"holds results of a different sweep config ({'; '.join(differs[:3])})" if differs
                       else f"holds results of this sweep made on different data ({changed})")
                keep = "" if changed else " (finished cells whose settings are unchanged are kept)"
                raise InputError(f"output directory {out} {why}; use --force to run this config there{keep}")
            if changed or old is None:
                for name in OWNED:  # only what a sweep writes, never anything else in the directory
                    p = out / name
                    if p.is_dir():
                        shutil.rmtree(p)
                    elif p.exists():
                        p.unlink()
        if old is not None and not changed:
            _stamp_cells(out, old)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cells").mkdir(exist_ok=True)
    for tmp in list(out.glob(".*.tmp")) + list((out / "cells").glob(".*.tmp")):
        tmp.unlink(missing_ok=True)  # left by a killed run; never a result
    doc = {"format": 2, "config_hash": cfg.digest(), "settings": settings, "config": _relative(cfg.to_dict(), out),
           "data_identity": identity, "test_identity": heldout}
    try:
        same = json.loads(meta.read_text()) == json.loads(json.dumps(doc, default=str))
    except (OSError, json.JSONDecodeError):
        same = False
    if not same:
        json_write(meta, doc)


def _relative(config: dict, out: Path) -> dict:
    """The config with its file paths relative to the sweep folder (a record, not an identity)."""
    import os

    d = dict(config)
    for k in SweepConfig.PATHS:
        v = d.get(k)
        if isinstance(v, str) and Path(v).is_absolute():
            try:
                d[k] = os.path.relpath(v, out.resolve())
            except ValueError:  # another drive (Windows)
                pass
    return d


def _differences(old: dict | None, new: dict) -> list[str]:
    if old is None:
        return ["its sweep.json is unreadable"]
    return [f"{k}: {old.get(k)!r} → {new.get(k)!r}" for k in new if old.get(k) != new.get(k)]


def _heldout_changed(old: dict | None, new: dict | None) -> str:
    if not old or not new or old == new:
        return ""
    return "the test data differs"


def _stamp_cells(out: Path, settings: dict) -> None:
    """Give every finished cell of an older prunekit (no ``cell_hash``) the hash of the settings it
    was run with, so it is judged like a new one."""
    from prunekit.data.experiment.sweep_config import Cell

    for p in (out / "cells").glob("*.json"):
        try:
            row = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(row, dict) and "cell_hash" not in row:
            cell = Cell(row["method"], float(row["keep"]), int(row["seed"]), bool(row["kd"]))
            json_write(p, dict(row, cell_hash=cell_digest(settings, cell)))


def _data_changed(old: dict | None, new: dict | None) -> str:
    """What differs between the data a sweep folder was made on and the data now ('' = nothing, or
    unknown: a folder of an older prunekit records none)."""
    from prunekit.io.identity import DataIdentity

    a, b = DataIdentity.from_dict(old), DataIdentity.from_dict(new)
    if a is None or b is None:
        return ""
    return "; ".join(a.differences(b))


def finished(out: Path, cfg: SweepConfig) -> dict[str, dict]:
    """Rows of the finished cells of this sweep, by cell key: cells of its grid run with the
    settings the config gives them (their ``cell_hash``)."""
    settings = cfg.settings()
    want = {c.key: cell_digest(settings, c) for c in cells(cfg)}
    done = {}
    for p in (out / "cells").glob("*.json"):
        if p.stem in want:
            try:
                row = json.loads(p.read_text())
            except json.JSONDecodeError:  # pragma: no cover - cell files are written atomically
                continue
            if row.get("cell_hash") == want[p.stem]:
                done[p.stem] = row
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
                        ("run_id", pa.string()), ("kept_per_class", pa.string()),
                        *((c, pa.float64()) for c in RESULT_COLUMNS[15:])])  # CPU and teacher seconds
    # .get: cells finished by an older prunekit have no kept_per_class (null)
    table = pa.table({c: [r.get(c) for r in rows] for c in RESULT_COLUMNS}, schema=schema)
    path = out / "results.parquet"
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path
