"""``--engine spark`` end to end: profiling, the sample and exact verification as Spark jobs, so the
driver never reads table contents (it gets profiles, hashes of sampled rows, counts and answers).

The scan keeps one pipeline: the catalogue calls the engine's ``profile_many`` instead of profiling
in threads, and ``content.content_stages`` asks the engine's ``content_answers`` for every sample
and exact answer of the pairs the statistics kept, then walks the parents exactly as for DuckDB
(transitivity, duplicate groups, traces), taking the answers from the ``KnownAnswers`` overlay of
the scan cache. Executors run prunekit's own code (``spark_tasks``), so values mean what they mean
to DuckDB. Jobs per scan: one to profile, one for child samples, one for parent sample checks, one
for verification (a Spark job costs ~0.1–0.5 s locally; many tables are batched into each task).

Answers the scan cache already knows (by table contents, ``scan_cache``) are not recomputed, and
new ones are recorded in it. A table an executor cannot read is returned by name with the reason and
skipped, as the DuckDB path skips it.
"""

from __future__ import annotations

import contextlib
import pickle
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from prunekit.lake.backends import spark_tasks as tasks
from prunekit.lake.model import TableProfile
from prunekit.lake.verify import column_set, sample_missing


@dataclass
class EngineAnswers:
    """What ``content_answers`` gives ``content_stages``: a scan-cache overlay holding every answer
    it computed or looked up, the tables it could not read (name → reason), those it read, and the
    seconds of the sample and exact steps."""

    cache: object
    unreadable: dict[str, str] = field(default_factory=dict)
    read: set[str] = field(default_factory=set)
    sample_seconds: float = 0.0
    verify_seconds: float = 0.0
    jobs: int = 0


class KnownAnswers:
    """A ``ScanCache`` that first answers from the answers computed by the engine (by names; they are
    also recorded in the wrapped cache, which keeps its hit count)."""

    def __init__(self, cache, samples: dict, exact: dict):
        self._cache, self._samples, self._exact = cache, samples, exact

    def sample_outcome(self, parent: TableProfile, child: TableProfile, k: int, seed: int):
        got = self._samples.get((parent.name, child.name))
        return got if got is not None else self._cache.sample_outcome(parent, child, k, seed)

    def exact(self, parent: TableProfile, child: TableProfile, semantics: str):
        got = self._exact.get((parent.name, child.name))
        return got if got is not None else self._cache.exact(parent, child, semantics)

    def __getattr__(self, name):
        return getattr(self._cache, name)


def _bins(items: list, weights: list[float], n: int) -> list[list]:
    """``items`` in at most ``n`` lists of similar total weight (heaviest first, each to the
    lightest list): a task per list, many small tables per task."""
    n = max(1, min(n, len(items)))
    out: list[list] = [[] for _ in range(n)]
    load = [0.0] * n
    for i in sorted(range(len(items)), key=lambda i: -weights[i]):
        j = int(np.argmin(load))
        out[j].append(items[i])
        load[j] += weights[i] + 1.0
    return [b for b in out if b]


_WARM: dict = {}   # Spark application id → its warm-up thread (``SparkJobs.warm_up``)


class SparkJobs:
    """The Spark jobs of a scan on one ``SparkSession``; ``tasks_per_core`` tasks per core of the
    session's default parallelism (more: better balance, more per-task overhead)."""

    def __init__(self, spark, tasks_per_core: int = 2):
        self.spark = spark
        self.tasks_per_core = tasks_per_core
        self.jobs = 0
        self.job_seconds: list[tuple[str, float]] = []   # (job, seconds), for the benchmark

    def _slots(self) -> int:
        return self.spark.sparkContext.defaultParallelism * self.tasks_per_core

    def _map(self, what: str, fn, items: list, weights: list[float]) -> list:
        """``fn`` (a ``spark_tasks`` function of a list) over ``items`` in one job; its results."""
        if not items:
            return []
        t = time.perf_counter()
        bins = _bins(items, weights, self._slots())
        out = self.spark.sparkContext.parallelize(bins, len(bins)).flatMap(fn).collect()
        self.jobs += 1
        self.job_seconds.append((what, time.perf_counter() - t))
        return out

    # --- profiling --------------------------------------------------------------------------

    def profile_many(self, refs: list) -> list:
        """``profile.profile_or_skip`` of every ref, in order, run by the executors."""
        self.warm_up()
        got = dict(self._map("profile", tasks.profile_refs, list(enumerate(refs)),
                             [float(r.size_bytes) for r in refs]))
        return [got[i] for i in range(len(refs))]

    def fingerprint_many(self, profiles: list[TableProfile]) -> tuple[dict[str, TableProfile], list[str]]:
        """The profiles with their fingerprints (``profile.with_fingerprint``) computed by the
        executors where missing, and a note per table that could not be read."""
        todo = [p for p in profiles if p.fingerprint is None]
        got = self._map("fingerprint", tasks.fingerprints, todo, [float(p.size_bytes) for p in todo])
        return {n: p for n, p, _ in got if p is not None}, [r for _, p, r in got if p is None]

    # --- sample and verification ----------------------------------------------------------------

    def content_answers(self, profiles: dict[str, TableProfile], pairs: list[tuple[str, str]],
                        semantics: str, k: int, seed: int, cache) -> EngineAnswers:
        """Every sample answer of ``pairs`` and every exact answer of those that pass the sample,
        known from ``cache`` or computed in three Spark jobs (see the module docstring)."""
        t0 = time.perf_counter()
        jobs0 = self.jobs
        bad: dict[str, str] = {}
        read: set[str] = set()
        samples: dict[tuple[str, str], int] = {}
        need: dict[str, list[str]] = defaultdict(list)        # parent → children to sample
        for p, c in pairs:
            m = cache.sample_outcome(profiles[p], profiles[c], k, seed)
            if m is None:
                need[p].append(c)
            else:
                samples[(p, c)] = m
        hashes = self._child_hashes(profiles, sorted({c for kids in need.values() for c in kids}),
                                    k, seed, cache, bad, read)
        schemas: dict[tuple[str, tuple], bytes] = {}
        ask: dict[str, dict] = {}                            # parent → {cs: [(child, hashes)]}
        for p, kids in need.items():
            for c in kids:
                if c in hashes:
                    ask.setdefault(p, {}).setdefault(column_set(profiles[c]), []).append((c, hashes[c]))
        for p in list(ask):                                  # a parent hash set cached: no job
            for cs in list(ask[p]):
                ph = cache.hash_set(profiles[p], cs)
                if ph is not None:
                    for c, h in ask[p].pop(cs):
                        samples[(p, c)] = sample_missing(h, ph)
        known: dict[tuple[str, str], bool | None] = {}     # exact answers the cache has (looked up once)

        def cached_exact(p: str, c: str) -> bool | None:
            if (p, c) not in known:
                known[(p, c)] = cache.exact(profiles[p], profiles[c], semantics)
            return known[(p, c)]

        # parents whose sample answers are known but whose passing children need exact answers
        want: dict[str, set] = defaultdict(set)
        for (p, c), m in samples.items():
            if m == 0 and cached_exact(p, c) is None:
                want[p].add(column_set(profiles[c]))
        todo = sorted({p for p, g in ask.items() if g} | set(want))
        got = self._map("sample: parents", tasks.parent_missing,
                        [(profiles[p], {cs: kids for cs, kids in ask.get(p, {}).items() if kids}, want.get(p, set()))
                         for p in todo], [float(profiles[p].size_bytes) for p in todo])
        read.update(todo)
        for p, missing, sch, reason in got:
            if reason is not None:
                bad[p] = reason
                continue
            for c, m in missing.items():
                samples[(p, c)] = m
            schemas.update({(p, cs): s for cs, s in sch.items()})
        for (p, c), m in samples.items():
            cache.put_sample_outcome(profiles[p], profiles[c], k, seed, m)
        t1 = time.perf_counter()
        exact: dict[tuple[str, str], bool] = {}
        groups: dict[tuple[str, tuple], list[str]] = defaultdict(list)
        for (p, c), m in sorted(samples.items()):
            if m != 0 or p in bad or c in bad:
                continue
            ok = cached_exact(p, c)
            if ok is None:
                groups[(p, column_set(profiles[c]))].append(c)
            else:
                exact[(p, c)] = ok
        found = self._verify(profiles, groups, schemas, semantics, bad, read)
        for (p, c), ok in found.items():
            cache.put_exact(profiles[p], profiles[c], semantics, ok)
        exact.update(found)
        return EngineAnswers(KnownAnswers(cache, samples, exact), bad, read, t1 - t0,
                             time.perf_counter() - t1, self.jobs - jobs0)

    def _child_hashes(self, profiles, children: list[str], k: int, seed: int, cache, bad, read) -> dict:
        """The sampled-row hashes of ``children``: from the scan cache, else from one job."""
        out: dict[str, np.ndarray] = {}
        todo = []
        for c in children:
            h = cache.sample(profiles[c], k, seed, "rows")
            if h is None:
                todo.append(c)
            else:
                out[c] = h
        for name, h, reason in self._map("sample: children", tasks.child_samples,
                                         [(profiles[c], k, seed) for c in todo],
                                         [float(profiles[c].size_bytes) for c in todo]):
            if reason is not None:
                bad[name] = reason
            else:
                out[name] = h
                cache.put_sample(profiles[name], k, seed, h, "rows")
        read.update(todo)
        return out

    def _verify(self, profiles, groups: dict, schemas: dict, semantics: str, bad: dict, read: set) -> dict:
        """Exact answers of ``groups`` (``(parent, column set)`` → children) in one Spark job
        (``_failures``); tables that cannot be read are added to ``bad`` with the reason."""
        if not groups:
            return {}
        t = time.perf_counter()
        roles: dict[str, list] = defaultdict(list)
        index = {}
        for gid, ((p, cs), kids) in enumerate(sorted(groups.items())):
            roles[p].append((gid, tasks.PARENT, cs, None))
            for cid, c in enumerate(kids):
                roles[c].append((gid, cid, cs, schemas[(p, cs)]))
            index[gid] = (p, kids)
        names = sorted(roles)
        read.update(names)
        items = [pickle.dumps((i, profiles[n], roles[n])) for i, n in enumerate(names)]
        self.warmed()
        out = self._failures(_bins(items, [float(profiles[n].size_bytes * len(roles[n])) for n in names],
                                   self._slots()), semantics)
        self.jobs += 1
        self.job_seconds.append(("verify", time.perf_counter() - t))
        no = set()
        for r in out:
            if r["gid"] < 0:
                bad[names[r["cid"]]] = bytes(r["key"]).decode()
            else:
                no.add((r["gid"], r["cid"]))
        return {(p, c): (gid, cid) not in no for gid, (p, kids) in index.items() if p not in bad
                for cid, c in enumerate(kids) if c not in bad}

    def _failures(self, bins: list[list[bytes]], semantics: str) -> list:
        """The ``(gid, cid)`` of every child with a row its parent lacks, and ``(−1, table, reason)``
        of every table that could not be read: every table's canonical rows as counted byte keys
        (``spark_tasks.key_rows``; a table is one task's, so its counts are complete), one shuffle by
        group and key, a window giving each child row its parent's count. The Python work runs once
        (a self-join of the keys would run the tasks once per side)."""
        import warnings

        from pyspark.sql import Window
        from pyspark.sql import functions as F

        rdd = self.spark.sparkContext.parallelize(bins, len(bins)).flatMap(lambda b: [(x,) for x in b])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)   # pyspark's pandas-version notice
            rows = self.spark.createDataFrame(rdd, "task binary").mapInArrow(tasks.key_rows, tasks.KEY_SCHEMA)
        n_p = F.max(F.when(F.col("cid") == tasks.PARENT, F.col("n"))).over(Window.partitionBy("gid", "key"))
        failed = F.col("n_p").isNull() | (F.lit(semantics == "bag") & (F.col("n") > F.col("n_p")))
        return (rows.withColumn("n_p", n_p)
                .filter((F.col("cid") != tasks.PARENT) & failed)   # errors (gid < 0) have no parent
                .select("gid", "cid", F.when(F.col("gid") < 0, F.col("key")).alias("key"))
                .distinct().collect())

    def warm_up(self) -> None:
        """Run the verification query once on no rows, in a background thread: the first such job
        of a JVM costs seconds (query compilation, the first Arrow Python worker) whatever its
        size; started with profiling, that cost overlaps it. ``warmed`` waits for it."""
        import threading

        app = self.spark.sparkContext.applicationId
        if app not in _WARM:   # once per Spark application
            def run():
                with contextlib.suppress(Exception):   # only a warm-up: the real job reports errors
                    self._failures([[]], "bag")
            _WARM[app] = threading.Thread(target=run, name="prunekit-spark-warm-up", daemon=True)
            _WARM[app].start()

    def warmed(self) -> None:
        w = _WARM.get(self.spark.sparkContext.applicationId)
        if w is not None:
            w.join()
