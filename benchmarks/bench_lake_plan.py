"""Benchmark: the deletion planner (HiGHS MILP vs greedy) on synthetic lakes, and recipe build /
rebuild throughput on a large parent.

Planner: n tables in containment forests (each table contained in an earlier, larger one with
probability 0.7; 10% exact duplicates), the transitive closure added as derived edges, sizes
log-uniform 1 MB – 10 GB, accesses per month drawn from {0, 1, 10, 100}. Reports the MILP's time
and status, the greedy's time, and how much worse the greedy objective is than the MILP's.

Recipe: a parent of ``--rows`` rows (int64, float64 with NaN/-0.0, string, int32) and a child of
30% of its rows, shuffled, columns reordered; times ``build_recipe`` (reads both files),
``rebuild`` (reads the parent, checks its checksum) and ``write_like`` (Parquet, read back and
compared) in one process.

    python benchmarks/bench_lake_plan.py                  # n = 100, 1000, 5000; 1M-row parent
    python benchmarks/bench_lake_plan.py --tables 100 --rows 100000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def synthetic_scan(n: int, seed: int = 0):
    from prunekit.lake.model import Edge, ScanResult, TableProfile

    rng = np.random.default_rng(seed)
    sizes = np.sort(10 ** rng.uniform(6, 10, n))[::-1].astype(np.int64)  # earlier = larger
    parent = np.full(n, -1)
    dup_of = np.full(n, -1)
    for i in range(1, n):
        if rng.random() < 0.1:
            dup_of[i] = rng.integers(0, i)
            sizes[i] = sizes[dup_of[i]]
        elif rng.random() < 0.7:
            parent[i] = rng.integers(0, i)
    names = [f"t{i:05d}" for i in range(n)]
    prof = {m: TableProfile(name=m, path=f"/lake/{m}.parquet", format="parquet", columns=(), rows=1,
                            size_bytes=int(s), fingerprint="f", checksum="c") for m, s in zip(names, sizes)}

    def ancestors(i):
        out = []
        j = parent[i] if dup_of[i] < 0 else dup_of[i]
        while j >= 0:
            out.append(j)
            j = parent[j] if dup_of[j] < 0 else dup_of[j]
        return out

    edges = []
    for i in range(n):
        anc = ancestors(i)
        for k, j in enumerate(anc):
            edges.append(Edge(parent=names[j], child=names[i], columns=("a",), verified=k == 0,
                              derived=k > 0, duplicate=dup_of[i] == j and k == 0))
        if dup_of[i] >= 0:
            edges.append(Edge(parent=names[i], child=names[dup_of[i]], columns=("a",), verified=True,
                              duplicate=True))
    accesses = {m: float(rng.choice([0, 1, 10, 100])) for m in names}
    return ScanResult(root="/lake", semantics="bag", engine="synthetic", profiles=prof, edges=edges,
                      duplicate_groups=[]), accesses


def bench_plan(n: int) -> dict:
    from prunekit.lake.deletion_problem import CostModel, build_problem
    from prunekit.lake.deletion_solver import solve, solve_greedy

    scan, accesses = synthetic_scan(n)
    t0 = time.perf_counter()
    problem = build_problem(scan, CostModel(), accesses=accesses)
    t_build = time.perf_counter() - t0
    milp = solve(problem, "milp", time_limit=300)
    greedy = solve_greedy(problem, with_bound=False)
    return {"tables": n, "edges": len(scan.edges), "candidates": len(problem.candidates),
            "build_s": round(t_build, 3), "milp_s": round(milp.seconds, 3), "milp_status": milp.status,
            "milp_solver": milp.solver, "milp_deletions": len(milp.parent_of),
            "greedy_s": round(greedy.seconds, 4), "greedy_deletions": len(greedy.parent_of),
            "greedy_excess": (greedy.objective - milp.objective) / milp.objective if milp.objective else 0.0}


def bench_recipe(rows: int, seed: int = 0) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from prunekit.lake.exact import table_difference
    from prunekit.lake.recipe import build_recipe, rebuild
    from prunekit.lake.table_layout import write_like
    from prunekit.lake.tableio import read_table

    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(size=rows), 3)
    x[rng.integers(0, rows, rows // 100)] = np.nan
    x[rng.integers(0, rows, rows // 100)] = -0.0
    parent = pa.table({"id": pa.array(np.arange(rows)), "x": pa.array(x),
                       "s": pa.array([f"s{i % 5000}" for i in range(rows)]),
                       "k": pa.array(rng.integers(0, 1000, rows).astype(np.int32))})
    idx = rng.choice(rows, size=int(rows * 0.3), replace=False)
    child = parent.take(pa.array(idx)).select(["k", "s", "x", "id"])
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        pq.write_table(parent, d / "parent.parquet")
        pq.write_table(child, d / "child.parquet")
        t0 = time.perf_counter()
        r = build_recipe(d / "child.parquet", d / "parent.parquet", root=d)
        t_build = time.perf_counter() - t0
        t0 = time.perf_counter()
        t = rebuild(r, root=d)
        t_rebuild = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_like(t, r.child, d / "restored.parquet", verify=True)
        t_write = time.perf_counter() - t0
        assert table_difference(read_table(d / "child.parquet"), read_table(d / "restored.parquet")) is None
    return {"parent_rows": rows, "child_rows": len(idx), "build_recipe_s": round(t_build, 3),
            "rebuild_s": round(t_rebuild, 3), "write_verified_s": round(t_write, 3),
            "build_rows_per_s": round(len(idx) / t_build)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", type=int, nargs="+", default=[100, 1000, 5000])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=HERE / "results_lake_plan.json")
    a = ap.parse_args(argv)
    results = {"plan": [], "recipe": None}
    for n in a.tables:
        r = bench_plan(n)
        print(json.dumps(r), flush=True)
        results["plan"].append(r)
    results["recipe"] = bench_recipe(a.rows)
    print(json.dumps(results["recipe"]), flush=True)
    from prunekit.io.atomic import atomic_path

    with atomic_path(a.out) as tmp:
        tmp.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
