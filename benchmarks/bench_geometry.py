"""Benchmark: prototypicality + SemDeDup (eps 0.05) + DBP selection at keep 0.3 on N × 384 float32
embeddings read from a memory-mapped .npy, k = 1000 — against a straightforward reference
(scikit-learn KMeans fitted on all rows + dense NumPy cosine matrix per cluster) in the same run.

Each pipeline runs in its own child process so wall time and peak RSS (ru_maxrss of that child)
are its own. The data is a Gaussian mixture (1000 components) with 5% planted near-duplicates,
generated once and cached under benchmarks/.cache/.

    python benchmarks/bench_geometry.py                 # prunekit at 1M, both at 200k (ratio)
    python benchmarks/bench_geometry.py --n 1000000 --ref-n 1000000   # reference at 1M too (slow)
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

CACHE = Path(__file__).resolve().parent / ".cache"
D, K, EPS, KEEP, COMPONENTS = 384, 1000, 0.05, 0.3, 1000


def make_data(n: int, seed: int = 0) -> Path:
    """N × 384 float32 mixture with 5% planted near-duplicates, written in chunks (bounded memory)."""
    from numpy.lib.format import open_memmap

    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"mixture_{n}x{D}_s{seed}.npy"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((COMPONENTS, D)).astype(np.float32)
    tmp = path.with_suffix(".tmp.npy")
    X = open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, D))
    step = 100_000
    for s in range(0, n, step):
        e = min(n, s + step)
        comp = rng.integers(0, COMPONENTS, e - s)
        X[s:e] = centers[comp] + 0.5 * rng.standard_normal((e - s, D), dtype=np.float32)
    n_dup = n // 20
    src = rng.integers(0, n, n_dup)
    dst = rng.choice(n, n_dup, replace=False)
    for s in range(0, n_dup, step):
        sl = slice(s, s + step)
        X[np.sort(dst[sl])] = X[src[sl]][np.argsort(dst[sl])] + 0.005 * rng.standard_normal((len(dst[sl]), D), dtype=np.float32)
    X.flush()
    del X
    os.replace(tmp, path)
    return path


HWM = r"""
def peak_rss_kb():
    # VmHWM is this process image's own peak (ru_maxrss would carry the parent's over exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
"""

PRUNEKIT_CHILD = HWM + r"""
import json, sys, time
t0 = time.perf_counter()
from prunekit.io import read_examples
from prunekit.data import score, select
t1 = time.perf_counter()
ex = read_examples(sys.argv[1])
table = score(ex, ["prototypicality", "semdedup", "density"], k=int(sys.argv[2]), eps=float(sys.argv[3]),
              sample=int(sys.argv[5]), niter=int(sys.argv[6]), show_progress=False)
sel = select(table, "dbp", float(sys.argv[4]), dedup=True)
t2 = time.perf_counter()
runs = {r["method"]: r["seconds"] for r in table.meta["scorers"]}
print(json.dumps({"peak_rss_kb": peak_rss_kb(), "pipeline_s": t2 - t1, "import_s": t1 - t0, "kept": int(sel.keep.sum()),
                  "duplicates": int((table.duplicate_of >= 0).sum()), "stages": runs,
                  "dup": table.duplicate_of.tolist() if len(table) <= 200000 else None}))
"""

REFERENCE_CHILD = HWM + r"""
import json, sys, time
import numpy as np
t0 = time.perf_counter()
from sklearn.cluster import KMeans
t1 = time.perf_counter()
X = np.load(sys.argv[1])                       # the whole matrix in memory
k, eps, keep, niter = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[6])
Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
km = KMeans(n_clusters=k, n_init=1, max_iter=niter, tol=0.0, random_state=0).fit(Xn)
C = km.cluster_centers_ / np.linalg.norm(km.cluster_centers_, axis=1, keepdims=True)
assign = km.labels_
dist = 1.0 - np.einsum("ij,ij->i", Xn, C[assign])        # prototypicality
dup = np.full(len(X), -1)
thr = 1.0 - eps
for c in range(k):                                       # dense cosine matrix per cluster
    rows = np.flatnonzero(assign == c)
    rows = rows[np.lexsort((rows, -dist[rows]))]
    S = Xn[rows] @ Xn[rows].T
    kept = np.ones(len(rows), bool)
    for j in range(1, len(rows)):
        cand = np.flatnonzero((S[j, :j] > thr) & kept[:j])
        if len(cand):
            kept[j] = False
            dup[rows[j]] = rows[cand[np.argmax(S[j, cand])]]
# DBP: cluster complexity, softmax quotas (capped projection by bisection), hardest within cluster
sizes = np.bincount(assign[dup < 0], minlength=k)
d_intra = np.bincount(assign, weights=dist, minlength=k) / np.maximum(np.bincount(assign, minlength=k), 1)
CC = 1 - C @ C.T; np.fill_diagonal(CC, np.inf)
d_inter = np.sort(CC, axis=1)[:, :20].mean(1)
cx = d_intra * d_inter
m = int(round(keep * len(X)))
P = np.exp((cx - cx.max()) / 0.5) * (sizes > 0); P /= P.sum()
lb = np.minimum(np.floor(m / (sizes > 0).sum() * 0.5), np.maximum(sizes - 1, 0))
lo, hi = -m, m
for _ in range(200):
    mid = (lo + hi) / 2
    if np.clip(P * m - mid, lb, sizes).sum() > m: lo = mid
    else: hi = mid
x = np.clip(P * m - hi, lb, sizes)
q = np.floor(x).astype(int)
rest = m - q.sum()                                       # largest remainders keep the total exact
frac = np.where(q < sizes, x - q, -1.0)
q[np.argsort(-frac, kind="stable")[:rest]] += 1
t2 = time.perf_counter()
print(json.dumps({"peak_rss_kb": peak_rss_kb(), "pipeline_s": t2 - t1, "import_s": t1 - t0, "kept": int(q.sum()),
                  "duplicates": int((dup >= 0).sum()), "stages": {},
                  "dup": dup.tolist() if len(X) <= 200000 else None}))
"""


def run_child(code: str, args: list[str]) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, _ = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"child failed with status {status}")
    res = json.loads(out.strip().splitlines()[-1])
    res["wall_s"] = wall
    res["peak_rss_mb"] = res.pop("peak_rss_kb") / 1024
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--ref-n", type=int, default=200_000, help="N at which both pipelines run (ratio)")
    ap.add_argument("--sample", type=int, default=100_000, help="prunekit k-means fit sample")
    ap.add_argument("--niter", type=int, default=20)
    ap.add_argument("--json", type=Path, help="also write the results here")
    a = ap.parse_args()
    results = {}
    for label, n, which in [("prunekit", a.n, "pk"), ("prunekit", a.ref_n, "pk"), ("reference", a.ref_n, "ref")]:
        path = make_data(n)
        mb = n * D * 4 / 2**20
        args = [str(path), str(K), str(EPS), str(KEEP), str(a.sample), str(a.niter)]
        r = run_child(PRUNEKIT_CHILD if which == "pk" else REFERENCE_CHILD, args)
        r["matrix_mb"] = mb
        results[f"{label}@{n}"] = r
        print(f"{label:9s} N={n:>9,}: pipeline {r['pipeline_s']:6.1f}s (process {r['wall_s']:6.1f}s), "
              f"peak RSS {r['peak_rss_mb']:7.0f} MB = {r['peak_rss_mb'] / mb:.2f}× the matrix, "
              f"duplicates {r['duplicates']:,}, kept {r['kept']:,}  stages {r['stages']}", flush=True)
    pk, ref = results[f"prunekit@{a.ref_n}"], results[f"reference@{a.ref_n}"]
    agree = None
    if pk.get("dup") is not None and ref.get("dup") is not None:
        # The two k-means differ, so which member of a pair is kept may differ: compare the
        # unordered near-duplicate pairs each pipeline reports.
        def pairs(dup):
            d = np.array(dup)
            r = np.flatnonzero(d >= 0)
            return {(min(i, j), max(i, j)) for i, j in zip(r.tolist(), d[r].tolist())}
        p_pk, p_ref = pairs(pk["dup"]), pairs(ref["dup"])
        agree = len(p_pk & p_ref) / max(1, len(p_pk | p_ref))
    results["pair_jaccard"] = agree
    print(f"speed-up at N={a.ref_n:,}: {ref['pipeline_s'] / pk['pipeline_s']:.1f}× "
          f"(reference {ref['pipeline_s']:.1f}s vs prunekit {pk['pipeline_s']:.1f}s); "
          f"near-duplicate pairs, Jaccard(prunekit, reference): {'n/a' if agree is None else f'{agree:.4f}'}")
    if a.json:
        for r in results.values():
            if isinstance(r, dict):
                r.pop("dup", None)
        a.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
