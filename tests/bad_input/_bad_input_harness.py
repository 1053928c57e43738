"""The bad-input harness: every case is one line of data, checked the same way.

A :class:`Case` is ``(argv builder, expected exit, keywords, setup)``. :func:`run_case` runs the
case's setup, snapshots every file, folder and link under the case's own folder *and* under the
shared artefact stores (sha256 of every file), calls ``prunekit.cli.main`` in process, then checks:

- the exit code (2 for user errors; 1 only where a command documents partial refusal);
- stderr is exactly one non-empty line, starting ``error:``; no ``Traceback`` on stdout or stderr;
- the error line names the problem: every keyword occurs in it (case-insensitive); a tuple of
  keywords means "one of these"; a keyword may be a callable of the context (a path);
- nothing was written, changed or removed: the snapshots are equal (no output, no temporary file,
  no ``.prunekit-trash``, no lock, no new entry in prunekit's cache ``$PRUNEKIT_CACHE``), except
  paths a case lists in ``allow_new``.

Shared artefacts (a tiny data set, its score table and selection, a scanned lake and its plan, a
sparse checkpoint) are built once per session in a :class:`Store`; a case may change them in its
setup (to plant a mismatch) and the store is put back from its pristine copy after every case that
left it different, so one failing case cannot spoil the next.

A module of its own rather than conftest.py: test modules import from it (``from conftest import``
resolves to whichever conftest.py pytest imported last).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import pytest

from prunekit.cli import main

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# ----------------------------------------------------------------------------- snapshots


def snapshot(root: Path, *, content: bool = True) -> dict[str, tuple]:
    """Every entry under ``root`` (itself excluded): relative path → ("dir",) / ("link", target) /
    ("file", sha256) — ("file", size) when not ``content``. Links are not followed."""
    out: dict[str, tuple] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir",)
            elif not content:
                out[rel] = ("file", p.stat().st_size)
            else:
                h = hashlib.sha256()
                with open(p, "rb") as fh:
                    for block in iter(lambda: fh.read(1 << 20), b""):
                        h.update(block)
                out[rel] = ("file", h.hexdigest())
    return out


def diff(before: dict[str, tuple], after: dict[str, tuple]) -> dict[str, list[str]]:
    return {
        "new": sorted(set(after) - set(before)),
        "gone": sorted(set(before) - set(after)),
        "changed": sorted(k for k in set(before) & set(after) if before[k] != after[k]),
    }


class Store:
    """A folder of shared artefacts with a pristine copy to put it back from."""

    def __init__(self, root: Path):
        self.root = root
        self._pristine: Path | None = None
        self._snap: dict[str, tuple] | None = None

    def freeze(self) -> "Store":
        """Call once the store is built: remember it as it is now."""
        self._pristine = self.root.with_name(self.root.name + "-pristine")
        if self._pristine.exists():
            shutil.rmtree(self._pristine)
        shutil.copytree(self.root, self._pristine, symlinks=True)
        self._snap = snapshot(self.root)
        return self

    def restore_if_changed(self) -> None:
        if snapshot(self.root) != self._snap:
            shutil.rmtree(self.root)
            shutil.copytree(self._pristine, self.root, symlinks=True)


# ----------------------------------------------------------------------------- cases


@dataclass
class Ctx:
    """What an argv builder or a setup sees: the case's own folder ``tmp`` and the shared stores
    by name (``ctx.data``, ``ctx.lake``, ``ctx.ck`` …: the store folders)."""

    tmp: Path
    stores: dict[str, Path] = field(default_factory=dict)
    cleanups: list[Callable[[], Any]] = field(default_factory=list)

    def __getattr__(self, name: str) -> Path:
        try:
            return self.__dict__["stores"][name]
        except KeyError:
            raise AttributeError(name) from None


Word = Any  # str | tuple[str, ...] | Callable[[Ctx], str]


@dataclass(frozen=True)
class Case:
    cls: int                                   # the class (1–7)
    name: str
    argv: Callable[[Ctx], Sequence[Any]]
    words: tuple[Word, ...] = ()
    code: int = 2
    setup: Callable[[Ctx], Any] | None = None  # runs before the snapshot; may register ctx.cleanups
    allow_new: tuple[str, ...] = ()            # case-folder paths a refusal may leave (documented)
    root_only_skip: bool = False               # a permission case: root ignores permissions

    @property
    def id(self) -> str:
        return f"c{self.cls}-{self.name}"


def params(cases: Iterable[Case]) -> list:
    cases = list(cases)
    ids = [c.id for c in cases]
    dup = {i for i in ids if ids.count(i) > 1}
    assert not dup, f"duplicate case ids: {dup}"
    return [pytest.param(c, id=c.id) for c in cases]


def _word(ctx: Ctx, w: Word) -> Any:
    if callable(w):
        return str(w(ctx))
    return w


def run_case(case: Case, ctx: Ctx, capsys, stores: Sequence[Store]) -> None:
    if case.root_only_skip and IS_ROOT:
        pytest.skip("running as root: permissions are not enforced")
    try:
        if case.setup is not None:
            case.setup(ctx)
        roots = {"case folder": ctx.tmp, **{f"store {s.root.name}": s.root for s in stores}}
        if os.environ.get("PRUNEKIT_CACHE"):  # the run's private cache (tests/conftest.py): names
            roots["prunekit cache"] = Path(os.environ["PRUNEKIT_CACHE"])  # and sizes (it may be big)
        shot = lambda k, r: snapshot(r, content=k != "prunekit cache")  # noqa: E731
        before = {k: shot(k, r) for k, r in roots.items()}
        argv = [str(a) for a in case.argv(ctx)]
        capsys.readouterr()
        try:
            code = main(argv)
        finally:
            for fn in reversed(ctx.cleanups):
                fn()
            ctx.cleanups.clear()
        cap = capsys.readouterr()
        after = {k: shot(k, r) for k, r in roots.items()}
        shown = f"\nargv: {argv}\nexit: {code}\nstderr: {cap.err!r}\nstdout (end): {cap.out[-600:]!r}"

        assert "Traceback" not in cap.err and "Traceback" not in cap.out, shown
        lines = [ln for ln in cap.err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), "expected one 'error:' line" + shown
        assert code == case.code, f"exit {code}, expected {case.code}" + shown
        msg = lines[0].lower()
        for w in case.words:
            w = _word(ctx, w)
            alts = w if isinstance(w, tuple) else (w,)
            alts = tuple(_word(ctx, a) for a in alts)
            assert any(str(a).lower() in msg for a in alts), f"message does not name {alts}" + shown
        for where in roots:
            d = diff(before[where], after[where])
            if where == "case folder":
                d["new"] = [p for p in d["new"] if p not in case.allow_new]
            assert not any(d.values()), f"{where} changed: {d}" + shown
    finally:
        for fn in reversed(ctx.cleanups):
            fn()
        ctx.cleanups.clear()
        for s in stores:
            s.restore_if_changed()


# ----------------------------------------------------------------------------- setups shared by the suites


def write(name: str, content: bytes | str | None = None, *, copy_of=None, head: float | None = None):
    """Setup: a file in the case folder — given bytes/text, or a copy of a store file (``head``:
    only that fraction of its bytes, a truncated file)."""
    def setup(c):
        p = c.tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if copy_of is not None:
            data = copy_of(c).read_bytes()
            p.write_bytes(data if head is None else data[: int(len(data) * head)])
        elif isinstance(content, str):
            p.write_text(content, encoding="utf-8")
        else:
            p.write_bytes(content or b"")
    return setup


def mkdir(name: str, mode: int | None = None):
    """Setup: a folder in the case folder (``mode``: its permissions, restored afterwards)."""
    def setup(c):
        p = c.tmp / name
        p.mkdir(parents=True)
        if mode is not None:
            p.chmod(mode)
            c.cleanups.append(lambda: p.chmod(0o755))
    return setup


def symlink(name: str, target, *, folder: bool = False):
    """Setup: ``ctx.tmp/name`` → ``target(ctx)``."""
    def setup(c):
        os.symlink(target(c), c.tmp / name, target_is_directory=folder)
    return setup


def hardlink(name: str, target):
    def setup(c):
        os.link(target(c), c.tmp / name)
    return setup


def both(*setups):
    """Setup: several setups in order."""
    def setup(c):
        for s in setups:
            s(c)
    return setup
