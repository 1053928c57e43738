"""Benchmark: SemDeDup's per-cluster products against their physical floor, the matrix products alone.

SemDeDup compares every member of a cluster with every earlier member (``msim``, the largest
similarity to any earlier member, is an output, so no pair can be skipped): a cluster of m rows
costs about m² · D multiply-adds, and at a fixed k the mean cluster grows with N. This runs
``semdedup.dedup_members`` (products, masking, maxima, the greedy keep) on several clusters of
unit rows the way the local engine does — one BLAS thread per cluster, clusters in parallel on
the machine's BLAS threads — and in the same run the bare blocked products ``E[b:e] @ E[:e].T`` of
the same clusters, the same way: the work SemDeDup cannot avoid. Cluster sizes: the mean sizes of
the 1 M and 10 M runs of ``bench_10m.py`` (k = 1000).

    python benchmarks/bench_semdedup_floor.py --json benchmarks/results_semdedup_floor.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from prunekit.data.scores.semdedup import _ClusterPool, blas_threads, dedup_members, one_blas_thread

D, BLOCK = 384, 256


def timed(fn, reps: int) -> float:
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000", help="cluster sizes (rows)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    out: dict = {"d": D, "block": BLOCK, "cpus": os.cpu_count(), "load_before": os.getloadavg(), "sizes": {}}
    threads = blas_threads()
    out["threads"] = threads
    for m in (int(s) for s in a.sizes.split(",")):
        n_clusters = 2 * threads  # enough to keep every thread busy
        Es = []
        for _ in range(n_clusters):
            E = rng.standard_normal((m, D)).astype(np.float32)
            Es.append(E / np.linalg.norm(E, axis=1, keepdims=True))
        rows = np.arange(m)
        dist = rng.random(m).astype(np.float32)
        reps = max(2, int(2e10 / (n_clusters * m * m * D)))
        flops = n_clusters * sum(2 * (min(m, b + BLOCK) - b) * min(m, b + BLOCK) * D for b in range(0, m, BLOCK))

        def products(c: int) -> None:
            E = Es[c]
            for b in range(0, m, BLOCK):
                e = min(m, b + BLOCK)
                E[b:e] @ E[:e].T

        def dedup(c: int) -> None:
            dedup_members(rows, dist, Es[c], c, eps=0.05, policy="hard", seed=0, block=BLOCK)

        def run(fn):
            return lambda: pool.run(fn, list(range(n_clusters)))

        with _ClusterPool(threads) as pool, one_blas_thread():
            full = timed(run(dedup), reps)
            floor = timed(run(products), reps)
        r = {"clusters": n_clusters, "seconds": full, "products_only_seconds": floor, "ratio_to_floor": full / floor,
             "gflops": flops / full / 1e9, "products_gflops": flops / floor / 1e9,
             "us_per_row": full / (n_clusters * m) * 1e6}
        out["sizes"][str(m)] = r
        print(f"{n_clusters} clusters of {m:>6,} rows on {threads} threads: {full * 1e3:8.1f} ms "
              f"({r['gflops']:.0f} GFLOP/s, {r['us_per_row']:.1f} µs/row); products alone {floor * 1e3:8.1f} ms "
              f"({r['products_gflops']:.0f} GFLOP/s): {r['ratio_to_floor']:.2f}× the floor", flush=True)
    s = sorted(out["sizes"], key=int)
    if len(s) > 1:
        lo, hi = out["sizes"][s[0]], out["sizes"][s[-1]]
        out["per_row_growth"] = hi["us_per_row"] / lo["us_per_row"]
        print(f"per-row cost grows {out['per_row_growth']:.1f}× from {int(s[0]):,} to {int(s[-1]):,} rows per cluster")
    out["load_after"] = os.getloadavg()
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
