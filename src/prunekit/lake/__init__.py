"""Tables in a data lake: find tables contained in other tables, plan deletions, delete safely
and restore exactly (R2D2; see docs/LAKE.md).

One library function per ``prunekit lake`` command does everything the command does but parse
its arguments and print (it takes the lake's lock and recovers an interrupted command first):

=========================  ============================================================
``prunekit lake scan``     ``prunekit.lake.scan.scan_to_folder(root, out, ...)``
``prunekit lake explain``  ``prunekit.lake.explain.explain_pair(child, parent, ...)``
``prunekit lake plan``     ``prunekit.lake.deletion_plan.plan_to_file(scan, out, ...)``
``prunekit lake apply``    ``prunekit.lake.apply.apply_plan(plan, execute=...)``
``prunekit lake restore``  ``prunekit.lake.restore.restore_tables(root, names, ...)``
``prunekit lake purge``    ``prunekit.lake.purge.purge(root, names, execute=...)``
``prunekit lake trash``    ``prunekit.lake.trash.trash_entries(root)``
``prunekit lake demo``     ``prunekit.lake.demo_lake.run_demo(out, ...)``
=========================  ============================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prunekit.lake.model import ColumnProfile, Edge, ScanResult, Skipped, StageReport, TableProfile

__all__ = ["ColumnProfile", "Edge", "ScanResult", "Skipped", "StageReport", "TableProfile"]


def __getattr__(name: str) -> Any:
    # Imported on first use: ``prunekit.lake.model`` needs pyarrow, which the CLI's start-up (and
    # ``prunekit.lake.params``, which it reads for its options) should not pay for.
    if name in __all__:
        from prunekit.lake import model

        return getattr(model, name)
    raise AttributeError(f"module 'prunekit.lake' has no attribute {name!r}")
