"""Apache Iceberg tables in a lake, listed from a catalog (the optional ``iceberg`` extra, ``pyiceberg``).

**The interface: a catalog file in the lake.** A file ``<name>.iceberg.json`` anywhere in the lake
holds the pyiceberg catalog properties as one JSON object::

    {"type": "sql", "uri": "sqlite:///catalog.db", "warehouse": "file:///data/warehouse"}

Every table of that catalog becomes a lake table named ``namespace.table`` (``folder/namespace.table``
for a catalog file in a sub-folder; nested namespaces are joined with dots), with the path
``<catalog file>#<namespace>.<table>`` in scans and plans. Every lake command finds the catalog
again through that file, so nothing has to be repeated on a command line and no credentials end up in
a scan or plan (only the file's path does). ``name`` (default: the file's stem) and ``namespaces`` (a
list: only these, with their children) are read by prunekit, every other key goes to
``pyiceberg.catalog.load_catalog``. A relative ``sqlite:///`` path or file warehouse is relative to
the catalog file. For a SQL catalog prunekit passes ``init_catalog_tables=false`` and refuses a
SQLite file that does not exist: a scan never creates or changes a catalog.

**Reading.** A table is its current snapshot, read by pyiceberg (deletes, schema evolution,
partition transforms applied); canonical row order: the snapshot's data files sorted by path, each
file's rows in file order. The profile's signature holds the snapshot id and metadata location, so a
new snapshot re-profiles the table; the "checksum" is a hash of both (an Iceberg table's files are
not the lake's). A catalog that does not answer is an ``InputError`` (one line).

**Deletion** (``iceberg_delete``): a table of a local warehouse whose files all lie in its location
folder is deleted like any table — its recipe built and verified first — by moving that folder into
the lake's trash and dropping its catalog entry (no file deleted); a restore moves it back and
registers the same metadata file again, so snapshots, history and rows come back exactly. Purge
refuses Iceberg tables (a recipe holds the current rows, not the history). Other Iceberg tables (an
object-store warehouse, files outside the location, a folder shared with another table) are left
out of plans with the reason. As parents they work like any table.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa

from prunekit.errors import InputError, require

SUFFIX = ".iceberg.json"
_PRUNEKIT_KEYS = ("name", "namespaces")
_lock = threading.Lock()
_catalogs: dict[tuple[str, int, int], Any] = {}


def split_ref(path: str | Path) -> tuple[Path, str]:
    """``(catalog file, "namespace.table")`` of an Iceberg table path."""
    file, _, ident = str(path).partition(SUFFIX + "#")
    return Path(file + SUFFIX), ident


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _properties(file: Path) -> tuple[str, dict[str, str], list[str]]:
    try:
        conf = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{file}: not a readable Iceberg catalog file (a JSON object of pyiceberg "
                         f"catalog properties): {_one_line(exc)}") from exc
    if not isinstance(conf, dict):
        raise InputError(f"{file}: an Iceberg catalog file holds one JSON object of catalog properties")
    name = str(conf.get("name") or file.name[: -len(SUFFIX)] or "lake")
    spaces = conf.get("namespaces") or []
    props = {k: str(v) for k, v in conf.items() if k not in _PRUNEKIT_KEYS}
    here = file.parent
    uri = props.get("uri", "")
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        db = uri[len("sqlite:///"):]
        if db and db != ":memory:":
            props["uri"] = f"sqlite:///{(here / db).resolve()}"
    wh = props.get("warehouse", "")
    if wh and "://" not in wh and not Path(wh).is_absolute():
        props["warehouse"] = (here / wh).resolve().as_uri()
    if props.get("type", "").lower() == "sql" or props.get("uri", "").startswith("sqlite"):
        props.setdefault("init_catalog_tables", "false")
    return name, props, [str(s) for s in spaces]


def load(file: str | Path):
    """The catalog a catalog file describes (opened once per file version), or ``InputError``
    naming the file when it does not answer."""
    file = Path(file)
    try:
        st = file.stat()
    except OSError as exc:
        raise InputError(f"{file}: Iceberg catalog file missing: {exc.strerror or exc}") from exc
    key = (str(file), st.st_mtime_ns, st.st_size)
    with _lock:
        if key in _catalogs:
            return _catalogs[key]
        name, props, _ = _properties(file)
        require("pyiceberg", "iceberg")
        from pyiceberg.catalog import load_catalog

        uri = props.get("uri", "")
        db = uri[len("sqlite:///"):].split("?")[0] if uri.startswith("sqlite:///") else ""
        if db and db != ":memory:" and not Path(db).exists():
            raise InputError(f"Iceberg catalog {file.name} does not answer: its database {db} does not exist")
        try:
            catalog = load_catalog(name, **props)
            catalog.list_namespaces()
        except Exception as exc:   # noqa: BLE001 - any catalog backend: REST, SQL, Glue, Hive …
            raise InputError(f"Iceberg catalog {file.name} ({props.get('uri', props.get('type', '?'))}) "
                             f"does not answer: {_one_line(exc)}") from exc
        _catalogs[key] = catalog
        return catalog


def _namespaces(catalog, start: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for ns in catalog.list_namespaces(start) if start else catalog.list_namespaces():
        ns = tuple(ns)
        out.append(ns)
        try:
            out += [n for n in _namespaces(catalog, ns) if n != ns]
        except Exception:   # noqa: BLE001 - catalogs without nested namespaces
            pass
    return out


def table_refs(file: Path) -> list[dict[str, Any]]:
    """Every table of the catalog file's catalog: ``ident`` (``namespace.table``), ``path``,
    ``signature`` (snapshot id + metadata location) and ``size_bytes`` (the snapshot's data files)."""
    catalog = load(file)
    _, _, only = _properties(file)
    try:
        spaces = _namespaces(catalog)
        if only:
            spaces = [ns for ns in spaces if any(".".join(ns) == o or ".".join(ns).startswith(o + ".")
                                                 for o in only)]
        idents = sorted({".".join(tuple(t)) for ns in spaces for t in catalog.list_tables(ns)})
    except Exception as exc:   # noqa: BLE001
        raise InputError(f"Iceberg catalog {file.name} does not answer: {_one_line(exc)}") from exc
    out = []
    for ident in idents:
        path = f"{file}#{ident}"
        try:
            table = catalog.load_table(ident)
            snap = table.current_snapshot()
            size = sum(t.file.file_size_in_bytes for t in table.scan().plan_files()) if snap else 0
            sig = _state(table)
        except Exception as exc:   # noqa: BLE001
            out.append({"ident": ident, "path": path, "error": f"cannot load Iceberg table {ident}: {_one_line(exc)}"})
            continue
        out.append({"ident": ident, "path": path, "signature": f"iceberg:{sig}", "size_bytes": size})
    return out


def _state(table) -> str:
    snap = table.current_snapshot()
    return f"s{snap.snapshot_id if snap else 'none'}:{table.metadata_location}"


def _table(path: str | Path):
    file, ident = split_ref(path)
    catalog = load(file)
    try:
        return catalog.load_table(ident)
    except Exception as exc:   # noqa: BLE001
        raise InputError(f"{path}: cannot load Iceberg table {ident}: {_one_line(exc)}") from exc


def exists(path: str | Path) -> bool:
    file, ident = split_ref(path)
    if not file.exists():
        return False
    return bool(load(file).table_exists(ident))


def checksum(path: str | Path) -> str:
    """A hash of the table's current snapshot id and metadata file location (both change with
    every commit; a metadata file is never rewritten in place)."""
    return hashlib.sha256(f"iceberg\0{_state(_table(path))}".encode()).hexdigest()


def read_iceberg(path: str | Path) -> pa.Table:
    """The current snapshot of the table, data files in path order (module docstring)."""
    table = _table(path)
    if table.current_snapshot() is None:
        return table.schema().as_arrow().empty_table()
    try:
        from pyiceberg.io.pyarrow import ArrowScan

        scan = table.scan()
        tasks = sorted(scan.plan_files(), key=lambda t: t.file.file_path)
        return ArrowScan(table.metadata, table.io, scan.projection(), scan.row_filter,
                         scan.case_sensitive, scan.limit).to_table(tasks)
    except Exception as exc:   # noqa: BLE001 - pyiceberg and its file IO raise many kinds
        raise InputError(f"{path}: cannot read Iceberg table: {_one_line(exc)}") from exc


def lake_tables(root: Path, files: list[Path], taken: set[str]) -> tuple[list[dict[str, Any]], list[Any]]:
    """The catalogue's entries for the catalog files found in the lake: per table ``name``, ``path``,
    ``key``, ``signature``, ``size_bytes`` (the fields of a ``TableRef`` but its format), and the
    ``Skipped`` entries (a table that does not load; a catalog file while pyiceberg is missing).
    A name already ``taken`` by another table gets the catalog file's path: ``x.iceberg.json#ns.t``.
    A catalog that does not answer raises ``InputError``."""
    from prunekit.errors import MissingDependencyError
    from prunekit.lake.model import Skipped

    entries, skipped = [], []
    for file in files:
        rel = file.relative_to(root).as_posix()
        folder = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
        try:
            found = table_refs(file)
        except MissingDependencyError as exc:
            skipped.append(Skipped(str(file), str(exc)))
            continue
        for t in found:
            if "error" in t:
                skipped.append(Skipped(t["path"], t["error"]))
                continue
            name = folder + t["ident"]
            if name in taken:
                name = f"{rel}#{t['ident']}"
            taken.add(name)
            entries.append({"name": name, "path": t["path"], "key": f"{rel}#{t['ident']}|iceberg",
                            "signature": t["signature"], "size_bytes": t["size_bytes"]})
    return entries, skipped
