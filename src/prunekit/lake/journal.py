"""The lake's journal and lock: the trash layout's names, the append-only fsync'd journal, the
exclusive lock, and each table's state as the journal tells it (``trash`` holds recovery and the
listing; both are re-exported from there).

For a lake on an object store the journal and lock live in a local state folder
(``objectstore.state_root``): that folder plays the lake root's part here.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote

from prunekit.errors import InputError
from prunekit.lake.jsonfile import utc_timestamp

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
