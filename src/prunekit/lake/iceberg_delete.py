"""Deleting and restoring Iceberg tables exactly: the table's folder into the lake's trash, its
catalog entry dropped; back again and re-registered with the same metadata file.

An Iceberg table is its catalog entry (identifier → current metadata file) plus the files under its
location: metadata files (every snapshot, schema, branch and the history), manifest lists,
manifests, data and delete files. Only a table of a **local warehouse** whose files all lie in its
location folder is deleted (``describe`` refuses the others with the reason, which the plan shows in
``summary.no_recipe``):

* **apply** (after the recipe was built and verified like any table's): journals the catalog file,
  identifier, current ``metadata_location``, location folder and a sha256 over every file of that
  folder (``iceberg-files``); renames the folder into ``.prunekit-trash/<name>/data/`` (one rename:
  same file system as the lake, else refused); journals ``moved``; drops the catalog entry
  (``Catalog.drop_table``: no file is deleted); journals ``dropped``, then ``done``.
* **restore**: refused while the identifier exists again in the catalog or something occupies the
  location folder; the trash copy must have the journaled sha256; the folder is renamed back and the
  table registered again (``Catalog.register_table(identifier, metadata_location)``), so snapshots,
  snapshot ids, history, schema and rows are exactly those before: the same metadata file.
* **recovery** (``trash.recover``) of an apply cut short: the folder is moved back if it had been
  moved and the table registered again if its entry had been dropped (the catalog and the file
  system are consulted, so a step done but not journaled is found); a restore whose rename had
  happened is finished (registered), one whose rename had not stays in the trash.
* **purge** refuses Iceberg tables and ``restore --from-recipe`` refuses to rebuild one: a recipe
  gives the current rows only, not the snapshots and metadata history (``PURGE_REFUSAL``).

Nothing here imports the trash (it imports this): the journal and entry are passed in (only the
low-level ``journal.fsync_dir`` is imported).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from prunekit.errors import InputError
from prunekit.lake import iceberg
from prunekit.lake._crash import crash_point
from prunekit.lake.errors import RecipeError
from prunekit.lake.journal import fsync_dir

PURGE_REFUSAL = ("an Iceberg table keeps its snapshots and metadata history in its own files, and a rebuild "
                 "from the recipe would give only its current rows: purging would lose them; restore it instead")
NO_REBUILD = ("an Iceberg table comes back only from its trash copy (snapshots and metadata history "
              "included), never rebuilt from a recipe")


def _local(uri: str) -> Path | None:
    """The local path of a ``file:`` URI or an absolute path; None for any other store."""
    if uri.startswith("file:"):
        return Path(unquote(urlparse(uri).path))
    if "://" in uri or not Path(uri).is_absolute():
        return None
    return Path(uri)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def tree_sha256(folder: Path) -> str:
    """sha256 over every file below ``folder`` (sorted relative paths and bytes; links not followed)."""
    h = hashlib.sha256()
    files = []
    for d, dirs, names in os.walk(folder):
        files += [Path(d, n) for n in names]
    for f in sorted(files, key=lambda f: f.relative_to(folder).as_posix()):
        h.update(f.relative_to(folder).as_posix().encode() + b"\0")
        if f.is_symlink():
            h.update(b"link:" + os.readlink(f).encode())
            continue
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def describe(path: str | Path) -> dict[str, Any]:
    """The recipe's layout of an Iceberg table: identifier, metadata file, location folder, snapshot;
    ``RecipeError`` naming why when the table cannot be deleted exactly (module docstring)."""
    file, ident = iceberg.split_ref(path)
    table = iceberg._table(path)
    where = table.location()
    loc = _local(where)
    if loc is None:
        raise RecipeError(f"Iceberg table {ident} is stored at {where}: prunekit deletes only tables of a "
                          f"local warehouse (file:), whose folder it can move into the trash")
    if not loc.is_dir() or os.path.realpath(loc) != str(loc):
        raise RecipeError(f"Iceberg table {ident}: its location {loc} is not a real folder")
    meta = _local(table.metadata_location)
    if meta is None or not _inside(meta, loc):
        raise RecipeError(f"Iceberg table {ident}: its metadata file {table.metadata_location} lies outside "
                          f"its location {loc}")
    outside = [t.file.file_path for t in table.scan().plan_files()
               if (p := _local(t.file.file_path)) is None or not _inside(p, loc)]
    if outside:
        raise RecipeError(f"Iceberg table {ident}: data file {outside[0]} lies outside its location {loc}")
    links = [str(Path(d, n)) for d, ds, ns in os.walk(loc) for n in ds + ns if os.path.islink(os.path.join(d, n))]
    if links:
        raise RecipeError(f"Iceberg table {ident}: its folder {loc} holds links ({links[0]})")
    if _inside(file.resolve(), loc):
        raise RecipeError(f"Iceberg table {ident}: its folder {loc} holds the catalog file {file}")
    catalog = iceberg.load(file)
    for ns in iceberg._namespaces(catalog):
        for other in catalog.list_tables(ns):
            other = ".".join(other)
            if other == ident:
                continue
            o = _local(catalog.load_table(other).location())
            if o is not None and (_inside(o, loc) or _inside(loc, o)):
                raise RecipeError(f"Iceberg table {ident}: its folder {loc} is shared with table {other}")
    snap = table.current_snapshot()
    return {"kind": "iceberg", "folder": True, "catalog": file.name, "identifier": ident,
            "metadata_location": table.metadata_location, "location": str(loc),
            "snapshot_id": snap.snapshot_id if snap else None, "snapshots": len(table.metadata.snapshots)}


def refusal(path: str | Path, root: Path) -> str | None:
    """Why apply would not delete this Iceberg table (None when it would)."""
    try:
        layout = describe(path)
    except (RecipeError, InputError) as exc:
        return str(exc)
    loc = Path(layout["location"])
    if _inside(root, loc):
        return f"Iceberg table {layout['identifier']}: its folder {loc} holds the lake"
    if os.stat(loc).st_dev != os.stat(root).st_dev:
        return (f"Iceberg table {layout['identifier']}: its folder {loc} is on another file system than the "
                f"lake {root}, so it cannot be moved into the trash by one rename")
    return None


def move_out(path: str | Path, layout: dict[str, Any], data: Path, journal, name: str, run: str) -> None:
    """Apply, after the recipe was verified: journal what a restore needs, then rename the table's
    folder to ``data`` (the catalog entry is dropped by ``drop`` once ``moved`` is journaled)."""
    file, ident = iceberg.split_ref(path)
    table = iceberg._table(path)
    if table.metadata_location != layout["metadata_location"]:
        raise RecipeError(f"{name} changed while it was being applied (a new Iceberg commit)")
    loc = Path(layout["location"])
    journal.append(op="apply", step="iceberg-files", table=name, run=run,
                   iceberg={"catalog": str(file), "identifier": ident, "location": str(loc),
                            "metadata_location": layout["metadata_location"]},
                   files_sha256=tree_sha256(loc))
    crash_point("iceberg-files")
    data.parent.mkdir()
    os.rename(loc, data)
    fsync_dir(loc.parent)
    fsync_dir(data.parent)


def drop(path: str | Path, journal, name: str, run: str) -> None:
    """Drop the table's catalog entry (its files are already in the trash; none is deleted)."""
    file, ident = iceberg.split_ref(path)
    try:
        iceberg.load(file).drop_table(ident)
    except Exception as exc:   # noqa: BLE001 - any catalog backend
        raise RecipeError(f"cannot drop Iceberg table {ident} from its catalog: {iceberg._one_line(exc)}") from exc
    crash_point("dropped-unjournaled")
    journal.append(op="apply", step="dropped", table=name, run=run)


def _registered(file: Path, ident: str) -> str | None:
    """The metadata location the catalog has for ``ident`` now (None when it has no such table)."""
    catalog = iceberg.load(file)
    if not catalog.table_exists(ident):
        return None
    return catalog.load_table(ident).metadata_location


def _register(info: dict[str, Any]) -> None:
    file, ident, meta = Path(info["catalog"]), info["identifier"], info["metadata_location"]
    now = _registered(file, ident)
    if now == meta:
        return
    if now is not None:
        raise InputError(f"Iceberg table {ident} exists again in catalog {file.name} (metadata {now}); "
                         f"drop or rename it first")
    try:
        iceberg.load(file).register_table(ident, meta)
    except Exception as exc:   # noqa: BLE001
        raise InputError(f"cannot register Iceberg table {ident} again in {file.name}: "
                         f"{iceberg._one_line(exc)}") from exc


def roll_back(info: dict[str, Any], data: Path) -> str:
    """Undo an apply cut short (the lock held): the folder back, the catalog entry back. ``info``
    is the journal entry's facts; returns how it ended."""
    ice = info.get("iceberg")
    if ice is None:           # the files were never moved (they move after ``iceberg-files``)
        return "left in place"
    loc = Path(ice["location"])
    how = "left in place"
    if data.exists():
        if loc.exists():
            raise InputError(f"recovery: Iceberg table {ice['identifier']} exists both in place ({loc}) and in "
                             f"the trash ({data}); resolve by hand")
        loc.parent.mkdir(parents=True, exist_ok=True)
        os.rename(data, loc)
        fsync_dir(loc.parent)
        how = "moved back in place"
    elif not loc.exists():
        raise InputError(f"recovery: Iceberg table {ice['identifier']} is neither at {loc} nor in {data}")
    if _registered(Path(ice["catalog"]), ice["identifier"]) is None:
        _register(ice)
        how += ", registered in its catalog again"
    return how


def restore_problem(info: dict[str, Any]) -> str | None:
    """Why the table cannot be restored now: its identifier re-created, its folder occupied."""
    ice = info.get("iceberg") or {}
    file, ident = Path(ice.get("catalog", "?")), ice.get("identifier", "?")
    try:
        if _registered(file, ident) is not None:
            return (f"Iceberg table {ident} exists again in catalog {file.name} (created since it was "
                    f"deleted); drop or rename it before restoring")
    except InputError as exc:
        return str(exc)
    if ice.get("location") and os.path.lexists(ice["location"]):
        return f"{ice['location']} exists; move it away before restoring {ident}"
    return None


def restore(e, data: Path, edir: Path, journal, recipe, from_recipe: bool) -> dict[str, Any]:
    """Move the trash copy back and register the same metadata file again (the lock held, the
    entry checked by ``restore_problem``)."""
    ice = e.info.get("iceberg") or {}
    if from_recipe or e.state != "deleted":
        raise RecipeError(f"cannot restore {e.name} from its recipe: {NO_REBUILD}")
    if not data.exists() or tree_sha256(data) != e.info.get("files_sha256"):
        raise RecipeError(f"cannot restore {e.name}: its trash copy {data} is missing or does not match the "
                          f"sha256 journaled when it was deleted ({NO_REBUILD})")
    problem = restore_problem(e.info)
    if problem:
        raise InputError(problem)
    loc = Path(ice["location"])
    journal.append(op="restore", step="restore-intent", table=e.name, mode="trash", from_state=e.state)
    crash_point("restore-intent")
    loc.parent.mkdir(parents=True, exist_ok=True)
    os.rename(data, loc)
    fsync_dir(loc.parent)
    crash_point("restore-moved")
    _register(ice)
    ref = f"{ice['catalog']}#{ice['identifier']}"
    same = iceberg.checksum(ref) == (recipe.child["checksum"] if recipe is not None else e.info.get("checksum"))
    shutil.rmtree(edir)
    journal.append(op="restore", step="restored", table=e.name, mode="trash")
    return {"table": e.name, "path": ref, "mode": "trash", "byte_identical": same,
            "rows": recipe.child["rows"] if recipe is not None else iceberg.read_iceberg(ref).num_rows,
            "detail": f"moved back from the trash and registered again in {Path(ice['catalog']).name} "
                      f"(the same metadata file: snapshots and history included)"}


def finish_restore(info: dict[str, Any], data: Path) -> bool:
    """Recovery of an interrupted restore: True (and registered) when its rename had happened."""
    ice = info.get("iceberg") or {}
    if data.exists() or not ice or not os.path.exists(ice["location"]):
        return False
    _register(ice)
    return True
