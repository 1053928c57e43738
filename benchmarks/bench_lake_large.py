"""Large-table synthetic lake: the regime R2D2 is for (numbers in docs/LAKE.md, BENCHMARKS.md).

Families of tables with one schema each (4 columns: int64 id, int32 user, float64 amount, date32
day; the names carry the family, so only tables of one family are schema-compatible), 1–2 M rows
per table by default. In every family:

- ``base`` and, in every other family, ``copy`` (its rows shuffled: a duplicate);
- ``sub60`` ⊆ ``base`` (60 % of its rows, shuffled) and ``sub20`` ⊆ ``sub60`` (a chain: ``sub20 ⊆
  base`` follows by transitivity);
- ``proj`` ⊆ ``base``: 50 % of the rows on 3 of the 4 columns;
- ``near``: 40 % of ``base`` with one value changed at a row the scan's sample does not look at
  (passes statistics and the sample; only exact verification rejects it);
- the rest: *partitions*, fresh rows from the same distributions (overlapping ranges, so the
  statistics cannot tell them apart; they are schema-compatible with every table of the family).

The scan (cold: no profile or scan cache) and an exact brute force — every schema-compatible
ordered pair, both tables read, DuckDB ``EXCEPT ALL`` on the child's columns, exactly as
``bench_lake.py`` — run in the same process; the edge sets must be identical. Then a re-scan of
the unchanged lake (both caches warm) and the time to read every table once (the floor).

    .venv/bin/python benchmarks/bench_lake_large.py                       # → results_lake_large.json
    .venv/bin/python benchmarks/bench_lake_large.py --families 1 --per-family 8 --no-brute-force

The lake is written once under benchmarks/.cache/ (gitignored) and reused while its spec holds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

os.environ.setdefault("PRUNEKIT_PROGRESS", "0")

from prunekit.io.atomic import atomic_path  # noqa: E402
from prunekit.lake.catalog import discover  # noqa: E402
from prunekit.lake.scan import scan_traced  # noqa: E402
from prunekit.lake.tableio import read_table  # noqa: E402
from prunekit.lake.verify import sample_indices  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_lake import brute_force  # noqa: E402


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _fresh(rng, n: int, f: int) -> pa.Table:
    return pa.table({
        f"f{f}_id": pa.array(rng.integers(0, 4 * 10**9, n, dtype=np.int64)),
        f"f{f}_user": pa.array(rng.integers(0, 200_000, n, dtype=np.int32)),
        f"f{f}_amount": pa.array(np.round(rng.uniform(0, 1000, n), 2)),
        f"f{f}_day": pa.array(rng.integers(17_000, 20_000, n, dtype=np.int32)).cast(pa.date32()),
    })


def _subset(rng, t: pa.Table, frac: float) -> pa.Table:
    idx = rng.choice(t.num_rows, int(t.num_rows * frac), replace=False)
    return t.take(pa.array(idx))          # random order: a containment is about rows, not order


def write_large_lake(root: Path, families: int, per_family: int, rows: tuple[int, int],
                     seed: int = 0) -> dict:
    spec = {"families": families, "per_family": per_family, "rows": list(rows), "seed": seed, "v": 1}
    marker = root / ".bench-large.json"
    if marker.exists() and json.loads(marker.read_text()).get("spec") == spec:
        return json.loads(marker.read_text())
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    planted = []
    for f in range(families):
        d = root / f"family{f}"
        d.mkdir()
        base = _fresh(rng, rows[1], f)
        tables = {"base": base, "sub60": _subset(rng, base, 0.6)}
        tables["sub20"] = _subset(rng, tables["sub60"], 1 / 3)
        proj = _subset(rng, base, 0.5)
        tables["proj"] = proj.select([0, 2, 3])
        near = _subset(rng, base, 0.4)
        name = f"family{f}/near"
        sampled = set(sample_indices(name, near.num_rows).tolist())
        pos = next(i for i in range(near.num_rows // 2, near.num_rows) if i not in sampled)
        amount = near.column(2).to_numpy().copy()
        amount[pos] = 500.005                                 # inside the range, not a 2-decimal value
        tables["near"] = near.set_column(2, near.schema.field(2), pa.array(amount))
        planted += [(f"family{f}/base", f"family{f}/sub60"), (f"family{f}/sub60", f"family{f}/sub20"),
                    (f"family{f}/base", f"family{f}/proj")]
        if f % 2 == 0:
            tables["copy"] = base.take(pa.array(rng.permutation(base.num_rows)))
        for i in range(per_family - len(tables)):
            tables[f"part{i:02d}"] = _fresh(rng, int(rng.integers(rows[0], rows[1] + 1)), f)
        for n, t in tables.items():
            pq.write_table(t, d / f"{n}.parquet")
    info = {"spec": spec, "write_seconds": time.perf_counter() - t0, "planted": planted,
            "bytes": sum(f.stat().st_size for f in root.rglob("*.parquet"))}
    marker.write_text(json.dumps(info))
    return info


def read_floor(root: Path) -> float:
    refs, _ = discover(root)
    t = time.perf_counter()
    for r in refs:
        read_table(r.path, r.format)
    return time.perf_counter() - t


def _stages(result) -> list[dict]:
    return [{"stage": s.stage, "in": s.pairs_in, "out": s.pairs_out, "seconds": round(s.seconds, 3)}
            for s in result.stages]


def run(root: Path, brute: bool) -> dict:
    out: dict = {"load_before": _load()}
    out["read_floor_seconds"] = read_floor(root)
    shutil.rmtree(root / ".prunekit", ignore_errors=True)
    t = time.perf_counter()
    cold, trace = scan_traced(root, min_columns=1)
    out["scan_cold_seconds"] = time.perf_counter() - t
    out["scan_cold"] = {"stages": _stages(cold), "edges": len(cold.edges), "reads": cold.reads,
                        "verified_pairs": len(trace.verified),
                        "verified_rejections": sum(not v for v in trace.verified.values())}
    t = time.perf_counter()
    warm, _ = scan_traced(root, min_columns=1)
    out["rescan_unchanged_seconds"] = time.perf_counter() - t
    out["rescan_reads"] = warm.reads
    got = {(e.parent, e.child) for e in cold.edges}
    out["rescan_identical"] = got == {(e.parent, e.child) for e in warm.edges}
    out["cold_over_read_floor"] = out["scan_cold_seconds"] / out["read_floor_seconds"]
    if brute:
        bf_edges, bf = brute_force(root)
        out["brute_force"] = bf
        out["identical"] = got == bf_edges
        out["false_positives"] = sorted(got - bf_edges)
        out["false_negatives"] = sorted(bf_edges - got)
        out["speedup_cold_scan_vs_brute_force"] = bf["seconds"] / out["scan_cold_seconds"]
    out["load_after"] = _load()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", type=int, default=5)
    ap.add_argument("--per-family", type=int, default=20)
    ap.add_argument("--rows", type=int, nargs=2, default=[1_000_000, 2_000_000])
    ap.add_argument("--work", default=str(HERE / ".cache" / "lake-large"))
    ap.add_argument("--no-brute-force", action="store_true")
    ap.add_argument("--out", default=str(HERE / "results_lake_large.json"))
    args = ap.parse_args()
    root = Path(args.work)
    info = write_large_lake(root, args.families, args.per_family, tuple(args.rows))
    print(f"lake {root}: {args.families * args.per_family} tables, {info['bytes'] / 1e9:.2f} GB "
          f"(written in {info['write_seconds']:.0f}s, not timed)", flush=True)
    res = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                             text=True, cwd=HERE).stdout.strip()},
           "lake": info, **run(root, not args.no_brute_force)}
    print(json.dumps({k: v for k, v in res.items() if k not in ("lake",)}, indent=1, default=str))
    with atomic_path(Path(args.out)) as tmp:
        tmp.write_text(json.dumps(res, indent=1, default=str))


if __name__ == "__main__":
    main()
