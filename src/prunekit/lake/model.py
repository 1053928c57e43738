"""Plain data shared by every lake stage: table profiles, containment edges, scan results.

Profiles are value objects (JSON round-trip, no behaviour beyond lookups): the schema graph,
the statistics pruning, the verifier, the planner and the recipes all consume them, and the
engines (DuckDB, Spark) never define their own. Containment direction: an ``Edge`` says
``child ⊆ parent`` (every row of the child occurs in the parent's projection on the child's
columns; bag semantics unless ``semantics == "set"``).

Type normalisation is the first thing that makes files from different writers comparable:
``large_string``/``string_view`` are strings, every integer width is ``int``, every float width is
``float``, timestamps compare in one unit. ``normalise_type`` is the single definition.
"""

from __future__ import annotations

import functools

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import pyarrow as pa

Semantics = Literal["bag", "set"]
# the formats a lake table may have: a file or folder of parts, a Hive-partitioned folder, a Delta
# table, an Iceberg table (``formats``)
LAKE_FORMATS = ("parquet", "csv", "hive", "delta", "iceberg")


def normalise_name(name: str) -> str:
    """Column names match case-insensitively, ignoring surrounding white space."""
    return str(name).strip().lower()


def _is_view(name: str):
    return lambda t: str(t) == name


# Families whose every member compares exactly with every other after a cast (disjoint tests).
_FAMILIES: tuple[tuple[str, tuple], ...] = (
    ("bool", (pa.types.is_boolean,)),
    ("int", (pa.types.is_integer,)),
    ("float", (pa.types.is_floating,)),
    ("decimal", (pa.types.is_decimal,)),
    ("string", (pa.types.is_string, pa.types.is_large_string, _is_view("string_view"))),
    ("binary", (pa.types.is_binary, pa.types.is_large_binary, pa.types.is_fixed_size_binary,
                _is_view("binary_view"))),
    ("date", (pa.types.is_date,)),
    ("time", (pa.types.is_time,)),
    ("duration", (pa.types.is_duration,)),
    ("null", (pa.types.is_null,)),
)


def normalise_type(t: pa.DataType) -> str:
    """One string per family of Arrow types whose values compare exactly after a cast.

    Integers (any width, signed or not) are ``int``; floats (any width) are ``float``: a float32
    widens to float64 exactly, so its values can be compared in double precision. Dictionary
    columns take their value type. Timestamps keep their time zone but not their unit.
    """
    try:
        return _TYPE_NAMES[t]
    except (KeyError, TypeError):
        name = _TYPE_NAMES[t] = _normalise_type(t)
        return name


#: ``normalise_type`` of the types seen (a lake has a handful; profiling asks once per column)
_TYPE_NAMES: dict[pa.DataType, str] = {}


def _normalise_type(t: pa.DataType) -> str:
    if pa.types.is_dictionary(t):
        return normalise_type(t.value_type)
    if pa.types.is_timestamp(t):
        return f"timestamp[{t.tz}]" if t.tz else "timestamp"
    for family, tests in _FAMILIES:
        if any(test(t) for test in tests):
            return family
    # Nested and exotic types compare only with themselves.
    return str(t)


@dataclass(frozen=True)
class ColumnProfile:
    """One column of a table: its normalised name and type and exact statistics.

    ``type`` is the type its values are compared as: ``normalise_type`` of the Arrow type, or, for a
    text column whose every value reads as a date, time or timestamp, that type (``semantics``).
    ``min``/``max`` are JSON-able Python values (None when the column is all null or the type has
    no order we use; decimals that are not exactly a double: their exact text). Float columns:
    min/max ignore NaN; ``nans`` counts NaN, ``nulls`` counts nulls; ``-0.0`` and ``0.0`` are equal
    values. ``index``: a row-index column (``semantics.index_columns``), by default not compared.
    """

    name: str                 # normalised (lower-case, trimmed)
    original_name: str        # as written in the file
    type: str                 # the value type (see above)
    arrow_type: str           # str() of the Arrow type, for restores and reports
    nulls: int = 0
    nans: int = 0
    min: Any = None
    max: Any = None
    index: bool = False


@dataclass(frozen=True)
class TableProfile:
    """A table of the lake: one Parquet file, one folder of Parquet parts, or one CSV file.

    ``name`` is the table's path relative to the lake root, '/'-separated, without the file
    extension (a folder of parts is named by the folder). ``fingerprint`` is an order-independent
    hash of the rows (row count + multiset of row hashes) so two tables with the same rows in any
    order have the same fingerprint; ``checksum`` is a hash of the bytes on disk (sorted parts) and
    changes whenever a file changes.
    """

    name: str
    path: str                 # absolute path of the file or folder
    format: str               # "parquet" or "csv"
    columns: tuple[ColumnProfile, ...]
    rows: int
    size_bytes: int
    fingerprint: str | None   # None: not computed (profile.with_fingerprint computes it)
    checksum: str
    signature: str = ""       # cheap change detector (sizes + mtimes) used by the profile cache

    @property
    def schema(self) -> dict[str, str]:
        """Normalised column name → normalised type."""
        return {c.name: c.type for c in self.columns}

    def column(self, name: str) -> ColumnProfile:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        # Shallow copies (every field is a plain value): dataclasses.asdict deep-copies and was a
        # measurable part of profiling a 2,000-table lake.
        d = {n: getattr(self, n) for n in _field_names(TableProfile)}
        names = _field_names(ColumnProfile)
        d["columns"] = [{n: getattr(c, n) for n in names} for c in self.columns]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TableProfile":
        d = dict(d)
        d["columns"] = tuple(ColumnProfile(**c) for c in d["columns"])
        return cls(**d)


@functools.lru_cache(maxsize=None)
def _field_names(cls) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


@dataclass(frozen=True)
class Edge:
    """``child ⊆ parent`` on the child's columns.

    ``verified`` is True only when the rows were compared exactly (never from samples or
    statistics alone). ``derived`` marks edges added by the transitive closure of verified edges.
    ``duplicate`` marks mutual containment with equal row counts (an exact duplicate).
    """

    parent: str
    child: str
    columns: tuple[str, ...]  # the child's normalised column names, in the child's order
    semantics: str = "bag"
    verified: bool = False
    derived: bool = False
    duplicate: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["columns"] = list(self.columns)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Edge":
        d = dict(d)
        d["columns"] = tuple(d["columns"])
        return cls(**d)


@dataclass
class StageReport:
    """What one pruning stage did: candidate pairs in and out, and its wall time."""

    stage: str
    pairs_in: int
    pairs_out: int
    seconds: float

    @property
    def removed(self) -> int:
        return self.pairs_in - self.pairs_out


@dataclass
class Skipped:
    """An entry the scan could not use, and why (one readable line). ``kind``: ``"table"`` (a
    table's files, or a folder that could not be listed) or ``"link"`` (a link not followed: a
    loop, dangling, leaving the lake root, into a hidden folder)."""

    path: str
    reason: str
    kind: str = "table"


@dataclass
class Alias:
    """A link to a table or folder already in the lake: reported, never scanned, planned or moved.

    ``path`` is the link (absolute, as found), ``target`` the lake-relative real path it reaches
    (``"."`` for the root), ``table`` the table it reaches (None for a folder of tables)."""

    path: str
    target: str
    table: str | None = None


@dataclass
class ScanResult:
    """Everything ``prunekit lake scan`` finds: profiles, verified edges, groups, stage reports."""

    root: str
    semantics: str
    engine: str
    profiles: dict[str, TableProfile]
    edges: list[Edge]                       # verified + derived (transitive closure)
    duplicate_groups: list[list[str]]       # each sorted; groups of size >= 2
    stages: list[StageReport] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    aliases: list[Alias] = field(default_factory=list)   # links to tables/folders of the lake
    # the value-semantics options of the scan (``semantics``): index_columns, numbers
    values: dict[str, str] = field(default_factory=dict)
    # this run only (not in the JSON): tables read vs reused from the caches (``scan.find_containment``)
    reads: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({
            "root": self.root,
            "semantics": self.semantics,
            "engine": self.engine,
            "profiles": {k: v.to_dict() for k, v in sorted(self.profiles.items())},
            "edges": [e.to_dict() for e in self.edges],
            "duplicate_groups": self.duplicate_groups,
            "stages": [asdict(s) for s in self.stages],
            "skipped": [asdict(s) for s in self.skipped],
            "aliases": [asdict(a) for a in self.aliases],
            "values": self.values,
        }, default=str)   # no indent: json then uses its C encoder (~10x faster)

    @classmethod
    def from_json(cls, text: str) -> "ScanResult":
        d = json.loads(text)
        return cls(
            root=d["root"], semantics=d["semantics"], engine=d["engine"],
            profiles={k: TableProfile.from_dict(v) for k, v in d["profiles"].items()},
            edges=[Edge.from_dict(e) for e in d["edges"]],
            duplicate_groups=[list(g) for g in d["duplicate_groups"]],
            stages=[StageReport(**s) for s in d["stages"]],
            skipped=[Skipped(**s) for s in d["skipped"]],
            aliases=[Alias(**a) for a in d.get("aliases", [])],   # scans before aliases had none
            values=dict(d.get("values", {})),
        )
