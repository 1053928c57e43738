"""One library function per ``prunekit lake`` command: used alone it gives the CLI's artefacts, and
like the CLI it recovers an interrupted command before it looks at the lake."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from _planted_plan import snapshot, write_lake
from prunekit.cli import main
from prunekit.cli._common import console
from prunekit.lake import apply as apply_module
from prunekit.lake.apply import apply_plan
from prunekit.lake.deletion_plan import plan_to_file
from prunekit.lake.exact import table_difference
from prunekit.lake.purge import purge
from prunekit.lake.restore import restore_tables
from prunekit.lake.scan import scan, scan_to_folder
from prunekit.lake.tableio import file_checksum, read_table
from prunekit.lake.trash import lake_state, trash_entries

# Differ between two runs of the same command: wall times, clocks, run ids, file mtimes (signature),
# hashes of files holding them.
VOLATILE = {"seconds", "created", "time", "run", "sha256", "signature"}
# Files whose bytes hold absolute paths, times or mtimes: compared through _norm instead.
NOT_BYTES = {"containment.json", "containment.parquet", "containment.png", "containment.html", "plan.json",
             "profiles.json", "journal.jsonl", "recipe.json"}


def _norm(obj, base: Path):
    """JSON value with the volatile keys dropped and ``base`` (each side's folder) made neutral."""
    if isinstance(obj, dict):
        return {k: _norm(v, base) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_norm(v, base) for v in obj]
    if isinstance(obj, str):
        return obj.replace(str(base.resolve()), "<T>").replace(str(base), "<T>")
    return obj


def _json(path: Path, base: Path):
    return _norm(json.loads(path.read_text()), base)


def _journal(base: Path):
    lines = (base / "lake" / ".prunekit-trash" / "journal.jsonl").read_text().splitlines()
    return [_norm(json.loads(x), base) for x in lines]


def _tree(base: Path) -> dict[str, str]:
    """Every file under ``base``: its relative path → sha256 of its bytes (or of its normalised JSON)."""
    out = {}
    for p in sorted(base.rglob("*")):
        if p.is_dir() or p.name == "lock":
            continue
        rel = p.relative_to(base).as_posix()
        if p.name in ("recipe.json", "plan.json", "containment.json"):
            out[rel] = json.dumps(_json(p, base), sort_keys=True)
        elif p.name not in NOT_BYTES:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "present"
    return out


def test_each_command_function_alone_gives_the_cli_artefacts(tmp_path, capsys, monkeypatch):
    cli, lib = tmp_path / "cli", tmp_path / "lib"
    paths = {side: write_lake(side / "lake") for side in (cli, lib)}
    names = sorted(paths[cli])

    # scan
    assert main(["lake", "scan", str(cli / "lake"), "-o", str(cli / "scan"), "-q"]) == 0
    scan_to_folder(lib / "lake", lib / "scan")
    assert _json(cli / "scan/containment.json", cli) == _json(lib / "scan/containment.json", lib)
    assert pq.read_table(cli / "scan/containment.parquet").equals(pq.read_table(lib / "scan/containment.parquet"))
    assert (lib / "scan/containment.png").exists() and (lib / "scan/containment.html").exists()

    # plan
    assert main(["lake", "plan", str(cli / "scan"), "-o", str(cli / "plan.json"), "-q"]) == 0
    plan = plan_to_file(lib / "scan", lib / "plan.json")
    assert _json(cli / "plan.json", cli) == _json(lib / "plan.json", lib) == _norm(plan, lib)
    deleted = [d["table"] for d in plan["deletions"]]
    # eu_orders and one copy of orders; the two CSV children are smaller than their recipes
    assert len(deleted) == 2

    # apply
    assert main(["lake", "apply", str(cli / "plan.json"), "--execute", "-q"]) == 0
    report = apply_plan(lib / "plan.json", execute=True)
    assert sorted(report.deleted) == sorted(deleted)
    assert _tree(cli) == _tree(lib)
    assert _journal(cli) == _journal(lib)

    # trash (printed only: its table names the library's rows)
    capsys.readouterr()
    monkeypatch.setattr(console, "width", 300)  # no wrapped cells
    assert main(["lake", "trash", "--lake", str(cli / "lake")]) == 0
    printed = " ".join(capsys.readouterr().out.split())  # a title wider than the table wraps
    rows = trash_entries(lib / "lake")
    assert f": {len(rows)} tables" in printed and all(r["table"] in printed for r in rows)
    assert _norm(rows, lib) == _norm(trash_entries(cli / "lake"), cli)

    # purge one table, then restore two (one from its trash copy, one from its recipe)
    purged, kept = deleted[0], deleted[1]
    assert main(["lake", "purge", purged, "--lake", str(cli / "lake"), "--execute"]) == 0
    assert [r["outcome"] for r in purge(lib / "lake", [purged], execute=True)] == ["purged"]
    assert _tree(cli) == _tree(lib)
    assert main(["lake", "restore", purged, kept, "--lake", str(cli / "lake")]) == 0
    restored = restore_tables(lib / "lake", [purged, kept])
    assert [r["mode"] for r in restored] == ["rebuild", "trash"]
    assert _tree(cli) == _tree(lib)
    assert _journal(cli) == _journal(lib)
    for n in (purged, kept):
        assert file_checksum(paths[cli][n]) == file_checksum(paths[lib][n])
    assert set(names) >= set(deleted)


class _Killed(BaseException):
    """Stands for the process dying at a crash point: nothing after it runs, no clean-up."""


def _interrupt_apply(root: Path, plan_path: Path, monkeypatch, at: str = "moved") -> None:
    def crash(point: str) -> None:
        if point == at:
            raise _Killed(point)

    monkeypatch.setattr(apply_module, "crash_point", crash)
    with pytest.raises(_Killed):
        apply_plan(plan_path, execute=True)
    monkeypatch.undo()
    states = {e.state for e in lake_state(root).values()}
    assert states == {"applying"}  # the first table is half-applied: in the trash, not done


def test_library_scan_of_a_half_applied_lake_recovers_first_like_the_cli(tmp_path, monkeypatch):
    root = tmp_path / "lake"
    paths = write_lake(root)
    snap = snapshot(paths)
    before, _ = scan_to_folder(root, tmp_path / "scan0", graph=False)
    plan_to_file(tmp_path / "scan0", tmp_path / "plan.json")
    _interrupt_apply(root, tmp_path / "plan.json", monkeypatch)
    moved = [n for n, p in paths.items() if not p.exists()]
    assert len(moved) == 1  # the half-applied table is not where the lake has it
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)

    lines: list[str] = []
    result = scan(root, echo=lines.append)
    assert lines == [f"recovered {moved[0]}: apply was interrupted after 'moved'; moved back in place"]
    assert set(result.profiles) == set(paths)
    assert [e.to_dict() for e in result.edges] == [e.to_dict() for e in before.edges]
    for n, p in paths.items():
        assert table_difference(snap[n][1], read_table(p, "csv" if p.suffix == ".csv" else "parquet")) is None

    assert main(["lake", "scan", str(copy), "-o", str(tmp_path / "scan_cli"), "-q", "--no-graph"]) == 0
    cli = json.loads((tmp_path / "scan_cli" / "containment.json").read_text())
    assert set(cli["profiles"]) == set(result.profiles)
    assert cli["edges"] == [e.to_dict() for e in result.edges]
    assert {e.state for e in lake_state(root).values()} == {e.state for e in lake_state(copy).values()} == {"in_place"}


def test_plan_of_a_half_applied_lake_recovers_first(tmp_path, monkeypatch):
    root = tmp_path / "lake"
    paths = write_lake(root)
    scan_to_folder(root, tmp_path / "scan", graph=False)
    first = plan_to_file(tmp_path / "scan", tmp_path / "plan.json")
    _interrupt_apply(root, tmp_path / "plan.json", monkeypatch)
    lines: list[str] = []
    again = plan_to_file(tmp_path / "scan", tmp_path / "plan2.json", echo=lines.append)
    assert len(lines) == 1 and lines[0].startswith("recovered ")
    assert all(p.exists() for p in paths.values())
    assert again["deletions"] == first["deletions"]
