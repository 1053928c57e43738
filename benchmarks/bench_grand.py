"""Benchmark: GraNd's two batched methods — ``factored`` (per-layer norms from layer inputs and
output gradients) and ``vmap`` (torch.func ``vmap(grad)`` per-example gradients) — against a
per-example autograd loop, on MNIST-5k (4000 training images, 784-d) with the small CNN and the MLP
of ``prunekit.data.train.models`` (``make_model(name, 784, 10, seed=0)``) at initialisation. (The
Recorder's overhead has its own benchmark, ``bench_recorder.py``.)

Both methods run on all 4000 examples (best of 2). The reference loop runs on the first ``--ref-n``
(default 1000) and its time is scaled per example to 4000 (printed as such); values are compared on
those rows (max relative error). Results go to ``benchmarks/results_grand.json``.

The script waits (up to ``--wait`` seconds) for the 1-minute load average to drop below 1.0 so it
does not time against another heavy job.

    python benchmarks/bench_grand.py
    python benchmarks/bench_grand.py --ref-n 4000      # the reference on every example (slow)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def wait_for_quiet_machine(max_wait: float, threshold: float = 1.0) -> float:
    t0 = time.time()
    while os.getloadavg()[0] >= threshold and time.time() - t0 < max_wait:
        time.sleep(10)
    return os.getloadavg()[0]


def make(name: str, seed: int = 0):
    """``make_model(name, 784, 10, seed)`` from the trainer package, or (CNN only, if that package
    is missing) an equivalent local CNN."""
    try:
        from prunekit.data.train.models import make_model

        return make_model(name, 784, 10, seed=seed), f"prunekit.data.train.models {name}"
    except ImportError:  # the trainer package is not there: an equivalent CNN
        import torch
        from torch import nn

        if name != "cnn":
            raise
        torch.manual_seed(seed)

        class CNN(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(
                    nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(),
                )
                self.head = nn.Linear(128, 10)

            def features(self, x):
                return self.body(x.reshape(-1, 1, 28, 28))

            def forward(self, x):
                return self.head(self.features(x))

        return CNN(), "benchmark-local cnn (16-32 conv, 128 fc)"


def best_of(k: int, fn):
    best, out = float("inf"), None
    for _ in range(k):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench_model(name: str, X, y, ref_n: int, batch_size: int) -> dict:
    from prunekit.data.scores.dynamics import grand, grand_last_layer, grand_reference

    n = len(y)
    model, label = make(name, 0)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"\n{label}: {n_params:,} parameters")
    for m in ("factored", "vmap"):  # warm-up (the first vmap call traces)
        grand(model, X[:64], y[:64], batch_size=64, method=m)
    grand_reference(model, X[:16], y[:16])

    t_ref_sub, ref = best_of(1, lambda: grand_reference(model, X[:ref_n], y[:ref_n]))
    t_ref = t_ref_sub * n / ref_n
    scaled = "" if ref_n == n else f"  (measured on {ref_n} examples: {t_ref_sub:.2f} s, scaled per example)"
    print(f"  grand_reference (loop)       {t_ref:8.2f} s for {n}{scaled}")
    row = {"model": label, "n_parameters": int(n_params), "grand_reference_s": t_ref,
           "grand_reference_measured_n": ref_n, "grand_reference_measured_s": t_ref_sub,
           "reference_scaled": ref_n != n}
    results = {}
    for m in ("factored", "vmap"):
        t, v = best_of(2, lambda: grand(model, X, y, batch_size=batch_size, method=m))
        rel = float((np.abs(v[:ref_n] - ref) / np.abs(ref)).max())
        results[m] = v
        row[m] = {"seconds": t, "ms_per_example": 1e3 * t / n, "speedup": t_ref / t, "max_rel_error": rel}
        print(f"  grand method={m:9s}        {t:8.2f} s for {n}  ({1e3 * t / n:.3f} ms/example)   "
              f"speed-up {t_ref / t:6.1f}x   max rel. error {rel:.1e}")
    t_last, last = best_of(2, lambda: grand_last_layer(model, X, y))
    row["grand_last_layer"] = {"seconds": t_last, "spearman_vs_grand": _spearman(results["factored"], last)}
    print(f"  grand_last_layer             {t_last:8.2f} s for {n}  (a different score: Spearman "
          f"{_spearman(results['factored'], last):.3f} with grand)")
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref-n", type=int, default=1000, help="examples the reference loop runs on (>= 500)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--models", default="cnn,mlp", help="comma-separated make_model names")
    ap.add_argument("--wait", type=float, default=600.0, help="max seconds to wait for load < 1.0")
    ap.add_argument("--json", type=Path, default=HERE / "results_grand.json")
    a = ap.parse_args()

    import torch

    from prunekit.datasets import load
    from prunekit.io.atomic import atomic_path

    ds = load("mnist5k")
    X, y = np.ascontiguousarray(ds.X_train), np.ascontiguousarray(ds.y_train)
    n = len(y)
    ref_n = max(500, min(a.ref_n, n))
    load_before = wait_for_quiet_machine(a.wait)
    print(f"MNIST-5k train: {n} × {X.shape[1]}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs; 1-min load average {load_before:.2f}; batch {a.batch_size}")
    rows = [bench_model(name, X, y, ref_n, a.batch_size) for name in a.models.split(",")]
    results = {
        "data": "mnist5k train (4000 x 784)", "n": n, "batch_size": a.batch_size,
        "torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "platform": platform.platform(), "load_avg_1min_at_start": round(load_before, 2),
        "models": rows, "load_avg_1min_at_end": round(os.getloadavg()[0], 2),
    }
    with atomic_path(a.json) as tmp:
        tmp.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwrote {a.json}")


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


if __name__ == "__main__":
    main()
