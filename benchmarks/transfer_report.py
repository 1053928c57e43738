"""Markdown tables of ``results_dp4tl.json`` and ``results_dsir.json`` (docs/RESULTS.md):

    .venv/bin/python benchmarks/transfer_report.py
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent


def _ms(v):
    return f"{100 * np.mean(v):.1f} ± {100 * np.std(v):.1f}"


def dp4tl(path=HERE / "results_dp4tl.json") -> str:
    r = json.loads(path.read_text())
    by = defaultdict(list)
    for run in r["runs"]:
        by[(run["method"], run["keep"])].append(run)
    seeds = len({run["seed"] for run in r["runs"]})
    out = [f"Source {r['pair']['source']} ({r['pair']['n_source']:,} examples) → target {r['pair']['target']} "
           f"({r['pair']['n_target_train']} training, {r['pair']['n_target_test']:,} test examples); "
           f"{seeds} seeds, mean ± std.", "",
           "| source kept | method | source classes kept | target acc. FF (%) | target acc. LP (%) | pretraining (s) |",
           "|---|---|---|---|---|---|"]
    for key in [("none", 0.0), ("full", 1.0)] + [(m, k) for k in (0.2, 0.4, 0.6, 0.8)
                                                  for m in ("lm", "fm", "random", "prototypicality")]:
        runs = by.get(key)
        if not runs:
            continue
        cls = runs[0].get("kept_source_classes", 20 if key[0] == "full" else 0)
        label = {"none": "no pretraining", "full": "full source"}.get(key[0], key[0])
        out.append(f"| {key[1]:.1f} | {label} | {cls} | {_ms([x['target_accuracy'] for x in runs])} | "
                   f"{_ms([x['target_accuracy_lp'] for x in runs])} | "
                   f"{np.mean([x['pretrain_seconds'] for x in runs]):.1f} |")
    return "\n".join(out)


def dsir(path=HERE / "results_dsir.json") -> str:
    r = json.loads(path.read_text())
    comp = r["pool_composition"]
    doms = sorted(comp)
    out = [f"Pool {r['pool_size']:,} documents: " + ", ".join(f"{d} {100 * comp[d]:.1f}%" for d in doms)
           + f"; target {r['target_size']:,} reviews; weights in {r['dsir_seconds']} s. Downstream with the "
           f"whole pool: {100 * r['downstream_full_pool']:.1f}%.", "",
           "| k | method | " + " | ".join(doms) + " | KL reduction | downstream acc. (%) |",
           "|---|---|" + "---|" * len(doms) + "---|---|"]
    by = defaultdict(list)
    for run in r["runs"]:
        by[(run["k"], run["method"])].append(run)
    for (k, m), runs in sorted(by.items()):
        shares = " | ".join(f"{100 * np.mean([x['composition'][d] for x in runs]):.1f}" for d in doms)
        out.append(f"| {k} | {m} | {shares} | {np.mean([x['kl_reduction'] for x in runs]):.4f} | "
                   f"{_ms([x['downstream_accuracy'] for x in runs])} |")
    return "\n".join(out)


if __name__ == "__main__":
    for name, fn in (("DP4TL", dp4tl), ("DSIR", dsir)):
        try:
            print(f"### {name}\n\n{fn()}\n")
        except FileNotFoundError as e:
            print(f"### {name}\n\n(no results: {e.filename})\n")
