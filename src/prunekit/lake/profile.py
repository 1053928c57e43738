"""Profiling one lake table: its columns (normalised names and value types, row-index columns, null
and NaN counts, bounds — from the Parquet footer when it has them), rows, bytes, content fingerprint
and file checksum (the fingerprint only on demand: ``with_fingerprint``). ``profile_table`` reads
the table once; ``profile_or_skip`` turns a malformed file
into a ``Skipped`` entry with one readable reason. Value types, index columns and the fingerprint
follow the lake's value semantics (``semantics``): a text column of dates is profiled as dates, the
fingerprint covers the columns that are compared (not the index columns) with 3 = 3.0 and NaN = NULL.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prunekit.errors import InputError
from prunekit.lake.model import ColumnProfile, Skipped, TableProfile, normalise_name
from prunekit.lake.semantics import exact_text, index_columns, value_column, value_fingerprint
from prunekit.lake.tableio import read_table, read_with_checksum, table_files

#: longer string bounds are not kept (a bound is for pruning, not for storing values)
MAX_STRING_BOUND = 1024
def _json_float(v: float | None) -> float | None:
    if v is None or math.isnan(v):   # NaN is counted, never a bound
        return None
    return 0.0 if v == 0.0 else float(v)   # -0.0 == 0.0


def _scaled_int_bounds(col: pa.Array, unit: str, to: str) -> tuple[int | None, int | None]:
    """Integer bounds of a temporal column rescaled from ``unit`` to ``to`` (floor: order-preserving)."""
    factor = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
    ints = col.view(pa.int64()) if pa.types.is_timestamp(col.type) or pa.types.is_duration(col.type) \
        else pc.cast(col, pa.int64())
    mm = pc.min_max(ints)
    lo, hi = mm["min"].as_py(), mm["max"].as_py()
    if lo is None:
        return None, None
    num, den = factor[unit], factor[to]
    return (lo * num) // den, (hi * num) // den


def _aggregate_bounds(col: pa.Array, kind: str) -> tuple[Any, Any]:
    """Exact (or order-preserving) min and max of the non-null, non-NaN values of ``col``."""
    t = col.type
    if kind == "int" or kind == "bool":
        mm = pc.min_max(col)
        return mm["min"].as_py(), mm["max"].as_py()
    if kind == "float":
        mm = pc.min_max(col)        # Arrow's min_max skips NaN unless every value is NaN
        return _json_float(mm["min"].as_py()), _json_float(mm["max"].as_py())
    if kind == "string":
        mm = pc.min_max(col)        # binary (UTF-8 byte) order == code-point order == str order
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        lo = lo if lo is not None and len(lo) <= MAX_STRING_BOUND else None
        hi = hi if hi is not None and len(hi) <= MAX_STRING_BOUND else None
        return lo, hi
    if kind == "date":
        mm = pc.min_max(pc.cast(col, pa.date32()))
        lo, hi = mm["min"].as_py(), mm["max"].as_py()
        return (lo.isoformat() if lo else None), (hi.isoformat() if hi else None)
    if kind.startswith("timestamp"):
        return _scaled_int_bounds(col, t.unit, "us")
    if kind == "duration":
        return _scaled_int_bounds(col, t.unit, "ns")
    if kind == "time":
        return _time_bounds(col)
    if kind == "decimal":
        mm = pc.min_max(col)        # exact: compared with other numbers (stats), never rounded
        return _decimal_bound(mm["min"].as_py()), _decimal_bound(mm["max"].as_py())
    return None, None


def _decimal_bound(d) -> int | float | str | None:
    """A decimal bound exactly: an int, a float when it is exactly a double, else its exact text."""
    if d is None:
        return None
    if d == d.to_integral_value():
        return int(d)
    from decimal import Decimal
    return float(d) if Decimal(float(d)) == d else exact_text(d)


def _time_bounds(col: pa.Array) -> tuple[int | None, int | None]:
    t = col.type
    ints = col.view(pa.int64() if t.bit_width == 64 else pa.int32())   # Arrow won't cast time → int
    mm = pc.min_max(ints)
    lo, hi = mm["min"].as_py(), mm["max"].as_py()
    if lo is None:
        return None, None
    f = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}[t.unit]
    return lo * f, hi * f


def footer_bounds(path: str | Path) -> dict[str, tuple[Any, Any]]:
    """Min/max from Parquet footers, for the columns whose footer bounds are exact.

    Trusted: flat signed-integer (any width), boolean and date columns: for these physical types
    writers store the actual extreme values (truncation only applies to byte arrays; float bounds
    have writer-dependent NaN and −0.0 handling; unsigned integers were compared as signed by
    older writers). A column is returned only when every row group of every part has bounds or
    is entirely null. Keys are the file's column names; values match ``ColumnProfile.min/max``.
    """
    import pyarrow.parquet as pq

    footers = []
    for f in table_files(path):
        with pq.ParquetFile(f) as pf:
            footers.append((pf.metadata, pf.schema_arrow))
    return bounds_from_footers(footers)


def bounds_from_footers(footers: list) -> dict[str, tuple[Any, Any]]:
    """``footer_bounds`` from the parts' ``(FileMetaData, Arrow schema)`` already read (``tableio.
    read_with_checksum``)."""
    bounds: dict[str, list[Any]] = {}
    dead: set[str] = set()
    for md, arrow_schema in footers:
        types = {f.name: f.type for f in arrow_schema}   # wide tables: look-ups, not scans
        pschema = md.schema
        trusted = {}
        for i in range(md.num_columns):
            cc = pschema.column(i)
            if cc.max_definition_level > 1 or cc.max_repetition_level > 0:
                continue   # nested
            name = cc.path
            at = types.get(name)
            if at is None:
                continue
            if pa.types.is_dictionary(at):
                at = at.value_type
            if pa.types.is_signed_integer(at) or pa.types.is_boolean(at):
                trusted[i] = (name, "plain")
            elif pa.types.is_date32(at):
                trusted[i] = (name, "date")
        for i, (name, how) in trusted.items():
            for rg in range(md.num_row_groups):
                col = md.row_group(rg).column(i)
                st = col.statistics
                if st is None:
                    dead.add(name)
                    break
                if st.has_null_count and st.null_count == col.num_values:
                    continue   # all null in this row group: no bound needed
                if not st.has_min_max:
                    dead.add(name)
                    break
                lo, hi = st.min, st.max
                if how == "date":
                    lo, hi = lo.isoformat(), hi.isoformat()
                cur = bounds.setdefault(name, [None, None])
                cur[0] = lo if cur[0] is None else min(cur[0], lo)
                cur[1] = hi if cur[1] is None else max(cur[1], hi)
        # columns that appear in no row group with values stay absent (aggregate decides)
    return {k: (v[0], v[1]) for k, v in bounds.items() if k not in dead}


def _numpy_stats(arr: pa.Array, kind: str) -> tuple[int, Any, Any] | None:
    """``(NaN count, min, max)`` of a float column, or of an int column without NULLs, through NumPy
    (a few microseconds; an Arrow compute call costs tens on the small columns of real lakes); None
    for other columns. Same answers as ``_aggregate_bounds``: NaN and NULL skipped, −0.0 as 0."""
    if kind == "float":
        a = arr.to_numpy(zero_copy_only=False)         # NULL slots come back as NaN
        nans = int(np.count_nonzero(np.isnan(a))) - arr.null_count
        if nans + arr.null_count == len(a):
            return nans, None, None
        return nans, _json_float(float(np.fmin.reduce(a))), _json_float(float(np.fmax.reduce(a)))
    if kind == "int" and arr.null_count == 0 and len(arr) and pa.types.is_integer(arr.type):
        a = arr.to_numpy()
        return 0, int(a.min()), int(a.max())
    return None


def _column_profile(name: str, col: pa.ChunkedArray, footer: tuple[Any, Any] | None,
                    index: bool = False) -> ColumnProfile:
    t = col.type
    kind, arr = value_column(col)   # plain values; temporal text as the CSV reader reads it
    if arr.type != (t.value_type if pa.types.is_dictionary(t) else t):
        footer = None                 # text read as dates: its footer holds text bounds
    nulls = arr.null_count
    fast = None if footer is not None and kind == "int" else _numpy_stats(arr, kind)
    if fast is not None:
        nans, lo, hi = fast
    elif nulls == len(arr):
        nans, lo, hi = 0, None, None
    elif footer is not None and kind in ("int", "bool", "date"):
        nans, (lo, hi) = 0, footer
    else:
        nans = 0
        lo, hi = _aggregate_bounds(arr, kind)
    if isinstance(lo, (np.integer,)):
        lo, hi = int(lo), int(hi)
    return ColumnProfile(name=normalise_name(name), original_name=name, type=kind, arrow_type=str(t),
                         nulls=int(nulls), nans=nans, min=lo, max=hi, index=index)


def profile_table(ref, keep: Callable[[str, pa.Table], None] | None = None) -> TableProfile:
    """Read the table once (its bytes: hashed for the checksum and parsed, ``tableio.
    read_with_checksum``) and profile it. Raises ``InputError`` for unusable tables. The fingerprint
    is left out (None): it costs as much as the rest of the profile and only the set semantics'
    duplicate groups need it (``table_fingerprint``, ``with_fingerprint``). ``keep(name, table)``
    gets the table read (the scan's ``verify.TableStore.put``: later stages need not read it again)."""
    table, checksum, footers = read_with_checksum(ref.path, ref.format)
    if table.num_columns == 0:
        raise InputError(f"{ref.path}: table has no columns")
    if table.num_rows == 0:
        raise InputError(f"{ref.path}: empty table (0 rows)")
    footer: dict[str, tuple[Any, Any]] = {}
    try:
        if footers:
            footer = bounds_from_footers(footers)
        elif ref.format == "parquet":
            footer = footer_bounds(ref.path)
    except (OSError, pa.ArrowException):
        footer = {}   # the data was readable; bounds fall back to the aggregate
    idx = set(index_columns(table))
    cols = tuple(_column_profile(n, table.column(n), footer.get(n), n in idx)
                 for n in table.column_names)
    if keep is not None:
        keep(ref.name, table)
    return TableProfile(
        name=ref.name, path=ref.path, format=ref.format, columns=cols, rows=table.num_rows,
        size_bytes=ref.size_bytes, fingerprint=None, checksum=checksum, signature=ref.signature,
    )


def table_fingerprint(table: pa.Table) -> str:
    """The profile fingerprint of a table as read (``semantics.value_fingerprint`` of the columns
    that are compared: index columns left out, numbers by value, date text as dates)."""
    idx = set(index_columns(table))
    data = [n for n in table.column_names if n not in idx]
    values = [value_column(table.column(n)) for n in data]
    return value_fingerprint(pa.table([v[1] for v in values], names=data), data,
                             [v[0] for v in values], parsed=True)


def with_fingerprint(profile: TableProfile, table: pa.Table | None = None) -> TableProfile:
    """``profile`` with its fingerprint, computed from ``table`` (default: read from its path) when
    the profile has none."""
    if profile.fingerprint is not None:
        return profile
    if table is None:
        table = read_table(profile.path, profile.format)
    return replace(profile, fingerprint=table_fingerprint(table))


def _reason(path: str, exc: BaseException) -> str:
    """One line, without the path the ``Skipped`` entry already carries."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for prefix in (f"{path}: ", f"{path}/"):
        if msg.startswith(prefix) and prefix.endswith(": "):
            msg = msg[len(prefix):]
    return msg


def profile_or_skip(ref, keep: Callable[[str, pa.Table], None] | None = None) -> TableProfile | Skipped:
    try:
        return profile_table(ref, keep)
    except InputError as exc:
        return Skipped(ref.path, _reason(ref.path, exc))
    except (OSError, pa.ArrowException, ValueError, TypeError) as exc:
        # Anything else a malformed file provokes in the reader: one line, and the scan goes on.
        return Skipped(ref.path, f"cannot profile: {_reason(ref.path, exc)}")
