"""Reading a lake table in its canonical row order, and hashing rows and tables.

The canonical order of a table is the order a person sees: a Parquet file's rows in file order; a
folder of Parquet parts as its ``*.parquet`` files sorted by relative path, concatenated; a CSV
file's rows in file order; a Hive-partitioned folder, a Delta table and an Iceberg table by the
rules of ``formats``, ``delta`` and ``iceberg`` (data files sorted by path, rows in file order).
Every stage (profiles, verification, recipes, restores) reads through ``read_table`` so "row 17"
means the same row everywhere.

CSV files are parsed by ``pyarrow.csv`` with one inference, ``CSV_CONVERT``: its default types
(integers → int64, decimals → double, ISO dates/times/timestamps → date32/time32/timestamp,
``true``/``false`` → bool, everything else string) and its default null markers (empty field, ``NA``,
``NULL``, ``NaN``, ``null``, ``nan``, ``N/A``, …), which hold for **every** type: an unquoted empty
field or ``NA`` is NULL in a string column too. A quoted field is always a value (``""`` is the empty
string, ``"NA"`` the text NA), as writers that tell the two apart (pyarrow, R, DuckDB, polars, Spark)
write them. That parse *is* the table's content as far as prunekit is concerned.

Row hashes here are *type-exact*: integer widths hash alike, float widths hash alike, ``-0.0`` hashes
as ``0.0``, every NaN hashes alike, NULL differs from every value — but an int never hashes like a
float. They identify a table's content in recipes (``fingerprint``) and group candidate rows in
``row_matching``; the scan's sample and profile fingerprints use ``semantics.value_row_hashes``, which
follow the lake's value semantics (3 = 3.0, NaN = NULL).

Algorithm and parameters: docs/ALGORITHMS.md §4.1.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prunekit.errors import InputError
from prunekit.lake import formats, objectstore
from prunekit.lake.model import normalise_name, normalise_type

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_NULL_HASH = np.uint64(0x9E3779B97F4A7C15)


def _csv_convert():
    import pyarrow.csv as pacsv

    return pacsv.ConvertOptions(strings_can_be_null=True, quoted_strings_can_be_null=False)


#: how every CSV file is parsed (module docstring): pyarrow's inference and null markers, for
#: strings too, quoted fields never null
CSV_CONVERT = _csv_convert()


def table_files(path: str | Path) -> list[Path]:
    """The files holding a table: the file itself, the sorted ``*.parquet`` parts of a folder, the
    data parts of a Hive-partitioned folder, every file of a Delta table (``formats``); on an object
    store, ``objectstore.RemoteFile``s."""
    p = formats.as_path(path)
    if formats.is_iceberg_ref(p):
        raise InputError(f"{p}: an Iceberg table has no files in the lake (its catalog holds it)")
    if p.is_dir():
        special = formats.folder_files(p)
        if special is not None:
            if not special:
                raise InputError(f"{p}: folder holds no table files")
            return special
        found = [f for f in objectstore.walk_files(p) if f.name.endswith(".parquet")] \
            if isinstance(p, objectstore.RemoteFile) else (f for f in p.rglob("*.parquet") if f.is_file())
        parts = sorted(found, key=lambda f: f.relative_to(p).as_posix())
        if not parts:
            raise InputError(f"{p}: folder holds no .parquet files")
        return parts
    if not p.exists():
        raise InputError(f"{p}: no such file")
    return [p]


def read_table(path: str | Path, fmt: str | None = None) -> pa.Table:
    """The table at ``path`` in canonical row order (see the module docstring).

    Raises ``InputError`` with one readable line for unreadable, malformed or inconsistent files.
    """
    import pyarrow.csv as pacsv

    p = formats.as_path(path)
    fmt = fmt or formats.detect(p)
    try:
        if fmt in (formats.HIVE, formats.DELTA, formats.ICEBERG):
            table = _read_format(p, fmt)
        elif fmt == "csv":
            source = p.open_input() if isinstance(p, objectstore.RemoteFile) else p
            table = pacsv.read_csv(source, convert_options=CSV_CONVERT)
        elif fmt == "parquet":
            files = table_files(p)
            table = _parquet_parts(p, files, files)[0]
        else:
            raise InputError(f"{p}: unknown table format {fmt!r} (expected parquet, csv, hive, delta or iceberg)")
    except READ_ERRORS as exc:
        raise _unreadable(p, fmt, exc) from exc
    _check_names(p, table)
    return table


#: what a reader raises for a file it cannot read as its format (``_unreadable`` makes it one line)
READ_ERRORS = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError)


def _unreadable(p, fmt: str, exc: BaseException) -> InputError:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return InputError(f"{p}: cannot read as {fmt}: {msg}")


def _check_names(p: Path, table: pa.Table) -> None:
    names = [normalise_name(n) for n in table.column_names]
    seen: set[str] = set()
    dup = sorted({n for n in names if n in seen or seen.add(n)})   # linear: tables can be wide
    if dup:
        raise InputError(f"{p}: duplicate column names after normalisation: {', '.join(dup)}")


def _parquet_parts(p: Path, files: list, sources: list) -> tuple[pa.Table, list]:
    """The parts ``files`` of the Parquet table ``p`` (read from ``sources``: the files, or buffers of
    their bytes) concatenated, and each part's ``(FileMetaData, Arrow schema)``."""
    import pyarrow.parquet as pq

    pieces, footers = [], []
    for src in sources:   # ParquetFile.read: same table as pq.read_table, less overhead
        with pq.ParquetFile(src) as pf:
            pieces.append(pf.read())
            footers.append((pf.metadata, pf.schema_arrow))
    first = pieces[0].schema
    for f, t in zip(files[1:], pieces[1:]):
        if not t.schema.equals(first, check_metadata=False):
            raise InputError(f"{p}: part {f.name} has a different schema from {files[0].name}")
    return (pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces)), footers


#: local Parquet and CSV tables up to this many bytes are read into memory once, hashed and parsed
#: from there (``read_with_checksum``); bigger ones are read and hashed in two streaming passes
ONE_READ_BYTES = 256 << 20


def read_with_checksum(path: str | Path, fmt: str | None = None) -> tuple[pa.Table, str, list]:
    """``(read_table(path), file_checksum(path), footers)`` from one read of the bytes: the table,
    the sha256 of the very bytes it was parsed from, and each Parquet part's ``(FileMetaData, Arrow
    schema)`` (``profile.footer_bounds``; empty for CSV). Local Parquet files, folders of parts and
    CSV files up to ``ONE_READ_BYTES``; any other table is read and hashed separately (no footers).
    Raises ``InputError`` like ``read_table``."""
    import pyarrow.csv as pacsv

    p = formats.as_path(path)
    fmt = fmt or formats.detect(p)
    if fmt not in ("parquet", "csv") or isinstance(p, objectstore.RemoteFile) or formats.is_iceberg_ref(p):
        return read_table(p, fmt), file_checksum(p), []
    files = table_files(p)
    try:
        if sum(f.stat().st_size for f in files) > ONE_READ_BYTES:
            return read_table(p, fmt), file_checksum(p), []
        h = hashlib.sha256()
        blobs = []
        for f in files:
            if p.is_dir():
                h.update(f.relative_to(p).as_posix().encode() + b"\0")
            blobs.append(f.read_bytes())
            h.update(blobs[-1])
        sources = [pa.BufferReader(b) for b in blobs]
        if fmt == "csv":
            table, footers = pacsv.read_csv(sources[0], convert_options=CSV_CONVERT), []
        else:
            table, footers = _parquet_parts(p, files, sources)
    except READ_ERRORS as exc:
        raise _unreadable(p, fmt, exc) from exc
    _check_names(p, table)
    return table, h.hexdigest(), footers


def _read_format(p: Path, fmt: str) -> pa.Table:
    """A Hive-partitioned folder, a Delta table or an Iceberg table (``formats``, ``delta``, ``iceberg``)."""
    if fmt == formats.HIVE:
        return formats.read_hive(p, read_table)
    if fmt == formats.DELTA:
        from prunekit.lake import delta
        return delta.read_delta(p)
    from prunekit.lake import iceberg
    return iceberg.read_iceberg(p)


def table_exists(path: str | Path) -> bool:
    """Whether the table is there: its file or folder, or its Iceberg catalog entry."""
    if formats.is_iceberg_ref(path):
        from prunekit.lake import iceberg
        return iceberg.exists(path)
    return formats.as_path(path).exists()


def file_checksum(path: str | Path) -> str:
    """sha256 over the bytes of every file of the table (parts in canonical order, with their names);
    an Iceberg table's over its current metadata file's location and snapshot (``iceberg``)."""
    p = formats.as_path(path)
    if formats.is_iceberg_ref(p):
        from prunekit.lake import iceberg
        return iceberg.checksum(p)
    h = hashlib.sha256()
    for f in table_files(p):
        if p.is_dir():
            h.update(f.relative_to(p).as_posix().encode() + b"\0")
        with (f.open_input() if isinstance(f, objectstore.RemoteFile) else open(f, "rb")) as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def splitmix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised over uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = x.astype(np.uint64, copy=True)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def plain_array(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One contiguous array of plain values: chunks combined, dictionaries decoded."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    return col


def column_hashes(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """uint64 hash per value; equal values of one normalised type hash alike; NULL has its own hash."""
    import pandas as pd

    col = plain_array(col)
    t = col.type
    kind = normalise_type(t)
    n = len(col)
    valid = ~np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if kind in ("int", "bool", "date", "time", "duration") or kind.startswith("timestamp"):
        if kind == "bool":
            ints = pc.cast(col, pa.int64())
        elif pa.types.is_unsigned_integer(t) and t.bit_width == 64:
            big = pc.max(col).as_py()
            if big is not None and big > np.iinfo(np.int64).max:
                return _object_hashes(col, valid)
            ints = pc.cast(col, pa.int64())
        elif kind == "int":
            ints = pc.cast(col, pa.int64())
        else:
            ints = _temporal_hash_ints(col)
        ints = pc.fill_null(ints, 0) if ints.null_count else ints
        h = splitmix64(ints.to_numpy(zero_copy_only=False).view(np.uint64))
    elif kind == "float":
        f = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64, copy=True)
        f[~valid] = 0.0
        f[f == 0.0] = 0.0            # -0.0 → 0.0
        f[np.isnan(f)] = np.nan      # one NaN bit pattern
        h = splitmix64(f.view(np.uint64))
    elif kind in ("string", "binary"):
        # Hash each distinct value once (Arrow's dictionary encoding is C++; to_pylist of every
        # value was most of the profiling time on real lakes). Same hashes as hashing every value.
        enc = pc.dictionary_encode(col)
        uniq = np.asarray(enc.dictionary.to_pylist(), dtype=object)
        if len(uniq) == 0:
            h = np.zeros(n, dtype=np.uint64)
        else:
            dh = pd.util.hash_array(uniq, categorize=False).astype(np.uint64)
            idx = enc.indices
            idx = pc.fill_null(idx, 0) if idx.null_count else idx
            h = dh[idx.to_numpy(zero_copy_only=False)]
    else:
        return _object_hashes(col, valid)
    h = np.where(valid, h, _NULL_HASH) if n else h
    return h.astype(np.uint64, copy=False)


_UNIT_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


def temporal_counts(col: pa.Array) -> tuple[pa.Array, int]:
    """A timestamp, time or duration column as the int64 counts of its unit it stores (since the
    epoch, UTC, for timestamps), and the nanoseconds one count stands for.

    Arrow will not cast temporal types to integers, so the stored integers are viewed: time32 as
    int32 (widened), the others as int64.
    """
    t = col.type
    ints = col.view(pa.int32()).cast(pa.int64()) if pa.types.is_time32(t) else col.view(pa.int64())
    return ints, _UNIT_NS[t.unit]


def _temporal_hash_ints(col: pa.Array) -> pa.Array:
    """Dates as int64 days; timestamps, times and durations as int64 nanoseconds, *wrapping* on
    overflow: equal instants still give equal integers, which is all a hash needs (a
    ``timestamp[s]`` and a ``timestamp[ns]`` column of the same instants hash alike). Exact
    comparison uses ``verify``'s non-wrapping form instead.
    """
    t = col.type
    if pa.types.is_date32(t):
        return col.view(pa.int32()).cast(pa.int64())
    if pa.types.is_date64(t):
        return pc.cast(col, pa.date32()).view(pa.int32()).cast(pa.int64())
    ints, f = temporal_counts(col)
    return pc.multiply(ints, f) if f != 1 else ints


def _object_hashes(col: pa.Array, valid: np.ndarray) -> np.ndarray:
    import pandas as pd

    arr = np.asarray([repr(v) for v in col.to_pylist()], dtype=object)
    h = pd.util.hash_array(arr, categorize=True).astype(np.uint64)
    return np.where(valid, h, _NULL_HASH)


def row_hashes(table: pa.Table, columns: list[str] | None = None) -> np.ndarray:
    """uint64 hash per row over ``columns`` (original names, in the given order; default: all)."""
    cols = list(columns) if columns is not None else table.column_names
    h = np.zeros(table.num_rows, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i, name in enumerate(cols):
            h = splitmix64(h * np.uint64(0x100000001B3) + column_hashes(table.column(name)) + np.uint64(i))
    return h


def fingerprint(table: pa.Table, columns: list[str] | None = None) -> str:
    """Order-independent fingerprint: normalised header + row count + two sums of mixed row hashes.

    Equal for two tables holding the same multiset of rows (bag semantics) over the same normalised
    column names and types, whatever the row order, integer/float widths or string flavours.
    """
    cols = list(columns) if columns is not None else table.column_names
    header = ";".join(f"{normalise_name(c)}:{normalise_type(table.schema.field(c).type)}" for c in cols)
    rh = row_hashes(table, cols)
    with np.errstate(over="ignore"):
        s1 = int(np.sum(splitmix64(rh), dtype=np.uint64))
        s2 = int(np.sum(splitmix64(rh ^ np.uint64(0xD6E8FEB86659FD93)), dtype=np.uint64))
    hh = hashlib.sha256(header.encode()).hexdigest()[:16]
    return f"{table.num_rows}-{hh}-{s1:016x}{s2:016x}"
