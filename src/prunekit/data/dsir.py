"""DSIR: select from a raw pool the documents that look like a target distribution (Xie et al.,
"Data Selection for Language Models via Importance Resampling", NeurIPS 2023).

1. **Features**: hashed n-grams — lower-cased word tokens (``\\w+``), unigrams and bigrams
   (``ngrams=2``), each hashed (scikit-learn's signed 32-bit MurmurHash3, sign dropped) into
   ``buckets`` = 10,000 counts per document.
2. **Models**: a bag-of-n-grams model of the target, p̂, and one of the raw pool, q̂: the summed
   bucket counts plus ``smoothing`` (additive, default 1) normalised to a distribution over buckets.
3. **Importance log-weights**: log w_i = Σ_j c_ij (log p̂_j − log q̂_j) for document i with bucket
   counts c_i — a ``value`` score (column ``dsir``; higher = more target-like).
4. **Resampling**: k documents without replacement with probability ∝ w_i, by the Gumbel top-k
   trick (the ``importance`` selector; ``gumbel=False``: deterministic top-k).
5. **KL reduction** (the paper's data metric): KL(p̂_T ‖ q̂_raw) − KL(p̂_T ‖ q̂_selected), all three
   bag-of-n-gram models over the same buckets and smoothing; higher = the selection is closer to
   the target than the pool was.

``read_texts`` reads documents from .txt (one per line), .jsonl, .csv or .parquet (a text column).
Algorithm and parameters: docs/ALGORITHMS.md §1.12.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from prunekit.errors import ConfigError, InputError
from prunekit.params import Param, Spec

BUCKETS = Param("buckets", int, low=1, default=10_000, help="dsir: hash buckets of the n-gram features")
NGRAMS = Param("ngrams", int, low=1, high=5, default=2, help="dsir: longest n-gram hashed (2: unigrams and bigrams)")
SMOOTHING = Param("smoothing", float, low=0.0, low_open=True, default=1.0,
                  help="dsir: additive smoothing of the bag-of-n-gram models")
DSIR_PARAMS = Spec(BUCKETS, NGRAMS, SMOOTHING)
TOKEN_PATTERN = r"(?u)\b\w+\b"


@dataclass
class TextSet:
    """Documents: ``texts`` (N,), ``ids`` (N,) and optionally a per-document ``group`` (a domain)."""

    texts: list[str]
    ids: np.ndarray
    group: np.ndarray | None = None
    source: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)


def text_set(texts: Sequence[str], ids: Sequence[Any] | None = None, group: Sequence[Any] | None = None) -> TextSet:
    texts = list(texts)
    if not texts:
        raise InputError("no documents")
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise InputError(f"document {bad} is not text (got {type(texts[bad]).__name__})")
    ids_a = np.arange(len(texts), dtype=np.int64) if ids is None else np.asarray(ids)
    if len(ids_a) != len(texts) or len(np.unique(ids_a)) != len(ids_a):
        raise InputError("document ids must be unique, one per document")
    g = None if group is None else np.asarray(group, dtype=object)
    return TextSet(texts, ids_a, g, {"format": "array"})


def read_texts(path: str | os.PathLike, *, text_column: str = "text", id_column: str | None = None,
               group_column: str | None = None) -> TextSet:
    """Documents from ``.txt`` (one per line), ``.jsonl``, ``.csv`` or ``.parquet``; ``InputError``
    naming the file and the problem (missing file or column, a line that is not JSON, bad UTF-8)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"text file {p} does not exist" if not p.exists() else f"{p} is not a file")
    ext = p.suffix.lower()
    try:
        if ext == ".txt":
            rows = [{"text": ln} for ln in p.read_text(encoding="utf-8").splitlines()]
            text_column = "text"
        elif ext in (".jsonl", ".json"):
            rows = []
            with open(p, encoding="utf-8") as fh:
                for n, line in enumerate(fh, start=1):
                    if line.strip():
                        try:
                            rows.append(json.loads(line))
                        except json.JSONDecodeError:
                            raise InputError(f"{p} line {n} is not JSON") from None
        elif ext in (".csv", ".parquet", ".pq"):
            import pyarrow.csv as pacsv
            import pyarrow.parquet as pq

            rows = (pacsv.read_csv(p) if ext == ".csv" else pq.read_table(p)).to_pylist()
        else:
            raise InputError(f"{p}: text input is .txt, .jsonl, .csv or .parquet, not {ext or 'no extension'}")
    except UnicodeDecodeError as e:
        raise InputError(f"{p} is not valid UTF-8 (byte {e.start})") from None
    except InputError:
        raise
    except Exception as e:  # pyarrow's own parse errors, one line
        raise InputError(f"cannot read {p}: {str(e).splitlines()[0]}") from None
    if not rows:
        raise InputError(f"{p} holds no documents")
    bad_row = next((i for i, r in enumerate(rows) if not isinstance(r, dict)), None)
    if bad_row is not None:
        raise InputError(f"{p} row {bad_row + 1} is not an object with a {text_column!r} field")
    for col in (id_column, group_column):
        if col is not None and col not in rows[0]:
            raise InputError(f"{p} has no column {col!r}")
    texts = [r.get(text_column) for r in rows]
    missing = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if missing is not None:
        raise InputError(f"{p} row {missing + 1} has no text in column {text_column!r}")
    ids = [r[id_column] for r in rows] if id_column else None
    group = [r[group_column] for r in rows] if group_column else None
    ts = text_set(texts, ids, group)
    ts.source = {"path": str(p), "format": ext.lstrip("."), "text_column": text_column}
    return ts


def hashed_ngrams(texts: Sequence[str], *, buckets: int = 10_000, ngrams: int = 2):
    """(N, buckets) sparse CSR float64 counts of each document's hashed word n-grams, n = 1…ngrams."""
    from sklearn.feature_extraction.text import HashingVectorizer

    v = HashingVectorizer(n_features=BUCKETS.check(buckets), ngram_range=(1, NGRAMS.check(ngrams)),
                          alternate_sign=False, norm=None, lowercase=True, token_pattern=TOKEN_PATTERN,
                          dtype=np.float64)
    return v.transform(texts).tocsr()


def ngram_model(total_counts: np.ndarray, smoothing: float = 1.0) -> np.ndarray:
    """A bag-of-n-gram distribution over the buckets: (counts + smoothing) / Σ (counts + smoothing)."""
    c = np.asarray(total_counts, dtype=np.float64) + SMOOTHING.check(smoothing)
    return c / c.sum()


def kl(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p ‖ q) in nats for distributions with q > 0 wherever p > 0."""
    m = p > 0
    return float(np.sum(p[m] * (np.log(p[m]) - np.log(q[m]))))


def kl_reduction(target_counts: np.ndarray, raw_counts: np.ndarray, selected_counts: np.ndarray,
                 smoothing: float = 1.0) -> float:
    """DSIR's KL reduction: KL(p̂_T ‖ q̂_raw) − KL(p̂_T ‖ q̂_selected), each argument the summed bucket
    counts of the target, the raw pool and the selection (smoothed alike by :func:`ngram_model`)."""
    p = ngram_model(target_counts, smoothing)
    return kl(p, ngram_model(raw_counts, smoothing)) - kl(p, ngram_model(selected_counts, smoothing))


@dataclass
class DSIRWeights:
    """``log_weights`` (N,) of the raw documents; ``raw_counts`` (N, buckets) sparse; the target's
    summed counts and both models (``p_target``, ``q_raw``)."""

    log_weights: np.ndarray
    raw_counts: Any
    target_total: np.ndarray
    p_target: np.ndarray
    q_raw: np.ndarray
    params: dict[str, Any]
    seconds: float = 0.0

    def kl_reduction(self, rows: np.ndarray) -> float:
        """KL reduction of the raw documents ``rows`` (a selection)."""
        sel = np.asarray(self.raw_counts[np.asarray(rows)].sum(axis=0)).ravel()
        raw = np.asarray(self.raw_counts.sum(axis=0)).ravel()
        return kl_reduction(self.target_total, raw, sel, self.params["smoothing"])


def dsir_weights(raw: Sequence[str] | TextSet, target: Sequence[str] | TextSet, *, buckets: int = 10_000,
                 ngrams: int = 2, smoothing: float = 1.0) -> DSIRWeights:
    """Importance log-weights of the ``raw`` documents towards the ``target`` documents.
    ``InputError`` when either is empty or the target shares no hashed n-gram with the pool."""
    p = DSIR_PARAMS.resolve({"buckets": buckets, "ngrams": ngrams, "smoothing": smoothing}, "dsir")
    raw_t = raw.texts if isinstance(raw, TextSet) else list(raw)
    tgt_t = target.texts if isinstance(target, TextSet) else list(target)
    if not raw_t:
        raise InputError("the raw pool holds no documents")
    if not tgt_t:
        raise InputError("the target holds no documents")
    t0 = time.perf_counter()
    R = hashed_ngrams(raw_t, buckets=p["buckets"], ngrams=p["ngrams"])
    T = hashed_ngrams(tgt_t, buckets=p["buckets"], ngrams=p["ngrams"])
    raw_total = np.asarray(R.sum(axis=0)).ravel()
    tgt_total = np.asarray(T.sum(axis=0)).ravel()
    if tgt_total.sum() == 0:
        raise InputError("the target documents hold no words: nothing to fit the target model on")
    shared = int(((raw_total > 0) & (tgt_total > 0)).sum())
    if shared == 0:
        raise InputError(f"the target shares no word n-gram with the raw pool (0 of {int((tgt_total > 0).sum())} "
                         "target n-gram buckets occur in the pool): their vocabularies do not overlap")
    pt = ngram_model(tgt_total, p["smoothing"])
    qr = ngram_model(raw_total, p["smoothing"])
    logw = np.asarray(R @ (np.log(pt) - np.log(qr))).ravel()
    return DSIRWeights(logw, R, tgt_total, pt, qr, {**p, "shared_buckets": shared}, time.perf_counter() - t0)


def dsir_table(raw: TextSet, target: TextSet, **params: Any):
    """A :class:`~prunekit.data.ScoreTable` of the raw documents with the ``dsir`` log-weight column
    (direction ``value``) and the documents' groups, if any, as labels; returns ``(table, weights)``
    (the weights hold the counts :meth:`DSIRWeights.kl_reduction` needs). Select with
    ``select(table, "importance", keep=…)``."""
    from prunekit.data.table import ScoreTable

    unknown = sorted(set(params) - set(DSIR_PARAMS.names()))
    if unknown:
        raise ConfigError(f"dsir has no parameter {unknown[0]!r}; its parameters: {', '.join(DSIR_PARAMS.names())}")
    w = dsir_weights(raw, target, **params)
    meta = {"source": {**raw.source, "n": len(raw)}, "target": {**target.source, "n": len(target)},
            "directions": {"dsir": "value"},
            "scorers": [{"method": "dsir", "params": w.params, "seconds": round(w.seconds, 4)}]}
    labels = None
    if raw.group is not None:  # the documents' groups (domains) are the table's labels
        names, labels = np.unique(np.asarray([str(g) for g in raw.group]), return_inverse=True)
        meta["label_names"] = names.tolist()
    table = ScoreTable(ids=raw.ids, labels=labels, scores={"dsir": w.log_weights}, meta=meta)
    return table, w


def dsir_select(raw: str | os.PathLike | TextSet, target: str | os.PathLike | TextSet, keep: float | None = None, *,
                count: int | None = None, seed: int = 0, gumbel: bool = True, text_column: str = "text",
                id_column: str | None = None, group_column: str | None = None, **params: Any):
    """DSIR end to end, as ``prunekit data dsir`` runs it: read the raw pool and the target (paths
    or :class:`TextSet`), score (``dsir_table``), importance-resample ``keep`` (or ``count``) documents
    (``gumbel=False``: deterministic top-k), and record the selection's KL reduction in
    ``meta["selection"]["kl_reduction"]``. Returns the selection table (``.write(path)`` to save)::

        sel = dsir_select("pool.jsonl", "reviews.jsonl", keep=0.1, group_column="domain")
        sel.write("dsir.parquet")
    """
    from prunekit.data.pipeline import select

    inputs = tuple((what, x) for what, x in (("raw pool", raw), ("target", target)) if not isinstance(x, TextSet))
    if not isinstance(raw, TextSet):
        raw = read_texts(raw, text_column=text_column, id_column=id_column, group_column=group_column)
    if not isinstance(target, TextSet):
        target = read_texts(target, text_column=text_column)
    table, weights = dsir_table(raw, target, **params)
    sel = select(table, "importance", keep, count=count, seed=seed, gumbel=gumbel)
    sel.meta["selection"]["kl_reduction"] = weights.kl_reduction(np.flatnonzero(sel.keep))
    sel.inputs = inputs
    return sel


def composition(groups: np.ndarray, rows: np.ndarray) -> dict[str, float]:
    """Fraction of ``rows`` from each group (all groups listed, sorted by name)."""
    g = np.asarray(groups, dtype=object)
    names = sorted({str(x) for x in g})
    sel = [str(x) for x in g[np.asarray(rows)]]
    return {n: sel.count(n) / max(1, len(sel)) for n in names}
