"""Text corpora: exact, near (MinHash-LSH) and semantic (SemDeDup) deduplication, streaming over
JSONL and Parquet shards. ``dedup(shards, out)`` is the one entry point; see docs/TEXT.md."""

from prunekit.data.text.dedup import TextDedupResult, dedup, implied_threshold

__all__ = ["TextDedupResult", "dedup", "implied_threshold"]
