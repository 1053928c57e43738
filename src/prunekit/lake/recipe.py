"""Rebuild recipes: how to reproduce a deleted child table exactly from a kept parent.

Containment says the child's rows are *somewhere* in the parent. A recipe says where: for child row
``i`` (in the child's canonical order, ``tableio.read_table``) the parent row ``positions[i]`` (in
the parent's canonical order) holds exactly the same values. With the column mapping, the child's
exact Arrow schema and its file layout, ``rebuild`` reproduces the child — same rows, same order,
same column names and types — and ``write_like`` writes it back as the same kind of files.

Exactness is *bitwise*, not value equality. Value equality (what containment uses) treats ``-0.0``
and ``0.0`` as equal, and every NaN as equal; a recipe pointing at a parent row holding ``0.0`` for a
child's ``-0.0`` would restore a different table. So recipes match float columns on their bit
patterns: a child row is only ever mapped to a parent row holding exactly its bits, and a child
whose ``-0.0`` (or NaN payload) occurs nowhere bit-identical in the parent gets no recipe (a
``RecipeError`` naming the row) — it is refused for deletion rather than restored approximately.

Matching: ``tableio.row_hashes`` groups candidate rows (value-based), the float bit patterns refine
the groups, the k-th occurrence of a key in the child is paired with the k-th occurrence in the
parent (bag semantics: distinct parent rows, multiplicities respected; set semantics: every child
row takes the first equal parent row, positions may repeat). Every pair is then compared on the
actual values; a pair that only agreed by hash goes through an exact row-by-row search. The hash
is never trusted alone.

On disk a recipe is a folder: ``positions.parquet`` (one int64 column ``position``) and
``recipe.json`` (metadata, including the sha256 of ``positions.parquet``), both written atomically,
the JSON last so that a readable ``recipe.json`` always describes a complete positions file.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import math
import os
import shutil
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prunekit.errors import InputError
from prunekit.io.atomic import atomic_path
from prunekit.lake import tableio
from prunekit.lake._crash import crash_point
from prunekit.lake.model import normalise_name

RECIPE_FORMAT = "prunekit-lake-recipe"
RECIPE_VERSION = 1
RECIPE_JSON = "recipe.json"
POSITIONS_PARQUET = "positions.parquet"


class RecipeError(InputError):
    """A recipe cannot be built, read, or does not reproduce its child exactly."""


# --- exact (bitwise) column forms ---------------------------------------------------------------


def _plain(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array with dictionaries decoded: the values are what is compared."""
    from prunekit.lake.tableio import plain_array

    return plain_array(arr)


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
    arr = _plain(arr)
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


def _distinct(pos: np.ndarray) -> int:
    """Number of distinct positions (bincount: linear, where np.unique sorts)."""
    return int(np.count_nonzero(np.bincount(pos))) if len(pos) else 0


def _forms_equal(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
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
        arr = _plain(col)
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
        eq = _forms_equal(exact_form(expected.column(name)), exact_form(actual.column(name)))
        if not eq.all():
            r = int(np.argmin(eq))
            return (f"column {name!r} row {r}: {_show(actual.column(name), r)} instead of "
                    f"{_show(expected.column(name), r)}")
    return None


def _show(col: pa.ChunkedArray, r: int) -> str:
    v = col[r].as_py()
    if isinstance(v, float) and v == 0.0:
        return "-0.0" if np.signbit(v) else "0.0"
    return repr(v)


# --- file layout -----------------------------------------------------------------------------------


def describe_layout(path: str | Path, fmt: str) -> dict[str, Any]:
    """How the child is stored, so a rebuild can be written back as the same kind of files.

    Parquet: each part file (relative name), its row count, row-group sizes and compression codec;
    a folder of parts also lists its other files (they are not part of the table and are not
    rebuilt). CSV: delimiter, header, line ending (pyarrow's reader defaults are the only
    dialect ``tableio`` reads).
    """
    import pyarrow.parquet as pq

    p = Path(path)
    if fmt == "csv":
        with open(p, "rb") as fh:
            head = fh.read(1 << 16)
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(size - 1, 0))
            last = fh.read(1)
        nl = head.find(b"\n")
        eol = "\r\n" if nl > 0 and head[nl - 1:nl] == b"\r" else "\n"
        # Writers either quote every string (pyarrow, R) or only where needed (pandas, most
        # hand-written files); the header line tells which, and restores follow suit.
        header = head[:nl if nl >= 0 else len(head)].rstrip(b"\r").split(b",")
        quote_all = bool(header) and all(len(c) >= 2 and c[:1] == c[-1:] == b'"' for c in header)
        return {"kind": "csv", "folder": False, "delimiter": ",", "header": True, "eol": eol,
                "final_eol": last == b"\n", "quote": "all" if quote_all else "needed"}
    parts = []
    for f in tableio.table_files(p):
        md = pq.ParquetFile(f).metadata
        codec = md.row_group(0).column(0).compression if md.num_row_groups and md.num_columns else "SNAPPY"
        parts.append({
            "path": f.relative_to(p).as_posix() if p.is_dir() else f.name,
            "rows": md.num_rows,
            "row_groups": [md.row_group(i).num_rows for i in range(md.num_row_groups)],
            "compression": str(codec).upper(),
        })
    layout: dict[str, Any] = {"kind": "parquet", "folder": p.is_dir(), "parts": parts}
    if p.is_dir():
        part_names = {q["path"] for q in parts}
        layout["other_files"] = sorted(f.relative_to(p).as_posix() for f in p.rglob("*")
                                       if f.is_file() and f.relative_to(p).as_posix() not in part_names)
    return layout


def _float_text(v: float, short: bool) -> str:
    # "short": integral values without ".0", as pyarrow and R print them ("3159", "-0"); only
    # reads back as a double when the column holds a non-integral value too (checked on write).
    if short and math.isfinite(v) and v == int(v) and abs(v) < 1e16:
        return ("-" if v == 0 and math.copysign(1.0, v) < 0 else "") + str(int(v))
    return repr(float(v))


def _csv_cells(col: pa.ChunkedArray, null_text: str, quote_all: bool = False,
               short_floats: bool = False) -> list[str]:
    """Cell texts that pyarrow's CSV reader (tableio's defaults) parses back to the same values.

    pyarrow's own writer prints the double 1.0 as ``1`` (re-read as int64) and NaN as ``nan`` (re-read
    as null), so floats are printed with Python's shortest round-trip ``repr`` and NaN as ``NAN`` /
    ``-NAN`` (signed, which the reader keeps). Strings are quoted as the original writer did
    (every string, or only where needed).
    """
    arr = _plain(col)
    t = arr.type
    py = arr.to_pylist()
    if pa.types.is_floating(t):
        bits = exact_form(arr)[1]
        out = []
        for v, b in zip(py, bits):
            if v is None:
                out.append(null_text)
            elif v != v:
                out.append("-NAN" if int(b) >> 63 else "NAN")
            else:
                out.append(_float_text(v, short_floats))
        return out
    if pa.types.is_string(t) or pa.types.is_large_string(t) or str(t) == "string_view":
        return [null_text if v is None else _quote(v, null_text == "NA", quote_all) for v in py]
    if pa.types.is_null(t):
        return [null_text] * len(arr)
    text = pc.cast(arr, pa.string()).to_pylist()
    return [null_text if v is None else v for v in text]


def _quote(v: str, lone: bool, always: bool = False) -> str:
    """Quote only when the reader needs it (delimiter, quote, line break), as most writers do, so a
    plainly written CSV comes back byte for byte; a lone empty string is quoted because an empty
    line would be skipped. The read-back check in ``write_like`` catches any miss."""
    if always or any(ch in v for ch in ',"\r\n') or (lone and v == ""):
        return '"' + v.replace('"', '""') + '"'
    return v


def _csv_bytes(table: pa.Table, layout: dict[str, Any]) -> bytes:
    delim = layout.get("delimiter", ",")
    eol = layout.get("eol", "\n")
    # A one-column row holding only a null would be an empty line, which the reader skips.
    null_text = "NA" if table.num_columns == 1 else ""
    quote_all = layout.get("quote") == "all"
    short = layout.get("floats") == "short"
    cols = [_csv_cells(c, null_text, quote_all, short) for c in table.columns]
    header = delim.join(_quote(n, True, quote_all) for n in table.column_names)
    lines = [header] + [delim.join(cells) for cells in zip(*cols)] if cols else [header]
    return (eol.join(lines) + (eol if layout.get("final_eol", True) else "")).encode("utf-8")


def pick_csv_style(table: pa.Table, layout: dict[str, Any], path: str | Path,
                   max_bytes: int = 256 << 20) -> dict[str, Any]:
    """The layout with the quoting and float spelling that reproduce the original file's bytes
    exactly, when one of the known writer styles does (tried on files up to ``max_bytes``);
    otherwise the layout unchanged (restores are then content-identical, not byte-identical)."""
    p = Path(path)
    if p.stat().st_size > max_bytes:
        return layout
    original = p.read_bytes()
    other = "needed" if layout.get("quote") == "all" else "all"
    for quote in (layout.get("quote", "needed"), other):
        for floats in ("repr", "short"):
            cand = dict(layout, quote=quote, floats=floats)
            if _csv_bytes(table, cand) == original:
                return cand
    return layout


def _write_parquet_part(table: pa.Table, path: Path, part: dict[str, Any]) -> None:
    import pyarrow.parquet as pq

    codec = part.get("compression", "SNAPPY")
    codec = "NONE" if codec in ("UNCOMPRESSED",) else codec
    with pq.ParquetWriter(path, table.schema, compression=codec) as w:
        groups = part.get("row_groups") or ([table.num_rows] if table.num_rows else [])
        if sum(groups) != table.num_rows:
            groups = [table.num_rows] if table.num_rows else []
        off = 0
        for g in groups:
            w.write_table(table.slice(off, g), row_group_size=max(g, 1))
            off += g


def write_like(table: pa.Table, child: dict[str, Any], dest: str | Path, *, verify: bool = True) -> Path:
    """Write ``table`` at ``dest`` in the child's recorded format and layout, atomically.

    A single file goes through ``atomic_path``; a folder of parts is written into a hidden sibling
    folder and renamed into place. With ``verify`` the written files are read back with
    ``tableio.read_table`` and must equal ``table`` exactly before they take the final name (the
    check that makes a CSV restore trustworthy). ``dest`` must not exist.
    """
    dest = Path(dest)
    if dest.exists():
        raise RecipeError(f"{dest} already exists; not overwriting it")
    layout = child["layout"]
    fmt = child["format"]

    def check(written: Path) -> None:
        if not verify:
            return
        back = tableio.read_table(written, fmt)
        diff = table_difference(table, back)
        if diff:
            raise RecipeError(f"{child['name']}: the rewritten {fmt} does not read back identically: {diff}")

    if fmt == "csv":
        with atomic_path(dest) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(_csv_bytes(table, layout))
                fh.flush()
                os.fsync(fh.fileno())
            check(tmp)
        return dest
    parts = layout["parts"]
    if sum(p["rows"] for p in parts) != table.num_rows:
        raise RecipeError(f"{child['name']}: the recorded parts hold {sum(p['rows'] for p in parts)} rows, "
                          f"the table {table.num_rows}")
    if not layout.get("folder"):
        with atomic_path(dest) as tmp:
            _write_parquet_part(table, tmp, parts[0])
            check(tmp)
        return dest
    tmpdir = dest.parent / f".{dest.name}.write-{uuid.uuid4().hex[:8]}"
    try:
        tmpdir.mkdir(parents=False)
        off = 0
        for part in parts:
            target = tmpdir / part["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_parquet_part(table.slice(off, part["rows"]), target, part)
            off += part["rows"]
        check(tmpdir)
        os.rename(tmpdir, dest)
    except BaseException:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise
    return dest


# --- the recipe ------------------------------------------------------------------------------------


def _schema_to_text(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def _schema_from_text(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _rel(path: str | Path, root: str | Path | None) -> str | None:
    if root is None:
        return None
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return None


def resolve(side: dict[str, Any], root: str | Path | None = None) -> Path:
    """Where a recipe's child or parent lives: under ``root`` by its lake-relative path when both
    are known (the lake may have moved), else the recorded absolute path."""
    if root is not None and side.get("relpath"):
        return Path(root) / side["relpath"]
    return Path(side["path"])


@dataclass
class Recipe:
    """Metadata (JSON-able dict) + ``positions`` (int64, one per child row, parent row numbers)."""

    meta: dict[str, Any]
    positions: np.ndarray

    @property
    def child(self) -> dict[str, Any]:
        return self.meta["child"]

    @property
    def parent(self) -> dict[str, Any]:
        return self.meta["parent"]

    @property
    def child_schema(self) -> pa.Schema:
        return _schema_from_text(self.child["schema"])

    def save(self, folder: str | Path) -> Path:
        """Write ``positions.parquet`` then ``recipe.json`` (atomic each) into ``folder``."""
        import pyarrow.parquet as pq

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / POSITIONS_PARQUET) as tmp:
            pq.write_table(pa.table({"position": pa.array(self.positions, pa.int64())}), tmp)
            digest = _sha256_file(tmp)
        meta = dict(self.meta)
        meta["positions"] = dict(meta.get("positions", {}), file=POSITIONS_PARQUET, sha256=digest)
        self.meta = meta
        crash_point("recipe-partial")  # test hook: positions written, recipe.json not yet
        with atomic_path(folder / RECIPE_JSON) as tmp:
            tmp.write_text(json.dumps(meta, indent=1, sort_keys=True))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "Recipe":
        """Read a saved recipe; the positions file must match the sha256 recorded in the JSON."""
        import pyarrow.parquet as pq

        folder = Path(folder)
        jp = folder / RECIPE_JSON
        if not jp.exists():
            raise RecipeError(f"{folder}: no {RECIPE_JSON}")
        try:
            meta = json.loads(jp.read_text())
        except (OSError, ValueError) as exc:
            raise RecipeError(f"{jp}: not a readable recipe ({exc})") from exc
        if meta.get("format") != RECIPE_FORMAT or meta.get("version") != RECIPE_VERSION:
            raise RecipeError(f"{jp}: not a prunekit recipe version {RECIPE_VERSION}")
        pp = folder / meta["positions"]["file"]
        if not pp.exists():
            raise RecipeError(f"{folder}: positions file {pp.name} is missing")
        if _sha256_file(pp) != meta["positions"]["sha256"]:
            raise RecipeError(f"{pp}: does not match the checksum in {RECIPE_JSON} (damaged or edited)")
        pos = pq.read_table(pp).column("position").to_numpy().astype(np.int64, copy=False)
        return cls(meta=meta, positions=pos)


def _mix(x: np.ndarray) -> np.ndarray:
    return tableio._mix(x)


def _exact_keys(table: pa.Table, forms: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Row keys that separate rows value-equal but not bit-equal (``-0.0``/``0.0``, NaN payloads):
    the value-based ``tableio.row_hashes`` refined with the float bit patterns."""
    h = tableio.row_hashes(table)
    with np.errstate(over="ignore"):
        for i, (field, (_, vals)) in enumerate(zip(table.schema, forms)):
            t = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
            if pa.types.is_floating(t):
                h = _mix(h ^ _mix(vals.astype(np.uint64) + np.uint64(i + 1)))
    return h


def _occurrence_rank(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(order, rank)``: a stable sort of ``keys`` and, per row, how many earlier rows share its key."""
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    n = len(keys)
    starts = np.ones(n, dtype=bool)
    if n:
        starts[1:] = sk[1:] != sk[:-1]
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0)) if n else np.zeros(0, np.int64)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - first
    return order, rank


def _cast_parent(parent_col: pa.ChunkedArray, child_type: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """The parent column in the child's type, and which rows survived the cast exactly.

    A parent int64 of 2**40 cannot be an int32 child's value; a parent timestamp[ns] with
    nanoseconds cannot be a timestamp[s] child's value. Those rows are never candidates.
    """
    col = _plain(parent_col)
    target = child_type.value_type if pa.types.is_dictionary(child_type) else child_type
    if col.type == target:
        return col, np.ones(len(col), dtype=bool)
    try:
        return col.cast(target, safe=True), np.ones(len(col), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:
        cast = col.cast(target, safe=False)
        back = cast.cast(col.type, safe=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise RecipeError(f"cannot compare a {col.type} parent column with a {child_type} child column: {exc}") from exc
    return cast, _forms_equal(exact_form(col), exact_form(back))


def match_positions(child: pa.Table, parent_view: pa.Table, candidate: np.ndarray,
                    semantics: str = "bag") -> tuple[np.ndarray, list[int]]:
    """Parent row per child row (``-1`` where none exists) and the unmatched child rows.

    ``parent_view`` holds the parent's columns already renamed and cast to the child's schema;
    ``candidate[p]`` is False for parent rows that cannot hold a child value (lossy casts).
    Bag: distinct parent rows; set: repeated positions allowed.
    """
    cf = [exact_form(c) for c in child.columns]
    pf = [exact_form(c) for c in parent_view.columns]
    kc = _exact_keys(child, cf)
    kp = _exact_keys(parent_view, pf)
    cand_idx = np.nonzero(candidate)[0]
    kp_c = kp[cand_idx]
    order_p, _ = _occurrence_rank(kp_c)
    sorted_kp = kp_c[order_p]
    if semantics == "set":
        rank_c = np.zeros(child.num_rows, dtype=np.int64)
    else:
        _, rank_c = _occurrence_rank(kc)
    lo = np.searchsorted(sorted_kp, kc, side="left")
    at = lo + rank_c
    ok = at < len(sorted_kp)
    ok[ok] = sorted_kp[at[ok]] == kc[ok]
    pos = np.full(child.num_rows, -1, dtype=np.int64)
    pos[ok] = cand_idx[order_p[at[ok]]]
    # Never trust the hash alone: compare the paired rows on their actual values.
    if ok.any():
        rows = np.nonzero(ok)[0]
        same = np.ones(len(rows), dtype=bool)
        for a, b in zip(cf, pf):
            same &= _forms_equal((a[0][rows], a[1][rows]), (b[0][pos[rows]], b[1][pos[rows]]))
        pos[rows[~same]] = -1
    need = np.nonzero(pos < 0)[0]
    if len(need):
        _exact_search(child, parent_view, candidate, cf, pf, pos, need, semantics)
    unmatched = [int(r) for r in np.nonzero(pos < 0)[0]]
    return pos, unmatched


def _exact_search(child, parent_view, candidate, cf, pf, pos, need, semantics) -> None:
    """Slow exact path for rows whose hashed pairing failed: scan the value-hash group of each
    row for an unused, bit-identical parent row. Greedy is optimal here because bitwise equality
    is an equivalence relation (any equal row serves any equal child row)."""
    hc = tableio.row_hashes(child)
    hp = tableio.row_hashes(parent_view)
    used = np.zeros(parent_view.num_rows, dtype=bool)
    if semantics != "set":
        used[pos[pos >= 0]] = True
    wanted = np.isin(hp, hc[need]) & candidate
    groups: dict[int, list[int]] = {}
    for p in np.nonzero(wanted)[0]:
        groups.setdefault(int(hp[p]), []).append(int(p))

    def equal(r: int, p: int) -> bool:
        for (vc, xc), (vp, xp) in zip(cf, pf):
            if vc[r] != vp[p] or (vc[r] and xc[r] != xp[p]):
                return False
        return True

    for r in need:
        for p in groups.get(int(hc[r]), ()):
            if used[p]:
                continue
            if equal(int(r), p):
                pos[r] = p
                if semantics != "set":
                    used[p] = True
                break


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def build_recipe(child_path: str | Path, parent_path: str | Path, *,
                 child_name: str | None = None, parent_name: str | None = None,
                 child_format: str | None = None, parent_format: str | None = None,
                 semantics: str = "bag", root: str | Path | None = None,
                 child_table: pa.Table | None = None, parent_table: pa.Table | None = None,
                 child_checksum: str | None = None, parent_checksum: str | None = None) -> Recipe:
    """The recipe reproducing the child from the parent, or ``RecipeError`` naming why not.

    The child's columns are matched to the parent's by normalised name. Tables and checksums may
    be passed when the caller has them already (the caller vouches they belong together);
    otherwise the checksum is taken *before* reading, so a file changed during the read shows up
    as a checksum mismatch later rather than as a silently wrong recipe.
    """
    if semantics not in ("bag", "set"):
        raise RecipeError(f"semantics must be 'bag' or 'set', got {semantics!r}")
    child_path, parent_path = Path(child_path), Path(parent_path)
    child_format = child_format or ("csv" if child_path.suffix.lower() == ".csv" else "parquet")
    parent_format = parent_format or ("csv" if parent_path.suffix.lower() == ".csv" else "parquet")
    child_name = child_name or child_path.stem
    parent_name = parent_name or parent_path.stem
    child_checksum = child_checksum or tableio.file_checksum(child_path)
    parent_checksum = parent_checksum or tableio.file_checksum(parent_path)
    child_t = child_table if child_table is not None else tableio.read_table(child_path, child_format)
    parent_t = parent_table if parent_table is not None else tableio.read_table(parent_path, parent_format)

    by_norm = {normalise_name(n): n for n in parent_t.column_names}
    mapping = []
    for name in child_t.column_names:
        pn = by_norm.get(normalise_name(name))
        if pn is None:
            raise RecipeError(f"{child_name}: column {name!r} has no counterpart in {parent_name}")
        mapping.append((name, pn))
    view_cols, candidate = [], np.ones(parent_t.num_rows, dtype=bool)
    for (_, pname), field in zip(mapping, child_t.schema):
        col, ok = _cast_parent(parent_t.column(pname), field.type)
        view_cols.append(col)
        candidate &= ok
    plain_child = pa.table([_plain(c) for c in child_t.columns], names=child_t.column_names)
    view = pa.table(view_cols, names=child_t.column_names)
    pos, unmatched = match_positions(plain_child, view, candidate, semantics)
    if unmatched:
        r = unmatched[0]
        row = {n: _show(child_t.column(n), r) for n in child_t.column_names}
        raise RecipeError(
            f"{child_name}: {len(unmatched)} of {child_t.num_rows} rows have no bit-identical row in "
            f"{parent_name} (first: row {r} {row}); value-equal rows may differ in -0.0/0.0 or NaN bits, "
            f"or the parent changed")
    layout = describe_layout(child_path, child_format)
    if child_format == "csv":
        layout = pick_csv_style(child_t, layout, child_path)
    meta = {
        "format": RECIPE_FORMAT,
        "version": RECIPE_VERSION,
        "created": _now(),
        "semantics": semantics,
        "child": {
            "name": child_name,
            "path": str(child_path.resolve()),
            "relpath": _rel(child_path, root),
            "format": child_format,
            "checksum": child_checksum,
            "fingerprint": tableio.fingerprint(child_t),
            "digest": content_digest(child_t),
            "rows": child_t.num_rows,
            "schema": _schema_to_text(child_t.schema),
            "columns": [[f.name, str(f.type)] for f in child_t.schema],
            "layout": layout,
        },
        "parent": {
            "name": parent_name,
            "path": str(parent_path.resolve()),
            "relpath": _rel(parent_path, root),
            "format": parent_format,
            "checksum": parent_checksum,
            "fingerprint": tableio.fingerprint(parent_t),
            "rows": parent_t.num_rows,
        },
        "column_map": [{"child": c, "parent": p} for c, p in mapping],
        "positions": {"rows": int(len(pos)), "distinct": _distinct(pos)},
    }
    return Recipe(meta=meta, positions=pos)


def rebuild(recipe: Recipe, *, root: str | Path | None = None, parent_table: pa.Table | None = None,
            check_parent: bool = True) -> pa.Table:
    """The child table, rebuilt from the parent: same rows, same order, same names and types.

    Refuses (``RecipeError``) when the parent is gone or its checksum differs from the recipe's
    (with ``check_parent``; a caller passing ``parent_table`` vouches for it), when a position is
    out of range, or when the result does not reproduce the recorded content digest.
    """
    parent = recipe.parent
    child = recipe.child
    ppath = resolve(parent, root)
    if parent_table is None:
        if not ppath.exists():
            raise RecipeError(f"cannot rebuild {child['name']}: its parent {parent['name']} is gone ({ppath})")
        if check_parent:
            now = tableio.file_checksum(ppath)
            if now != parent["checksum"]:
                raise RecipeError(
                    f"cannot rebuild {child['name']}: its parent {parent['name']} changed since the recipe "
                    f"was made (checksum {parent['checksum'][:12]}… now {now[:12]}…)")
        parent_table = tableio.read_table(ppath, parent["format"])
    pos = recipe.positions
    if len(pos) != child["rows"]:
        raise RecipeError(f"recipe of {child['name']}: {len(pos)} positions for {child['rows']} rows")
    if len(pos) and (pos.min() < 0 or pos.max() >= parent_table.num_rows):
        raise RecipeError(f"recipe of {child['name']}: positions outside the parent's {parent_table.num_rows} rows")
    if recipe.meta["semantics"] == "bag" and _distinct(pos) != len(pos):
        raise RecipeError(f"recipe of {child['name']}: bag recipe reuses parent rows")
    schema = recipe.child_schema
    arrays = []
    idx = pa.array(pos, pa.int64())
    for m, field in zip(recipe.meta["column_map"], schema):
        if m["parent"] not in parent_table.column_names:
            raise RecipeError(f"recipe of {child['name']}: parent column {m['parent']!r} is missing")
        col = _plain(parent_table.column(m["parent"])).take(idx)
        try:
            col = col.cast(field.type, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise RecipeError(f"recipe of {child['name']}: column {field.name!r} does not cast back "
                              f"to {field.type}: {exc}") from exc
        arrays.append(col)
    table = pa.Table.from_arrays(arrays, schema=schema)
    digest = content_digest(table)
    if digest != child["digest"]:
        raise RecipeError(f"rebuilding {child['name']} from {parent['name']} does not reproduce its "
                          f"content digest")
    return table
