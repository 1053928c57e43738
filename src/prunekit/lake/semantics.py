"""Value semantics of the lake: which columns are compared, and when two values are the same.

The rules (docs/LAKE.md, "Value semantics"; docs/ALGORITHMS.md §4.1) are the ones a person expects of
a lake written by different tools, and every stage follows them — the schema graph and statistics
(through ``compared_profiles``), the sample (``value_row_hashes``), the exact check (``verify.canonical``
and ``align_child``, in DuckDB and Spark alike) and the Python reference (``reference_rows``):

- **Numbers** (every integer width, float32/64, decimal) are equal when their exact values are equal:
  ``3 == 3.0 == Decimal("3.00")``, ``-0.0 == 0``; no epsilon (float32 ``0.1`` is not float64 ``0.1``).
  ``numbers="type"`` compares ints only with ints, floats with floats, decimals with decimals.
- **NaN is NULL**: one null, null-safe (NULL equals NULL). **Booleans** never equal 1/0. **Strings**
  are compared exactly.
- **Text that is a date, time or timestamp** — a text column whose every value the CSV reader
  (``tableio.read_table``) reads as a date, a time or a timestamp — is compared as that date, time or
  timestamp, in every format: a Parquet column of ``"2020-01-31"`` strings equals its CSV copy, which
  the reader parses as dates. Timestamps compare by instant; one without a time zone counts as UTC.
- **Row-index columns** (``index_columns``) are left out of comparison unless
  ``index_columns="compare"``.
- A column of the Arrow **null** type (a CSV column with every field empty) fits a column of any type
  that holds only nulls where it does.

Exact verification brings every column to a canonical Arrow form (``canonical_number``; verify.py for
the other kinds) tagged with its kind in the field metadata; ``align_child`` casts a child's canonical
columns to its parent's, exactly, or proves the child cannot be contained.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prunekit.lake.model import TableProfile, normalise_name, normalise_type
from prunekit.lake.params import INDEX_COLUMNS, NUMBERS
from prunekit.lake.tableio import CSV_CONVERT, column_hashes, plain_array, splitmix64

NUMBER_TYPES = ("int", "float", "decimal", "number")
NULL_HASH = column_hashes(pa.nulls(1, pa.int64()))[0]   # the hash of NULL (and of NaN)
TEMPORAL_TYPES = ("date", "time", "timestamp")
KIND = b"prunekit.kind"            # field metadata of a canonical column: its kind

# --- row-index columns ---------------------------------------------------------------------------

#: the spellings writers give an unnamed row index: R's ``rownames``/``row.names``; pandas' CSV
#: header (empty) and its re-read name ``Unnamed: 0``; pandas' Parquet name for an unnamed level
INDEX_NAME = re.compile(r"^(|rownames|row\.names|unnamed: 0(\.\d+)?|__index_level_\d+__)$")
#: ``index`` (``df.reset_index()``, polars ``with_row_index``) is a common word: row numbers only
ROW_NUMBER_NAMES = ("index",)


def _row_numbers(arr: pa.Array) -> bool:
    """0..n-1 or 1..n, in order."""
    if not pa.types.is_integer(arr.type) or arr.null_count:
        return False
    v = arr.to_numpy(zero_copy_only=False)
    return len(v) > 0 and v[0] in (0, 1) and bool(np.all(np.diff(v) == 1))


def index_columns(table: pa.Table) -> list[str]:
    """The row-index columns of ``table``: named like an unnamed row index (``INDEX_NAME``: ``""``,
    ``rownames``, ``Unnamed: 0``, ``__index_level_0__`` …) and holding unique labels (no NULL, no value
    twice: row numbers, shifted row numbers of a subset, R row names), or named ``index`` and holding
    the row numbers 0..n-1 or 1..n. A named pandas index (``df.index.name = "id"``) is a column its
    user named: data in Parquet and CSV alike, so both copies agree."""
    out = []
    for name in table.column_names:
        key = normalise_name(name)
        if INDEX_NAME.match(key):
            arr = plain_array(table.column(name))
            if arr.null_count == 0 and (_row_numbers(arr) or pc.count_distinct(arr).as_py() == len(arr)):
                out.append(name)
        elif key in ROW_NUMBER_NAMES and _row_numbers(plain_array(table.column(name))):
            out.append(name)
    return out


# --- value types and families --------------------------------------------------------------------

_TEMPORAL_TEXT = re.compile(r"^\s*(\d{4}-\d\d-\d\d|\d\d:\d\d)")
_CSV_SPECIAL = re.compile(r'[,"\r\n]')


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or str(t) == "string_view"


def _is_temporal(t: pa.DataType) -> bool:
    return pa.types.is_date(t) or pa.types.is_time(t) or pa.types.is_timestamp(t)


def text_temporal(col: pa.Array | pa.ChunkedArray) -> pa.Array | None:
    """A text column as the CSV reader reads it, when that is a date, time or timestamp; else None.

    The distinct values go through ``pyarrow.csv`` with ``tableio``'s options, in one block, so the
    answer is the reader's own inference; a value the reader would read as NULL (``NA``, blank) or
    that a CSV file could not hold unquoted keeps the column text.
    """
    import pyarrow.csv as pacsv

    arr = plain_array(col)
    if not _is_text(arr.type) or arr.null_count == len(arr):
        return None
    first = arr[0].as_py() if arr[0].is_valid else pc.drop_null(arr)[0].as_py()
    if not _TEMPORAL_TEXT.match(first):
        return None
    uniq = pc.unique(pc.drop_null(arr))
    vals = uniq.to_pylist()
    markers = set(CSV_CONVERT.null_values)
    if any(v in markers or not v.strip() or _CSV_SPECIAL.search(v) for v in vals):
        return None
    buf = ("x\n" + "\n".join(vals) + "\n").encode()
    try:
        parsed = pacsv.read_csv(pa.py_buffer(buf), convert_options=CSV_CONVERT, read_options=pacsv.ReadOptions(
            block_size=len(buf) + 64, use_threads=False)).column(0)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if not _is_temporal(parsed.type) or len(parsed) != len(vals) or parsed.null_count:
        return None
    return plain_array(parsed).take(pc.index_in(arr, value_set=uniq))


def value_column(col: pa.Array | pa.ChunkedArray) -> tuple[str, pa.Array]:
    """``(value type, values)``: ``normalise_type`` and the plain array, or for temporal text the
    type and values the CSV reader gives it (``text_temporal``)."""
    arr = plain_array(col)
    if _is_text(arr.type):
        parsed = text_temporal(arr)
        if parsed is not None:
            return normalise_type(parsed.type), parsed
    return normalise_type(arr.type), arr


def values_as(col: pa.Array | pa.ChunkedArray, kind: str) -> pa.Array:
    """The column's values for a profile whose value type is ``kind`` (temporal text parsed)."""
    arr = plain_array(col)
    if _is_text(arr.type) and family(kind) in TEMPORAL_TYPES:
        parsed = text_temporal(arr)
        if parsed is not None:
            return parsed
    return arr


def family(kind: str, numbers: str = "value") -> str:
    """What a value type is compared with: every number with every number (``numbers="value"``),
    timestamps of every zone with each other; any other type only with itself. ``null`` (the Arrow
    null type) fits every family (``schema_graph``, ``stats``)."""
    if kind in NUMBER_TYPES:
        return "number" if numbers == "value" else kind
    if kind.startswith("timestamp"):
        return "timestamp"
    return kind


def compared_profiles(profiles: dict[str, TableProfile], *, index_columns: str = INDEX_COLUMNS.default,
                      numbers: str = NUMBERS.default) -> dict[str, TableProfile]:
    """The profiles as the scan compares them: index columns left out (``index_columns="ignore"``),
    each column's type replaced by its ``family``. A table of index columns only has nothing to
    compare and is left out."""
    INDEX_COLUMNS.check(index_columns)
    NUMBERS.check(numbers)
    out = {}
    for name, p in profiles.items():
        cols = tuple(_with(c, type=family(c.type, numbers)) for c in p.columns
                     if index_columns == "compare" or not getattr(c, "index", False))
        if cols:
            out[name] = _with(p, columns=cols)
    return out


def _with(obj, **changes):
    """``dataclasses.replace`` of a frozen dataclass without re-running its ``__init__`` (the same
    object, ~20× faster: ``compared_profiles`` makes one per column of the lake)."""
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    new.__dict__.update(changes)
    return new


# --- numbers ---------------------------------------------------------------------------------------

_I64_LO, _I64_HI = -(2 ** 63), 2 ** 63


def exact_text(v: Any) -> str:
    """The exact decimal spelling of a finite number (``3``, ``0.5``, ``0.1000000000000000055511…``)."""
    d = Decimal(v) if not isinstance(v, Decimal) else v
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def _decimal_form(values: list) -> tuple[str, list]:
    """Per value: ("i", int) integral in int64, ("f", float) exactly a double, ("t", text) otherwise."""
    out = []
    for d in values:
        if d is None:
            out.append(None)
        elif d == d.to_integral_value() and _I64_LO <= int(d) < _I64_HI:
            out.append(("i", int(d)))
        elif Decimal(float(d)) == d:
            out.append(("f", float(d) + 0.0))
        else:
            out.append(("t", exact_text(d)))
    kinds = {x[0] for x in out if x is not None}
    return ("i" if kinds <= {"i"} else "f" if kinds <= {"i", "f"} else "t"), out


def _float_values(arr: pa.Array) -> np.ndarray:
    """float64 values, NaN and NULL as NaN, -0.0 as 0.0."""
    f = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64, copy=True)
    f[f == 0.0] = 0.0
    return f


def _integral(f: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.isfinite(f) & (f == np.floor(f)) & (f >= -2.0 ** 63) & (f < 2.0 ** 63)


def canonical_number(arr: pa.Array) -> pa.Array:
    """A number column in one exact form, chosen from its values: int64 when every value is an
    integer within int64; else float64 when every value is exactly a double; else the exact decimal
    text. NaN becomes NULL, -0.0 becomes 0. Equal numbers get equal forms (``align_child`` lifts a
    child to its parent's form)."""
    t = arr.type
    if pa.types.is_integer(t) and not _big_unsigned(arr):
        return pc.cast(arr, pa.int64())
    if pa.types.is_floating(t):
        f = _float_values(arr)
        null = np.isnan(f)
        if _integral(f[~null]).all():
            return pa.array(np.where(null, 0, f).astype(np.int64), pa.int64(), mask=null)
        return pa.array(f, pa.float64(), mask=null)
    if pa.types.is_decimal(t) or pa.types.is_integer(t):
        form, vals = _decimal_form(_decimals(arr))
        if form == "i":
            return pa.array([None if v is None else v[1] for v in vals], pa.int64())
        if form == "f":
            return pa.array([None if v is None else float(v[1]) for v in vals], pa.float64())
        return _numbers_as_text(arr.to_pylist())
    raise TypeError(f"not a number column: {t}")


def _big_unsigned(arr: pa.Array) -> bool:
    """A uint64 column holding a value beyond int64 (compared through ``_decimal_form``)."""
    t = arr.type
    if not (pa.types.is_unsigned_integer(t) and t.bit_width == 64):
        return False
    big = pc.max(arr).as_py()
    return big is not None and big >= _I64_HI


def _decimals(arr: pa.Array) -> list:
    return [None if v is None else Decimal(v) for v in arr.to_pylist()]


def _numbers_as_text(values: list) -> pa.Array:
    return pa.array([None if v is None or (isinstance(v, float) and v != v) else
                     ("inf" if v > 0 else "-inf") if isinstance(v, float) and abs(v) == float("inf")
                     else exact_text(v) for v in values], pa.string())


def _lift_number(arr: pa.Array, to: pa.DataType) -> pa.Array | None:
    """``arr`` (a canonical number form) in the higher form ``to``, exactly; None when a value has no
    exact counterpart there (so it cannot occur in a parent column of that form)."""
    if arr.type == to:
        return arr
    if pa.types.is_int64(arr.type) and pa.types.is_float64(to):
        f = pc.cast(arr, pa.float64(), safe=False)
        back = pc.cast(f, pa.int64(), safe=False)
        ok = pc.fill_null(pc.equal(back, arr), True)
        big = pc.fill_null(pc.greater_equal(pc.abs(f), 2.0 ** 63), False)
        return f if pc.all(ok).as_py() and not pc.any(big).as_py() else None
    if pa.types.is_string(to) and (pa.types.is_int64(arr.type) or pa.types.is_float64(arr.type)):
        return _numbers_as_text(arr.to_pylist())
    return None


def _number_hashes(arr: pa.Array) -> np.ndarray:
    """Per value: integers within int64 hash as that integer (whatever the column's type), other
    doubles by their bits, other numbers by their exact text; NaN and NULL as NULL."""
    t = arr.type
    n = len(arr)
    if pa.types.is_integer(t) and not _big_unsigned(arr):
        return column_hashes(pc.cast(arr, pa.int64()))
    if pa.types.is_floating(t):
        f = _float_values(arr)
        with np.errstate(invalid="ignore"):
            ints = f.astype(np.int64)          # NaN, ±inf, |f| ≥ 2**63: garbage, never == f
            whole = ints == f
        h = splitmix64(np.where(whole, ints.view(np.uint64), f.view(np.uint64) ^ np.uint64(0xA5A5A5A5A5A5A5A5)))
        h[np.isnan(f)] = NULL_HASH
        return h
    keys = _decimal_form(_decimals(arr))[1]
    ints = pa.array([v[1] if v and v[0] == "i" else None for v in keys], pa.int64())
    floats = pa.array([v[1] if v and v[0] == "f" else None for v in keys], pa.float64())
    texts = pa.array([v[1] if v and v[0] == "t" else None for v in keys], pa.string())
    h = column_hashes(ints)
    hf, ht = _number_hashes(floats), column_hashes(texts) ^ np.uint64(0x5A5A5A5A5A5A5A5A)
    kind = np.array([v[0] if v else "" for v in keys], dtype=object) if n else np.zeros(0, object)
    return np.where(kind == "f", hf, np.where(kind == "t", ht, h)).astype(np.uint64)


# --- hashing (the sample and the profile fingerprint) --------------------------------------------

def value_hashes(col: pa.Array | pa.ChunkedArray, kind: str | None = None) -> np.ndarray:
    """uint64 per value: equal values under these semantics hash alike; NULL (and NaN) have one hash."""
    arr = values_as(col, kind) if kind else plain_array(col)
    t = arr.type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return _number_hashes(arr)
    h = column_hashes(arr)
    return h ^ np.uint64(0x3C3C3C3C3C3C3C3C) if pa.types.is_boolean(t) else h


def value_row_hashes(table: pa.Table, names: list[str], kinds: list[str] | None = None) -> np.ndarray:
    """uint64 per row over the columns ``names`` (in that order), by ``value_hashes``; ``kinds``: the
    profile's value types (temporal text is parsed), None when the columns hold values already."""
    h = np.zeros(table.num_rows, dtype=np.uint64)
    kinds = kinds or [None] * len(names)
    with np.errstate(over="ignore"):
        for i, (name, kind) in enumerate(zip(names, kinds)):
            h = splitmix64(h * np.uint64(0x100000001B3) + value_hashes(table.column(name), kind) + np.uint64(i))
    return h


def value_fingerprint(table: pa.Table, names: list[str], kinds: list[str], parsed: bool = False) -> str:
    """Order-independent fingerprint of the compared columns: row count, normalised names and
    families, two sums of mixed ``value_row_hashes``. Equal for tables equal under these semantics.
    ``parsed``: the columns hold ``value_column`` values already."""
    order = sorted(range(len(names)), key=lambda i: normalise_name(names[i]))
    names, kinds = [names[i] for i in order], [kinds[i] for i in order]
    header = ";".join(f"{normalise_name(n)}:{family(k)}" for n, k in zip(names, kinds))
    rh = value_row_hashes(table, names, None if parsed else kinds)
    with np.errstate(over="ignore"):
        s1 = int(np.sum(splitmix64(rh), dtype=np.uint64))
        s2 = int(np.sum(splitmix64(rh ^ np.uint64(0xD6E8FEB86659FD93)), dtype=np.uint64))
    hh = hashlib.sha256(header.encode()).hexdigest()[:16]
    return f"{table.num_rows}-{hh}-{s1:016x}{s2:016x}"


# --- exact verification: aligning a child's canonical form with its parent's ----------------------

_NUMBER_RANK = {"int64": 0, "double": 1, "string": 2}


def kind_of(field: pa.Field) -> str:
    md = field.metadata or {}
    return md.get(KIND, b"").decode() or family(normalise_type(field.type))


def align_child(child: pa.Table, parent_schema: pa.Schema) -> pa.Table | None:
    """The child's canonical table in exactly the parent's canonical types, or None when some child
    value has no equal in any column of the parent's form (then the child is not contained).

    Numbers: the lower of the forms int64 < float64 < exact text is lifted exactly (a child in a
    higher form than its parent holds a value the parent cannot hold). The null type: a child null
    column becomes nulls of the parent's type; a parent null column takes a child column of nulls.
    """
    arrays = []
    for i, pf in enumerate(parent_schema):
        col = plain_array(child.column(i))
        ck, pk = kind_of(child.schema.field(i)), kind_of(pf)
        if col.type == pf.type and ck == pk:
            arrays.append(col)
        elif pa.types.is_null(col.type):
            arrays.append(pa.nulls(len(col), pf.type))
        elif pa.types.is_null(pf.type):
            if col.null_count != len(col):
                return None
            arrays.append(pa.nulls(len(col)))
        elif ck == pk == "number" and _NUMBER_RANK.get(str(col.type), 9) < _NUMBER_RANK.get(str(pf.type), 9):
            lifted = _lift_number(col, pf.type)
            if lifted is None:
                return None
            arrays.append(lifted)
        elif ck == pk and pa.types.is_integer(col.type) and pa.types.is_decimal(pf.type):
            arrays.append(pc.cast(col, pf.type))          # temporal counts beyond int64 (verify)
        else:
            return None
    return pa.Table.from_arrays(arrays, schema=parent_schema)


# --- the Python reference ------------------------------------------------------------------------

def _key(v: Any, t: pa.DataType) -> Any:
    if v is None or (isinstance(v, float) and v != v):
        return None
    if pa.types.is_boolean(t):
        return ("bool", v)
    if isinstance(v, (int, float, Decimal)):
        return ("number", v + 0)                 # Python compares int, float, Decimal exactly
    return ("value", v)


def reference_rows(table: pa.Table, names: list[str], kinds: list[str] | None = None) -> list[tuple]:
    """The rows of ``table`` on ``names`` as Python tuples, equal exactly when the rows are equal
    under these semantics: a slow, independent definition for tests and brute force."""
    from prunekit.lake.tableio import temporal_counts

    cols = []
    for name, kind in zip(names, kinds or [None] * len(names)):
        arr = values_as(table.column(name), kind) if kind else plain_array(table.column(name))
        t = arr.type
        if pa.types.is_timestamp(t) or pa.types.is_time(t) or pa.types.is_duration(t):
            ints, f = temporal_counts(arr)
            tag = "timestamp" if pa.types.is_timestamp(t) else "time" if pa.types.is_time(t) else "duration"
            cols.append([None if v is None else (tag, v * f) for v in ints.to_pylist()])
        elif pa.types.is_date(t):
            cols.append([None if v is None else ("date", v) for v in pc.cast(arr, pa.date32()).to_pylist()])
        elif pa.types.is_null(t):
            cols.append([None] * len(arr))
        else:
            cols.append([_key(v, t) for v in arr.to_pylist()])
    return list(zip(*cols)) if cols else []


def reference_contains(child_rows: list[tuple], parent_rows: list[tuple], semantics: str = "bag") -> bool:
    """child ⊆ parent on rows from ``reference_rows``: bag (multiplicities fit) or set."""
    from collections import Counter

    pc_ = Counter(parent_rows)
    if semantics == "set":
        return all(r in pc_ for r in set(child_rows))
    return all(pc_.get(r, 0) >= m for r, m in Counter(child_rows).items())
