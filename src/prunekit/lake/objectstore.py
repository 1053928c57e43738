"""Lakes on object stores, read through pyarrow file systems (``s3://bucket/prefix``, ``gs://…``):
scan (and plan) only, read-only.

A lake root or table path with a URI scheme (``s3://``, ``gs://``, ``hdfs://``, ``abfs://``… — not
``file:``) is opened with ``pyarrow.fs.FileSystem.from_uri``; credentials, region and endpoint come
from the store's usual environment (for S3: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL`` for an S3-compatible server). The same tables are found
as on a local disk — Parquet and CSV files, folders of Parquet parts, Hive-partitioned folders, by
the same rules — and read, profiled, hashed and compared the same way; a Delta table too (``delta``:
``deltalake`` reads its log with the same endpoint), while an Iceberg catalog file on an object store
is a skipped entry (its catalog is a local database; put the file in a local lake folder). There are
no links on an object store, and no profile cache unless ``--cache FILE`` names a local one.

``RemoteFile`` is a URI (a ``str``) with the few ``pathlib.Path`` methods the lake code calls
(``name``, ``suffix``, ``stat``, ``is_dir``, ``exists``, ``relative_to``, ``read_bytes``), so a
table's files are listed, signed and checksummed by the code that handles local ones. ``Path``
collapses ``s3://b/k`` into ``s3:/b/k``; ``is_uri`` and ``RemoteFile`` accept that form too.

Apply, restore, purge and the trash work on object stores too (``objectstore_trash``): the trash in
the bucket under the lake's hidden ``.prunekit-trash/`` prefix, a move being copy + verify + delete;
the journal and lock in a local state folder (``state_root``), since a store has neither an atomic
append nor a lock.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import types
from pathlib import Path, PurePosixPath

from prunekit.errors import InputError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/+(.*)$")
STATE_ENV = "PRUNEKIT_LAKE_STATE"   # a folder holding the local state (journal, lock) of remote lakes


def is_uri(path) -> bool:
    """Whether ``path`` names an object on a remote file system (``s3://…``; not ``file:``)."""
    m = _SCHEME.match(str(path))
    return bool(m) and m.group(1).lower() != "file"


def normalise(path) -> str:
    """``scheme://rest`` without a trailing slash, also from ``Path``'s ``scheme:/rest``."""
    m = _SCHEME.match(str(path))
    if not m:
        raise InputError(f"{path} is not a URI")
    return f"{m.group(1).lower()}://{m.group(2).rstrip('/')}"


@functools.lru_cache(maxsize=4096)
def _filesystem(uri: str):
    import pyarrow as pa
    import pyarrow.fs as pafs

    try:
        return pafs.FileSystem.from_uri(uri)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputError(f"{uri}: cannot open its file system: {str(exc).splitlines()[0]}") from exc


def filesystem(uri) -> tuple:
    """``(pyarrow file system, path in it)`` of a URI."""
    return _filesystem(normalise(uri))


class RemoteFile(str):
    """A file or folder on an object store: its URI, with the ``Path`` methods the lake code uses."""

    def __new__(cls, uri, info=None):
        self = super().__new__(cls, normalise(uri))
        self._info = info
        return self

    @property
    def _fs_path(self):
        return _filesystem(str(self))

    def info(self):
        if self._info is None:
            import pyarrow as pa

            fs, path = self._fs_path
            try:
                self._info = fs.get_file_info(path)
            except (pa.ArrowException, OSError) as exc:
                raise InputError(f"{self}: cannot reach it: {str(exc).splitlines()[0]}") from exc
        return self._info

    @property
    def name(self) -> str:
        return str(self).rsplit("/", 1)[-1]

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix

    def is_dir(self) -> bool:
        import pyarrow.fs as pafs
        return self.info().type == pafs.FileType.Directory

    def is_file(self) -> bool:
        import pyarrow.fs as pafs
        return self.info().type == pafs.FileType.File

    def exists(self) -> bool:
        import pyarrow.fs as pafs
        return self.info().type != pafs.FileType.NotFound

    def is_symlink(self) -> bool:
        return False

    def stat(self):
        i = self.info()
        ns = i.mtime_ns or 0
        return types.SimpleNamespace(st_size=i.size or 0, st_mtime=ns / 1e9, st_mtime_ns=ns)

    def relative_to(self, base) -> PurePosixPath:
        base = normalise(base)
        if not str(self).startswith(base + "/"):
            raise ValueError(f"{self} is not inside {base}")
        return PurePosixPath(str(self)[len(base) + 1:])

    def as_posix(self) -> str:
        return str(self)

    def __truediv__(self, name: str) -> "RemoteFile":
        return RemoteFile(f"{self}/{name}")

    def open_input(self):
        """The object's bytes, as a readable, seekable file."""
        fs, path = self._fs_path
        return fs.open_input_file(path)

    def read_bytes(self) -> bytes:
        with self.open_input() as fh:
            return fh.read()


class _Entry:
    """An ``os.DirEntry`` look-alike for one entry of a remote folder."""

    def __init__(self, file: RemoteFile, is_dir: bool):
        self.path, self.name, self._dir = file, file.name, is_dir

    def is_dir(self, follow_symlinks: bool = True) -> bool:
        return self._dir

    def is_file(self, follow_symlinks: bool = True) -> bool:
        return not self._dir

    def is_symlink(self) -> bool:
        return False


def _select(folder, recursive: bool):
    import pyarrow as pa
    import pyarrow.fs as pafs

    folder = RemoteFile(folder)
    fs, path = folder._fs_path
    try:
        return folder, fs.get_file_info(pafs.FileSelector(path, recursive=recursive)), path
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{folder}: cannot list it: {str(exc).splitlines()[0]}") from exc


def scandir(folder) -> list[_Entry]:
    """The entries of a remote folder (``os.scandir`` for object stores)."""
    import pyarrow.fs as pafs

    folder, infos, _ = _select(folder, recursive=False)
    return [_Entry(RemoteFile(f"{folder}/{i.base_name}", info=i), i.type == pafs.FileType.Directory)
            for i in infos]


def walk_files(folder) -> list[RemoteFile]:
    """Every file below a remote folder, hidden ones (a ``.``-named part of the path) left out."""
    import pyarrow.fs as pafs

    folder, infos, base = _select(folder, recursive=True)
    out = []
    for i in infos:
        if i.type != pafs.FileType.File:
            continue
        f = RemoteFile(f"{folder}/{i.path[len(base.rstrip('/')) + 1:]}", info=i)
        if not any(part.startswith(".") for part in f.relative_to(folder).parts):
            out.append(f)
    return out


def check_root(root) -> RemoteFile:
    """The lake root on an object store: an existing folder (prefix), else ``InputError``."""
    r = RemoteFile(root)
    if not r.exists():
        raise InputError(f"lake root {r} does not exist")
    if not r.is_dir():
        raise InputError(f"lake root {r} is not a folder")
    return r


def state_root(root) -> Path:
    """The local folder holding the journal and lock of a lake on an object store:
    ``$PRUNEKIT_LAKE_STATE/<key>`` or ``~/.cache/prunekit/lakes/<key>`` (``$XDG_CACHE_HOME`` if set),
    the key being the URI made safe for a folder name plus a hash of it. Made when missing."""
    uri = normalise(root)
    base = os.environ.get(STATE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "prunekit", "lakes")
    key = re.sub(r"[^A-Za-z0-9._-]+", "_", uri)[-80:] + "-" + hashlib.sha256(uri.encode()).hexdigest()[:12]
    folder = Path(base) / key
    folder.mkdir(parents=True, exist_ok=True)
    return folder
