"""End to end through the real scan: scan → plan → apply → rescan → restore, all via the CLI."""

from __future__ import annotations

import json

import pytest

from _planted_plan import snapshot, write_lake
from prunekit.cli import main
from prunekit.lake.exact import table_difference
from prunekit.lake.trash import lake_state
from prunekit.lake.tableio import file_checksum, read_table


@pytest.mark.slow
def test_scan_plan_apply_rescan_restore(tmp_path):
    root = tmp_path / "lake"
    paths = write_lake(root)
    snap = snapshot(paths)
    out = tmp_path / "scan"
    assert main(["lake", "scan", str(root), "-o", str(out)]) == 0
    assert main(["lake", "plan", str(out), "-o", str(tmp_path / "plan.json"), "-q"]) == 0
    plan = json.loads((tmp_path / "plan.json").read_text())
    deleted = {d["table"] for d in plan["deletions"]}
    # The scan finds the planted edges, so the plan deletes the planted child and one copy; the two
    # CSV children (a few hundred bytes) stay: their recipes would take more room than they do.
    assert "derived/eu_orders" in deleted and not {"exports/orders_small", "exports/amounts"} & deleted
    assert len(deleted & {"base/orders", "copies/orders_parts"}) == 1
    assert main(["lake", "apply", str(tmp_path / "plan.json"), "--execute", "-q"]) == 0
    assert all(not paths[n].exists() for n in deleted)

    # A rescan does not look into the trash (a dot-folder): the deleted tables are gone from it,
    # and what is left is not worth deleting (the CSV children are smaller than their recipes).
    out2 = tmp_path / "scan2"
    assert main(["lake", "scan", str(root), "-o", str(out2)]) == 0
    scan2 = json.loads((out2 / "containment.json").read_text())
    assert set(scan2["profiles"]) == set(paths) - deleted
    assert main(["lake", "plan", str(out2), "-o", str(tmp_path / "plan2.json"), "-q"]) == 0
    plan2 = json.loads((tmp_path / "plan2.json").read_text())
    assert plan2["deletions"] == []

    assert main(["lake", "purge", "--lake", str(root), "--execute"]) == 0
    for n in sorted(deleted):
        assert main(["lake", "restore", n, "--lake", str(root)]) == 0
    for n, p in paths.items():
        t = read_table(p, "csv" if p.suffix == ".csv" else "parquet")
        assert table_difference(snap[n][1], t) is None, n
        if n not in deleted:
            assert file_checksum(p) == snap[n][0]
    assert all(e.state == "in_place" for e in lake_state(root).values())
