"""Symbolic links in a lake: what a scan makes of them, and the checks that keep apply, restore and
purge on real files inside the lake root.

A table is its *real* path inside the lake root; a link never becomes a table (the scan never
follows one, so a link to a parent folder cannot multiply the lake):

- a link to a table, or to a folder inside the root, is an ``Alias``: reported, never profiled,
  planned or moved — what it reaches is scanned once, under its real path;
- a loop, a dangling link, a link that leaves the root or one into a hidden folder is a
  ``Skipped`` entry of kind ``"link"`` naming the link and why; the rest of its folder is scanned.

``unreal_path`` says why a path is not a real file or folder inside the root: apply, restore and
purge refuse such a table (moving ``lake/latest/t.parquet`` through ``latest -> sales`` would move
``lake/sales/t.parquet``, a table the plan keeps).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from prunekit.lake.model import Alias, Skipped

TABLE_SUFFIXES = (".parquet", ".csv")


def _target_text(link: Path) -> str:
    try:
        return os.readlink(link)
    except OSError:
        return "?"


def _inside(root: Path, path: Path) -> Path | None:
    """``path`` relative to ``root`` (both taken as spelled), or None when it is not below it."""
    try:
        return path.relative_to(root)
    except ValueError:
        return None


def classify_links(root: Path, links: list[Path], tables: dict[Path, str]) -> tuple[list[Alias], list[Skipped]]:
    """Aliases and skipped entries for the links found under the (resolved) ``root``; ``tables``
    maps each table's real path to its name."""
    aliases: list[Alias] = []
    skipped: list[Skipped] = []
    for link in links:
        shown = _target_text(link)
        try:
            target = Path(os.path.realpath(link, strict=True))
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                why = f"link loop ({link.name} -> {shown}): not followed"
            elif exc.errno == errno.ENOENT:
                why = f"dangling link to {shown}: nothing there"
            else:
                why = f"cannot follow link to {shown}: {exc.strerror or exc}"
            skipped.append(Skipped(str(link), why, kind="link"))
            continue
        rel = _inside(root, target)
        if rel is None:
            skipped.append(Skipped(str(link), f"link to {target}, outside the lake root: not followed", kind="link"))
            continue
        where = rel.as_posix()
        if any(part.startswith(".") for part in rel.parts):
            skipped.append(Skipped(str(link), f"link into the hidden {where}: not followed", kind="link"))
            continue
        table = next((tables[p] for p in (target, *target.parents) if p in tables), None)
        if table is not None or target.is_dir():
            aliases.append(Alias(path=str(link), target=where, table=table))
        elif link.name.lower().endswith(TABLE_SUFFIXES):
            skipped.append(Skipped(str(link), f"link to {where}, which is not a table", kind="link"))
        # else: a link to a file that is no table, ignored like that file itself
    return aliases, skipped


def links_under(folder: Path) -> list[str]:
    """The links inside ``folder`` (any depth, not followed), relative to it, sorted."""
    out = []
    for d, dirs, files in os.walk(folder):
        for n in dirs + files:
            p = Path(d, n)
            if p.is_symlink():
                out.append(p.relative_to(folder).as_posix())
    return sorted(out)


def link_on_path(root: Path, path: Path) -> Path | None:
    """The first link among ``path`` and its folders below ``root`` (None when there is none)."""
    rel = _inside(root, path)
    if rel is None:
        return None
    cur = root
    for part in rel.parts:
        cur = cur / part
        if cur.is_symlink():
            return cur
    return None


def unreal_path(root: Path, path: str | Path, *, hidden_ok: bool = False) -> str | None:
    """Why ``path`` is not a real file or folder inside the (resolved) ``root``: outside it, under a
    hidden folder (unless ``hidden_ok``: the trash is one), through a link, or a folder holding
    links. None when it is real."""
    p = Path(path)
    rel = _inside(root, p) if p.is_absolute() and ".." not in p.parts else None
    if rel is None:
        return f"{p} is not inside the lake root {root}"
    if not hidden_ok and any(part.startswith(".") for part in rel.parts):
        return f"{p} is inside a hidden folder of the lake"
    link = link_on_path(root, p)
    if link is not None:
        what = "is" if link == p else f"goes through {link.relative_to(root).as_posix()}, which is"
        return f"{rel.as_posix()} {what} a link (-> {_target_text(link)}); prunekit touches only real files"
    if p.is_dir() and not p.is_symlink():
        inner = links_under(p)
        if inner:
            return f"{rel.as_posix()} holds links ({', '.join(inner[:3])}); prunekit touches only real files"
    return None


def visible_inside(root: Path, path: str | Path) -> bool:
    """Whether ``path`` (resolved as far as it exists) lies in the part of the lake a scan reads:
    inside ``root`` and under no hidden (dot) folder."""
    rel = _inside(Path(os.path.realpath(root)), Path(os.path.realpath(path)))
    return rel is not None and not any(part.startswith(".") for part in rel.parts)
