"""Text corpora stored as shards: JSON Lines (``.jsonl``, ``.jsonl.gz``) and Parquet files.

``find_shards`` turns the command's arguments (files, folders, globs) into an ordered list of
shards; ``iter_documents`` streams one shard in batches of about ``batch_bytes`` of text, never the
whole shard. A document is a JSON object per line (blank lines are skipped) or a Parquet row; its
text is the ``text_field`` value. Every problem names the shard and the line (JSONL, 1-based) or
row (Parquet, 0-based): a line that is not JSON, bytes that are not UTF-8, a missing or non-string
text field, an empty document (unless ``allow_empty``: empty documents are then reported as such
and removed).

A document's id is the value of ``id_field`` when given, else ``<shard name>:<line or row>``.
"""

from __future__ import annotations

import glob as _glob
import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from prunekit.errors import InputError

EXTENSIONS = {".jsonl": "jsonl", ".jsonl.gz": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class TextShard:
    path: str
    fmt: str

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


@dataclass
class Batch:
    """A batch of one shard's documents: ids, texts, and their positions (line or row numbers)."""

    ids: list
    texts: list[str]
    positions: list[int]
    empty: list[int]  # positions of empty documents (only with allow_empty)


def shard_format(path: str) -> str | None:
    low = path.lower()
    for ext, fmt in EXTENSIONS.items():
        if low.endswith(ext):
            return fmt
    return None


def find_shards(sources) -> list[TextShard]:
    """The shards named by ``sources`` (files, folders holding shards, or globs), in the order
    given, each folder or glob sorted by name; refuses missing paths, unknown extensions and
    shards named twice."""
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    out: list[TextShard] = []
    seen: set[str] = set()
    for src in sources:
        s = str(src)
        if any(ch in s for ch in "*?["):
            paths = sorted(_glob.glob(s))
            if not paths:
                raise InputError(f"no file matches {s}")
        elif os.path.isdir(s):
            paths = sorted(os.path.join(s, f) for f in os.listdir(s) if shard_format(f))
            if not paths:
                raise InputError(f"folder {s} holds no text shards (.jsonl, .jsonl.gz, .parquet)")
        elif not os.path.exists(s):
            raise InputError(f"{s} does not exist")
        else:
            paths = [s]
        for p in paths:
            fmt = shard_format(p)
            if fmt is None:
                raise InputError(f"{p} is not a text shard: name it .jsonl, .jsonl.gz or .parquet")
            real = os.path.realpath(p)
            if real in seen:
                raise InputError(f"shard {p} is named twice")
            seen.add(real)
            out.append(TextShard(p, fmt))
    if not out:
        raise InputError("no shards given")
    return out


def iter_documents(shard: TextShard, *, text_field: str = "text", id_field: str | None = None,
                   allow_empty: bool = False, batch_bytes: int = 4 << 20) -> Iterator[Batch]:
    """Stream a shard's documents in batches (see the module docstring)."""
    reader = _iter_jsonl if shard.fmt == "jsonl" else _iter_parquet
    batch = Batch([], [], [], [])
    size = 0
    for pos, doc_id, text in reader(shard, text_field, id_field):
        if not text.strip():
            if not allow_empty:
                raise InputError(f"{shard.path}: {_where(shard, pos)}: empty document "
                                 "(pass --allow-empty to remove empty documents instead)")
            batch.empty.append(len(batch.ids))
        batch.ids.append(doc_id if id_field else f"{shard.name}:{pos}")
        batch.texts.append(text)
        batch.positions.append(pos)
        size += len(text)
        if size >= batch_bytes:
            yield batch
            batch, size = Batch([], [], [], []), 0
    if batch.ids:
        yield batch


def _where(shard: TextShard, pos: int) -> str:
    return f"line {pos}" if shard.fmt == "jsonl" else f"row {pos}"


def _open(path: str):
    if path.lower().endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def _iter_jsonl(shard: TextShard, text_field: str, id_field: str | None):
    try:
        fh = _open(shard.path)
    except OSError as exc:
        raise InputError(f"cannot read {shard.path}: {exc.strerror or exc}") from None
    with fh:
        try:
            for n, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InputError(f"{shard.path}: line {n}: not UTF-8 (byte 0x{raw[exc.start]:02x} at "
                                     f"position {exc.start})") from None
                try:
                    doc = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{shard.path}: line {n}: not JSON ({exc.msg} at column {exc.colno})") from None
                yield n, *_fields(doc, shard, n, text_field, id_field)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"cannot read {shard.path}: {exc}") from None


def _fields(doc, shard: TextShard, pos: int, text_field: str, id_field: str | None):
    where = f"{shard.path}: {_where(shard, pos)}"
    if not isinstance(doc, dict):
        raise InputError(f"{where}: expected a JSON object with a {text_field!r} field, got {type(doc).__name__}")
    if text_field not in doc:
        have = ", ".join(list(doc)[:8]) or "none"
        raise InputError(f"{where}: no {text_field!r} field (fields: {have}); choose one with --text-field")
    text = doc[text_field]
    if not isinstance(text, str):
        raise InputError(f"{where}: the {text_field!r} field is {type(text).__name__}, not text")
    doc_id = None
    if id_field:
        if id_field not in doc or doc[id_field] is None:
            raise InputError(f"{where}: no {id_field!r} field (the --id-field)")
        doc_id = str(doc[id_field])
    return doc_id, text


def _iter_parquet(shard: TextShard, text_field: str, id_field: str | None):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(shard.path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"cannot read {shard.path} as Parquet: {str(exc).splitlines()[0]}") from None
    names = pf.schema_arrow.names
    for f in (text_field, id_field):
        if f and f not in names:
            raise InputError(f"{shard.path}: no column {f!r} (columns: {', '.join(names[:8])})")
    cols = [text_field] + ([id_field] if id_field else [])
    row = 0
    try:
        for rb in pf.iter_batches(batch_size=8192, columns=cols):
            col = rb.column(0)
            if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type):
                values = col.to_pylist()
                texts = []
                for i, v in enumerate(values):
                    try:
                        texts.append(None if v is None else v.decode("utf-8"))
                    except UnicodeDecodeError as exc:
                        raise InputError(f"{shard.path}: row {row + i}: not UTF-8 (byte 0x{v[exc.start]:02x} "
                                         f"at position {exc.start})") from None
            elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                texts = col.to_pylist()
            else:
                raise InputError(f"{shard.path}: column {text_field!r} is {col.type}, not text")
            ids = rb.column(1).to_pylist() if id_field else None
            for i, t in enumerate(texts):
                if t is None:
                    raise InputError(f"{shard.path}: row {row + i}: the {text_field!r} value is null")
                doc_id = None
                if id_field:
                    if ids[i] is None:
                        raise InputError(f"{shard.path}: row {row + i}: the {id_field!r} value is null")
                    doc_id = str(ids[i])
                yield row + i, doc_id, t
            row += rb.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"cannot read {shard.path}: {str(exc).splitlines()[0]}") from None


def shard_paths(shards: list[TextShard]) -> list[Path]:
    return [Path(s.path) for s in shards]
