"""What ``dedup`` writes, shard by shard (into the caller's atomic folder):

- ``write_table``: ``dedup.parquet``, one row group per shard, in the score-table layout of the
  example pillar (``ScoreTable.read`` opens it) — the ids are never all in memory at once: each
  shard's come from its scratch file, and only the ids that removed documents point at are looked
  up across shards;
- ``write_kept_shard``: the kept documents of a shard in the shard's own format: JSONL lines copied
  byte for byte (gzip again for ``.jsonl.gz``), Parquet rows with all their columns."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from prunekit._version import __version__
from prunekit.data.table import META_KEY, _jsonable

from prunekit.data.text.shards import TextShard, _open


def write_kept_shard(shard: TextShard, kept_positions: np.ndarray, dest: Path) -> int:
    """Write the documents of ``shard`` at ``kept_positions`` (lines or rows, ascending) to
    ``dest``; returns how many."""
    keep = set(kept_positions.tolist())
    if shard.fmt == "jsonl":
        opener = gzip.open if dest.name.lower().endswith(".gz") else open
        with _open(shard.path) as src, opener(dest, "wb") as out:
            for n, raw in enumerate(src, 1):
                if n in keep:
                    out.write(raw if raw.endswith(b"\n") else raw + b"\n")
        return len(keep)
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(shard.path)
    writer = pq.ParquetWriter(dest, pf.schema_arrow)
    try:
        row = 0
        for rb in pf.iter_batches(batch_size=8192):
            idx = kept_positions[(kept_positions >= row) & (kept_positions < row + rb.num_rows)] - row
            if len(idx):
                writer.write_table(pa.Table.from_batches([rb.take(pa.array(idx))]))
            row += rb.num_rows
    finally:
        writer.close()
    return len(keep)


def read_ids(scratch: Path, sizes: np.ndarray, rows: np.ndarray) -> dict[int, str]:
    """The ids of the documents ``rows`` (global indices), one shard's id file at a time."""
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    rows = np.unique(rows)
    out: dict[int, str] = {}
    for i in range(len(sizes)):
        lo, hi = np.searchsorted(rows, [offsets[i], offsets[i + 1]])
        if hi > lo:
            ids = json.loads((scratch / f"{i}.ids.json").read_text())
            for r in rows[lo:hi].tolist():
                out[r] = ids[r - int(offsets[i])]
    return out


def write_table(path: Path, scratch: Path, sizes: np.ndarray, scores: dict[str, np.ndarray], dup: np.ndarray,
                keep: np.ndarray, reasons: Callable[[int, int], list], meta: dict[str, Any]) -> None:
    """``id, <scores>, duplicate_of, keep, reason`` + the ``prunekit`` metadata, shard by shard."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = read_ids(scratch, sizes, dup[dup >= 0])
    fields = [pa.field("id", pa.string())] + [pa.field(k, pa.float64()) for k in scores] + [
        pa.field("duplicate_of", pa.string()), pa.field("keep", pa.bool_()), pa.field("reason", pa.string())]
    metadata = {META_KEY: json.dumps({**meta, "prunekit_version": __version__}, default=_jsonable)}
    schema = pa.schema(fields, metadata=metadata)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    with pq.ParquetWriter(path, schema) as writer:
        for i in range(len(sizes)):
            lo, hi = int(offsets[i]), int(offsets[i + 1])
            if hi == lo:
                continue
            ids = json.loads((scratch / f"{i}.ids.json").read_text())
            cols = [pa.array(ids, pa.string())] + [pa.array(v[lo:hi], pa.float64()) for v in scores.values()]
            cols += [pa.array([target[d] if d >= 0 else None for d in dup[lo:hi].tolist()], pa.string()),
                     pa.array(keep[lo:hi]), pa.array(reasons(lo, hi), pa.string())]
            writer.write_table(pa.Table.from_arrays(cols, schema=schema))
