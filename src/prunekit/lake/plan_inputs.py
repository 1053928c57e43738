"""The deletion plan's inputs: a saved scan, per-table access counts (CSV), pinned tables and
preferred paths, and what the plan reads from the lake itself: each candidate's recipe size
(``measure_recipes``) and the tables' modification times (``table_mtimes``)."""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import math
from pathlib import Path
from typing import Iterable

from prunekit.errors import ConfigError, InputError
from prunekit.lake.model import ScanResult
from prunekit.lake.params import PREFER


def scan_json_path(path: str | Path) -> Path:
    """The scan file a scan argument names: ``containment.json`` itself or the folder holding it."""
    p = Path(path)
    return p / "containment.json" if p.is_dir() else p


def load_scan(path: str | Path) -> tuple[ScanResult, Path, str]:
    """A scan from ``containment.json`` or the folder holding it: ``(scan, json path, sha256)``."""
    p = scan_json_path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file (expected a scan folder or its containment.json)")
    if p.is_file() and p.stat().st_size == 0:
        raise InputError(f"{p}: the scan file is empty (0 bytes)")
    try:
        text = p.read_text()
        scan = ScanResult.from_json(text)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{p}: not a prunekit lake scan ({type(exc).__name__}: {exc})") from exc
    return scan, p, hashlib.sha256(text.encode()).hexdigest()


def read_access_csv(path: str | Path, known: Iterable[str]) -> tuple[dict[str, float], dict[str, float]]:
    """``(accesses, limits)`` from a CSV with columns ``table,accesses`` and optionally
    ``max_rebuild_seconds`` (empty = the default limit). Every table must be a table of the scan."""
    p = Path(path)
    known = set(known)
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise InputError(f"{p}: cannot read access counts: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: access counts are not UTF-8 text") from exc
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise InputError(f"{p}: empty; expected a header 'table,accesses'")
    header = [c.strip().lower() for c in rows[0]]
    if "table" not in header or "accesses" not in header:
        raise InputError(f"{p}: header must name columns 'table' and 'accesses', got {','.join(rows[0])}")
    it, ia = header.index("table"), header.index("accesses")
    il = header.index("max_rebuild_seconds") if "max_rebuild_seconds" in header else None
    accesses: dict[str, float] = {}
    limits: dict[str, float] = {}
    unknown: list[str] = []
    for lineno, r in enumerate(rows[1:], start=2):
        if len(r) < len(header):
            raise InputError(f"{p}: line {lineno}: expected {len(header)} fields, got {len(r)}")
        name = r[it].strip()
        if name in accesses:
            raise InputError(f"{p}: line {lineno}: table {name!r} is listed twice")
        accesses[name] = _number(p, lineno, "accesses", r[ia])
        if il is not None and r[il].strip():
            limits[name] = _number(p, lineno, "max_rebuild_seconds", r[il])
        if name not in known:
            unknown.append(name)
    if unknown:
        more = f" (and {len(unknown) - 10} more)" if len(unknown) > 10 else ""
        raise InputError(f"{p}: tables not in the scan: {', '.join(unknown[:10])}{more}")
    return accesses, limits


def _number(p: Path, lineno: int, what: str, text: str) -> float:
    try:
        v = float(text.strip())
    except ValueError:
        raise InputError(f"{p}: line {lineno}: {what} {text.strip()!r} is not a number") from None
    if not math.isfinite(v) or v < 0:
        raise InputError(f"{p}: line {lineno}: {what} must be a finite number >= 0, got {text.strip()}")
    return v


def resolve_pins(patterns: Iterable[str], names: Iterable[str]) -> set[str]:
    """Table names matched by ``--pin`` values (exact names or shell globs); each must match."""
    names = sorted(names)
    out: set[str] = set()
    for pat in patterns:
        hit = [n for n in names if n == pat] or [n for n in names if fnmatch.fnmatchcase(n, pat)]
        if not hit:
            raise ConfigError(f"--pin {pat!r} matches no table of the scan")
        out.update(hit)
    return out


def check_prefer(prefer) -> tuple[str, ...]:
    """``prefer`` as a tuple of globs (``None``: none; one string: one glob), each a string."""
    if prefer is None:
        return ()
    if isinstance(prefer, str):
        return (prefer,)
    try:
        globs = tuple(prefer)
    except TypeError:
        raise PREFER.error(prefer) from None
    return tuple(PREFER.check(g) for g in globs)


def check_prefer_matches(prefer: Iterable[str], paths: Iterable[str]) -> None:
    """Each ``--prefer`` glob must match some table's lake-relative path (a typo is an error)."""
    paths = list(paths)
    for g in prefer:
        if not any(fnmatch.fnmatchcase(p, g) for p in paths):
            raise ConfigError(f"--prefer {g!r} matches no table path of the scan (paths are relative to "
                              f"the lake root, with their extension, e.g. 'warehouse/**')")


def table_mtimes(scan: ScanResult, names: Iterable[str]) -> dict[str, float | None]:
    """Modification time of each table (a folder of parts: its newest file); None when gone."""
    from prunekit.lake.tableio import table_files

    out: dict[str, float | None] = {}
    for n in names:
        try:
            out[n] = max(f.stat().st_mtime for f in table_files(scan.profiles[n].path))
        except (OSError, ValueError):
            out[n] = None
    return out


def measure_recipes(scan: ScanResult, candidates) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], str]]:
    """The exact size of the recipe ``apply`` would write for each candidate ``(child, parent)``:
    the recipe is built from the same files, with the same arguments, and serialised as ``save``
    writes it (``Recipe.nbytes``); nothing is written. Returns ``(bytes, refusals)``: a candidate
    without an exact recipe (a ``-0.0`` or NaN payload found nowhere bit-identical in the parent)
    is refused with the reason, as apply would refuse it.

    Parents are read once each (children are read for each of their parents) and every table
    must still have the checksum the scan recorded: a table missing or changed since the scan is an
    ``InputError`` (scan again), as it would make apply refuse the whole plan."""
    from prunekit.lake import tableio
    from prunekit.lake.errors import RecipeError
    from prunekit.lake.recipe import build_recipe

    prof = scan.profiles
    root = Path(scan.root).resolve()
    checked: set[str] = set()

    def read(name: str):
        p = prof[name]
        if name not in checked:
            path = Path(p.path)
            if not tableio.table_exists(path):   # a file or folder, or an Iceberg catalog entry
                raise InputError(f"{name}: missing ({path}) since the scan of {scan.root}; scan again")
            if tableio.file_checksum(path) != p.checksum:
                raise InputError(f"{name}: changed since the scan of {scan.root} (checksum); scan again")
            checked.add(name)
        return tableio.read_table(p.path, p.format)

    by_parent: dict[str, list] = {}
    for c in candidates:
        by_parent.setdefault(c.parent, []).append(c)
    sizes: dict[tuple[str, str], int] = {}
    refused: dict[tuple[str, str], str] = {}
    for parent in sorted(by_parent):
        parent_t = read(parent)
        for c in sorted(by_parent[parent], key=lambda c: c.child):
            cp, pp = prof[c.child], prof[parent]
            try:
                recipe = build_recipe(Path(cp.path), Path(pp.path), child_name=c.child, parent_name=parent,
                                      child_format=cp.format, parent_format=pp.format,
                                      semantics=c.semantics, root=root,
                                      child_table=read(c.child), parent_table=parent_t,
                                      child_checksum=cp.checksum, parent_checksum=pp.checksum)
            except RecipeError as exc:
                refused[(c.child, parent)] = str(exc)
                continue
            sizes[(c.child, parent)] = recipe.nbytes()
    return sizes, refused
