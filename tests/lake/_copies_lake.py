"""A planted lake with identical copies of one table and children big enough to be worth deleting,
for the keep-order and savings tests.

- ``warehouse/sales.parquet``  3,000 rows: id, region, amount (NULL, NaN, -0.0), qty int32, note
- ``scratch/sales.parquet``    the same file, byte for byte (an identical copy)
- ``derived/eu_sales.parquet`` the 'eu' rows, shuffled (a recipe of shuffled positions)
- ``exports/first.csv``        the first 800 rows of ``id, region, qty``, in order (a recipe of one
                               run of consecutive positions)
- ``exports/tiny.csv``         3 rows of ``id, region``: smaller than any recipe
- ``misc/other.parquet``       no edges

Modification times are set (``os.utime``) so that ``warehouse`` is the older copy unless a test
says otherwise.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from _planted_plan import scan_of
from prunekit.lake.model import ScanResult

os.environ.setdefault("PRUNEKIT_PROGRESS", "0")

SALES = "warehouse/sales"
COPY = "scratch/sales"
CHILDREN = ("derived/eu_sales", "exports/first", "exports/tiny")
T0 = 1_600_000_000.0   # 2020-09-13: every file's mtime is T0 + an offset


def sales(n: int = 3000, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    amount = np.round(rng.uniform(-100, 900, n), 2)
    amount[[3, 40]] = -0.0
    amount[7] = np.nan
    mask = np.zeros(n, dtype=bool)
    mask[[11, 12]] = True
    return pa.table({
        "id": pa.array(np.arange(n, dtype=np.int64)),
        "region": pa.array(np.array(["eu", "us", "apac"])[rng.integers(0, 3, n)].tolist()),
        "amount": pa.array(amount, mask=mask),
        "qty": pa.array(rng.integers(1, 50, n).astype(np.int32)),
        "note": pa.array([f"order {i} of customer {rng.integers(0, 10**6)}" for i in range(n)]),
    })


def touch(path: Path, offset: float) -> None:
    """Set the modification time of a table's file(s) to T0 + offset."""
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    for f in files:
        os.utime(f, (T0 + offset, T0 + offset))


def write_copies_lake(root: Path, *, extra_copies: dict[str, float] | None = None,
                      offsets: dict[str, float] | None = None) -> dict[str, Path]:
    """Write the lake; ``extra_copies`` adds byte-identical copies of the sales table (name → mtime
    offset); ``offsets`` overrides mtime offsets (default: warehouse 0, scratch 100). Returns
    table name → path."""
    root = Path(root)
    t = sales()
    paths = {SALES: root / "warehouse/sales.parquet", COPY: root / "scratch/sales.parquet",
             "derived/eu_sales": root / "derived/eu_sales.parquet",
             "exports/first": root / "exports/first.csv", "exports/tiny": root / "exports/tiny.csv",
             "misc/other": root / "misc/other.parquet"}
    for name in (extra_copies or {}):
        paths[name] = root / f"{name}.parquet"
    for p in paths.values():
        p.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(t, paths[SALES])
    for name in [COPY, *(extra_copies or {})]:
        shutil.copyfile(paths[SALES], paths[name])
    rng = np.random.default_rng(1)
    eu = np.flatnonzero(np.array(t.column("region").to_pylist()) == "eu")
    pq.write_table(t.take(pa.array(rng.permutation(eu))), paths["derived/eu_sales"])
    pacsv.write_csv(t.select(["id", "region", "qty"]).slice(0, 800), paths["exports/first"])
    pacsv.write_csv(t.select(["id", "region"]).take(pa.array([5, 1, 2])), paths["exports/tiny"])
    pq.write_table(pa.table({"k": pa.array(np.arange(40)), "v": pa.array(rng.normal(size=40))}),
                   paths["misc/other"])
    times = {SALES: 0.0, COPY: 100.0, **(extra_copies or {}), **(offsets or {})}
    for name, p in paths.items():
        touch(p, times.get(name, 50.0))
    return paths


def copies_scan(root: Path, paths: dict[str, Path]) -> ScanResult:
    """The scan of the copies lake: every copy of the sales table is a duplicate of every other,
    and every child lies in each copy (edges checked true by ``scan_of``)."""
    copies = [n for n in paths if n not in CHILDREN and n != "misc/other"]
    edges = [(a, b) for a in copies for b in copies if a != b]
    edges += [(c, child) for c in copies for child in CHILDREN]
    return scan_of(root, paths, edges=edges)
