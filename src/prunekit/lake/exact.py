"""Exact (bitwise) equality of Arrow columns and tables, and a digest of a table's exact content.

Exactness is *bitwise*, not value equality. Value equality (what containment uses) treats ``-0.0``
and ``0.0`` as equal, and every NaN as equal; a recipe pointing at a parent row holding ``0.0`` for a
child's ``-0.0`` would restore a different table. So recipes match float columns on their bit
patterns (``exact_form``), a restore is checked against ``content_digest`` (order, types, bits),
and ``table_difference`` names the first place where two tables are not identical.
"""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prunekit.lake.tableio import plain_array


def _int_storage(t: pa.DataType) -> pa.DataType | None:
    """The integer type a temporal type is stored as (its values compare exactly as integers)."""
    if pa.types.is_date32(t) or pa.types.is_time32(t):
        return pa.int32()
    if pa.types.is_date64(t) or pa.types.is_time64(t) or pa.types.is_timestamp(t) \
            or pa.types.is_duration(t):
        return pa.int64()
    return None


def exact_form(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """``(valid, values)`` numpy arrays on which ``==`` is bitwise equality of the Arrow values.

    Floats become the uint64 bit pattern of their float64 widening (exact, keeps the sign of zero
    and NaN payloads); integers and temporal types their integer storage; strings and binaries
    Python objects; anything else ``repr`` of the Python value. Null slots hold a fixed filler so
    two nulls compare equal through ``valid`` alone. Two forms are only comparable when they come
    from the same Arrow type.
    """
    arr = plain_array(arr)
    t = arr.type
    n = len(arr)
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool) if n else \
        np.zeros(0, dtype=bool)
    if pa.types.is_floating(t):
        f = arr.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64, copy=True)
        bits = f.view(np.uint64).copy()
        bits[~valid] = 0
        return valid, bits
    if pa.types.is_integer(t):
        return valid, np.asarray(arr.fill_null(0).to_numpy(zero_copy_only=False))
    if pa.types.is_boolean(t):
        return valid, np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
    storage = _int_storage(t)
    if storage is not None:
        ints = arr.view(storage) if hasattr(arr, "view") else arr.cast(storage)
        return valid, np.asarray(ints.fill_null(0).to_numpy(zero_copy_only=False))
    if pa.types.is_null(t):
        return valid, np.zeros(n, dtype=np.int8)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) \
            or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t) \
            or str(t) in ("string_view", "binary_view"):
        vals = np.empty(n, dtype=object)
        vals[:] = arr.to_pylist()
        vals[~valid] = ""
        return valid, vals
    vals = np.empty(n, dtype=object)
    vals[:] = [repr(v) for v in arr.to_pylist()]
    vals[~valid] = ""
    return valid, vals


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) \
        or pa.types.is_large_binary(t)


def forms_equal(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Per-row bitwise equality of two exact forms of the same length (null equals null)."""
    va, xa = a
    vb, xb = b
    same_value = np.asarray(xa == xb, dtype=bool)
    return (va == vb) & (same_value | ~va)


def _schema_text(schema: pa.Schema) -> str:
    return ";".join(f"{f.name}:{f.type}:{'null' if f.nullable else 'notnull'}" for f in schema)


def content_digest(table: pa.Table) -> str:
    """sha256 of the table's exact content: column names, types, row order and value bits.

    Unlike ``tableio.fingerprint`` (order-independent, value-based: ``-0.0 == 0.0``), this changes
    when a single row moves, a float's sign of zero flips or a column is int32 instead of int64 —
    it is what "restored exactly" is checked against when the original table is gone.
    """
    h = hashlib.sha256()
    h.update(_schema_text(table.schema).encode())
    h.update(struct.pack("<q", table.num_rows))
    for col in table.columns:
        arr = plain_array(col)
        if _is_text(arr.type):
            # Vectorised: value lengths + the concatenated bytes (nulls as empty, told apart by
            # the validity bits) — the same information as hashing value by value, much faster.
            valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
            b = pc.fill_null(arr, "" if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)
                             else b"").cast(pa.large_binary())
            b = pa.concat_arrays([b])  # offset 0, own buffers
            offsets = np.frombuffer(b.buffers()[1], dtype=np.int64)[:len(b) + 1] if len(b) else \
                np.zeros(1, np.int64)
            h.update(np.packbits(valid).tobytes())
            h.update(np.diff(offsets).tobytes())
            if len(b) and offsets[-1] > offsets[0]:
                h.update(memoryview(b.buffers()[2])[offsets[0]:offsets[-1]])
            continue
        valid, vals = exact_form(arr)
        h.update(np.packbits(valid).tobytes())
        if vals.dtype == object:
            for v in vals:
                b = v if isinstance(v, bytes) else str(v).encode("utf-8", "surrogatepass")
                h.update(struct.pack("<q", len(b)))
                h.update(b)
        else:
            h.update(np.ascontiguousarray(vals).tobytes())
    return h.hexdigest()


def table_difference(expected: pa.Table, actual: pa.Table) -> str | None:
    """None when the tables are identical (names, types, nullability, row order, value bits);
    otherwise the first difference, as a short phrase for an error line."""
    if expected.column_names != actual.column_names:
        return f"columns {actual.column_names} instead of {expected.column_names}"
    for fe, fa in zip(expected.schema, actual.schema):
        if fe.type != fa.type:
            return f"column {fe.name!r} is {fa.type} instead of {fe.type}"
        if fe.nullable != fa.nullable:
            return f"column {fe.name!r} nullability differs"
    if expected.num_rows != actual.num_rows:
        return f"{actual.num_rows} rows instead of {expected.num_rows}"
    for name in expected.column_names:
        eq = forms_equal(exact_form(expected.column(name)), exact_form(actual.column(name)))
        if not eq.all():
            r = int(np.argmin(eq))
            return (f"column {name!r} row {r}: {show_value(actual.column(name), r)} instead of "
                    f"{show_value(expected.column(name), r)}")
    return None


def show_value(col: pa.ChunkedArray, r: int) -> str:
    v = col[r].as_py()
    if isinstance(v, float) and v == 0.0:
        return "-0.0" if np.signbit(v) else "0.0"
    return repr(v)
