"""Delta Lake tables in a lake: a folder holding ``_delta_log/`` (the optional ``delta`` extra,
``deltalake``).

**Reading.** The table is its *current* version as ``deltalake`` resolves the log (deletions,
partition values, schema); its canonical row order is the version's data files sorted by their
path relative to the table folder, each file's rows in file order — defined by the files, not by the
order a log replay happens to list them. Partition columns come from the log, typed by the Delta
schema. Files are read through pyarrow's own local file system (``deltalake``'s Python file-system
handler made the interpreter abort at exit). A folder whose log is missing, damaged or uses reader
features ``deltalake`` cannot turn into a pyarrow dataset is an ``InputError``: the scan lists it
as skipped with that one line.

**Identity.** ``log_version`` reads only the log's file names; the catalogue puts the version into
the table's signature, so a new version re-profiles the table. A Delta table's files are *all* files
of its folder, log included: its checksum and size cover them all, and apply and restore move the
whole folder (``_delta_log`` too), so a restore from the trash is byte-identical, history included.

**Rebuilding** (``write_delta``): ``deltalake.write_deltalake`` writes the rebuilt rows as a new
table (version 0) with the recorded partition columns, name, description and configuration; it
is read back and compared before it takes its name. The content is the same, the log is not: the
history (earlier versions, time travel) and the log's bytes are gone. That is why ``purge`` refuses
Delta tables — the trash copy is the only thing that keeps the history.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa

from prunekit.errors import InputError, require
from prunekit.io.atomic import atomic_dir
from prunekit.lake import objectstore
from prunekit.lake.errors import RecipeError

LOG = "_delta_log"
_LOG_FILE = re.compile(r"^(\d{20})\.(?:json|checkpoint(?:\.\d+\.\d+)?\.parquet)$")
PURGE_REFUSAL = ("a Delta table keeps its history in _delta_log, and a rebuild from the recipe gives only "
                 "its current version (a new log): purging would lose the history; restore it instead")


def log_version(p: Path) -> int:
    """The newest version named in ``_delta_log`` (commit or checkpoint file names; -1 when none).
    Reads no file: the catalogue calls it for every Delta table on every scan."""
    try:
        names = [e.name for e in objectstore.scandir(p / LOG)] if objectstore.is_uri(p) \
            else os.listdir(Path(p) / LOG)
    except (OSError, InputError):
        return -1
    return max((int(m.group(1)) for n in names if (m := _LOG_FILE.match(n))), default=-1)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = text.split(" ParsedLogPath")[0].split(" FileMeta")[0]
    return text if len(text) <= 200 else text[:197] + "..."


def _errors():
    exceptions = require("deltalake.exceptions", "delta")
    return (exceptions.DeltaError, OSError, pa.ArrowException, ValueError, KeyError)


def storage_options(uri: str) -> dict[str, str]:
    """What ``deltalake`` needs besides the environment to reach the store pyarrow reaches: the
    endpoint of an S3-compatible server (``AWS_ENDPOINT_URL``), plain HTTP allowed when it says so."""
    opts: dict[str, str] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if uri.startswith("s3://") and endpoint:
        opts["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            opts["AWS_ALLOW_HTTP"] = "true"
    return opts


def _open(p: Path):
    deltalake = require("deltalake", "delta")
    try:
        if objectstore.is_uri(p):
            uri = objectstore.normalise(p)   # also from Path's collapsed ``s3:/…``
            return deltalake.DeltaTable(uri, storage_options=storage_options(uri))
        return deltalake.DeltaTable(str(p))
    except _errors() as exc:
        raise InputError(f"{p}: not a readable Delta table (damaged or missing log file?): {_one_line(exc)}") from exc


def read_delta(p: str | Path) -> pa.Table:
    """The current version of the Delta table at ``p``, in canonical row order (module docstring)."""
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    remote = objectstore.is_uri(p)
    p = objectstore.RemoteFile(p) if remote else Path(p)
    dt = _open(p)
    try:
        if remote:   # the store's own pyarrow file system, rooted at the table
            fs, path = objectstore.filesystem(str(p))
            files = pafs.SubTreeFileSystem(path, fs)
        else:
            files = pafs.SubTreeFileSystem(str(p.resolve()), pafs.LocalFileSystem())
        d = dt.to_pyarrow_dataset(filesystem=files)
        fragments = sorted(d.get_fragments(), key=lambda f: f.path)
        return ds.FileSystemDataset(fragments, d.schema, d.format, d.filesystem).to_table()
    except _errors() as exc:
        raise InputError(f"{p}: cannot read Delta version {dt.version()}: {_one_line(exc)}") from exc


def describe_delta(p: str | Path) -> dict[str, Any]:
    """What a rebuild needs besides the rows: version, partition columns, name, description and
    configuration of the table's metadata, and its data files (for reports)."""
    dt = _open(Path(p))
    try:
        md = dt.metadata()
        adds = dt.get_add_actions(flatten=False)
        nfiles = len(adds) if hasattr(adds, "__len__") else pa.table(adds).num_rows
    except _errors() as exc:
        raise RecipeError(f"{p}: cannot describe the Delta table: {_one_line(exc)}") from exc
    return {"kind": "delta", "folder": True, "version": dt.version(),
            "partition_by": list(md.partition_columns), "name": md.name, "description": md.description,
            "configuration": dict(md.configuration or {}), "data_files": nfiles}


def write_delta(table: pa.Table, layout: dict[str, Any], dest: Path, check: Callable[[Path], None]) -> Path:
    """Write ``table`` as a new Delta table at ``dest`` (version 0, the recorded partitioning and
    metadata, one data file a partition), checked (``check``) in a hidden sibling folder first."""
    deltalake = require("deltalake", "delta")
    with atomic_dir(dest, create=False) as tmpdir:   # write_deltalake makes the folder itself
        try:
            deltalake.write_deltalake(
                str(tmpdir), table, mode="error", partition_by=layout.get("partition_by") or None,
                name=layout.get("name"), description=layout.get("description"),
                configuration=layout.get("configuration") or None, target_file_size=1 << 62)
        except _errors() as exc:
            raise RecipeError(f"{dest.name}: cannot write it back as a Delta table: {_one_line(exc)}") from exc
        check(tmpdir)
    return dest
