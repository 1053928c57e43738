"""Put deleted tables back: the trash copy byte for byte, or (once purged) rebuilt from the recipe."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterable

from prunekit.errors import InputError
from prunekit.lake import iceberg_delete, objectstore, trash_steps
from prunekit.lake.errors import RecipeError
from prunekit.lake.recipe import Recipe
from prunekit.lake.table_layout import write_like
from prunekit.lake.links import unreal_path
from prunekit.lake.trash import (
    TRASH_DIR,
    Echo,
    Entry,
    Journal,
    data_path,
    entry_dir,
    entries_in_trash,
    fsync_dir,
    lake_root,
    recovered,
    trash_root,
)


def restore(root: str | Path, name: str, *, from_recipe: bool = False, echo: Echo | None = None) -> dict[str, Any]:
    """Put a deleted table back where it was.

    While the trash copy exists (not purged) and its checksum equals the recorded one, it is moved
    back: byte-identical, for CSV and Parquet alike, whatever happened to the parent since. Otherwise
    (or with ``from_recipe``) the table is rebuilt from the recipe — refused when the parent is gone
    or its checksum changed — and written in its recorded format and layout; the result reads back
    (``tableio.read_table``) with the same rows in the same order, column names and types, checked
    before it takes its name. Rebuilt bytes may differ from the original's (Parquet encoder and
    compression details, CSV quoting and float spelling); the report says whether they do.
    """
    if objectstore.is_uri(root):
        return restore_tables(root, [name], from_recipe=from_recipe, echo=echo)[0]
    root = _trash_of(root)
    with recovered(root, echo):
        return _restore_one(root, _checked(root, [name])[0], from_recipe)


def _trash_of(root: str | Path | None) -> Path:
    root = lake_root(root)
    if not trash_root(root).is_dir():
        raise InputError(f"{root} has no {TRASH_DIR}: nothing was deleted there")
    return root


def _checked(root: Path, names: list[str]) -> list[Entry]:
    """The entries of ``names``, every name checked before any is restored: in the trash, its
    place free, and its path real (no link on the way: a restore writes only inside the lake)."""
    entries = entries_in_trash(root, names, ("deleted", "purged"), nothing="restored")
    problems = []
    for e in entries:
        orig = root / e.original
        why = unreal_path(root, orig) or unreal_path(root, data_path(root, e), hidden_ok=True)
        if why:
            problems.append(f"{e.name}: {why}")
        elif e.info.get("format") == "iceberg":   # its identifier re-created, its folder taken?
            problem = iceberg_delete.restore_problem(e.info)
            if problem:
                problems.append(f"{e.name}: {problem}")
        elif orig.exists():
            problems.append(f"{orig} exists; move it away before restoring {e.name}")
    if problems:
        raise InputError(f"{'; '.join(problems)}" + ("; nothing was restored" if len(names) > 1 else ""))
    return entries


def _restore_one(root: Path, e: Entry, from_recipe: bool) -> dict[str, Any]:
    """Restore one checked entry (the lock held)."""
    name = e.name
    orig = root / e.original
    edir = entry_dir(root, name)
    data = data_path(root, e)
    journal = Journal(root)
    # The trash copy needs no recipe: its checksum is in the journal too, so a damaged recipe
    # does not stand between a user and intact bytes.
    try:
        recipe: Recipe | None = Recipe.load(edir)
    except RecipeError:
        if from_recipe or e.state != "deleted" or not data.exists() or e.info.get("format") == "iceberg":
            raise
        recipe = None
    if e.info.get("format") == "iceberg":
        return iceberg_delete.restore(e, data, edir, journal, recipe, from_recipe)
    copied = not from_recipe and e.state == "deleted" and data.exists()
    if copied and trash_steps.trash_copy_intact(data, e, recipe):
        def put_back() -> None:
            orig.parent.mkdir(parents=True, exist_ok=True)
            os.rename(data, orig)
            fsync_dir(orig.parent)

        return trash_steps.restore_copy(journal, e, recipe, orig, put_back=put_back,
                                        remove_entry=lambda: shutil.rmtree(edir),
                                        detail="moved back from the trash (byte-identical)")
    table, note = trash_steps.checked_rebuild(name, recipe, root, copy_mismatched=copied)

    def write() -> None:
        orig.parent.mkdir(parents=True, exist_ok=True)
        write_like(table, recipe.child, orig, verify=True)
        fsync_dir(orig.parent)

    return trash_steps.restore_rebuilt(journal, e, recipe, table, orig, note, write=write,
                                       remove_entry=lambda: shutil.rmtree(edir))


def restore_tables(root: str | Path | None, names: Iterable[str], *, from_recipe: bool = False,
                   echo: Echo | None = None) -> list[dict[str, Any]]:
    """The ``prunekit lake restore`` command: under the lake's lock (after recovering an
    interrupted command), every name is checked first — one unknown, occupied or linked name
    refuses the whole command, naming each, before anything moves — then each is restored,
    ``echo`` getting one ``restored …`` line per table as it comes back. ``root`` defaults to
    ``find_lake()``."""
    names = list(dict.fromkeys(names))
    if not names:
        raise InputError("name at least one table to restore")
    if root is not None and objectstore.is_uri(root):   # the trash in the bucket, the journal local
        from prunekit.lake import objectstore_trash
        return objectstore_trash.restore_tables(objectstore.normalise(root), names, from_recipe=from_recipe,
                                                echo=echo)
    root = _trash_of(root)
    say = echo or (lambda s: None)
    out = []
    with recovered(root, echo):
        for e in _checked(root, names):
            r = _restore_one(root, e, from_recipe)
            say(f"restored {r['table']} → {r['path']}: {r['rows']:,} rows, {r['detail']}")
            out.append(r)
    return out
