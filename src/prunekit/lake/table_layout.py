"""A table's file layout, recorded, and the table written back in it.

``describe_layout`` records how a table is stored (Parquet parts with their row groups and codec,
or the CSV dialect, quoting and float spelling: ``pick_csv_style``); ``write_like`` writes a table
back as the same kind of files, atomically, and with ``verify`` proves it reads back identically
before it takes its name.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from prunekit.io.atomic import atomic_dir, atomic_path
from prunekit.lake import formats, objectstore, tableio
from prunekit.lake.errors import RecipeError
from prunekit.lake.exact import exact_form, table_difference


def describe_layout(path: str | Path, fmt: str) -> dict[str, Any]:
    """How the child is stored, so a rebuild can be written back as the same kind of files.

    Parquet: each part file (relative name), its row count, row-group sizes and compression codec;
    a folder of parts also lists its other files (they are not part of the table and are not
    rebuilt). CSV: delimiter, header, line ending (pyarrow's reader defaults are the only
    dialect ``tableio`` reads). A Hive-partitioned folder: its keys and each part as above
    (``formats.describe_hive``); a Delta table: ``delta.describe_delta``; an Iceberg table: its
    catalog entry and folder (``iceberg_delete.describe``, ``RecipeError`` when it cannot be deleted).
    """
    p = formats.as_path(path)   # a local Path, or a RemoteFile on an object store (plans only)
    if fmt == formats.HIVE:
        return formats.describe_hive(p, tableio.read_table, _describe_part)
    if fmt == formats.DELTA:
        from prunekit.lake import delta
        return delta.describe_delta(p)
    if fmt == formats.ICEBERG:
        from prunekit.lake import iceberg_delete
        return iceberg_delete.describe(p)
    if fmt == "csv":
        return _csv_layout(p)
    parts = [_parquet_part(f, f.relative_to(p).as_posix() if p.is_dir() else f.name)
             for f in tableio.table_files(p)]
    layout: dict[str, Any] = {"kind": "parquet", "folder": p.is_dir(), "parts": parts}
    if p.is_dir():
        part_names = {q["path"] for q in parts}
        files = objectstore.walk_files(p) if objectstore.is_uri(p) else p.rglob("*")
        layout["other_files"] = sorted(f.relative_to(p).as_posix() for f in files
                                       if f.is_file() and f.relative_to(p).as_posix() not in part_names)
    return layout


def _describe_part(f: Path, part_format: str, part_table: pa.Table | None) -> dict[str, Any]:
    """One part of a partitioned folder: a Parquet part's row groups and codec, or a CSV part's
    dialect with the writer style that reproduces its bytes (``pick_csv_style``)."""
    if part_format == "csv":
        return pick_csv_style(part_table, _csv_layout(f), f)
    return _parquet_part(f, f.name)


def _csv_layout(p: Path) -> dict[str, Any]:
    with p.open_input() if objectstore.is_uri(p) else open(p, "rb") as fh:
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


def _parquet_part(f: Path, rel: str) -> dict[str, Any]:
    import pyarrow.parquet as pq

    md = pq.ParquetFile(f).metadata
    codec = md.row_group(0).column(0).compression if md.num_row_groups and md.num_columns else "SNAPPY"
    return {"path": rel, "rows": md.num_rows,
            "row_groups": [md.row_group(i).num_rows for i in range(md.num_row_groups)],
            "compression": str(codec).upper()}


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
    arr = tableio.plain_array(col)
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
        return [null_text if v is None else _quote(v, True, quote_all, cell=True) for v in py]
    if pa.types.is_null(t):
        return [null_text] * len(arr)
    text = pc.cast(arr, pa.string()).to_pylist()
    return [null_text if v is None else v for v in text]


def _quote(v: str, lone: bool, always: bool = False, cell: bool = False) -> str:
    """Quote only when the reader needs it (delimiter, quote, line break), as most writers do, so a
    plainly written CSV comes back byte for byte; a lone empty string is quoted because an empty
    line would be skipped, and a string cell that unquoted would read as NULL (the empty string,
    ``NA``, ``null``, …: ``tableio.CSV_CONVERT``) is quoted. The read-back check in ``write_like``
    catches any miss."""
    if always or any(ch in v for ch in ',"\r\n') or (lone and v == "") \
            or (cell and v in tableio.CSV_CONVERT.null_values):
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
    header = delim.join(_quote(n, table.num_columns == 1, quote_all) for n in table.column_names)
    lines = [header] + [delim.join(cells) for cells in zip(*cols)] if cols else [header]
    return (eol.join(lines) + (eol if layout.get("final_eol", True) else "")).encode("utf-8")


def pick_csv_style(table: pa.Table, layout: dict[str, Any], path: str | Path,
                   max_bytes: int = 256 << 20) -> dict[str, Any]:
    """The layout with the quoting and float spelling that reproduce the original file's bytes
    exactly, when one of the known writer styles does (tried on files up to ``max_bytes``);
    otherwise the layout unchanged (restores are then content-identical, not byte-identical)."""
    p = formats.as_path(path)
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


def _write_part(table: pa.Table, path: Path, part: dict[str, Any]) -> None:
    """One part of a partitioned folder, as recorded (Parquet or CSV)."""
    if part.get("kind") == "csv":
        with open(path, "wb") as fh:
            fh.write(_csv_bytes(table, part))
            fh.flush()
            os.fsync(fh.fileno())
    else:
        _write_parquet_part(table, path, part)


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
    if fmt == formats.HIVE:
        return formats.write_hive(table, layout, dest, _write_part, check)
    if fmt == formats.DELTA:
        from prunekit.lake import delta
        return delta.write_delta(table, layout, dest, check)
    if fmt == formats.ICEBERG:
        from prunekit.lake import iceberg_delete
        raise RecipeError(f"{child['name']}: {iceberg_delete.NO_REBUILD}")
    parts = formats.check_part_rows(child["name"], layout["parts"], table)
    if not layout.get("folder"):
        with atomic_path(dest) as tmp:
            _write_parquet_part(table, tmp, parts[0])
            check(tmp)
        return dest
    with atomic_dir(dest) as tmpdir:
        formats.write_parts(table, parts, tmpdir, _write_parquet_part)
        check(tmpdir)
    return dest


def purge_refusal(fmt: str) -> str | None:
    """Why the trash copy of a table of this format must not be purged (local lakes and object
    stores alike): a Delta or Iceberg table keeps its history in files a recipe does not rebuild."""
    if fmt == formats.DELTA:
        from prunekit.lake import delta
        return delta.PURGE_REFUSAL
    if fmt == formats.ICEBERG:
        from prunekit.lake import iceberg_delete
        return iceberg_delete.PURGE_REFUSAL
    return None
