"""Overhead of the training-dynamics Recorder: one epoch of the small CNN on MNIST-5k with and
without recording every batch, interleaved (A B A B …) so machine noise hits both alike; the
reported overhead is the median of the per-pair ratios.

    python benchmarks/bench_recorder.py --pairs 5
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from prunekit.data.scores.dynamics import Recorder
from prunekit.data.train import TrainConfig, fit
from prunekit.datasets import load

HERE = Path(__file__).resolve().parent


def one_epoch(ds, record: bool, seed: int) -> float:
    rec = Recorder(len(ds.X_train), 10) if record else None
    r = fit(ds.X_train, ds.y_train, TrainConfig(model="cnn", epochs=1, seed=seed), n_classes=10, recorder=rec,
            show_progress=False)
    return r.seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--json", type=Path, default=HERE / "results_recorder.json")
    a = ap.parse_args()
    ds = load("mnist5k")
    one_epoch(ds, False, 0)  # warm-up (allocations, thread pools)
    ratios, base, rec = [], [], []
    for i in range(a.pairs):
        order = (False, True) if i % 2 == 0 else (True, False)
        t = {flag: one_epoch(ds, flag, i) for flag in order}
        base.append(t[False])
        rec.append(t[True])
        ratios.append(t[True] / t[False])
        print(f"pair {i}: epoch {t[False]:.3f}s, with recorder {t[True]:.3f}s ({100 * (ratios[-1] - 1):+.2f}%)", flush=True)
    # The same question asked directly, with far less noise: the cost of one record() call on a
    # training batch against the cost of one training step.
    import torch

    r = Recorder(len(ds.X_train), 10)
    z = torch.randn(128, 10)
    yb = torch.from_numpy(np.array(ds.y_train[:128]))
    bi = torch.arange(128)
    for _ in range(100):
        r.record(bi, z, yb, 0)
    t0 = time.perf_counter()
    for _ in range(2000):
        r.record(bi, z, yb, 1)
    per_call = (time.perf_counter() - t0) / 2000
    steps = int(np.ceil(len(ds.X_train) / 128))
    per_step = float(np.median(base)) / steps
    res = {"epoch_seconds_median": float(np.median(base)), "recorded_epoch_seconds_median": float(np.median(rec)),
           "overhead_median_percent": float(100 * (np.median(ratios) - 1)), "pairs": a.pairs,
           "record_call_us": per_call * 1e6, "train_step_ms": per_step * 1e3,
           "record_over_step_percent": 100 * per_call / per_step}
    print(f"median overhead: {res['overhead_median_percent']:+.2f}% of an epoch "
          f"({res['epoch_seconds_median']:.2f}s per epoch, 4000 examples, batch 128)")
    print(f"one record() call: {res['record_call_us']:.0f} µs; one training step: {res['train_step_ms']:.1f} ms "
          f"→ {res['record_over_step_percent']:.2f}% per step")
    a.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
