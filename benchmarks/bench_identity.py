"""Benchmark: the cost of recording a data set's identity (rows, ids digest, content digest) that
every score table carries, on N × 384 float32 embeddings in a memory-mapped .npy.

Compared in the same run against two floors and the work it accompanies:
- ``read``: one positional-read pass over the file (what any streaming consumer pays);
- ``sha256 raw``: that pass plus SHA-256 of the raw float32 bytes (the cheapest content digest);
- ``identity``: prunekit's digest (float64 values, so every file format agrees, plus ids/labels);
- ``score`` (with --score): prototypicality + SemDeDup + density with k = 1000, the geometry
  pipeline whose tables record the identity.

Pass times are best of --repeat, page cache warm. Ratios, not seconds, are the result.

    python benchmarks/bench_identity.py                  # 1M rows, floors only
    python benchmarks/bench_identity.py --score          # and the scoring it accompanies
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_geometry import make_data  # noqa: E402


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--score", action="store_true")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results_identity.json"))
    a = ap.parse_args()

    from prunekit.io import read_examples
    from prunekit.io.arrays import iter_raw_blocks
    from prunekit.io.identity import block_rows, compute_identity

    path = make_data(a.n)
    ex = read_examples(path)
    X = ex.embeddings
    rows = block_rows(X.shape[1])

    def read_pass():
        for _ in iter_raw_blocks(X, rows):
            pass

    def raw_hash():
        h = hashlib.sha256()
        for _, _, b in iter_raw_blocks(X, rows):
            h.update(b)
        return h.hexdigest()

    read_pass()  # warm the page cache
    res = {"n": a.n, "dim": int(X.shape[1]), "file_mb": round(path.stat().st_size / 2**20, 1)}
    res["read_s"] = best(read_pass, a.repeat)
    res["sha256_raw_s"] = best(raw_hash, a.repeat)
    res["identity_s"] = best(lambda: compute_identity(X, ex.labels, ex.ids), a.repeat)
    res["identity_over_read"] = round(res["identity_s"] / res["read_s"], 2)
    res["identity_over_sha256_raw"] = round(res["identity_s"] / res["sha256_raw_s"], 2)
    if a.score:
        from prunekit.data import score

        t0 = time.perf_counter()
        score(ex, ["prototypicality", "semdedup", "density"], k=1000, show_progress=False)
        res["score_s"] = time.perf_counter() - t0  # includes one identity computation
        res["identity_share_of_score"] = round(res["identity_s"] / res["score_s"], 3)
    for k, v in res.items():
        if k.endswith("_s"):
            res[k] = round(v, 3)
    print(json.dumps(res, indent=1))
    a.out.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
