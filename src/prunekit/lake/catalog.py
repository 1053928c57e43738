"""The lake's catalogue: find the tables under a root folder and profile each one once.

What counts as a table (decided from names only, before any file is opened):

- every ``*.parquet`` file;
- every ``*.csv`` file (parsed by ``pyarrow.csv``, see ``tableio``);
- a **folder of Parquet parts**: a folder whose name ends in ``.parquet`` (the Spark/pandas/Dask
  convention), or a folder whose visible entries are only files, at least one ``*.parquet``, all
  of its ``*.parquet`` files named like parts (``part-*``, ``part_*``, ``part.*``, ``data-*`` or a
  number such as ``00001.parquet``) and any other file a marker starting with ``_`` (``_SUCCESS``).
  A folder such as ``lake/AER/`` holding ``Fertility.parquet`` and ``Affairs.parquet`` is *not* one
  table: its files have table names, not part names, and each is a table of its own.
- a **Hive-partitioned folder** (``sales/year=2024/region=eu/part-0.parquet``), a **Delta Lake
  table** (a folder holding ``_delta_log/``) and every table of the **Iceberg catalog** a
  ``<name>.iceberg.json`` file names (``formats``, ``delta``, ``iceberg``; a partitioned folder broken
  deeper down, a Delta table whose log is damaged: skipped with the reason).

Every entry whose name starts with ``.`` is ignored: the profile cache ``.prunekit/``, the trash of
``prunekit lake apply`` and editor/OS litter never become tables. Links are never followed: a table
is its real path inside the root, a link to a table or folder of the lake is an ``Alias`` of it, and
loops, dangling links and links leaving the root are skipped by name (``links``). A folder of parts
holding links is skipped whole.

A table's name is its path relative to the root, ``/``-separated, without the ``.parquet``/``.csv``
extension; when two tables would get the same name (``t.csv`` and ``t.parquet``) both keep their
extension.

Profiling reads each table once: its bytes are read into memory (up to ``tableio.ONE_READ_BYTES``),
hashed for the checksum and parsed from there, and the Parquet footers come with that parse. Per
column it computes exact null and NaN counts and exact min/max. Parquet footer min/max are used only
where they cannot be inexact: signed-integer, boolean and date columns (footer bounds of
strings/binary may be truncated, float bounds have writer-dependent NaN/−0.0 handling and unsigned
integers were written with signed order by older writers); every other column takes one vectorised
aggregate over the data in memory (NumPy for numbers: an Arrow compute call costs more than the work
on small columns). Min/max of dates are ISO strings, of timestamps integer microseconds (UTC), of
times/durations integer nanoseconds: order-preserving encodings used only to *prune*, never to
decide equality. Strings longer than 1024 characters keep no bound. The value fingerprint is not
computed here (``profile.with_fingerprint``: only set semantics' candidate duplicates need it).

Big lakes (``PROCESS_MIN_TABLES`` tables to profile or more) are profiled in forked worker processes:
on small tables most of a profile is Python holding the GIL, so threads do not run it in parallel.
In a scan, the tables profiled in this process (threads, or one thread) are handed to the content
stages (``verify.TableStore``), which otherwise read, ahead of need, the tables the walk will use.

Unreadable or unusable tables (corrupt Parquet, ragged CSV, 0 rows, no columns, duplicate column
names after normalisation) become ``Skipped(path, reason)`` and the scan goes on.

Profiles are cached in ``<root>/.prunekit/profiles.json`` (or a path you give): a re-scan
re-profiles only tables whose *signature* (file names, sizes, modification times) changed.

Algorithm and parameters: docs/ALGORITHMS.md §4.2.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prunekit._progress import progress
from prunekit._version import __version__
from prunekit.errors import InputError
from prunekit.io.atomic import atomic_path
from prunekit.lake import objectstore
from prunekit.lake.formats import ICEBERG, ICEBERG_SUFFIX, as_path, folder_format, version_tag
from prunekit.lake.links import classify_links, links_under, visible_inside
from prunekit.lake.model import Alias, Skipped, TableProfile
from prunekit.lake.params import WORKERS
from prunekit.lake.profile import profile_or_skip
from prunekit.lake.scan_cache import code_digest
from prunekit.lake.tableio import file_checksum, table_files

CACHE_VERSION = 2
CACHE_DIRNAME = ".prunekit"
_PART_NAME = re.compile(r"^(part[-_.]|data[-_.]|\d+\.parquet$)", re.IGNORECASE)


@dataclass(frozen=True)
class TableRef:
    """A table found on disk, before it is read."""

    name: str
    path: str          # absolute path of the file or parts folder
    format: str        # "parquet" or "csv"
    key: str           # relative path (with extension) + format: the cache key
    signature: str     # hash of (relative file names, sizes, mtimes)
    size_bytes: int


@dataclass
class Catalog:
    """Profiles of every usable table of a lake, and the files that were skipped (with reasons).

    ``profiled`` lists the tables read in this run, ``cached`` those taken from the profile cache;
    ``moved`` those among them found under another name or with another mtime and recognised by
    the sha256 of their bytes (a renamed, moved, copied or touched table).
    """

    root: str
    profiles: dict[str, TableProfile]
    skipped: list[Skipped]
    aliases: list[Alias] = field(default_factory=list)
    profiled: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cache_path: str | None = None
    notes: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)


# --- discovery ---------------------------------------------------------------------------------

def _is_parts_folder(d: Path) -> bool:
    if d.name.lower().endswith(".parquet"):
        return True
    has_part = False
    for e in objectstore.scandir(d) if objectstore.is_uri(d) else os.scandir(d):
        if e.name.startswith("."):
            continue
        if not (e.is_symlink() or e.is_file(follow_symlinks=False)):   # a link counts by its name
            return False
        if e.name.lower().endswith(".parquet"):
            if not _PART_NAME.match(e.name):
                return False
            has_part = True
        elif not e.name.startswith("_"):
            return False
    return has_part


def _signature(root: Path, files: list[Path]) -> tuple[str, int]:
    h = hashlib.sha1()
    size = 0
    for f in files:
        st = f.stat()
        size += st.st_size
        h.update(f"{f.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest(), size


def check_root(root: str | Path) -> Path:
    """The lake root, resolved; ``InputError`` when it is not an existing folder. A URI
    (``s3://bucket/prefix``) is a lake on an object store (``objectstore``)."""
    if objectstore.is_uri(root):
        return objectstore.check_root(root)
    root = Path(root)
    if not root.exists():
        raise InputError(f"lake root {root} does not exist")
    if not root.is_dir():
        raise InputError(f"lake root {root} is not a folder")
    return root.resolve()


def discover(root: str | Path) -> tuple[list[TableRef], list[Skipped]]:
    """The tables under ``root`` (see the module docstring for the rules), sorted by name, and the
    entries skipped. Raises ``InputError`` when ``root`` is not an existing folder."""
    refs, skipped, _ = discover_all(root)
    return refs, skipped


def discover_all(root: str | Path) -> tuple[list[TableRef], list[Skipped], list[Alias]]:
    """``discover`` and the aliases: links to tables or folders of the lake (``links``)."""
    root = check_root(root)
    found: list[tuple[Path, str]] = []   # (path, format)
    skipped: list[Skipped] = []
    links: list[Path] = []
    iceberg_files: list[Path] = []       # Iceberg catalog files (``iceberg``): a table per catalog table

    remote = objectstore.is_uri(root)

    def walk(d: Path) -> None:
        try:
            entries = sorted(objectstore.scandir(d) if remote else os.scandir(d), key=lambda e: e.name)
        except OSError as exc:
            skipped.append(Skipped(str(d), f"cannot list folder: {exc.strerror or exc}"))
            return
        for e in entries:
            if e.name.startswith("."):
                continue   # .prunekit cache, apply's trash, editor/OS litter
            p = as_path(e.path)
            if e.is_symlink():
                links.append(p)    # never followed: an alias or a skipped entry, decided below
            elif e.is_dir(follow_symlinks=False):
                try:
                    kind, broken = folder_format(p)   # Delta table, Hive-partitioned folder (formats)
                    parts = kind is None and broken is None and _is_parts_folder(p)
                    inner = links_under(p) if parts or kind or broken else []
                except OSError as exc:
                    skipped.append(Skipped(str(p), f"cannot list folder: {exc.strerror or exc}"))
                    continue
                if inner:
                    what = f"{kind} table folder" if kind else "folder of parts"
                    skipped.append(Skipped(str(p), f"{what} holds links ({', '.join(inner[:3])}): "
                                                   "not scanned; prunekit touches only real files"))
                elif broken:
                    skipped.append(Skipped(str(p), broken))
                elif kind:
                    found.append((p, kind))
                elif parts:
                    found.append((p, "parquet"))
                else:
                    walk(p)
            elif e.is_file(follow_symlinks=False):
                low = e.name.lower()
                if low.endswith(".parquet"):
                    found.append((p, "parquet"))
                elif low.endswith(".csv"):
                    found.append((p, "csv"))
                elif low.endswith(ICEBERG_SUFFIX) and remote:
                    skipped.append(Skipped(str(p), "Iceberg catalog file on an object store: not read "
                                                   "(put it in a local lake folder)"))
                elif low.endswith(ICEBERG_SUFFIX):
                    iceberg_files.append(p)

    walk(root)

    def strip(rel: str) -> str:
        low = rel.lower()
        for ext in (".parquet", ".csv"):
            if low.endswith(ext):
                return rel[: -len(ext)]
        return rel

    rels = [(p, fmt, p.relative_to(root).as_posix()) for p, fmt in found]
    counts: dict[str, int] = {}
    for _, _, rel in rels:
        counts[strip(rel)] = counts.get(strip(rel), 0) + 1
    refs = []
    for p, fmt, rel in rels:
        name = strip(rel) if counts[strip(rel)] == 1 else rel
        try:
            files = table_files(p)
            sig, size = _signature(root, files)
            sig = f"{version_tag(p, fmt)}{sig}"   # a Delta table's version: a new one re-profiles
        except (InputError, OSError) as exc:
            skipped.append(Skipped(str(p), str(exc) if isinstance(exc, InputError) else
                                   f"cannot stat: {exc.strerror or exc}"))
            continue
        refs.append(TableRef(name=name, path=str(p), format=fmt, key=f"{rel}|{fmt}",
                             signature=f"{fmt}:{sig}", size_bytes=size))
    if iceberg_files:
        from prunekit.lake.iceberg import lake_tables
        entries, ice_skips = lake_tables(root, iceberg_files, {r.name for r in refs})
        refs += [TableRef(format=ICEBERG, **e) for e in entries]
        skipped += ice_skips
    refs.sort(key=lambda r: r.name)
    aliases, link_skips = classify_links(root, links, {Path(r.path): r.name for r in refs})
    return refs, skipped + link_skips, aliases


# --- cache -------------------------------------------------------------------------------------

def default_cache_path(root: str | Path) -> Path:
    return Path(root) / CACHE_DIRNAME / "profiles.json"


def _load_cache(path: Path) -> dict[str, Any]:
    try:
        d = json.loads(path.read_text())
        if d.get("version") != CACHE_VERSION or d.get("prunekit") != __version__ \
                or d.get("code") != code_digest():
            return {}   # profiles written by other code may differ: re-profile everything
        return d.get("entries", {})
    except (OSError, ValueError, AttributeError):
        return {}     # a missing or damaged cache only costs a full re-profile


def _save_cache(path: Path, entries: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"version": CACHE_VERSION, "prunekit": __version__,
                                   "code": code_digest(), "entries": entries}, default=str))


def _moved_profile(ref: TableRef, by_size: dict[tuple[str, int], list[dict]]) -> TableProfile | None:
    """The cached profile of a table with the same format, size and bytes (sha256) as ``ref``:
    the same table renamed, moved, copied or only touched. Reads the bytes, never parses them."""
    cands = by_size.get((ref.format, ref.size_bytes))
    if not cands:
        return None
    try:
        checksum = file_checksum(ref.path)
    except (InputError, OSError):
        return None
    for d in cands:
        if d.get("checksum") == checksum:
            p = TableProfile.from_dict(d)
            return replace(p, name=ref.name, path=ref.path, signature=ref.signature)
    return None


#: formats whose readers hold no connection, client or runtime a forked process could not use
PLAIN_FORMATS = ("parquet", "csv", "hive")
#: lakes with at least this many tables to profile are profiled in forked processes (below it, the
#: start-up costs more than it saves)
PROCESS_MIN_TABLES = 256


def _profile_all(todo: list[TableRef], workers: int, advance, keep=None) -> list[TableProfile | Skipped]:
    """``profile_or_skip`` of every ref, in order: in this thread, or with ``workers`` > 1 in that
    many forked processes (``PROCESS_MIN_TABLES`` local tables or more, all ``PLAIN_FORMATS``, on Linux)
    or threads.

    Processes, because most of a small table's profile is Python holding the GIL: threads gave no
    gain on 2 cores. Forked only (a ``spawn`` worker re-runs the caller's unguarded main script);
    the tables they read stay in them, so ``keep`` gets tables only from threads or this thread."""
    if workers == 1 or len(todo) <= 1:
        out = []
        for ref in todo:
            out.append(profile_or_skip(ref, keep))
            advance(1)
        return out
    shown = 0
    # fork is unsafe on macOS, with a live S3 client (the AWS SDK), an open SQLite catalog (Iceberg) or
    # deltalake's runtime threads: only plain local files (Parquet, CSV, Hive folders) on Linux
    if len(todo) >= PROCESS_MIN_TABLES and sys.platform.startswith("linux") \
            and all(r.format in PLAIN_FORMATS and not objectstore.is_uri(r.path) for r in todo):
        chunk = max(1, min(32, len(todo) // (workers * 8)))
        out = []
        try:
            with warnings.catch_warnings():
                # Python 3.12+ warns when a process with threads forks; the workers only read and
                # profile tables (Arrow and the interpreter re-initialise their locks after a fork).
                warnings.filterwarnings("ignore", message=".*multi-threaded.*fork", category=DeprecationWarning)
                with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                    for r in pool.map(profile_or_skip, todo, chunksize=chunk):
                        out.append(r)
                        advance(1)
            return out
        except (BrokenProcessPool, OSError, AssertionError):
            # a worker killed (out of memory, a signal), no processes allowed (a daemon process
            # cannot have children): threads instead
            shown = len(out)
    with ThreadPoolExecutor(workers) as pool:
        out = []
        for i, r in enumerate(pool.map(lambda ref: profile_or_skip(ref, keep), todo)):
            out.append(r)
            if i >= shown:
                advance(1)
        return out


def scan_catalog(root: str | Path, *, cache: str | Path | bool | None = None,
                 workers: int | None = None, show_progress: bool | None = None,
                 keep: Callable[[str, Any], None] | None = None,
                 profiler: Callable[[list[TableRef]], list[TableProfile | Skipped]] | None = None) -> Catalog:
    """Find and profile every table under ``root``.

    ``cache``: ``None``/``True`` → ``<root>/.prunekit/profiles.json`` (silently not written when
    the root is read-only); a path → that file; ``False`` → no cache. ``workers``: threads used to
    profile (default: up to 2; Arrow reading and hashing release the GIL for most of the work).
    ``keep(name, table)`` gets every table profiled, as read (the scan's ``verify.TableStore.put``).
    ``profiler``: profiles the refs to profile, in order, instead of the threads (an engine that
    profiles where the data is: Spark's ``profile_many``; ``keep`` then gets nothing).
    """
    if WORKERS.check(workers) is None:
        workers = min(2, os.cpu_count() or 1)
    t0 = time.perf_counter()
    refs, skipped, aliases = discover_all(root)
    remote = objectstore.is_uri(root)   # a lake on an object store: no default cache in it
    root_path = check_root(root) if remote else Path(root).resolve()
    explicit_cache = cache not in (None, True, False)
    cache_path = None if cache is False or (remote and not explicit_cache) else \
        (Path(cache) if explicit_cache else default_cache_path(root_path))
    if explicit_cache and visible_inside(root_path, cache_path):
        raise InputError(f"refusing the profile cache {cache_path}: it is inside the lake {root_path}, where "
                         "it could replace a table or be read as one; put it outside the lake or in a "
                         "hidden folder of it")
    notes: list[str] = []
    entries = _load_cache(cache_path) if cache_path is not None else {}

    profiles: dict[str, TableProfile] = {}
    todo: list[TableRef] = []
    cached: list[str] = []
    for ref in refs:
        e = entries.get(ref.key)
        if e is not None and e.get("signature") == ref.signature:
            if "profile" in e:
                p = TableProfile.from_dict(e["profile"])
                profiles[ref.name] = replace(p, name=ref.name, path=ref.path)
            else:
                skipped.append(Skipped(ref.path, e["skipped"]))
            cached.append(ref.name)
        else:
            todo.append(ref)
    # not found under its name: the same bytes under another name (or mtime) reuse that profile
    by_size: dict[tuple[str, int], list[dict]] = {}
    for e in entries.values():
        prof = e.get("profile") if isinstance(e, dict) else None
        if prof:
            by_size.setdefault((prof.get("format"), prof.get("size_bytes")), []).append(prof)
    moved: list[str] = []
    if by_size:
        unmoved = []
        for ref in todo:
            p = _moved_profile(ref, by_size)
            if p is None:
                unmoved.append(ref)
            else:
                profiles[ref.name] = p
                moved.append(ref.name)
        todo = unmoved

    with progress(len(todo), "profiling tables", show_progress) as advance:
        results = _profile_all(todo, workers, advance, keep) if profiler is None or not todo else profiler(todo)

    present = {r.key for r in refs}
    new_entries = {k: v for k, v in entries.items() if k in present}   # forget removed tables
    for ref in refs:
        if ref.name in moved:
            new_entries[ref.key] = {"signature": ref.signature, "profile": profiles[ref.name].to_dict()}
    for ref, r in zip(todo, results):
        if isinstance(r, TableProfile):
            profiles[ref.name] = r
            new_entries[ref.key] = {"signature": ref.signature, "profile": r.to_dict()}
        else:
            skipped.append(r)
            new_entries[ref.key] = {"signature": ref.signature, "skipped": r.reason}
    if cache_path is not None and (todo or moved or set(new_entries) != set(entries)):
        try:
            _save_cache(cache_path, new_entries)
        except (OSError, InputError) as exc:
            if explicit_cache:
                raise InputError(f"cannot write profile cache {cache_path}: {exc}") from exc
            notes.append(f"profile cache not written ({cache_path}): {exc}")
    skipped.sort(key=lambda s: s.path)
    return Catalog(root=str(root_path), profiles=dict(sorted(profiles.items())), skipped=skipped,
                   aliases=sorted(aliases, key=lambda a: a.path), profiled=[r.name for r in todo],
                   cached=cached + moved, seconds=time.perf_counter() - t0,
                   cache_path=str(cache_path) if cache_path is not None else None, notes=notes, moved=moved)
