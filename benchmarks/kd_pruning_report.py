"""Tables (Markdown) and a plot from benchmarks/results_kd_pruning.jsonl.

    python benchmarks/kd_pruning_report.py > /tmp/table.md     # also writes docs/kd_pruning_<dataset>.png
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ORDER = ["random", "el2n", "forgetting", "aum", "prototypicality", "ccs", "rs2"]


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", type=Path, default=HERE / "results_kd_pruning.jsonl")
    ap.add_argument("--plots", type=Path, default=HERE.parent / "docs")
    a = ap.parse_args()
    rows = load(a.results)
    acc = defaultdict(list)
    for r in rows:
        acc[(r["dataset"], r["method"], r["keep"], r["kd"])].append(100 * r["accuracy"])
    for ds in sorted({r["dataset"] for r in rows}):
        keeps = sorted({r["keep"] for r in rows if r["dataset"] == ds and r["method"] != "full"})
        seeds = len({r["seed"] for r in rows if r["dataset"] == ds})
        full = {kd: acc.get((ds, "full", 1.0, kd), []) for kd in (False, True)}
        print(f"\n### {ds} ({seeds} seeds; test accuracy %, mean ± std)\n")
        print(f"Full data: CE {np.mean(full[False]):.2f} ± {np.std(full[False]):.2f}, "
              f"KD from an identical teacher {np.mean(full[True]):.2f} ± {np.std(full[True]):.2f}.\n")
        print("| method | " + " | ".join(f"keep {k:g} CE | keep {k:g} KD" for k in keeps) + " |")
        print("|---|" + "---|---|" * len(keeps))
        for m in ORDER:
            cells = []
            for k in keeps:
                for kd in (False, True):
                    v = acc.get((ds, m, k, kd))
                    cells.append(f"{np.mean(v):.2f} ± {np.std(v):.2f}" if v else "—")
            print(f"| {m} | " + " | ".join(cells) + " |")
        _plot(ds, keeps, acc, full, a.plots / f"kd_pruning_{ds}.png")


def _plot(ds, keeps, acc, full, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    from prunekit.data.colors import method_color  # one colour per method in every plot

    for m in ORDER:
        c = method_color(m)
        for kd, style in ((False, "-"), (True, "--")):
            xs = [k for k in keeps if acc.get((ds, m, k, kd))] + [1.0]
            ys = [np.mean(acc[(ds, m, k, kd)]) for k in keeps if acc.get((ds, m, k, kd))] + [np.mean(full[kd])]
            es = [np.std(acc[(ds, m, k, kd)]) for k in keeps if acc.get((ds, m, k, kd))] + [np.std(full[kd])]
            ax.errorbar(xs, ys, yerr=es, color=c, linestyle=style, marker="o", ms=3, capsize=2,
                        label=f"{m}{' + KD' if kd else ''}")
    ax.set_xlabel("kept fraction")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{ds}: pruning with (dashed) and without (solid) distillation")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
