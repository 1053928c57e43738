"""Apply, restore and purge on a lake on an object store (``s3://bucket/prefix``).

The same steps, checks and guarantees as on a local lake (``apply``, ``restore``, ``purge``), with
two differences forced by the store:

* **The trash is in the bucket**, under the lake's hidden prefix ``<root>/.prunekit-trash/<quoted
  name>/`` (scans skip it): the recipe (``positions.parquet``, then ``recipe.json``) and ``data/``
  with the table's objects. An object store has no rename, so a **move is copy + verify + delete**:
  every object of the table is copied (server-side), the copy's sha256 is compared with the
  original's, and only when every copy matched are the originals deleted.
* **The journal and the lock are local**, in a state folder on the machine running prunekit
  (``objectstore.state_root``: ``$PRUNEKIT_LAKE_STATE/<key>`` or ``~/.cache/prunekit/lakes/<key>``,
  the key made from the lake's URI): an object store has neither an atomic append nor a lock. The
  journal records, before any object is deleted, the list of objects being moved, so recovery
  (run first by every command on the lake, under the lock) puts back whatever is missing from the
  trash copy and removes the trash entry of an apply cut short, finishes a restore from the trash
  (the copy was verified before it started) or removes a half-uploaded rebuild, and finishes a purge.
  **Two machines (or two state folders) must not work on the same lake at once**: the lock only
  excludes commands sharing the state folder; the journal needed to recover an interrupted command is
  on the machine that ran it.

Errors of the store (unreachable endpoint, missing bucket, denied access) are ``InputError``: one
line; they are met before anything is written when the store does not answer at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote

from prunekit.errors import InputError, PrunekitError
from prunekit.lake import objectstore, tableio, trash_steps
from prunekit.lake._crash import crash_point
from prunekit.lake.errors import RecipeError
from prunekit.lake.exact import table_difference
from prunekit.lake.journal import TRASH_DIR, Echo, Entry, Journal, entries_in_trash, lake_lock, lake_state
from prunekit.lake.recipe import POSITIONS_PARQUET, RECIPE_JSON, Recipe, build_recipe, rebuild
from prunekit.lake.table_layout import write_like

# --- objects -------------------------------------------------------------------------------------


def _fs(uri: str):
    return objectstore._filesystem(objectstore.normalise(uri))


def _call(what: str, uri: str, fn, *args):
    import pyarrow as pa

    try:
        return fn(*args)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{uri}: cannot {what}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}") from exc


def join(base: str, rel: str) -> str:
    return f"{base}/{rel}" if rel else base


def objects(uri: str) -> dict[str, int]:
    """Every object at ``uri`` (a file: ``{"": size}``) or below it (relative key → size), hidden
    ones included; empty when there is nothing."""
    import pyarrow.fs as pafs

    fs, path = _fs(uri)
    info = _call("reach it", uri, fs.get_file_info, path)
    if info.type == pafs.FileType.File:
        return {"": info.size or 0}
    if info.type != pafs.FileType.Directory:
        return {}
    sel = pafs.FileSelector(path, recursive=True)
    out = {}
    for i in _call("list it", uri, fs.get_file_info, sel):
        if i.type == pafs.FileType.File:
            out[i.path[len(path.rstrip("/")) + 1:]] = i.size or 0
    return out


def sha256(uri: str) -> str:
    fs, path = _fs(uri)
    h = hashlib.sha256()

    def read():
        with fs.open_input_stream(path) as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    _call("read it", uri, read)
    return h.hexdigest()


def get(uri: str) -> bytes:
    fs, path = _fs(uri)

    def read():
        with fs.open_input_stream(path) as fh:
            return fh.read()
    return _call("read it", uri, read)


def put(uri: str, data: bytes) -> None:
    fs, path = _fs(uri)

    def write():
        with fs.open_output_stream(path) as fh:
            fh.write(data)
    _call("write it", uri, write)
    if sha256(uri) != hashlib.sha256(data).hexdigest():
        raise InputError(f"{uri}: the object written does not read back with the same bytes")


def copy(src: str, dst: str) -> None:
    """Copy one object and check the copy holds the same bytes (sha256 of both)."""
    fs, s = _fs(src)
    _, d = _fs(dst)
    _call(f"copy it to {dst}", src, fs.copy_file, s, d)
    if sha256(dst) != sha256(src):
        raise InputError(f"{dst}: the copy of {src} does not hold the same bytes")


def delete(uri: str) -> None:
    fs, path = _fs(uri)
    _call("delete it", uri, fs.delete_file, path)


def delete_tree(uri: str) -> None:
    """Every object at or below ``uri`` (and the folder markers the store keeps)."""
    import pyarrow.fs as pafs

    fs, path = _fs(uri)
    info = _call("reach it", uri, fs.get_file_info, path)
    if info.type == pafs.FileType.File:
        _call("delete it", uri, fs.delete_file, path)
    elif info.type == pafs.FileType.Directory:
        _call("delete it", uri, fs.delete_dir, path)


def move(src: str, dst: str, files: list[str]) -> None:
    """Copy every listed object, verify every copy, then delete the originals (markers too)."""
    for f in files:
        copy(join(src, f), join(dst, f))
    crash_point("copied")   # test hook: every copy verified, no original deleted yet
    for f in files:
        delete(join(src, f))
    if files != [""] and not objects(src):
        delete_tree(src)   # the empty folder marker pyarrow leaves behind


# --- layout --------------------------------------------------------------------------------------


def entry_uri(root: str, name: str) -> str:
    return f"{root}/{TRASH_DIR}/{quote(name, safe='')}"


def data_uri(root: str, e: Entry) -> str:
    return f"{entry_uri(root, e.name)}/data/{e.original.rsplit('/', 1)[-1]}"


def relative(path: str, root: str) -> str:
    path, root = objectstore.normalise(path), objectstore.normalise(root)
    if not path.startswith(root + "/") or "/." in path[len(root):]:
        raise InputError(f"{path} is not a visible table inside the lake root {root}")
    return path[len(root) + 1:]


def load_recipe(entry: str, tmp: Path) -> Recipe:
    """The recipe stored in a trash entry on the store (downloaded into ``tmp``, then checked)."""
    folder = tmp / uuid.uuid4().hex[:8]
    folder.mkdir()
    for name in (POSITIONS_PARQUET, RECIPE_JSON):
        if objects(join(entry, name)):
            (folder / name).write_bytes(get(join(entry, name)))
    return Recipe.load(folder)


def check_root(root: str) -> str:
    """The lake root as a URI: it must answer and be a folder before anything is done."""
    return str(objectstore.check_root(root))


@contextlib.contextmanager
def recovered(root: str, echo: Echo | None = None) -> Iterator[list[str]]:
    """The lake's (local) lock held, after an interrupted command was finished or rolled back."""
    state = objectstore.state_root(root)
    with lake_lock(state):
        yield recover(root, echo)


def recover(root: str, echo: Echo | None = None) -> list[str]:
    """``trash.recover`` for a lake on an object store (module docstring); call under the lock."""
    return trash_steps.recover_each(objectstore.state_root(root), echo, lambda e, journal: _recover_one(root, e, journal))


def _recover_one(root: str, e: Entry, journal: Journal) -> str:
    orig, data, entry = join(root, e.original), data_uri(root, e), entry_uri(root, e.name)
    if e.state == "applying":
        for f in e.info.get("files") or []:   # listed before any original was deleted
            if not objects(join(orig, f)):
                copy(join(data, f), join(orig, f))
        delete_tree(entry)
        return trash_steps.rolled_back(journal, e, "left in place")
    if e.state == "restoring" and e.info.get("mode") == "trash":   # the copy had been verified
        there = objects(orig)
        for f in objects(data):
            if f not in there:
                copy(join(data, f), join(orig, f))
        delete_tree(entry)
        journal.append(op="recover", step="restored", table=e.name, mode="trash")
        return f"recovered {e.name}: finished the interrupted restore"
    if e.state == "restoring":   # a rebuild being uploaded: remove what reached the store
        for f in e.info.get("upload") or []:
            if objects(join(orig, f)):
                delete(join(orig, f))
        return trash_steps.restore_abandoned(journal, e)
    delete_tree(data)
    return trash_steps.purge_finished(journal, e)


# --- apply ---------------------------------------------------------------------------------------


def apply(plan, report, *, execute: bool, say: Echo, check: Callable, row: Callable,
          plan_source: str | None) -> Any:
    """``apply.apply_plan`` on an object store: ``check`` and ``row`` are apply's own plan check
    and report row."""
    root = check_root(plan["scan"]["root"])
    report.root = root
    outside = [f"{d[k]}: {why}" for d in plan["deletions"] for k in ("table", "parent")
               if (why := _outside(plan["tables"][d[k]]["path"], root))]
    if outside:
        from prunekit.lake.errors import PlanMismatch
        raise PlanMismatch(f"refusing the plan for {root}, nothing was moved: {'; '.join(outside[:5])}")
    with recovered(root, say) as report.recovered:
        state = lake_state(objectstore.state_root(root))
        todo = check(plan, Path(root), state, report)
        if not execute:
            for d in todo:
                refusal = _format_refusal(plan["tables"][d["table"]])
                report.rows.append(row(plan, d, "refused", refusal) if refusal else
                                   row(plan, d, "would delete", f"→ {entry_uri(root, d['table'])}"))
            return report
        journal = Journal(objectstore.state_root(root))
        run = uuid.uuid4().hex[:12]
        cache: dict[str, Any] = {}
        for d in sorted(todo, key=lambda d: (d["parent"], d["table"])):
            outcome, detail = _apply_one(plan, d, root, journal, run, plan_source, cache)
            report.rows.append(row(plan, d, outcome, detail))
            say(f"{outcome} {d['table']}: {detail}")
    return report


def _outside(path: str, root: str) -> str | None:
    try:
        relative(path, root)
    except InputError as exc:
        return str(exc)
    return None


def _format_refusal(t) -> str | None:
    if t["format"] == "iceberg":
        return "an Iceberg table on an object store is not read (scan a local copy)"
    return None


def _apply_one(plan, d, root: str, journal: Journal, run: str, plan_source, cache) -> tuple[str, str]:
    name, parent = d["table"], d["parent"]
    ct, pt = plan["tables"][name], plan["tables"][parent]
    cpath, ppath = objectstore.normalise(ct["path"]), objectstore.normalise(pt["path"])
    entry = entry_uri(root, name)
    refusal = _format_refusal(ct)
    if refusal:
        return "refused", refusal
    if objects(entry):
        return "refused", f"a trash entry {entry} already exists (left by hand?)"
    rel = relative(cpath, root)
    journal.append(op="apply", step="intent", table=name, run=run, plan=plan_source, relpath=rel,
                   format=ct["format"], size_bytes=ct["size_bytes"], checksum=ct["checksum"], parent=parent,
                   parent_relpath=relative(ppath, root), parent_checksum=pt["checksum"])
    crash_point("intent")
    data = f"{entry}/data/{rel.rsplit('/', 1)[-1]}"
    try:
        child_t = tableio.read_table(cpath, ct["format"])
        if cache.get("name") != parent:
            cache.clear()
            cache.update(name=parent, table=tableio.read_table(ppath, pt["format"]))
        recipe = build_recipe(Path(cpath), Path(ppath), child_name=name, parent_name=parent,
                              child_format=ct["format"], parent_format=pt["format"],
                              semantics=d.get("semantics", "bag"), root=Path(root),
                              child_table=child_t, parent_table=cache["table"],
                              child_checksum=ct["checksum"], parent_checksum=pt["checksum"])
        recipe.child.update(path=cpath, relpath=rel)
        recipe.parent.update(path=ppath, relpath=relative(ppath, root))
        files = recipe.files()
        put(join(entry, POSITIONS_PARQUET), files[POSITIONS_PARQUET])
        crash_point("recipe-partial")
        put(join(entry, RECIPE_JSON), files[RECIPE_JSON])
        journal.append(op="apply", step="recipe", table=name, run=run)
        crash_point("recipe")
        with tempfile.TemporaryDirectory() as tmp:   # verify what the store holds, not what is in memory
            loaded = load_recipe(entry, Path(tmp))
            rebuilt = rebuild(loaded, root=root, parent_table=cache["table"])
            diff = table_difference(child_t, rebuilt)
            if diff:
                raise RecipeError(f"the rebuild differs from the table: {diff}")
            write_like(rebuilt, loaded.child, Path(tmp) / cpath.rsplit("/", 1)[-1], verify=True)
        trash_steps.verified_and_unchanged(journal, run, loaded, d, cpath, ppath, ct, pt)
        listed = sorted(objects(cpath))
        journal.append(op="apply", step="copying", table=name, run=run, files=listed)
        move(cpath, data, listed)
        crash_point("moved-unjournaled")
        journal.append(op="apply", step="moved", table=name, run=run)
        crash_point("moved")
        journal.append(op="apply", step="done", table=name, run=run)
        crash_point("done")
    except (PrunekitError, OSError) as exc:
        e = lake_state(journal.path.parent.parent)[name]
        for f in e.info.get("files") or []:
            if not objects(join(cpath, f)):
                copy(join(data, f), join(cpath, f))
        delete_tree(entry)
        journal.append(op="apply", step="refused", table=name, run=run, reason=str(exc))
        return "refused", str(exc)
    return "deleted", f"rebuildable from {parent}; moved to {data}"


# --- restore -------------------------------------------------------------------------------------


def restore_tables(root: str, names: list[str], *, from_recipe: bool = False,
                   echo: Echo | None = None) -> list[dict[str, Any]]:
    """``restore.restore_tables`` on an object store: every name checked first, then each restored."""
    root = check_root(root)
    say = echo or (lambda s: None)
    state = objectstore.state_root(root)
    out = []
    with recovered(root, echo):
        entries = entries_in_trash(state, names, ("deleted", "purged"), nothing="restored")
        taken = [f"{join(root, e.original)} exists; move it away before restoring {e.name}"
                 for e in entries if objects(join(root, e.original))]
        if taken:
            raise InputError("; ".join(taken) + ("; nothing was restored" if len(names) > 1 else ""))
        for e in entries:
            r = _restore_one(root, e, from_recipe, Journal(state))
            say(f"restored {r['table']} → {r['path']}: {r['rows']:,} rows, {r['detail']}")
            out.append(r)
    return out


def _restore_one(root: str, e: Entry, from_recipe: bool, journal: Journal) -> dict[str, Any]:
    name, orig, data, entry = e.name, join(root, e.original), data_uri(root, e), entry_uri(root, e.name)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            recipe: Recipe | None = load_recipe(entry, Path(tmp))
        except RecipeError:
            if from_recipe or e.state != "deleted":
                raise
            recipe = None
        files = sorted(objects(data)) if e.state == "deleted" else []

        def put_back() -> None:
            for f in files:
                copy(join(data, f), join(orig, f))

        if not from_recipe and files and trash_steps.trash_copy_intact(data, e, recipe):
            return trash_steps.restore_copy(journal, e, recipe, orig, put_back=put_back,
                                            remove_entry=lambda: delete_tree(entry),
                                            detail="copied back from the trash (byte-identical)")
        table, note = trash_steps.checked_rebuild(name, recipe, root, copy_mismatched=not from_recipe and bool(files))
        local = Path(tmp) / "rebuilt" / orig.rsplit("/", 1)[-1]
        local.parent.mkdir()
        write_like(table, recipe.child, local, verify=True)
        upload = {"": local} if local.is_file() else \
            {p.relative_to(local).as_posix(): p for p in sorted(local.rglob("*")) if p.is_file()}

        def write() -> None:
            for rel, p in upload.items():
                put(join(orig, rel), p.read_bytes())

        return trash_steps.restore_rebuilt(journal, e, recipe, table, orig, note, write=write,
                                           remove_entry=lambda: delete_tree(entry), upload=sorted(upload))


# --- purge and listing ---------------------------------------------------------------------------


def purge(root: str, names: list[str] | None, *, execute: bool, echo: Echo | None = None) -> list[dict[str, Any]]:
    """``purge.purge`` on an object store: the same loop (``trash_steps.purge``), the trash copy's
    objects deleted."""
    root = check_root(root)
    return trash_steps.purge(StoreTrash(root), names, execute=execute, say=echo or (lambda s: None))


class StoreTrash:
    """The trash in the bucket, as the purge loop sees it (``trash_steps.PurgeStore``); the journal
    is in the local state folder."""

    def __init__(self, root: str):
        self.root, self.state = root, objectstore.state_root(root)

    def recovered(self, say: Echo):
        return recovered(self.root, say)

    def data(self, e: Entry) -> str:
        return data_uri(self.root, e)

    def sizes(self, e: Entry) -> tuple[int, int]:
        return sum(objects(self.data(e)).values()), sum(objects(self.entry(e)).values())

    def path_refusal(self, e: Entry) -> str | None:
        return None   # no links on a store

    def load_recipe(self, e: Entry) -> Recipe:
        with tempfile.TemporaryDirectory() as tmp:
            return load_recipe(self.entry(e), Path(tmp))

    def has_data(self, e: Entry) -> bool:
        return bool(objects(self.data(e)))

    def delete_data(self, e: Entry) -> None:
        delete_tree(self.data(e))

    def entry(self, e: Entry) -> str:
        return entry_uri(self.root, e.name)


def trash_entries(root: str, echo: Echo | None = None) -> list[dict[str, Any]]:
    """``trash.trash_entries`` on an object store."""
    root = check_root(root)
    state = objectstore.state_root(root)
    with recovered(root, echo):
        return [{"table": e.name, "state": e.state, "parent": e.info.get("parent"), "path": e.original,
                 "size_bytes": e.info.get("size_bytes"), "trash_bytes": sum(objects(data_uri(root, e)).values())}
                for e in sorted(lake_state(state).values(), key=lambda x: x.name)
                if e.state in ("deleted", "purged")]
