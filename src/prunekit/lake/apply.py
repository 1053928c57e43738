"""Apply a deletion plan safely: each planned table into the lake's trash, next to its recipe.

Nothing is ever deleted on the way in. ``apply_plan`` moves each planned table into the trash
(``trash``: layout, journal, lock, recovery) only after its recipe has been built, read back, and
shown to rebuild the table exactly. ``restore.restore`` moves it back (byte-identical) or, once purged,
rebuilds it from the recipe; ``purge.purge`` deletes the trash copy — the only irreversible step — and
keeps the recipe.

Per table, apply goes through these steps, each journaled *after* the action it names:

    intent → recipe (written) → verified (rebuild == table) → moved (into the trash) → done

A refusal (no exact recipe, a file changed meanwhile) puts the table back as it was and is
journaled as ``refused``; an interruption is rolled back by the next lake command (``trash.recover``).

Test hook: with ``PRUNEKIT_LAKE_CRASH_AT=<point>[:<n>]`` in the environment the process kills
itself with SIGKILL the n-th time (default first) it reaches ``<point>``; points are the journal
steps ``intent``, ``recipe``, ``verified``, ``moved``, ``done``, ``restore-intent``,
``purge-intent``, plus ``recipe-partial`` (positions written, recipe.json not yet),
``moved-unjournaled`` (table moved, journal not yet written), ``restore-moved`` and
``purge-partial``; for Iceberg tables ``iceberg-files`` and ``dropped-unjournaled``
(``iceberg_delete``), on object stores ``copied`` (``objectstore_trash``). It exists only so tests can kill a real ``prunekit lake apply`` mid-way.

Algorithm and parameters: docs/ALGORITHMS.md §4.11.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from prunekit._progress import progress
from prunekit.errors import PrunekitError
from prunekit.lake import iceberg_delete, objectstore, tableio, trash_steps
from prunekit.lake._crash import crash_point
from prunekit.lake.errors import PlanMismatch, RecipeError
from prunekit.lake.exact import table_difference
from prunekit.lake.links import unreal_path
from prunekit.lake.recipe import Recipe, build_recipe, rebuild
from prunekit.lake.table_layout import write_like
from prunekit.lake.trash import Echo, Entry, Journal, entry_dir, fsync_dir, lake_state, recovered, trash_root


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
    when a planned table or parent is missing or changed since the scan (checksums).

    The ``prunekit lake apply`` command: takes the lake's lock and recovers an interrupted command
    first; ``echo`` gets one line per recovered and per applied table."""
    from prunekit.lake.deletion_plan import load_plan, validate_plan

    if not isinstance(plan, Mapping):
        plan_source = plan_source or str(plan)
        plan = load_plan(plan)
    else:
        plan = validate_plan(plan)
    say = echo or (lambda s: None)
    if objectstore.is_uri(plan["scan"]["root"]):   # the trash in the bucket, the journal local
        from prunekit.lake import objectstore_trash
        return objectstore_trash.apply(plan, ApplyReport(root=plan["scan"]["root"], execute=execute),
                                       execute=execute, say=say, check=_check_plan, row=_row,
                                       plan_source=plan_source)
    root = Path(plan["scan"]["root"]).resolve()
    if not root.is_dir():
        raise PlanMismatch(f"the plan's lake root {root} does not exist")
    _refuse_unreal_paths(plan, root)   # before the lock: a refused plan leaves no trace
    report = ApplyReport(root=str(root), execute=execute)
    # A dry run on a lake never touched takes no lock: that would create the trash folder.
    touched = execute or trash_root(root).exists()
    lock = recovered(root, say) if touched else contextlib.nullcontext([])
    with lock as report.recovered:
        state = lake_state(root)
        todo = _check_plan(plan, root, state, report)
        if not execute:
            for d in todo:
                refusal = _format_refusal(plan["tables"][d["table"]], root)
                report.rows.append(_row(plan, d, "refused", refusal) if refusal else
                                   _row(plan, d, "would delete", f"→ {entry_dir(root, d['table'])}"))
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


def _refuse_unreal_paths(plan, root: Path) -> None:
    """Every planned table and parent must be a real file or folder inside the root: no link on its
    path (moving ``latest/t.parquet`` through ``latest -> sales`` would move ``sales/t.parquet``)."""
    names = dict.fromkeys(n for d in plan["deletions"] for n in (d["table"], d["parent"]))
    items = [f"{n}: {why}" for n in names if (why := unreal_path(root, plan["tables"][n]["path"]))]
    real: dict[str, str] = {}
    for n, t in plan["tables"].items():   # two names of one file: moving one would take the other
        other = real.setdefault(os.path.realpath(t["path"]), n)
        if other != n and (n in names or other in names):
            items.append(f"{other} and {n} are the same file {t['path']}")
    if items:
        more = f" (and {len(items) - 5} more)" if len(items) > 5 else ""
        raise PlanMismatch(f"refusing the plan for {root}, nothing was moved: {'; '.join(items[:5])}{more}; "
                           "scan again (links are reported as aliases, never as tables) and plan again")


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
        e = state.get(name)
        if e is not None and e.state in ("deleted", "purged"):
            if e.info.get("checksum") == ct["checksum"] and e.info.get("parent") == parent:
                report.rows.append(_row(plan, d, "already deleted", f"in {entry_dir(root, name)}"))
            else:
                problems.append(f"{name}: already in the trash from another plan")
            continue
        drift = _drift(name, cpath, ct["checksum"], checksum) or \
            _drift(f"{parent} (parent of {name})", ppath, pt["checksum"], checksum)
        if drift:
            problems.append(drift)
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


def _format_refusal(t: Mapping[str, Any], root: Path) -> str | None:
    """Why a table of this format cannot be deleted here: an Iceberg table outside a local
    warehouse, sharing its folder, on another file system (``iceberg_delete.refusal``)."""
    if t["format"] == "iceberg":
        return iceberg_delete.refusal(t["path"], root)
    return None


def _drift(who: str, path: Path, expected: str, checksum: _Checksums) -> str | None:
    """Why the file is no longer the one the plan was made from (None when it still is)."""
    if not tableio.table_exists(path):
        return f"{who}: missing ({path})"
    if checksum(path) != expected:
        return f"{who}: changed since the scan (checksum)"
    return None


def _apply_one(plan, d, root: Path, journal: Journal, run: str, plan_source, cache) -> dict[str, Any]:
    name, parent = d["table"], d["parent"]
    ct, pt = plan["tables"][name], plan["tables"][parent]
    cpath, ppath = Path(ct["path"]), Path(pt["path"])
    edir = entry_dir(root, name)
    if edir.exists():
        return _row(plan, d, "refused", f"a trash entry {edir} already exists (left by hand?)")
    iceberg = ct["format"] == "iceberg"
    refusal = _format_refusal(ct, root)
    if refusal:
        return _row(plan, d, "refused", refusal)
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
        # (An Iceberg table is never purged nor rebuilt: it comes back from its trash copy.)
        scratch = edir / ".rewrite-check"
        scratch.mkdir()
        try:
            if not iceberg:
                write_like(rebuilt, loaded.child, scratch / cpath.name, verify=True)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        # Last look before the move: neither file changed since the recipe was made from them.
        trash_steps.verified_and_unchanged(journal, run, loaded, d, cpath, ppath, ct, pt)
        if iceberg:   # the table's folder; its catalog entry is dropped once the move is journaled
            iceberg_delete.move_out(cpath, loaded.child["layout"], edir / "data" / cpath.name, journal, name, run)
        else:
            (edir / "data").mkdir()
            os.rename(cpath, edir / "data" / cpath.name)
            fsync_dir(cpath.parent)
        fsync_dir(edir / "data")
        crash_point("moved-unjournaled")
        journal.append(op="apply", step="moved", table=name, run=run)
        crash_point("moved")
        if iceberg:
            iceberg_delete.drop(cpath, journal, name, run)
        journal.append(op="apply", step="done", table=name, run=run)
        crash_point("done")
    except (PrunekitError, OSError) as exc:
        if iceberg:
            info = lake_state(root)[name].info
            iceberg_delete.roll_back(info, edir / "data" / cpath.name)
            shutil.rmtree(edir, ignore_errors=True)
        else:
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
        fsync_dir(cpath.parent)
    if edir.exists() and not moved.exists():
        shutil.rmtree(edir)
