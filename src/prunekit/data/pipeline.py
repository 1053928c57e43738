"""The public pipeline: ``score`` → ``select`` → ``export``. Each step is a few lines over the
registries; the CLI is a thin layer over these three functions.

>>> import prunekit.data as pd
>>> ex = read_examples("emb.npy", labels="labels.npy")                     # doctest: +SKIP
>>> table = score(ex, ["prototypicality", "semdedup", "density"], k=1000)  # doctest: +SKIP
>>> chosen = select(table, "dbp", keep=0.3, dedup=True)                     # doctest: +SKIP
>>> chosen.write("selection.parquet"); export(chosen, ex, "kept.npy")      # doctest: +SKIP
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from prunekit.data.scores import SCORERS, ScoringContext
from prunekit.data.scores.clustering import CLUSTER_PARAMS, default_k
from prunekit.data.select import get_selector
from prunekit.data.table import ScoreTable
from prunekit.errors import ConfigError, InputError
from prunekit.io.atomic import atomic_path, check_writable
from prunekit.io.examples import ExampleSet, read_examples


def score(
    examples: ExampleSet,
    methods: str | Sequence[str],
    *,
    seed: int = 0,
    show_progress: bool | None = None,
    **params: Any,
) -> ScoreTable:
    """Score every example with each method in ``methods``.

    ``params`` go to the scorers that declare them (``k``, ``metric``, ``sample``, ``niter`` shape
    the one k-means clustering shared by all geometry scorers of the run; ``eps``/``policy`` go to
    semdedup; ``n_neighbors`` to density). A parameter no requested scorer uses is an error."""
    if isinstance(methods, str):
        methods = [methods]
    methods = list(dict.fromkeys(methods))
    if not methods:
        raise ConfigError(f"no scoring method given; valid scorers: {', '.join(sorted(SCORERS))}")
    scorers = []
    for name in methods:
        cls = SCORERS.lookup(name)
        scorers.append(cls(**{k: v for k, v in params.items() if k in cls.spec and v is not None}))
    used = set().union(*(SCORERS[m].spec.names() for m in methods))
    unused = sorted(k for k, v in params.items() if k not in used and v is not None)
    if unused:
        raise ConfigError(f"parameter {unused[0]!r} is not used by {', '.join(methods)}")
    shared = {k: params.get(k) for k in CLUSTER_PARAMS.names() if params.get(k) is not None}
    # One clustering per run: if prototypicality runs with other geometry scorers, they agree on k.
    geo = [s for s in scorers if s.uses_clustering]
    if len(geo) > 1 and "k" not in shared:
        shared["k"] = default_k(len(examples), examples.n_classes, prefer_classes=False)
    ctx = ScoringContext(examples, seed=seed, show_progress=show_progress, clustering_params=shared)
    columns: dict[str, np.ndarray] = {}
    directions: dict[str, str] = {}
    cluster = duplicate_of = None
    runs = []
    for s in scorers:
        t0 = time.perf_counter()
        res = s.score(examples, ctx)
        seconds = time.perf_counter() - t0
        clash = sorted(set(columns) & set(res.columns))
        if clash and s.name != "density":
            raise ConfigError(f"two scorers produce the column {clash[0]!r}")
        columns.update(res.columns)
        directions.update(res.directions)
        if res.cluster is not None:
            cluster = res.cluster
        if res.duplicate_of is not None:
            duplicate_of = res.duplicate_of
        runs.append({"method": s.name, "params": {k: v for k, v in s.params.items()},
                     "seconds": round(seconds, 4), **res.info})
    meta = {
        "source": examples.source,
        "label_names": examples.label_names,
        "directions": directions,
        "scorers": runs,
        "seed": int(seed),
    }
    return ScoreTable(
        ids=examples.ids, labels=examples.labels, scores=columns, cluster=cluster,
        duplicate_of=duplicate_of, meta=meta,
    )


def select(
    table: ScoreTable,
    method: str,
    keep: float | None = None,
    *,
    count: int | None = None,
    dedup: bool = False,
    seed: int = 0,
    **params: Any,
) -> ScoreTable:
    """Return a copy of ``table`` with ``keep`` and ``reason`` set by selector ``method``."""
    selector = get_selector(method, **{k: v for k, v in params.items() if v is not None})
    sel = selector.select(table, keep, count=count, dedup=dedup, seed=seed)
    out = copy.copy(table)
    out.keep = sel.keep
    out.reason = sel.reason
    out.meta = {**table.meta, "selection": {**sel.info, "keep_fraction": keep, "count": count}}
    return out


EXPORT_FORMATS = ("same", "index", "npy", "parquet", "csv")


def _check_source_unchanged(table: ScoreTable, examples: ExampleSet) -> None:
    if len(examples) != len(table):
        raise InputError(
            f"the data has {len(examples)} rows but the selection was made on {len(table)}"
        )
    same = (examples.ids.astype(str) == table.ids.astype(str)) if examples.ids.dtype != table.ids.dtype \
        else (examples.ids == table.ids)
    if not np.all(same):
        raise InputError("the data's ids differ from the selection's ids: was the data changed?")


def export(
    table: ScoreTable,
    examples: ExampleSet | str | os.PathLike | None,
    out: str | os.PathLike,
    *,
    format: str = "same",
) -> Path:
    """Write the kept examples.

    ``format="same"`` writes the input's own format (``.npy`` rows — plus ``<out>.labels.npy`` when
    labels exist —, Parquet or CSV rows in their original columns); ``"index"`` writes a Parquet
    file of the kept ``id`` and ``row`` numbers. ``examples`` defaults to the path recorded when
    scoring."""
    if table.keep is None:
        raise InputError("this table has no selection yet: run select first")
    if format not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format {format!r}; valid: {', '.join(EXPORT_FORMATS)}")
    out = check_writable(out)
    rows = np.flatnonzero(table.keep)
    if format == "index":
        import pyarrow as pa
        import pyarrow.parquet as pq

        ids = table.ids[rows]
        t = pa.table({"id": pa.array(ids.tolist() if ids.dtype == object else ids), "row": pa.array(rows)})
        with atomic_path(out) as tmp:
            pq.write_table(t, tmp)
        return out
    if examples is None:
        path = table.meta.get("source", {}).get("path")
        if not path:
            raise InputError("the table does not record its input file: pass the data path")
        examples = path
    src_meta = table.meta.get("source", {})
    if not isinstance(examples, ExampleSet):
        kw = {}
        if src_meta.get("format") in ("parquet", "arrow", "csv"):
            kw = {k: src_meta.get(k) for k in ("embedding_column", "label_column", "id_column")}
        elif src_meta.get("labels_path"):
            kw = {"labels": src_meta["labels_path"]}
        examples = read_examples(examples, **kw)
    _check_source_unchanged(table, examples)
    fmt = examples.source.get("format", "array")
    target = fmt if format == "same" else format
    if target in ("array", "arrow-table"):
        target = "npy"
    if target == "npy":
        from numpy.lib.format import open_memmap

        X = examples.embeddings
        with atomic_path(out) as tmp:
            dst = open_memmap(tmp, mode="w+", dtype=X.dtype, shape=(len(rows), X.shape[1]))
            step = 65536
            for s in range(0, len(rows), step):
                dst[s : s + step] = X[rows[s : s + step]]
            dst.flush()
            del dst
        if examples.labels is not None:
            lab_out = out.with_name(out.stem + ".labels.npy")
            with atomic_path(lab_out) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, examples.labels[rows])
        return out
    if target in ("parquet", "csv", "arrow"):
        path = examples.source.get("path")
        if path is None:
            raise InputError(f"cannot export to {target}: the examples were not read from a file")
        from prunekit.io.examples import _read_table

        t = _read_table(Path(path), examples.source["format"]).take(rows)
        if target == "csv":
            import pyarrow.types as pat

            nested = [f.name for f in t.schema if pat.is_nested(f.type)]
            if nested:
                raise InputError(
                    f"cannot export as csv: column {nested[0]!r} holds lists ({t.schema.field(nested[0]).type}), "
                    "which CSV cannot store; use format='parquet' or 'npy'"
                )
        from prunekit.io.writers import write_table

        return write_table(t, out, target)
    raise ConfigError(f"cannot export {fmt} input as {target}")  # pragma: no cover
