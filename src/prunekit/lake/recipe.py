"""Rebuild recipes: how to reproduce a deleted child table exactly from a kept parent.

Containment says the child's rows are *somewhere* in the parent. A recipe says where: for child row
``i`` (in the child's canonical order, ``tableio.read_table``) the parent row ``positions[i]`` (in
the parent's canonical order) holds exactly the same values. With the column mapping, the child's
exact Arrow schema and its file layout, ``rebuild`` reproduces the child — same rows, same order,
same column names and types — and ``table_layout.write_like`` writes it back as the same kind of
files.

Exactness is bitwise (``exact``): a child row is only ever mapped to a parent row holding exactly
its bits (``row_matching``), and a child whose ``-0.0`` (or NaN payload) occurs nowhere
bit-identical in the parent gets no recipe (a ``RecipeError`` naming the row) — it is refused for
deletion rather than restored approximately. The scan's relaxed value semantics carry over only
where they are exact: the parent's column is cast to the child's type (an int64 3 becomes the
child's float64 3.0; a date becomes the child's ``"2020-01-31"`` text) and must cast back to the
same bits; a NaN never stands for a NULL. The child's **row-index columns** (``semantics.index_columns``),
which the scan leaves out of comparison, are not looked up in the parent at all: the recipe stores
them (as ``stored`` columns of ``positions.parquet``), so the restore gives the child its own index.

On disk a recipe is a folder: ``positions.parquet`` (one int64 column ``position``, plus the stored
index columns ``s0, s1, …`` if any) and
``recipe.json`` (metadata, including the sha256 of ``positions.parquet``), both written atomically,
the JSON last so that a readable ``recipe.json`` always describes a complete positions file.
A recipe stays in the lake after its table's trash copy is purged, so it is written compactly:
positions delta-encoded (``DELTA_BINARY_PACKED`` + zstd: a copy in the same order costs a few hundred
bytes whatever its length, a shuffled one about log2(parent rows) bits a row, where plain int64
cost 8 bytes a row), the JSON without indentation and the child's schema zlib-compressed
(``"zlib:"`` + base64). Recipes written before (plain positions, indented JSON, plain base64 schema)
read the same. ``Recipe.files`` gives the exact bytes ``save`` writes, so a plan can count them
before anything is written (``Recipe.nbytes``).

Algorithm and parameters: docs/ALGORITHMS.md §4.10.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from prunekit.io.atomic import atomic_path
from prunekit.lake import tableio
from prunekit.lake._crash import crash_point
from prunekit.lake.errors import RecipeError
from prunekit.lake.exact import content_digest, exact_form, forms_equal, show_value
from prunekit.lake.jsonfile import read_json, utc_timestamp
from prunekit.lake.model import normalise_name
from prunekit.lake.params import SEMANTICS_PARAM
from prunekit.lake.row_matching import match_positions
from prunekit.lake.semantics import index_columns
from prunekit.lake.table_layout import describe_layout, pick_csv_style

RECIPE_FORMAT = "prunekit-lake-recipe"
RECIPE_VERSION = 1
RECIPE_VERSION_STORED = 2   # a recipe with stored (index) columns: older readers must refuse it
RECIPE_JSON = "recipe.json"
POSITIONS_PARQUET = "positions.parquet"


_ZLIB = "zlib:"  # prefix of a compressed schema (':' is no base64 character: old recipes are plain)


def _schema_to_text(schema: pa.Schema) -> str:
    raw = zlib.compress(schema.serialize().to_pybytes(), 9)
    return _ZLIB + base64.b64encode(raw).decode("ascii")


def _schema_from_text(text: str) -> pa.Schema:
    if text.startswith(_ZLIB):
        raw = zlib.decompress(base64.b64decode(text[len(_ZLIB):]))
    else:
        raw = base64.b64decode(text)
    return pa.ipc.read_schema(pa.py_buffer(raw))


def _positions_bytes(positions: np.ndarray, stored: pa.Table | None = None) -> bytes:
    """``positions.parquet`` as written: one int64 column, delta-encoded and zstd-compressed (a run
    of consecutive positions costs almost nothing), then the stored columns (integers delta-encoded
    too: a row index costs almost nothing); no statistics, no stored Arrow schema."""
    import pyarrow.parquet as pq

    cols = {"position": pa.array(positions, pa.int64())}
    enc = {"position": "DELTA_BINARY_PACKED"}
    for name in (stored.column_names if stored is not None else []):
        cols[name] = tableio.plain_array(stored.column(name))
        if pa.types.is_integer(cols[name].type):
            enc[name] = "DELTA_BINARY_PACKED"
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(cols), sink, compression="zstd",
                   use_dictionary=False, column_encoding=enc,
                   write_statistics=False, store_schema=False)
    return sink.getvalue().to_pybytes()


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _rel(path: str | Path, root: str | Path | None) -> str | None:
    if root is None:
        return None
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return None


def resolve(side: dict[str, Any], root: str | Path | None = None) -> Path:
    """Where a recipe's child or parent lives: under ``root`` by its lake-relative path when both
    are known (the lake may have moved), else the recorded absolute path."""
    if root is not None and side.get("relpath"):
        return Path(root) / side["relpath"]
    return Path(side["path"])


@dataclass
class Recipe:
    """Metadata (JSON-able dict) + ``positions`` (int64, one per child row, parent row numbers) +
    ``stored``: the child's own columns kept in the recipe (its row-index columns), or None."""

    meta: dict[str, Any]
    positions: np.ndarray
    stored: pa.Table | None = None

    @property
    def child(self) -> dict[str, Any]:
        return self.meta["child"]

    @property
    def parent(self) -> dict[str, Any]:
        return self.meta["parent"]

    @property
    def child_schema(self) -> pa.Schema:
        return _schema_from_text(self.child["schema"])

    def files(self) -> dict[str, bytes]:
        """The bytes ``save`` writes, file name → content (the metadata then records the positions'
        sha256). Deterministic for a given recipe: the plan counts them as the recipe's size."""
        pos = _positions_bytes(self.positions, self.stored)
        meta = dict(self.meta)
        meta["positions"] = dict(meta.get("positions", {}), file=POSITIONS_PARQUET,
                                 sha256=hashlib.sha256(pos).hexdigest())
        self.meta = meta
        text = json.dumps(meta, sort_keys=True, separators=(",", ":"))
        return {POSITIONS_PARQUET: pos, RECIPE_JSON: text.encode("utf-8")}

    def nbytes(self) -> int:
        """Bytes the saved recipe occupies (the sum of its files' sizes), without writing it."""
        return sum(len(b) for b in self.files().values())

    def save(self, folder: str | Path) -> Path:
        """Write ``positions.parquet`` then ``recipe.json`` (atomic each) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        files = self.files()
        with atomic_path(folder / POSITIONS_PARQUET) as tmp:
            tmp.write_bytes(files[POSITIONS_PARQUET])
        crash_point("recipe-partial")  # test hook: positions written, recipe.json not yet
        with atomic_path(folder / RECIPE_JSON) as tmp:
            tmp.write_bytes(files[RECIPE_JSON])
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "Recipe":
        """Read a saved recipe; the positions file must match the sha256 recorded in the JSON."""
        import pyarrow.parquet as pq

        folder = Path(folder)
        jp = folder / RECIPE_JSON
        meta = read_json(jp, "recipe", missing=f"{folder}: no {RECIPE_JSON}", error=RecipeError)
        if meta.get("format") != RECIPE_FORMAT or meta.get("version") not in (RECIPE_VERSION,
                                                                              RECIPE_VERSION_STORED):
            raise RecipeError(f"{jp}: not a prunekit recipe version {RECIPE_VERSION} or {RECIPE_VERSION_STORED}")
        pp = folder / meta["positions"]["file"]
        if not pp.exists():
            raise RecipeError(f"{folder}: positions file {pp.name} is missing")
        if _sha256_file(pp) != meta["positions"]["sha256"]:
            raise RecipeError(f"{pp}: does not match the checksum in {RECIPE_JSON} (damaged or edited)")
        t = pq.read_table(pp)
        pos = t.column("position").to_numpy().astype(np.int64, copy=False)
        names = [m["stored"] for m in meta.get("column_map", []) if "stored" in m]
        stored = t.select(names) if names else None
        return cls(meta=meta, positions=pos, stored=stored)


def _distinct(pos: np.ndarray) -> int:
    """Number of distinct positions (bincount: linear, where np.unique sorts)."""
    return int(np.count_nonzero(np.bincount(pos))) if len(pos) else 0


def _cast_parent(parent_col: pa.ChunkedArray, child_type: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """The parent column in the child's type, and which rows survived the cast exactly.

    A parent int64 of 2**40 cannot be an int32 child's value; a parent timestamp[ns] with
    nanoseconds cannot be a timestamp[s] child's value. Those rows are never candidates.
    """
    col = tableio.plain_array(parent_col)
    target = child_type.value_type if pa.types.is_dictionary(child_type) else child_type
    if col.type == target:
        return col, np.ones(len(col), dtype=bool)
    try:
        return col.cast(target, safe=True), np.ones(len(col), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:
        cast = col.cast(target, safe=False)
        back = cast.cast(col.type, safe=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise RecipeError(f"cannot compare a {col.type} parent column with a {child_type} child column: {exc}") from exc
    return cast, forms_equal(exact_form(col), exact_form(back))



def build_recipe(child_path: str | Path, parent_path: str | Path, *,
                 child_name: str | None = None, parent_name: str | None = None,
                 child_format: str | None = None, parent_format: str | None = None,
                 semantics: str = "bag", root: str | Path | None = None,
                 child_table: pa.Table | None = None, parent_table: pa.Table | None = None,
                 child_checksum: str | None = None, parent_checksum: str | None = None) -> Recipe:
    """The recipe reproducing the child from the parent, or ``RecipeError`` naming why not.

    The child's columns are matched to the parent's by normalised name, except its row-index
    columns (``semantics.index_columns``), which the recipe stores. Tables and checksums may
    be passed when the caller has them already (the caller vouches they belong together);
    otherwise the checksum is taken *before* reading, so a file changed during the read shows up
    as a checksum mismatch later rather than as a silently wrong recipe.
    """
    SEMANTICS_PARAM.check(semantics)
    child_path, parent_path = Path(child_path), Path(parent_path)
    child_format = child_format or ("csv" if child_path.suffix.lower() == ".csv" else "parquet")
    parent_format = parent_format or ("csv" if parent_path.suffix.lower() == ".csv" else "parquet")
    child_name = child_name or child_path.stem
    parent_name = parent_name or parent_path.stem
    child_checksum = child_checksum or tableio.file_checksum(child_path)
    parent_checksum = parent_checksum or tableio.file_checksum(parent_path)
    child_t = child_table if child_table is not None else tableio.read_table(child_path, child_format)
    parent_t = parent_table if parent_table is not None else tableio.read_table(parent_path, parent_format)

    by_norm = {normalise_name(n): n for n in parent_t.column_names}
    index = set(index_columns(child_t))
    mapping, stored = [], {}
    for name in child_t.column_names:
        if name in index:
            stored[f"s{len(stored)}"] = name
            mapping.append((name, None))
            continue
        pn = by_norm.get(normalise_name(name))
        if pn is None:
            raise RecipeError(f"{child_name}: column {name!r} has no counterpart in {parent_name}")
        mapping.append((name, pn))
    data = [(c, pn) for c, pn in mapping if pn is not None]
    if not data:
        raise RecipeError(f"{child_name}: only row-index columns, nothing to find in {parent_name}")
    view_cols, candidate = [], np.ones(parent_t.num_rows, dtype=bool)
    for name, pname in data:
        col, ok = _cast_parent(parent_t.column(pname), child_t.schema.field(name).type)
        view_cols.append(col)
        candidate &= ok
    names = [c for c, _ in data]
    plain_child = pa.table([tableio.plain_array(child_t.column(c)) for c in names], names=names)
    view = pa.table(view_cols, names=names)
    pos, unmatched = match_positions(plain_child, view, candidate, semantics)
    if unmatched:
        r = unmatched[0]
        row = {n: show_value(child_t.column(n), r) for n in child_t.column_names}
        raise RecipeError(
            f"{child_name}: {len(unmatched)} of {child_t.num_rows} rows have no bit-identical row in "
            f"{parent_name} (first: row {r} {row}); value-equal rows may differ in -0.0/0.0 or NaN bits, "
            f"or the parent changed")
    layout = describe_layout(child_path, child_format)
    if child_format == "csv":
        layout = pick_csv_style(child_t, layout, child_path)
    meta = {
        "format": RECIPE_FORMAT,
        "version": RECIPE_VERSION,
        "created": utc_timestamp(),
        "semantics": semantics,
        "child": {
            "name": child_name,
            "path": str(child_path.resolve()),
            "relpath": _rel(child_path, root),
            "format": child_format,
            "checksum": child_checksum,
            "fingerprint": tableio.fingerprint(child_t),
            "digest": content_digest(child_t),
            "rows": child_t.num_rows,
            "schema": _schema_to_text(child_t.schema),
            "columns": [[f.name, str(f.type)] for f in child_t.schema],
            "layout": layout,
        },
        "parent": {
            "name": parent_name,
            "path": str(parent_path.resolve()),
            "relpath": _rel(parent_path, root),
            "format": parent_format,
            "checksum": parent_checksum,
            "fingerprint": tableio.fingerprint(parent_t),
            "rows": parent_t.num_rows,
        },
        "column_map": [{"child": c, "parent": p} if p is not None else
                       {"child": c, "stored": next(k for k, v in stored.items() if v == c)}
                       for c, p in mapping],
        "positions": {"rows": int(len(pos)), "distinct": _distinct(pos)},
    }
    if stored:
        meta["version"] = RECIPE_VERSION_STORED
        keep = pa.table([tableio.plain_array(child_t.column(c)) for c in stored.values()], names=list(stored))
        return Recipe(meta=meta, positions=pos, stored=keep)
    return Recipe(meta=meta, positions=pos)


def rebuild(recipe: Recipe, *, root: str | Path | None = None, parent_table: pa.Table | None = None,
            check_parent: bool = True) -> pa.Table:
    """The child table, rebuilt from the parent: same rows, same order, same names and types.

    Refuses (``RecipeError``) when the parent is gone or its checksum differs from the recipe's
    (with ``check_parent``; a caller passing ``parent_table`` vouches for it), when a position is
    out of range, or when the result does not reproduce the recorded content digest.
    """
    parent = recipe.parent
    child = recipe.child
    ppath = resolve(parent, root)
    if parent_table is None:
        if not tableio.table_exists(ppath):   # a file or folder, or an Iceberg catalog entry
            raise RecipeError(f"cannot rebuild {child['name']}: its parent {parent['name']} is gone ({ppath})")
        if check_parent:
            now = tableio.file_checksum(ppath)
            if now != parent["checksum"]:
                raise RecipeError(
                    f"cannot rebuild {child['name']}: its parent {parent['name']} changed since the recipe "
                    f"was made (checksum {parent['checksum'][:12]}… now {now[:12]}…)")
        parent_table = tableio.read_table(ppath, parent["format"])
    pos = recipe.positions
    if len(pos) != child["rows"]:
        raise RecipeError(f"recipe of {child['name']}: {len(pos)} positions for {child['rows']} rows")
    if len(pos) and (pos.min() < 0 or pos.max() >= parent_table.num_rows):
        raise RecipeError(f"recipe of {child['name']}: positions outside the parent's {parent_table.num_rows} rows")
    if recipe.meta["semantics"] == "bag" and _distinct(pos) != len(pos):
        raise RecipeError(f"recipe of {child['name']}: bag recipe reuses parent rows")
    schema = recipe.child_schema
    arrays = []
    idx = pa.array(pos, pa.int64())
    for m, field in zip(recipe.meta["column_map"], schema):
        if "stored" in m:
            if recipe.stored is None or m["stored"] not in recipe.stored.column_names:
                raise RecipeError(f"recipe of {child['name']}: stored column {m['stored']!r} is missing")
            col = tableio.plain_array(recipe.stored.column(m["stored"]))
        elif m["parent"] not in parent_table.column_names:
            raise RecipeError(f"recipe of {child['name']}: parent column {m['parent']!r} is missing")
        else:
            col = tableio.plain_array(parent_table.column(m["parent"])).take(idx)
        try:
            try:
                col = col.cast(field.type, safe=True)
            except pa.ArrowInvalid:   # e.g. int64 2**60 → float64: exact, but not "safe"; the digest decides
                col = col.cast(field.type, safe=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise RecipeError(f"recipe of {child['name']}: column {field.name!r} does not cast back "
                              f"to {field.type}: {exc}") from exc
        arrays.append(col)
    table = pa.Table.from_arrays(arrays, schema=schema)
    digest = content_digest(table)
    if digest != child["digest"]:
        raise RecipeError(f"rebuilding {child['name']} from {parent['name']} does not reproduce its "
                          f"content digest")
    return table
