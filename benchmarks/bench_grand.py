"""Benchmark: GraNd with torch.func (``vmap(grad)``, batched) against a per-example autograd loop,
on MNIST-5k (4000 training images, 784-d) with the small CNN of ``prunekit.data.train.models``
(``make_model("cnn", 784, 10, seed=0)``) at initialisation — plus, for the record, the cost of
``Recorder.record`` relative to one training epoch of the same CNN.

``grand`` runs on all 4000 examples. The reference loop runs on the first ``--ref-n`` (default
1000) and its time is scaled per example to 4000 (printed as such); values are compared on those
rows (max relative error). Results go to ``benchmarks/results_grand.json``.

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


def make_cnn(seed: int = 0):
    try:
        from prunekit.data.train.models import make_model

        return make_model("cnn", 784, 10, seed=seed), "prunekit.data.train.models cnn"
    except ImportError:  # the trainer package is not there: an equivalent CNN
        import torch
        from torch import nn

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


def recorder_overhead(X, y, *, batch_size: int = 128, repeats: int = 2) -> dict:
    """One SGD epoch of the CNN over the 4000 images with and without ``Recorder.record`` per batch
    (alternating, best of ``repeats``), and the time spent inside ``record`` itself."""
    import torch

    from prunekit.data.scores.dynamics import Recorder

    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    n = len(y)

    def epoch(record: bool, seed: int):
        model, _ = make_cnn(seed)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        rec = Recorder(n, 10)
        g = torch.Generator().manual_seed(seed)
        in_record = 0.0
        t0 = time.perf_counter()
        for idx in torch.randperm(n, generator=g).split(batch_size):
            logits = model(Xt[idx])
            loss = torch.nn.functional.cross_entropy(logits, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if record:
                t1 = time.perf_counter()
                rec.record(idx, logits, yt[idx], 0)
                in_record += time.perf_counter() - t1
        return time.perf_counter() - t0, in_record

    epoch(False, 0)  # warm-up
    plain, with_rec, inside = [], [], []
    for r in range(repeats):
        plain.append(epoch(False, r)[0])
        t, i = epoch(True, r)
        with_rec.append(t)
        inside.append(i)
    return {
        "batch_size": batch_size,
        "epoch_s_without": min(plain),
        "epoch_s_with": min(with_rec),
        "record_s_per_epoch": min(inside),
        "record_share_of_epoch": min(inside) / min(plain),
        "record_us_per_batch": 1e6 * min(inside) / int(np.ceil(n / batch_size)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref-n", type=int, default=1000, help="examples the reference loop runs on (>= 500)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--wait", type=float, default=600.0, help="max seconds to wait for load < 1.0")
    ap.add_argument("--json", type=Path, default=HERE / "results_grand.json")
    ap.add_argument("--skip-recorder", action="store_true", help="skip the Recorder overhead measurement")
    a = ap.parse_args()

    import torch

    from prunekit.data.scores.dynamics import grand, grand_last_layer, grand_reference
    from prunekit.datasets import load
    from prunekit.io.atomic import atomic_path

    ds = load("mnist5k")
    X, y = np.ascontiguousarray(ds.X_train), np.ascontiguousarray(ds.y_train)
    n = len(y)
    ref_n = max(500, min(a.ref_n, n))
    load_before = wait_for_quiet_machine(a.wait)
    model, model_name = make_cnn(0)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"MNIST-5k train: {n} × {X.shape[1]}; model: {model_name}, {n_params:,} parameters; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; load {load_before:.2f}")

    grand(model, X[:64], y[:64], batch_size=64)  # warm-up (first vmap call traces)
    t0 = time.perf_counter()
    fast = grand(model, X, y, batch_size=a.batch_size)
    t_fast = time.perf_counter() - t0

    t0 = time.perf_counter()
    ref = grand_reference(model, X[:ref_n], y[:ref_n])
    t_ref_sub = time.perf_counter() - t0
    t_ref = t_ref_sub * n / ref_n

    t0 = time.perf_counter()
    last = grand_last_layer(model, X, y)
    t_last = time.perf_counter() - t0

    rel = np.abs(fast[:ref_n] - ref) / np.abs(ref)
    speedup = t_ref / t_fast
    scaled = "" if ref_n == n else f" (measured on {ref_n} examples, {t_ref_sub:.2f} s, scaled per example to {n})"
    print(f"grand (vmap, batch {a.batch_size}):  {t_fast:8.2f} s for {n}  ({1e3 * t_fast / n:.3f} ms/example)")
    print(f"grand_reference (loop):   {t_ref:8.2f} s for {n}{scaled}")
    print(f"speed-up: {speedup:.1f}x   max relative error: {rel.max():.2e}")
    print(f"grand_last_layer:         {t_last:8.2f} s for {n}  (a different score; Spearman vs grand "
          f"{_spearman(fast, last):.3f})")

    results = {
        "data": "mnist5k train (4000 x 784)", "model": model_name, "n_parameters": int(n_params),
        "torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "platform": platform.platform(), "load_avg_1min_at_start": round(load_before, 2),
        "batch_size": a.batch_size, "n": n,
        "grand_s": t_fast, "grand_reference_s": t_ref, "grand_reference_measured_n": ref_n,
        "grand_reference_measured_s": t_ref_sub, "reference_scaled": ref_n != n,
        "speedup": speedup, "max_rel_error": float(rel.max()),
        "grand_last_layer_s": t_last, "spearman_grand_vs_last_layer": _spearman(fast, last),
    }
    if not a.skip_recorder:
        wait_for_quiet_machine(a.wait)
        ro = recorder_overhead(X, y)
        results["recorder"] = ro
        print(f"Recorder.record: {ro['record_us_per_batch']:.0f} µs per batch of {ro['batch_size']}; "
              f"{100 * ro['record_share_of_epoch']:.2f}% of a {ro['epoch_s_without']:.2f} s training epoch")
    results["load_avg_1min_at_end"] = round(os.getloadavg()[0], 2)
    with atomic_path(a.json) as tmp:
        tmp.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {a.json}")


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


if __name__ == "__main__":
    main()
