"""Apply a deletion plan safely, restore deleted tables exactly, purge the trash.

Nothing is ever deleted on the way in. ``apply_plan`` moves each planned table into a trash area
inside the lake, ``<root>/.prunekit-trash/<quoted name>/`` (a dot-folder, so scans skip it), next
to its recipe, and only after the recipe has been built, read back, and shown to rebuild the table
exactly. ``restore`` moves it back (byte-identical) or, once purged, rebuilds it from the recipe.
``purge`` deletes the trash copy — the only irreversible step — and keeps the recipe.

Per table, apply goes through these steps, each recorded in an append-only, fsync'd journal
(``<root>/.prunekit-trash/journal.jsonl``) *after* the action it names:

    intent → recipe (written) → verified (rebuild == table) → moved (into the trash) → done

A crash leaves the last step in the journal and the files somewhere between two steps. Every lake
command (plan, apply, restore, purge, trash) first takes the lake's lock and runs ``recover``:
an apply that did not reach ``done`` is rolled back (the table is moved back in place if it had
been moved, its trash entry removed) — the journal is read together with the file system, so a step
done but not yet journaled is found too. Interrupted restores either completed their final rename
(then they are finished) or did not (then the table stays in the trash); interrupted purges are
finished, since their checks had passed. After recovery every table is in place or fully restorable.

Test hook: with ``PRUNEKIT_LAKE_CRASH_AT=<point>[:<n>]`` in the environment the process kills
itself with SIGKILL the n-th time (default first) it reaches ``<point>``; points are the journal
steps ``intent``, ``recipe``, ``verified``, ``moved``, ``done``, ``restore-intent``,
``purge-intent``, plus ``recipe-partial`` (positions written, recipe.json not yet),
``moved-unjournaled`` (table moved, journal not yet written), ``restore-moved`` and
``purge-partial``. It exists only so tests can kill a real ``prunekit lake apply`` mid-way.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import quote

from prunekit._progress import progress
from prunekit.errors import InputError, PrunekitError
from prunekit.lake import tableio
from prunekit.lake._crash import CRASH_ENV, crash_point
from prunekit.lake.recipe import Recipe, RecipeError, build_recipe, rebuild, table_difference, write_like

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


class PlanMismatch(InputError):
    """The plan no longer describes the lake (tables missing or changed since the scan)."""


# --- layout, journal, lock -----------------------------------------------------------------------


def trash_root(root: str | Path) -> Path:
    return Path(root) / TRASH_DIR


def entry_dir(root: str | Path, name: str) -> Path:
    """A table's trash folder: its name with '/' quoted, so every table gets one flat folder."""
    return trash_root(root) / quote(name, safe="")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _fsync_dir(path: Path) -> None:
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
        record = {"time": _now(), **record}
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
            _fsync_dir(self.path.parent)
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


@contextlib.contextmanager
def lake_lock(root: str | Path) -> Iterator[None]:
    """One prunekit lake command at a time per lake (an exclusive ``flock``, freed by the kernel
    even when the holder is killed)."""
    t = trash_root(root)
    t.mkdir(exist_ok=True)
    fd = os.open(t / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locks, run one at a time
            fcntl = None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise InputError(f"another prunekit lake command is working on {root} "
                                 f"(lock {t / LOCK}); try again when it has finished") from None
        yield
    finally:
        os.close(fd)


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


def _data_path(root: Path, e: Entry) -> Path:
    return entry_dir(root, e.name) / "data" / Path(e.original).name


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def recover(root: str | Path, echo: Echo | None = None) -> list[str]:
    """Finish or roll back whatever an interrupted command left; returns one line per table.

    Call with the lake's lock held (every command in this module does)."""
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
        data = _data_path(root, e)
        if e.state == "applying":
            if orig.exists() and data.exists():
                raise InputError(f"recovery: {e.name} exists both in place ({orig}) and in the trash "
                                 f"({data}); resolve by hand, then remove {edir}")
            if data.exists():
                os.rename(data, orig)
                _fsync_dir(orig.parent)
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


# --- apply ---------------------------------------------------------------------------------------


@dataclass
class ApplyReport:
    root: str
    execute: bool
    rows: list[dict[str, Any]] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)

    @property
    def deleted(self) -> list[str]:
        return [r["table"] for r in self.rows if r["outcome"] == "deleted"]

    @property
    def refused(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["outcome"] == "refused"]

    @property
    def bytes(self) -> int:
        return sum(r["size_bytes"] for r in self.rows if r["outcome"] in ("deleted", "would delete"))


class _Checksums:
    """sha256 of each path at most once per check round (parents are shared by many children)."""

    def __init__(self) -> None:
        self._memo: dict[Path, str] = {}

    def __call__(self, path: Path) -> str:
        if path not in self._memo:
            self._memo[path] = tableio.file_checksum(path)
        return self._memo[path]


def _relpath(path: str | Path, root: Path) -> str | None:
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return None


def apply_plan(plan: Mapping[str, Any] | str | Path, *, execute: bool = False,
               echo: Echo | None = None, plan_source: str | None = None,
               show_progress: bool | None = None) -> ApplyReport:
    """Dry run (default) or execute a plan. Raises ``PlanMismatch`` — before touching anything —
    when a planned table or parent is missing or changed since the scan (checksums)."""
    from prunekit.lake.plan import load_plan, validate_plan

    if not isinstance(plan, Mapping):
        plan_source = plan_source or str(plan)
        plan = load_plan(plan)
    else:
        plan = validate_plan(plan)
    root = Path(plan["scan"]["root"]).resolve()
    if not root.is_dir():
        raise PlanMismatch(f"the plan's lake root {root} does not exist")
    report = ApplyReport(root=str(root), execute=execute)
    say = echo or (lambda s: None)
    has_trash = trash_root(root).exists()
    lock = lake_lock(root) if (execute or has_trash) else contextlib.nullcontext()
    with lock:
        if has_trash:
            report.recovered = recover(root, say)
        state = lake_state(root) if has_trash else {}
        todo = _check_plan(plan, root, state, report)
        if not execute:
            for d in todo:
                report.rows.append(_row(plan, d, "would delete", f"→ {entry_dir(root, d['table'])}"))
            return report
        journal = Journal(root)
        run = uuid.uuid4().hex[:12]
        cache: dict[str, Any] = {}
        with progress(len(todo), "apply", show_progress) as advance:
            for d in sorted(todo, key=lambda d: (d["parent"], d["table"])):
                row = _apply_one(plan, d, root, journal, run, plan_source, cache)
                report.rows.append(row)
                say(f"{row['outcome']} {row['table']}: {row['detail']}")
                advance(1)
    return report


def _row(plan, d, outcome: str, detail: str) -> dict[str, Any]:
    return {"table": d["table"], "parent": d["parent"], "size_bytes": plan["tables"][d["table"]]["size_bytes"],
            "outcome": outcome, "detail": detail}


def _check_plan(plan, root: Path, state: dict[str, Entry], report: ApplyReport) -> list[dict[str, Any]]:
    tables = plan["tables"]
    checksum = _Checksums()
    problems: list[str] = []
    todo = []
    in_trash_parents = {e.info.get("parent"): e.name for e in state.values()
                        if e.state in ("deleted", "purged") and e.info.get("parent")}
    for d in plan["deletions"]:
        name, parent = d["table"], d["parent"]
        ct, pt = tables[name], tables[parent]
        cpath, ppath = Path(ct["path"]), Path(pt["path"])
        if _relpath(cpath, root) is None or _relpath(ppath, root) is None:
            problems.append(f"{name}: not inside the lake root {root}")
            continue
        e = state.get(name)
        if e is not None and e.state in ("deleted", "purged"):
            if e.info.get("checksum") == ct["checksum"] and e.info.get("parent") == parent:
                report.rows.append(_row(plan, d, "already deleted", f"in {entry_dir(root, name)}"))
            else:
                problems.append(f"{name}: already in the trash from another plan")
            continue
        if not cpath.exists():
            problems.append(f"{name}: missing ({cpath})")
            continue
        if checksum(cpath) != ct["checksum"]:
            problems.append(f"{name}: changed since the scan (checksum)")
            continue
        if not ppath.exists():
            problems.append(f"{parent} (parent of {name}): missing ({ppath})")
            continue
        if checksum(ppath) != pt["checksum"]:
            problems.append(f"{parent} (parent of {name}): changed since the scan (checksum)")
            continue
        if name in in_trash_parents:
            problems.append(f"{name}: {in_trash_parents[name]} in the trash is rebuilt from it")
            continue
        todo.append(d)
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise PlanMismatch(f"the plan does not match the lake {root}: {'; '.join(problems[:5])}{more}; "
                           f"scan and plan again")
    return todo


def _apply_one(plan, d, root: Path, journal: Journal, run: str, plan_source, cache) -> dict[str, Any]:
    name, parent = d["table"], d["parent"]
    ct, pt = plan["tables"][name], plan["tables"][parent]
    cpath, ppath = Path(ct["path"]), Path(pt["path"])
    edir = entry_dir(root, name)
    if edir.exists():
        return _row(plan, d, "refused", f"a trash entry {edir} already exists (left by hand?)")
    journal.append(op="apply", step="intent", table=name, run=run, plan=plan_source,
                   relpath=_relpath(cpath, root), format=ct["format"], size_bytes=ct["size_bytes"],
                   checksum=ct["checksum"], parent=parent, parent_relpath=_relpath(ppath, root),
                   parent_checksum=pt["checksum"])
    crash_point("intent")
    try:
        child_t = tableio.read_table(cpath, ct["format"])
        if cache.get("name") != parent:
            cache.clear()
            cache.update(name=parent, table=tableio.read_table(ppath, pt["format"]))
        parent_t = cache["table"]
        recipe = build_recipe(cpath, ppath, child_name=name, parent_name=parent,
                              child_format=ct["format"], parent_format=pt["format"],
                              semantics=d.get("semantics", "bag"), root=root,
                              child_table=child_t, parent_table=parent_t,
                              child_checksum=ct["checksum"], parent_checksum=pt["checksum"])
        recipe.save(edir)
        journal.append(op="apply", step="recipe", table=name, run=run)
        crash_point("recipe")
        # Verify what is on disk, not what is in memory: the saved recipe must rebuild the table.
        loaded = Recipe.load(edir)
        rebuilt = rebuild(loaded, root=root, parent_table=parent_t)
        diff = table_difference(child_t, rebuilt)
        if diff:
            raise RecipeError(f"the rebuild differs from the table: {diff}")
        # After a purge the table comes back through write_like: prove now that its format
        # (CSV especially) reads back identically, or refuse while the original still exists.
        scratch = edir / ".rewrite-check"
        scratch.mkdir()
        try:
            write_like(rebuilt, loaded.child, scratch / cpath.name, verify=True)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        journal.append(op="apply", step="verified", table=name, run=run,
                       fingerprint=loaded.child["fingerprint"], digest=loaded.child["digest"])
        crash_point("verified")
        # Last look before the move: neither file changed since the recipe was made from them.
        if tableio.file_checksum(cpath) != ct["checksum"]:
            raise RecipeError(f"{name} changed while it was being applied")
        if tableio.file_checksum(ppath) != pt["checksum"]:
            raise RecipeError(f"its parent {parent} changed while it was being applied")
        (edir / "data").mkdir()
        os.rename(cpath, edir / "data" / cpath.name)
        _fsync_dir(cpath.parent)
        _fsync_dir(edir / "data")
        crash_point("moved-unjournaled")
        journal.append(op="apply", step="moved", table=name, run=run)
        crash_point("moved")
        journal.append(op="apply", step="done", table=name, run=run)
        crash_point("done")
    except (PrunekitError, OSError) as exc:
        _undo(edir, cpath)
        reason = str(exc) if isinstance(exc, PrunekitError) else f"{exc.strerror or exc}: {exc.filename or ''}"
        journal.append(op="apply", step="refused", table=name, run=run, reason=reason)
        return _row(plan, d, "refused", reason)
    return _row(plan, d, "deleted", f"rebuildable from {parent}; moved to {edir / 'data' / cpath.name}")


def _undo(edir: Path, cpath: Path) -> None:
    """Put a refused table back as it was: in place, no trash entry. Refusals are raised before
    the move, but an OS error after it must not take the moved table down with the entry."""
    moved = edir / "data" / cpath.name
    if moved.exists() and not cpath.exists():
        os.rename(moved, cpath)
        _fsync_dir(cpath.parent)
    if edir.exists() and not moved.exists():
        shutil.rmtree(edir)


# --- restore -------------------------------------------------------------------------------------


def find_lake(start: str | Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the current one) holding a trash."""
    p = Path(start or Path.cwd()).resolve()
    for cand in (p, *p.parents):
        if trash_root(cand).is_dir():
            return cand
    raise InputError(f"no {TRASH_DIR} folder at or above {p}; pass --lake ROOT")


def _entry_or_error(root: Path, name: str, states: tuple[str, ...]) -> Entry:
    state = lake_state(root)
    e = state.get(name)
    if e is None or e.state not in states:
        known = sorted(n for n, x in state.items() if x.state in ("deleted", "purged"))
        hint = f"; in the trash: {', '.join(known[:8])}" + (" …" if len(known) > 8 else "") if known else \
            "; the trash is empty"
        what = f" (it is {e.state.replace('_', ' ')})" if e is not None else ""
        raise InputError(f"{name} is not in the trash of {root}{what}{hint}")
    return e


def restore(root: str | Path, name: str, *, from_recipe: bool = False, echo: Echo | None = None) -> dict[str, Any]:
    """Put a deleted table back where it was.

    While the trash copy exists (not purged) and its checksum equals the recorded one, it is moved
    back: byte-identical, for CSV and Parquet alike, whatever happened to the parent since. Otherwise
    (or with ``from_recipe``) the table is rebuilt from the recipe — refused when the parent is gone
    or its checksum changed — and written in its recorded format and layout; the result reads back
    (``tableio.read_table``) with the same rows in the same order, column names and types, checked
    before it takes its name. Rebuilt bytes may differ from the original's (Parquet encoder and
    compression details, CSV quoting and float spelling); the report says whether they do.
    """
    root = Path(root).resolve()
    if not trash_root(root).is_dir():
        raise InputError(f"{root} has no {TRASH_DIR}: nothing was deleted there")
    say = echo or (lambda s: None)
    with lake_lock(root):
        recover(root, say)
        e = _entry_or_error(root, name, ("deleted", "purged"))
        orig = root / e.original
        if orig.exists():
            raise InputError(f"{orig} exists; move it away before restoring {name}")
        edir = entry_dir(root, name)
        data = _data_path(root, e)
        journal = Journal(root)
        note = ""
        # The trash copy needs no recipe: its checksum is in the journal too, so a damaged recipe
        # does not stand between a user and intact bytes.
        try:
            recipe: Recipe | None = Recipe.load(edir)
        except RecipeError:
            if from_recipe or e.state != "deleted" or not data.exists():
                raise
            recipe = None
        if not from_recipe and e.state == "deleted" and data.exists():
            expected = recipe.child["checksum"] if recipe is not None else e.info.get("checksum")
            if tableio.file_checksum(data) == expected:
                journal.append(op="restore", step="restore-intent", table=name, mode="trash",
                               from_state=e.state)
                crash_point("restore-intent")
                orig.parent.mkdir(parents=True, exist_ok=True)
                os.rename(data, orig)
                _fsync_dir(orig.parent)
                crash_point("restore-moved")
                shutil.rmtree(edir)
                journal.append(op="restore", step="restored", table=name, mode="trash")
                rows = recipe.child["rows"] if recipe is not None else tableio.read_table(orig, e.info.get("format")).num_rows
                return {"table": name, "path": str(orig), "mode": "trash", "byte_identical": True,
                        "rows": rows, "detail": "moved back from the trash (byte-identical)"}
            if recipe is None:
                raise RecipeError(f"{name}: the recipe is damaged and the trash copy does not match its checksum")
            note = "the trash copy does not match its checksum; "
        table = rebuild(recipe, root=root)
        if tableio.fingerprint(table) != recipe.child["fingerprint"]:
            raise RecipeError(f"rebuilding {name} does not reproduce its fingerprint")
        journal.append(op="restore", step="restore-intent", table=name, mode="rebuild", from_state=e.state)
        crash_point("restore-intent")
        orig.parent.mkdir(parents=True, exist_ok=True)
        write_like(table, recipe.child, orig, verify=True)
        _fsync_dir(orig.parent)
        crash_point("restore-moved")
        same_bytes = tableio.file_checksum(orig) == recipe.child["checksum"]
        shutil.rmtree(edir)
        journal.append(op="restore", step="restored", table=name, mode="rebuild", byte_identical=same_bytes)
        return {"table": name, "path": str(orig), "mode": "rebuild", "byte_identical": same_bytes,
                "rows": table.num_rows,
                "detail": f"{note}rebuilt from {recipe.parent['name']} "
                          f"({'byte-identical' if same_bytes else 'content-identical; bytes differ'})"}


# --- purge ---------------------------------------------------------------------------------------


def purge(root: str | Path, names: list[str] | None = None, *, execute: bool = False,
          echo: Echo | None = None) -> list[dict[str, Any]]:
    """Delete the trash copies (recipes stay) of tables whose recipe was verified at apply *and*
    still rebuilds them now from an unchanged parent; refuse the others, each with its reason.
    Dry run unless ``execute``."""
    root = Path(root).resolve()
    if not trash_root(root).is_dir():
        raise InputError(f"{root} has no {TRASH_DIR}: nothing to purge")
    say = echo or (lambda s: None)
    rows = []
    with lake_lock(root):
        recover(root, say)
        state = lake_state(root)
        if names:
            chosen = [_entry_or_error(root, n, ("deleted", "purged")) for n in names]
        else:
            chosen = sorted((e for e in state.values() if e.state == "deleted"), key=lambda e: e.name)
        journal = Journal(root)
        for e in chosen:
            data = _data_path(root, e)
            size = _tree_bytes(data.parent)
            if e.state == "purged":
                rows.append({"table": e.name, "size_bytes": 0, "outcome": "already purged", "detail": ""})
                continue
            reason = _purge_refusal(root, e, data)
            if reason:
                rows.append({"table": e.name, "size_bytes": size, "outcome": "refused", "detail": reason})
                say(f"refused {e.name}: {reason}")
                continue
            if not execute:
                rows.append({"table": e.name, "size_bytes": size, "outcome": "would purge",
                             "detail": "recipe verified; parent unchanged"})
                continue
            journal.append(op="purge", step="purge-intent", table=e.name)
            crash_point("purge-intent")
            _rmtree_with_hook(data.parent)
            journal.append(op="purge", step="purged", table=e.name)
            rows.append({"table": e.name, "size_bytes": size, "outcome": "purged",
                         "detail": f"recipe kept in {entry_dir(root, e.name)}"})
            say(f"purged {e.name}: {size:,} bytes")
    return rows


def _purge_refusal(root: Path, e: Entry, data: Path) -> str | None:
    if not e.info.get("verified"):
        return "its recipe was never verified"
    try:
        recipe = Recipe.load(entry_dir(root, e.name))
        rebuilt = rebuild(recipe, root=root)  # refuses a gone or changed parent
    except RecipeError as exc:
        return f"{exc}; purging would make it unrecoverable (restore it first, or keep it)"
    if data.exists() and tableio.file_checksum(data) == recipe.child["checksum"]:
        # Compare against the real table one last time, while it still exists.
        diff = table_difference(tableio.read_table(data, recipe.child["format"]), rebuilt)
        if diff:
            return f"the recipe does not rebuild the trash copy: {diff}"
    return None


def _rmtree_with_hook(path: Path) -> None:
    if os.environ.get(CRASH_ENV, "").startswith("purge-partial"):
        files = sorted(p for p in path.rglob("*") if p.is_file())
        if files:
            files[0].unlink()
            crash_point("purge-partial")
    shutil.rmtree(path)


def _tree_bytes(path: Path) -> int:
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- listing -------------------------------------------------------------------------------------


def trash_entries(root: str | Path, echo: Echo | None = None) -> list[dict[str, Any]]:
    """Tables in the trash (after recovering any interrupted command): name, state, parent, size."""
    root = Path(root).resolve()
    if not trash_root(root).is_dir():
        return []
    with lake_lock(root):
        recover(root, echo)
        out = []
        for e in sorted(lake_state(root).values(), key=lambda x: x.name):
            if e.state not in ("deleted", "purged"):
                continue
            out.append({"table": e.name, "state": e.state, "parent": e.info.get("parent"),
                        "path": e.original, "size_bytes": e.info.get("size_bytes"),
                        "trash_bytes": _tree_bytes(entry_dir(root, e.name) / "data")})
        return out
