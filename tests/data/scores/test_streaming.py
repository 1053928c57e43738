"""Scoring streams over a memory-mapped matrix: resident memory stays far below the file size."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from numpy.lib.format import open_memmap

from peak_rss import PEAK_KB

CHILD = PEAK_KB + r"""
import json, sys
import numpy as np

from prunekit.io import read_examples
from prunekit.data import score, select
import faiss  # loaded before the baseline is taken
base = peak_kb()
ex = read_examples(sys.argv[1])
t = score(ex, ["prototypicality", "semdedup", "density"], k=300, sample=20000, niter=5, memory=64 << 20,
          show_progress=False)
s = select(t, "dbp", 0.3, dedup=True)
peak = peak_kb()
print(json.dumps({"base_kb": base, "peak_kb": peak, "kept": int(s.keep.sum()),
                  "dups": int((t.duplicate_of >= 0).sum()), "memmap": isinstance(ex.embeddings, np.memmap)}))
"""


def _write(path, n: int, d: int) -> None:
    X = open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((300, d)).astype(np.float32)
    for s in range(0, n, 50_000):
        m = min(50_000, n - s)
        X[s : s + m] = centers[rng.integers(0, 300, m)] + rng.standard_normal((m, d), dtype=np.float32)
    X[n - 100 :] = X[:100]  # 100 planted exact duplicates
    X.flush()
    del X


def _growth_mb(path) -> tuple[float, dict]:
    env = {**os.environ, "PRUNEKIT_PROGRESS": "0"}
    r = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    return (res["peak_kb"] - res["base_kb"]) / 1024, res


@pytest.mark.slow
def test_memmap_scoring_memory_does_not_grow_with_the_file(tmp_path):
    """Peak resident memory minus the fixed overheads (BLAS buffers, k-means on the sample, one
    SemDeDup group) must not follow the file: tripling N adds only the per-row bookkeeping."""
    d = 512
    sizes = (100_000, 300_000)
    growth = {}
    for n in sizes:
        path = tmp_path / f"x{n}.npy"
        _write(path, n, d)
        growth[n], res = _growth_mb(path)
        assert res["memmap"] and res["kept"] == int(round(0.3 * n))
        assert res["dups"] >= 100
        path.unlink()
    file_diff_mb = (sizes[1] - sizes[0]) * d * 4 / 2**20  # 391 MiB
    # Without streaming the difference would be at least the file difference.
    assert growth[sizes[1]] - growth[sizes[0]] < 0.25 * file_diff_mb, growth
