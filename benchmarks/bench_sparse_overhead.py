"""Mask bookkeeping cost as a fraction of a dense training step (CPU, one thread).

    .venv/bin/python benchmarks/bench_sparse_overhead.py            # → benchmarks/results_sparse_overhead.json

For LeNet-300-100 and the small CNN on MNIST-5k batches of 128, each method runs N = 640 optimizer
steps (20 epochs of MNIST-5k) with a mask update every ΔT steps — 100 (the methods' default) and
25 (the MNIST-5k grid of benchmarks/sparse_mnist.py); GraNet/GMP prune over [0, 0.7·N]. Inside
the same loop we time ``sparsifier.step()`` (re-applying masks to weights and momentum, the
schedule check, and on update steps pruning + drop-and-regrow) separately from the training step
(forward, backward, optimizer.step, zero_grad). The bookkeeping per step is the sum of the
``sparsifier.step()`` times over the run divided by N, so update steps are amortised over ΔT.
Dense runs of the same N steps are interleaved with the sparse ones; each configuration repeats
R times and we report medians. Overhead = bookkeeping per step / dense step time (target ≤ 10 %).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=640)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--delta-t", type=int, nargs="+", default=[100, 25])
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--models", nargs="+", default=["lenet300", "smallcnn"])
    ap.add_argument("--methods", nargs="+", default=["granet", "rigl", "gmp"])
    ap.add_argument("--out", type=Path, default=HERE / "results_sparse_overhead.json")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from prunekit.datasets import load
    from prunekit.nn import make_model
    from prunekit.sparse.methods import make_sparsifier

    ds = load("mnist5k")
    X = torch.as_tensor(ds.X_train.copy())
    y = torch.as_tensor(ds.y_train.copy())
    N, B = args.steps, args.batch_size
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, len(y), (B,), generator=g) for _ in range(N)]

    def one_run(model_name, method, delta_t):
        net = make_model(model_name, 784, 10, seed=0)
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
        sp = None
        if method != "dense":
            kw = {"total_steps": N, "seed": 0}
            if method != "random":
                kw["delta_t"] = delta_t
            sp = make_sparsifier(method, net, opt, 0.9, **kw)
        train_t, book_t, upd, non_upd = 0.0, 0.0, [], []
        for i in range(N):
            idx = batches[i]
            t0 = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(net(X[idx]), y[idx])
            loss.backward()
            opt.step()
            t1 = time.perf_counter()
            if sp is not None:
                n_events = len(sp.events)
                sp.step()
                dt = time.perf_counter() - t1
                book_t += dt
                (upd if len(sp.events) > n_events else non_upd).append(dt)
            t2 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            train_t += (t1 - t0) + (time.perf_counter() - t2)
        return {"train_step": train_t / N, "bookkeeping": book_t / N, "update_steps": len(upd),
                "update_median": statistics.median(upd) if upd else None,
                "plain_median": statistics.median(non_upd) if non_upd else None}

    results = []
    variants = [(m, dt) for dt in args.delta_t for m in args.methods]
    for model_name in args.models:
        reps = {v: [] for v in [("dense", None), *variants]}
        for _ in range(args.repeats):
            for v in reps:  # interleaved: drift on a shared machine hits every variant alike
                reps[v].append(one_run(model_name, *v))
        dense_step = statistics.median(x["train_step"] for x in reps[("dense", None)])
        for m, dt in variants:
            xs = reps[(m, dt)]
            book = statistics.median(x["bookkeeping"] for x in xs)
            upd = [x["update_median"] for x in xs if x["update_median"] is not None]
            row = {
                "model": model_name, "method": m, "steps": N, "delta_t": dt, "batch_size": B,
                "repeats": args.repeats,
                "dense_step_ms": 1e3 * dense_step,
                "sparse_run_train_step_ms": 1e3 * statistics.median(x["train_step"] for x in xs),
                "bookkeeping_ms_per_step": 1e3 * book,
                "overhead_pct": 100 * book / dense_step,
                "update_steps_per_run": xs[0]["update_steps"],
                "update_step_ms_median": 1e3 * statistics.median(upd) if upd else None,
                "plain_step_ms_median": 1e3 * statistics.median(x["plain_median"] for x in xs),
            }
            results.append(row)
            print(f"{model_name:9s} {m:7s} ΔT={dt:<4d} dense step {row['dense_step_ms']:.2f} ms, bookkeeping "
                  f"{row['bookkeeping_ms_per_step']:.3f} ms/step ({row['overhead_pct']:.1f} %); plain "
                  f"{row['plain_step_ms_median']:.3f} ms, update {row['update_step_ms_median'] or 0:.1f} ms "
                  f"× {row['update_steps_per_run']}", flush=True)
    payload = {"machine": {"platform": platform.platform(), "python": platform.python_version(),
                           "torch": torch.__version__, "threads": torch.get_num_threads(),
                           "cpus": os.cpu_count()},
               "command": f"benchmarks/bench_sparse_overhead.py --steps {N} --repeats {args.repeats} "
                          f"--delta-t {' '.join(map(str, args.delta_t))} --models {' '.join(args.models)} "
                          f"--methods {' '.join(args.methods)}",
               "results": results}
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, args.out)
    print(f"→ {args.out}")


if __name__ == "__main__":
    main()
