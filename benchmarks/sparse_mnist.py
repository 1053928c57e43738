"""MNIST-5k sparse-training grid: LeNet-300-100 and LeNet-5 × 90/95/98 % sparsity × 3 seeds × every
method (dense once per model and seed), same hyperparameters for all methods.

    .venv/bin/python benchmarks/sparse_mnist.py                 # run (resumes: finished rows are skipped)
    .venv/bin/python benchmarks/sparse_mnist.py --report        # table (markdown) + plot from the JSONL

Rows go to benchmarks/results_sparse_mnist.jsonl, one JSON object per finished run, appended as it
finishes. Budget: one CPU thread (torch.set_num_threads(1)).

Shared setup (nothing tuned per method): SGD peak lr 0.1, momentum 0.9, weight decay 1e-4, batch 128,
cosine LR decay over the run, mask updates every ΔT = 25 optimizer steps (gmp, granet, rigl, set),
pruning window [0, 0.7·T] for gmp/granet, one-shot magnitude prunes at 0.5·T then fine-tunes.
LTH gets the same total number of optimizer steps as every other method, split into R + 1 equal
rounds (R = 11/14/18 rounds for 90/95/98 %), with the LR schedule restarting each round.

Two diagnostic runs (rows kept apart by their ``lr`` / ``rescale_init`` fields, reported separately):

    .venv/bin/python benchmarks/sparse_mnist.py --models lenet5 --lr lenet5=0.05
    .venv/bin/python benchmarks/sparse_mnist.py --models lenet5 --rescale-init
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results_sparse_mnist.jsonl"
METHODS = ["dense", "magnitude", "random", "snip", "gmp", "set", "rigl", "granet", "granet_s2s", "lth"]
EPOCHS = {"lenet300": 20, "lenet5": 20}
# Peak learning rate, the same for every model and method (chosen before any run).
LR = {"lenet300": 0.1, "lenet5": 0.1}
# Methods that start from a random sparse mask: the only ones --rescale-init applies to.
RANDOM_START = ["random", "set", "rigl", "granet_s2s"]
DELTA_T = 25


def lr_of(r) -> float:
    return float(r.get("lr", r["config"]["lr"]))


def key(r) -> tuple:
    return (r["model"], lr_of(r), bool(r.get("rescale_init", False)), r["method"], float(r["sparsity"]),
            int(r["seed"]))


def load_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a run killed mid-write leaves at most one torn last line
                pass
    return rows


def run_grid(args) -> None:
    import torch

    torch.set_num_threads(1)
    from prunekit.datasets import load
    from prunekit.sparse.train import train_sparse

    ds = load("mnist5k")
    done = {key(r) for r in load_rows(args.out)}
    todo = []
    for model in args.models:
        for seed in args.seeds:
            for method in args.methods:
                if args.rescale_init and method not in RANDOM_START:
                    continue
                for s in ([0.0] if method == "dense" else args.sparsities):
                    k = (model, args.lr.get(model, LR[model]), args.rescale_init, method, float(s), seed)
                    if k not in done:
                        todo.append(k)
    print(f"{len(done)} rows done, {len(todo)} to run → {args.out}", flush=True)
    t_all = time.perf_counter()
    for i, (model, lr, rescale, method, s, seed) in enumerate(todo):
        epochs = args.epochs.get(model, EPOCHS[model])
        run = train_sparse(model, "mnist5k", method=method, sparsity=s if method != "dense" else 0.9, epochs=epochs,
                           seed=seed, lr=lr, delta_t=DELTA_T, dataset=ds, show_progress=False,
                           method_options={"rescale_init": True} if rescale else None)
        sp = run.sparsifier
        row = {
            "model": model, "lr": lr, "rescale_init": rescale, "method": method, "sparsity": s, "seed": seed, "epochs": epochs,
            "test_accuracy": run.test_accuracy, "test_error": 1.0 - run.test_accuracy, "test_loss": run.test_loss,
            "density": run.density, "final_train_loss": run.history[-1]["train_loss"],
            "layer_densities": dict(sp.masks.layer_densities()) if sp is not None else {},
            "steps": run.steps, "seconds": round(run.seconds, 2),
            "lth_rounds": getattr(sp, "rounds", None), "config": run.config,
        }
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
        el = time.perf_counter() - t_all
        print(f"[{i + 1}/{len(todo)}] {model} lr {lr} {method:10s} s={s:.2f} seed={seed}: acc {100 * run.test_accuracy:.2f}% "
              f"density {run.density:.4f} ({run.seconds:.1f}s; elapsed {el / 60:.1f} min)", flush=True)


def report(args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = load_rows(args.out)
    if not rows:
        sys.exit(f"no rows in {args.out}")
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        run_id = (r["model"], lr_of(r), bool(r.get("rescale_init", False)))
        groups.setdefault((run_id, r["method"], float(r["sparsity"])), []).append(100 * r["test_accuracy"])
    sparsities = sorted({k[2] for k in groups if k[2] > 0})
    runs = sorted({k[0] for k in groups}, key=lambda m: (list(EPOCHS).index(m[0]), m[1] != LR[m[0]], m[2], m[1]))

    def is_main(run_id):
        return run_id[1] == LR[run_id[0]] and not run_id[2]

    def cell(vals):
        if not vals:
            return "—"
        sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
        return f"{statistics.mean(vals):.2f} ± {sd:.2f}" + ("" if len(vals) == 3 else f" (n={len(vals)})")

    lines = []
    for run_id in runs:
        model, lr, rescale = run_id
        ep = next(r["epochs"] for r in rows if r["model"] == model)
        tag = "" if is_main(run_id) else " — diagnostic run" + (", initial weights × 1/√density" if rescale else "")
        lines.append(f"\n**{model}**, peak lr {lr} ({ep} epochs; test accuracy %, mean ± std over seeds){tag}\n")
        lines.append("| method | " + " | ".join(f"{100 * s:g} % sparse" for s in sparsities) + " |")
        lines.append("|---|" + "---|" * len(sparsities))
        dense = groups.get((run_id, "dense", 0.0), [])
        if dense:
            lines.append("| dense | " + " | ".join(cell(dense) for _ in sparsities) + " |")
        for method in METHODS[1:]:
            if any(groups.get((run_id, method, s)) for s in sparsities):
                lines.append(f"| {method} | " + " | ".join(cell(groups.get((run_id, method, s), []))
                                                          for s in sparsities) + " |")
    print("\n".join(lines))
    if args.png:
        main_runs = [r for r in runs if is_main(r)]
        fig, axes = plt.subplots(1, len(main_runs), figsize=(6.2 * len(main_runs), 4.4), squeeze=False)
        for ax, run_id in zip(axes[0], main_runs):
            model, lr, _ = run_id
            for method in METHODS[1:]:
                xs = [s for s in sparsities if groups.get((run_id, method, s))]
                if not xs:
                    continue
                vals = [groups[(run_id, method, s)] for s in xs]
                means = [statistics.mean(v) for v in vals]
                sds = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in vals]
                ax.errorbar([100 * x for x in xs], means, yerr=sds, marker="o", capsize=3, label=method)
            dense = groups.get((run_id, "dense", 0.0))
            if dense:
                ax.axhline(statistics.mean(dense), color="k", ls="--", lw=1, label="dense")
            ax.set_xlabel("sparsity (%)")
            ax.set_ylabel("test accuracy (%)")
            ax.set_title(f"{model} on MNIST-5k (lr {lr}, 3 seeds)")
            ax.set_xticks([100 * s for s in sparsities])
            lo, hi = ax.get_ylim()
            ax.set_ylim(max(lo, 0), min(hi, 100.5))  # ± std bars of bimodal cells overshoot 100
            ax.grid(alpha=0.3)
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=6, fontsize=8, frameon=False)
        fig.tight_layout(rect=(0, 0.1, 1, 1))
        tmp = Path(args.png).with_suffix(".tmp.png")
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, args.png)
        print(f"plot → {args.png}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--models", nargs="+", default=list(EPOCHS))
    ap.add_argument("--methods", nargs="+", default=METHODS)
    ap.add_argument("--sparsities", nargs="+", type=float, default=[0.9, 0.95, 0.98])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", nargs="*", default=[], help="override as model=epochs, e.g. lenet5=10")
    ap.add_argument("--lr", nargs="*", default=[], help="override as model=lr, e.g. lenet5=0.05")
    ap.add_argument("--rescale-init", action="store_true",
                    help="random-start methods only, with initial weights scaled by 1/sqrt(layer density)")
    ap.add_argument("--report", action="store_true", help="print the markdown table instead of running")
    ap.add_argument("--png", default=str(HERE.parent / "docs" / "sparse" / "sparse_mnist.png"))
    args = ap.parse_args()
    args.epochs = {k: int(v) for k, v in (e.split("=") for e in args.epochs)}
    args.lr = {k: float(v) for k, v in (e.split("=") for e in args.lr)}
    if args.report:
        report(args)
    else:
        run_grid(args)


if __name__ == "__main__":
    main()
