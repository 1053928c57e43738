"""Stage 2: statistics pruning, from profiles only (no data is read).

A pair ``(parent, child)`` from the schema stage is dropped when the profiles prove that some row
of the child cannot occur in the parent's projection on the child's columns. For every column of the
child, with ``P``/``C`` the parent's and child's column:

- ``C`` has nulls or NaN and ``P`` has neither (NaN and NULL are one null: ``semantics``);
- ``C`` has ordinary values (not null, not NaN) and ``P`` has none;
- ``min(C) < min(P)`` or ``max(C) > max(P)`` (bounds ignore null and NaN; ``-0.0 == 0.0``; numbers
  compare by exact value across int, float and decimal, a decimal bound given as exact text);

and for the table: under bag semantics ``rows(C) > rows(P)`` (each row needs its own partner row).
Narrow children (fewer than ``min_columns`` columns; see ``schema_graph``) are kept only against
parents with the same row count: they are candidates for exact duplicates only.

Profiles hold exact statistics (``catalog`` trusts footer bounds only where they cannot be
truncated) or order-preserving encodings of them, so a dropped pair is never a containment. The
profiles given are the compared ones (``semantics.compared_profiles``): types are families, index
columns left out; a column of the null type fits any type.

Algorithm and parameters: docs/ALGORITHMS.md §4.4.
"""

from __future__ import annotations

from fractions import Fraction

from prunekit.lake.model import TableProfile

_NUMBERS = ("number", "int", "float", "decimal")


def _bound(v, numeric: bool):
    """A bound as compared: decimal text of a number column as its exact value."""
    return Fraction(v) if numeric and isinstance(v, str) else v


def prune_reason(parent: TableProfile, child: TableProfile, *, semantics: str = "bag",
                 min_columns: int = 2) -> str | None:
    """Why ``child ⊆ parent`` is impossible according to the profiles, or None if it may hold."""
    if semantics == "bag" and child.rows > parent.rows:
        return f"rows: child has {child.rows}, parent {parent.rows}"
    if len(child.columns) < min_columns and child.rows != parent.rows:
        return "narrow child: only exact duplicates are considered"
    pcols = {c.name: c for c in parent.columns}
    for c in child.columns:
        p = pcols.get(c.name)
        if p is None or (p.type != c.type and "null" not in (p.type, c.type)):
            return f"schema: column {c.name}"
        if (c.nulls or c.nans) and not (p.nulls or p.nans):
            return f"{c.name}: nulls where the parent has none"
        c_values = child.rows - c.nulls - c.nans
        p_values = parent.rows - p.nulls - p.nans
        if c_values > 0 and p_values == 0:
            return f"{c.name}: values where the parent has only null/NaN"
        if c.min is None and c.max is None or p.type != c.type:
            continue
        num = c.type in _NUMBERS
        try:
            if c.min is not None and p.min is not None and _bound(c.min, num) < _bound(p.min, num):
                return f"{c.name}: min {c.min!r} < parent min {p.min!r}"
            if c.max is not None and p.max is not None and _bound(c.max, num) > _bound(p.max, num):
                return f"{c.name}: max {c.max!r} > parent max {p.max!r}"
        except (TypeError, ValueError):
            continue   # bounds of one type family are comparable; never prune on a doubt
    return None


def stats_prune(pairs: list[tuple[str, str]], profiles: dict[str, TableProfile], *,
                semantics: str = "bag", min_columns: int = 2
                ) -> tuple[list[tuple[str, str]], dict[tuple[str, str], str]]:
    """The pairs that survive, and the reason each dropped pair was dropped."""
    kept, dropped = [], {}
    for parent, child in pairs:
        r = prune_reason(profiles[parent], profiles[child], semantics=semantics, min_columns=min_columns)
        if r is None:
            kept.append((parent, child))
        else:
            dropped[(parent, child)] = r
    return kept, dropped
