"""A table written by pandas, polars, DuckDB and Spark, each with its defaults, as Parquet and as CSV,
is found equal to itself both ways (docs/LAKE.md, "Value semantics"): the CSV parse, the row index
pandas writes, nullable ints, NULL strings, dates, timestamps and date-looking text all line up."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from prunekit.lake.scan import scan

ROWS = {
    "id": [1, 2, 3, 4],
    "amount": [1.5, None, 3.0, -0.0],
    "n": [1, None, 3, 4],
    "name": ["a", None, "NA text", "d,e"],
    "flag": [True, False, None, True],
    "day": [dt.date(2020, 1, 31), None, dt.date(2021, 2, 1), dt.date(1999, 12, 31)],
    "ts": [dt.datetime(2020, 1, 31, 10), dt.datetime(2020, 1, 31, 10, 0, 0, 500000), None, dt.datetime(2000, 1, 1)],
    "dstr": ["2020-01-31", "2020-02-01", None, "2020-03-01"],
}
#: writers that tell an empty string from a NULL in CSV (pandas writes both as an empty field)
EMPTY = ["", None, "x", "y"]


def frame(empty: bool) -> pd.DataFrame:
    df = pd.DataFrame({k: v for k, v in ROWS.items() if k not in ("n", "ts")})
    df["n"] = pd.array(ROWS["n"], dtype="Int64")
    df["ts"] = pd.to_datetime(ROWS["ts"])
    if empty:
        df["e"] = EMPTY
    return df


def _check(lake: Path, parquet_prefix: str, csv_prefix: str) -> None:
    result = scan(lake, cache=False)
    names = sorted(result.profiles)
    pq_name = next(n for n in names if n.startswith(parquet_prefix))
    csv_name = next(n for n in names if n.startswith(csv_prefix))
    assert result.profiles[csv_name].format == "csv" and result.profiles[pq_name].format != "csv"
    edges = {(e.parent, e.child) for e in result.edges}
    assert {(pq_name, csv_name), (csv_name, pq_name)} <= edges, (edges, result.skipped)
    assert sorted([pq_name, csv_name]) in result.duplicate_groups


def test_pandas(tmp_path):
    df = frame(empty=False)
    df.to_parquet(tmp_path / "t.parquet")
    df.to_csv(tmp_path / "t.csv")              # with its index, as pandas does by default
    _check(tmp_path, "t.parquet", "t.csv")


def test_polars(tmp_path):
    pl = pytest.importorskip("polars")
    df = pl.from_pandas(frame(empty=True))
    df.write_parquet(tmp_path / "t.parquet")
    df.write_csv(tmp_path / "t.csv")
    _check(tmp_path, "t.parquet", "t.csv")


def test_duckdb(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    con.register("df", frame(empty=True))
    con.execute(f"COPY df TO '{tmp_path / 't.parquet'}' (FORMAT parquet)")
    con.execute(f"COPY df TO '{tmp_path / 't.csv'}' (HEADER)")
    con.close()
    _check(tmp_path, "t.parquet", "t.csv")


@pytest.mark.slow
def test_spark(tmp_path, spark_session):
    rows = [tuple(ROWS[k][i] for k in ROWS) + (EMPTY[i],) for i in range(4)]
    df = spark_session.createDataFrame(rows, "id long, amount double, n int, name string, flag boolean, "
                                             "day date, ts timestamp, dstr string, e string")
    # Spark writes folders of part files; a header is the one option a CSV needs to name its columns
    df.coalesce(1).write.parquet(str(tmp_path / "t_parquet"))
    df.coalesce(1).write.option("header", True).csv(str(tmp_path / "t_csv"))
    _check(tmp_path, "t_parquet", "t_csv")
