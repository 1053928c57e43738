"""``dedup(shards, out)``: exact → MinHash-LSH → (optionally) SemDeDup deduplication of a text corpus.

Stages, in this order, each on the documents the previous ones kept:

1. **exact**: documents whose normalised text is identical (same 64-bit hash) — the first in
   corpus order (shard order, then line/row) is kept, the others name it, estimated and exact
   Jaccard 1;
2. **near** (MinHash-LSH, ``minhash.py``/``lsh.py``): candidate pairs from ``bands`` × ``rows``
   buckets, verified by estimated Jaccard ≥ ``min_jaccard``, greedy removal in corpus order —
   every removed document names the kept document it duplicates, with the estimate (and, with
   ``exact_jaccard=True``, the exact Jaccard of the two shingle sets);
3. **semantic** (only with ``embeddings=`` or ``embed_model=``): SemDeDup (``data/scores/semdedup.py``)
   on the text embeddings of the documents still kept.

The result is a folder written atomically (nothing is left under ``out`` on failure):

- ``dedup.parquet``: a ``ScoreTable`` — ``id, jaccard_estimate[, jaccard][, semdedup],
  duplicate_of, keep, reason``; metadata key ``prunekit`` holds the parameters, the implied
  threshold, the shards (documents, seconds) and the counts per stage;
- ``kept/``: every shard again, holding only the kept documents (JSONL lines byte for byte;
  Parquet rows with all their columns), unless ``write_kept=False``.

Memory: one batch of text per worker, one shard's signatures per worker, and per document of the
corpus a few fixed-size numbers (exact hash, one band's bucket key at a time, flags: ~40 bytes)
plus its id — never the corpus's text. See docs/TEXT.md.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable

import numpy as np

from prunekit._progress import progress
from prunekit.data.table import ScoreTable
from prunekit.data.text import lsh
from prunekit.data.text.output import read_ids, write_table
from prunekit.data.text.shards import TextShard, find_shards
from prunekit.data.text.signing import SignConfig, exact_jaccard, shard_shingles, sign_shard
from prunekit.errors import InputError
from prunekit.io.atomic import atomic_dir, check_not_input, check_parent_writable
from prunekit.params import Param, Spec

log = logging.getLogger("prunekit.text")

NGRAM = Param("ngram", int, low=1, high=64, default=5, help="words per shingle (word n-grams of the normalised text)")
BANDS = Param("bands", int, low=1, high=512, default=14, help="LSH bands (num_perm = bands × rows)")
ROWS = Param("rows", int, low=1, high=64, default=8, help="signature values per LSH band")
MIN_JACCARD = Param("min_jaccard", float, low=0.0, high=1.0, default=None,
                    none_means="the implied threshold (1/bands)^(1/rows) minus 0.1",
                    help="a candidate pair is a near-duplicate when its estimated Jaccard is at least this")
WORKERS = Param("workers", int, low=1, high=256, default=None, none_means="the CPU count, at most one per shard",
                help="processes signing shards at once")
SEED = Param("seed", int, low=0, default=0, help="seed of the MinHash permutations")
SPEC = Spec(NGRAM, BANDS, ROWS, MIN_JACCARD, WORKERS, SEED)


@dataclass
class TextDedupResult:
    """What ``dedup`` did: the output folder, the counts per stage, seconds per step, each shard's
    summary and the run's metadata. ``table`` reads ``dedup.parquet`` back (one row per document)."""

    out: Path
    counts: dict[str, int]
    seconds: dict[str, float]
    shards: list[dict] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def table(self) -> ScoreTable:
        return ScoreTable.read(self.out / "dedup.parquet")

    @property
    def kept(self) -> int:
        return self.counts["kept"]


def implied_threshold(bands: int, rows: int) -> float:
    return (1.0 / bands) ** (1.0 / rows)


def dedup(
    shards,
    out: str | os.PathLike,
    *,
    text_field: str = "text",
    id_field: str | None = None,
    ngram: int = 5,
    bands: int = 14,
    rows: int = 8,
    min_jaccard: float | None = None,
    near: bool = True,
    exact_jaccard: bool = False,
    embeddings: str | os.PathLike | np.ndarray | None = None,
    embed_model: str | None = None,
    eps: float = 0.05,
    k: int | None = None,
    allow_empty: bool = False,
    workers: int | None = None,
    seed: int = 0,
    write_kept: bool = True,
    show_progress: bool | None = None,
    on_shard: Callable[[dict], Any] | None = None,
) -> TextDedupResult:
    """Deduplicate the documents of ``shards`` (paths, folders or globs of .jsonl/.jsonl.gz/.parquet)
    into the folder ``out`` (see the module docstring). ``on_shard`` is called with each shard's
    summary as it is signed (the CLI prints one line per shard)."""
    p = SPEC.resolve(dict(ngram=ngram, bands=bands, rows=rows, min_jaccard=min_jaccard, workers=workers, seed=seed),
                     "text dedup")
    thr = implied_threshold(p["bands"], p["rows"])
    min_j = p["min_jaccard"] if p["min_jaccard"] is not None else max(0.0, thr - 0.1)
    found = find_shards(shards)
    out = _check_out(out, found, embeddings, shards)
    cfg = SignConfig(text_field=text_field, id_field=id_field, ngram=p["ngram"], bands=p["bands"], rows=p["rows"],
                     seed=p["seed"], allow_empty=allow_empty)
    n_workers = min(p["workers"] or os.cpu_count() or 1, len(found))
    seconds: dict[str, float] = {}
    with atomic_dir(out) as tmp:
        scratch = tmp / ".work"
        scratch.mkdir()
        t0 = time.perf_counter()
        infos = _sign_all(found, scratch, cfg, n_workers, show_progress, on_shard)
        seconds["sign"] = time.perf_counter() - t0
        exact, has, empty, sizes = _load_columns(scratch, len(found), id_field)
        n = len(exact)
        if n == 0:
            raise InputError("the shards hold no documents")
        dup = np.full(n, -1, dtype=np.int64)
        est = np.full(n, np.nan, dtype=np.float64)
        stage = np.zeros(n, dtype=np.int8)  # 0 kept, 1 empty, 2 exact, 3 near, 4 semantic
        stage[empty] = 1
        t0 = time.perf_counter()
        _exact_stage(exact, empty, dup, est, stage)
        seconds["exact"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        pairs_info = {"candidates": 0, "verified": 0}
        if near:
            pairs_info = _near_stage(scratch, sizes, cfg, has & (stage == 0), min_j, dup, est, stage, show_progress)
        seconds["near"] = time.perf_counter() - t0
        scores: dict[str, np.ndarray] = {"jaccard_estimate": est}
        directions = {"jaccard_estimate": "redundancy"}
        if exact_jaccard:
            t0 = time.perf_counter()
            scores["jaccard"] = _exact_jaccards(found, scratch, sizes, cfg, dup, stage)
            directions["jaccard"] = "redundancy"
            seconds["exact_jaccard"] = time.perf_counter() - t0
        sem_info: dict[str, Any] = {}
        if embeddings is not None or embed_model is not None:
            from prunekit.data.text.semantic import semantic_stage

            t0 = time.perf_counter()
            scores["semdedup"], sem_info = semantic_stage(found, cfg, n, stage, dup, embeddings=embeddings,
                                                          embed_model=embed_model, eps=eps, k=k, seed=p["seed"],
                                                          show_progress=show_progress)
            directions["semdedup"] = "redundancy"
            seconds["semantic"] = time.perf_counter() - t0
        keep = stage == 0
        counts = {"documents": n, "kept": int(keep.sum()), "empty": int((stage == 1).sum()),
                  "exact": int((stage == 2).sum()), "near": int((stage == 3).sum()),
                  "semantic": int((stage == 4).sum()), "no_signature": int(sum(i["short"] for i in infos)),
                  **pairs_info}
        meta = {
            "directions": directions, "scorers": ["text_dedup"],
            "text_dedup": {"ngram": p["ngram"], "bands": p["bands"], "rows": p["rows"],
                           "num_perm": p["bands"] * p["rows"], "implied_threshold": thr, "min_jaccard": min_j,
                           "seed": p["seed"], "text_field": text_field, "id_field": id_field,
                           "normalisation": "lowercase, digits→0, punctuation→space, whitespace collapsed, "
                                            "diacritics stripped", **sem_info},
            "shards": infos, "counts": counts,
            "source": {"format": "text-shards", "shards": [s.path for s in found]},
        }
        t0 = time.perf_counter()
        write_table(tmp / "dedup.parquet", scratch, sizes, scores, dup, keep,
                    lambda lo, hi: _reasons(stage[lo:hi], est[lo:hi], _part(scores.get("semdedup"), lo, hi)), meta)
        seconds["write_table"] = time.perf_counter() - t0
        if write_kept:
            t0 = time.perf_counter()
            _write_kept(found, scratch, sizes, keep, tmp / "kept")
            seconds["write_kept"] = time.perf_counter() - t0
        shutil.rmtree(scratch)
    return TextDedupResult(out, counts, {k_: round(v, 3) for k_, v in seconds.items()}, infos, meta)


def _check_out(out, found: list[TextShard], embeddings, sources) -> Path:
    o = Path(out)
    if o.exists():
        raise InputError(f"output folder {o} already exists: choose a new name or remove it")
    check_parent_writable(o)
    inputs = [("shard", s.path) for s in found]
    srcs = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    inputs += [("shard folder", d) for d in srcs if os.path.isdir(str(d))]
    if isinstance(embeddings, (str, os.PathLike)):
        inputs.append(("embeddings", embeddings))
    return check_not_input(o, inputs, folder=True)


def _sign_all(found, scratch: Path, cfg: SignConfig, n_workers: int, show_progress, on_shard) -> list[dict]:
    total = sum(max(1, os.path.getsize(s.path)) for s in found)
    jobs = [(i, s, str(scratch), cfg) for i, s in enumerate(found)]
    infos: list[dict] = [None] * len(found)  # type: ignore[list-item]

    def done(info: dict) -> None:
        infos[info["index"]] = info
        log.info("%s: %d documents signed in %.1f s", info["shard"], info["documents"], info["seconds"])
        if on_shard is not None:
            on_shard(info)

    # a log with a line per shard (on_shard) is this pass's progress already
    with progress(total, f"MinHash over {len(found)} shards", False if on_shard else show_progress) as advance:
        if n_workers <= 1:
            for job in jobs:
                done(sign_shard(job))
                advance(max(1, os.path.getsize(job[1].path)))
        else:
            ctx = get_context("fork" if sys.platform.startswith("linux") else "spawn")
            with ProcessPoolExecutor(n_workers, mp_context=ctx) as pool:
                futures = [pool.submit(sign_shard, job) for job in jobs]
                try:
                    for job, fut in zip(jobs, futures):
                        done(fut.result())
                        advance(max(1, os.path.getsize(job[1].path)))
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
    return infos


def _load_columns(scratch: Path, n_shards: int, id_field: str | None):
    exact, has, empty, sizes = [], [], [], []
    for i in range(n_shards):
        exact.append(np.load(scratch / f"{i}.exact.npy"))
        has.append(np.load(scratch / f"{i}.has.npy"))
        empty.append(np.load(scratch / f"{i}.empty.npy"))
        sizes.append(len(exact[-1]))
    sizes = np.asarray(sizes, dtype=np.int64)
    if id_field:
        _check_unique_ids(scratch, sizes, id_field)
    cat = lambda xs, dt: np.concatenate(xs) if xs else np.empty(0, dt)  # noqa: E731
    return cat(exact, np.uint64), cat(has, bool), cat(empty, bool), sizes


def _check_unique_ids(scratch: Path, sizes: np.ndarray, id_field: str) -> None:
    """Ids must be unique: checked on 64-bit hashes (8 bytes per document), the ids themselves
    read back only for the hashes that repeat."""
    h = np.concatenate([np.load(scratch / f"{i}.idhash.npy") for i in range(len(sizes))])
    uniq, counts = np.unique(h, return_counts=True)
    if not (counts > 1).any():
        return
    rows = np.flatnonzero(np.isin(h, uniq[counts > 1]))
    seen: dict[str, int] = {}
    for doc_id in read_ids(scratch, sizes, rows).values():
        seen[doc_id] = seen.get(doc_id, 0) + 1
    for doc_id, c in seen.items():
        if c > 1:
            raise InputError(f"id {doc_id!r} (the {id_field!r} field) occurs {c} times; "
                             "ids must be unique across the shards")


def _exact_stage(exact: np.ndarray, empty: np.ndarray, dup, est, stage) -> None:
    idx = np.flatnonzero(~empty)
    _, first, inv = np.unique(exact[idx], return_index=True, return_inverse=True)
    keeper = idx[first][inv]
    hit = keeper != idx
    dup[idx[hit]] = keeper[hit]
    est[idx[hit]] = 1.0
    stage[idx[hit]] = 2


def _near_stage(scratch: Path, sizes: np.ndarray, cfg: SignConfig, alive: np.ndarray, min_j: float,
                dup, est, stage, show_progress) -> dict[str, int]:
    n = len(alive)
    live = np.flatnonzero(alive)
    found = []
    with progress(cfg.bands, "LSH bands", show_progress) as advance:
        for b in range(cfg.bands):
            keys = np.concatenate([np.array(np.load(scratch / f"{i}.keys.npy", mmap_mode="r")[b])
                                   for i in range(len(sizes))])
            found.append(lsh.bucket_pairs(keys, live))
            advance(1)
    pairs = lsh.unique_pairs(np.concatenate(found) if found else np.empty((0, 2), np.int64), n)
    pairs = lsh.unique_pairs(lsh.close_components(pairs), n)
    if not len(pairs):
        return {"candidates": 0, "verified": 0}
    rows, S = _signatures_of(scratch, sizes, pairs)
    estimate = _estimates(rows, S, pairs)
    ok = estimate >= min_j - 1e-12

    def estimate_of(a: int, b: int) -> float:
        return float((S[np.searchsorted(rows, a)] == S[np.searchsorted(rows, b)]).mean())

    d, e = lsh.greedy_removal(pairs, estimate, n, alive, min_j - 1e-12, estimate_of)
    hit = d >= 0
    dup[hit], est[hit], stage[hit] = d[hit], e[hit], 3
    return {"candidates": int(len(pairs)), "verified": int(ok.sum())}


def _gather_signatures(scratch: Path, sizes: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Signatures of the documents ``rows`` (sorted global indices), one shard file at a time."""
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    out = None
    for i in range(len(sizes)):
        lo, hi = np.searchsorted(rows, [offsets[i], offsets[i + 1]])
        if hi == lo:
            continue
        sig = np.load(scratch / f"{i}.sig.npy", mmap_mode="r")
        if out is None:
            out = np.empty((len(rows), sig.shape[1]), dtype=np.uint32)
        out[lo:hi] = sig[np.sort(rows[lo:hi] - offsets[i])]
        del sig
    return out


def _signatures_of(scratch: Path, sizes: np.ndarray, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The documents of candidate pairs (sorted) and their signatures."""
    rows = np.unique(pairs)
    return rows, _gather_signatures(scratch, sizes, rows)


def _estimates(rows: np.ndarray, S: np.ndarray, pairs: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    a, b = np.searchsorted(rows, pairs[:, 0]), np.searchsorted(rows, pairs[:, 1])
    out = np.empty(len(pairs), dtype=np.float64)
    for s in range(0, len(pairs), chunk):
        out[s : s + chunk] = (S[a[s : s + chunk]] == S[b[s : s + chunk]]).mean(axis=1)
    return out


def _exact_jaccards(found, scratch: Path, sizes: np.ndarray, cfg: SignConfig, dup, stage) -> np.ndarray:
    n = len(dup)
    out = np.full(n, np.nan, dtype=np.float64)
    out[stage == 2] = 1.0
    near = np.flatnonzero(stage == 3)
    if not len(near):
        return out
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    rows = np.unique(np.concatenate([near, dup[near]]))
    shingles: dict[int, np.ndarray] = {}
    for i, shard in enumerate(found):
        lo, hi = np.searchsorted(rows, [offsets[i], offsets[i + 1]])
        if hi == lo:
            continue
        pos = np.load(scratch / f"{i}.pos.npy")
        want = rows[lo:hi]
        by_pos = shard_shingles(shard, set(pos[want - offsets[i]].tolist()), cfg)
        for r in want.tolist():
            shingles[r] = by_pos[int(pos[r - offsets[i]])]
    for j in near.tolist():
        out[j] = exact_jaccard(shingles[j], shingles[int(dup[j])])
    return out


def _part(a: np.ndarray | None, lo: int, hi: int) -> np.ndarray | None:
    return None if a is None else a[lo:hi]


def _reasons(stage: np.ndarray, est: np.ndarray, sem: np.ndarray | None) -> list:
    out: list = [None] * len(stage)
    for j in np.flatnonzero(stage).tolist():
        s = stage[j]
        if s == 1:
            out[j] = "empty document"
        elif s == 2:
            out[j] = "exact duplicate (same normalised text)"
        elif s == 3:
            out[j] = f"near duplicate (MinHash estimated Jaccard {est[j]:.3f})"
        else:
            out[j] = f"semantic duplicate (SemDeDup cosine {sem[j]:.3f})" if sem is not None else "semantic duplicate"
    return out


def _write_kept(found: list[TextShard], scratch: Path, sizes: np.ndarray, keep: np.ndarray, dest: Path) -> None:
    from prunekit.data.text.output import write_kept_shard

    dest.mkdir()
    names = [s.name for s in found]
    unique = len(set(names)) == len(names)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    for i, shard in enumerate(found):
        pos = np.load(scratch / f"{i}.pos.npy")
        kept_pos = pos[keep[offsets[i] : offsets[i + 1]]]
        name = shard.name if unique else f"{i:05d}-{shard.name}"
        write_kept_shard(shard, kept_pos, dest / name)
