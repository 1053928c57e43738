"""Rebuild recipes: bitwise-exact positions, multiplicities, types, layouts, and refusals."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prunekit.lake import row_matching, tableio
from prunekit.lake.exact import content_digest, table_difference
from prunekit.lake.recipe import Recipe, RecipeError, build_recipe, rebuild
from prunekit.lake.table_layout import describe_layout, pick_csv_style, write_like


def _bits(col) -> list[int]:
    return [None if v is None else struct.unpack("<Q", struct.pack("<d", v))[0] for v in col.to_pylist()]


def _write(t: pa.Table, path, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(t, path, **kw)
    return path


def _roundtrip(tmp_path, child: pa.Table, parent: pa.Table, semantics="bag"):
    c = _write(child, tmp_path / "c.parquet")
    p = _write(parent, tmp_path / "p.parquet")
    r = build_recipe(c, p, semantics=semantics, root=tmp_path)
    r.save(tmp_path / "rec")
    loaded = Recipe.load(tmp_path / "rec")
    return loaded, rebuild(loaded, root=tmp_path)


def test_negative_zero_maps_to_a_bit_identical_parent_row(tmp_path):
    # The parent holds 0.0 and -0.0 for the same id: value equality cannot tell them apart, the
    # recipe must, or a restore would turn the child's -0.0 into 0.0.
    parent = pa.table({"id": [1, 1, 2, 2], "x": [0.0, -0.0, -0.0, 0.0]})
    child = pa.table({"x": [-0.0, 0.0, 0.0, -0.0], "id": [1, 1, 2, 2]})
    r, t = _roundtrip(tmp_path, child, parent)
    assert r.positions.tolist() == [1, 0, 3, 2]
    assert _bits(t.column("x")) == _bits(child.column("x"))
    assert table_difference(child, t) is None


def test_negative_zero_without_bit_identical_parent_row_is_refused(tmp_path):
    parent = pa.table({"id": [1, 2], "x": [0.0, 1.0]})
    child = pa.table({"id": [1], "x": [-0.0]})
    _write(parent, tmp_path / "p.parquet")
    _write(child, tmp_path / "c.parquet")
    with pytest.raises(RecipeError, match="no bit-identical row"):
        build_recipe(tmp_path / "c.parquet", tmp_path / "p.parquet")


def test_nan_and_null_are_matched_exactly(tmp_path):
    nan2 = struct.unpack("<d", struct.pack("<Q", 0x7FF8000000000001))[0]  # another NaN payload
    parent = pa.table({"id": [1, 1, 1, 2], "x": pa.array([math.nan, None, nan2, 3.0])})
    child = pa.table({"id": [1, 1, 1], "x": pa.array([nan2, math.nan, None])})
    r, t = _roundtrip(tmp_path, child, parent)
    assert r.positions.tolist() == [2, 0, 1]
    assert _bits(t.column("x")) == _bits(child.column("x"))


def test_bag_multiplicities_and_set_reuse(tmp_path):
    parent = pa.table({"a": [5, 7, 5, 9, 5]})
    child3 = pa.table({"a": [5, 5, 5]})
    r, _ = _roundtrip(tmp_path, child3, parent)
    assert sorted(r.positions.tolist()) == [0, 2, 4]
    child4 = pa.table({"a": [5, 5, 5, 5]})
    _write(child4, tmp_path / "c4.parquet")
    with pytest.raises(RecipeError, match="1 of 4 rows"):
        build_recipe(tmp_path / "c4.parquet", tmp_path / "p.parquet", semantics="bag")
    r = build_recipe(tmp_path / "c4.parquet", tmp_path / "p.parquet", semantics="set")
    assert r.positions.tolist() == [0, 0, 0, 0]
    assert table_difference(child4, rebuild(r, parent_table=parent)) is None


def test_types_names_order_and_lossy_parent_rows(tmp_path):
    # Child: reordered, upper-case name, int32 / float32 / large_string / dictionary; the parent has
    # an int64 beyond int32 in a row the child cannot come from.
    parent = pa.table({
        "id": pa.array([1, 2, 3, 2**40], pa.int64()),
        "name": pa.array(["a", "b", None, "d"], pa.string()),
        "w": pa.array([0.5, 1.25, -0.0, 2.0], pa.float64()),
        "tag": pa.array(["x", "y", "x", "z"]),
    })
    child = pa.table({
        "W": pa.array([-0.0, 0.5], pa.float32()),
        "Name": pa.array([None, "a"], pa.large_string()),
        "id": pa.array([3, 1], pa.int32()),
        "tag": pa.array(["x", "x"]).dictionary_encode(),
    })
    r, t = _roundtrip(tmp_path, child, parent)
    assert r.positions.tolist() == [2, 0]
    assert t.schema.equals(tableio.read_table(tmp_path / "c.parquet").schema)
    assert t.column_names == ["W", "Name", "id", "tag"]
    assert table_difference(tableio.read_table(tmp_path / "c.parquet"), t) is None
    assert [m["parent"] for m in r.meta["column_map"]] == ["w", "name", "id", "tag"]


@pytest.mark.parametrize("patch_row_hashes", [False, True])
def test_hash_is_never_trusted_alone(tmp_path, monkeypatch, patch_row_hashes):
    # Every key collides: the fast pairing is wrong for most rows; the exact check must catch it
    # and the exact search must still find the right rows.
    rng = np.random.default_rng(3)
    parent = pa.table({"a": rng.integers(0, 5, 60), "b": rng.choice([0.0, -0.0, 1.5], 60)})
    child = parent.take(pa.array(rng.permutation(60)[:40]))
    monkeypatch.setattr(row_matching, "_exact_keys", lambda table, forms: np.zeros(table.num_rows, np.uint64))
    if patch_row_hashes:
        monkeypatch.setattr(tableio, "row_hashes", lambda table, columns=None: np.zeros(table.num_rows, np.uint64))
    r, t = _roundtrip(tmp_path, child, parent)
    assert len(set(r.positions.tolist())) == 40
    assert table_difference(child, t) is None
    assert _bits(t.column("b")) == _bits(child.column("b"))


def test_recipe_files_are_checked(tmp_path):
    parent = pa.table({"a": [1, 2, 3]})
    child = pa.table({"a": [3, 1]})
    r, _ = _roundtrip(tmp_path, child, parent)
    meta = json.loads((tmp_path / "rec" / "recipe.json").read_text())
    assert meta["parent"]["checksum"] == tableio.file_checksum(tmp_path / "p.parquet")
    assert meta["child"]["fingerprint"] == tableio.fingerprint(child)
    assert meta["child"]["columns"] == [["a", "int64"]]
    # A positions file edited behind the recipe's back is refused on load.
    pq.write_table(pa.table({"position": pa.array([2, 1], pa.int64())}), tmp_path / "rec" / "positions.parquet")
    with pytest.raises(RecipeError, match="does not match the checksum"):
        Recipe.load(tmp_path / "rec")
    # Wrong positions (with a consistent checksum) do not reproduce the child's digest.
    bad = Recipe(meta=dict(r.meta), positions=np.array([1, 0]))
    with pytest.raises(RecipeError, match="content digest"):
        rebuild(bad, root=tmp_path)
    with pytest.raises(RecipeError, match="outside the parent"):
        rebuild(Recipe(meta=dict(r.meta), positions=np.array([0, 9])), root=tmp_path)


def test_rebuild_refuses_changed_or_missing_parent(tmp_path):
    parent = pa.table({"a": [1, 2, 3]})
    r, _ = _roundtrip(tmp_path, pa.table({"a": [2]}), parent)
    _write(pa.table({"a": [1, 2, 3, 4]}), tmp_path / "p.parquet")
    with pytest.raises(RecipeError, match="changed since the recipe was made"):
        rebuild(r, root=tmp_path)
    (tmp_path / "p.parquet").unlink()
    with pytest.raises(RecipeError, match="is gone"):
        rebuild(r, root=tmp_path)


def test_content_digest_sees_order_sign_and_width():
    t = pa.table({"a": pa.array([1, 2], pa.int64()), "x": [0.0, 1.0]})
    d = content_digest(t)
    assert content_digest(t.take(pa.array([1, 0]))) != d
    assert content_digest(pa.table({"a": pa.array([1, 2], pa.int32()), "x": [0.0, 1.0]})) != d
    assert content_digest(pa.table({"a": pa.array([1, 2], pa.int64()), "x": [-0.0, 1.0]})) != d
    assert content_digest(pa.table({"a": pa.array([1, 2], pa.int64()), "x": [0.0, 1.0]})) == d
    assert tableio.fingerprint(pa.table({"a": pa.array([1, 2], pa.int64()), "x": [-0.0, 1.0]})) == \
        tableio.fingerprint(t)  # the fingerprint alone could not tell


def test_csv_rewrite_reads_back_identically(tmp_path):
    # Doubles that look like integers, -0.0, NaN, NULL, quotes and commas: pyarrow's own writer
    # would turn the first into int64 and NaN into NULL.
    text = 'id,x,s\n1,1.0,"a,b"\n2,-0.0,plain\n3,NAN,"say ""hi"""\n4,,\n'
    src = tmp_path / "t.csv"
    src.write_text(text)
    t = tableio.read_table(src)
    assert str(t.schema.field("x").type) == "double"
    child = {"name": "t", "format": "csv", "layout": describe_layout(src, "csv")}
    write_like(t, child, tmp_path / "out.csv", verify=True)
    back = tableio.read_table(tmp_path / "out.csv")
    assert table_difference(t, back) is None
    assert _bits(back.column("x")) == _bits(t.column("x"))
    assert (tmp_path / "out.csv").read_text() == text  # plainly written CSV: bytes come back too


def test_csv_that_cannot_round_trip_is_refused(tmp_path):
    # A float32 column cannot come back from CSV (the reader infers double): refused, not written.
    t = pa.table({"x": pa.array([1.5], pa.float32()), "y": [1]})
    child = {"name": "t", "format": "csv", "layout": {"kind": "csv", "delimiter": ",", "eol": "\n"}}
    with pytest.raises(RecipeError, match="does not read back identically"):
        write_like(t, child, tmp_path / "o.csv", verify=True)
    assert not (tmp_path / "o.csv").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_folder_of_parts_is_rewritten_as_the_same_parts(tmp_path):
    t = pa.table({"a": pa.array(np.arange(25)), "s": [f"v{i}" for i in range(25)]})
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(t.slice(0, 10), folder / "p0.parquet", compression="zstd", row_group_size=4)
    (folder / "sub").mkdir()
    pq.write_table(t.slice(10, 15), folder / "sub" / "p1.parquet")
    layout = describe_layout(folder, "parquet")
    assert [(p["path"], p["rows"], p["row_groups"]) for p in layout["parts"]] == \
        [("p0.parquet", 10, [4, 4, 2]), ("sub/p1.parquet", 15, [15])]
    out = tmp_path / "out"
    write_like(tableio.read_table(folder), {"name": "parts", "format": "parquet", "layout": layout}, out)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet")) == ["p0.parquet", "sub/p1.parquet"]
    assert pq.ParquetFile(out / "p0.parquet").metadata.num_row_groups == 3
    assert pq.ParquetFile(out / "p0.parquet").metadata.row_group(0).column(0).compression == "ZSTD"
    assert table_difference(tableio.read_table(folder), tableio.read_table(out)) is None


def test_csv_written_by_pyarrow_comes_back_byte_for_byte(tmp_path):
    # pyarrow quotes every string and prints the double 3159.0 as "3159" (the column stays double
    # because of 979.3): the recipe records that style, so a rebuild reproduces the bytes.
    import pyarrow.csv as pacsv

    src = tmp_path / "d.csv"
    pacsv.write_csv(pa.table({"carat": [0.31, 0.32], "color": ["F", "G"], "price": [3159.0, 979.3]}), src)
    t = tableio.read_table(src)
    layout = pick_csv_style(t, describe_layout(src, "csv"), src)
    assert (layout["quote"], layout["floats"]) == ("all", "short")
    write_like(t, {"name": "d", "format": "csv", "layout": layout}, tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_bytes() == src.read_bytes()
