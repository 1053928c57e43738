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
    res = {"epoch_seconds_median": float(np.median(base)), "recorded_epoch_seconds_median": float(np.median(rec)),
           "overhead_median_percent": float(100 * (np.median(ratios) - 1)), "pairs": a.pairs}
    print(f"median overhead: {res['overhead_median_percent']:+.2f}% of an epoch "
          f"({res['epoch_seconds_median']:.2f}s per epoch, 4000 examples, batch 128)")
    a.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
