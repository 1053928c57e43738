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
from prunekit.lake import objectstore, trash_steps
from prunekit.lake._crash import CRASH_ENV, crash_point
from prunekit.lake.links import unreal_path
from prunekit.lake.recipe import Recipe
from prunekit.lake.trash import TRASH_DIR, Echo, Entry, data_path, entry_dir, lake_root, recovered, trash_root


def purge(root: str | Path | None = None, names: list[str] | None = None, *, execute: bool = False,
          echo: Echo | None = None) -> list[dict[str, Any]]:
    """Delete the trash copies (recipes stay) of tables whose recipe was verified at apply *and*
    still rebuilds them now from an unchanged parent; refuse the others, each with its reason.
    Dry run unless ``execute``.

    The ``prunekit lake purge`` command: every table in the trash unless ``names`` are given;
    takes the lake's lock and recovers an interrupted command first. ``root`` defaults to
    ``find_lake()``. The loop is ``trash_steps.purge``, over this lake's ``LocalTrash``."""
    if root is not None and objectstore.is_uri(root):   # the trash in the bucket, the journal local
        from prunekit.lake import objectstore_trash
        return objectstore_trash.purge(objectstore.normalise(root), names, execute=execute, echo=echo)
    root = lake_root(root)
    if not trash_root(root).is_dir():
        raise InputError(f"{root} has no {TRASH_DIR}: nothing to purge")
    return trash_steps.purge(LocalTrash(root), names, execute=execute, say=echo or (lambda s: None))


class LocalTrash:
    """The trash of a local lake, as the purge loop sees it (``trash_steps.PurgeStore``)."""

    def __init__(self, root: Path):
        self.root = self.state = root

    def recovered(self, say: Echo):
        return recovered(self.root, say)

    def data(self, e: Entry) -> Path:
        return data_path(self.root, e)

    def sizes(self, e: Entry) -> tuple[int, int]:
        return files_bytes(self.data(e).parent), files_bytes(entry_dir(self.root, e.name))

    def path_refusal(self, e: Entry) -> str | None:
        return unreal_path(self.root, self.data(e), hidden_ok=True)

    def load_recipe(self, e: Entry) -> Recipe:
        return Recipe.load(entry_dir(self.root, e.name))

    def has_data(self, e: Entry) -> bool:
        return self.data(e).exists()

    def delete_data(self, e: Entry) -> None:
        _rmtree_with_hook(self.data(e).parent)

    def entry(self, e: Entry) -> str:
        return str(entry_dir(self.root, e.name))


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


def _rmtree_with_hook(path: Path) -> None:
    if os.environ.get(CRASH_ENV, "").startswith("purge-partial"):
        files = sorted(p for p in path.rglob("*") if p.is_file())
        if files:
            files[0].unlink()
            crash_point("purge-partial")
    shutil.rmtree(path)
