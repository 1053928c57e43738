"""The Spark engine (local mode) gives exactly the DuckDB engine's answers."""

from __future__ import annotations

import pyarrow as pa
import pytest

pytest.importorskip("pyspark")

from prunekit.lake.backends import verify_group
from prunekit.lake.catalog import scan_catalog
from prunekit.lake.scan import find_containment
from prunekit.lake.verify import canonical_array


# spark_verifier: the run's one Spark session (tests/conftest.py)


@pytest.mark.slow
@pytest.mark.parametrize("semantics", ["bag", "set"])
def test_spark_and_duckdb_find_the_same_edges(planted_lake, spark_verifier, semantics):
    cat = scan_catalog(planted_lake, cache=False)
    duck, duck_trace = find_containment(cat, semantics=semantics, engine="duckdb")
    spark, spark_trace = find_containment(cat, semantics=semantics, verifier=spark_verifier)
    assert spark.engine == "spark" and duck.engine == "duckdb"

    def key(r):
        return {(e.parent, e.child, e.columns, e.duplicate) for e in r.edges}

    assert key(spark) == key(duck) and spark.edges
    assert spark.duplicate_groups == duck.duplicate_groups
    # Spark verifies a parent's children in one batch, so it may verify a pair DuckDB proved by
    # transitivity; wherever both compared rows, the answers agree, rejections included.
    common = set(spark_trace.verified) & set(duck_trace.verified)
    assert set(duck_trace.verified) <= set(spark_trace.verified) | spark_trace.implied
    assert {p: spark_trace.verified[p] for p in common} == {p: duck_trace.verified[p] for p in common}
    assert any(not spark_trace.verified[p] for p in common)


@pytest.mark.slow
def test_spark_value_semantics(spark_verifier):
    # canonical tables, as the scan gives them (verify.canonical_array): NaN is NULL, -0.0 is 0
    def can(t: pa.Table) -> pa.Table:
        return pa.table([canonical_array(c) for c in t.columns], names=t.column_names)

    p = can(pa.table({"c0": pa.array([float("nan"), 0.5, None, 1.0]), "c1": pa.array(["a", "b", None, "d"])}))
    cases = {
        "nan_negzero_null": (pa.table({"c0": pa.array([float("nan"), 0.5, None]),
                                       "c1": pa.array(["a", "b", None])}), True, True),
        "null_for_nan": (pa.table({"c0": pa.array([None], pa.float64()), "c1": pa.array(["a"])}), True, True),
        "twice": (pa.table({"c0": pa.array([1.0, 1.0]), "c1": pa.array(["d", "d"])}), False, True),
    }
    for name, (child, bag, set_) in cases.items():
        child = can(child)
        assert verify_group(spark_verifier, p, [(name, child)], "bag") == {name: bag}, name
        assert verify_group(spark_verifier, p, [(name, child)], "set") == {name: set_}, name
