"""Lakes with symbolic links: a table is its real path; a link is an alias or a skipped entry, never
a second table, never planned, never moved; apply, restore and purge touch only real files."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from _lake_tree import forced_plan, tree
from _planted_plan import scan_of, write_lake
from prunekit.cli import main
from prunekit.errors import InputError, PrunekitError
from prunekit.lake import deletion_plan as lp
from prunekit.lake.apply import PlanMismatch, apply_plan
from prunekit.lake.catalog import scan_catalog
from prunekit.lake.model import ScanResult
from prunekit.lake.purge import purge
from prunekit.lake.restore import restore_tables
from prunekit.lake.scan import scan, scan_to_folder
from prunekit.lake.tableio import file_checksum
from prunekit.lake.trash import entry_dir


def _edges(result: ScanResult) -> set:
    return {(e.parent, e.child) for e in result.edges}


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """The planted lake without links and its scan (the reference every linked lake must match)."""
    root = tmp_path_factory.mktemp("plain") / "lake"
    paths = write_lake(root)
    return root, paths, scan(root, cache=False)


def _linked_copy(plain, tmp_path) -> tuple[Path, dict[str, Path]]:
    root = tmp_path / "lake"
    paths = write_lake(root)
    assert tree(root) == tree(plain[0])
    return root, paths


def test_folder_alias_is_reported_not_scanned_planned_or_moved(plain, tmp_path, capsys):
    root, paths = _linked_copy(plain, tmp_path)
    os.symlink("base", root / "latest")                         # lake/latest -> base
    os.symlink("orders.parquet", root / "base/orders_alias.parquet")
    result = scan(root, cache=False)
    assert set(result.profiles) == set(plain[2].profiles)
    assert _edges(result) == _edges(plain[2])
    got = {(Path(a.path).relative_to(root).as_posix(), a.target, a.table) for a in result.aliases}
    assert got == {("latest", "base", None), ("base/orders_alias.parquet", "base/orders.parquet", "base/orders")}
    assert result.skipped == []
    assert all(str(root / "latest") not in p.path for p in result.profiles.values())

    # The CLI reports them; the JSON carries them; the plan never names them.
    out = tmp_path / "scan"
    assert main(["lake", "scan", str(root), "-o", str(out), "--no-graph", "--no-cache"]) == 0
    printed = capsys.readouterr().out
    assert "2 aliases" in printed and "latest" in printed
    data = json.loads((out / "containment.json").read_text())
    assert {a["target"] for a in data["aliases"]} == {"base", "base/orders.parquet"}
    assert ScanResult.from_json((out / "containment.json").read_text()).aliases == result.aliases
    plan_path = tmp_path / "plan.json"
    assert main(["lake", "plan", str(out), "-o", str(plan_path), "-q"]) == 0
    plan = json.loads(plan_path.read_text())
    named = set(plan["tables"]) | {d["parent"] for d in plan["deletions"]}
    assert not any("latest" in n or "alias" in n for n in named)

    before = {n: file_checksum(p) for n, p in paths.items()}
    assert main(["lake", "apply", str(plan_path), "--execute", "-q"]) == 0
    deleted = {d["table"] for d in plan["deletions"]}
    for n, p in paths.items():
        if n in deleted:
            assert not p.exists() and entry_dir(root, n).exists()
        else:
            assert file_checksum(p) == before[n], n     # every kept table is where it was, unchanged
    assert os.readlink(root / "latest") == "base" and os.readlink(root / "base/orders_alias.parquet") == "orders.parquet"


def test_parent_folder_link_does_not_multiply_the_lake(plain, tmp_path):
    root, _ = _linked_copy(plain, tmp_path)
    (root / "deep").mkdir()
    os.symlink("..", root / "deep/up")
    os.symlink(str(root), root / "base/again")                # an absolute link to the root itself
    result = scan(root, cache=False)
    assert len(result.profiles) == len(plain[2].profiles) == 6
    assert _edges(result) == _edges(plain[2])
    assert {a.target for a in result.aliases} == {"."}
    assert result.stages[0].pairs_in == 6


def test_loop_and_dangling_links_are_named_and_their_folders_still_scanned(plain, tmp_path):
    root, _ = _linked_copy(plain, tmp_path)
    os.symlink("b.parquet", root / "derived/a.parquet")
    os.symlink("a.parquet", root / "derived/b.parquet")
    os.symlink("gone.csv", root / "exports/missing.csv")
    os.symlink("nowhere", root / "exports/dangling_dir")
    result = scan(root, cache=False)
    reasons = {Path(s.path).relative_to(root).as_posix(): s.reason for s in result.skipped}
    assert set(reasons) == {"derived/a.parquet", "derived/b.parquet", "exports/missing.csv", "exports/dangling_dir"}
    assert "link loop" in reasons["derived/a.parquet"] and "link loop" in reasons["derived/b.parquet"]
    assert "dangling" in reasons["exports/missing.csv"] and "gone.csv" in reasons["exports/missing.csv"]
    assert all(s.kind == "link" for s in result.skipped)
    # The good tables beside them are all there, with the same edges.
    assert {"derived/eu_orders", "exports/orders_small", "exports/amounts"} <= set(result.profiles)
    assert _edges(result) == _edges(plain[2])
    assert result.stages[0].pairs_in == 6          # links are not counted as tables found


def test_links_leaving_the_root_are_not_followed(plain, tmp_path):
    root, _ = _linked_copy(plain, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    pq.write_table(pa.table({"k": [1, 2, 3], "v": [1.0, 2.0, 3.0]}), outside / "t.parquet")
    os.symlink(outside, root / "ext")
    os.symlink(outside / "t.parquet", root / "misc/t.parquet")
    os.symlink("../../outside", root / "misc/rel_ext")
    result = scan(root, cache=False)
    assert set(result.profiles) == set(plain[2].profiles)
    reasons = {Path(s.path).relative_to(root).as_posix(): s.reason for s in result.skipped}
    assert set(reasons) == {"ext", "misc/t.parquet", "misc/rel_ext"}
    assert all("outside the lake root" in r for r in reasons.values())
    assert result.aliases == []


def test_parts_folder_holding_a_link_is_skipped_whole(plain, tmp_path):
    root, _ = _linked_copy(plain, tmp_path)
    parts = root / "copies/orders_parts"
    os.symlink("part-0000.parquet", parts / "part-0009.parquet")
    cat = scan_catalog(root, cache=False)
    assert "copies/orders_parts" not in cat.profiles
    (s,) = cat.skipped
    assert s.path == str(parts) and "holds links (part-0009.parquet)" in s.reason


def test_apply_refuses_a_plan_naming_a_link_and_changes_nothing(tmp_path, capsys):
    """The reported bug: an old scan saw lake/latest/orders as a table 'inside' base/orders; apply
    moved the real base/orders.parquet through the link. Now it refuses, naming the link."""
    root = tmp_path / "lake"
    paths = write_lake(root)
    os.symlink("base", root / "latest")
    linked = dict(paths, **{"latest/orders": root / "latest/orders.parquet"})
    result = scan_of(root, linked, edges=[("copies/orders_parts", "latest/orders")])
    # as the old catalogue recorded it: the path through the link, not the real one
    result.profiles["latest/orders"] = replace(result.profiles["latest/orders"],
                                               path=str(root / "latest/orders.parquet"))
    plan = forced_plan(result, [("latest/orders", "copies/orders_parts")])
    plan_path = tmp_path / "plan.json"
    lp.save_plan(plan, plan_path)
    before = tree(root)
    with pytest.raises(PlanMismatch, match="latest/orders: latest/orders.parquet goes through latest, which is a link"):
        apply_plan(plan, execute=True)
    assert main(["lake", "apply", str(plan_path), "--execute"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "latest" in err[0] and "nothing was moved" in err[0]
    assert main(["lake", "apply", str(plan_path)]) == 2            # the dry run refuses it too
    assert tree(root) == before and not (root / ".prunekit-trash").exists()
    # Recorded under its real path instead, the alias is the same file as its parent: refused too.
    same = scan_of(root, linked, edges=[("base/orders", "latest/orders")])
    assert same.profiles["latest/orders"].path == same.profiles["base/orders"].path
    with pytest.raises(PlanMismatch, match="base/orders and latest/orders are the same file"):
        apply_plan(forced_plan(same, [("latest/orders", "base/orders")]), execute=True)
    assert tree(root) == before


def test_restore_and_purge_refuse_links_on_their_way(tmp_path, capsys):
    root = tmp_path / "lake"
    paths = write_lake(root)
    scan = scan_of(root, paths)
    apply_plan(forced_plan(scan, [("derived/eu_orders", "base/orders"), ("exports/amounts", "base/orders")]),
               execute=True)
    child = "derived/eu_orders"
    assert not paths[child].exists()
    # The table's folder is now a link to a folder elsewhere: a restore would write outside the lake.
    elsewhere = tmp_path / "elsewhere"
    (root / "derived").rename(elsewhere)
    os.symlink(elsewhere, root / "derived")
    before = tree(root)
    with pytest.raises(InputError, match="derived/eu_orders.parquet goes through derived, which is a link"):
        restore_tables(root, [child])
    assert main(["lake", "restore", child, "exports/amounts", "--lake", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "derived" in err[0] and "nothing was restored" in err[0]
    assert tree(root) == before and list(elsewhere.iterdir()) == []

    # A trash copy replaced by a link is refused by purge (its target is left alone).
    other = "exports/amounts"
    data = entry_dir(root, other) / "data" / "amounts.csv"
    kept = tmp_path / "kept.csv"
    data.rename(kept)
    os.symlink(kept, data)
    rows = purge(root, [other], execute=True)
    assert rows[0]["outcome"] == "refused" and "is a link" in rows[0]["detail"]
    assert main(["lake", "purge", other, "--lake", str(root), "--execute"]) == 1
    assert f"refused {other}:" in capsys.readouterr().out
    assert kept.exists() and data.is_symlink()


def test_scan_output_and_cache_never_land_where_the_scan_reads(plain, tmp_path, capsys):
    root, _ = _linked_copy(plain, tmp_path)
    before = tree(root)
    for out in (root, root / "reports", root / "base/scan"):
        with pytest.raises(PrunekitError, match="inside the lake"):
            scan_to_folder(root, out)
        assert main(["lake", "scan", str(root), "-o", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "inside the lake" in err[0]
    with pytest.raises(InputError, match="profile cache"):
        scan_catalog(root, cache=root / "base/orders.parquet")
    assert tree(root) == before
    # A hidden folder of the lake is never read by a scan: allowed.
    result, written = scan_to_folder(root, root / ".scan", cache=False, graph=False)
    assert written["json"].exists() and set(scan(root, cache=False).profiles) == set(result.profiles)
