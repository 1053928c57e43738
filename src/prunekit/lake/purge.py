"""Purge the trash: delete the trash copies whose recipe still rebuilds them (recipes are kept).

The only irreversible step of the lake commands; a table is refused — and keeps its trash copy —
unless its recipe was verified at apply *and* rebuilds it now from an unchanged parent.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from prunekit.errors import InputError
from prunekit.lake import tableio
from prunekit.lake._crash import CRASH_ENV, crash_point
from prunekit.lake.errors import RecipeError
from prunekit.lake.exact import table_difference
from prunekit.lake.recipe import Recipe, rebuild
from prunekit.lake.trash import (
    TRASH_DIR,
    Echo,
    Entry,
    Journal,
    data_path,
    entry_dir,
    entry_in_trash,
    find_lake,
    lake_state,
    recovered,
    trash_root,
    tree_bytes,
)


def purge(root: str | Path | None = None, names: list[str] | None = None, *, execute: bool = False,
          echo: Echo | None = None) -> list[dict[str, Any]]:
    """Delete the trash copies (recipes stay) of tables whose recipe was verified at apply *and*
    still rebuilds them now from an unchanged parent; refuse the others, each with its reason.
    Dry run unless ``execute``.

    The ``prunekit lake purge`` command: every table in the trash unless ``names`` are given;
    takes the lake's lock and recovers an interrupted command first. ``root`` defaults to
    ``find_lake()``."""
    root = Path(find_lake() if root is None else root).resolve()
    if not trash_root(root).is_dir():
        raise InputError(f"{root} has no {TRASH_DIR}: nothing to purge")
    say = echo or (lambda s: None)
    rows = []
    with recovered(root, say):
        state = lake_state(root)
        if names:
            chosen = [entry_in_trash(root, n, ("deleted", "purged")) for n in names]
        else:
            chosen = sorted((e for e in state.values() if e.state == "deleted"), key=lambda e: e.name)
        journal = Journal(root)
        for e in chosen:
            data = data_path(root, e)
            size = tree_bytes(data.parent)
            if e.state == "purged":
                rows.append({"table": e.name, "size_bytes": 0, "outcome": "already purged", "detail": ""})
                continue
            reason = _purge_refusal(root, e, data)
            if reason:
                rows.append({"table": e.name, "size_bytes": size, "outcome": "refused", "detail": reason})
                say(f"refused {e.name}: {reason}")
                continue
            if not execute:
                rows.append({"table": e.name, "size_bytes": size, "outcome": "would purge",
                             "detail": "recipe verified; parent unchanged"})
                continue
            journal.append(op="purge", step="purge-intent", table=e.name)
            crash_point("purge-intent")
            _rmtree_with_hook(data.parent)
            journal.append(op="purge", step="purged", table=e.name)
            rows.append({"table": e.name, "size_bytes": size, "outcome": "purged",
                         "detail": f"recipe kept in {entry_dir(root, e.name)}"})
            say(f"purged {e.name}: {size:,} bytes")
    return rows


def _purge_refusal(root: Path, e: Entry, data: Path) -> str | None:
    if not e.info.get("verified"):
        return "its recipe was never verified"
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
