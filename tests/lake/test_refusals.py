"""A refused lake command changes nothing: no trash folder, no lock file, no partial output; one
``error:`` line naming the real problem, exit 2. Outputs never replace inputs."""

from __future__ import annotations

import json

import pytest

from _lake_tree import forced_plan, tree
from _planted_plan import planted
from prunekit.cli import main
from prunekit.errors import InputError
from prunekit.lake import deletion_plan as lp
from prunekit.lake.apply import PlanMismatch, apply_plan
from prunekit.lake.restore import restore_tables
from prunekit.lake.trash import LOCK, lake_lock, lake_state, trash_root


def _one_error(capsys, *needles: str) -> str:
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), cap.err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture
def lake(tmp_path):
    root = tmp_path / "lake"
    scan, paths = planted(root)
    plan = forced_plan(scan, [("copies/orders_parts", "base/orders"), ("derived/eu_orders", "base/orders"),
                              ("exports/amounts", "base/orders"), ("exports/orders_small", "base/orders")])
    plan_path = tmp_path / "plan.json"
    lp.save_plan(plan, plan_path)
    return root, paths, plan, plan_path


def _edited(plan: dict, tmp_path, how) -> str:
    p = json.loads(json.dumps(plan))
    how(p)
    out = tmp_path / "edited.json"
    lp.save_plan(p, out)
    return str(out)


def test_refused_apply_leaves_a_fresh_lake_byte_identical(lake, tmp_path, capsys):
    root, paths, plan, plan_path = lake
    before = tree(root)
    outside = tmp_path / "outside.parquet"
    outside.write_bytes(paths["derived/eu_orders"].read_bytes())

    def move_outside(p):
        p["tables"]["derived/eu_orders"]["path"] = str(outside)

    cases = [
        (_edited(plan, tmp_path, move_outside), "is not inside the lake root"),
    ]
    for path, needle in cases:
        assert main(["lake", "apply", path, "--execute"]) == 2
        _one_error(capsys, needle, "derived/eu_orders")
        assert tree(root) == before and not trash_root(root).exists()
    # A table changed since the scan: the check runs under the lock, whose traces go with it.
    (paths["exports/amounts"]).write_text(paths["exports/amounts"].read_text() + "1,2.5\n")
    before = tree(root)
    with pytest.raises(PlanMismatch, match="exports/amounts: changed since the scan"):
        apply_plan(plan, execute=True)
    assert main(["lake", "apply", str(plan_path), "--execute"]) == 2
    _one_error(capsys, "does not match the lake", "exports/amounts")
    assert tree(root) == before and not trash_root(root).exists()
    assert outside.exists()


def test_refused_apply_on_a_lake_with_a_trash_changes_nothing(lake, tmp_path, capsys):
    root, paths, plan, plan_path = lake
    first = dict(plan, deletions=plan["deletions"][:1])
    apply_plan(first, execute=True)
    assert not (trash_root(root) / LOCK).exists()      # the lock file goes with the command that made it
    before = tree(root)
    assert ".prunekit-trash/journal.jsonl" in before
    rest = dict(plan, deletions=plan["deletions"][1:])
    name = rest["deletions"][0]["table"]
    paths[name].write_bytes(paths[name].read_bytes() + b"\n")
    before = tree(root)
    with pytest.raises(PlanMismatch, match=name):
        apply_plan(rest, execute=True)
    assert tree(root) == before


def test_lock_leaves_nothing_it_created_and_keeps_what_was_there(tmp_path):
    root = tmp_path / "lake"
    root.mkdir()
    with lake_lock(root):
        assert (trash_root(root) / LOCK).exists()
    assert list(root.iterdir()) == []
    with pytest.raises(RuntimeError):
        with lake_lock(root):
            raise RuntimeError("refused")
    assert list(root.iterdir()) == []
    trash_root(root).mkdir()
    (trash_root(root) / LOCK).write_text("")        # an old lock file: not ours to remove
    with lake_lock(root):
        with pytest.raises(InputError, match="another prunekit lake command"):
            with lake_lock(root):
                pass
    assert (trash_root(root) / LOCK).exists()


def test_restore_checks_every_name_before_restoring_any(lake, capsys):
    root, paths, plan, plan_path = lake
    apply_plan(plan, execute=True)
    deleted = [d["table"] for d in plan["deletions"]]
    before = tree(root)
    assert main(["lake", "restore", "nope/a", deleted[0], "nope/b", "--lake", str(root)]) == 2
    line = _one_error(capsys, "nope/a", "nope/b", "are not in the trash", "nothing was restored")
    assert deleted[0] not in line.split("; in the trash")[0]
    assert tree(root) == before
    with pytest.raises(InputError, match="misc/unrelated is not in the trash"):
        restore_tables(root, [deleted[1], "misc/unrelated"])
    assert tree(root) == before
    # An occupied place refuses the whole command too, naming it.
    paths[deleted[1]].write_bytes(b"squatter")
    assert main(["lake", "restore", deleted[0], deleted[1], "--lake", str(root)]) == 2
    _one_error(capsys, "move it away", deleted[1], "nothing was restored")
    paths[deleted[1]].unlink()
    assert tree(root) == before
    # Known names only: each restored, one line each.
    assert main(["lake", "restore", deleted[0], deleted[1], deleted[0], "--lake", str(root)]) == 0
    out = capsys.readouterr().out
    assert out.count("restored ") == 2
    assert all(paths[n].exists() for n in deleted[:2])
    assert main(["lake", "purge", "nope", deleted[2], "--lake", str(root), "--execute"]) == 2
    _one_error(capsys, "nope is not in the trash", "nothing was purged")
    assert lake_state(root)[deleted[2]].state == "deleted"


def test_every_lake_command_refuses_a_missing_or_file_lake_in_one_line(lake, tmp_path, capsys):
    root, paths, plan, plan_path = lake
    missing = tmp_path / "no-such-lake"
    a_file = paths["misc/unrelated"]
    gone = _edited(plan, tmp_path, lambda p: p["scan"].update(root=str(missing)))
    calls = [
        (["lake", "scan", str(missing), "-o", str(tmp_path / "o")], "does not exist"),
        (["lake", "scan", str(a_file), "-o", str(tmp_path / "o")], "is not a folder"),
        (["lake", "plan", str(missing), "-o", str(tmp_path / "p.json")], "no such file"),
        (["lake", "apply", str(tmp_path / "no-plan.json")], "no such plan file"),
        (["lake", "apply", gone, "--execute"], "does not exist"),
        (["lake", "apply", gone], "does not exist"),
    ]
    for cmd in ("restore", "purge", "trash"):
        names = ["derived/eu_orders"] if cmd == "restore" else []
        calls.append((["lake", cmd, *names, "--lake", str(missing)], "does not exist"))
        calls.append((["lake", cmd, *names, "--lake", str(a_file)], "is not a folder"))
    before = tree(tmp_path)
    for argv, needle in calls:
        assert main(argv) == 2, argv
        _one_error(capsys, needle)
        assert tree(tmp_path) == before, argv
    assert not missing.exists() and not (tmp_path / "o").exists()


def test_outputs_never_replace_inputs(lake, tmp_path, capsys):
    root, paths, plan, plan_path = lake
    from prunekit.lake.scan import scan_to_folder

    scan_dir = tmp_path / "scan"
    scan_to_folder(root, scan_dir, cache=False, graph=False)
    access = tmp_path / "access.csv"
    access.write_text("table,accesses\nbase/orders,3\n")
    before = tree(tmp_path)
    for argv, needle in [
        (["lake", "plan", str(scan_dir), "-o", str(scan_dir / "containment.json")], "it is the scan"),
        (["lake", "plan", str(scan_dir / "containment.json"), "-o", str(scan_dir / "containment.json")], "it is the scan"),
        (["lake", "plan", str(scan_dir), "-o", str(access), "--access", str(access)], "it is the access CSV"),
        (["lake", "scan", str(root), "-o", str(root / "out")], "inside the lake"),
        (["lake", "scan", str(root), "-o", str(tmp_path / "o2"), "--cache", str(paths["base/orders"])],
         "profile cache"),
    ]:
        assert main(argv) == 2, argv
        _one_error(capsys, needle)
        assert tree(tmp_path) == before, argv
    # The plan may sit beside the scan it reads.
    assert main(["lake", "plan", str(scan_dir), "-o", str(scan_dir / "plan.json"), "-q"]) == 0
