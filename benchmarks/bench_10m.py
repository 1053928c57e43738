"""Benchmark: the local geometry pipeline at 1 M and 10 M × 384 float32 in one run (issue 13 §3).

The pipeline of ``bench_geometry.py`` — ``read_examples`` (memory-mapped ``.npy``) →
``score(["prototypicality", "semdedup", "density"], k, eps=0.05, sample=100,000, niter=20)`` →
``select("dbp", keep=0.3, dedup=True)`` — on the same generator's data (a 1000-component Gaussian
mixture with 5 % planted near-duplicates, written in chunks to ``benchmarks/.cache/``, never whole
in memory), each size in its own child process so that wall time and peak memory are its own.

Per stage: identity digest, k-means fit (sample gather + faiss), assignment of every row,
SemDeDup (collect, or spill in cluster order + read back; per-cluster products), DBP statistics,
selection. Memory, per child:

- ``peak_rss_mb``: ``VmHWM`` of the child — its peak resident set, anonymous *and* file-backed
  pages (the definition of ``tests/data/scores/test_streaming.py``; the matrix is read with
  positional reads, so mapped file pages would only show up here if something touched the map);
- ``peak_anon_mb`` / ``peak_file_mb``: peaks of ``RssAnon`` / ``RssFile`` sampled every 0.2 s.

The load average of the machine is sampled every 10 s during each child. Results (and sha-256
digests of the artefact columns, to compare runs of different code) go to ``--json`` after every
size, so an interrupted run keeps what it measured.

    python benchmarks/bench_10m.py --json benchmarks/results_10m.json          # 1 M then 10 M
    python benchmarks/bench_10m.py --sizes 1000000,2000000                      # estimate first
    python benchmarks/bench_10m.py --stub-products --sizes 10000000              # all but the products
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_geometry import EPS, KEEP, D, make_data  # noqa: E402  (the same data generator)

CHILD = r"""
import hashlib, json, os, sys, threading, time
import numpy as np

def status():
    out = {}
    for line in open("/proc/self/status"):
        k, _, v = line.partition(":")
        if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            out[k] = int(v.split()[0])
    return out

path, k, eps, keep, sample, niter = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
memory = int(sys.argv[7]) if len(sys.argv) > 7 else None  # SemDeDup's group budget (None: its default)
peak = {"RssAnon": 0, "RssFile": 0}
progress = {"stage": "import", "rows": 0, "n": 0}
T0 = time.perf_counter()

def sampler():
    last = 0.0
    while True:
        s = status()
        for key in peak:
            peak[key] = max(peak[key], s[key])
        now = time.perf_counter() - T0
        if now - last >= 30:
            last = now
            print(f"[{now:7.0f}s] {progress['stage']} rows {progress['rows']:,}/{progress['n']:,} "
                  f"RSS {s['VmRSS'] / 1024:.0f} MB (anon {s['RssAnon'] / 1024:.0f}, file {s['RssFile'] / 1024:.0f}) "
                  f"HWM {s['VmHWM'] / 1024:.0f} MB load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
        time.sleep(0.2)

threading.Thread(target=sampler, daemon=True).start()

from prunekit.io import read_examples
from prunekit.data import score, select
from prunekit.data.scores import clustering as clmod, semdedup as sdmod
import faiss  # noqa: F401

stages = {}
def timed(mod, name, key, count=None):
    fn = getattr(mod, name)
    def wrapper(*a, **kw):
        t = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            stages[key] = stages.get(key, 0.0) + time.perf_counter() - t
            if count is not None:
                progress["rows"] += count(*a)
    setattr(mod, name, wrapper)

timed(clmod, "fit_centroids", "kmeans_fit_faiss")
timed(clmod, "gather_rows", "kmeans_sample_gather")
timed(sdmod, "_collect", "semdedup_collect")
if hasattr(sdmod, "_spill_by_cluster"):
    timed(sdmod, "_spill_by_cluster", "semdedup_spill")
    timed(sdmod, "_read_spilled", "semdedup_read_spilled")
if os.environ.get("BENCH_STUB_PRODUCTS") == "1":  # diagnostic: everything but the pairwise products
    sdmod.dedup_members = lambda rows, *a, **kw: (np.full(len(rows), -1, np.int64), np.full(len(rows), -1.0, np.float32))
timed(sdmod, "dedup_members", "semdedup_products_thread_s", count=lambda rows, *a: len(rows))  # summed over threads
if hasattr(sdmod, "_ClusterPool"):  # clusters run in parallel threads: the products' wall time is the pool's
    timed(sdmod._ClusterPool, "run", "semdedup_products")

t1 = time.perf_counter()
ex = read_examples(path)
n = len(ex)
progress.update(stage="identity", n=n)
t = time.perf_counter(); ident = ex.identity; stages["identity"] = time.perf_counter() - t
progress.update(stage="prototypicality (k-means fit + assign)")
table_t = time.perf_counter()

orig_semdedup = sdmod.semdedup
def semdedup_logged(*a, **kw):
    progress.update(stage="semdedup", rows=0)
    return orig_semdedup(*a, **kw)
sdmod.semdedup = semdedup_logged

table = score(ex, ["prototypicality", "semdedup", "density"], k=k, eps=eps, sample=sample, niter=niter,
              memory=memory, show_progress=False)
progress.update(stage="select")
t = time.perf_counter()
sel = select(table, "dbp", keep, dedup=True)
stages["select_dbp"] = time.perf_counter() - t
t2 = time.perf_counter()
runs = {r["method"]: r["seconds"] for r in table.meta["scorers"]}
stages["prototypicality (fit + assign)"] = runs["prototypicality"]
stages["kmeans_assign"] = runs["prototypicality"] - stages["kmeans_fit_faiss"] - stages["kmeans_sample_gather"]
stages["semdedup"] = runs["semdedup"]
stages["density"] = runs["density"]

def digest(a):
    a = np.asarray(a)
    if a.dtype == object:
        return hashlib.sha256("\x00".join("" if v is None else v for v in a.tolist()).encode()).hexdigest()[:16]
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]

arts = {"cluster": digest(table.cluster), "duplicate_of": digest(table.duplicate_of),
        "keep": digest(sel.keep), "reason": digest(sel.reason),
        **{f"score:{c}": digest(table.scores[c]) for c in sorted(table.scores)}}
s = status()
print(json.dumps({"n": n, "pipeline_s": t2 - t1, "import_s": t1 - T0, "stages": stages,
                  "peak_rss_kb": s["VmHWM"], "peak_anon_kb": peak["RssAnon"], "peak_file_kb": peak["RssFile"],
                  "kept": int(sel.keep.sum()), "duplicates": int((table.duplicate_of >= 0).sum()),
                  "identity": ident.to_dict(), "artefact_sha256": arts}))
"""


def run_child(path: Path, args: list[str], stub_products: bool = False) -> dict:
    loads: list[float] = []
    done = threading.Event()

    def sample_load() -> None:
        while not done.is_set():
            loads.append(os.getloadavg()[0])
            done.wait(10)

    th = threading.Thread(target=sample_load, daemon=True)
    th.start()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), *args], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PRUNEKIT_PROGRESS": "0",
                                 "BENCH_STUB_PRODUCTS": "1" if stub_products else "0"})
    out = proc.stdout.read()
    _, status, _ = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    done.set()
    th.join()
    if status != 0:
        raise SystemExit(f"child failed with status {status}")
    res = json.loads(out.strip().splitlines()[-1])
    res["wall_s"] = wall
    for key in ("peak_rss", "peak_anon", "peak_file"):
        res[f"{key}_mb"] = res.pop(f"{key}_kb") / 1024
    res["load_average_1min"] = {"min": min(loads), "mean": sum(loads) / len(loads), "max": max(loads),
                                "samples": len(loads)}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000,10000000", help="comma-separated N, run in this order")
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument("--sample", type=int, default=100_000, help="k-means fit sample")
    ap.add_argument("--niter", type=int, default=20)
    ap.add_argument("--json", type=Path, help="write the results here (after every size)")
    ap.add_argument("--memory", type=int, help="SemDeDup's memory budget in bytes (default: the library's, 1 GiB)")
    ap.add_argument("--stub-products", action="store_true",
                    help="diagnostic: replace SemDeDup's per-cluster products by a no-op (finds no duplicates) "
                         "to time and measure everything else")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    results: dict = {"config": {"d": D, "k": a.k, "eps": EPS, "keep": KEEP, "sample": a.sample, "niter": a.niter,
                                "stub_products": a.stub_products, "memory": a.memory, "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M")}, "runs": {}}
    for n in sizes:
        path = make_data(n)
        args = [str(a.k), str(EPS), str(KEEP), str(a.sample), str(a.niter)] + ([str(a.memory)] if a.memory else [])
        r = run_child(path, args, a.stub_products)
        r["matrix_mb"] = n * D * 4 / 2**20
        results["runs"][str(n)] = r
        st = ", ".join(f"{k} {v:.1f}s" for k, v in r["stages"].items())
        print(f"N={n:>11,}: pipeline {r['pipeline_s']:7.1f}s (process {r['wall_s']:7.1f}s), peak RSS (VmHWM) "
              f"{r['peak_rss_mb']:6.0f} MB (anon {r['peak_anon_mb']:.0f}, file {r['peak_file_mb']:.0f}), "
              f"matrix {r['matrix_mb']:.0f} MB, load {r['load_average_1min']['mean']:.1f}; "
              f"duplicates {r['duplicates']:,}, kept {r['kept']:,}\n    {st}", flush=True)
        if len(results["runs"]) > 1:
            first = results["runs"][str(sizes[0])]
            results["ratio_to_first"] = {str(m): results["runs"][str(m)]["pipeline_s"] / first["pipeline_s"]
                                         for m in sizes if str(m) in results["runs"]}
            print(f"    wall ratio to N={sizes[0]:,}: {results['ratio_to_first'][str(n)]:.2f}× "
                  f"(size ratio {n / sizes[0]:.1f}×)", flush=True)
        if a.json:
            a.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
