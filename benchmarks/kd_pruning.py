"""Accuracy after pruning, with and without knowledge distillation, and RS2 at the same budget.

For each data set × seed: train a teacher on all the data; score every example (random, EL2N,
forgetting, AUM from one shared set of proxy trainings; prototypicality from the inputs; CCS over
AUM); for keep ∈ {0.1, 0.3, 0.5, 0.7} keep the hardest by each score (CCS: its own rule; random:
uniform) and train a student with plain CE and with KD (α = auto, τ = 4); RS2 draws a fresh random
subset of the same size every epoch. keep = 1.0 is the full-data model. Compute budget: equal
steps (every run takes as many optimizer steps as full-data training), the CCS protocol.

Nothing is tuned per method: one configuration for all. Cells are appended to a JSON-lines file
as they finish, so an interrupted run resumes where it stopped.

    python benchmarks/kd_pruning.py                       # MNIST-5k and optdigits, 3 seeds
    python benchmarks/kd_pruning.py --datasets digits --seeds 1 --epochs 3   # a quick look
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from prunekit.data import score, select
from prunekit.data.train import TrainConfig, fit, teacher_logits
from prunekit.datasets import load

HERE = Path(__file__).resolve().parent
KEEPS = (0.1, 0.3, 0.5, 0.7)
METHODS = ("random", "el2n", "forgetting", "aum", "prototypicality", "ccs")


def selections(ds, seed: int, proxy_runs: int, proxy_epochs: int) -> tuple[dict, float]:
    ex = ds.train_examples()
    t0 = time.perf_counter()
    dyn = score(ex, ["el2n", "forgetting", "aum"], seed=seed, runs=proxy_runs, epochs=proxy_epochs,
                show_progress=False)
    t_dyn = time.perf_counter() - t0
    t0 = time.perf_counter()
    geo = score(ex, ["prototypicality"], seed=seed, show_progress=False)
    t_geo = time.perf_counter() - t0
    out = {}
    for keep in KEEPS:
        out[("random", keep)] = select(dyn, "random", keep, seed=seed).keep
        for m in ("el2n", "forgetting", "aum"):
            out[(m, keep)] = select(dyn, "hardest", keep, score=m, seed=seed).keep
        out[("prototypicality", keep)] = select(geo, "hardest", keep, seed=seed).keep
        out[("ccs", keep)] = select(dyn, "ccs", keep, score="aum", seed=seed).keep
    cost = {"random": 0.0, "el2n": t_dyn, "forgetting": t_dyn, "aum": t_dyn, "ccs": t_dyn, "prototypicality": t_geo}
    return out, cost


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["mnist5k", "optdigits"])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--proxy-runs", type=int, default=3)
    ap.add_argument("--proxy-epochs", type=int, default=5)
    ap.add_argument("--out", type=Path, default=HERE / "results_kd_pruning.jsonl")
    a = ap.parse_args()
    done = set()
    if a.out.exists():
        for line in a.out.read_text().splitlines():
            r = json.loads(line)
            done.add((r["dataset"], r["seed"], r["method"], r["keep"], r["kd"]))
    for name in a.datasets:
        ds = load(name)
        C = len(ds.label_names)
        for seed in range(a.seeds):
            cfg = TrainConfig(model="mlp", epochs=a.epochs, budget="steps", seed=seed)
            T, tinfo = teacher_logits(ds.X_train, ds.y_train, config=cfg, n_classes=C, show_progress=False)
            sels = cost = None

            def run(method, keep, kd, **kw):
                key = (name, seed, method, keep, kd)
                if key in done:
                    return
                alpha = "auto" if kd else 0.0
                r = fit(ds.X_train, ds.y_train, cfg, n_classes=C, teacher_logits=T if kd else None, kd_alpha=alpha,
                        X_test=ds.X_test, y_test=ds.y_test, show_progress=False, **kw)
                row = {"dataset": name, "seed": seed, "method": method, "keep": keep, "kd": kd,
                       "alpha": r.config["kd_alpha"], "accuracy": r.test_accuracy, "loss": r.test_loss,
                       "steps": r.steps, "train_seconds": r.seconds,
                       "scoring_seconds": (cost or {}).get(method, 0.0), "teacher_seconds": tinfo.get("train_seconds", 0.0)}
                with open(a.out, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
                done.add(key)
                print(f"{name} seed {seed} {method:15s} keep {keep:.1f} kd={kd!s:5s} acc {100 * r.test_accuracy:.2f}", flush=True)

            for kd in (False, True):
                run("full", 1.0, kd)
            for keep in KEEPS:
                for kd in (False, True):
                    run("rs2", keep, kd, rs2_keep=keep)
                if all((name, seed, m, keep, kd) in done for m in METHODS for kd in (False, True)):
                    continue
                if sels is None:
                    sels, cost = selections(ds, seed, a.proxy_runs, a.proxy_epochs)
                for m in METHODS:
                    for kd in (False, True):
                        run(m, keep, kd, rows=np.flatnonzero(sels[(m, keep)]))


if __name__ == "__main__":
    main()
