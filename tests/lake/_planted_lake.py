"""Planted lakes with known ground truth, and a slow brute-force containment reference.

``write_planted_lake(root)`` writes a small lake (Parquet files, a folder of parts, CSV files) whose
containments are planted on purpose: row selections, projections with renamed/reordered/upper-case
columns, exact copies, type-width and string-flavour changes, and near misses (one changed value
and one foreign row hidden from the sample, a duplicated row, one extra row; and a NULL in place of
a NaN, which the value semantics count as the same null). ``brute_force_edges`` decides containment
for every ordered pair by the definition alone (Python multisets of ``semantics.reference_rows``),
with no pruning: the reference the pipeline must match.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

os.environ.setdefault("PRUNEKIT_PROGRESS", "0")

from prunekit.lake.semantics import family, reference_rows  # noqa: E402
from prunekit.lake.tableio import read_table  # noqa: E402
from prunekit.lake.verify import sample_indices  # noqa: E402

BIG_ROWS = 3000
BIG_CHILD = 1500


def _base_table(rng: np.random.Generator, n: int = 400) -> pa.Table:
    ids = np.arange(n, dtype=np.int64)
    names = [f"name_{i % 97}" for i in range(n)]
    for i in (5, 50, 300):
        names[i] = None
    score = np.round(rng.normal(size=n) * 10, 3)
    score_mask = np.zeros(n, dtype=bool)
    score[[7, 70, 170, 270]] = np.nan           # NaN rows
    score_mask[[9, 90, 190]] = True             # null rows
    score[11] = -0.0                            # a negative zero
    qty = rng.integers(1, 20, size=n).astype(np.int32)
    day = pa.array(np.datetime64("2020-01-01") + rng.integers(0, 900, size=n).astype("timedelta64[D]"))
    return pa.table({
        "id": pa.array(ids),
        "name": pa.array(names, pa.string()),
        "score": pa.array(score, pa.float64(), mask=score_mask),
        "qty": pa.array(qty, pa.int32()),
        "day": day.cast(pa.date32()),
    })


def _take(t: pa.Table, idx) -> pa.Table:
    return t.take(pa.array(np.asarray(idx, dtype=np.int64)))


def _write(t: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        pacsv.write_csv(t, path)
    else:
        pq.write_table(t, path)


def _row_outside_sample(name: str, n_rows: int, seed: int = 0) -> int:
    """A row position the scan's seeded sample of ``name`` does not look at."""
    sampled = set(sample_indices(name, n_rows, seed=seed).tolist())
    return next(i for i in range(n_rows // 2, n_rows) if i not in sampled)


def write_planted_lake(root: str | Path, *, bad_files: bool = False, seed: int = 0) -> dict:
    """Write the planted lake under ``root``; return what was planted (names → notes).

    Planted containments (child ⊆ parent, bag semantics) include, among others:
    ``sales/sub_rows ⊆ sales/base``, ``sales/proj_upper ⊆ sales/base`` (columns ``SCORE``, ``Id``,
    reordered), ``sales/wide_types ⊆ sales/base`` (int32 id, large_string name, int64 qty),
    ``sales/base`` = ``sales/base_copy`` = ``sales/base_parts`` (duplicates), ``big/events_sub ⊆
    big/events``, ``people/people_sub ⊆ people/people`` (CSV), ``people/people`` =
    ``people/people_pq``, ``vec/x_small`` = ``vec/x_copy`` (narrow duplicates).
    Near misses (not contained): ``big/events_changed`` and ``big/events_foreign`` (survive stats
    and the sample; only verification rejects them), ``sales/dup_rows`` (bag: no; set: yes),
    ``sales/extra_row`` (⊄ base; base ⊆ it).
    ``sales/null_for_nan`` ⊆ ``sales/base`` (a NULL where the parent has NaN: the same null).
    ``bad_files=True`` adds ``bad/`` with a corrupt Parquet, a ragged CSV, an empty table and
    duplicate column names, plus a table inside a dot-folder that must be ignored.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    base = _base_table(rng)
    n = base.num_rows
    _write(base, root / "sales/base.parquet")
    _write(_take(base, rng.permutation(n)), root / "sales/base_copy.parquet")
    parts = root / "sales/base_parts"
    for i, (a, b) in enumerate([(0, 150), (150, 260), (260, n)]):
        _write(base.slice(a, b - a), parts / f"part-{i:05d}.parquet")
    (parts / "_SUCCESS").write_text("")

    sub_idx = np.sort(np.concatenate([[11, 7, 9], rng.choice(np.arange(20, n), 117, replace=False)]))
    sub = _take(base, rng.permutation(sub_idx))
    # -0.0 in the parent, 0.0 in the child: equal values.
    score = pc_replace_negzero(sub.column("score"))
    sub = sub.set_column(sub.schema.get_field_index("score"), "score", score)
    _write(sub, root / "sales/sub_rows.parquet")

    proj_idx = rng.choice(n, 200, replace=False)
    proj = _take(base, proj_idx).select(["score", "id"]).rename_columns(["SCORE", " Id "])
    _write(proj, root / "sales/proj_upper.parquet")

    wt = _take(base, rng.choice(n, 150, replace=False))
    wide = pa.table({"ID": wt.column("id").cast(pa.int32()),
                     "qty": wt.column("qty").cast(pa.int64()),
                     "Name": wt.column("name").cast(pa.large_string()),
                     "day": wt.column("day"), "score": wt.column("score")})
    _write(wide, root / "sales/wide_types.parquet")

    d_idx = rng.choice(np.arange(20, n), 50, replace=False)
    dup = _take(base, np.concatenate([d_idx, d_idx[:1]]))
    _write(dup, root / "sales/dup_rows.parquet")

    nn = _take(base, np.concatenate([[7], rng.choice(np.arange(20, n), 59, replace=False)]))
    s = nn.column("score").to_pylist()
    s[0] = None                                  # the parent has NaN in this row, not NULL
    _write(nn.set_column(2, "score", pa.array(s, pa.float64())), root / "sales/null_for_nan.parquet")

    extra = pa.concat_tables([base, pa.table({
        "id": pa.array([5], pa.int64()), "name": pa.array(["name_1"]), "score": pa.array([1.5]),
        "qty": pa.array([3], pa.int32()), "day": base.column("day").slice(0, 1)})])
    _write(extra, root / "sales/extra_row.parquet")

    # Big tables: more rows than the sample, so near misses can hide from it.
    k = np.arange(BIG_ROWS, dtype=np.int64)
    g = np.array([f"g{i}" for i in rng.integers(0, 20, BIG_ROWS)], dtype=object)
    v = np.round(rng.uniform(0, 100, BIG_ROWS), 4)
    events = pa.table({"k": k, "g": pa.array(g, pa.string()), "v": v})
    _write(events, root / "big/events.parquet")
    _write(_take(events, np.sort(rng.choice(BIG_ROWS, BIG_CHILD, replace=False))), root / "big/events_sub.parquet")

    ch = _take(events, np.sort(rng.choice(BIG_ROWS, BIG_CHILD, replace=False)))
    pos = _row_outside_sample("big/events_changed", BIG_CHILD, seed)
    vv = ch.column("v").to_numpy().copy()
    vv[pos] = 50.12345                           # inside [min, max], not the parent's value
    _write(ch.set_column(2, "v", pa.array(vv)), root / "big/events_changed.parquet")

    fo = _take(events, np.sort(rng.choice(BIG_ROWS, BIG_CHILD, replace=False)))
    pos = _row_outside_sample("big/events_foreign", BIG_CHILD + 1, seed)
    kk, gg, vv = (fo.column(c).to_pylist() for c in ("k", "g", "v"))
    other_g = "g0" if events.column("g")[10].as_py() != "g0" else "g1"
    kk.insert(pos, 10)                           # k and v of parent row 10, a different g
    gg.insert(pos, other_g)
    vv.insert(pos, events.column("v")[10].as_py())
    _write(pa.table({"k": pa.array(kk, pa.int64()), "g": pa.array(gg), "v": pa.array(vv)}),
           root / "big/events_foreign.parquet")

    # CSV tables (pyarrow's CSV parse is their content) and a Parquet twin with other types.
    people = pa.table({"pid": pa.array(np.arange(80), pa.int64()),
                       "name": pa.array([f"person_{i}" for i in range(80)]),
                       "city": pa.array([f"city_{i % 7}" for i in range(80)])})
    _write(people, root / "people/people.csv")
    _write(_take(people, rng.choice(80, 30, replace=False)), root / "people/people_sub.csv")
    twin = pa.table({"City": people.column("city").cast(pa.large_string()),
                     "PID": people.column("pid").cast(pa.int32()),
                     "name": people.column("name")})
    _write(_take(twin, rng.permutation(80)), root / "people/people_pq.parquet")

    # Narrow (one-column) tables.
    _write(pa.table({"x": pa.array(rng.permutation(np.arange(1, 11)), pa.int64())}), root / "vec/x_small.parquet")
    _write(pa.table({"x": pa.array(np.arange(10, 0, -1), pa.int64())}), root / "vec/x_copy.parquet")
    _write(pa.table({"x": pa.array(np.arange(1, 51), pa.int64()),
                     "y": pa.array([f"y{i}" for i in range(50)])}), root / "vec/wide_x.parquet")

    planted = {"root": str(root)}
    if bad_files:
        bad = root / "bad"
        bad.mkdir(parents=True, exist_ok=True)
        (bad / "corrupt.parquet").write_bytes(b"PAR1" + bytes(range(200)) + b"PAR1")
        (bad / "ragged.csv").write_text("a,b\n1,2\n3\n4,5\n")
        pq.write_table(pa.table({"a": pa.array([], pa.int64())}), bad / "empty.parquet")
        (bad / "dupcols.csv").write_text("a,A\n1,2\n3,4\n")
        _write(base, root / ".prunekit-trash/sales/base.parquet")
        planted["bad"] = ["bad/corrupt.parquet", "bad/ragged.csv", "bad/empty.parquet", "bad/dupcols.csv"]
    return planted


def pc_replace_negzero(col: pa.ChunkedArray) -> pa.Array:
    vals = col.to_pylist()
    return pa.array([0.0 if (v is not None and v == 0.0) else v for v in vals], pa.float64())


# --- slow reference ----------------------------------------------------------------------------

def load_normalised(root: Path, profiles) -> dict[str, tuple[dict[str, str], list[str], list[tuple]]]:
    """name → (schema {name: family}, column names, values per column), the compared columns only
    (index columns left out), values as ``semantics.reference_rows`` gives them."""
    out = {}
    for name, p in profiles.items():
        t = read_table(p.path, p.format)
        data = [c for c in p.columns if not c.index]
        rows = reference_rows(t, [c.original_name for c in data], [c.type for c in data])
        cols = [list(col) for col in zip(*rows)] if rows else [[] for _ in data]
        out[name] = ({c.name: family(c.type) for c in data}, [c.name for c in data], cols)
    return out


def brute_force_edges(root: Path, profiles, *, semantics: str = "bag", min_columns: int = 2) -> set:
    """Every ``(parent, child)`` with child ⊆ parent by the definition; no pruning of any kind.

    The narrow-child policy (documented in ``schema_graph``) is applied as a rule of the answer:
    a child with fewer than ``min_columns`` columns counts only against a parent with the same
    schema and row count."""
    data = load_normalised(root, profiles)
    bags = {}

    def bag(name, cols):
        key = (name, cols)
        if key not in bags:
            _, names, columns = data[name]
            idx = [names.index(c) for c in cols]
            rows = zip(*[columns[i] for i in idx]) if idx else iter(())
            bags[key] = Counter(rows)
        return bags[key]

    edges = set()
    for c, (cs, cnames, _) in data.items():
        for p, (ps, _, _) in data.items():
            if p == c or any(k not in ps or (ps[k] != v and "null" not in (v, ps[k]))
                             for k, v in cs.items()):
                continue
            if len(cs) < min_columns and (ps != cs or profiles[p].rows != profiles[c].rows):
                continue
            cols = tuple(sorted(cs))
            cb, pb = bag(c, cols), bag(p, cols)
            if semantics == "bag":
                ok = all(pb.get(r, 0) >= m for r, m in cb.items())
            else:
                ok = all(r in pb for r in cb)
            if ok:
                edges.add((p, c))
    return edges
