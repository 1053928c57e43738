"""Why one table is, or is not, contained in another: the scan's stages run on a single pair.

    from prunekit.lake.explain import explain_pair
    e = explain_pair("sales/dup_rows", "sales/base", lake="lake/")     # names as the scan reports them
    e = explain_pair("a.parquet", "b_parts/")                          # or paths, without a lake
    print(e.contained, e.stage, e.reason)
    e.to_dict()                                                        # what `--json` prints

The stages are the scan's, in the scan's order, and each is the scan's own function, so the answer
is the scan's: ``schema`` (``schema_graph.schema_candidates`` on the two profiles: missing columns by
normalised name, incompatible types, the narrow-child rule), ``statistics`` (``stats.prune_reason``)
and ``verify`` (``verify.canonical`` and the engine of ``backends``). The sample stage is left out:
it only ever drops pairs the exact check rejects too. The first stage that rules the pair out
decides; when none does the exact check gives the verdict, and a pair it rejects gets the first
rows of the child without a partner in the parent, each with its values and (bag semantics) its
multiplicity in the child and in the parent. Those rows are found by grouping the canonical rows of
both tables by value (row hashes, every group then checked on the values themselves).

Row numbers count from 0 in the table's canonical row order (``tableio.read_table``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from prunekit.errors import InputError
from prunekit.lake.params import ENGINE, INDEX_COLUMNS, MIN_COLUMNS, NUMBERS, SEMANTICS_PARAM
from prunekit.params import Param, Spec

if TYPE_CHECKING:   # pyarrow is imported on first use: the CLI reads EXPLAIN_ROWS at start-up
    import pyarrow as pa

    from prunekit.lake.model import TableProfile

EXPLAIN_ROWS = Param("rows", int, low=0, default=5,
                     help="Rows of the child absent from the parent to show")
EXPLAIN_PARAMS = Spec(ENGINE, SEMANTICS_PARAM, MIN_COLUMNS, EXPLAIN_ROWS)

_MAX_POSITIONS = 10   # occurrences of one absent row listed in ``child_rows``
_TEXT_COLUMNS = 12    # values shown in a row's one-line text (the JSON has them all)


@dataclass
class Explanation:
    """The answer for one pair. ``stage`` is the stage that decided (``schema``, ``statistics`` or
    ``verify``); ``stages`` lists every stage run, in order, with its outcome."""

    child: str
    parent: str
    child_path: str
    parent_path: str
    semantics: str
    contained: bool
    stage: str
    reason: str
    stages: list[dict[str, str]] = field(default_factory=list)
    engine: str | None = None                  # None when no rows were compared
    missing_columns: list[str] = field(default_factory=list)      # normalised names
    type_differences: list[dict[str, str]] = field(default_factory=list)
    statistics: dict[str, Any] | None = None   # when the statistics decided
    missing_rows: int | None = None            # child rows without a partner (verify stage)
    missing_distinct: int | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)      # the first absent rows
    note: str | None = None
    #: row-index columns of each table (left out of the comparison unless index_columns="compare")
    index_columns: dict[str, list[str]] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        verdict = "contained" if self.contained else "not contained"
        return f"{self.child} ⊆ {self.parent} ({self.semantics}): {verdict}, decided by {self.stage}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (values of absent rows: NaN/±inf as strings, dates and times as ISO text)."""
        return {"child": self.child, "parent": self.parent, "child_path": self.child_path,
                "parent_path": self.parent_path, "semantics": self.semantics, "engine": self.engine,
                "contained": self.contained, "stage": self.stage, "reason": self.reason,
                "summary": self.summary, "stages": [dict(s) for s in self.stages],
                "missing_columns": list(self.missing_columns),
                "type_differences": [dict(d) for d in self.type_differences],
                "statistics": self.statistics, "missing_rows": self.missing_rows,
                "missing_distinct": self.missing_distinct, "rows": [dict(r) for r in self.rows],
                "note": self.note, "index_columns": {k: list(v) for k, v in self.index_columns.items()}}


# --- which tables ------------------------------------------------------------------------------

def _path_ref(arg: str | Path):
    """A table given by its path: a ``.parquet``/``.csv`` file or a folder of Parquet parts (by the
    catalogue's rule for a folder of parts). Other layouts are named inside a lake (``lake=``)."""
    from prunekit.lake.catalog import TableRef, _is_parts_folder
    from prunekit.lake.tableio import table_files

    p = Path(arg)
    if not p.exists():
        raise InputError(f"table {arg} does not exist")
    fmt = "parquet" if p.is_dir() else p.suffix.lower().lstrip(".")
    if fmt not in ("parquet", "csv") or (p.is_dir() and not _is_parts_folder(p)):
        raise InputError(f"{arg} is not a table: expected a .parquet or .csv file or a folder of Parquet "
                         "parts; name other tables inside their lake (--lake ROOT)")
    size = sum(f.stat().st_size for f in table_files(p))
    return TableRef(name=str(arg), path=str(p.resolve()), format=fmt, key=str(p.resolve()),
                    signature="", size_bytes=size)


def _lake_refs(root: Path, args: list[str], echo) -> list:
    """The tables of the lake named ``args`` (names as the scan reports them, or paths into it)."""
    import difflib

    from prunekit.lake.catalog import discover_all
    from prunekit.lake.trash import recover_if_interrupted

    recover_if_interrupted(root, echo)   # like the scan: a half-applied lake is put right first
    refs, skipped, aliases = discover_all(root)
    by_name = {r.name: r for r in refs}
    by_path = {Path(r.path).resolve(): r for r in refs}
    out = []
    for arg in args:
        ref = by_name.get(str(arg).rstrip("/"))
        for path in (Path(arg), root / arg):    # a path to a table of the lake, from here or the root
            if ref is None and path.exists():
                ref = by_path.get(path.resolve())
        if ref is None:
            skip = next((s for s in skipped if Path(s.path) in (root / arg, Path(arg).absolute())), None)
            if skip is not None:
                raise InputError(f"{arg}: {skip.reason}")
            close = difflib.get_close_matches(str(arg), list(by_name), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise InputError(f"no table named {arg!r} in the lake {root}{hint}")
        out.append(ref)
    return out


def _profile(ref) -> "TableProfile":
    from prunekit.lake.model import Skipped
    from prunekit.lake.profile import profile_or_skip

    prof = profile_or_skip(ref)
    if isinstance(prof, Skipped):
        raise InputError(f"{ref.name}: {prof.reason}")
    return prof


def explain_pair(child: str | Path, parent: str | Path, *, lake: str | Path | None = None,
                 semantics: str = SEMANTICS_PARAM.default, engine: str = ENGINE.default,
                 min_columns: int = MIN_COLUMNS.default, rows: int = EXPLAIN_ROWS.default,
                 index_columns: str = INDEX_COLUMNS.default, numbers: str = NUMBERS.default,
                 echo: Callable[[str], None] | None = None) -> Explanation:
    """Why ``child ⊆ parent`` holds or not (``prunekit lake explain``).

    Without ``lake``, ``child`` and ``parent`` are paths (a ``.parquet`` or ``.csv`` file, a folder
    of Parquet parts). With ``lake``, they are table names as the scan of that root reports them
    (a path to a table of the lake works too), and an interrupted lake command is recovered first
    (``echo`` gets its lines), as the scan does. ``semantics``, ``engine``, ``min_columns``,
    ``index_columns`` and ``numbers`` mean what they mean to the scan; ``rows``: how many absent rows to describe. Raises ``InputError``
    for a missing or unreadable table or the same table twice, ``ConfigError`` for a bad option,
    before anything is read.
    """
    semantics = SEMANTICS_PARAM.check(semantics)
    engine = ENGINE.check(engine)
    min_columns = MIN_COLUMNS.check(min_columns)
    rows = EXPLAIN_ROWS.check(rows)
    INDEX_COLUMNS.check(index_columns)
    NUMBERS.check(numbers)
    if lake is not None:
        from prunekit.lake.catalog import check_root

        cref, pref = _lake_refs(check_root(lake), [str(child), str(parent)], echo)
    else:
        cref, pref = _path_ref(child), _path_ref(parent)
    if Path(cref.path).resolve() == Path(pref.path).resolve():
        raise InputError(f"{child} and {parent} are the same table ({cref.path}): give two different tables")
    cprof, pprof = _profile(cref), _profile(pref)
    return explain_profiles(cprof, pprof, semantics=semantics, engine=engine,
                            min_columns=min_columns, rows=rows, index_columns=index_columns, numbers=numbers)


# --- the stages --------------------------------------------------------------------------------

def _schema_differences(child: "TableProfile", parent: "TableProfile", raw_child: "TableProfile",
                        raw_parent: "TableProfile") -> tuple[list[str], list[dict]]:
    """Missing columns and type differences between the compared profiles (types are families);
    the raw profiles give the stored types and say whether a missing column is an index column of
    the parent."""
    pcols = {c.name: c for c in parent.columns}
    raw_p = {c.name: c for c in raw_parent.columns}
    missing = [c.name + (" (an index column of the parent)" if c.name in raw_p else "")
               for c in child.columns if c.name not in pcols]
    types = [{"column": c.name, "child": c.type, "parent": pcols[c.name].type,
              "child_arrow": c.arrow_type, "parent_arrow": pcols[c.name].arrow_type}
             for c in child.columns if c.name in pcols and pcols[c.name].type != c.type]
    return missing, types


def _schema_reason(child: "TableProfile", parent: "TableProfile", missing: list[str], types: list[dict],
                   min_columns: int) -> str:
    parts = []
    if missing:
        parts.append(f"{len(missing)} child column{'s' if len(missing) > 1 else ''} not in the parent: "
                     + ", ".join(missing))
    if types:
        parts.append("types differ: " + ", ".join(
            f"{d['column']} ({d['child_arrow']} in the child, {d['parent_arrow']} in the parent)" for d in types))
    if parts:
        return "; ".join(parts)
    extra = sorted(set(parent.schema) - set(child.schema))
    return (f"the child has {len(child.columns)} column{'s' if len(child.columns) > 1 else ''}, fewer than "
            f"min_columns={min_columns}: it counts only as an exact duplicate of a table with the same "
            f"schema, and the parent also has {', '.join(extra)}")


def _statistics(child: "TableProfile", parent: "TableProfile", reason: str) -> dict[str, Any]:
    pcols = {c.name: c for c in parent.columns}
    named = [c.name for c in child.columns if reason.startswith(f"{c.name}: ")]
    decides = max(named, key=len) if named else None

    def stats(c) -> dict[str, Any]:
        return {"nulls": c.nulls, "nans": c.nans, "min": c.min, "max": c.max}

    return {"rows": {"child": child.rows, "parent": parent.rows,
                     "decides": reason.startswith(("rows:", "narrow child"))},
            "columns": [{"column": c.name, "child": stats(c), "parent": stats(pcols[c.name]),
                         "decides": c.name == decides} for c in child.columns if c.name in pcols]}


def explain_profiles(child: "TableProfile", parent: "TableProfile", *,
                     semantics: str = SEMANTICS_PARAM.default, engine: str = ENGINE.default,
                     min_columns: int = MIN_COLUMNS.default, rows: int = EXPLAIN_ROWS.default,
                     index_columns: str = INDEX_COLUMNS.default, numbers: str = NUMBERS.default,
                     verifier=None, reader: Callable[[str, str], "pa.Table"] | None = None) -> Explanation:
    """``explain_pair`` on two profiled tables (e.g. from a ``ScanResult``), compared as the scan
    compares them (``semantics.compared_profiles``: index columns left out unless
    ``index_columns="compare"``, numeric types by ``numbers``). ``verifier``: an open engine to
    reuse (not closed here); ``reader``: ``(path, format) → table``, default ``tableio.read_table``."""
    from prunekit.lake.schema_graph import schema_candidates
    from prunekit.lake.semantics import compared_profiles
    from prunekit.lake.stats import prune_reason

    SEMANTICS_PARAM.check(semantics)
    MIN_COLUMNS.check(min_columns)
    EXPLAIN_ROWS.check(rows)
    if verifier is None:
        ENGINE.check(engine)
    e = Explanation(child=child.name, parent=parent.name, child_path=child.path, parent_path=parent.path,
                    semantics=semantics, contained=False, stage="schema", reason="")
    e.index_columns = {"child": [c.name for c in child.columns if getattr(c, "index", False)],
                       "parent": [c.name for c in parent.columns if getattr(c, "index", False)]}
    cmp = compared_profiles({"child": child, "parent": parent}, index_columns=index_columns, numbers=numbers)
    only_index = [w for w in ("child", "parent") if w not in cmp]
    if only_index:
        e.reason = (f"the {' and the '.join(only_index)} {'has' if len(only_index) == 1 else 'have'} only row-index "
                    "columns: nothing to compare (index_columns='compare' compares them)")
        e.stages.append({"stage": "schema", "outcome": "ruled out", "detail": e.reason})
        return e
    raw_child, raw_parent = child, parent
    child, parent = cmp["child"], cmp["parent"]
    missing, types = _schema_differences(child, parent, raw_child, raw_parent)
    e.missing_columns, e.type_differences = missing, types
    if ("parent", "child") not in schema_candidates({"parent": parent, "child": child}, min_columns=min_columns):
        e.reason = _schema_reason(child, parent, missing, types, min_columns)
        e.stages.append({"stage": "schema", "outcome": "ruled out", "detail": e.reason})
        return e
    e.stages.append({"stage": "schema", "outcome": "passed",
                     "detail": f"every child column is a parent column of a compatible type ({len(child.columns)})"})

    why = prune_reason(parent, child, semantics=semantics, min_columns=min_columns)
    if why is not None:
        e.stage, e.reason, e.statistics = "statistics", why, _statistics(child, parent, why)
        e.stages.append({"stage": "statistics", "outcome": "ruled out", "detail": why})
        return e
    e.stages.append({"stage": "statistics", "outcome": "passed",
                     "detail": "row counts, null/NaN counts and bounds allow it"})
    _verify_stage(e, child, parent, semantics, engine, rows, verifier, reader)
    return e


def _verify_stage(e: Explanation, child, parent, semantics: str, engine: str, rows: int,
                  verifier, reader) -> None:
    from prunekit.lake.backends import get_verifier, verify_group
    from prunekit.lake.tableio import read_table
    from prunekit.lake.verify import canonical, column_set

    read = reader or read_table
    ctab, ptab = read(child.path, child.format), read(parent.path, parent.format)
    cols = column_set(child)
    ccan, pcan = canonical(ctab, child, cols), canonical(ptab, parent, cols)
    own = verifier is None
    if own:
        verifier = get_verifier(engine)
    try:
        ok = verify_group(verifier, pcan, [("child", ccan)], semantics)["child"]
    finally:
        if own:
            verifier.close()
    e.stage, e.contained, e.engine = "verify", ok, getattr(verifier, "name", engine)
    if ok:
        e.reason = ("every child row occurs in the parent" +
                    (", at least as often" if semantics == "bag" else ""))
        e.stages.append({"stage": "verify", "outcome": "contained", "detail": e.reason})
        return
    total, distinct, shown = absent_rows(ctab, ccan, pcan, semantics, rows)
    e.missing_rows, e.missing_distinct, e.rows = total, distinct, shown
    if total:
        one = total == 1
        e.reason = (f"{total:,} of {child.rows:,} child rows " +
                    (f"{'has' if one else 'have'} no partner row in the parent" if semantics == "bag"
                     else f"{'does' if one else 'do'} not occur in the parent") + f" ({distinct:,} distinct)")
    else:
        e.reason = f"the {e.engine} engine finds a child row without a partner in the parent"
        e.note = ("the row-by-row comparison of the canonical tables finds none: the engine and this "
                  "comparison disagree (please report it)")
    e.stages.append({"stage": "verify", "outcome": "not contained", "detail": e.reason})


# --- the rows of the child absent from the parent ----------------------------------------------

def _common_types(ccan: "pa.Table", pcan: "pa.Table") -> tuple["pa.Table", "pa.Table"]:
    """Both canonical tables with one type per column: the canonical form leaves an integer that
    does not fit int64 as a decimal, so one side may be decimal where the other is int64."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, (a, b) in enumerate(zip(ccan.schema.types, pcan.schema.types)):
        if a == b:
            continue
        if pa.types.is_decimal(a) or pa.types.is_decimal(b):
            scale = max(t.scale if pa.types.is_decimal(t) else 0 for t in (a, b))
            target = pa.decimal128(38, scale)
        else:
            target = b
        try:
            ccan = ccan.set_column(i, ccan.field(i).name, pc.cast(ccan.column(i), target))
            pcan = pcan.set_column(i, pcan.field(i).name, pc.cast(pcan.column(i), target))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            continue   # left as is: such values never compare equal
    return ccan, pcan


def _value_form(col) -> tuple[np.ndarray, np.ndarray]:
    """``exact.exact_form`` with float values made value-comparable: every NaN one bit pattern,
    ``-0.0`` as ``0.0`` (the containment's equality, not the recipe's bitwise one)."""
    import pyarrow as pa

    from prunekit.lake.exact import exact_form

    valid, values = exact_form(col)
    if pa.types.is_floating(col.type) and len(values):
        f = values.view(np.float64)
        values = values.copy()
        values[np.isnan(f)] = np.float64(np.nan).view(np.uint64)
        values[f == 0.0] = 0
        values[~valid] = 0
    return valid, values


def _group_ids(ccan: "pa.Table", pcan: "pa.Table") -> tuple[np.ndarray, np.ndarray, int]:
    """Group id per child row and per parent row: equal ids exactly when the canonical rows are
    equal (null equals null, NaN equals NaN). Row hashes group; the values confirm."""
    from prunekit.lake.exact import forms_equal
    from prunekit.lake.tableio import row_hashes

    nc = ccan.num_rows
    forms = []
    for a, b in zip(ccan.columns, pcan.columns):
        (va, xa), (vb, xb) = _value_form(a), _value_form(b)
        forms.append((np.concatenate([va, vb]), np.concatenate([xa, xb])))
    h = np.concatenate([row_hashes(ccan), row_hashes(pcan)])
    _, first, inv = np.unique(h, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    rep = first[inv]
    same = np.ones(len(h), dtype=bool)
    for v, x in forms:
        same &= forms_equal((v, x), (v[rep], x[rep]))
    if not same.all():   # two different rows share a hash: group by the values themselves
        keys: dict[tuple, int] = {}
        cols = [[(bool(ok), val if ok else None) for ok, val in zip(v.tolist(), x.tolist())] for v, x in forms]
        inv = np.fromiter((keys.setdefault(k, len(keys)) for k in zip(*cols)), dtype=np.int64, count=len(h))
        n_groups = len(keys)
    else:
        n_groups = len(first)
    return inv[:nc], inv[nc:], n_groups


def absent_rows(child: "pa.Table", ccan: "pa.Table", pcan: "pa.Table", semantics: str, limit: int
                ) -> tuple[int, int, list[dict[str, Any]]]:
    """``(rows without a partner, distinct such rows, the first `limit` of them)``.

    ``child`` is the child as read, ``ccan``/``pcan`` both sides in canonical form
    (``verify.canonical``). Bag: a row occurring ``c`` times in the child and ``p < c`` times in
    the parent leaves ``c − p`` rows without a partner, the first from its ``p+1``-th occurrence on;
    set: a row absent from the parent. Rows are ordered by their first unmatched position.
    """
    ccan, pcan = _common_types(ccan, pcan)
    gc, gp, n = _group_ids(ccan, pcan)
    cc = np.bincount(gc, minlength=n)
    pc_ = np.bincount(gp, minlength=n)
    bad = (cc > pc_) if semantics == "bag" else (cc > 0) & (pc_ == 0)
    groups = np.nonzero(bad)[0]
    if not len(groups):
        return 0, 0, []
    matched = pc_[groups] if semantics == "bag" else np.zeros(len(groups), dtype=np.int64)
    total = int(np.sum(cc[groups] - matched))
    order = np.argsort(gc, kind="stable")               # child positions grouped, ascending in a group
    starts = np.concatenate([[0], np.cumsum(cc)[:-1]])
    first_unmatched = order[starts[groups] + matched]
    shown = []
    for i in np.argsort(first_unmatched, kind="stable")[:limit]:
        g = groups[i]
        occ = order[starts[g]:starts[g] + cc[g]]
        pos = int(first_unmatched[i])
        values = child.slice(pos, 1).to_pylist()[0]
        shown.append(_row_entry(pos, values, int(cc[g]), int(pc_[g]), occ[:_MAX_POSITIONS].tolist(), semantics))
    return total, len(groups), shown


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.hex()
    return str(v)


def _show(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, float):
        return "NaN" if math.isnan(v) else repr(v)
    if isinstance(v, (str, bytes)):
        return repr(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


def _row_entry(pos: int, values: dict[str, Any], c: int, p: int, positions: list[int],
               semantics: str) -> dict[str, Any]:
    shown = [f"{k.strip() or k}={_show(v)}" for k, v in list(values.items())[:_TEXT_COLUMNS]]
    if len(values) > _TEXT_COLUMNS:
        shown.append(f"… {len(values) - _TEXT_COLUMNS} more")
    head = f"row {pos} ({', '.join(shown)})"
    if semantics == "bag":
        where = f" (rows {', '.join(map(str, positions))}{', …' if c > len(positions) else ''})" if c > 1 else ""
        text = f"{head} appears {c}× in the child{where}, {p}× in the parent"
    else:
        text = f"{head} does not occur in the parent"
    return {"row": pos, "values": {k: _jsonable(v) for k, v in values.items()}, "child_count": c,
            "parent_count": p, "child_rows": positions, "text": text}
