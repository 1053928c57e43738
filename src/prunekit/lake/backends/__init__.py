"""Engines that run the exact verification (stage 3b) of ``prunekit.lake``.

An engine gets tables already read and put in canonical form by ``verify.canonical`` (so it never
parses files itself: a CSV means the same rows to every engine) and answers, for one parent
projection and the children with the same column set, which children are contained in it.
Every engine must give identical answers on the same lake; ``tests/lake/test_spark_backend.py``
checks DuckDB against Spark.

An engine that reads the tables itself, where they are (Spark: ``spark_lake``), also offers the
scan's hooks: ``profile_many(refs)`` (the catalogue's profiling), ``content_answers(...)`` (every
sample and exact answer of the content stages, ``content``) and ``fingerprint_many(profiles)`` (set
semantics' duplicate groups); the scan then reads no table on the driver.
"""

from __future__ import annotations

from typing import Protocol

import pyarrow as pa

from prunekit.lake.params import ENGINE


class Verifier(Protocol):
    """Tables are canonical (``verify.canonical``) with the same columns ``c0…`` on both sides."""

    name: str

    def open_parent(self, parent: pa.Table) -> None:
        """Aggregate the parent projection once; following ``contains`` calls probe it."""

    def contains(self, child: pa.Table, semantics: str) -> bool:
        """True iff every row of ``child`` occurs in the open parent (bag: with multiplicity)."""

    def close_parent(self) -> None: ...

    def close(self) -> None: ...


def verify_group(verifier: Verifier, parent: pa.Table, children: list[tuple[str, pa.Table]],
                 semantics: str) -> dict[str, bool]:
    """``{child name: child ⊆ parent}``, the parent aggregated once for all children."""
    verifier.open_parent(parent)
    try:
        return {name: verifier.contains(child, semantics) for name, child in children}
    finally:
        verifier.close_parent()


def aligned_children(children: list[tuple[str, pa.Table]], schema: pa.Schema, retry):
    """``(children aligned to the parent's column types, None)`` — or ``(None, answers)`` when some
    child cannot be aligned (``semantics.align_child``): it is not contained, and ``retry(rest)``
    (the engine's ``contains_many`` on the others) answers the rest."""
    from prunekit.lake.semantics import align_child

    aligned = {name: align_child(t, schema) for name, t in children}
    if any(t is None for t in aligned.values()):
        rest = [(n, t) for n, t in aligned.items() if t is not None]
        found = retry(rest) if rest else {}
        return None, {name: found.get(name, False) for name, _ in children}
    return list(aligned.items()), None


def get_verifier(engine: str, **options) -> Verifier:
    """A verification engine by name: ``duckdb`` (embedded, default) or ``spark`` (local mode)."""
    if engine == "duckdb":
        from prunekit.lake.backends.duckdb_ import DuckDBVerifier
        return DuckDBVerifier(**options)
    if engine == "spark":
        from prunekit.lake.backends.spark_ import SparkVerifier
        return SparkVerifier(**options)
    raise ENGINE.error(engine)
