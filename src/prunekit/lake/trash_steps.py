"""The steps of the lake commands that are the same whatever holds the trash: a local folder
(``trash``, ``apply``, ``restore``, ``purge``) or an object store (``objectstore_trash``).

Each storage does its own moving, copying and deleting; what is decided, journaled and reported
around it is written once here, so both give the same journal steps, crash points, refusals and
messages:

* recovery: the walk over the interrupted entries and the records and lines of their outcomes;
* apply: the last look before the move (neither the table nor its parent changed);
* restore: whether the trash copy is intact, the checked rebuild, and the steps of putting a table
  back (from its trash copy, or rebuilt);
* purge: the whole loop (sizes, refusals, dry run, journal steps) over a ``PurgeStore``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Protocol

from prunekit.lake import tableio
from prunekit.lake._crash import crash_point
from prunekit.lake.errors import RecipeError
from prunekit.lake.exact import table_difference
from prunekit.lake.journal import Echo, Entry, Journal, entries_in_trash, lake_state
from prunekit.lake.recipe import Recipe, rebuild
from prunekit.lake.table_layout import purge_refusal

INTERRUPTED = ("applying", "restoring", "purging")

# --- recovery ------------------------------------------------------------------------------------


def recover_each(state: str | Path, echo: Echo | None, recover_one: Callable[[Entry, Journal], str]) -> list[str]:
    """``recover_one`` (which journals its outcome and returns its line) for every interrupted entry
    of the journal in ``state``, in name order; the lines are echoed once all were recovered."""
    journal = Journal(state)
    lines = [recover_one(e, journal) for e in sorted(lake_state(state).values(), key=lambda x: x.name)
             if e.state in INTERRUPTED]
    for line in lines:
        if echo:
            echo(line)
    return lines


def rolled_back(journal: Journal, e: Entry, how: str) -> str:
    journal.append(op="recover", step="rolled_back", table=e.name, reason=f"apply interrupted after '{e.step}'")
    return f"recovered {e.name}: apply was interrupted after '{e.step}'; {how}"


def restore_abandoned(journal: Journal, e: Entry) -> str:
    journal.append(op="recover", step="restore-abandoned", table=e.name,
                   from_state=e.info.get("from_state", "deleted"))
    return f"recovered {e.name}: the interrupted restore had not completed; still in the trash"


def purge_finished(journal: Journal, e: Entry) -> str:
    journal.append(op="recover", step="purged", table=e.name)
    return f"recovered {e.name}: finished the interrupted purge"


# --- apply ---------------------------------------------------------------------------------------


def verified_and_unchanged(journal: Journal, run: str, loaded: Recipe, d: dict[str, Any], cpath, ppath,
                           ct: dict[str, Any], pt: dict[str, Any]) -> None:
    """Journal ``verified``, then the last look before the move: neither the table nor its parent
    changed since the recipe was made from them (``RecipeError`` when one did)."""
    name, parent = d["table"], d["parent"]
    journal.append(op="apply", step="verified", table=name, run=run,
                   fingerprint=loaded.child["fingerprint"], digest=loaded.child["digest"])
    crash_point("verified")
    if tableio.file_checksum(cpath) != ct["checksum"]:
        raise RecipeError(f"{name} changed while it was being applied")
    if tableio.file_checksum(ppath) != pt["checksum"]:
        raise RecipeError(f"its parent {parent} changed while it was being applied")


# --- restore -------------------------------------------------------------------------------------


def trash_copy_intact(data, e: Entry, recipe: Recipe | None) -> bool:
    """The trash copy still has the checksum of the table deleted (the recipe's, or the journal's
    when the recipe is damaged)."""
    expected = recipe.child["checksum"] if recipe is not None else e.info.get("checksum")
    return tableio.file_checksum(data) == expected


def restore_copy(journal: Journal, e: Entry, recipe: Recipe | None, orig, *, put_back: Callable[[], None],
                 remove_entry: Callable[[], None], detail: str) -> dict[str, Any]:
    """Put the (intact) trash copy back at ``orig`` with ``put_back``, journaled and reported."""
    journal.append(op="restore", step="restore-intent", table=e.name, mode="trash", from_state=e.state)
    crash_point("restore-intent")
    put_back()
    crash_point("restore-moved")
    remove_entry()
    journal.append(op="restore", step="restored", table=e.name, mode="trash")
    rows = recipe.child["rows"] if recipe is not None else tableio.read_table(orig, e.info.get("format")).num_rows
    return {"table": e.name, "path": str(orig), "mode": "trash", "byte_identical": True, "rows": rows,
            "detail": detail}


def checked_rebuild(name: str, recipe: Recipe | None, root, *, copy_mismatched: bool) -> tuple[Any, str]:
    """The table rebuilt from its recipe, its fingerprint checked, and the note for the report
    (``copy_mismatched``: a trash copy was there but did not match its checksum)."""
    note = ""
    if copy_mismatched:
        if recipe is None:
            raise RecipeError(f"{name}: the recipe is damaged and the trash copy does not match its checksum")
        note = "the trash copy does not match its checksum; "
    table = rebuild(recipe, root=root)
    if tableio.fingerprint(table) != recipe.child["fingerprint"]:
        raise RecipeError(f"rebuilding {name} does not reproduce its fingerprint")
    return table, note


def restore_rebuilt(journal: Journal, e: Entry, recipe: Recipe, table, orig, note: str, *,
                    write: Callable[[], None], remove_entry: Callable[[], None], **intent: Any) -> dict[str, Any]:
    """Write the checked rebuild at ``orig`` with ``write``, journaled (``intent``: more facts for
    the ``restore-intent`` record) and reported."""
    journal.append(op="restore", step="restore-intent", table=e.name, mode="rebuild", from_state=e.state, **intent)
    crash_point("restore-intent")
    write()
    crash_point("restore-moved")
    same_bytes = tableio.file_checksum(orig) == recipe.child["checksum"]
    remove_entry()
    journal.append(op="restore", step="restored", table=e.name, mode="rebuild", byte_identical=same_bytes)
    return {"table": e.name, "path": str(orig), "mode": "rebuild", "byte_identical": same_bytes,
            "rows": table.num_rows,
            "detail": f"{note}rebuilt from {recipe.parent['name']} "
                      f"({'byte-identical' if same_bytes else 'content-identical; bytes differ'})"}


# --- purge ---------------------------------------------------------------------------------------


class PurgeStore(Protocol):
    """What the purge loop needs of a trash (``purge.LocalTrash``, ``objectstore_trash.StoreTrash``)."""

    root: Any    # the lake root (rebuilds read parents below it)
    state: Any   # where the journal is

    def recovered(self, say: Echo) -> contextlib.AbstractContextManager: ...
    def data(self, e: Entry) -> Any: ...                   # the trash copy
    def sizes(self, e: Entry) -> tuple[int, int]: ...      # (bytes of the trash copy, of the whole entry)
    def path_refusal(self, e: Entry) -> str | None: ...    # the trash copy's path cannot be trusted
    def load_recipe(self, e: Entry) -> Recipe: ...
    def has_data(self, e: Entry) -> bool: ...
    def delete_data(self, e: Entry) -> None: ...
    def entry(self, e: Entry) -> str: ...                  # where the recipe stays


def purge(store: PurgeStore, names: list[str] | None, *, execute: bool, say: Echo) -> list[dict[str, Any]]:
    """``purge.purge`` on any trash: the chosen entries (every deleted one without ``names``), each
    refused with its reason, or reported (dry run), or purged."""
    rows = []
    with store.recovered(say):
        if names:
            chosen = entries_in_trash(store.state, list(dict.fromkeys(names)), ("deleted", "purged"),
                                      nothing="purged")
        else:
            chosen = sorted((e for e in lake_state(store.state).values() if e.state == "deleted"),
                            key=lambda e: e.name)
        journal = Journal(store.state)
        for e in chosen:
            size, entry_bytes = store.sizes(e)   # what a purge removes: the trash copy
            recipe = entry_bytes - size          # what stays: the recipe
            sizes = {"size_bytes": size, "recipe_bytes": recipe, "net_bytes": size - recipe}
            if e.state == "purged":
                rows.append({"table": e.name, "size_bytes": 0, "recipe_bytes": recipe, "net_bytes": 0,
                             "outcome": "already purged", "detail": ""})
                continue
            reason = store.path_refusal(e) or _purge_refusal(store, e)
            if reason:
                rows.append({"table": e.name, **sizes, "outcome": "refused", "detail": reason})
                say(f"refused {e.name}: {reason}")
                continue
            if not execute:
                rows.append({"table": e.name, **sizes, "outcome": "would purge",
                             "detail": "recipe verified; parent unchanged"})
                continue
            journal.append(op="purge", step="purge-intent", table=e.name)
            crash_point("purge-intent")
            store.delete_data(e)
            journal.append(op="purge", step="purged", table=e.name)
            rows.append({"table": e.name, **sizes, "outcome": "purged", "detail": f"recipe kept in {store.entry(e)}"})
            say(f"purged {e.name}: {size:,} bytes deleted, its recipe ({recipe:,} bytes) kept: "
                f"{size - recipe:,} bytes freed net")
    return rows


def _purge_refusal(store: PurgeStore, e: Entry) -> str | None:
    if not e.info.get("verified"):
        return "its recipe was never verified"
    history = purge_refusal(e.info.get("format", ""))   # a rebuild would lose the table's history
    if history:
        return history
    try:
        recipe = store.load_recipe(e)
        rebuilt = rebuild(recipe, root=store.root)  # refuses a gone or changed parent
    except RecipeError as exc:
        return f"{exc}; purging would make it unrecoverable (restore it first, or keep it)"
    data = store.data(e)
    if store.has_data(e) and tableio.file_checksum(data) == recipe.child["checksum"]:
        # Compare against the real table one last time, while it still exists.
        diff = table_difference(tableio.read_table(data, recipe.child["format"]), rebuilt)
        if diff:
            return f"the recipe does not rebuild the trash copy: {diff}"
    return None
