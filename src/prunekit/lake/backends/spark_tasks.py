"""What Spark's executors run for ``--engine spark``: prunekit's own reading, profiling, hashing and
canonical-form code, so a value means the same to Spark as to DuckDB (no Spark reader, no second
implementation of the value semantics). Nothing here imports pyspark; the driver side
(``spark_lake``) ships these functions to Python workers, and every function takes and returns
plain picklable objects (profiles, hashes, counts, Arrow batches).

- ``profile_refs``: ``profile.profile_or_skip`` of table references: the driver gets profiles only;
  ``fingerprints``: the fingerprints set semantics needs for duplicate groups.
- ``child_samples``: each child's sampled-row hashes (``verify.sample_indices``,
  ``verify.projection_hashes``), ``k`` numbers a table.
- ``parent_missing``: per parent and column set, how many sampled rows of each child (their hashes
  shipped to the parent's task) are missing from the parent's projection; and the parent's
  canonical schema (``verify.canonical``) where a child passed, for the exact step.
- ``key_rows`` (``mapInArrow``): each table's canonical projections (children first lifted to their
  parent's types by ``semantics.align_child``, as in every engine) as ``(gid, cid, key, n)`` rows:
  ``key`` an exact byte encoding of a canonical row (``row_keys``), ``n`` its count in the table.
  Spark then sums, joins and compares the counts of rows the driver never saw.

A table that cannot be read is reported by name with the reason (``ERROR``), as the DuckDB path
reports it. Tables read by a worker are kept in a small per-process cache (workers are reused
between tasks), so the sample and exact steps often read a table once.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prunekit.errors import InputError
from prunekit.lake.model import TableProfile
from prunekit.lake.semantics import align_child
from prunekit.lake.tableio import plain_array, read_table
from prunekit.lake.verify import canonical, column_set, projection_hashes, sample_indices, sample_missing

#: the reasons a table cannot be read on an executor (the DuckDB path's ``load`` catches the same)
READ_ERRORS = (InputError, OSError, pa.ArrowException)
#: Arrow schema of ``key_rows``'s output (``gid`` −1: a table that could not be read, ``cid`` its index)
KEY_SCHEMA = "gid int, cid int, key binary, n long"
PARENT = -1                                  # ``cid`` of a parent's rows
_CACHE: OrderedDict = OrderedDict()          # per worker process: (path, format, checksum) → table
_CACHE_BYTES = 256 << 20
_cached_bytes = 0


def _keep(p: TableProfile, t: pa.Table) -> None:
    global _cached_bytes
    key = (p.path, p.format, p.checksum)
    if key not in _CACHE and t.nbytes <= _CACHE_BYTES:
        _CACHE[key] = t
        _cached_bytes += t.nbytes
        while _cached_bytes > _CACHE_BYTES:
            _cached_bytes -= _CACHE.popitem(last=False)[1].nbytes


def _read(p: TableProfile) -> pa.Table:
    t = _CACHE.get((p.path, p.format, p.checksum))
    if t is None:
        t = read_table(p.path, p.format)
        _keep(p, t)
    else:
        _CACHE.move_to_end((p.path, p.format, p.checksum))
    return t


def unreadable(exc: BaseException) -> str:
    """The skip reason of a table that could not be read for the content stages (as DuckDB's)."""
    return f"unreadable during verification: {exc}"


# --- profiling and the sample -----------------------------------------------------------------

def profile_refs(items: list) -> list:
    """``[(index, TableProfile | Skipped)]`` of ``[(index, TableRef)]``; the tables read stay in
    this worker's cache for the sample and exact steps."""
    from prunekit.lake.profile import profile_or_skip

    out = []
    for i, ref in items:
        read: list = []
        r = profile_or_skip(ref, lambda name, t: read.append(t))
        if read and isinstance(r, TableProfile):
            _keep(r, read[0])
        out.append((i, r))
    return out


def fingerprints(items: list) -> list:
    """``[(name, fingerprinted profile | None, reason | None)]`` for ``[profile]``
    (``profile.with_fingerprint``)."""
    from prunekit.lake.profile import with_fingerprint

    out = []
    for p in items:
        try:
            out.append((p.name, with_fingerprint(p, None if p.fingerprint is not None else _read(p)), None))
        except READ_ERRORS as exc:
            out.append((p.name, None, f"{p.name} not fingerprinted: {exc}"))
    return out


def child_samples(items: list) -> list:
    """``[(name, hashes | None, reason | None)]`` for ``[(profile, k, seed)]``: the hashes of the
    sampled rows on the child's own column set, as the DuckDB path computes them."""
    out = []
    for p, k, seed in items:
        try:
            t = _read(p)
        except READ_ERRORS as exc:
            out.append((p.name, None, unreadable(exc)))
            continue
        out.append((p.name, projection_hashes(t, p, column_set(p), sample_indices(p.name, p.rows, k, seed)),
                    None))
    return out


def parent_missing(items: list) -> list:
    """``[(parent, {child: missing}, {column set: schema bytes}, reason | None)]`` for
    ``[(parent profile, {column set: [(child, sample hashes)]}, column sets whose schema is wanted)]``.

    A column set's canonical schema comes back when some child of it passed the sample, or when
    asked for (its sample answers were known already)."""
    from prunekit.lake.content import _sorted_set

    out = []
    for p, groups, want in items:
        try:
            t = _read(p)
        except READ_ERRORS as exc:
            out.append((p.name, {}, {}, unreadable(exc)))
            continue
        missing, schemas = {}, {}
        for cs in sorted(set(groups) | set(want)):
            kids = groups.get(cs, [])
            if kids:
                ph = _sorted_set(projection_hashes(t, p, cs))
                for child, h in kids:
                    missing[child] = sample_missing(h, ph)
            if cs in want or any(missing[c] == 0 for c, _ in kids):
                schemas[cs] = canonical(t, p, cs).schema.serialize().to_pybytes()
        out.append((p.name, missing, schemas, None))
    return out


# --- exact verification: canonical rows as exact byte keys --------------------------------------

def _fixed(mat: np.ndarray) -> pa.Array:
    n, w = mat.shape
    buf = pa.py_buffer(np.ascontiguousarray(mat, dtype=np.uint8).tobytes())
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(w), n, [None, buf]).cast(pa.binary())


def _column_bytes(col: pa.Array) -> pa.Array:
    """Each value of ``col`` as bytes: a null/value tag, then the value (fixed width, or a 4-byte
    length and the bytes), so concatenated columns are decodable, hence equal only for equal rows."""
    n, t = len(col), col.type
    valid = np.ones(n, bool) if col.null_count == 0 else np.asarray(col.is_valid().to_numpy(zero_copy_only=False))
    if pa.types.is_null(t):
        return _fixed(np.zeros((n, 1), np.uint8))
    if pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_large_string(t) or pa.types.is_large_binary(t):
        b = col.cast(pa.large_binary() if "large" in str(t) else pa.binary()).cast(pa.binary())
        lens = pc.binary_length(b).fill_null(0).to_numpy(zero_copy_only=False).astype("<u4")
        head = np.concatenate([valid[:, None].astype(np.uint8), lens.view(np.uint8).reshape(n, 4)], axis=1)
        return pc.binary_join_element_wise(_fixed(head), b.fill_null(b""), pa.scalar(b"", pa.binary()))
    if pa.types.is_boolean(t):
        col, t = pc.cast(col, pa.uint8()), pa.uint8()
    width = getattr(t, "bit_width", 0)
    if width and width % 8 == 0 and len(col.buffers()) == 2:   # numbers, dates, decimals, times
        w = width // 8
        raw = np.frombuffer(col.buffers()[1], np.uint8, count=(col.offset + n) * w)[col.offset * w:]
        raw = raw.reshape(n, w).copy()
        if pa.types.is_floating(t):      # one form per value: -0.0 as 0.0, one NaN
            f = raw.view(f"<f{w}").ravel()
            f[f == 0] = 0.0
            f[np.isnan(f)] = np.nan
        raw[~valid] = 0
        return _fixed(np.concatenate([valid[:, None].astype(np.uint8), raw], axis=1))
    # nested and other rare types: the Python value's text, length-prefixed
    return _column_bytes(pa.array([None if v is None else repr(v) for v in col.to_pylist()], pa.string()))


def row_keys(table: pa.Table) -> pa.Array:
    """One binary key per row of a canonical table: two rows of tables with the same schema have
    equal keys exactly when their values are equal (NULL equal to NULL only, as ``<=>``)."""
    parts = [_column_bytes(plain_array(c)) for c in table.columns]
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, pa.scalar(b"", pa.binary()))


def _counted(gid: int, cid: int, keys: pa.Array) -> pa.RecordBatch:
    g = pa.table({"key": keys}).group_by("key").aggregate([([], "count_all")])
    m = g.num_rows
    return pa.RecordBatch.from_arrays(
        [pa.array(np.full(m, gid, np.int32)), pa.array(np.full(m, cid, np.int32)),
         g.column("key").combine_chunks(), g.column("count_all").combine_chunks().cast(pa.int64())],
        names=["gid", "cid", "key", "n"])


def key_batches(index: int, p: TableProfile, roles: list):
    """The ``(gid, cid, key, n)`` batches of one table for its ``roles``: ``(gid, PARENT, cs, None)``
    as a parent, ``(gid, cid, cs, parent schema bytes)`` as a child (a child that cannot be lifted
    to its parent's types yields one NULL key: it is not contained)."""
    try:
        t = _read(p)
    except READ_ERRORS as exc:
        yield pa.RecordBatch.from_arrays(
            [pa.array([-1], pa.int32()), pa.array([index], pa.int32()),
             pa.array([unreadable(exc).encode()], pa.binary()), pa.array([0], pa.int64())],
            names=["gid", "cid", "key", "n"])
        return
    for gid, cid, cs, schema in roles:
        can = canonical(t, p, cs)
        if schema is not None:
            can = align_child(can, pa.ipc.read_schema(pa.py_buffer(schema)))
            if can is None:
                yield pa.RecordBatch.from_arrays(
                    [pa.array([gid], pa.int32()), pa.array([cid], pa.int32()),
                     pa.nulls(1, pa.binary()), pa.array([1], pa.int64())], names=["gid", "cid", "key", "n"])
                continue
        yield _counted(gid, cid, row_keys(can))


def key_rows(batches):
    """``mapInArrow`` function: input rows ``task`` (a pickled ``(index, profile, roles)``)."""
    for b in batches:
        for task in b.column(0).to_pylist():
            yield from key_batches(*pickle.loads(task))
