"""The containment scan: catalogue → schema graph → statistics → sample → exact verification →
closure. Direction everywhere: an edge ``(parent, child)`` means ``child ⊆ parent``.

    from prunekit.lake.scan import scan
    result = scan("lake/")                      # DuckDB, bag semantics, profile cache in lake/.prunekit
    for e in result.edges: print(e.child, "⊆", e.parent)

Stage reports (``ScanResult.stages``) count *pairs* in and out of each pruning stage and its wall
time; the ``catalog`` row counts *tables* (found / usable). The ``schema`` row's ``pairs_in`` is the
number of ordered pairs an all-pairs method would have to look at (n·(n−1)); the inverted index
never enumerates them.

Sampling and verification (``content``) walk the parents once each, in ascending size, so every
parent is read and aggregated once for all its children, and a pair implied by already-proven pairs
(``child ⊆ X ⊆ parent``) is not queried again (it becomes a ``derived`` edge: proven, by
transitivity of exact verifications, but not compared row by row itself).

Re-scans: the profile cache (``catalog``) and the scan cache (``scan_cache``: sample hashes, parent
hash sets, sample and exact answers per pair, keyed by the tables' contents) make a re-scan of an
unchanged lake read no table; ``ScanResult.reads`` counts the tables read and reused.
"""

from __future__ import annotations

import time
from dataclasses import replace
from collections import defaultdict
from pathlib import Path

from prunekit.errors import ConfigError, InputError
from prunekit.lake import objectstore
from prunekit.lake.catalog import Catalog, check_root, scan_catalog
from prunekit.lake.closure import duplicate_groups, transitive_closure
from prunekit.lake.content import Trace, content_stages
from prunekit.lake.links import visible_inside
from prunekit.lake.model import Edge, ScanResult, Skipped, StageReport, TableProfile
from prunekit.lake.params import (ENGINE, INDEX_COLUMNS, MIN_COLUMNS, NUMBERS, SAMPLE_ROWS, SEED,
                                  SEMANTICS_PARAM, WORKERS)
from prunekit.lake.scan_cache import ScanCache, content_key, scan_cache_dir
from prunekit.lake.schema_graph import schema_candidates
from prunekit.lake.semantics import compared_profiles
from prunekit.lake.stats import stats_prune
from prunekit.lake.trash import Echo, recover_if_interrupted
from prunekit.lake.verify import TableStore


def _check_options(semantics: str, sample_rows: int, min_columns: int, seed: int, engine: str,
                   verifier=None, workers: int | None = None, index_columns: str = INDEX_COLUMNS.default,
                   numbers: str = NUMBERS.default) -> None:
    """Every option checked against its declaration (``lake.params``), before any work; ``engine``
    only when no ``verifier`` is given (the scan makes its own)."""
    SEMANTICS_PARAM.check(semantics)
    INDEX_COLUMNS.check(index_columns)
    NUMBERS.check(numbers)
    SAMPLE_ROWS.check(sample_rows)
    MIN_COLUMNS.check(min_columns)
    SEED.check(seed)
    WORKERS.check(workers)
    if verifier is None:
        ENGINE.check(engine)


def find_containment(catalog: Catalog, *, semantics: str = SEMANTICS_PARAM.default,
                     engine: str = ENGINE.default, sample_rows: int = SAMPLE_ROWS.default,
                     seed: int = SEED.default, min_columns: int = MIN_COLUMNS.default,
                     skip_implied: bool = True, verifier=None, memory_bytes: int = 1 << 30,
                     show_progress: bool | None = None,
                     scan_cache: ScanCache | bool | None = None, index_columns: str = INDEX_COLUMNS.default,
                     numbers: str = NUMBERS.default, tables: TableStore | None = None) -> tuple[ScanResult, Trace]:
    """Run stages 1–3 and the closure on an already profiled lake, comparing its profiles as
    ``semantics.compared_profiles`` gives them (``index_columns``, ``numbers``).

    ``verifier``: an engine object (``backends.Verifier``: ``open_parent``/``contains``/
    ``close_parent``, optionally ``contains_many``); default: a new engine of kind ``engine``,
    closed at the end. ``skip_implied=False`` compares every surviving pair row by row (slower;
    the edge set is the same, no edge is ``derived``). Tables that became unreadable since they
    were profiled are moved from the profiles to ``skipped``. ``scan_cache``: what earlier scans
    computed (``scan_cache.ScanCache``); default (None/True): the one next to the catalogue's
    profile cache, none when the catalogue had none; False: none. ``tables``: the store the
    catalogue's profiling filled (``scan_catalog(keep=tables.put)``): those tables are not read again.
    """
    _check_options(semantics, sample_rows, min_columns, seed, engine, verifier,
                   index_columns=index_columns, numbers=numbers)
    values = {"index_columns": index_columns, "numbers": numbers}
    profiles = compared_profiles(catalog.profiles, **values)
    trace = Trace()
    stages: list[StageReport] = []
    n = len(catalog.profiles)
    found = n + sum(s.kind != "link" for s in catalog.skipped)   # tables: links are not tables
    stages.append(StageReport("catalog", found, n, catalog.seconds))

    t = time.perf_counter()
    trace.schema = schema_candidates(profiles, min_columns=min_columns)
    stages.append(StageReport("schema", n * (n - 1), len(trace.schema), time.perf_counter() - t))

    t = time.perf_counter()
    trace.stats, trace.stats_dropped = stats_prune(trace.schema, profiles, semantics=semantics,
                                                   min_columns=min_columns)
    stages.append(StageReport("statistics", len(trace.schema), len(trace.stats), time.perf_counter() - t))

    if not isinstance(scan_cache, ScanCache):
        use = scan_cache is not False and catalog.cache_path is not None
        folder = scan_cache_dir(catalog.cache_path) if use else None
        if folder is not None and values != {"index_columns": INDEX_COLUMNS.default, "numbers": NUMBERS.default}:
            folder = folder.with_name(f"{folder.name}-{index_columns}-{numbers}")   # other answers
        scan_cache = ScanCache(folder)
    own_verifier = verifier is None
    if own_verifier:
        from prunekit.lake.backends import get_verifier
        verifier = get_verifier(engine)
    try:
        proven, sample_s, verify_s = content_stages(profiles, trace, semantics, sample_rows, seed,
                                                     skip_implied, verifier, memory_bytes, show_progress,
                                                     scan_cache, tables)
        t = time.perf_counter()
        pairs = proven.pairs()
        closed = transitive_closure(pairs)
        trace.closure_added = closed - pairs
        if semantics == "set":   # equal rows under set semantics: the fingerprints tell duplicates apart
            profiles = _fingerprinted(profiles, closed, trace, scan_cache, tables,
                                      getattr(verifier, "fingerprint_many", None))   # (engine still open)
    finally:
        if own_verifier:
            verifier.close()
    stages.append(StageReport("sample", len(trace.stats), len(trace.sample), sample_s))
    stages.append(StageReport("verify", len(trace.sample), len(pairs), verify_s))
    groups = duplicate_groups(closed, profiles, semantics)
    trace.cache_hits = scan_cache.hits
    try:
        scan_cache.save({content_key(p) for p in profiles.values()})
    except (OSError, InputError) as exc:
        trace.notes.append(f"scan cache not written ({scan_cache.folder}): {exc}")
    in_group = {x: i for i, g in enumerate(groups) for x in g}
    edges = []
    for p, c in sorted(closed):
        dup = p in in_group and in_group.get(c) == in_group[p]
        derived = (p, c) in trace.implied or (p, c) in trace.closure_added
        edges.append(Edge(parent=p, child=c, columns=tuple(col.name for col in profiles[c].columns),
                          semantics=semantics, verified=not derived, derived=derived, duplicate=dup))
    stages.append(StageReport("closure", len(pairs), len(closed), time.perf_counter() - t))

    skipped = list(catalog.skipped) + [Skipped(profiles[k].path, v) for k, v in trace.unreadable.items()]
    usable = {k: v for k, v in catalog.profiles.items() if k not in trace.unreadable}
    read = set(getattr(catalog, "profiled", ())) | trace.read
    reads = {"tables": len(usable), "read": sum(x in read for x in usable),
             "profiled": len(getattr(catalog, "profiled", ())), "read_for_content": len(trace.read),
             "moved": len(getattr(catalog, "moved", ())), "cache_hits": trace.cache_hits}
    reads["reused"] = reads["tables"] - reads["read"]
    result = ScanResult(root=catalog.root, semantics=semantics, engine=getattr(verifier, "name", engine),
                        profiles=usable, edges=edges, duplicate_groups=groups,
                        stages=stages, skipped=skipped, aliases=list(catalog.aliases), reads=reads,
                        values=values)
    return result, trace


def _fingerprinted(profiles: dict[str, TableProfile], pairs: set, trace: Trace, cache: ScanCache,
                   tables: TableStore | None, many=None) -> dict[str, TableProfile]:
    """``profiles`` with the fingerprint of every table in a mutually contained pair of equal row
    counts (the candidate duplicates): the profile's, the scan cache's, or computed — from ``tables``
    when it holds the table, else read; by ``many`` for an engine that reads the tables itself
    (Spark's ``fingerprint_many``: ``(fingerprinted profiles, notes)``) — and recorded in the cache."""
    from prunekit.lake.profile import with_fingerprint

    need = {x for p, c in pairs if (c, p) in pairs and profiles[p].rows == profiles[c].rows for x in (p, c)}
    out = dict(profiles)
    todo = []
    for name in sorted(need):
        prof = profiles[name]
        fp = prof.fingerprint if prof.fingerprint is not None else cache.fingerprint(prof)
        if fp is None:
            todo.append(name)
        else:
            out[name] = replace(prof, fingerprint=fp)
    if many is not None and todo:
        got, notes = many([profiles[n] for n in todo])
        trace.notes.extend(notes)
        out.update(got)
    for name in todo if many is None else ():
        try:
            out[name] = with_fingerprint(profiles[name], tables.get(name) if tables is not None else None)
        except InputError as exc:   # changed since it was verified: no fingerprint, no duplicate
            trace.notes.append(f"{name} not fingerprinted: {exc}")
    for name in todo:
        if out[name].fingerprint is not None:
            cache.put_fingerprint(profiles[name], out[name].fingerprint)
    return out


def scan_traced(root: str | Path, *, semantics: str = SEMANTICS_PARAM.default,
                engine: str = ENGINE.default, cache: str | Path | bool | None = None,
                sample_rows: int = SAMPLE_ROWS.default, seed: int = SEED.default,
                min_columns: int = MIN_COLUMNS.default, skip_implied: bool = True,
                workers: int | None = None, verifier=None, memory_bytes: int = 1 << 30,
                show_progress: bool | None = None, echo: Echo | None = None,
                index_columns: str = INDEX_COLUMNS.default,
                numbers: str = NUMBERS.default) -> tuple[ScanResult, Trace]:
    """``scan`` that also returns the per-pair ``Trace``."""
    _check_options(semantics, sample_rows, min_columns, seed, engine, verifier, workers,
                   index_columns=index_columns, numbers=numbers)
    check_root(root)
    # An interrupted apply/restore/purge leaves half-moved tables: finish or roll them back first,
    # so the scan sees every table where it belongs.
    if objectstore.is_uri(root):   # its journal and lock live in a local state folder
        from prunekit.lake import objectstore_trash
        with objectstore_trash.recovered(root, echo):
            pass
    else:
        recover_if_interrupted(root, echo)
    own_verifier = verifier is None
    if own_verifier:   # before the catalogue: an engine that cannot start refuses with nothing written
        from prunekit.lake.backends import get_verifier
        verifier = get_verifier(engine)
    try:
        tables = TableStore(budget_bytes=memory_bytes)   # what profiling reads, sampling reuses
        catalog = scan_catalog(root, cache=cache, workers=workers, show_progress=show_progress,
                               keep=tables.put, profiler=getattr(verifier, "profile_many", None))
        return find_containment(catalog, semantics=semantics, engine=engine, sample_rows=sample_rows,
                                seed=seed, min_columns=min_columns, skip_implied=skip_implied,
                                verifier=verifier, memory_bytes=memory_bytes, show_progress=show_progress,
                                index_columns=index_columns, numbers=numbers, tables=tables)
    finally:
        if own_verifier:
            verifier.close()


def scan(root: str | Path, **options) -> ScanResult:
    """Find every ``child ⊆ parent`` pair of tables under ``root``, verified exactly.

    Options: ``semantics`` ("bag": multiplicities must fit, like ``EXCEPT ALL``; or "set"),
    ``engine`` ("duckdb" or "spark"), ``cache`` (profile cache: default ``root/.prunekit``; a
    path; or False; the scan cache lives next to it, ``scan_cache``), ``sample_rows`` (k, default
    691), ``seed``, ``min_columns`` (narrow children: see ``schema_graph``; default 2),
    ``skip_implied``, ``workers``, ``show_progress``, ``echo`` (gets a line per table an
    interrupted lake command left and the scan recovered first, under the lake's lock),
    ``index_columns`` ("ignore" or "compare") and ``numbers`` ("value" or "type"):
    the value semantics (``semantics``; docs/LAKE.md, "Value semantics").
    """
    return scan_traced(root, **options)[0]


def scan_to_folder(root: str | Path, out: str | Path, *, engine: str = ENGINE.default,
                   semantics: str = SEMANTICS_PARAM.default, cache: str | Path | bool | None = None,
                   sample_rows: int = SAMPLE_ROWS.default, min_columns: int = MIN_COLUMNS.default,
                   seed: int = SEED.default, graph: bool = True, show_progress: bool | None = None,
                   echo: Echo | None = None, index_columns: str = INDEX_COLUMNS.default,
                   numbers: str = NUMBERS.default) -> tuple[ScanResult, dict[str, Path]]:
    """The ``prunekit lake scan`` command: ``scan`` (an interrupted lake command recovered first)
    and ``write_outputs`` into ``out``; returns the result and the paths written. Every option is
    checked before the lake is touched."""
    _check_options(semantics, sample_rows, min_columns, seed, engine, index_columns=index_columns,
                   numbers=numbers)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    if visible_inside(check_root(root), out):
        raise ConfigError(f"refusing to write the scan into {out}: it is inside the lake {check_root(root)}, "
                          "and the next scan would read its containment.parquet as a table; choose a "
                          "folder outside the lake (or a hidden one in it)")
    result, _ = scan_traced(root, semantics=semantics, engine=engine, cache=cache, sample_rows=sample_rows,
                            min_columns=min_columns, seed=seed, show_progress=show_progress, echo=echo,
                            index_columns=index_columns, numbers=numbers)
    return result, write_outputs(result, out, graph=graph)


# --- outputs -----------------------------------------------------------------------------------

def edges_table(result: ScanResult):
    """The edges as an Arrow table (one row per ``child ⊆ parent``), with sizes for reports."""
    import pyarrow as pa

    prof = result.profiles
    es = result.edges
    return pa.table({
        "parent": pa.array([e.parent for e in es], pa.string()),
        "child": pa.array([e.child for e in es], pa.string()),
        "columns": pa.array([list(e.columns) for e in es], pa.list_(pa.string())),
        "semantics": pa.array([e.semantics for e in es], pa.string()),
        "verified": pa.array([e.verified for e in es], pa.bool_()),
        "derived": pa.array([e.derived for e in es], pa.bool_()),
        "duplicate": pa.array([e.duplicate for e in es], pa.bool_()),
        "parent_rows": pa.array([prof[e.parent].rows for e in es], pa.int64()),
        "child_rows": pa.array([prof[e.child].rows for e in es], pa.int64()),
        "parent_bytes": pa.array([prof[e.parent].size_bytes for e in es], pa.int64()),
        "child_bytes": pa.array([prof[e.child].size_bytes for e in es], pa.int64()),
    })


def savings(result: ScanResult) -> list[dict]:
    """Tables whose bytes could be freed, largest first: each child of an edge, except one keeper
    (the first name) per duplicate group unless that keeper is itself inside another table.

    An upper bound for reports: which tables really go is the deletion plan's decision (a parent
    chosen for one child may itself be a child elsewhere).
    """
    prof = result.profiles
    group_of = {x: i for i, g in enumerate(result.duplicate_groups) for x in g}
    parents: dict[str, list[str]] = defaultdict(list)
    for e in result.edges:
        parents[e.child].append(e.parent)
    out = []
    for child, ps in parents.items():
        g = group_of.get(child)
        outside = [p for p in ps if g is None or group_of.get(p) != g]
        keeper = g is not None and result.duplicate_groups[g][0] == child
        if keeper and not outside:
            continue
        cands = outside or ps
        best = min(cands, key=lambda p: (prof[p].size_bytes, p))
        out.append({"table": child, "bytes": prof[child].size_bytes, "rows": prof[child].rows,
                    "parent": best, "parents": len(ps),
                    "duplicate": g is not None and group_of.get(best) == g})
    out.sort(key=lambda d: (-d["bytes"], d["table"]))
    return out


def write_outputs(result: ScanResult, outdir: str | Path, *, graph: bool = True) -> dict[str, Path]:
    """Write ``containment.parquet``, ``containment.json`` and (``graph``) ``containment.png`` +
    ``containment.html`` into ``outdir`` (created), each atomically. Returns the paths."""
    import pyarrow.parquet as pq

    from prunekit.io.atomic import atomic_path

    out = Path(outdir)
    if out.exists() and not out.is_dir():
        raise InputError(f"output {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    paths = {"parquet": out / "containment.parquet", "json": out / "containment.json"}
    with atomic_path(paths["parquet"]) as tmp:
        pq.write_table(edges_table(result), tmp)
    with atomic_path(paths["json"]) as tmp:
        tmp.write_text(result.to_json())
    if graph:
        from prunekit.lake.graphview import render_html, render_png

        paths["png"] = render_png(result, out / "containment.png")
        paths["html"] = render_html(result, paths["png"], out / "containment.html")
    return paths
