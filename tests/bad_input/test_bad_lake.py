"""Bad input to ``prunekit lake …``: exit 2, one ``error:`` line naming the problem, no traceback,
nothing written, the whole lake byte-identical and no ``.prunekit-trash`` (or lock) left by a
refused command (see ``_bad_input_harness``).

The store (``ctx.lakes``) holds ``lake/`` (base/orders.parquet, derived/eu.parquet ⊆ orders,
exports/small.csv ⊆ orders, misc/other.parquet), ``scan/containment.json``, ``plan.json`` (deletes
derived/eu and exports/small) and ``access.csv``. Classes: 1 output naming an input, 4 links in a
lake, 5 a refused command leaves traces, 6 messages naming the real problem, 7 hostile input.
"""

from __future__ import annotations

import json
import os
import shutil

import pyarrow.parquet as pq
import pytest

from _bad_input_harness import Case, both, mkdir, params, run_case, symlink, write

REFUSE = "refusing to write"

L = lambda rel: (lambda c: c.lakes / rel)   # noqa: E731  a store path
T = lambda rel: (lambda c: c.tmp / rel)     # noqa: E731  a case-folder path


def cmd(*parts):
    return lambda c: [p(c) if callable(p) else p for p in parts]


# ----------------------------------------------------------------------------- setups


def link_table(rel: str, *, inside: bool = False, folder: bool = False):
    """Replace the lake's ``rel`` by a link to an identical copy: in the case folder (outside the
    lake), or (``inside``) at ``misc/`` in the lake. ``folder``: ``rel`` is a folder."""
    def setup(c):
        p = c.lakes / "lake" / rel
        dst = (c.lakes / "lake" / "misc" / ("real_" + p.name)) if inside else (c.tmp / ("real_" + p.name))
        shutil.move(p, dst)
        os.symlink(dst, p, target_is_directory=folder)
    return setup


def rewrite_table(rel: str, how: str):
    def setup(c):
        p = c.lakes / "lake" / rel
        if how == "remove":
            p.unlink()
        elif how == "fewer-rows":
            t = pq.read_table(p)
            pq.write_table(t.slice(1), p)
        elif how == "same-rows-other-bytes":
            pq.write_table(pq.read_table(p), p, compression="gzip")
    return setup


def edited_plan(edit):
    """Setup: ``ctx.tmp/plan.json`` = the store's plan changed by ``edit(plan, ctx)``."""
    def setup(c):
        plan = json.loads((c.lakes / "plan.json").read_text())
        edit(plan, c)
        (c.tmp / "plan.json").write_text(json.dumps(plan))
    return setup


def _outside(plan, c):
    src = c.lakes / "lake" / "derived" / "eu.parquet"
    shutil.copy2(src, c.tmp / "eu.parquet")
    plan["tables"]["derived/eu"]["path"] = str(c.tmp / "eu.parquet")


def _root_gone(plan, c):
    plan["scan"]["root"] = str(c.tmp / "nolake")






def old_trash(c):
    """A trash an earlier command left: the folder, its lock file and an empty journal."""
    t = c.lakes / "lake" / ".prunekit-trash"
    t.mkdir()
    (t / "lock").touch()
    (t / "journal.jsonl").touch()


def locked(c):
    """Another lake command holds the lock: taken the way ``trash.lake_lock`` takes it."""
    import fcntl

    old_trash(c)
    fd = os.open(c.lakes / "lake" / ".prunekit-trash" / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    c.cleanups.append(lambda: os.close(fd))




def applied(c):
    """The plan applied for real: derived/eu and exports/small are in the lake's trash."""
    from prunekit.lake.apply import apply_plan

    report = apply_plan(c.lakes / "plan.json", execute=True)
    assert sorted(report.deleted) == ["derived/eu", "exports/small"], report.refused


def folder_is_link(rel: str):
    """The lake's folder ``rel`` becomes a link to a folder in the case folder (same content)."""
    def setup(c):
        p = c.lakes / "lake" / rel
        dst = c.tmp / ("real_" + p.name)
        shutil.move(p, dst)
        os.symlink(dst, p, target_is_directory=True)
    return setup




def plan_opt(*opts):
    return cmd("lake", "plan", L("scan"), *opts, "-o", "plan.json")


def scan_opt(*opts):
    return cmd("lake", "scan", L("lake"), *opts, "-o", "scan_out")


APPLY = cmd("lake", "apply", L("plan.json"), "--execute")
APPLY_TMP = cmd("lake", "apply", T("plan.json"), "--execute")
NOT_FOUND = ("does not exist", "not found", "missing", "gone")

CASES = [
    # --- 1: an output naming an input
    Case(1, "plan-out-is-the-scan-json", cmd("lake", "plan", L("scan"), "-o", L("scan/containment.json")),
         (REFUSE, L("scan/containment.json"))),
    Case(1, "plan-json-out-is-itself",
         cmd("lake", "plan", L("scan/containment.json"), "-o", L("scan/containment.json")),
         (REFUSE, L("scan/containment.json"))),
    Case(1, "plan-out-is-the-access-csv",
         cmd("lake", "plan", L("scan"), "--access", L("access.csv"), "-o", L("access.csv")),
         (REFUSE, L("access.csv"))),
    Case(1, "plan-out-symlink-to-scan-json", cmd("lake", "plan", L("scan"), "-o", T("p.json")),
         (REFUSE, T("p.json")), setup=symlink("p.json", L("scan/containment.json"))),
    Case(1, "scan-out-is-the-lake", cmd("lake", "scan", L("lake"), "-o", L("lake")), (REFUSE, L("lake"))),
    Case(1, "scan-out-inside-the-lake", cmd("lake", "scan", L("lake"), "-o", L("lake/scan_out")),
         (REFUSE, L("lake/scan_out"), L("lake"))),

    # --- 4: links in a lake (a plan naming a link is refused by apply)
    Case(4, "apply-child-is-link-outside-lake", APPLY, ("link", "derived/eu"),
         setup=link_table("derived/eu.parquet")),
    Case(4, "apply-child-is-link-inside-lake", APPLY, ("link", "derived/eu"),
         setup=link_table("derived/eu.parquet", inside=True)),
    Case(4, "apply-child-through-linked-folder", APPLY, ("link", "derived"),
         setup=link_table("derived", folder=True)),
    Case(4, "apply-parent-is-link", APPLY, ("link", "base/orders"), setup=link_table("base/orders.parquet")),
    Case(4, "restore-into-a-linked-folder", cmd("lake", "restore", "derived/eu", "--lake", L("lake")),
         ("link", "derived"), setup=both(applied, folder_is_link("derived"))),
    Case(4, "apply-dry-run-child-is-link", cmd("lake", "apply", L("plan.json")), ("link", "exports/small"),
         setup=link_table("exports/small.csv")),

    # --- 5: a refused command leaves no trace (no .prunekit-trash, no lock, lake unchanged)
    Case(5, "apply-child-changed", APPLY, ("derived/eu", "changed"),
         setup=rewrite_table("derived/eu.parquet", "fewer-rows")),
    Case(5, "apply-child-missing", APPLY, ("exports/small", NOT_FOUND),
         setup=rewrite_table("exports/small.csv", "remove")),
    Case(5, "apply-parent-changed", APPLY, ("base/orders", "changed"),
         setup=rewrite_table("base/orders.parquet", "same-rows-other-bytes")),
    Case(5, "apply-table-outside-root", APPLY_TMP, ("derived/eu", ("not inside", "outside")),
         setup=edited_plan(_outside)),
    Case(5, "apply-root-gone", APPLY_TMP, (T("nolake"), "does not exist"), setup=edited_plan(_root_gone)),
    Case(5, "apply-truncated-plan", APPLY_TMP, (T("plan.json"), ("json", "truncated", "corrupt")),
         setup=write("plan.json", copy_of=L("plan.json"), head=0.5)),
    Case(5, "apply-scan-json-as-plan", cmd("lake", "apply", L("scan/containment.json"), "--execute"),
         (L("scan/containment.json"), "plan")),
    Case(5, "restore-unknown-no-trash", cmd("lake", "restore", "nope/a", "derived/eu", "--lake", L("lake")),
         (("nope/a", ".prunekit-trash"),)),
    Case(5, "restore-unknown-with-trash", cmd("lake", "restore", "nope/a", "derived/eu", "--lake", L("lake")),
         ("nope/a",), setup=old_trash),
    Case(5, "restore-lake-missing", cmd("lake", "restore", "derived/eu", "--lake", T("nolake")), (T("nolake"),)),
    Case(5, "trash-lake-missing", cmd("lake", "trash", "--lake", T("nolake")), (T("nolake"),)),
    Case(5, "purge-lake-missing", cmd("lake", "purge", "--lake", T("nolake"), "--execute"), (T("nolake"),)),
    Case(5, "purge-unknown-no-trash", cmd("lake", "purge", "nope/a", "--lake", L("lake"), "--execute"),
         (("nope/a", ".prunekit-trash"),)),
    Case(5, "purge-unknown-with-trash", cmd("lake", "purge", "nope/a", "--lake", L("lake"), "--execute"),
         ("nope/a",), setup=old_trash),
    Case(5, "trash-no-lake-above-cwd", cmd("lake", "trash"), (".prunekit-trash",)),
    Case(5, "trash-lake-is-a-file", cmd("lake", "trash", "--lake", L("lake/base/orders.parquet")),
         (L("lake/base/orders.parquet"),)),

    # --- 6: messages naming the real problem
    Case(6, "plan-empty-scan-json", cmd("lake", "plan", T("scan0/containment.json"), "-o", "plan.json"),
         ("empty", T("scan0/containment.json")), setup=write("scan0/containment.json")),
    Case(6, "plan-empty-scan-json-in-folder", cmd("lake", "plan", T("scan0"), "-o", "plan.json"),
         ("empty",), setup=write("scan0/containment.json")),
    Case(6, "plan-truncated-scan-json", cmd("lake", "plan", T("c.json"), "-o", "plan.json"),
         (T("c.json"), ("json", "truncated", "corrupt")),
         setup=write("c.json", copy_of=L("scan/containment.json"), head=0.5)),
    Case(6, "plan-folder-without-scan-json", cmd("lake", "plan", T("scan0"), "-o", "plan.json"),
         ("containment.json",), setup=mkdir("scan0")),
    Case(6, "apply-empty-plan", cmd("lake", "apply", T("plan.json"), "--execute"), ("empty", T("plan.json")),
         setup=write("plan.json")),
    Case(6, "plan-empty-access-csv", plan_opt("--access", T("a.csv")), ("empty", T("a.csv")), setup=write("a.csv")),
    Case(6, "plan-access-unknown-table", plan_opt("--access", T("a.csv")), ("nope/x",),
         setup=write("a.csv", "table,accesses\nnope/x,3\n")),
    Case(6, "plan-access-negative", plan_opt("--access", T("a.csv")), ("-3",),
         setup=write("a.csv", "table,accesses\nderived/eu,-3\n")),
    Case(6, "plan-access-not-a-number", plan_opt("--access", T("a.csv")), ("lots",),
         setup=write("a.csv", "table,accesses\nderived/eu,lots\n")),
    Case(6, "plan-unknown-pin", plan_opt("--pin", "gold/*"), ("gold/*",)),

    # --- 7: hostile input
    Case(7, "scan-missing-root", cmd("lake", "scan", T("nolake"), "-o", "scan_out"), (T("nolake"), "does not exist")),
    Case(7, "scan-root-is-a-file", cmd("lake", "scan", L("lake/base/orders.parquet"), "-o", "scan_out"),
         (L("lake/base/orders.parquet"),)),
    Case(7, "scan-engine-unknown", scan_opt("--engine", "oracle"), ("oracle",)),
    Case(7, "scan-semantics-unknown", scan_opt("--semantics", "multiset"), ("multiset",)),
    Case(7, "scan-sample-rows-0", scan_opt("--sample-rows", "0"), ("sample_rows", "0")),
    Case(7, "scan-sample-rows-negative", scan_opt("--sample-rows", "-5"), ("sample_rows", "-5")),
    Case(7, "scan-min-columns-0", scan_opt("--min-columns", "0"), ("min_columns", "0")),
    Case(7, "plan-throughput-0", plan_opt("--throughput", "0"), ("throughput", "0")),
    Case(7, "plan-throughput-nan", plan_opt("--throughput", "nan"), ("throughput", "nan")),
    Case(7, "plan-storage-price-negative", plan_opt("--storage-price", "-1"), ("storage_price", "-1")),
    Case(7, "plan-scan-price-nan", plan_opt("--scan-price", "nan"), ("scan_price", "nan")),
    Case(7, "plan-time-limit-0", plan_opt("--time-limit", "0"), ("time_limit", "0")),
    Case(7, "plan-max-rebuild-seconds-nan", plan_opt("--max-rebuild-seconds", "nan"), ("max_rebuild_seconds", "nan")),
    Case(7, "plan-default-accesses-negative", plan_opt("--default-accesses", "-1"), ("default_accesses", "-1")),
    Case(7, "plan-solver-unknown", plan_opt("--solver", "simplex"), ("simplex",)),
    Case(7, "plan-missing-scan", cmd("lake", "plan", T("noscan"), "-o", "plan.json"), (T("noscan"),)),
    Case(7, "plan-out-parent-missing", cmd("lake", "plan", L("scan"), "-o", "nodir/plan.json"),
         ("nodir", "does not exist")),
    Case(7, "plan-out-is-a-directory", cmd("lake", "plan", L("scan"), "-o", T("adir")), (T("adir"), "directory"),
         setup=mkdir("adir")),
    Case(7, "plan-out-read-only-folder", cmd("lake", "plan", L("scan"), "-o", "ro/plan.json"),
         ("ro", "not writable"), setup=mkdir("ro", 0o555), root_only_skip=True),
    Case(7, "apply-missing-plan", cmd("lake", "apply", T("noplan.json"), "--execute"), (T("noplan.json"),)),
    Case(7, "apply-directory-as-plan", cmd("lake", "apply", L("scan"), "--execute"), (L("scan"), "directory")),
    Case(7, "plan-access-is-a-directory", plan_opt("--access", L("scan")), (L("scan"), ("directory", "folder"))),
    Case(7, "apply-while-locked", APPLY, ("another prunekit lake command",), setup=locked),
    Case(7, "restore-while-locked", cmd("lake", "restore", "derived/eu", "--lake", L("lake")),
         ("another prunekit lake command",), setup=locked),
    Case(7, "purge-while-locked", cmd("lake", "purge", "--lake", L("lake"), "--execute"),
         ("another prunekit lake command",), setup=locked),
    Case(7, "trash-while-locked", cmd("lake", "trash", "--lake", L("lake")),
         ("another prunekit lake command",), setup=locked),
    Case(7, "scan-while-locked", cmd("lake", "scan", L("lake"), "-o", "scan_out"),
         ("another prunekit lake command",), setup=locked),
    Case(7, "unicode-missing-root-path-intact", cmd("lake", "scan", T("läke dïr/nö lake"), "-o", "scan_out"),
         (T("läke dïr/nö lake"),), setup=mkdir("läke dïr")),
]


@pytest.mark.parametrize("case", params(CASES))
def test_bad_lake_input(case, ctx, lake_store, capsys):
    ctx.stores["lakes"] = lake_store.root
    run_case(case, ctx, capsys, [lake_store])
