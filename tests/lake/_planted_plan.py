"""A small planted lake for the plan / recipe / apply / restore / purge tests, and its scan.

The scan is built by hand from ``TableProfile``s (``tableio`` reads, fingerprints and checksums) and
from edges that are true by construction — and checked true here with a slow Python multiset
reference (``contained``), so a broken fixture fails loudly instead of testing nothing.

Tables (``N`` base rows, 40 of them exact duplicates of others):

- ``base/orders.parquet``      id int64, customer string, amount float64 (NULL, NaN, -0.0 and 0.0),
                               qty int64, region string
- ``copies/orders_parts/``     the same rows, shuffled, as three zstd parts: a duplicate of orders
- ``derived/eu_orders.parquet`` region == 'eu' rows, shuffled, columns reordered and renamed
                               (``amount, ID, qty, customer``), qty int32, customer large_string
- ``exports/orders_small.csv`` 60 sampled rows (duplicates included) of ``id, qty, region``
- ``exports/amounts.csv``      ``id, amount`` rows holding -0.0, 0.0, NaN and NULL amounts
- ``misc/unrelated.parquet``   no edges
"""

from __future__ import annotations

import math
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from prunekit.lake.model import ColumnProfile, Edge, ScanResult, TableProfile, normalise_name, normalise_type
from prunekit.lake.tableio import file_checksum, fingerprint, read_table, table_files

N = 200
CHILDREN = ("derived/eu_orders", "exports/orders_small", "exports/amounts")


def _csv_text(table: pa.Table) -> str:
    """CSV as a person might write it: floats spelled so the reader sees doubles, NULL empty."""
    lines = [",".join(table.column_names)]
    cols = [c.to_pylist() for c in table.columns]
    for row in zip(*cols):
        cells = []
        for v in row:
            if v is None:
                cells.append("")
            elif isinstance(v, float):
                cells.append("NAN" if math.isnan(v) else repr(v))
            else:
                cells.append(str(v))
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def base_orders(seed: int = 0, n: int = N) -> pa.Table:
    rng = np.random.default_rng(seed)
    uniq = n - 40
    ids = np.arange(uniq, dtype=np.int64)
    amount = np.round(rng.uniform(-50, 500, size=uniq), 2)
    amount[3] = -0.0
    amount[4] = 0.0
    amount[5] = -0.0
    amount[8] = np.nan
    amount_null = np.zeros(uniq, dtype=bool)
    amount_null[[9, 21]] = True
    customer = [f"cust_{i % 37}" for i in range(uniq)]
    customer[12] = None
    qty = rng.integers(1, 30, size=uniq)
    region = np.array(["eu", "us", "apac"])[rng.integers(0, 3, size=uniq)]
    region[[3, 4, 5, 8, 9]] = "eu"
    t = pa.table({
        "id": pa.array(ids),
        "customer": pa.array(customer, pa.string()),
        "amount": pa.array(amount, pa.float64(), mask=amount_null),
        "qty": pa.array(qty, pa.int64()),
        "region": pa.array(region.tolist(), pa.string()),
    })
    # 40 exact duplicates (some rows 2x, some 3x), including the -0.0, NaN and NULL rows.
    dup = np.concatenate([[3, 8, 9, 12], rng.integers(0, uniq, size=36)])
    t = pa.concat_tables([t, t.take(pa.array(dup))])
    return t.take(pa.array(rng.permutation(t.num_rows)))


def write_lake(root: str | Path, seed: int = 0) -> dict[str, Path]:
    """Write the planted lake; returns table name → path."""
    root = Path(root)
    rng = np.random.default_rng(seed + 1)
    orders = base_orders(seed)
    paths = {
        "base/orders": root / "base/orders.parquet",
        "copies/orders_parts": root / "copies/orders_parts",
        "derived/eu_orders": root / "derived/eu_orders.parquet",
        "exports/orders_small": root / "exports/orders_small.csv",
        "exports/amounts": root / "exports/amounts.csv",
        "misc/unrelated": root / "misc/unrelated.parquet",
    }
    for p in paths.values():
        p.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(orders, paths["base/orders"])

    shuffled = orders.take(pa.array(rng.permutation(orders.num_rows)))
    paths["copies/orders_parts"].mkdir()
    cuts = [0, 70, 71, orders.num_rows]  # a one-row part, so part sizes matter
    for k in range(3):
        pq.write_table(shuffled.slice(cuts[k], cuts[k + 1] - cuts[k]),
                       paths["copies/orders_parts"] / f"part-{k:04d}.parquet",
                       compression="zstd", row_group_size=30)

    eu_idx = [i for i, r in enumerate(orders.column("region").to_pylist()) if r == "eu"]
    eu = orders.take(pa.array(rng.permutation(eu_idx)))
    eu = pa.table({
        "amount": eu.column("amount"),
        "ID": eu.column("id"),
        "qty": eu.column("qty").cast(pa.int32()),
        "customer": eu.column("customer").cast(pa.large_string()),
    })
    pq.write_table(eu, paths["derived/eu_orders"])

    small = orders.take(pa.array(rng.integers(0, orders.num_rows, size=60)))
    small = _distinct_bag(small, orders, ["id", "qty", "region"])
    paths["exports/orders_small"].write_text(_csv_text(small.select(["id", "qty", "region"])))

    am = orders.select(["id", "amount"])
    vals = am.column("amount").to_pylist()
    special = [i for i, v in enumerate(vals) if v is None or v == 0.0 or (isinstance(v, float) and math.isnan(v))]
    pick = special + rng.integers(0, orders.num_rows, size=20).tolist()
    am = _distinct_bag(am.take(pa.array(pick)), orders, ["id", "amount"])
    paths["exports/amounts"].write_text(_csv_text(am))

    pq.write_table(pa.table({"k": pa.array(np.arange(50)), "v": pa.array(rng.normal(size=50))}),
                   paths["misc/unrelated"])
    return paths


def _distinct_bag(sample: pa.Table, parent: pa.Table, cols: list[str]) -> pa.Table:
    """Cap each row's multiplicity at the parent's, so the sample is bag-contained."""
    cap = Counter(_keys(parent.select(cols)))
    seen: Counter = Counter()
    keep = []
    for i, k in enumerate(_keys(sample.select(cols))):
        seen[k] += 1
        if seen[k] <= cap[k]:
            keep.append(i)
    return sample.take(pa.array(keep, pa.int64()))


def _keys(t: pa.Table) -> list[tuple]:
    """Rows as hashable tuples under value equality (NaN equals NaN, -0.0 equals 0.0)."""
    out = []
    for row in zip(*[c.to_pylist() for c in t.columns]):
        out.append(tuple(("nan",) if isinstance(v, float) and math.isnan(v) else
                         (0.0 if isinstance(v, float) and v == 0 else v) for v in row))
    return out


def contained(child: pa.Table, parent: pa.Table, semantics: str = "bag") -> bool:
    """Reference containment on the child's columns (matched by normalised name)."""
    by_norm = {normalise_name(n): n for n in parent.column_names}
    try:
        proj = parent.select([by_norm[normalise_name(n)] for n in child.column_names])
    except KeyError:
        return False
    have = Counter(_keys(proj))
    need = Counter(_keys(child))
    if semantics == "set":
        return all(k in have for k in need)
    return all(have[k] >= c for k, c in need.items())


def profile(name: str, path: Path) -> TableProfile:
    fmt = "csv" if path.suffix == ".csv" else "parquet"
    t = read_table(path, fmt)
    cols = tuple(ColumnProfile(name=normalise_name(f.name), original_name=f.name,
                               type=normalise_type(f.type), arrow_type=str(f.type)) for f in t.schema)
    size = sum(f.stat().st_size for f in table_files(path))
    return TableProfile(name=name, path=str(path.resolve()), format=fmt, columns=cols, rows=t.num_rows,
                        size_bytes=size, fingerprint=fingerprint(t), checksum=file_checksum(path))


def scan_of(root: str | Path, paths: dict[str, Path], edges: list[tuple[str, str]] | None = None,
            derived: list[tuple[str, str]] = ()) -> ScanResult:
    """A ScanResult over ``paths`` with the given (parent, child) edges, each checked true."""
    profiles = {n: profile(n, p) for n, p in paths.items()}
    tables = {n: read_table(p, profiles[n].format) for n, p in paths.items()}
    if edges is None:
        edges = [("base/orders", "copies/orders_parts"), ("copies/orders_parts", "base/orders")]
        edges += [("base/orders", c) for c in CHILDREN]
        derived = [("copies/orders_parts", c) for c in CHILDREN]
    out = []
    for (parent, child) in list(edges) + list(derived):
        if parent not in paths or child not in paths:
            continue
        assert contained(tables[child], tables[parent]), f"fixture bug: {child} ⊄ {parent}"
        dup = (parent, child) in edges and (child, parent) in edges and \
            profiles[parent].rows == profiles[child].rows
        out.append(Edge(parent=parent, child=child,
                        columns=tuple(normalise_name(c) for c in tables[child].column_names),
                        verified=(parent, child) not in derived, derived=(parent, child) in derived,
                        duplicate=dup))
    groups = sorted({tuple(sorted((e.parent, e.child))) for e in out if e.duplicate})
    return ScanResult(root=str(Path(root).resolve()), semantics="bag", engine="test", profiles=profiles,
                      edges=out, duplicate_groups=[list(g) for g in groups])


def planted(root: str | Path, seed: int = 0) -> tuple[ScanResult, dict[str, Path]]:
    paths = write_lake(root, seed)
    return scan_of(root, paths), paths


def snapshot(paths: dict[str, Path]) -> dict[str, tuple[str, pa.Table]]:
    """name → (checksum, table) of every table, to compare restores against."""
    return {n: (file_checksum(p), read_table(p, "csv" if p.suffix == ".csv" else "parquet"))
            for n, p in paths.items()}


def copy_lake(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)
