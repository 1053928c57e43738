"""The per-shard pass: read a shard in batches, normalise, hash, sign, and spill to scratch files.

A worker holds one batch of text at a time (``batch_bytes``) and the shard's signatures
(``4 · num_perm`` bytes per document) until it writes them; nothing of the text is kept. Files
written per shard ``i`` in the scratch folder:

- ``i.exact.npy`` (n,) uint64: hash of the normalised text (the exact-duplicate key);
- ``i.has.npy`` (n,) bool: the document has at least one shingle (a signature);
- ``i.empty.npy`` (n,) bool: the document is empty (only with ``allow_empty``);
- ``i.sig.npy`` (n, num_perm) uint32: MinHash signatures;
- ``i.keys.npy`` (bands, n) uint64: LSH bucket keys, band-major (a band of a shard is contiguous);
- ``i.pos.npy`` (n,) int64: line (JSONL) or row (Parquet) of each document;
- ``i.ids.json``: the document ids (and ``i.idhash.npy``, their 64-bit hashes, with ``id_field``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prunekit.data.text.minhash import MinHasher, exact_hash, normalize
from prunekit.data.text.shards import TextShard, iter_documents


@dataclass(frozen=True)
class SignConfig:
    text_field: str = "text"
    id_field: str | None = None
    ngram: int = 5
    bands: int = 14
    rows: int = 8
    seed: int = 0
    allow_empty: bool = False
    batch_bytes: int = 4 << 20

    def hasher(self) -> MinHasher:
        return MinHasher(ngram=self.ngram, bands=self.bands, rows=self.rows, seed=self.seed)


_HASHER: dict = {}


def sign_shard(args: tuple[int, TextShard, str, SignConfig]) -> dict:
    """Process shard ``i`` (see the module docstring); returns ``{index, shard, documents, seconds,
    empty, short}`` (short = documents without a signature)."""
    i, shard, scratch, cfg = args
    t0 = time.perf_counter()
    mh = _HASHER.get(cfg) or _HASHER.setdefault(cfg, cfg.hasher())
    exact, has, empty, sigs, pos, ids = [], [], [], [], [], []
    for batch in iter_documents(shard, text_field=cfg.text_field, id_field=cfg.id_field,
                                allow_empty=cfg.allow_empty, batch_bytes=cfg.batch_bytes):
        normed = [normalize(t) for t in batch.texts]
        exact.append(np.fromiter((exact_hash(t) for t in normed), dtype=np.uint64, count=len(normed)))
        sig, h = mh.signatures(normed)
        e = np.zeros(len(normed), dtype=bool)
        e[batch.empty] = True
        sigs.append(sig)
        has.append(h & ~e)
        empty.append(e)
        pos.append(np.asarray(batch.positions, dtype=np.int64))
        ids.extend(batch.ids)
    P = mh.num_perm
    sig = np.concatenate(sigs) if sigs else np.empty((0, P), np.uint32)
    d = Path(scratch)
    np.save(d / f"{i}.exact.npy", np.concatenate(exact) if exact else np.empty(0, np.uint64))
    np.save(d / f"{i}.has.npy", np.concatenate(has) if has else np.empty(0, bool))
    np.save(d / f"{i}.empty.npy", np.concatenate(empty) if empty else np.empty(0, bool))
    np.save(d / f"{i}.sig.npy", sig)
    np.save(d / f"{i}.keys.npy", mh.band_keys(sig))
    np.save(d / f"{i}.pos.npy", np.concatenate(pos) if pos else np.empty(0, np.int64))
    (d / f"{i}.ids.json").write_text(json.dumps(ids))
    if cfg.id_field:
        np.save(d / f"{i}.idhash.npy", np.fromiter((exact_hash(x) for x in ids), dtype=np.uint64, count=len(ids)))
    n = len(sig)
    n_has = int(np.load(d / f"{i}.has.npy").sum()) if n else 0
    n_empty = int(sum(int(e.sum()) for e in empty))
    st = os.stat(shard.path)
    with open(shard.path, "rb") as fh:   # the shard's content identity, as the example pillar records its data's
        sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
    return {"index": i, "shard": shard.path, "documents": n, "seconds": round(time.perf_counter() - t0, 3),
            "empty": n_empty, "short": n - n_has - n_empty, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns,
            "sha256": sha256}


def shard_shingles(shard: TextShard, positions: set[int], cfg: SignConfig) -> dict[int, np.ndarray]:
    """Distinct shingle hashes (sorted) of the documents at ``positions`` of one shard (a second
    read, for exact Jaccard)."""
    mh = _HASHER.get(cfg) or _HASHER.setdefault(cfg, cfg.hasher())
    out: dict[int, np.ndarray] = {}
    for batch in iter_documents(shard, text_field=cfg.text_field, id_field=cfg.id_field,
                                allow_empty=True, batch_bytes=cfg.batch_bytes):
        want = [k for k, p in enumerate(batch.positions) if p in positions]
        if not want:
            continue
        h, doc = mh.shingles([normalize(batch.texts[k]) for k in want])
        cut = np.searchsorted(doc, np.arange(len(want) + 1))
        for local, k in enumerate(want):
            out[batch.positions[k]] = np.unique(h[cut[local] : cut[local + 1]])
    return out


def exact_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted sets of shingle hashes."""
    if not len(a) and not len(b):
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)
