"""Tables in a data lake: find tables contained in other tables, plan deletions, delete safely
and restore exactly (R2D2; see docs/LAKE.md)."""

from prunekit.lake.model import ColumnProfile, Edge, ScanResult, Skipped, StageReport, TableProfile

__all__ = ["ColumnProfile", "Edge", "ScanResult", "Skipped", "StageReport", "TableProfile"]
