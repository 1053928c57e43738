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
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote

from prunekit.errors import InputError
from prunekit.lake import objectstore
from prunekit.lake.jsonfile import utc_timestamp
from prunekit.lake.links import unreal_path

TRASH_DIR = ".prunekit-trash"
JOURNAL = "journal.jsonl"
LOCK = "lock"

APPLY_STEPS = ("intent", "recipe", "verified", "moved", "done")
_STATE_OF_STEP = {
    "intent": "applying", "recipe": "applying", "verified": "applying", "moved": "applying",
    "done": "deleted",
    "refused": "in_place", "rolled_back": "in_place", "restored": "in_place",
    "restore-intent": "restoring", "purge-intent": "purging", "purged": "purged",
}

Echo = Callable[[str], None]


# --- layout, journal, lock -----------------------------------------------------------------------


def trash_root(root: str | Path) -> Path:
    return Path(root) / TRASH_DIR


def entry_dir(root: str | Path, name: str) -> Path:
    """A table's trash folder: its name with '/' quoted, so every table gets one flat folder."""
    return trash_root(root) / quote(name, safe="")



def fsync_dir(path: Path) -> None:
    # A rename is durable only once its directory is synced; not every platform allows it.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Journal:
    """Append-only JSON lines, each written with one ``write`` and fsync'd before returning."""

    def __init__(self, root: str | Path):
        self.path = trash_root(root) / JOURNAL

    def append(self, **record: Any) -> dict[str, Any]:
        record = {"time": utc_timestamp("milliseconds"), **record}
        line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
        new = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # A crash mid-write can leave a torn last line; start on a fresh line so the torn
            # fragment stays a line of its own (skipped by ``records``) instead of gluing to this one.
            if not new and os.fstat(fd).st_size:
                with open(self.path, "rb") as fh:
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":
                        line = b"\n" + line
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:
            fsync_dir(self.path.parent)
        return record

    def records(self) -> list[dict[str, Any]]:
        """Every complete record in order. Unparsable lines (torn by a crash while being written)
        are skipped: a record is only relied on after its write returned, and recovery checks the
        file system rather than trusting the last step alone."""
        if not self.path.exists():
            return []
        out = []
        with open(self.path, "rb") as fh:
            for raw in fh:
                try:
                    rec = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(rec, dict) and "table" in rec and "step" in rec:
                    out.append(rec)
        return out


def _acquire(root: str | Path, t: Path) -> tuple[int, bool, bool]:
    """(fd holding the lock, trash folder made by us, lock file made by us)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks, run one at a time
        fcntl = None
    made_dir = False
    while True:
        try:
            t.mkdir()
            made_dir = True
        except FileExistsError:
            pass
        made_lock = False
        try:
            try:
                fd = os.open(t / LOCK, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
                made_lock = True
            except FileExistsError:
                fd = os.open(t / LOCK, os.O_RDWR)
        except FileNotFoundError:
            continue   # the previous holder removed the lock (or its empty trash) meanwhile
        if fcntl is None:  # pragma: no cover
            return fd, made_dir, made_lock
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InputError(f"another prunekit lake command is working on {root} "
                             f"(lock {t / LOCK}); try again when it has finished") from None
        try:   # locked the file still under that name, not one its holder removed before we locked?
            if os.stat(t / LOCK).st_ino == os.fstat(fd).st_ino:
                return fd, made_dir, made_lock
        except FileNotFoundError:
            pass
        os.close(fd)


@contextlib.contextmanager
def lake_lock(root: str | Path) -> Iterator[None]:
    """One prunekit lake command at a time per lake (an exclusive ``flock``, freed by the kernel
    even when the holder is killed). What taking it created — the lock file, the trash folder of a
    lake never touched — is removed again on the way out (the lock file while still held; the
    folder only if still empty), so a command that changed nothing leaves nothing."""
    t = trash_root(root)
    fd, made_dir, made_lock = _acquire(root, t)
    try:
        yield
    finally:
        if made_lock:
            with contextlib.suppress(OSError):
                os.unlink(t / LOCK)
        os.close(fd)
        if made_dir:
            with contextlib.suppress(OSError):
                t.rmdir()


# --- state ---------------------------------------------------------------------------------------


@dataclass
class Entry:
    """What the journal says about one table: its state and the facts recorded along the way."""

    name: str
    state: str                 # applying | deleted | purged | restoring | purging | in_place
    step: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def original(self) -> str:
        return self.info["relpath"]


def lake_state(root: str | Path) -> dict[str, Entry]:
    """Per table, the state the journal ends in (tables never touched are absent)."""
    state: dict[str, Entry] = {}
    for rec in Journal(root).records():
        name, step = rec["table"], rec["step"]
        e = state.get(name)
        if step == "intent" or e is None:
            e = state[name] = Entry(name=name, state="applying", step=step, info={})
            if step == "intent":
                e.info = {"verified": False}
        e.info.update({k: v for k, v in rec.items() if k not in ("step", "time", "op")})
        if step == "verified":
            e.info["verified"] = True
        e.step = step
        if step == "restore-abandoned":
            e.state = rec.get("from_state", "deleted")
        else:
            e.state = _STATE_OF_STEP.get(step, e.state)
    return state


def protected_tables(root: str | Path) -> dict[str, str]:
    """Tables that must be kept because a table in the trash is rebuilt from them."""
    out: dict[str, str] = {}
    if not trash_root(root).exists():
        return out
    for e in lake_state(root).values():
        if e.state in ("applying", "deleted", "purged", "restoring", "purging") and e.info.get("parent"):
            out.setdefault(e.info["parent"], f"parent of {e.name} in the trash")
    return out


def data_path(root: Path, e: Entry) -> Path:
    return entry_dir(root, e.name) / "data" / Path(e.original).name


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
    journal = Journal(root)
    lines = []
    for e in sorted(lake_state(root).values(), key=lambda x: x.name):
        if e.state not in ("applying", "restoring", "purging"):
            continue
        orig = root / e.original
        edir = entry_dir(root, e.name)
        data = data_path(root, e)
        if e.state == "applying":
            if orig.exists() and data.exists():
                raise InputError(f"recovery: {e.name} exists both in place ({orig}) and in the trash "
                                 f"({data}); resolve by hand, then remove {edir}")
            if data.exists():
                why = unreal_path(root.resolve(), orig)
                if why:   # never move a table back through a link (it could land outside the lake)
                    raise InputError(f"recovery: cannot move {e.name} back from {data}: {why}; resolve by hand")
                os.rename(data, orig)
                fsync_dir(orig.parent)
                how = "moved back in place"
            elif orig.exists():
                how = "left in place"
            else:
                raise InputError(f"recovery: {e.name} is neither at {orig} nor in {edir}")
            if edir.exists():
                shutil.rmtree(edir)
            journal.append(op="recover", step="rolled_back", table=e.name,
                           reason=f"apply interrupted after '{e.step}'")
            lines.append(f"recovered {e.name}: apply was interrupted after '{e.step}'; {how}")
        elif e.state == "restoring":
            # Leftovers of write_like / atomic_path next to the target (hidden, never the table).
            for tmp in list(orig.parent.iterdir()) if orig.parent.exists() else []:
                if tmp.name.startswith(f".{orig.name}.") and (tmp.name.endswith(".tmp") or ".write-" in tmp.name):
                    _remove(tmp)
            # A rebuild takes its name only after it was verified; a move back is one rename.
            done = orig.exists() and (e.info.get("mode") == "rebuild" or not data.exists())
            if done:
                if edir.exists():
                    shutil.rmtree(edir)
                journal.append(op="recover", step="restored", table=e.name, mode=e.info.get("mode"))
                lines.append(f"recovered {e.name}: the interrupted restore had completed; finished it")
            else:
                journal.append(op="recover", step="restore-abandoned", table=e.name,
                               from_state=e.info.get("from_state", "deleted"))
                lines.append(f"recovered {e.name}: the interrupted restore had not completed; "
                             f"still in the trash")
        else:  # purging: its checks had passed before the intent was journaled
            if data.parent.exists():
                shutil.rmtree(data.parent)
            journal.append(op="recover", step="purged", table=e.name)
            lines.append(f"recovered {e.name}: finished the interrupted purge")
    for line in lines:
        if echo:
            echo(line)
    return lines


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
    when it does not exist or is not a folder."""
    if root is None:
        return find_lake()
    objectstore.refuse(root)   # s3://…: the trash, its journal and lock need a local lake
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


def entry_in_trash(root: Path, name: str, states: tuple[str, ...]) -> Entry:
    """The journal's entry of a table in one of ``states``, or an error listing what the trash holds."""
    return entries_in_trash(root, [name], states)[0]


def entries_in_trash(root: Path, names: list[str], states: tuple[str, ...], nothing: str = "") -> list[Entry]:
    """The entries of ``names``, all checked first: one error naming every name not in one of
    ``states`` (ending ``; nothing was <nothing>`` when given), so a command does all or none."""
    state = lake_state(root)
    bad = []
    for name in names:
        e = state.get(name)
        if e is None or e.state not in states:
            bad.append(name + (f" (it is {e.state.replace('_', ' ')})" if e is not None else ""))
    if bad:
        known = sorted(n for n, x in state.items() if x.state in ("deleted", "purged"))
        hint = f"; in the trash: {', '.join(known[:8])}" + (" …" if len(known) > 8 else "") if known else \
            "; the trash is empty"
        verb = "is" if len(bad) == 1 else "are"
        raise InputError(f"{', '.join(bad)} {verb} not in the trash of {root}{hint}"
                         + (f"; nothing was {nothing}" if nothing else ""))
    return [state[n] for n in names]


def tree_bytes(path: Path) -> int:
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- listing -------------------------------------------------------------------------------------


def trash_entries(root: str | Path | None = None, echo: Echo | None = None) -> list[dict[str, Any]]:
    """Tables in the trash (after recovering any interrupted command): name, state, parent, size.

    The ``prunekit lake trash`` command. ``root`` defaults to ``find_lake()``."""
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
