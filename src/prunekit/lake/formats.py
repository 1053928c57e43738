"""Table formats beyond one file or one folder of parts: Hive-partitioned folders, Delta Lake tables
and Apache Iceberg tables (``delta``, ``iceberg`` hold the last two). This module decides which
format a path is (from names and folder structure only, before any file is opened), lists a
table's files, and reads and writes Hive-partitioned folders.

**Hive-partitioned folder** (format ``"hive"``): a folder whose visible sub-folders are all named
``key=value`` (nested levels allowed: ``year=2024/region=eu/``), with the same key at every depth
and data files only in the deepest folders — ``*.parquet`` or ``*.csv`` parts, one kind per table,
any names — plus ``_``-markers (``_SUCCESS``) anywhere. Its table is the parts read one by one in
the order of their relative paths (string order: ``year=10`` before ``year=9``), each part's rows in
file order, with one column per key appended after the data columns. Key columns are typed as
``pyarrow.dataset``'s hive partitioning infers them: ``int32`` when every value of the key is a
32-bit integer, else ``string``; values are URL-decoded; ``__HIVE_DEFAULT_PARTITION__`` is null.
Every part must have the same schema (a part with other columns or types makes the whole table a
skipped entry naming both parts); a key may not also be a data column. A folder that looks
partitioned at its top but breaks these rules deeper is skipped with the reason.

**Delta Lake table** (``"delta"``): any folder holding a ``_delta_log/`` folder.

**Iceberg catalog** (``"iceberg"``): a file ``<name>.iceberg.json`` in the lake holding pyiceberg
catalog properties; each of its tables is a lake table whose path is ``<file>#<namespace>.<table>``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote

import pyarrow as pa

from prunekit.errors import InputError
from prunekit.io.atomic import atomic_dir
from prunekit.lake import objectstore
from prunekit.lake.errors import RecipeError

HIVE, DELTA, ICEBERG = "hive", "delta", "iceberg"
DELTA_LOG = "_delta_log"
ICEBERG_SUFFIX = ".iceberg.json"
PART_SUFFIXES = (".parquet", ".csv")
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
_KEY_VALUE = re.compile(r"^([^=]+)=(.*)$")


# --- what a path is -------------------------------------------------------------------------------

def is_iceberg_ref(path: str | Path) -> bool:
    """Whether ``path`` names a table of an Iceberg catalog file (``…/x.iceberg.json#ns.table``)."""
    return f"{ICEBERG_SUFFIX}#" in str(path)


def folder_format(d: Path) -> tuple[str | None, str | None]:
    """``(format, reason)`` of a folder: ``("delta", None)``, ``("hive", None)``, ``(None, reason)``
    for a folder partitioned at its top whose structure is broken deeper, ``(None, None)`` for any
    other folder (a folder of tables, a folder of parts)."""
    if objectstore.is_uri(d):
        if any(e.name == DELTA_LOG and e.is_dir() for e in objectstore.scandir(d)):
            return DELTA, None
    else:
        log = d / DELTA_LOG
        if log.is_dir() and not log.is_symlink():
            return DELTA, None
    return _hive_check(d)


def _visible(d) -> list:
    """The visible entries of a local or remote folder (``os.DirEntry``-like), sorted by name."""
    entries = objectstore.scandir(d) if objectstore.is_uri(d) else os.scandir(d)
    return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)


def _hive_check(d: Path) -> tuple[str | None, str | None]:
    entries = _visible(d)
    dirs = [e for e in entries if e.is_dir(follow_symlinks=False)]
    files = [e for e in entries if not e.is_dir(follow_symlinks=False)]
    if not dirs or not all(_KEY_VALUE.match(e.name) for e in dirs) or \
            not all(e.name.startswith("_") for e in files):
        return None, None
    keys_at: list[str] = []     # the key of each depth, as first seen
    leaves: dict[int, str] = {}  # depth → a leaf folder at it
    suffixes: dict[str, str] = {}

    def visit(folder: Path, depth: int, rel: str) -> str | None:
        inner = _visible(folder)
        subdirs = [e for e in inner if e.is_dir(follow_symlinks=False)]
        data = [e for e in inner if not e.is_dir(follow_symlinks=False) and not e.name.startswith("_")]
        if subdirs and data:
            return f"{rel or '.'} holds both partition folders and files ({data[0].name})"
        if not subdirs:
            if depth == 0:
                return None
            leaves.setdefault(depth, rel)
            for e in data:
                suffix = os.path.splitext(e.name)[1].lower()
                if suffix not in PART_SUFFIXES:
                    return f"{rel}/{e.name} is not a .parquet or .csv part"
                suffixes.setdefault(suffix, f"{rel}/{e.name}")
            return None
        for e in subdirs:
            m = _KEY_VALUE.match(e.name)
            if m is None:
                return f"{rel}/{e.name} is not a key=value partition folder"
            if depth == len(keys_at):
                keys_at.append(m.group(1))
            elif keys_at[depth] != m.group(1):
                return (f"partition folders use different keys at depth {depth + 1}: "
                        f"{keys_at[depth]} and {m.group(1)} ({(rel + '/' if rel else '') + e.name})")
            why = visit(e.path, depth + 1, (rel + "/" if rel else "") + e.name)
            if why:
                return why
        return None

    try:
        why = visit(d, 0, "")
    except OSError as exc:
        return None, f"cannot list the partitioned folder: {exc.strerror or exc}"
    if why is None and len(leaves) > 1:
        (d1, r1), (d2, r2) = sorted(leaves.items())[:2]
        why = f"partition folders of different depths: {r1} (depth {d1}) and {r2} (depth {d2})"
    if why is None and len(suffixes) > 1:
        why = f"mixed parquet and csv parts: {suffixes['.parquet']} and {suffixes['.csv']}"
    if why is None and not suffixes:
        why = "partitioned folder holds no .parquet or .csv parts"
    return (None, f"partitioned table not usable: {why}") if why else (HIVE, None)


def as_path(path: str | Path):
    """A local ``Path``, or an ``objectstore.RemoteFile`` for a URI (``s3://…``)."""
    return objectstore.RemoteFile(path) if objectstore.is_uri(path) else Path(path)


def detect(path: str | Path) -> str:
    """The format of a table path when none is given: by name, or by folder structure."""
    p = as_path(path)
    if is_iceberg_ref(path):
        return ICEBERG
    if p.is_dir():
        fmt, _ = folder_format(p)
        return fmt or "parquet"
    return "csv" if p.suffix.lower() == ".csv" else "parquet"


def folder_files(p: Path) -> list[Path] | None:
    """The files of a Delta table (every file of the folder, its log included: they all are the
    table) or the data parts of a Hive-partitioned folder, sorted by relative path; None for any
    other folder."""
    fmt, why = folder_format(p)
    remote = objectstore.is_uri(p)
    if fmt == DELTA:
        files = objectstore.walk_files(p) if remote else [Path(dp, f) for dp, _, fs in os.walk(p) for f in fs]
    elif fmt == HIVE:
        found = objectstore.walk_files(p) if remote else [Path(dp, f) for dp, _, fs in os.walk(p) for f in fs]
        files = [f for f in found if f.name.lower().endswith(PART_SUFFIXES) and not f.name.startswith((".", "_"))
                 and not any(part.startswith(".") for part in f.relative_to(p).parts)]
    elif why:
        raise InputError(f"{p}: {why}")
    else:
        return None
    return sorted((f for f in files if not f.is_symlink()), key=lambda f: f.relative_to(p).as_posix())


# --- Hive-partitioned folders -----------------------------------------------------------------------

def _keys_of(rel: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for seg in rel.split("/")[:-1] if (m := _KEY_VALUE.match(seg))]


def hive_partition_types(p: Path, files: list[Path], part_format: str) -> pa.Schema:
    """The key columns' types exactly as ``pyarrow.dataset``'s hive partitioning infers them."""
    import pyarrow.dataset as ds

    try:
        if objectstore.is_uri(p):   # the object store's own paths, and its file system
            fs, base = objectstore.RemoteFile(p)._fs_path
            paths = [f"{base}/{f.relative_to(p).as_posix()}" for f in files]
            d = ds.dataset(paths, format=part_format, partitioning="hive", partition_base_dir=base,
                           filesystem=fs)
        else:
            d = ds.dataset([str(f) for f in files], format=part_format, partitioning="hive",
                           partition_base_dir=str(p))
        schema = d.partitioning.schema
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{p}: cannot read the partition keys: {str(exc).splitlines()[0]}") from exc
    return schema


def _schema_text(schema: pa.Schema) -> str:
    cols = [f"{f.name}: {f.type}" for f in schema]
    return ", ".join(cols[:6]) + (f", … ({len(cols)} columns)" if len(cols) > 6 else "")


def read_hive(p: Path, read_part: Callable[[Path, str], pa.Table]) -> pa.Table:
    """The partitioned table at ``p`` (module docstring): parts in path order, key columns last.
    ``read_part(file, "parquet"|"csv")`` reads one part (``tableio.read_table``)."""
    files = folder_files(p) or []
    if not files:
        raise InputError(f"{p}: partitioned folder holds no .parquet or .csv parts")
    part_format = "csv" if files[0].suffix.lower() == ".csv" else "parquet"
    keys, pieces, first = None, [], None
    for f in files:
        rel = f.relative_to(p).as_posix()
        t = read_part(f, part_format)
        if first is None:
            first = (rel, t.schema)
            clash = sorted({k.strip().lower() for k, _ in _keys_of(rel)} &
                           {c.strip().lower() for c in t.column_names})
            if clash:
                raise InputError(f"{p}: partition key {clash[0]!r} is also a column of {rel}")
            keys = hive_partition_types(p, files, part_format)
        elif not t.schema.equals(first[1], check_metadata=False):
            raise InputError(f"{p}: mixed schemas across partitions: {rel} has {_schema_text(t.schema)}; "
                             f"{first[0]} has {_schema_text(first[1])}")
        values = dict(_keys_of(rel))
        for field in keys:
            raw = values.get(field.name)
            raw = None if raw is None or raw == HIVE_NULL else unquote(raw)
            t = t.append_column(field, pa.array([raw] * t.num_rows, pa.string()).cast(field.type))
        pieces.append(t)
    return pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]


def describe_hive(p: Path, read_part: Callable[[Path, str], pa.Table],
                  describe_part: Callable[[Path, str, pa.Table | None], dict[str, Any]]) -> dict[str, Any]:
    """Layout of a partitioned folder: keys, part format, each part (relative path, rows and the
    part's own layout, from ``describe_part``), empty partition folders and other files."""
    files = folder_files(p) or []
    part_format = "csv" if files and files[0].suffix.lower() == ".csv" else "parquet"
    keys = hive_partition_types(p, files, part_format) if files else pa.schema([])
    parts = []
    for f in files:
        part_t = read_part(f, part_format) if part_format == "csv" else None
        desc = describe_part(f, part_format, part_t)
        parts.append({**desc, "path": f.relative_to(p).as_posix(),
                      "rows": part_t.num_rows if part_t is not None else desc["rows"]})
    names = {q["path"] for q in parts}
    empty, other, markers = [], [], []
    for dp, dirs, fs in os.walk(p):
        rel = Path(dp).relative_to(p)
        if any(x.startswith(".") for x in rel.parts):
            continue
        if not dirs and not fs and rel.parts:
            empty.append(rel.as_posix())
        for f in fs:
            if (rel / f).as_posix() not in names:
                other.append((rel / f).as_posix())
                if f.startswith("_") and os.path.getsize(Path(dp, f)) == 0:
                    markers.append((rel / f).as_posix())
    return {"kind": HIVE, "folder": True, "part_format": part_format, "keys": list(keys.names),
            "parts": parts, "empty_dirs": sorted(empty), "markers": sorted(markers),
            "other_files": sorted(other)}


def check_part_rows(name: str, parts: list[dict[str, Any]], table: pa.Table) -> list[dict[str, Any]]:
    """``parts`` (the recorded files of a table), refused unless they hold the table's rows."""
    if sum(q["rows"] for q in parts) != table.num_rows:
        raise RecipeError(f"{name}: the recorded parts hold {sum(q['rows'] for q in parts)} rows, "
                          f"the table {table.num_rows}")
    return parts


def write_parts(table: pa.Table, parts: list[dict[str, Any]], folder: Path,
                write_part: Callable[[pa.Table, Path, dict[str, Any]], None]) -> None:
    """Write ``table``'s rows, in order, as the recorded part files under ``folder``."""
    off = 0
    for part in parts:
        target = folder / part["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        write_part(table.slice(off, part["rows"]), target, part)
        off += part["rows"]


def write_hive(table: pa.Table, layout: dict[str, Any], dest: Path,
               write_part: Callable[[pa.Table, Path, dict[str, Any]], None],
               check: Callable[[Path], None]) -> Path:
    """Write ``table`` as the recorded partitioned folder at ``dest``: each part's rows, without the
    key columns (they live in the folder names), as the recorded file; checked (``check``) in a
    hidden sibling folder, then renamed into place. Empty ``_``-markers (``_SUCCESS``) and empty
    partition folders are made again; other files that are no parts are not rebuilt."""
    parts = check_part_rows(dest.name, layout["parts"], table)
    data = table.drop_columns([k for k in layout["keys"] if k in table.column_names])
    with atomic_dir(dest) as tmpdir:
        write_parts(data, parts, tmpdir, write_part)
        for rel in layout.get("empty_dirs", []):
            (tmpdir / rel).mkdir(parents=True, exist_ok=True)
        for rel in layout.get("markers", []):   # empty _SUCCESS-like markers come back too
            (tmpdir / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmpdir / rel).touch()
        check(tmpdir)
    return dest


def version_tag(p: Path, fmt: str) -> str:
    """What a table's signature adds to its files' sizes and times: a Delta table's version
    (``v12:``), so the profile cache re-profiles a table whose version changed."""
    if fmt == DELTA:
        from prunekit.lake import delta
        return f"v{delta.log_version(p)}:"
    return ""
