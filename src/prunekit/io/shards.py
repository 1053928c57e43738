"""One data set stored as many files — *shards* — for the distributed engine (and the local one).

A shard source is a folder, a glob (``emb/part-*.npy``) or a single file, on the local disk or
behind any fsspec URI (``s3://bucket/emb/*.parquet``). Every shard is a ``.npy`` matrix or a
Parquet file (columns as for ``read_examples``: an embedding list column or numeric columns, plus
optional ``label``/``id``); all shards of a source have one format, one width and one dtype. The
rows of the data set are the shards' rows in the order of their sorted names; ``.npy`` shards
carry no ids, so a row's id is its global row number (as for a single ``.npy``).

``scan_shards`` reads only headers, ids and labels (never embeddings) and checks everything it can
before any work starts: the extension against the magic bytes, width and dtype across shards,
duplicate ids across shards — each error names the shard. ``read_shard`` reads one shard's
embeddings; ``read_shards`` concatenates them into an ``ExampleSet`` (what the local engine scores).
The identity of a sharded data set is that of the concatenation, computed streaming over the
shards (``shard_identity``): a data set split into shards and the same rows in one file agree.
"""

from __future__ import annotations

import glob as _glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from prunekit.errors import InputError, MissingDependencyError
from prunekit.io.examples import (
    _FORMAT_NAMES, ExampleSet, _check_ids, _encode_labels, _sniff, examples_from_table,
)
from prunekit.io.identity import DataIdentity, _content_digest_blocks, _ids_digest, block_rows
from prunekit.io.npy import open_npy, read_header as read_npy_header

SHARD_FORMATS = {".npy": "npy", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class Shard:
    """One file of a sharded data set: rows ``offset … offset + rows`` of the whole."""

    uri: str
    fmt: str
    rows: int
    dim: int
    dtype: str
    offset: int = 0
    size: int = 0
    mtime: str = ""

    @property
    def name(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]

    def key(self) -> dict[str, Any]:
        """What a finished piece of work on this shard depends on (its completion markers)."""
        return {"uri": self.uri, "rows": self.rows, "offset": self.offset, "size": self.size, "mtime": self.mtime}


@dataclass
class ShardSet:
    """A scanned shard source: the shards, every row's id and label, and the source record. It
    stands in for an ``ExampleSet`` wherever embeddings are not needed (``len``, ``ids``, ``labels``,
    ``n_classes``, ``source``, ``identity``)."""

    shards: list[Shard]
    ids: np.ndarray
    labels: np.ndarray | None
    label_names: list[str] | None
    source: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    _identity: DataIdentity | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return self.shards[0].dim

    @property
    def n_classes(self) -> int | None:
        return None if self.labels is None else int(self.labels.max()) + 1

    @property
    def identity(self) -> DataIdentity:
        if self._identity is None:
            self._identity = shard_identity(self)
        return self._identity


def _fs(uri: str):
    """(fsspec filesystem or None for a local path, path on it)."""
    if "://" not in uri:
        return None, uri
    import fsspec

    try:
        return fsspec.core.url_to_fs(uri)
    except ImportError as exc:  # fsspec knows the protocol, its package is missing: "Install s3fs to access S3"
        extra = " (pip install 'prunekit[s3]')" if uri.startswith(("s3://", "s3a://")) else ""
        raise MissingDependencyError(f"cannot read {uri}: {exc}{extra}") from None
    except ValueError as exc:  # a protocol fsspec does not know
        raise InputError(f"cannot read {uri}: {exc}") from None


def _open(uri: str):
    fs, path = _fs(uri)
    return open(path, "rb") if fs is None else fs.open(path, "rb")


def load_npy(uri: str) -> np.ndarray:
    """The array in the ``.npy`` file ``uri``: memory-mapped when local, read whole from a store.
    Parsed by prunekit, not numpy, so that threads can read shards at once (see ``prunekit.io.npy``)."""
    fs, path = _fs(uri)
    if fs is None:
        return open_npy(path)
    with fs.open(path, "rb") as fh:
        return open_npy(fh)


def is_shard_source(spec: str) -> bool:
    """Whether ``spec`` names shards rather than one file: a glob, a URI, or a folder of .npy files
    (a folder of Parquet files stays one Parquet data set for ``read_examples``)."""
    if any(ch in spec for ch in "*?[") or "://" in spec:
        return True
    return os.path.isdir(spec) and any(n.lower().endswith(".npy") for n in os.listdir(spec))


def list_shard_files(spec: str | os.PathLike | list) -> list[str]:
    """The shard files of a folder, glob or single file, sorted by name (hidden files skipped); a
    list of files is taken as it is, in its order."""
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise InputError("no shards given")
        return [str(u) for u in spec]
    s = str(spec)
    fs, path = _fs(s)
    proto = s.split("://", 1)[0] + "://" if fs is not None else ""
    isdir = os.path.isdir(path) if fs is None else fs.isdir(path)
    if any(ch in path for ch in "*?["):
        found = sorted(_glob.glob(path)) if fs is None else sorted(fs.glob(path))
    elif isdir:
        names = sorted(os.listdir(path)) if fs is None else sorted(p.rsplit("/", 1)[-1] for p in fs.ls(path, detail=False))
        found = [f"{path.rstrip('/')}/{n}" for n in names if Path(n).suffix.lower() in SHARD_FORMATS]
    else:
        exists = os.path.exists(path) if fs is None else fs.exists(path)
        if not exists:
            raise InputError(f"input {s} does not exist")
        found = [path]
    found = [f for f in found if not f.rsplit("/", 1)[-1].startswith((".", "_"))]
    if not found:
        raise InputError(f"no .npy or Parquet shards in {s}")
    if fs is not None and proto and not found[0].startswith(proto):
        found = [proto + f for f in found]
    return found


def _header(uri: str) -> tuple[str, int, int, str, int, str]:
    """(format, rows, dim, dtype, size, mtime) of one shard from its first bytes and header."""
    ext = Path(uri).suffix.lower()
    fmt = SHARD_FORMATS.get(ext)
    name = uri.rsplit("/", 1)[-1]
    if fmt is None:
        raise InputError(f"shard {name}: unknown extension {ext or '(none)'}; shards are .npy or .parquet files")
    fs, path = _fs(uri)
    info = os.stat(path) if fs is None else None
    size = info.st_size if info is not None else int(fs.size(path))
    mtime = str(info.st_mtime_ns) if info is not None else str(fs.info(path).get("mtime", ""))
    if size == 0:
        raise InputError(f"shard {name} is empty (0 bytes)")
    with _open(uri) as fh:
        head = fh.read(8)
        actual = _sniff(head)
        if actual != fmt:
            what = _FORMAT_NAMES[actual] if actual else "something else"
            raise InputError(f"shard {name} holds {what} but its extension says {_FORMAT_NAMES[fmt]}")
        if fmt == "npy":
            fh.seek(0)
            try:
                h = read_npy_header(fh)
            except ValueError as exc:
                raise InputError(f"shard {name}: cannot read its .npy header: {exc}") from None
            shape, fortran, dtype = h.shape, h.fortran_order, h.dtype
            if len(shape) != 2 or fortran:
                raise InputError(f"shard {name}: expected a C-ordered 2-D matrix, got shape {shape}")
            if dtype.kind not in "fiu":
                raise InputError(f"shard {name}: embeddings must be numeric, got dtype {dtype}")
            return fmt, int(shape[0]), int(shape[1]), str(dtype), size, mtime
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with _open(uri) as fh:
            pf = pq.ParquetFile(fh)
            rows = pf.metadata.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"shard {name}: cannot read it as Parquet: {str(exc).splitlines()[0]}") from None
    if rows == 0:
        raise InputError(f"shard {name} has no rows")
    return fmt, int(rows), -1, "", size, mtime


def _read_parquet(uri: str, columns: list[str] | None = None):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with _open(uri) as fh:
            return pq.read_table(fh, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"shard {uri.rsplit('/', 1)[-1]}: cannot read it as Parquet: {str(exc).splitlines()[0]}") from None


def _table_examples(uri: str, options: dict[str, Any], *, first_row: bool = False) -> ExampleSet:
    try:
        if first_row:
            import pyarrow.parquet as pq

            with _open(uri) as fh:
                table = pq.ParquetFile(fh).read_row_group(0).slice(0, 1)
        else:
            table = _read_parquet(uri)
        return examples_from_table(table, source={"path": uri}, **options)
    except InputError as exc:
        raise InputError(f"shard {uri.rsplit('/', 1)[-1]}: {exc}") from None


def read_shard(shard: Shard, options: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray | None, Any]:
    """(embeddings (rows, D), ids or None, raw labels or None) of one shard. A local ``.npy`` is
    memory-mapped (streamed by the callers), anything else is read whole."""
    if shard.fmt == "npy":
        X = load_npy(shard.uri)
        got = (X.shape[0], X.shape[1], str(X.dtype))
        if got != (shard.rows, shard.dim, shard.dtype):
            raise InputError(f"shard {shard.name} changed since it was scanned ({got})")
        return X, None, None
    ex = _table_examples(shard.uri, options or {})
    X = ex.embeddings
    if X.shape != (shard.rows, shard.dim):
        raise InputError(f"shard {shard.name} has {X.shape[1]} columns of embeddings, the other shards {shard.dim}")
    raw_labels = None
    if ex.source.get("label_column"):
        raw_labels = _read_parquet(shard.uri, [ex.source["label_column"]]).column(0).to_numpy(zero_copy_only=False)
    return X, (ex.ids if ex.source.get("id_column") else None), raw_labels


def scan_shards(spec: str | os.PathLike, *, embedding_column: Any = None, label_column: str | None = None,
                id_column: str | None = None) -> ShardSet:
    """List and check the shards of ``spec``; read every row's id and label (not the embeddings)."""
    options = {"embedding_column": embedding_column, "label_column": label_column, "id_column": id_column}
    uris = list_shard_files(spec)
    shards: list[Shard] = []
    ids_parts, label_parts, offset = [], [], 0
    for uri in uris:
        fmt, rows, dim, dtype, size, mtime = _header(uri)
        if shards and fmt != shards[0].fmt:
            raise InputError(f"shard {uri.rsplit('/', 1)[-1]} is {_FORMAT_NAMES[fmt]}, shard {shards[0].name} "
                             f"{_FORMAT_NAMES[shards[0].fmt]}: all shards need one format")
        ids = labels = None
        if fmt == "npy" and any(v is not None for v in options.values()):
            raise InputError("column options apply to Parquet shards, not to .npy")
        if fmt == "parquet":
            # the columns from the first row (embedding width, id and label columns), then only
            # the id and label columns of every row: the embeddings are read by the workers
            one = _table_examples(uri, options, first_row=True)
            dim, dtype = one.dim, "float32"
            id_col, label_col = one.source.get("id_column"), one.source.get("label_column")
            cols = _read_parquet(uri, [c for c in (id_col, label_col) if c]) if (id_col or label_col) else None
            if id_col:
                ids = _check_ids(cols.column(id_col).to_numpy(zero_copy_only=False), rows)
            if label_col:
                labels = cols.column(label_col).to_numpy(zero_copy_only=False)
            if shards and (labels is None) != (label_parts[0] is None):
                raise InputError(f"shard {uri.rsplit('/', 1)[-1]} {'has no' if labels is None else 'has a'} "
                                 f"label column, shard {shards[0].name} {'has one' if labels is None else 'has none'}")
        shard = Shard(uri, fmt, rows, dim, dtype, offset, size, mtime)
        if shards and (dim, dtype) != (shards[0].dim, shards[0].dtype):
            raise InputError(f"shard {shard.name} holds {dim}-wide {dtype} rows, shard {shards[0].name} "
                             f"{shards[0].dim}-wide {shards[0].dtype}: all shards need one width and dtype")
        if shards and (ids is None) != (ids_parts[0] is None):
            raise InputError(f"shard {shard.name} {'has no' if ids is None else 'has an'} id column, "
                             f"shard {shards[0].name} {'has one' if ids is None else 'has none'}")
        shards.append(shard)
        ids_parts.append(ids)
        label_parts.append(labels)
        offset += rows
    n = offset
    if ids_parts[0] is None:
        all_ids = np.arange(n, dtype=np.int64)
    else:
        all_ids = np.concatenate(ids_parts)
        _check_unique_ids(all_ids, shards)
    labels, names = (None, None)
    if label_parts[0] is not None:
        labels, names = _encode_labels(np.concatenate(label_parts), n)
    source = {"path": str(spec), "format": "shards", "shard_format": shards[0].fmt,
              "shards": [s.uri for s in shards], "n_rows": n,
              **{k: v for k, v in options.items() if v is not None}}
    return ShardSet(shards, all_ids, labels, names, source, options)


def _check_unique_ids(ids: np.ndarray, shards: list[Shard]) -> None:
    key = ids.astype(str) if ids.dtype == object else ids
    order = np.argsort(key, kind="stable")
    s = key[order]
    same = np.flatnonzero(s[1:] == s[:-1])
    if len(same):
        a, b = int(order[same[0]]), int(order[same[0] + 1])
        starts = np.array([sh.offset for sh in shards])
        sa, sb = (shards[int(np.searchsorted(starts, r, side="right")) - 1] for r in (a, b))
        where = f"shard {sa.name}" if sa is sb else f"shards {sa.name} and {sb.name}"
        raise InputError(f"ids must be unique; {ids[a]!r} occurs twice ({where})")


def iter_shard_blocks(shards: list[Shard], rows_per_block: int, options: dict[str, Any] | None = None
                      ) -> Iterator[np.ndarray]:
    """Raw rows of the whole data set in blocks of ``rows_per_block`` (the last one shorter),
    whatever the shard boundaries: blocks cut the concatenation as they would cut one file."""
    from prunekit.io.arrays import iter_raw_blocks

    pending: list[np.ndarray] = []
    have = 0
    for shard in shards:
        X, _, _ = read_shard(shard, options)
        for _, _, raw in iter_raw_blocks(X, rows_per_block):
            raw = np.array(raw)  # the reader reuses its buffer
            while len(raw):
                take = min(len(raw), rows_per_block - have)
                pending.append(raw[:take])
                have += take
                raw = raw[take:]
                if have == rows_per_block:
                    yield np.concatenate(pending) if len(pending) > 1 else pending[0]
                    pending, have = [], 0
    if pending:
        yield np.concatenate(pending)


def shard_identity(ss: ShardSet) -> DataIdentity:
    """The identity of the concatenated shards, streaming (the same as ``ExampleSet.identity`` of
    the rows in one matrix)."""
    d = ss.dim
    content = _content_digest_blocks(d, iter_shard_blocks(ss.shards, block_rows(d), ss.options), ss.labels)
    return DataIdentity(len(ss), _ids_digest(np.asarray(ss.ids)), content)


def read_shards(spec: str | os.PathLike, **options: Any) -> ExampleSet:
    """The whole sharded data set as one in-memory ``ExampleSet`` (the local engine's input)."""
    return examples_of(scan_shards(spec, **options))


def examples_of(ss: ShardSet) -> ExampleSet:
    """The rows of a scanned shard set in memory, with its ids, labels and source record."""
    X = np.concatenate([np.asarray(read_shard(s, ss.options)[0]) for s in ss.shards])
    return ExampleSet(X, labels=ss.labels, ids=ss.ids, label_names=ss.label_names, source=ss.source)
