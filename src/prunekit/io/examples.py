"""``ExampleSet``: the examples to score — an (N, D) embedding matrix, optional labels, unique ids —
and the readers that build one from files (NumPy, Parquet/Arrow, CSV) or from arrays.

NumPy ``.npy`` files are memory-mapped and never copied whole: scorers stream over them in blocks.
Table formats hold an embedding column (fixed-size or equal-length list) or a set of numeric
columns, plus optional label and id columns whose names are configurable.
"""

from __future__ import annotations

import fnmatch
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from prunekit.errors import InputError

NPY_MAGIC = b"\x93NUMPY"
PARQUET_MAGIC = b"PAR1"
ARROW_MAGIC = b"ARROW1"

TABLE_FORMATS = ("parquet", "arrow", "csv")
FORMATS = ("npy",) + TABLE_FORMATS


@dataclass
class ExampleSet:
    """N examples: ``embeddings`` (N, D) numeric, ``labels`` (N,) int64 or None, ``ids`` (N,) unique.

    ``ids`` are the user's ids (int64 or strings) or row numbers when none were given.
    ``source`` records where the data came from so a selection can be exported in the same format.
    """

    embeddings: np.ndarray
    labels: np.ndarray | None = None
    ids: np.ndarray | None = None
    label_names: list[str] | None = None
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        X = self.embeddings
        if not isinstance(X, np.ndarray):
            X = np.asarray(X)
            self.embeddings = X
        if X.ndim != 2:
            raise InputError(f"embeddings must be a 2-D array (N, D), got shape {X.shape}")
        if X.shape[0] == 0:
            raise InputError("no examples: the embedding matrix has 0 rows")
        if X.shape[1] == 0:
            raise InputError("embeddings have 0 columns")
        if X.dtype.kind not in "fiu":
            raise InputError(f"embeddings must be numeric, got dtype {X.dtype}")
        # In-memory arrays are checked now; memory-mapped ones while they are streamed.
        if not isinstance(X, np.memmap) and X.dtype.kind == "f" and not np.isfinite(X).all():
            bad = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
            raise InputError(f"embeddings contain NaN or inf (first at row {bad})")
        n = X.shape[0]
        if self.labels is not None:
            self.labels, names = _encode_labels(self.labels, n)
            if names is not None and self.label_names is None:
                self.label_names = names
        if self.ids is None:
            self.ids = np.arange(n, dtype=np.int64)
        else:
            self.ids = _check_ids(self.ids, n)

    def __len__(self) -> int:
        return int(self.embeddings.shape[0])

    @functools.cached_property
    def identity(self):
        """The :class:`~prunekit.io.identity.DataIdentity` of these examples (rows, digest of the
        ids, digest of embeddings and labels), computed once on first use, streaming over the rows."""
        from prunekit.io.identity import compute_identity

        return compute_identity(self.embeddings, self.labels, self.ids)

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    @property
    def n_classes(self) -> int | None:
        if self.labels is None:
            return None
        return int(self.labels.max()) + 1


def _encode_labels(labels: Any, n: int) -> tuple[np.ndarray, list[str] | None]:
    y = np.asarray(labels)
    if y.ndim != 1:
        y = y.reshape(-1) if y.ndim == 2 and 1 in y.shape else y
    if y.ndim != 1:
        raise InputError(f"labels must be 1-D, got shape {y.shape}")
    if len(y) != n:
        raise InputError(f"labels and embeddings have different lengths ({len(y)} vs {n})")
    if y.dtype.kind in "OUS":
        if any(v is None for v in y.tolist()):
            raise InputError("labels contain missing values")
        names, codes = np.unique(y.astype(str), return_inverse=True)
        return codes.astype(np.int64), [str(v) for v in names]
    if y.dtype.kind == "b":
        return y.astype(np.int64), None
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise InputError("labels contain NaN or inf")
        if not np.all(y == np.round(y)):
            raise InputError("labels must be integers or strings, got non-integral floats")
    if y.dtype.kind not in "iuf":
        raise InputError(f"labels must be integers or strings, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise InputError(f"labels must be >= 0, found {int(y.min())}")
    return y, None


def _check_ids(ids: Any, n: int) -> np.ndarray:
    a = np.asarray(ids)
    if a.ndim != 1:
        raise InputError(f"ids must be 1-D, got shape {a.shape}")
    if len(a) != n:
        raise InputError(f"ids and embeddings have different lengths ({len(a)} vs {n})")
    if a.dtype.kind in "iu":
        a = a.astype(np.int64)
    elif a.dtype.kind in "OUS":
        if any(v is None for v in a.tolist()):
            raise InputError("ids contain missing values")
        a = a.astype(str).astype(object)
    else:
        raise InputError(f"ids must be integers or strings, got dtype {a.dtype}")
    uniq, counts = np.unique(a.astype(str) if a.dtype == object else a, return_counts=True)
    if len(uniq) != n:
        first = int(np.flatnonzero(counts > 1)[0])
        raise InputError(f"ids must be unique; {uniq[first].item()!r} occurs {int(counts[first])} times")
    return a


def from_arrays(embeddings: Any, labels: Any = None, ids: Any = None) -> ExampleSet:
    """An ``ExampleSet`` from in-memory arrays (validated)."""
    return ExampleSet(np.asarray(embeddings), labels=labels, ids=ids, source={"format": "array"})


# ----------------------------------------------------------------------------- file readers


def detect_format(path: Path) -> str:
    if path.is_dir():
        return "parquet"
    ext = path.suffix.lower()
    if ext == ".npy":
        return "npy"
    if ext in (".parquet", ".pq"):
        return "parquet"
    if ext in (".arrow", ".feather", ".ipc"):
        return "arrow"
    if ext in (".csv", ".tsv", ".txt"):
        return "csv"
    raise InputError(
        f"cannot tell the format of {path} from its extension; use one of "
        ".npy, .parquet, .arrow/.feather, .csv (or pass format=)"
    )


def _check_magic(path: Path, fmt: str) -> None:
    if path.is_dir():
        return
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(8)
        if fmt == "parquet":
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 4))
            tail = fh.read(4)
    actual = _sniff(head)
    if actual is not None and actual != fmt:
        raise InputError(f"{path} holds {_FORMAT_NAMES[actual]} data but its extension says {_FORMAT_NAMES[fmt]}; "
                         "rename it to match its content")
    if fmt == "npy" and not head.startswith(NPY_MAGIC):
        raise InputError(f"{path} is not a NumPy .npy file (bad magic bytes)")
    if fmt == "parquet" and head.startswith(PARQUET_MAGIC) and tail != PARQUET_MAGIC:
        raise InputError(f"{path} is truncated or damaged: a Parquet file must end with its footer")
    if fmt == "parquet" and not head.startswith(PARQUET_MAGIC):
        raise InputError(f"{path} is not a Parquet file (bad magic bytes)")
    if fmt == "arrow" and not head.startswith(ARROW_MAGIC):
        # Feather v2 files start with ARROW1; IPC streams start with a continuation marker.
        if not head.startswith(b"\xff\xff\xff\xff"):
            raise InputError(f"{path} is not an Arrow IPC / Feather file (bad magic bytes)")
    if fmt == "csv" and b"\x00" in head:
        raise InputError(f"{path} does not look like a text CSV file (binary content)")


_FORMAT_NAMES = {"npy": "NumPy .npy", "parquet": "Parquet", "arrow": "Arrow/Feather", "csv": "CSV"}


def _sniff(head: bytes) -> str | None:
    """The format a file's first bytes announce (None: no known magic, e.g. text)."""
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if head.startswith(ARROW_MAGIC):
        return "arrow"
    return None


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _load_side_array(spec: Any, what: str) -> np.ndarray:
    """Labels or ids given as an array or as a path (.npy, or a one-column .csv/.txt)."""
    if isinstance(spec, (str, os.PathLike)):
        p = Path(spec)
        if not p.exists():
            raise InputError(f"{what} file {p} does not exist")
        if p.suffix.lower() == ".npy":
            _check_magic(p, "npy")
            try:
                return np.load(p, allow_pickle=False)
            except ValueError as exc:
                raise InputError(f"cannot read {what} from {p}: {exc}") from None
        try:
            import pyarrow.csv as pacsv

            t = pacsv.read_csv(p)
            if t.num_columns == 1 and _looks_numeric(t.column_names[0]):
                # A headerless file (np.savetxt writes none): the first line is a value.
                t = pacsv.read_csv(p, read_options=pacsv.ReadOptions(autogenerate_column_names=True))
        except Exception as exc:
            raise InputError(f"cannot read {what} from {p}: {exc}") from None
        if t.num_columns != 1:
            raise InputError(f"{what} file {p} must have one column, found {t.num_columns}")
        return t.column(0).to_numpy(zero_copy_only=False)
    return np.asarray(spec)


def read_examples(
    path: str | os.PathLike,
    *,
    format: str | None = None,
    embedding_column: str | Sequence[str] | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
    labels: Any = None,
    ids: Any = None,
) -> ExampleSet:
    """Read examples from a file.

    - ``.npy``: an (N, D) numeric matrix, memory-mapped; ``labels`` / ``ids`` may be arrays or
      paths to ``.npy`` / one-column CSV files.
    - ``.parquet`` (file or folder of parts), ``.arrow``/``.feather``, ``.csv``: ``embedding_column``
      names a list column, a list of numeric columns, or a glob such as ``"f*"``; by default the
      column ``embedding`` if present, otherwise every numeric column except label and id.
      ``label_column`` / ``id_column`` default to ``label`` / ``id`` when such columns exist.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"input {p} does not exist")
    fmt = format or detect_format(p)
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    _check_magic(p, fmt)
    stat = p.stat()
    source: dict[str, Any] = {
        "path": str(p.resolve()),
        "format": fmt,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
    }
    if fmt == "npy":
        if embedding_column or label_column or id_column:
            raise InputError("column options apply to table formats, not to .npy input")
        try:
            X = np.load(p, mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            if "mmap length is greater than file size" in str(exc):
                raise InputError(f"{p} is truncated: its header promises more data than the file's "
                                 f"{stat.st_size:,} bytes") from None
            raise InputError(f"cannot read {p} as .npy: {exc}") from None
        y = _load_side_array(labels, "labels") if labels is not None else None
        i = _load_side_array(ids, "ids") if ids is not None else None
        if isinstance(labels, (str, os.PathLike)):
            source["labels_path"] = str(Path(labels).resolve())
        ex = ExampleSet(X, labels=y, ids=i, source=source)
        source["n_rows"] = len(ex)
        return ex

    table = _read_table(p, fmt)
    return examples_from_table(
        table,
        embedding_column=embedding_column,
        label_column=label_column,
        id_column=id_column,
        labels=labels,
        ids=ids,
        source=source,
    )


def _read_table(p: Path, fmt: str):
    import pyarrow as pa

    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(p)
        if fmt == "arrow":
            import pyarrow.feather as feather

            return feather.read_table(p, memory_map=True)
        import pyarrow.csv as pacsv

        delim = "\t" if p.suffix.lower() == ".tsv" else ","
        return pacsv.read_csv(p, parse_options=pacsv.ParseOptions(delimiter=delim))
    except (pa.ArrowException, OSError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot read {p} as {fmt}: {msg}") from None


def _is_numeric(t) -> bool:
    import pyarrow.types as pat

    return pat.is_integer(t) or pat.is_floating(t) or pat.is_boolean(t) or pat.is_decimal(t)


def _list_column_to_matrix(col, name: str) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.types as pat

    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    t = col.type
    if not (pat.is_list(t) or pat.is_large_list(t) or pat.is_fixed_size_list(t)):
        raise InputError(f"column {name!r} is not a list column (type {t})")
    if not _is_numeric(t.value_type):
        raise InputError(f"embedding column {name!r} is not numeric (element type {t.value_type})")
    if col.null_count:
        raise InputError(f"embedding column {name!r} has {col.null_count} missing rows")
    n = len(col)
    if pat.is_fixed_size_list(t):
        d = t.list_size
        values = col.flatten()
    else:
        lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
        if n and (lengths != lengths[0]).any():
            raise InputError(
                f"embedding column {name!r} has rows of different lengths "
                f"({int(lengths.min())}..{int(lengths.max())})"
            )
        d = int(lengths[0]) if n else 0
        values = col.flatten()
    if values.null_count:
        raise InputError(f"embedding column {name!r} contains missing values")
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(n, d)


def examples_from_table(
    table,
    *,
    embedding_column: str | Sequence[str] | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
    labels: Any = None,
    ids: Any = None,
    source: dict[str, Any] | None = None,
) -> ExampleSet:
    """An ``ExampleSet`` from a ``pyarrow.Table`` (see ``read_examples`` for the column rules)."""
    import pyarrow.types as pat

    names = table.column_names
    where = (source or {}).get("path", "the table")
    if table.num_rows == 0:
        # checked first: a header-only CSV types every column as null, so "no numeric columns"
        # would name the wrong problem
        raise InputError(f"{where} has no rows (columns: {', '.join(names) or 'none'})")

    def need(col: str, what: str) -> None:
        if col not in names:
            raise InputError(
                f"{what} column {col!r} not found in {where}; columns: {', '.join(names)}"
            )

    if label_column is not None:
        need(label_column, "label")
    elif "label" in names and labels is None:
        label_column = "label"
    if id_column is not None:
        need(id_column, "id")
    elif "id" in names and ids is None:
        id_column = "id"
    reserved = {c for c in (label_column, id_column) if c}

    if embedding_column is None:
        if "embedding" in names:
            cols: list[str] | str = "embedding"
        else:
            cols = [c for c in names if c not in reserved and _is_numeric(table.schema.field(c).type)]
            if not cols:
                raise InputError(
                    f"no embedding column in {where}: no column named 'embedding' and no numeric "
                    f"columns; columns: {', '.join(names)}"
                )
    elif isinstance(embedding_column, str) and any(ch in embedding_column for ch in "*?["):
        cols = [c for c in names if fnmatch.fnmatchcase(c, embedding_column) and c not in reserved]
        if not cols:
            raise InputError(f"no column of {where} matches {embedding_column!r}")
    elif isinstance(embedding_column, str):
        need(embedding_column, "embedding")
        cols = embedding_column
    else:
        cols = list(embedding_column)
        for c in cols:
            need(c, "embedding")

    if isinstance(cols, str):
        t = table.schema.field(cols).type
        if pat.is_list(t) or pat.is_large_list(t) or pat.is_fixed_size_list(t):
            X = _list_column_to_matrix(table.column(cols), cols)
        else:
            cols = [cols]
    if not isinstance(cols, str):
        for c in cols:
            t = table.schema.field(c).type
            if not _is_numeric(t):
                raise InputError(f"embedding column {c!r} is not numeric (type {t})")
            if table.column(c).null_count:
                raise InputError(f"embedding column {c!r} has missing values")
        X = np.empty((table.num_rows, len(cols)), dtype=np.float32)
        for j, c in enumerate(cols):
            X[:, j] = table.column(c).to_numpy()
    def side(column: str | None, given: Any, what: str):
        """Labels or ids: from their column, else from the array / file given, else None."""
        if column is not None:
            col = table.column(column)
            if col.null_count:
                raise InputError(f"{what} column {column!r} has {col.null_count} missing values")
            return col.to_numpy(zero_copy_only=False)
        return _load_side_array(given, what + "s") if given is not None else None

    y = side(label_column, labels, "label")
    i = side(id_column, ids, "id")
    src = dict(source or {"format": "arrow-table"})
    src.update(
        embedding_column=cols, label_column=label_column, id_column=id_column,
        n_rows=table.num_rows,
    )
    return ExampleSet(X, labels=y, ids=i, source=src)
