"""The deletion plan's inputs: a saved scan, per-table access counts (CSV), and pinned tables."""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import math
from pathlib import Path
from typing import Iterable

from prunekit.errors import ConfigError, InputError
from prunekit.lake.model import ScanResult


def load_scan(path: str | Path) -> tuple[ScanResult, Path, str]:
    """A scan from ``containment.json`` or the folder holding it: ``(scan, json path, sha256)``."""
    p = Path(path)
    if p.is_dir():
        p = p / "containment.json"
    if not p.exists():
        raise InputError(f"{p}: no such file (expected a scan folder or its containment.json)")
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
