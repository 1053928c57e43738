"""The public pipeline: ``score`` → ``select`` → ``export``. Each step is a few lines over the
registries; the CLI is a thin layer over these three functions.

>>> import prunekit.data as pd
>>> ex = read_examples("emb.npy", labels="labels.npy")                     # doctest: +SKIP
>>> table = score(ex, ["prototypicality", "semdedup", "density"], k=1000)  # doctest: +SKIP
>>> chosen = select(table, "dbp", keep=0.3, dedup=True)                     # doctest: +SKIP
>>> chosen.write("selection.parquet"); export(chosen, ex, "kept.npy")      # doctest: +SKIP

``export`` lives in :mod:`prunekit.data.export`.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Sequence

import numpy as np

from prunekit.data.scores import SCORERS, ScoringContext
from prunekit.data.scores.clustering import CLUSTER_PARAMS, default_k
from prunekit.data.select import get_selector
from prunekit.data.table import ScoreTable
from prunekit.data.export import EXPORT_FORMATS, export
from prunekit.errors import ConfigError
from prunekit.io.examples import ExampleSet


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
    scorers, shared = plan_scoring(methods, params, len(examples), examples.n_classes)
    ctx = ScoringContext(examples, seed=seed, show_progress=show_progress, clustering_params=shared)
    return run_scorers(examples, scorers, ctx)


def plan_scoring(methods: str | Sequence[str], params: dict[str, Any], n: int,
                 n_classes: int | None) -> tuple[list, dict[str, Any]]:
    """The scorers of a run (parameters checked against what they declare) and the clustering
    parameters they share; no work on the data yet."""
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
        shared["k"] = default_k(n, n_classes, prefer_classes=False)
    return scorers, shared


def run_scorers(examples: ExampleSet, scorers: list, ctx: ScoringContext) -> ScoreTable:
    """Run ``scorers`` over ``examples`` in one context and assemble the table (shared by the
    local and the distributed engines: the distributed one hands in a context holding its
    clustering and near-duplicates)."""
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
        "data_identity": examples.identity.to_dict(),
        "label_names": examples.label_names,
        "directions": directions,
        "scorers": runs,
        "seed": int(ctx.seed),
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
    out.path = None  # not written yet
    out.inputs = table.inputs + ((("score table", table.path),) if table.path is not None else ())
    out.keep = sel.keep
    out.reason = sel.reason
    out.meta = {**table.meta, "selection": {**sel.info, "keep_fraction": keep, "count": count}}
    return out

__all__ = ["EXPORT_FORMATS", "export", "score", "select"]
