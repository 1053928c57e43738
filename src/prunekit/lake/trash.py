"""The lake's trash: its layout, the journal, the lock, each table's state, and recovery.

Deleted tables live in a trash area inside the lake, ``<root>/.prunekit-trash/<quoted name>/`` (a
dot-folder, so scans skip it): ``data/`` holds the table's files, next to its recipe. Every step
of every command that changes the lake (``apply``, ``restore``, ``purge``) is recorded in an
append-only, fsync'd journal (``<root>/.prunekit-trash/journal.jsonl``) *after* the action it
names; apply goes through

    intent → recipe (written) → verified (rebuild == table) → moved (into the trash) → done

A crash leaves the last step in the journal and the files somewhere between two steps. Every lake
command (scan, plan, apply, restore, purge, trash) first takes the lake's lock and runs ``recover``:
an apply that did not reach ``done`` is rolled back (the table is moved back in place if it had
been moved, its trash entry removed) — the journal is read together with the file system, so a step
done but not yet journaled is found too. Interrupted restores either completed their final rename
(then they are finished) or did not (then the table stays in the trash); interrupted purges are
finished, since their checks had passed. After recovery every table is in place or fully restorable.

The layout's names, the journal, the lock and the per-table state live in ``journal`` (re-exported
here); Iceberg tables are rolled back and restored by ``iceberg_delete`` (their folder and catalog
entry), lakes on object stores by ``objectstore_trash`` (trash in the bucket, journal local).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

from prunekit.errors import InputError
from prunekit.lake import objectstore, trash_steps
from prunekit.lake.journal import (  # noqa: F401 - re-exported: the trash's journal and lock
    APPLY_STEPS,
    JOURNAL,
    LOCK,
    TRASH_DIR,
    Echo,
    Entry,
    Journal,
    data_path,
    entries_in_trash,
    entry_dir,
    entry_in_trash,
    fsync_dir,
    lake_lock,
    lake_state,
    protected_tables,
    trash_root,
)
from prunekit.lake.links import unreal_path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def recover(root: str | Path, echo: Echo | None = None) -> list[str]:
    """Finish or roll back whatever an interrupted command left; returns one line per table.

    Call with the lake's lock held (every lake command does, through ``recovered``)."""
    root = Path(root)
    if not (trash_root(root) / JOURNAL).exists():
        return []
    return trash_steps.recover_each(root, echo, lambda e, journal: _recover_one(root, e, journal))


def _recover_one(root: Path, e: Entry, journal: Journal) -> str:
    orig = root / e.original
    edir = entry_dir(root, e.name)
    data = data_path(root, e)
    if e.state == "applying":
        if e.info.get("format") == "iceberg":
            from prunekit.lake import iceberg_delete   # its folder back, its catalog entry back
            how = iceberg_delete.roll_back(e.info, data)
        else:
            how = _move_back(root, e, orig, data, edir)
        if edir.exists():
            shutil.rmtree(edir)
        return trash_steps.rolled_back(journal, e, how)
    if e.state == "restoring":
        # Leftovers of write_like / atomic_path next to the target (hidden, never the table).
        for tmp in list(orig.parent.iterdir()) if orig.parent.exists() else []:
            if tmp.name.startswith(f".{orig.name}.") and (tmp.name.endswith(".tmp") or ".write-" in tmp.name):
                _remove(tmp)
        # A rebuild takes its name only after it was verified; a move back is one rename.
        if e.info.get("format") == "iceberg":   # renamed back: register it again and finish
            from prunekit.lake import iceberg_delete
            done = iceberg_delete.finish_restore(e.info, data)
        else:
            done = orig.exists() and (e.info.get("mode") == "rebuild" or not data.exists())
        if not done:
            return trash_steps.restore_abandoned(journal, e)
        if edir.exists():
            shutil.rmtree(edir)
        journal.append(op="recover", step="restored", table=e.name, mode=e.info.get("mode"))
        return f"recovered {e.name}: the interrupted restore had completed; finished it"
    # purging: its checks had passed before the intent was journaled
    if data.parent.exists():
        shutil.rmtree(data.parent)
    return trash_steps.purge_finished(journal, e)


def _move_back(root: Path, e: Entry, orig: Path, data: Path, edir: Path) -> str:
    """An apply cut short: the table back in place if it had been moved; how it ended."""
    if orig.exists() and data.exists():
        raise InputError(f"recovery: {e.name} exists both in place ({orig}) and in the trash "
                         f"({data}); resolve by hand, then remove {edir}")
    if data.exists():
        why = unreal_path(root.resolve(), orig)
        if why:   # never move a table back through a link (it could land outside the lake)
            raise InputError(f"recovery: cannot move {e.name} back from {data}: {why}; resolve by hand")
        os.rename(data, orig)
        fsync_dir(orig.parent)
        return "moved back in place"
    if orig.exists():
        return "left in place"
    raise InputError(f"recovery: {e.name} is neither at {orig} nor in {edir}")


@contextlib.contextmanager
def recovered(root: str | Path, echo: Echo | None = None) -> Iterator[list[str]]:
    """The lake's lock held, after whatever an interrupted command left was finished or rolled
    back (``recover``; yields its lines). Every lake command runs inside one."""
    with lake_lock(root):
        yield recover(root, echo)


def recover_if_interrupted(root: str | Path, echo: Echo | None = None) -> list[str]:
    """For the commands that only read the lake (scan, plan): when it has a trash, take the lock,
    recover, release. A lake without a trash was never touched and is left as it is."""
    if not (Path(root).is_dir() and trash_root(root).is_dir()):
        return []
    with recovered(root, echo) as lines:
        return lines


# --- finding tables in the trash -----------------------------------------------------------------


def lake_root(root: str | Path | None) -> Path:
    """The lake folder a command was given (resolved), or ``find_lake()`` for None; ``InputError``
    when it does not exist or is not a folder. A lake on an object store stays its URI (a ``str``,
    ``scheme://…``: ``objectstore_trash`` works on it)."""
    if root is None:
        return find_lake()
    if objectstore.is_uri(root):
        return objectstore.normalise(root)   # type: ignore[return-value]
    p = Path(root)
    if not p.exists():
        raise InputError(f"lake folder {p} does not exist")
    if not p.is_dir():
        raise InputError(f"lake {p} is not a folder")
    return p.resolve()


def find_lake(start: str | Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the current one) holding a trash."""
    p = Path(start or Path.cwd()).resolve()
    for cand in (p, *p.parents):
        if trash_root(cand).is_dir():
            return cand
    raise InputError(f"no {TRASH_DIR} folder at or above {p}; pass --lake ROOT")


def tree_bytes(path: Path) -> int:
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- listing -------------------------------------------------------------------------------------


def trash_entries(root: str | Path | None = None, echo: Echo | None = None) -> list[dict[str, Any]]:
    """Tables in the trash (after recovering any interrupted command): name, state, parent, size.

    The ``prunekit lake trash`` command. ``root`` defaults to ``find_lake()``; a lake on an object
    store (``s3://…``) is listed by ``objectstore_trash.trash_entries``."""
    if root is not None and objectstore.is_uri(root):
        from prunekit.lake import objectstore_trash
        return objectstore_trash.trash_entries(objectstore.normalise(root), echo)
    root = lake_root(root)
    if not trash_root(root).is_dir():
        return []
    with recovered(root, echo):
        out = []
        for e in sorted(lake_state(root).values(), key=lambda x: x.name):
            if e.state not in ("deleted", "purged"):
                continue
            out.append({"table": e.name, "state": e.state, "parent": e.info.get("parent"),
                        "path": e.original, "size_bytes": e.info.get("size_bytes"),
                        "trash_bytes": tree_bytes(entry_dir(root, e.name) / "data")})
        return out
