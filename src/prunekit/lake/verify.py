"""Stage 3: content pruning by a seeded sample, then exact verification.

**Sample.** ``k`` rows of the child (default 691), drawn without replacement by a generator seeded
with ``(seed, crc32(child name))``, are hashed (``semantics.value_row_hashes``: null-safe, by the
lake's value semantics: 3 and 3.0 alike, NaN as NULL, date text as the date) and
probed in the hashes of the parent's projection on the child's columns. If a fraction ε of the
child's rows is missing from the parent, all ``k`` sampled rows are present with probability
``(1 − ε)^k ≤ e^(−εk)``: k = 691 gives ≤ 10⁻³ for ε = 1 %. A sampled row *missing* proves
non-containment (equal values always hash alike), so the sample only ever drops pairs that are not
containments; a sample that passes proves nothing, and every surviving pair is verified.

**Exact verification** compares values, never hashes. Both sides are first brought to one
*canonical form* (``canonical``): columns in the order of the child's sorted normalised names,
renamed ``c0…``, each tagged with its kind (field metadata); numbers → the exact form their values
allow (``semantics.canonical_number``: int64, else float64, else exact decimal text; ``-0.0`` → 0,
NaN → NULL), every string flavour → string, dictionaries decoded, dates (and date text) → date32,
timestamps/times/durations (and their text) → integer nanoseconds since the epoch (UTC), so every
engine compares them exactly whatever their unit. The engine lifts each child to its parent's forms
(``semantics.align_child``). NULL equals only NULL. An engine (``backends``) then aggregates the
parent's projection once per column set —
``(row, count)`` — and anti-joins every child of that column set against it, null-safely:
bag semantics needs ``count_child(row) ≤ count_parent(row)`` for every row (SQL ``EXCEPT ALL``),
set semantics only presence.
"""

from __future__ import annotations

import threading

import zlib
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prunekit.lake.model import TableProfile, normalise_type
from prunekit.lake.params import SAMPLE_ROWS
from prunekit.lake.semantics import KIND, canonical_number, family, value_row_hashes, values_as
from prunekit.lake.tableio import plain_array, read_table, temporal_counts

DEFAULT_SAMPLE = SAMPLE_ROWS.default   # 691: ε = 1 %, δ = 10⁻³: ⌈ln(1/δ)/ε⌉ (docs/ALGORITHMS.md §4.5)


def sample_indices(name: str, n_rows: int, k: int = DEFAULT_SAMPLE, seed: int = 0) -> np.ndarray:
    """Sorted positions of the ``min(k, n_rows)`` sampled rows of table ``name`` (deterministic)."""
    SAMPLE_ROWS.check(k)
    if n_rows <= k:
        return np.arange(n_rows, dtype=np.int64)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode())])
    return np.sort(rng.choice(n_rows, size=k, replace=False)).astype(np.int64)


def column_set(child: TableProfile) -> tuple[str, ...]:
    """The canonical column order of a child: its normalised names, sorted."""
    return tuple(sorted(c.name for c in child.columns))


def original_names(profile: TableProfile, cols: tuple[str, ...]) -> list[str]:
    by = {c.name: c.original_name for c in profile.columns}
    return [by[c] for c in cols]


def column_kinds(profile: TableProfile, cols: tuple[str, ...]) -> list[str]:
    """The value type (or family) of each of the normalised columns ``cols``."""
    by = {c.name: c.type for c in profile.columns}
    return [by[c] for c in cols]


def projection_hashes(table: pa.Table, profile: TableProfile, cols: tuple[str, ...],
                      rows: np.ndarray | None = None) -> np.ndarray:
    """Row hashes of ``table`` projected on the normalised columns ``cols`` (in that order), by the
    lake's value semantics (``semantics.value_row_hashes``)."""
    names = original_names(profile, cols)
    kinds = column_kinds(profile, cols)
    # temporal text is parsed on the whole column (the CSV reader's inference sees every value)
    t = pa.table([values_as(table.column(n), k) for n, k in zip(names, kinds)], names=names)
    if rows is not None:
        t = t.take(pa.array(rows))
    return value_row_hashes(t, names)


def sample_missing(sample_hashes: np.ndarray, parent_sorted_hashes: np.ndarray) -> int:
    """How many sampled rows have no equal-hash row in the parent (> 0 proves non-containment)."""
    if len(parent_sorted_hashes) == 0:
        return len(sample_hashes)
    pos = np.searchsorted(parent_sorted_hashes, sample_hashes)
    pos = np.minimum(pos, len(parent_sorted_hashes) - 1)
    return int(np.count_nonzero(parent_sorted_hashes[pos] != sample_hashes))


# --- canonical form for exact comparison -------------------------------------------------------

def _exact_nanoseconds(arr: pa.Array) -> pa.Array:
    """Timestamps/times/durations as integer nanoseconds, exactly: int64, or decimal128(38, 0) when
    a value does not fit int64 ns (years beyond 1677–2262); engines compare the two exactly.
    (Hashing uses ``tableio``'s wrapping form, which needs no exactness.)"""
    ints, f = temporal_counts(arr)
    if f == 1:
        return ints
    try:
        return pc.multiply_checked(ints, f)
    except pa.ArrowInvalid:               # overflow: exact, slower path
        return pa.array([None if v is None else v * f for v in ints.to_pylist()], pa.decimal128(38, 0))


def canonical_array(col: pa.ChunkedArray | pa.Array, kind: str | None = None) -> pa.Array:
    """One column in canonical form (see the module docstring); ``kind``: its profile's value type
    (temporal text is parsed), else the Arrow type's."""
    col = values_as(col, kind) if kind else plain_array(col)
    t = col.type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return canonical_number(col)
    if pa.types.is_large_string(t) or str(t) == "string_view":
        return pc.cast(col, pa.string())
    if pa.types.is_large_binary(t) or str(t) == "binary_view" or pa.types.is_fixed_size_binary(t):
        return pc.cast(col, pa.binary())
    if pa.types.is_date64(t):
        return pc.cast(col, pa.date32())
    if pa.types.is_timestamp(t) or pa.types.is_time(t) or pa.types.is_duration(t):
        return _exact_nanoseconds(col)
    return col


def canonical(table: pa.Table, profile: TableProfile, cols: tuple[str, ...]) -> pa.Table:
    """``table`` projected on the normalised columns ``cols``, canonical, renamed ``c0, c1, …``;
    each field's metadata names its kind (``semantics.align_child`` reads it)."""
    names = original_names(profile, cols)
    kinds = column_kinds(profile, cols)
    arrays, fields = [], []
    for i, (n, k) in enumerate(zip(names, kinds)):
        col = table.column(n)
        kind = family(k or normalise_type(col.type))
        arr = canonical_array(col, k)
        arrays.append(arr)
        fields.append(pa.field(f"c{i}", arr.type, metadata={KIND: kind.encode()}))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


# --- loading tables once -----------------------------------------------------------------------

class TableStore:
    """Reads tables through ``tableio.read_table`` and keeps recently used ones (LRU, byte budget).

    The verification loop walks parents in order and touches each child several times; keeping
    them in memory avoids re-reading small tables for every parent they belong to. The profiling
    stage hands the tables it read to the scan's store (``put``, thread-safe), so a table read to be
    profiled is not read again to be sampled or verified while it fits the budget.
    """

    def __init__(self, profiles: dict[str, TableProfile] | None = None, budget_bytes: int = 1 << 30,
                 reader: Callable[[str, str], pa.Table] | None = None):
        self.profiles = profiles or {}
        self.budget = budget_bytes
        self._reader = reader or (lambda path, fmt: read_table(path, fmt))
        self._cache: OrderedDict[str, tuple[pa.Table, int]] = OrderedDict()   # name → (table, bytes)
        self._bytes = 0
        self._lock = threading.Lock()
        self.reads = 0
        self.read_names: set[str] = set()   # tables this store read (not those ``put`` in it)

    def put(self, name: str, table: pa.Table) -> None:
        """Keep ``table`` as ``name`` (the table as read for its profile), dropping the least
        recently used beyond the budget; a table bigger than the budget is not kept."""
        nb = table.get_total_buffer_size()   # O(buffers); ``nbytes`` walks slices
        if nb > self.budget:
            return
        with self._lock:
            old = self._cache.pop(name, None)
            if old is not None:
                self._bytes -= old[1]
            self._cache[name] = (table, nb)
            self._bytes += nb
            while self._bytes > self.budget and self._cache:
                _, (_, n) = self._cache.popitem(last=False)
                self._bytes -= n

    def get(self, name: str) -> pa.Table:
        with self._lock:
            kept = self._cache.get(name)
            if kept is not None:
                self._cache.move_to_end(name)
                return kept[0]
        p = self.profiles[name]
        t = self._reader(p.path, p.format)
        with self._lock:
            self.reads += 1
            self.read_names.add(name)
        self.put(name, t)
        return t

    def prefetch(self, names: list[str]) -> Callable[[], None]:
        """Read ``names``, in this order, in a background thread while the store holds less than
        half its budget (Arrow reads without the GIL: the reading overlaps the caller's hashing and
        queries). Returns the function that stops and joins it. A table that fails to read is left
        for the caller's own ``get`` to report."""
        stop = threading.Event()

        def run() -> None:
            for n in names:
                if stop.is_set() or self._bytes > self.budget // 2:
                    return
                try:
                    self.get(n)
                except Exception:   # noqa: BLE001 - reported by the caller's get, in its thread
                    continue

        thread = threading.Thread(target=run, name="prunekit-prefetch", daemon=True)
        thread.start()

        def done() -> None:
            stop.set()
            thread.join()
        return done

    def clear(self) -> None:
        self._cache.clear()
        self._bytes = 0
