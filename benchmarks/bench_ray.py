"""Benchmark: the geometry pipeline (prototypicality + SemDeDup eps 0.05 + density, k = 1000, then
DBP keep 0.3 with dedup) on 1 M × 384 float32, local engine vs the Ray engine with 1 and 2 workers,
per stage, in the same run; the artefacts must be identical (asserted).

The local engine scores the one memory-mapped .npy (bench_geometry.py's cached mixture); the Ray
engine scores the same rows split into ``--shards`` .npy shards (written once next to it). Each
pipeline runs in its own child process (its own Ray, started with ``num_cpus`` = workers; the
start-up is reported apart). Also measures the per-row costs the cost model of docs/BENCHMARKS.md
uses.

    python benchmarks/bench_ray.py --json benchmarks/results_ray.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_geometry import CACHE, D, EPS, K, KEEP, make_data  # noqa: E402

METHODS = ["prototypicality", "semdedup", "density"]

LOCAL_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from prunekit.io import read_examples
from prunekit.data import score, select
ex = read_examples(sys.argv[1])
t1 = time.perf_counter(); ex.identity; t2 = time.perf_counter()
table = score(ex, %r, k=int(sys.argv[2]), eps=float(sys.argv[3]), show_progress=False)
t3 = time.perf_counter()
sel = select(table, "dbp", float(sys.argv[4]), dedup=True)
table.write(sys.argv[5]); sel.write(sys.argv[6])
t4 = time.perf_counter()
runs = {r["method"]: r["seconds"] for r in table.meta["scorers"]}
stages = {"identity": t2 - t1, "centroids+assign": runs["prototypicality"], "dedup": runs["semdedup"],
          "merge": (t4 - t3) + runs["density"]}
print(json.dumps({"total_s": t4 - t1, "stages": stages}))
""" % (METHODS,)

RAY_CHILD = r"""
import json, sys, time
import ray
from prunekit.data.engines import score_shards
w = int(sys.argv[7])
t0 = time.perf_counter()
ray.init(num_cpus=w, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
t1 = time.perf_counter()
run = score_shards(sys.argv[1], %r, sys.argv[5], engine="ray", workers=w, k=int(sys.argv[2]),
                   eps=float(sys.argv[3]), show_progress=False,
                   selection={"out": sys.argv[6], "method": "dbp", "keep": float(sys.argv[4]), "dedup": True})
t2 = time.perf_counter()
ray.shutdown()
print(json.dumps({"total_s": t2 - t1, "ray_start_s": t1 - t0, "stages": run.seconds}))
""" % (METHODS,)


def shard(path: Path, n_shards: int) -> Path:
    """The rows of ``path`` split into ``n_shards`` .npy files (written once)."""
    X = np.load(path, mmap_mode="r")
    out = CACHE / f"{path.stem}_{n_shards}shards"
    if out.exists() and len(list(out.glob("*.npy"))) == n_shards:
        return out
    out.mkdir(exist_ok=True)
    cuts = np.linspace(0, len(X), n_shards + 1).astype(int)
    for i, (a, b) in enumerate(zip(cuts, cuts[1:])):
        np.save(out / f"part-{i:05d}.npy", np.asarray(X[a:b]))
    return out


def child(code: str, args: list[str]) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, check=True)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["process_s"] = time.perf_counter() - t0
    return res


def same_artefacts(a: Path, b: Path) -> bool:
    """Equal columns and metadata; only where the data was read from and the seconds may differ."""
    import pyarrow.parquet as pq

    ta, tb = pq.read_table(a), pq.read_table(b)
    if ta.schema.names != tb.schema.names or not all(ta.column(c).equals(tb.column(c)) for c in ta.schema.names):
        return False
    ma, mb = (json.loads(t.schema.metadata[b"prunekit"]) for t in (ta, tb))
    for m in (ma, mb):
        m.pop("source")
        for r in m["scorers"]:
            r.pop("seconds")
    return ma == mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--shards", type=int, default=16)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    data = make_data(a.n)
    shards = shard(data, a.shards)
    out = CACHE / "ray-bench"
    out.mkdir(exist_ok=True)
    results: dict = {"n": a.n, "dim": D, "k": K, "shards": a.shards, "load_before": os.getloadavg()}
    common = [str(K), str(EPS), str(KEEP)]
    r = child(LOCAL_CHILD, [str(data), *common, str(out / "local-scores.parquet"), str(out / "local-sel.parquet")])
    results["local"] = r
    print(f"local: {r['total_s']:.1f}s {json.dumps({k: round(v, 2) for k, v in r['stages'].items()})}", flush=True)
    for w in a.workers:
        sc, se = out / f"ray{w}-scores.parquet", out / f"ray{w}-sel.parquet"
        r = child(RAY_CHILD, [str(shards), *common, str(sc), str(se), str(w)])
        r["identical"] = same_artefacts(out / "local-scores.parquet", sc) and same_artefacts(out / "local-sel.parquet", se)
        results[f"ray{w}"] = r
        print(f"ray, {w} worker(s): {r['total_s']:.1f}s (+ Ray start {r['ray_start_s']:.1f}s) "
              f"{json.dumps(r['stages'])} identical={r['identical']}", flush=True)
        assert r["identical"], "the Ray engine's artefacts differ from the local engine's"
    # the cost model's inputs: microseconds per row and worker core of each distributed stage, and
    # per row of the driver's merge, from the 1-worker run
    one = results.get("ray1")
    if one:
        st = one["stages"]
        results["per_row_us"] = {"assign": st["assign"] / a.n * 1e6, "dedup": st["dedup"] / a.n * 1e6,
                                 "merge": st["merge"] / a.n * 1e6,
                                 "identity_gb_per_s": a.n * D * 4 / 1e9 / st["identity"]}
        print("per row (1 worker): " + json.dumps({k: round(v, 2) for k, v in results["per_row_us"].items()}))
    results["load_after"] = os.getloadavg()
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
