"""Purge the trash: delete the trash copies whose recipe still rebuilds them (recipes are kept).

The only irreversible step of the lake commands; a table is refused — and keeps its trash copy —
unless its recipe was verified at apply *and* rebuilds it now from an unchanged parent.

Each row reports the bytes measured on disk: ``size_bytes`` of the trash copy (what the purge
deletes), ``recipe_bytes`` of the recipe that stays, and ``net_bytes`` = their difference — what the
lake really gained over keeping the table, the figure a plan's ``net_bytes`` predicts.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from prunekit.errors import InputError
from prunekit.lake import objectstore, tableio
from prunekit.lake._crash import CRASH_ENV, crash_point
from prunekit.lake.errors import RecipeError
from prunekit.lake.exact import table_difference
from prunekit.lake.links import unreal_path
from prunekit.lake.recipe import Recipe, rebuild
from prunekit.lake.table_layout import purge_refusal
from prunekit.lake.trash import (
    TRASH_DIR,
    Echo,
    Entry,
    Journal,
    data_path,
    entry_dir,
    entries_in_trash,
    lake_root,
    lake_state,
    recovered,
    trash_root,
)


def purge(root: str | Path | None = None, names: list[str] | None = None, *, execute: bool = False,
          echo: Echo | None = None) -> list[dict[str, Any]]:
    """Delete the trash copies (recipes stay) of tables whose recipe was verified at apply *and*
    still rebuilds them now from an unchanged parent; refuse the others, each with its reason.
    Dry run unless ``execute``.

    The ``prunekit lake purge`` command: every table in the trash unless ``names`` are given;
    takes the lake's lock and recovers an interrupted command first. ``root`` defaults to
    ``find_lake()``."""
    if root is not None and objectstore.is_uri(root):   # the trash in the bucket, the journal local
        from prunekit.lake import objectstore_trash
        return objectstore_trash.purge(objectstore.normalise(root), names, execute=execute, echo=echo)
    root = lake_root(root)
    if not trash_root(root).is_dir():
        raise InputError(f"{root} has no {TRASH_DIR}: nothing to purge")
    say = echo or (lambda s: None)
    rows = []
    with recovered(root, say):
        state = lake_state(root)
        if names:
            chosen = entries_in_trash(root, list(dict.fromkeys(names)), ("deleted", "purged"), nothing="purged")
        else:
            chosen = sorted((e for e in state.values() if e.state == "deleted"), key=lambda e: e.name)
        journal = Journal(root)
        for e in chosen:
            data = data_path(root, e)
            size = files_bytes(data.parent)   # what a purge removes: the trash copy
            recipe = files_bytes(entry_dir(root, e.name)) - size   # what stays: the recipe
            sizes = {"size_bytes": size, "recipe_bytes": recipe, "net_bytes": size - recipe}
            if e.state == "purged":
                rows.append({"table": e.name, "size_bytes": 0, "recipe_bytes": recipe, "net_bytes": 0,
                             "outcome": "already purged", "detail": ""})
                continue
            reason = unreal_path(root, data, hidden_ok=True) or _purge_refusal(root, e, data)
            if reason:
                rows.append({"table": e.name, **sizes, "outcome": "refused", "detail": reason})
                say(f"refused {e.name}: {reason}")
                continue
            if not execute:
                rows.append({"table": e.name, **sizes, "outcome": "would purge",
                             "detail": "recipe verified; parent unchanged"})
                continue
            journal.append(op="purge", step="purge-intent", table=e.name)
            crash_point("purge-intent")
            _rmtree_with_hook(data.parent)
            journal.append(op="purge", step="purged", table=e.name)
            rows.append({"table": e.name, **sizes, "outcome": "purged",
                         "detail": f"recipe kept in {entry_dir(root, e.name)}"})
            say(f"purged {e.name}: {size:,} bytes deleted, its recipe ({recipe:,} bytes) kept: "
                f"{size - recipe:,} bytes freed net")
    return rows


def files_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (``lstat`` sizes: links are counted, never followed) —
    what deleting the folder frees, as far as file sizes tell."""
    if not os.path.lexists(path):
        return 0
    if not path.is_dir() or path.is_symlink():
        return os.lstat(path).st_size
    total = 0
    for d, _, files in os.walk(path):
        total += sum(os.lstat(os.path.join(d, f)).st_size for f in files)
    return total


def _purge_refusal(root: Path, e: Entry, data: Path) -> str | None:
    if not e.info.get("verified"):
        return "its recipe was never verified"
    history = purge_refusal(e.info.get("format", ""))   # a rebuild would lose the table's history
    if history:
        return history
    try:
        recipe = Recipe.load(entry_dir(root, e.name))
        rebuilt = rebuild(recipe, root=root)  # refuses a gone or changed parent
    except RecipeError as exc:
        return f"{exc}; purging would make it unrecoverable (restore it first, or keep it)"
    if data.exists() and tableio.file_checksum(data) == recipe.child["checksum"]:
        # Compare against the real table one last time, while it still exists.
        diff = table_difference(tableio.read_table(data, recipe.child["format"]), rebuilt)
        if diff:
            return f"the recipe does not rebuild the trash copy: {diff}"
    return None


def _rmtree_with_hook(path: Path) -> None:
    if os.environ.get(CRASH_ENV, "").startswith("purge-partial"):
        files = sorted(p for p in path.rglob("*") if p.is_file())
        if files:
            files[0].unlink()
            crash_point("purge-partial")
    shutil.rmtree(path)
