"""Shared artefacts of the bad-input suite, each built once per session (per worker) and frozen:
the harness puts a store back from its pristine copy after any case that changed it.

- ``data_store``: a 200-row planted mixture as Parquet (``d.parquet``: id, label, 8-D embedding),
  the same rows with other values (``other.parquet``), other ids (``other_ids.parquet``), fewer
  rows (``short.parquet``), numeric columns (``flat.parquet``), a folder of parts
  (``parts.parquet/``), ``.npy`` + labels and CSV; score tables and selections of ``d.parquet``,
  ``emb.npy`` and ``flat.parquet``.
- ``lake_store``: a lake of five small tables (two children of ``base/orders``), its scan
  (``scan/containment.json``) and a deletion plan (``plan.json``) that deletes both children.
- ``ck_store``: a sparse checkpoint (LeNet-300-100 on digits, one epoch) — the one torch training.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from _bad_input_harness import Ctx, Store
from planted import gaussian_mixture

N, DIM = 200, 8
SIZES = (80, 60, 60)


def _table(X, y, ids) -> pa.Table:
    flat = pa.array(np.ascontiguousarray(X).reshape(-1))
    return pa.table({"id": pa.array(ids), "label": pa.array(y),
                     "embedding": pa.FixedSizeListArray.from_arrays(flat, X.shape[1])})


def _flat(X, y, ids) -> pa.Table:
    cols = {"id": pa.array(ids), "label": pa.array(y)}
    cols.update({f"f{j}": pa.array(X[:, j]) for j in range(X.shape[1])})
    return pa.table(cols)


@pytest.fixture(scope="session")
def data_store(tmp_path_factory) -> Store:
    from prunekit.data import score, select
    from prunekit.io import read_examples

    root = tmp_path_factory.mktemp("bad-input") / "data"
    root.mkdir()
    X, y = gaussian_mixture(SIZES, DIM, seed=0)
    X2, _ = gaussian_mixture(SIZES, DIM, seed=1)
    ids = np.arange(N, dtype=np.int64)
    pq.write_table(_table(X, y, ids), root / "d.parquet")
    pq.write_table(_table(X2, y, ids), root / "other.parquet")          # same ids, other values
    pq.write_table(_table(X, y, ids + 1000), root / "other_ids.parquet")  # same values, other ids
    pq.write_table(_table(X[:150], y[:150], ids[:150]), root / "short.parquet")
    pq.write_table(_flat(X, y, ids), root / "flat.parquet")
    pacsv.write_csv(_flat(X, y, ids), root / "d.csv")
    (root / "parts.parquet").mkdir()
    pq.write_table(_table(X[:100], y[:100], ids[:100]), root / "parts.parquet" / "part-0.parquet")
    pq.write_table(_table(X[100:], y[100:], ids[100:]), root / "parts.parquet" / "part-1.parquet")
    np.save(root / "emb.npy", X)
    np.save(root / "labels.npy", y)

    def scored(data, out, sel_out, **kw):
        ex = read_examples(root / data, **kw)
        t = score(ex, ["prototypicality", "semdedup", "density"], k=5, seed=0)
        t.write(root / out)
        select(t, "random", 0.5, seed=0).write(root / sel_out)

    scored("d.parquet", "s.parquet", "sel.parquet")
    scored("emb.npy", "s_npy.parquet", "sel_npy.parquet", labels=root / "labels.npy")
    scored("flat.parquet", "s_flat.parquet", "sel_flat.parquet")
    (root / "sweep_bad_keep.toml").write_text('data = "digits"\nmethods = ["random"]\nkeep = [1.5]\nseeds = 1\n')
    (root / "sweep_bad_method.toml").write_text('data = "digits"\nmethods = ["nope"]\nkeep = [0.5]\nseeds = 1\n')
    (root / "a dir").mkdir()
    return Store(root).freeze()


def _lake_tables():
    """Children big enough that deleting them saves more than their recipes cost (the plan counts
    the recipe's bytes)."""
    rng = np.random.default_rng(0)
    n = 2000
    orders = pa.table({
        "id": pa.array(np.arange(n, dtype=np.int64)),
        "customer": pa.array([f"customer {i:05d} of the planted lake, account {rng.integers(1 << 40)}"
                              for i in range(n)]),
        "amount": pa.array(np.round(rng.uniform(0, 500, size=n), 2)),
        "region": pa.array(np.array(["eu", "us", "apac"])[np.arange(n) % 3].tolist()),
    })
    eu = orders.filter(pc.equal(orders["region"], "eu"))
    small = orders.select(["id", "customer", "amount"]).slice(100, 400)
    other = pa.table({"k": pa.array(np.arange(30)), "v": pa.array(rng.normal(size=30))})
    return orders, eu, small, other


@pytest.fixture(scope="session")
def lake_store(tmp_path_factory) -> Store:
    from prunekit.lake.deletion_plan import plan_to_file
    from prunekit.lake.scan import scan_to_folder

    root = tmp_path_factory.mktemp("bad-input") / "lakes"
    lake = root / "lake"
    for sub in ("base", "derived", "exports", "misc"):
        (lake / sub).mkdir(parents=True)
    orders, eu, small, other = _lake_tables()
    pq.write_table(orders, lake / "base/orders.parquet")
    pq.write_table(eu, lake / "derived/eu.parquet")
    pacsv.write_csv(small, lake / "exports/small.csv")
    pq.write_table(other, lake / "misc/other.parquet")
    scan_to_folder(lake, root / "scan", cache=False, graph=False, show_progress=False)
    plan = plan_to_file(root / "scan", root / "plan.json")
    deleted = sorted(d["table"] for d in plan["deletions"])
    assert deleted == ["derived/eu", "exports/small"], deleted  # the fixture is only useful so
    (root / "access.csv").write_text("table,accesses\nderived/eu,3\n")
    return Store(root).freeze()


@pytest.fixture(scope="session")
def ck_store(tmp_path_factory) -> Store:
    import torch

    from prunekit.sparse.train import train_sparse

    root = tmp_path_factory.mktemp("bad-input") / "sparse"
    root.mkdir()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_sparse("lenet300", "digits", method="magnitude", sparsity=0.9, epochs=1, seed=0,
                     show_progress=False, out=root / "ck.pt")
    finally:
        torch.set_num_threads(before)
    return Store(root).freeze()


@pytest.fixture
def ctx(tmp_path, monkeypatch) -> Ctx:
    """The case's folder, also the current directory (a relative write would land here and be
    seen by the snapshot)."""
    case_dir = tmp_path / "case"
    case_dir.mkdir()
    monkeypatch.chdir(case_dir)
    return Ctx(tmp=case_dir)
