"""Stage 3 of the scan, on the pairs the statistics kept: the sample, then exact verification.

Parents are walked once each, smallest first, so every parent is read, hashed and aggregated once
for all its children, and a pair implied by pairs already proven (``child ⊆ X ⊆ parent``) is not
compared again. Every answer is also looked up in, and recorded to, the scan cache (``scan_cache``:
keyed by both tables' contents), so a table is read only when some answer needs it.

The sample checks each child's sampled rows (``verify.sample_indices``) against the parent's
projection hashes. A big parent (more than ``PREFILTER_ROWS`` rows) is not hashed whole: first
the one column whose sampled values are most distinct, then only the rows whose value there hashes
like a sampled value — the same missing counts for a fraction of the hashing.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from prunekit._progress import progress
from prunekit.errors import InputError
from prunekit.lake.closure import ContainmentSet
from prunekit.lake.model import TableProfile
from prunekit.lake.scan_cache import ScanCache
from prunekit.lake.verify import (
    TableStore,
    canonical,
    column_set,
    projection_hashes,
    sample_indices,
    sample_missing,
)

Pair = tuple[str, str]


@dataclass
class Trace:
    """What happened to every candidate pair (for tests, reports and debugging)."""

    schema: list[Pair] = field(default_factory=list)
    stats_dropped: dict[Pair, str] = field(default_factory=dict)
    stats: list[Pair] = field(default_factory=list)
    sample_dropped: dict[Pair, int] = field(default_factory=dict)   # sampled rows missing
    sample: list[Pair] = field(default_factory=list)                # survivors, incl. implied
    verified: dict[Pair, bool] = field(default_factory=dict)        # exact answers
    implied: set[Pair] = field(default_factory=set)                 # proven by transitivity
    closure_added: set[Pair] = field(default_factory=set)
    unreadable: dict[str, str] = field(default_factory=dict)
    read: set[str] = field(default_factory=set)                     # tables the content stages read
    cache_hits: int = 0                                             # answers taken from the scan cache
    notes: list[str] = field(default_factory=list)



def content_stages(profiles: dict[str, TableProfile], trace: Trace, semantics: str, k: int,
                    seed: int, skip_implied: bool, verifier, memory_bytes: int,
                    show_progress: bool | None, cache: ScanCache | None = None,
                    store: TableStore | None = None) -> tuple[ContainmentSet, float, float]:
    """Sample and verify the pairs of ``trace.stats``; an answer the ``cache`` knows (by both
    tables' contents) is taken from it, and a table is read only when some answer needs it (and
    the ``store``, which may hold tables the profiling read, does not have it)."""
    cache = cache if cache is not None else ScanCache(None)
    by_parent: dict[str, list[str]] = defaultdict(list)
    for p, c in trace.stats:
        by_parent[p].append(c)
    # Small parents first: their containments are proven before the bigger parents that could
    # use them through transitivity; ties broken by name so runs are reproducible.
    order = sorted(by_parent, key=lambda x: (profiles[x].rows, profiles[x].size_bytes, x))
    store = store if store is not None else TableStore(budget_bytes=memory_bytes)
    store.profiles = profiles
    proven = ContainmentSet()
    sample_hashes: dict[tuple[str, str], np.ndarray] = {}
    bad_tables: dict[str, str] = {}
    sample_s = verify_s = 0.0
    # An engine that reads the tables itself (Spark: ``backends.spark_lake``) gives every sample and
    # exact answer now, in a few jobs; the walk below takes them from its cache overlay, and the
    # driver reads no table (a pair left without an answer involves a table the engine could not read).
    engine_reads = getattr(verifier, "content_answers", None)
    if engine_reads is not None:
        got = engine_reads(profiles, trace.stats, semantics, k, seed, cache)
        cache, sample_s, verify_s = got.cache, got.sample_seconds, got.verify_seconds
        bad_tables.update(got.unreadable)
        trace.read |= got.read

    def load(name: str):
        if name in bad_tables or engine_reads is not None:
            return None
        try:
            t = store.get(name)
        except InputError as exc:   # changed or vanished since it was profiled
            bad_tables[name] = f"unreadable during verification: {exc}"
            return None
        if name in store.read_names:
            trace.read.add(name)
        return t

    # A cold scan reads nearly every table of a pair: read them ahead, in the walk's order, while
    # this thread hashes and queries. (With answers cached, a table is read only if one is missing.)
    stop_prefetch = store.prefetch(_walk_tables(order, by_parent, profiles)) \
        if engine_reads is None and cache.empty else (lambda: None)

    def child_sample(child: str, cs: tuple[str, ...], part: str = "rows") -> np.ndarray | None:
        """The child's sampled rows hashed on ``cs`` (``part="rows"``: one hash per row), or each
        column of them hashed alone (``part="columns"``: ``len(cs)`` rows of hashes)."""
        if (child, part) not in sample_hashes:
            cp = profiles[child]
            h = cache.sample(cp, k, seed, part)
            if h is None:
                ctab = load(child)
                if ctab is None:
                    return None
                idx = sample_indices(child, cp.rows, k, seed)
                h = projection_hashes(ctab, cp, cs, idx) if part == "rows" else \
                    np.stack([projection_hashes(ctab, cp, (c,), idx) for c in cs])
                cache.put_sample(cp, k, seed, h, part)
            sample_hashes[(child, part)] = h.reshape(len(cs), -1) if part == "columns" else h
        return sample_hashes[(child, part)]

    def sample_group(parent: str, cs: tuple[str, ...], kids: list[str]) -> dict[str, int]:
        """Sampled rows of each child of ``kids`` missing from the parent's projection on ``cs``."""
        pprof = profiles[parent]
        samples = {c: h for c in kids if (h := child_sample(c, cs)) is not None}
        if not samples:
            return {}
        ph = cache.hash_set(pprof, cs)
        if ph is None:
            ptab = load(parent)
            if ptab is None:
                return {}
            ph = _parent_hashes(ptab, pprof, cs, list(samples), child_sample)
            if ph is None:   # every row hashed: worth keeping for the next scan
                ph = _sorted_set(projection_hashes(ptab, pprof, cs))
                cache.put_hash_set(pprof, cs, ph)
        out = {}
        for c, h in samples.items():
            out[c] = sample_missing(h, ph)
            cache.put_sample_outcome(pprof, profiles[c], k, seed, out[c])
        return out

    def imply(parent: str, child: str) -> bool:
        if skip_implied and proven.implied(parent, child):
            proven.add(parent, child)
            trace.implied.add((parent, child))
            return True
        return False

    try:
        with progress(len(order), "verifying parents", show_progress) as advance:
            for parent in order:
                t0 = time.perf_counter()
                pprof = profiles[parent]
                # Largest children first: once a big child is proven, smaller ones inside it are implied.
                children = sorted(by_parent[parent], key=lambda c: (-profiles[c].rows, c))
                survivors: dict[tuple[str, ...], list[str]] = defaultdict(list)
                # Known answers first; the others are sampled together per column set (the parent's
                # projection hashed once for all of them), then recorded in the children's order.
                plan: list[tuple[str, tuple[str, ...] | None, int | None]] = []
                need: dict[tuple[str, ...], list[str]] = defaultdict(list)
                for child in children:
                    if imply(parent, child):
                        plan.append((child, None, None))
                        continue
                    cs = column_set(profiles[child])
                    missing = cache.sample_outcome(pprof, profiles[child], k, seed)
                    if missing is None:
                        need[cs].append(child)
                    plan.append((child, cs, missing))
                computed: dict[str, int] = {}
                for cs, kids in need.items():
                    if parent not in bad_tables:
                        computed.update(sample_group(parent, cs, kids))
                for child, cs, missing in plan:
                    if cs is None:
                        trace.sample.append((parent, child))
                        continue
                    missing = computed.get(child) if missing is None else missing
                    if missing is None:
                        continue          # unreadable now
                    if missing:
                        trace.sample_dropped[(parent, child)] = missing
                        continue
                    trace.sample.append((parent, child))
                    survivors[cs].append(child)
                t1 = time.perf_counter()
                sample_s += t1 - t0
                for cs, kids in survivors.items():
                    todo = [c for c in kids if not imply(parent, c)]
                    if todo:
                        _verify_group(parent, cs, todo, profiles, semantics, verifier, load, imply, cache,
                                      trace, proven)
                verify_s += time.perf_counter() - t1
                advance(1)
    finally:
        stop_prefetch()
    trace.unreadable.update(bad_tables)
    return proven, sample_s, verify_s


#: parents with more rows are not hashed whole in the sample stage: first one column, then only
#: the rows whose value in it occurs in some sampled child row
PREFILTER_ROWS = 1 << 16
#: ... unless the sampled values in that column are more than 1/PREFILTER_RATIO of its rows
PREFILTER_RATIO = 64


def _parent_hashes(ptab, pprof: TableProfile, cs: tuple[str, ...], kids: list[str],
                   child_sample) -> np.ndarray | None:
    """The hashes of the parent's rows that can equal a sampled row of ``kids``, sorted: the rows
    whose value in the most selective column of the samples hashes like a sampled value there.
    A sampled row present in the parent is present in this subset (equal values hash alike, and
    both hashes are the same function), so the missing counts are those of the whole projection.
    None when hashing every row is as good (small parent, one column, unselective samples)."""
    if pprof.rows <= PREFILTER_ROWS or len(cs) < 2:
        return None
    cols = [child_sample(c, cs, "columns") for c in kids]
    if any(c is None for c in cols):
        return None
    per_col = [_sorted_set(np.concatenate([c[j] for c in cols])) for j in range(len(cs))]
    j = int(np.argmax([len(v) for v in per_col]))
    want = per_col[j]
    if len(want) * PREFILTER_RATIO > pprof.rows:
        return None      # too few distinct values to filter much
    rows = _rows_in(projection_hashes(ptab, pprof, (cs[j],)), want)
    if len(rows) == 0:
        return np.zeros(0, np.uint64)
    return _sorted_set(projection_hashes(ptab, pprof, cs, rows))


def _rows_in(h: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Positions of the values of ``h`` that occur in the sorted array ``want``: a bitmap of the
    hashes' top bits first (one pass over ``h``), a binary search only for the few it lets by."""
    bits = int(min(26, max(16, np.ceil(np.log2(len(want) * 256 + 1)))))
    shift = np.uint64(64 - bits)
    seen = np.zeros(1 << bits, dtype=bool)
    seen[np.right_shift(want, shift).view(np.int64)] = True
    cand = np.flatnonzero(seen[np.right_shift(h, shift).view(np.int64)])
    sub = h[cand]
    pos = np.minimum(np.searchsorted(want, sub), len(want) - 1)
    return cand[want[pos] == sub]


def _sorted_set(h: np.ndarray) -> np.ndarray:
    """The distinct values of ``h``, sorted (``np.unique`` of NumPy 2.3+ hashes first: ~10× slower
    on millions of uint64)."""
    h = np.sort(h)
    return h[np.concatenate(([True], h[1:] != h[:-1]))] if len(h) else h


def _walk_tables(order: list[str], by_parent: dict[str, list[str]], profiles) -> list[str]:
    """The tables of the pairs in the order the walk first needs them: each parent's children
    (largest first), then the parent."""
    seen: dict[str, None] = {}
    for parent in order:
        for child in sorted(by_parent[parent], key=lambda c: (-profiles[c].rows, c)):
            seen.setdefault(child)
        seen.setdefault(parent)
    return list(seen)


def _verify_group(parent: str, cs: tuple[str, ...], todo: list[str], profiles, semantics: str,
                  verifier, load, imply, cache: ScanCache, trace: Trace, proven: ContainmentSet) -> None:
    """Exact answers for the children ``todo`` of one parent and column set: from the cache when
    it knows both contents, otherwise from the engine (the parent aggregated once for all)."""
    pprof = profiles[parent]
    known = {c: cache.exact(pprof, profiles[c], semantics) for c in todo}
    opened = False

    def record(child: str, ok: bool) -> None:
        trace.verified[(parent, child)] = ok
        if known[child] is None:
            cache.put_exact(pprof, profiles[child], semantics, ok)
        if ok:
            proven.add(parent, child)

    def open_parent() -> bool:
        nonlocal opened
        if not opened:
            ptab = load(parent)
            if ptab is None:
                return False
            verifier.open_parent(canonical(ptab, pprof, cs))
            opened = True
        return True

    try:
        if hasattr(verifier, "contains_many"):
            # Engines where one query costs more than the work (Spark, DuckDB): one batch per
            # parent and column set; implied pairs were filtered by the caller.
            fresh = [c for c in todo if known[c] is None]
            answers: dict[str, bool] = {}
            if fresh and open_parent():
                tabs = [(c, load(c)) for c in fresh]
                answers = verifier.contains_many(
                    [(c, canonical(t, profiles[c], cs)) for c, t in tabs if t is not None], semantics)
            for child in todo:
                ok = known[child] if known[child] is not None else answers.get(child)
                if ok is not None:
                    record(child, ok)
            return
        for child in todo:
            if imply(parent, child):
                continue
            ok = known[child]
            if ok is None:
                ctab = load(child)
                if ctab is None or not open_parent():
                    continue
                ok = verifier.contains(canonical(ctab, profiles[child], cs), semantics)
            record(child, ok)
    finally:
        if opened:
            verifier.close_parent()
