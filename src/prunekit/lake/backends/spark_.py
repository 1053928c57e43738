"""Exact verification in PySpark (local mode by default), the engine R2D2 ran on.

Same plan as the DuckDB engine: the parent's projection is aggregated once per column set into
``(row, n_p)`` and cached; each child's ``(row, n_c)`` is left-joined with null-safe equality
(``<=>``: NULL matches NULL only; canonical tables hold no NaN and no ``-0.0``) and a row with
no partner or (bag) ``n_c > n_p`` disproves containment. Tables arrive in canonical Arrow form, so
Spark never parses a file and sees exactly the rows DuckDB sees; each child is lifted to its
parent's column types first (``semantics.align_child``), as in DuckDB.

pyspark is imported lazily; ``pip install 'prunekit[spark]'`` (and a Java 17+ runtime) is needed.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa

from prunekit.errors import ConfigError, InputError, require
from prunekit.lake.backends import aligned_children

_LOG4J = """rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
"""


@contextlib.contextmanager
def _stderr_to(path: Path):
    """Point file descriptor 2 at ``path`` while the JVM starts.

    The JVM inherits the descriptor when it is spawned and prints its start-up banner there
    ("Using incubator modules", "Setting default log level", ...) before any log4j setting applies;
    a user of ``prunekit lake scan --engine spark`` should see none of it. The JVM keeps writing
    to the file afterwards (errors reach Python as exceptions anyway); our own stderr comes back.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "ab") as fh:
            os.dup2(fh.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


class SparkVerifier:
    name = "spark"

    def __init__(self, master: str = "local[*]", shuffle_partitions: int = 2, session=None,
                 end_to_end: bool = True):
        """``session``: a running ``SparkSession`` (a cluster's, ``spark-submit``'s), else a quiet
        local one on ``master``. ``end_to_end``: the scan's profiling, sample and verification run
        as Spark jobs on the tables' paths (``spark_lake``: the driver reads no table); False: only
        the ``open_parent``/``contains_many`` calls, on tables read by the driver."""
        require("pyspark", "spark")
        from pyspark.sql import SparkSession

        if session is None:
            # Quiet start: no UI server, no progress bars, errors only from log4j (a properties
            # file is the only way log4j2 takes a level before the first line), loopback address.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            log_conf = Path(tempfile.gettempdir()) / "prunekit-spark-log4j2.properties"
            if not log_conf.exists():
                log_conf.write_text(_LOG4J)
            builder = (SparkSession.builder.master(master).appName("prunekit-lake")
                       .config("spark.ui.enabled", "false")
                       .config("spark.ui.showConsoleProgress", "false")
                       .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
                       .config("spark.default.parallelism", str(shuffle_partitions))
                       .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                       .config("spark.sql.adaptive.enabled", "false")
                       .config("spark.driver.extraJavaOptions",
                               f"-Dlog4j2.configurationFile=file:{log_conf}"))
            jvm_log = Path(tempfile.gettempdir()) / f"prunekit-spark-{os.getpid()}.log"
            try:
                with warnings.catch_warnings(), _stderr_to(jvm_log):
                    warnings.simplefilter("ignore")
                    session = builder.getOrCreate()
            except Exception as exc:  # JVM missing or failing to start: one readable line
                raise InputError(f"cannot start Spark ({master}): {str(exc).strip().splitlines()[0]} "
                                 f"(JVM output: {jvm_log})") from exc
            session.sparkContext.setLogLevel("ERROR")
        self.spark = session
        if end_to_end:   # the hooks the catalogue and the content stages look for
            from prunekit.lake.backends.spark_lake import SparkJobs

            self.jobs = SparkJobs(session)
            self.profile_many = self.jobs.profile_many
            self.content_answers = self.jobs.content_answers
            self.fingerprint_many = self.jobs.fingerprint_many
        self._pagg = None
        self._cols: list[str] | None = None
        self._schema: pa.Schema | None = None

    @staticmethod
    def _spark_ready(t: pa.Table) -> pa.Table:
        # Spark has no Arrow null type: an all-null column travels as a string column of nulls.
        cols = [pa.nulls(len(c), pa.string()) if pa.types.is_null(c.type) else c for c in t.columns]
        return pa.Table.from_arrays(cols, names=t.column_names)

    def open_parent(self, parent: pa.Table) -> None:
        from pyspark.sql import functions as F

        self._cols = parent.column_names
        self._schema = parent.schema
        pdf = self._df(parent)
        self._pagg = (pdf.groupBy(*self._cols).agg(F.count(F.lit(1)).alias("n_p"))
                      .select(*[F.col(c).alias(f"p_{c}") for c in self._cols], "n_p").cache())

    def _df(self, t: pa.Table):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)   # pyspark's pandas-version notice
            return self.spark.createDataFrame(self._spark_ready(t))

    def contains(self, child: pa.Table, semantics: str) -> bool:
        return self.contains_many([("c", child)], semantics)["c"]

    def contains_many(self, children: list[tuple[str, pa.Table]], semantics: str) -> dict[str, bool]:
        """All children of the open parent in one Spark job (a job costs ~0.1–0.5 s in local mode).

        Children are stacked with a child-id column, aggregated per (id, row), left-joined to the
        parent's aggregate, and the ids with a missing or over-used row come back in one collect.
        """
        from pyspark.sql import functions as F

        if self._pagg is None:
            raise ConfigError("open_parent must be called before contains")
        if not children:
            return {}
        children, answers = aligned_children(children, self._schema, lambda rest: self.contains_many(rest, semantics))
        if answers is not None:
            return answers
        pagg, cols = self._pagg, self._cols
        stacked = pa.concat_tables(
            [self._spark_ready(t).append_column("cid__", pa.array(np.full(t.num_rows, i, np.int64)))
             for i, (_, t) in enumerate(children)], promote_options="permissive")
        cdf = self._df(stacked)
        cagg = cdf.groupBy("cid__", *cols).agg(F.count(F.lit(1)).alias("n_c"))
        cond = None
        for c in cols:
            e = cagg[c].eqNullSafe(pagg[f"p_{c}"])
            cond = e if cond is None else cond & e
        bad = F.col("n_p").isNull()
        if semantics == "bag":
            bad = bad | (F.col("n_c") > F.col("n_p"))
        failed = {r["cid__"] for r in cagg.join(pagg, on=cond, how="left").filter(bad)
                  .select("cid__").distinct().collect()}
        return {name: i not in failed for i, (name, _) in enumerate(children)}

    def close_parent(self) -> None:
        if self._pagg is not None:
            self._pagg.unpersist()
        self._pagg = None
        self._cols = None
        self._schema = None

    def close(self) -> None:
        # The session is shared per process (getOrCreate); stopping it is the caller's choice.
        pass
