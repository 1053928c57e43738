"""Atomic file writes: write to a temporary file beside the target, then rename.

A crash or an error midway never leaves a half-written result under the final name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Iterable, Iterator

from prunekit.errors import InputError


def _umask() -> int:
    """The process umask. Reading it means setting it, so read it once and put it back at once
    (umask is process-wide: doing this per write could race with other threads creating files)."""
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


_UMASK: int | None = None


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early, before any work, when ``path`` cannot be written."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"output path {p} is a directory, expected a file name")
    check_parent_writable(p)
    return p


def check_parent_writable(p: Path) -> None:
    """The folder that will hold ``p`` (a file or a folder to be made) exists and can be written;
    else one readable ``InputError``."""
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise InputError(f"cannot write {p}: directory {parent} does not exist")
    if not parent.is_dir():
        raise InputError(f"cannot write {p}: {parent} is not a directory")
    if not os.access(parent, os.W_OK):
        raise InputError(f"cannot write {p}: directory {parent} is not writable")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path; on success it is renamed to ``path``, on error removed."""
    target = check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    # mkstemp creates the file 0600; a result should get the permissions any new file would (0666
    # minus the umask), or a shared lake or output folder ends up unreadable to the team.
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(dest: str | os.PathLike, *, create: bool = True) -> Iterator[Path]:
    """Yield a hidden sibling folder to fill (made unless ``create=False``, for writers that make it
    themselves); on success it is renamed to ``dest``, on error removed with everything in it."""
    dest = Path(dest)
    tmp = dest.parent / f".{dest.name}.write-{uuid.uuid4().hex[:8]}"
    try:
        if create:
            tmp.mkdir()
        yield tmp
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_not_input(
    out: str | os.PathLike,
    inputs: Iterable[tuple[str, str | os.PathLike | None]],
    *,
    folder: bool = False,
) -> Path:
    """Refuse an output path that is one of the command's inputs — the same path, the same file
    reached through a symlink or a hard link, or a path inside an input folder (a Parquet data set
    stored as a folder). ``inputs`` are ``(what, path)`` pairs; ``None`` paths are skipped.
    ``folder``: ``out`` is a folder the command may replace, so an input inside it is refused too.
    Raises ``InputError`` naming both; returns ``out`` as a ``Path``."""
    o = Path(out)
    o_real = Path(os.path.realpath(o))
    for what, path in inputs:
        if path is None:
            continue
        p = Path(path)
        p_real = Path(os.path.realpath(p))
        if o_real == p_real or _same_file(o, p):
            raise InputError(f"refusing to write {o}: it is the {what} {p} (an output never replaces an input)")
        if p_real.is_dir() and (p_real == o_real or p_real in o_real.parents):
            raise InputError(f"refusing to write {o}: it is inside the {what} folder {p} "
                             "(an output never changes an input)")
        if folder and o_real in p_real.parents:
            raise InputError(f"refusing to write {o}: it holds the {what} {p} (an output never replaces an input)")
    return o
