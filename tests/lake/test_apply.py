"""apply / restore / purge on a planted lake: exact restores, refusals, journal, recovery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from _planted_plan import CHILDREN, planted, scan_of, snapshot
from prunekit.cli import main
from prunekit.lake import deletion_plan as lp
from prunekit.lake.apply import PlanMismatch, apply_plan
from prunekit.lake.exact import table_difference
from prunekit.lake.recipe import Recipe
from prunekit.lake.trash import Journal, entry_dir, lake_lock, lake_state, protected_tables
from prunekit.lake.tableio import file_checksum, read_table

RUN = "import sys; from prunekit.cli import main; sys.exit(main(sys.argv[1:]))"


def _fmt(p: Path) -> str:
    return "csv" if p.suffix == ".csv" else "parquet"


@pytest.fixture
def lake(tmp_path):
    """(root, paths, plan path, plan, snapshot of every table before anything happened)."""
    root = tmp_path / "lake"
    scan, paths = planted(root)
    # measure=False: the planted tables are smaller than their recipes, so an honest plan deletes
    # none of the small ones; these tests are about apply/restore/purge, not about savings
    plan = lp.make_plan(scan, measure=False)
    plan_path = tmp_path / "plan.json"
    lp.save_plan(plan, plan_path)
    assert len(plan["deletions"]) == 4  # three children + one of the two duplicate copies
    return root, paths, plan_path, plan, snapshot(paths)


def _deleted(plan) -> list[str]:
    return [d["table"] for d in plan["deletions"]]


def _assert_identical(paths, snap, names, *, same_bytes: bool):
    for n in names:
        p = paths[n]
        t = read_table(p, _fmt(p))
        assert table_difference(snap[n][1], t) is None, n
        assert t.schema.equals(snap[n][1].schema, check_metadata=True), n
        if same_bytes:
            assert file_checksum(p) == snap[n][0], n


@pytest.mark.slow
def test_plan_apply_restore_purge_end_to_end(lake, capsys):
    root, paths, plan_path, plan, snap = lake
    deleted = _deleted(plan)

    # Dry run: names and bytes, nothing moves, no trash is created.
    assert main(["lake", "apply", str(plan_path)]) == 0
    out = capsys.readouterr().out
    assert "would delete" in out and all(n in out for n in deleted)
    assert all(p.exists() for p in paths.values()) and not (root / ".prunekit-trash").exists()

    assert main(["lake", "apply", str(plan_path), "--execute"]) == 0
    for n in deleted:
        assert not paths[n].exists()
        edir = entry_dir(root, n)
        assert (edir / "data" / paths[n].name).exists()
        assert {"recipe.json", "positions.parquet"} <= {p.name for p in edir.iterdir()}
        assert file_checksum(edir / "data" / paths[n].name) == snap[n][0]
    for n in set(paths) - set(deleted):
        assert file_checksum(paths[n]) == snap[n][0]
    assert {n for n, e in lake_state(root).items() if e.state == "deleted"} == set(deleted)

    # Restore from the trash copies: byte-identical.
    for n in deleted:
        assert main(["lake", "restore", n, "--lake", str(root)]) == 0
    _assert_identical(paths, snap, paths, same_bytes=True)
    assert not any(entry_dir(root, n).exists() for n in deleted)

    # Same bytes again, so the same plan still matches: apply, purge, restore from recipes.
    assert main(["lake", "apply", str(plan_path), "--execute"]) == 0
    assert main(["lake", "purge", "--lake", str(root)]) == 0  # dry run
    assert all((entry_dir(root, n) / "data").exists() for n in deleted)
    assert main(["lake", "purge", "--lake", str(root), "--execute"]) == 0
    for n in deleted:
        assert not (entry_dir(root, n) / "data").exists()
        assert (entry_dir(root, n) / "recipe.json").exists()
    capsys.readouterr()
    for n in deleted:
        assert main(["lake", "restore", n, "--lake", str(root)]) == 0
    assert "rebuilt from" in capsys.readouterr().out
    _assert_identical(paths, snap, paths, same_bytes=False)
    parts = paths["copies/orders_parts"]
    if "copies/orders_parts" in deleted:  # rebuilt as the same parts with the same row counts
        assert sorted(p.name for p in parts.iterdir()) == ["part-0000.parquet", "part-0001.parquet", "part-0002.parquet"]
        assert [pq.ParquetFile(p).metadata.num_rows for p in sorted(parts.iterdir())] == [70, 1, 129]


def test_restore_from_recipe_even_with_the_trash_copy(lake):
    root, paths, plan_path, plan, snap = lake
    apply_plan(plan, execute=True)
    child = "derived/eu_orders"
    assert main(["lake", "restore", child, "--lake", str(root), "--from-recipe"]) == 0
    _assert_identical(paths, snap, [child], same_bytes=False)
    assert lake_state(root)[child].state == "in_place"


def test_restore_and_purge_refuse_when_the_parent_changed(lake, capsys):
    root, paths, plan_path, plan, snap = lake
    apply_plan(plan, execute=True)
    child = "exports/amounts"
    parent = next(d["parent"] for d in plan["deletions"] if d["table"] == child)
    # Purge first for one table, then change the parent.
    assert main(["lake", "purge", child, "--lake", str(root), "--execute"]) == 0
    t = read_table(paths[parent])
    changed = t.set_column(t.column_names.index("qty"), "qty",
                           pa.array([q + 1 for q in t.column("qty").to_pylist()], t.schema.field("qty").type))
    if paths[parent].is_dir():
        for f in paths[parent].iterdir():
            f.unlink()
        pq.write_table(changed, paths[parent] / "part-0000.parquet")
    else:
        pq.write_table(changed, paths[parent])
    capsys.readouterr()
    # Purged + parent changed: cannot be rebuilt, and says so.
    assert main(["lake", "restore", child, "--lake", str(root)]) == 2
    err = capsys.readouterr().err
    assert "changed since the recipe was made" in err and len(err.strip().splitlines()) == 1
    assert not paths[child].exists() and lake_state(root)[child].state == "purged"
    # Not purged yet: purge refuses (it would make the table unrecoverable) ...
    other = "derived/eu_orders"
    assert main(["lake", "purge", other, "--lake", str(root), "--execute"]) == 1
    out = capsys.readouterr().out
    assert f"refused {other}" in out and "changed since" in out
    assert (entry_dir(root, other) / "data").exists()
    # ... and restore still gives back the untouched trash copy, byte for byte.
    assert main(["lake", "restore", other, "--lake", str(root)]) == 0
    _assert_identical(paths, snap, [other], same_bytes=True)


def test_purge_refuses_unverified_or_wrong_recipes(lake, capsys):
    root, paths, plan_path, plan, snap = lake
    apply_plan(plan, execute=True)
    a, b = "exports/orders_small", "derived/eu_orders"
    # a: the journal never recorded a verification for it.
    j = root / ".prunekit-trash" / "journal.jsonl"
    lines = [ln for ln in j.read_text().splitlines()
             if not (json.loads(ln)["table"] == a and json.loads(ln)["step"] == "verified")]
    j.write_text("\n".join(lines) + "\n")
    # b: a recipe whose positions were swapped (its files consistent with each other).
    edir = entry_dir(root, b)
    r = Recipe.load(edir)
    r.positions = r.positions[::-1].copy()
    r.save(edir)
    assert main(["lake", "purge", "--lake", str(root), "--execute"]) == 1
    out = capsys.readouterr().out
    assert f"refused {a}: its recipe was never verified" in out
    assert f"refused {b}:" in out and "content digest" in out
    for n in (a, b):
        assert (entry_dir(root, n) / "data").exists() and lake_state(root)[n].state == "deleted"
    for n in set(_deleted(plan)) - {a, b}:
        assert lake_state(root)[n].state == "purged"


def test_plan_that_does_not_match_the_lake_exits_2(lake, capsys):
    root, paths, plan_path, plan, snap = lake
    child = "exports/orders_small"
    with open(paths[child], "a") as fh:
        fh.write("1,2,eu\n")
    assert main(["lake", "apply", str(plan_path), "--execute"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not match the lake" in err and child in err
    assert all(p.exists() for p in paths.values()) and lake_state(root) == {}
    paths[child].unlink()
    assert main(["lake", "apply", str(plan_path)]) == 2
    assert "missing" in capsys.readouterr().err


def test_negative_zero_child_is_refused_and_stays(tmp_path, capsys):
    root = tmp_path / "lake"
    (root / "d").mkdir(parents=True)
    parent = pa.table({"id": pa.array(range(6)), "x": [0.0, 1.0, 2.0, 0.0, 4.0, 5.0]})
    pq.write_table(parent, root / "d" / "parent.parquet")
    # Value-contained (-0.0 == 0.0), but the parent holds no -0.0 bits: no exact recipe exists.
    pq.write_table(pa.table({"id": [3, 1], "x": [-0.0, 1.0]}), root / "d" / "negzero.parquet")
    pq.write_table(pa.table({"id": [4, 0], "x": [4.0, 0.0]}), root / "d" / "fine.parquet")
    paths = {n: root / "d" / f"{n}.parquet" for n in ("parent", "negzero", "fine")}
    scan = scan_of(root, paths, edges=[("parent", "negzero"), ("parent", "fine")])
    plan = lp.make_plan(scan, measure=False)
    lp.save_plan(plan, tmp_path / "plan.json")
    assert sorted(_deleted(plan)) == ["fine", "negzero"]
    before = file_checksum(paths["negzero"])
    assert main(["lake", "apply", str(tmp_path / "plan.json"), "--execute"]) == 1
    out = capsys.readouterr().out
    assert "refused negzero" in out and "no bit-identical row" in out
    assert file_checksum(paths["negzero"]) == before and not entry_dir(root, "negzero").exists()
    assert not paths["fine"].exists() and lake_state(root)["negzero"].state == "in_place"


def test_parent_of_a_trashed_table_is_protected(tmp_path, capsys):
    root = tmp_path / "lake"
    scan, paths = planted(root)
    parts, orders = "copies/orders_parts", "base/orders"
    scan1 = scan_of(root, paths, edges=[(parts, c) for c in CHILDREN])
    apply_plan(lp.make_plan(scan1, measure=False), execute=True)
    assert set(protected_tables(root)) == {parts}
    remaining = {n: paths[n] for n in (orders, parts)}
    scan2 = scan_of(root, remaining, edges=[(orders, parts), (parts, orders)])
    # Unaware of the trash, the planner would delete the larger copy: the parent of the recipes.
    blind = lp.make_plan(scan2, measure=False)
    assert [d["table"] for d in blind["deletions"]] == [parts]
    # The CLI plans with the trash in view: the other copy goes instead.
    (tmp_path / "scan2.json").write_text(scan2.to_json())
    assert main(["lake", "plan", str(tmp_path / "scan2.json"), "-o", str(tmp_path / "p2.json"), "-q"]) == 0
    aware = json.loads((tmp_path / "p2.json").read_text())
    assert [(d["table"], d["parent"]) for d in aware["deletions"]] == [(orders, parts)]
    assert aware["tables"][parts]["pinned"].startswith("parent of")
    # A plan that ignores it anyway is refused before anything moves.
    with pytest.raises(PlanMismatch, match="is rebuilt from it"):
        apply_plan(blind, execute=True)
    assert paths[parts].exists()


def test_one_command_at_a_time(lake, capsys):
    root, paths, plan_path, plan, snap = lake
    with lake_lock(root):
        assert main(["lake", "apply", str(plan_path), "--execute"]) == 2
    assert "another prunekit lake command" in capsys.readouterr().err
    assert all(p.exists() for p in paths.values())


def test_torn_journal_line_is_skipped(lake):
    root, paths, plan_path, plan, snap = lake
    apply_plan(plan, execute=True)
    j = Journal(root)
    n = len(j.records())
    with open(j.path, "ab") as fh:
        fh.write(b'{"table": "x", "st')  # a write cut short by a crash
    assert len(j.records()) == n
    j.append(table="y", step="refused", op="test")
    assert len(j.records()) == n + 1 and j.records()[-1]["table"] == "y"


def test_restore_errors_are_one_line(lake, capsys):
    root, paths, plan_path, plan, snap = lake
    assert main(["lake", "restore", "derived/eu_orders", "--lake", str(root)]) == 2
    assert "has no .prunekit-trash" in capsys.readouterr().err
    apply_plan(plan, execute=True)
    assert main(["lake", "restore", "misc/unrelated", "--lake", str(root)]) == 2
    err = capsys.readouterr().err
    assert "is not in the trash" in err and "derived/eu_orders" in err
    paths["derived/eu_orders"].write_bytes(b"squatter")
    assert main(["lake", "restore", "derived/eu_orders", "--lake", str(root)]) == 2
    assert "move it away" in capsys.readouterr().err


def test_damaged_recipe_does_not_block_an_intact_trash_copy(lake, capsys):
    root, paths, plan_path, plan, snap = lake
    apply_plan(plan, execute=True)
    a, b = "derived/eu_orders", "exports/amounts"
    for n in (a, b):
        (entry_dir(root, n) / "positions.parquet").write_bytes(b"garbage")
    assert main(["lake", "restore", a, "--lake", str(root)]) == 0
    _assert_identical(paths, snap, [a], same_bytes=True)
    # Purge re-checks the recipe and refuses; a purged table would have nothing left to rebuild from.
    assert main(["lake", "purge", b, "--lake", str(root), "--execute"]) == 1
    assert "does not match the checksum" in capsys.readouterr().out
    assert main(["lake", "restore", b, "--lake", str(root), "--from-recipe"]) == 2
    assert "does not match the checksum" in capsys.readouterr().err
    assert not paths[b].exists() and (entry_dir(root, b) / "data").exists()


# --- killed mid-way -------------------------------------------------------------------------------


def _run(args, crash: str | None = None, cwd=None):
    env = dict(os.environ, PRUNEKIT_PROGRESS="0")
    env.pop("PRUNEKIT_LAKE_CRASH_AT", None)
    if crash:
        env["PRUNEKIT_LAKE_CRASH_AT"] = crash
    return subprocess.run([sys.executable, "-c", RUN, *args], env=env, capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def _check_recovered(root, paths, snap, plan):
    """After recovery: every table in place and unchanged, or in the trash and restorable;
    restoring everything gives back every table byte for byte."""
    assert main(["lake", "trash", "--lake", str(root)]) == 0  # any lake command recovers
    state = lake_state(root)
    in_trash = []
    for n in _deleted(plan):
        e = state.get(n)
        if paths[n].exists():
            assert file_checksum(paths[n]) == snap[n][0], n
            assert e is None or e.state == "in_place", (n, e)
            assert not entry_dir(root, n).exists(), n
        else:
            assert e is not None and e.state in ("deleted", "purged"), (n, e)
            assert (entry_dir(root, n) / "recipe.json").exists()
            in_trash.append(n)
    for n in in_trash:
        assert main(["lake", "restore", n, "--lake", str(root)]) == 0
    _assert_identical(paths, snap, paths, same_bytes=True)
    return in_trash


APPLY_CRASHES = ["intent", "recipe-partial", "recipe", "verified", "moved-unjournaled", "moved", "done",
                 "moved-unjournaled:3"]


@pytest.mark.slow
@pytest.mark.parametrize("point", APPLY_CRASHES)
def test_killed_apply_recovers(lake, point):
    root, paths, plan_path, plan, snap = lake
    proc = _run(["lake", "apply", str(plan_path), "--execute"], crash=point)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    state = lake_state(root)
    assert any(e.state == "applying" for e in state.values()) or point == "done"
    in_trash = _check_recovered(root, paths, snap, plan)
    # Tables whose apply was cut short were rolled back, finished ones stay finished.
    assert (len(in_trash) >= 1) == (point in ("done", "moved-unjournaled:3"))
    # And the same plan can be applied again to the end.
    assert main(["lake", "apply", str(plan_path), "--execute"]) == 0
    assert all(not paths[n].exists() for n in _deleted(plan))


@pytest.mark.slow
@pytest.mark.parametrize("point", ["restore-intent", "restore-moved", "purge-intent", "purge-partial"])
def test_killed_restore_or_purge_recovers(lake, point):
    root, paths, plan_path, plan, snap = lake
    apply_plan(plan, execute=True)
    folder = next((n for n in _deleted(plan) if paths[n].is_dir()), _deleted(plan)[0])
    if point.startswith("purge"):
        proc = _run(["lake", "purge", folder, "--lake", str(root), "--execute"], crash=point)
    else:
        proc = _run(["lake", "restore", folder, "--lake", str(root)], crash=point)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert main(["lake", "trash", "--lake", str(root)]) == 0
    e = lake_state(root)[folder]
    expected = {"restore-intent": "deleted", "restore-moved": "in_place",
                "purge-intent": "purged", "purge-partial": "purged"}[point]
    assert e.state == expected
    if expected == "purged":
        assert not (entry_dir(root, folder) / "data").exists()
        assert main(["lake", "restore", folder, "--lake", str(root)]) == 0
        _assert_identical(paths, snap, [folder], same_bytes=False)
    else:
        _check_recovered(root, paths, snap, plan)
