"""A lake scan on an existing Spark cluster (docs/LAKE.md, "Engines"): profiling, the sample and the
exact verification run as Spark jobs on the session ``spark-submit`` gives; the driver reads no table.

    spark-submit --master local[2] examples/spark_lake_scan.py LAKE OUT            # try it locally
    spark-submit --master yarn --deploy-mode client examples/spark_lake_scan.py s3://bucket/lake OUT

The executors must see the lake at the same path (a shared file system or an object store URI) and
run a Python with prunekit installed (``pip install 'prunekit[spark]'`` on every node, or a packed
environment: ``--archives env.tar.gz#env --conf spark.pyspark.python=./env/bin/python``). OUT is
written on the driver: ``containment.parquet`` and ``containment.json``.
"""

from __future__ import annotations

import argparse

from pyspark.sql import SparkSession

from prunekit.lake.backends.spark_ import SparkVerifier
from prunekit.lake.scan import scan_traced, write_outputs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("lake")
    ap.add_argument("out")
    ap.add_argument("--semantics", default="bag", choices=["bag", "set"])
    ap.add_argument("--cache", default=None, help="profile cache file (default: LAKE/.prunekit/profiles.json)")
    args = ap.parse_args()
    spark = SparkSession.builder.appName("prunekit-lake-scan").getOrCreate()
    try:
        engine = SparkVerifier(session=spark)          # the cluster's session, not a local one
        result, _ = scan_traced(args.lake, semantics=args.semantics, verifier=engine, cache=args.cache)
        paths = write_outputs(result, args.out, graph=False)
        print(f"{len(result.profiles)} tables, {len(result.edges)} containments, "
              f"{len(result.duplicate_groups)} duplicate groups; Spark jobs: {engine.jobs.jobs}; "
              f"wrote {paths['parquet']}")
    finally:
        spark.stop()


if __name__ == "__main__":
    main()
