"""Reading examples (NumPy, Parquet, CSV, Arrow), the ScoreTable artefact, atomic writes and
``export`` of the kept rows."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from planted import planted_duplicates

from prunekit.data import ScoreTable, export, score, select
from prunekit.errors import ConfigError, InputError
from prunekit.io import atomic_path
from prunekit.io.examples import from_arrays, read_examples

N, D = 60, 8


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N, D)).astype(np.float32)
    y = rng.integers(0, 3, size=N)
    return X, y


def fixed_list(X):
    return pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), X.shape[1])


def var_list(X):
    return pa.array([row.tolist() for row in X], type=pa.list_(pa.float32()))


def numeric_table(X, y, ids=None):
    cols = {f"f{j}": pa.array(X[:, j]) for j in range(X.shape[1])}
    cols["note"] = pa.array([f"row {i}" for i in range(len(X))])
    cols["label"] = pa.array(y)
    if ids is not None:
        cols["id"] = pa.array(ids)
    return pa.table(cols)


def files_in(d):
    return sorted(p.name for p in d.iterdir())


# ----------------------------------------------------------------------------- .npy


def test_npy_is_memory_mapped_with_side_files(tmp_path, data):
    X, y = data
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "ids.npy", np.arange(N) * 7 + 3)
    ex = read_examples(tmp_path / "x.npy", labels=tmp_path / "y.npy", ids=tmp_path / "ids.npy")
    assert isinstance(ex.embeddings, np.memmap)
    np.testing.assert_array_equal(ex.embeddings, X)
    np.testing.assert_array_equal(ex.labels, y)
    assert ex.labels.dtype == np.int64
    np.testing.assert_array_equal(ex.ids, np.arange(N) * 7 + 3)
    assert ex.source["format"] == "npy" and ex.source["n_rows"] == N
    assert ex.source["labels_path"] == str((tmp_path / "y.npy").resolve())


def test_npy_side_files_as_csv_and_string_ids(tmp_path, data):
    X, y = data
    np.save(tmp_path / "x.npy", X)
    names = np.array(["cat", "dog", "eel"])[y]
    (tmp_path / "labels.csv").write_text("label\n" + "\n".join(names) + "\n")
    np.save(tmp_path / "ids.npy", np.array([f"img_{i:03d}" for i in range(N)]))
    ex = read_examples(tmp_path / "x.npy", labels=tmp_path / "labels.csv", ids=tmp_path / "ids.npy")
    assert ex.label_names == ["cat", "dog", "eel"]
    np.testing.assert_array_equal(ex.labels, y)
    assert ex.ids.dtype == object and ex.ids[5] == "img_005"


def test_npy_side_files_without_header(tmp_path, data):
    """``np.savetxt`` writes no header: the first value must not be taken as a column name."""
    X, y = data
    np.save(tmp_path / "x.npy", X)
    np.savetxt(tmp_path / "labels.txt", y, fmt="%d")
    np.savetxt(tmp_path / "ids.csv", np.arange(N) + 500, fmt="%d")
    ex = read_examples(tmp_path / "x.npy", labels=tmp_path / "labels.txt", ids=tmp_path / "ids.csv")
    np.testing.assert_array_equal(ex.labels, y)
    np.testing.assert_array_equal(ex.ids, np.arange(N) + 500)
    # with a header line, the header is a name, not a value
    (tmp_path / "named.csv").write_text("label\n" + "\n".join(map(str, y)) + "\n")
    np.testing.assert_array_equal(read_examples(tmp_path / "x.npy", labels=tmp_path / "named.csv").labels, y)


def test_npy_rejects_column_options(tmp_path, data):
    np.save(tmp_path / "x.npy", data[0])
    with pytest.raises(InputError, match="table formats"):
        read_examples(tmp_path / "x.npy", embedding_column="embedding")


# ----------------------------------------------------------------------------- tables


@pytest.mark.parametrize("make", [fixed_list, var_list], ids=["fixed-size", "variable-length"])
def test_parquet_list_column(tmp_path, data, make):
    X, y = data
    ids = [f"doc-{i}" for i in range(N)]
    pq.write_table(pa.table({"id": ids, "embedding": make(X), "label": y}), tmp_path / "x.parquet")
    ex = read_examples(tmp_path / "x.parquet")
    np.testing.assert_array_equal(ex.embeddings, X)
    assert ex.embeddings.dtype == np.float32
    np.testing.assert_array_equal(ex.labels, y)
    assert ex.ids.tolist() == ids
    assert ex.source["embedding_column"] == "embedding"
    assert ex.source["label_column"] == "label" and ex.source["id_column"] == "id"


def test_variable_length_rows_rejected(tmp_path):
    col = pa.array([[1.0, 2.0], [1.0, 2.0, 3.0], [0.5, 0.5]], type=pa.list_(pa.float32()))
    pq.write_table(pa.table({"embedding": col}), tmp_path / "x.parquet")
    with pytest.raises(InputError, match="different lengths"):
        read_examples(tmp_path / "x.parquet")


def test_numeric_columns_default_glob_and_list(tmp_path, data):
    X, y = data
    pq.write_table(numeric_table(X, y, ids=np.arange(N) + 100), tmp_path / "x.parquet")
    # default: every numeric column except label and id (the string column is skipped)
    ex = read_examples(tmp_path / "x.parquet")
    np.testing.assert_array_equal(ex.embeddings, X)
    np.testing.assert_array_equal(ex.ids, np.arange(N) + 100)
    ex = read_examples(tmp_path / "x.parquet", embedding_column="f*")
    np.testing.assert_array_equal(ex.embeddings, X)
    ex = read_examples(tmp_path / "x.parquet", embedding_column=["f3", "f1"])
    np.testing.assert_array_equal(ex.embeddings, X[:, [3, 1]])
    with pytest.raises(InputError, match="matches 'g\\*'"):
        read_examples(tmp_path / "x.parquet", embedding_column="g*")


def test_parquet_glob_over_a_folder_of_parts(tmp_path, data):
    X, y = data
    (tmp_path / "parts").mkdir()
    t = numeric_table(X, y)
    pq.write_table(t.slice(0, 25), tmp_path / "parts" / "part-0.parquet")
    pq.write_table(t.slice(25), tmp_path / "parts" / "part-1.parquet")
    ex = read_examples(tmp_path / "parts", embedding_column="f*")
    np.testing.assert_array_equal(ex.embeddings, X)
    np.testing.assert_array_equal(ex.labels, y)


@pytest.mark.parametrize("ext,sep", [(".csv", ","), (".tsv", "\t")])
def test_csv(tmp_path, data, ext, sep):
    X, y = data
    names = np.array(["cat", "dog", "eel"])[y]
    lines = [sep.join([f"f{j}" for j in range(D)] + ["label", "id"])]
    lines += [sep.join([repr(float(v)) for v in X[i]] + [names[i], f"r{i}"]) for i in range(N)]
    (tmp_path / f"x{ext}").write_text("\n".join(lines) + "\n")
    ex = read_examples(tmp_path / f"x{ext}")
    np.testing.assert_allclose(ex.embeddings, X, rtol=1e-6)
    np.testing.assert_array_equal(ex.labels, y)
    assert ex.label_names == ["cat", "dog", "eel"]
    assert ex.ids[0] == "r0"


@pytest.mark.parametrize("ext", [".arrow", ".feather"])
def test_arrow_feather(tmp_path, data, ext):
    X, y = data
    feather.write_feather(pa.table({"embedding": fixed_list(X), "label": y}), tmp_path / f"x{ext}")
    ex = read_examples(tmp_path / f"x{ext}")
    np.testing.assert_array_equal(ex.embeddings, X)
    np.testing.assert_array_equal(ex.labels, y)
    assert ex.source["format"] == "arrow"


def test_configurable_column_names(tmp_path, data):
    X, y = data
    t = pa.table({"key": np.arange(N) * 2, "vec": fixed_list(X), "target": y,
                  "label": np.zeros(N, np.int64), "id": np.zeros(N, np.int64)})
    pq.write_table(t, tmp_path / "x.parquet")
    ex = read_examples(tmp_path / "x.parquet", embedding_column="vec", label_column="target", id_column="key")
    np.testing.assert_array_equal(ex.embeddings, X)
    np.testing.assert_array_equal(ex.labels, y)
    np.testing.assert_array_equal(ex.ids, np.arange(N) * 2)


def test_side_labels_for_a_table(tmp_path, data):
    X, y = data
    pq.write_table(pa.table({"embedding": fixed_list(X)}), tmp_path / "x.parquet")
    np.save(tmp_path / "y.npy", y)
    ex = read_examples(tmp_path / "x.parquet", labels=tmp_path / "y.npy")
    np.testing.assert_array_equal(ex.labels, y)


# ----------------------------------------------------------------------------- read errors


def test_missing_named_column_lists_columns(tmp_path, data):
    X, y = data
    pq.write_table(pa.table({"vec": fixed_list(X), "target": y}), tmp_path / "x.parquet")
    for kw, what in ((dict(embedding_column="embedding"), "embedding"),
                     (dict(embedding_column="vec", label_column="label"), "label"),
                     (dict(embedding_column="vec", id_column="uid"), "id"),
                     (dict(embedding_column=["vec", "nope"]), "embedding")):
        with pytest.raises(InputError, match=f"{what} column '.*' not found.*columns: vec, target"):
            read_examples(tmp_path / "x.parquet", **kw)


def test_non_numeric_embedding_columns(tmp_path, data):
    X, y = data
    t = pa.table({"text": [f"t{i}" for i in range(N)],
                  "tokens": pa.array([["a", "b"]] * N),
                  "f0": X[:, 0]})
    pq.write_table(t, tmp_path / "x.parquet")
    with pytest.raises(InputError, match="'text' is not numeric"):
        read_examples(tmp_path / "x.parquet", embedding_column="text")
    with pytest.raises(InputError, match="'tokens' is not numeric"):
        read_examples(tmp_path / "x.parquet", embedding_column="tokens")
    with pytest.raises(InputError, match="'text' is not numeric"):
        read_examples(tmp_path / "x.parquet", embedding_column=["f0", "text"])
    pq.write_table(pa.table({"text": ["a", "b"]}), tmp_path / "s.parquet")
    with pytest.raises(InputError, match="no embedding column.*columns: text"):
        read_examples(tmp_path / "s.parquet")


def test_missing_values(tmp_path, data):
    X, y = data
    emb = pa.array([row.tolist() if i != 4 else None for i, row in enumerate(X)], type=pa.list_(pa.float32()))
    pq.write_table(pa.table({"embedding": emb}), tmp_path / "a.parquet")
    with pytest.raises(InputError, match="missing"):
        read_examples(tmp_path / "a.parquet")
    lab = pa.array([int(v) if i != 9 else None for i, v in enumerate(y)])
    pq.write_table(pa.table({"embedding": fixed_list(X), "label": lab}), tmp_path / "b.parquet")
    with pytest.raises(InputError, match="label column 'label' has 1 missing"):
        read_examples(tmp_path / "b.parquet")
    Xn = X.copy()
    Xn[13, 2] = np.nan
    pq.write_table(pa.table({"embedding": fixed_list(Xn)}), tmp_path / "c.parquet")
    with pytest.raises(InputError, match="NaN or inf.*row 13"):
        read_examples(tmp_path / "c.parquet")


def test_duplicate_ids(tmp_path, data):
    X, y = data
    ids = [f"d{i}" for i in range(N)]
    ids[40] = "d7"
    pq.write_table(pa.table({"id": ids, "embedding": fixed_list(X)}), tmp_path / "x.parquet")
    with pytest.raises(InputError, match="unique.*'d7' occurs 2 times"):
        read_examples(tmp_path / "x.parquet")
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "ids.npy", np.r_[np.arange(N - 1), 0])
    with pytest.raises(InputError, match="unique"):
        read_examples(tmp_path / "x.npy", ids=tmp_path / "ids.npy")
    # the count is the offending id's own, not the largest count of any id
    with pytest.raises(InputError, match="^ids must be unique; 1 occurs 2 times$"):
        from_arrays(np.zeros((6, 2)), ids=[1, 1, 2, 3, 3, 3])


@pytest.mark.parametrize("name,match", [
    ("x.npy", "not a NumPy .npy file"),
    ("x.parquet", "not a Parquet file"),
    ("x.feather", "not an Arrow IPC / Feather file"),
    ("x.arrow", "not an Arrow IPC / Feather file"),
])
def test_content_does_not_match_extension(tmp_path, name, match):
    (tmp_path / name).write_text("id,embedding\n1,0.5\n")
    with pytest.raises(InputError, match=match):
        read_examples(tmp_path / name)


def test_binary_csv_and_corrupt_files(tmp_path, data):
    X, _ = data
    np.save(tmp_path / "real.npy", X)
    (tmp_path / "x.csv").write_bytes((tmp_path / "real.npy").read_bytes())
    with pytest.raises(InputError, match="binary"):
        read_examples(tmp_path / "x.csv")
    # right magic bytes, broken body
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    with pytest.raises(InputError, match="cannot read"):
        read_examples(tmp_path / "bad.npy")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")
    with pytest.raises(InputError, match="cannot read"):
        read_examples(tmp_path / "bad.parquet")


@pytest.mark.parametrize("name", ["x.npy", "x.parquet", "x.csv", "x.feather"])
def test_empty_file(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(InputError):
        read_examples(tmp_path / name)


def test_zero_rows(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((0, 4), np.float32))
    with pytest.raises(InputError, match="0 rows"):
        read_examples(tmp_path / "x.npy")
    X0 = np.zeros((0, 4), np.float32)
    pq.write_table(pa.table({"embedding": fixed_list(X0)}), tmp_path / "a.parquet")
    with pytest.raises(InputError, match="0 rows|no rows"):
        read_examples(tmp_path / "a.parquet")
    pq.write_table(pa.table({"f0": pa.array([], pa.float32())}), tmp_path / "b.parquet")
    with pytest.raises(InputError, match="0 rows|no rows"):
        read_examples(tmp_path / "b.parquet")
    (tmp_path / "h.csv").write_text("f0,f1,label\n")
    with pytest.raises(InputError, match=r"h\.csv has no rows \(columns: f0, f1, label\)"):
        read_examples(tmp_path / "h.csv")
    for name in ("e.parquet", "e.npy", "e.csv", "e.feather"):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(InputError, match=f"{name} is empty \\(0 bytes\\)"):
            read_examples(tmp_path / name)


def test_lengths_differ(tmp_path, data):
    X, y = data
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", y[:-1])
    np.save(tmp_path / "ids.npy", np.arange(N + 2))
    with pytest.raises(InputError, match=r"labels and embeddings have different lengths \(59 vs 60\)"):
        read_examples(tmp_path / "x.npy", labels=tmp_path / "y.npy")
    with pytest.raises(InputError, match=r"ids and embeddings have different lengths \(62 vs 60\)"):
        read_examples(tmp_path / "x.npy", ids=tmp_path / "ids.npy")
    pq.write_table(pa.table({"embedding": fixed_list(X)}), tmp_path / "x.parquet")
    with pytest.raises(InputError, match="different lengths"):
        read_examples(tmp_path / "x.parquet", labels=y[:10])


def test_path_and_format_errors(tmp_path, data):
    with pytest.raises(InputError, match="does not exist"):
        read_examples(tmp_path / "nope.npy")
    (tmp_path / "x.bin").write_bytes(b"\x00")
    with pytest.raises(InputError, match="cannot tell the format"):
        read_examples(tmp_path / "x.bin")
    np.save(tmp_path / "x.npy", data[0])
    with pytest.raises(InputError, match="unknown format 'hdf5'"):
        read_examples(tmp_path / "x.npy", format="hdf5")
    with pytest.raises(InputError, match="labels file .* does not exist"):
        read_examples(tmp_path / "x.npy", labels=tmp_path / "missing.npy")


def test_from_arrays_validation():
    with pytest.raises(InputError, match="2-D"):
        from_arrays(np.zeros(5))
    with pytest.raises(InputError, match="numeric"):
        from_arrays(np.array([["a", "b"]]))
    with pytest.raises(InputError, match=">= 0"):
        from_arrays(np.ones((3, 2)), labels=[0, -1, 2])
    with pytest.raises(InputError, match="non-integral"):
        from_arrays(np.ones((3, 2)), labels=[0.5, 1, 2])


# ----------------------------------------------------------------------------- ScoreTable


def test_score_table_round_trip_string_ids_and_labels(tmp_path):
    X, group = planted_duplicates(n_groups=10, n_background=80)
    n = len(X)
    ids = np.array([f"ex-{i:04d}" for i in range(n)])
    labels = np.array(["ant", "bee", "cow"])[np.arange(n) % 3]
    ex = from_arrays(X, labels=labels, ids=ids)
    table = score(ex, ["prototypicality", "semdedup", "random"], k=4, seed=0)
    assert (table.duplicate_of >= 0).any() and (table.duplicate_of < 0).any()
    chosen = select(table, "hardest", 0.5, dedup=True)
    chosen.write(tmp_path / "sel.parquet")
    back = ScoreTable.read(tmp_path / "sel.parquet")

    assert back.ids.dtype == object and back.ids.tolist() == ids.tolist()
    np.testing.assert_array_equal(back.labels, chosen.labels)
    assert back.meta["label_names"] == ["ant", "bee", "cow"]
    assert back.scores.keys() == chosen.scores.keys()
    for c in chosen.scores:
        np.testing.assert_array_equal(back.scores[c], chosen.scores[c])
    np.testing.assert_array_equal(back.cluster, chosen.cluster)
    np.testing.assert_array_equal(back.duplicate_of, chosen.duplicate_of)
    np.testing.assert_array_equal(back.keep, chosen.keep)
    assert back.reason.tolist() == chosen.reason.tolist()
    assert back.directions == chosen.directions
    assert back.meta["selection"]["selector"] == "hardest"

    # a person opening the file sees ids, label names and nulls
    t = pq.read_table(tmp_path / "sel.parquet")
    assert t.column_names[:2] == ["id", "label"]
    assert set(t.column("label").to_pylist()) == {"ant", "bee", "cow"}
    dup = t.column("duplicate_of").to_pylist()
    assert dup.count(None) == int((chosen.duplicate_of < 0).sum())
    for i in np.flatnonzero(chosen.duplicate_of >= 0):
        assert dup[i] == ids[chosen.duplicate_of[i]]
    assert t.column("reason").null_count == int(chosen.keep.sum())


def test_score_table_round_trip_int_ids_no_selection(tmp_path, data):
    X, y = data
    table = score(from_arrays(X, labels=y, ids=np.arange(N) * 3), "random", seed=1)
    table.write(tmp_path / "s.parquet")
    back = ScoreTable.read(tmp_path / "s.parquet")
    assert back.ids.dtype == np.int64 and back.ids.tolist() == (np.arange(N) * 3).tolist()
    np.testing.assert_array_equal(back.labels, y)
    assert back.keep is None and back.duplicate_of is None and back.cluster is None
    assert back.scores["random"].tobytes() == table.scores["random"].tobytes()


def test_selection_on_a_table_read_back_is_the_same(tmp_path, scored_table):
    scored_table.write(tmp_path / "scores.parquet")
    back = ScoreTable.read(tmp_path / "scores.parquet")
    np.testing.assert_array_equal(back.duplicate_of, scored_table.duplicate_of)
    for method, kw in (("dbp", {}), ("ccs", {}), ("hardest", {"balance": "equal"}), ("random", {})):
        a = select(scored_table, method, 0.3, dedup=True, seed=3, **kw)
        b = select(back, method, 0.3, dedup=True, seed=3, **kw)
        assert a.keep.tobytes() == b.keep.tobytes(), method
        assert a.reason.tolist() == b.reason.tolist(), method


def test_score_table_read_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        ScoreTable.read(tmp_path / "none.parquet")
    (tmp_path / "t.parquet").write_text("not parquet")
    with pytest.raises(InputError, match="cannot read"):
        ScoreTable.read(tmp_path / "t.parquet")
    pq.write_table(pa.table({"id": [1, 2]}), tmp_path / "plain.parquet")
    with pytest.raises(InputError, match="not a prunekit"):
        ScoreTable.read(tmp_path / "plain.parquet")
    t = ScoreTable(ids=np.arange(3), labels=None, scores={"s": np.zeros(3)})
    with pytest.raises(InputError, match="no score column 'x'.*: s"):
        t.column("x")
    with pytest.raises(InputError, match="not in this table"):
        t.row_of(99)
    assert t.row_of("2") == 2


# ----------------------------------------------------------------------------- atomic writes


def test_write_into_missing_directory_creates_nothing(tmp_path):
    t = ScoreTable(ids=np.arange(3), labels=None, scores={"s": np.zeros(3)})
    target = tmp_path / "missing" / "sel.parquet"
    with pytest.raises(InputError, match="does not exist"):
        t.write(target)
    assert not (tmp_path / "missing").exists()
    assert files_in(tmp_path) == []
    with pytest.raises(InputError, match="is a directory"):
        t.write(tmp_path)


def test_error_midway_leaves_no_file_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash")
    assert files_in(tmp_path) == []
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"new but unfinished")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert files_in(tmp_path) == ["out.bin"]
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and files_in(tmp_path) == ["out.bin"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_directory(tmp_path):  # pragma: no cover - depends on the user
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        with pytest.raises(InputError, match="not writable"):
            ScoreTable(ids=np.arange(1), labels=None, scores={}).write(d / "x.parquet")
    finally:
        d.chmod(0o700)


# ----------------------------------------------------------------------------- export


def chosen_on(ex, keep=0.4, seed=0):
    return select(score(ex, "random", seed=seed), "hardest", keep, score="random")


def test_export_npy_with_labels(tmp_path, data):
    X, y = data
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", y)
    ex = read_examples(tmp_path / "x.npy", labels=tmp_path / "y.npy")
    chosen = chosen_on(ex)
    rows = np.flatnonzero(chosen.keep)
    assert len(rows) == 24
    out = export(chosen, ex, tmp_path / "kept.npy")
    assert out == tmp_path / "kept.npy"
    np.testing.assert_array_equal(np.load(tmp_path / "kept.npy"), X[rows])
    assert np.load(tmp_path / "kept.npy").dtype == X.dtype
    np.testing.assert_array_equal(np.load(tmp_path / "kept.labels.npy"), y[rows])
    # examples=None: the path (and labels file) recorded at scoring time
    export(chosen, None, tmp_path / "again.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "again.npy"), X[rows])
    np.testing.assert_array_equal(np.load(tmp_path / "again.labels.npy"), y[rows])
    # the artefact read back from disk exports the same rows
    chosen.write(tmp_path / "sel.parquet")
    export(ScoreTable.read(tmp_path / "sel.parquet"), None, tmp_path / "third.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "third.npy"), X[rows])


def test_export_in_memory_arrays_as_npy(tmp_path, data):
    X, y = data
    ex = from_arrays(X, labels=y)
    chosen = chosen_on(ex, keep=0.25)
    rows = np.flatnonzero(chosen.keep)
    export(chosen, ex, tmp_path / "k.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "k.npy"), X[rows])
    np.testing.assert_array_equal(np.load(tmp_path / "k.labels.npy"), y[rows])


def test_export_parquet_keeps_original_columns(tmp_path, data):
    X, y = data
    src = pa.table({"id": [f"d{i}" for i in range(N)], "note": [f"n{i}" for i in range(N)],
                    "embedding": fixed_list(X), "label": np.array(["a", "b", "c"])[y].tolist()})
    pq.write_table(src, tmp_path / "x.parquet")
    ex = read_examples(tmp_path / "x.parquet")
    chosen = chosen_on(ex)
    rows = np.flatnonzero(chosen.keep)
    export(chosen, ex, tmp_path / "kept.parquet")
    got = pq.read_table(tmp_path / "kept.parquet")
    assert got.column_names == src.column_names
    assert got.equals(src.take(rows))
    # format override: the same rows as a matrix
    export(chosen, ex, tmp_path / "kept.npy", format="npy")
    np.testing.assert_array_equal(np.load(tmp_path / "kept.npy"), X[rows])
    # CSV cannot hold a list column: a clear error, and nothing written
    with pytest.raises(InputError, match="cannot export as csv: column 'embedding' holds lists"):
        export(chosen, None, tmp_path / "kept.csv", format="csv")
    assert not (tmp_path / "kept.csv").exists()


def test_export_csv_and_feather_same_format(tmp_path, data):
    X, y = data
    t = numeric_table(X, y, ids=np.arange(N) + 1000)
    pacsv.write_csv(t, tmp_path / "x.csv")
    feather.write_feather(t, tmp_path / "x.feather")
    for name in ("x.csv", "x.feather"):
        ex = read_examples(tmp_path / name, embedding_column="f*")
        chosen = chosen_on(ex, keep=0.5, seed=4)
        rows = np.flatnonzero(chosen.keep)
        out = tmp_path / f"kept-{name}"
        export(chosen, None, out)
        got = pacsv.read_csv(out) if name.endswith(".csv") else feather.read_table(out)
        want = pacsv.read_csv(tmp_path / name).take(rows) if name.endswith(".csv") else t.take(rows)
        assert got.column_names == t.column_names
        assert got.to_pylist() == want.to_pylist()


def test_export_index(tmp_path, data):
    X, _ = data
    ex = from_arrays(X, ids=[f"k{i}" for i in range(N)])
    chosen = chosen_on(ex)
    rows = np.flatnonzero(chosen.keep)
    export(chosen, None, tmp_path / "idx.parquet", format="index")
    t = pq.read_table(tmp_path / "idx.parquet")
    assert t.column_names == ["id", "row"]
    assert t.column("row").to_pylist() == rows.tolist()
    assert t.column("id").to_pylist() == [f"k{i}" for i in rows]


def test_export_refuses_changed_data(tmp_path, data):
    X, y = data
    np.save(tmp_path / "x.npy", X)
    chosen = chosen_on(read_examples(tmp_path / "x.npy"))
    np.save(tmp_path / "x.npy", X[:-5])  # the data shrank after the selection was made
    with pytest.raises(InputError, match=r"was made on different data than .*x\.npy: 60 rows vs 55"):
        export(chosen, None, tmp_path / "kept.npy")
    assert not (tmp_path / "kept.npy").exists()

    pq.write_table(pa.table({"id": np.arange(N), "embedding": fixed_list(X)}), tmp_path / "x.parquet")
    chosen = chosen_on(read_examples(tmp_path / "x.parquet"))
    pq.write_table(pa.table({"id": np.arange(N) + 1, "embedding": fixed_list(X)}), tmp_path / "x.parquet")
    with pytest.raises(InputError, match="ids differ"):
        export(chosen, None, tmp_path / "kept.parquet")
    assert not (tmp_path / "kept.parquet").exists()


def test_export_refuses_changed_content_unless_forced(tmp_path, data):
    """Same rows and ids, changed values: the content digest tells; --force exports, warns and
    records the mismatch in the output's metadata."""
    import json

    from prunekit.data.export import DataMismatchWarning

    X, y = data
    pq.write_table(pa.table({"id": np.arange(N), "embedding": fixed_list(X), "label": y}), tmp_path / "x.parquet")
    chosen = chosen_on(read_examples(tmp_path / "x.parquet"))
    chosen.write(tmp_path / "sel.parquet")
    sel = ScoreTable.read(tmp_path / "sel.parquet")
    X2 = X.copy()
    X2[7, 1] += 1.0
    pq.write_table(pa.table({"id": np.arange(N), "embedding": fixed_list(X2), "label": y}), tmp_path / "x.parquet")
    with pytest.raises(InputError, match=r"sel\.parquet was made on different data than .*x\.parquet: the content "
                                         r"differs .*pass --force"):
        export(sel, None, tmp_path / "kept.parquet")
    assert not (tmp_path / "kept.parquet").exists()
    # labels are content too
    pq.write_table(pa.table({"id": np.arange(N), "embedding": fixed_list(X), "label": (y + 1) % 3}),
                   tmp_path / "x.parquet")
    with pytest.raises(InputError, match="content differs"):
        export(sel, None, tmp_path / "kept.parquet")
    with pytest.warns(DataMismatchWarning, match="exported anyway"):
        export(sel, None, tmp_path / "kept.parquet", force=True)
    meta = json.loads(pq.read_schema(tmp_path / "kept.parquet").metadata[b"prunekit"])
    assert meta["export"]["data_mismatch"]["forced"] is True
    assert meta["export"]["data_mismatch"]["differences"] == ["the content differs (embedding values or labels)"]


def test_data_identity_is_format_independent_and_streams(tmp_path, data):
    """The same values read from .npy (float32), Parquet and CSV (float64) have one identity; the
    digest over blocks equals the digest of the whole matrix at once."""
    from prunekit.io import identity as ident

    X, y = data
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", y)
    pacsv.write_csv(numeric_table(X, y, ids=np.arange(N)), tmp_path / "x.csv")
    a = read_examples(tmp_path / "x.npy", labels=tmp_path / "y.npy").identity
    b = read_examples(tmp_path / "x.csv", embedding_column="f*").identity
    assert a == b
    assert a.rows == N
    small = ident.compute_identity(X, y, np.arange(N))
    assert small == a  # the in-memory matrix and the memory-mapped file (read in positional blocks)
    big = np.random.default_rng(1).standard_normal((2500, 4096), dtype=np.float32)  # 3 blocks, one short
    assert len(big) > 2 * ident.block_rows(big.shape[1])
    np.save(tmp_path / "big.npy", big)
    assert ident.compute_identity(np.load(tmp_path / "big.npy", mmap_mode="r"), None, np.arange(len(big))) == \
        ident.compute_identity(big, None, np.arange(len(big)))
    assert ident.compute_identity(X, None, np.arange(N)).content != small.content
    assert ident.compute_identity(X, y, np.arange(N) + 1).ids != small.ids
    assert ident.compute_identity(X, y, np.array([str(i) for i in range(N)], dtype=object)).ids != small.ids


def test_outputs_never_replace_inputs(tmp_path, data):
    """score/select/export/inspect refuse an output that is an input: same path, a symlink, a
    hard link, or a path inside a Parquet-folder input — and leave the input untouched."""
    import os

    from prunekit.data.inspection import inspect

    X, y = data
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", y)
    before = (tmp_path / "x.npy").read_bytes()
    chosen = chosen_on(read_examples(tmp_path / "x.npy", labels=tmp_path / "y.npy"))
    os.symlink(tmp_path / "x.npy", tmp_path / "alias.npy")
    os.link(tmp_path / "x.npy", tmp_path / "hard.npy")
    for out in ("x.npy", "alias.npy", "hard.npy"):
        with pytest.raises(InputError, match=f"refusing to write .*{out}: it is the data .*x.npy"):
            export(chosen, None, tmp_path / out)
        with pytest.raises(InputError, match="refusing to write"):
            chosen.write(tmp_path / out)
    # the labels written beside kept.npy would be the input labels
    with pytest.raises(InputError, match="refusing to write .*y.labels.npy: it is the labels .*y.labels.npy"):
        np.save(tmp_path / "y.labels.npy", y)
        chosen.meta["source"]["labels_path"] = str(tmp_path / "y.labels.npy")
        export(chosen, None, tmp_path / "y.npy")
    assert (tmp_path / "x.npy").read_bytes() == before
    chosen.write(tmp_path / "sel.parquet")
    sel = ScoreTable.read(tmp_path / "sel.parquet")
    with pytest.raises(InputError, match="refusing to write .*sel.parquet: it is the selection"):
        export(sel, None, tmp_path / "sel.parquet", format="index")
    with pytest.raises(InputError, match="refusing to write .*sel.parquet: it is the table"):
        inspect(sel, png=tmp_path / "sel.parquet")
    # a Parquet data set stored as a folder
    (tmp_path / "ds").mkdir()
    pq.write_table(pa.table({"embedding": fixed_list(X)}), tmp_path / "ds" / "part-0.parquet")
    table = chosen_on(read_examples(tmp_path / "ds"))
    with pytest.raises(InputError, match="inside the data folder"):
        table.write(tmp_path / "ds" / "scores.parquet")
    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == ["part-0.parquet"]


def test_export_errors(tmp_path, data):
    X, _ = data
    ex = from_arrays(X)
    table = score(ex, "random")
    with pytest.raises(InputError, match="no selection"):
        export(table, ex, tmp_path / "k.npy")
    chosen = chosen_on(ex)
    with pytest.raises(ConfigError, match="unknown export format"):
        export(chosen, ex, tmp_path / "k.npy", format="hdf5")
    with pytest.raises(InputError, match="does not exist"):
        export(chosen, ex, tmp_path / "missing" / "k.npy")
    with pytest.raises(InputError, match="does not record its input file"):
        export(chosen, None, tmp_path / "k.npy")
    with pytest.raises(InputError, match="--format csv conflicts with the extension of .*k.parquet"):
        export(chosen, ex, tmp_path / "k.parquet", format="csv")
    with pytest.raises(InputError, match="--format same \\(npy\\) conflicts"):
        export(chosen, ex, tmp_path / "k.csv", format="same")
    with pytest.raises(InputError, match="index .*conflicts"):
        export(chosen, ex, tmp_path / "k.npy", format="index")
    with pytest.raises(InputError, match="cannot tell which format .* from its extension .txt"):
        export(chosen, ex, tmp_path / "k.txt")
    assert files_in(tmp_path) == []


def test_export_extension_decides_the_format(tmp_path, data):
    """An array input exported as a table (id, label, embedding / f0…), and a Parquet input as
    CSV: the written file is what its extension says and prunekit reads it back."""
    X, y = data
    ex = from_arrays(X, labels=y)
    chosen = chosen_on(ex)
    rows = np.flatnonzero(chosen.keep)
    for name, kw in (("k.parquet", {}), ("k.csv", {"embedding_column": "f*"}), ("k.feather", {})):
        export(chosen, ex, tmp_path / name)
        back = read_examples(tmp_path / name, **kw)
        np.testing.assert_allclose(back.embeddings, X[rows], rtol=1e-6)
        np.testing.assert_array_equal(back.labels, y[rows])
    src = numeric_table(X, y, ids=np.arange(N))
    pq.write_table(src, tmp_path / "x.parquet")
    ex = read_examples(tmp_path / "x.parquet", embedding_column="f*")
    chosen = chosen_on(ex)
    export(chosen, ex, tmp_path / "kept.csv")
    assert (tmp_path / "kept.csv").read_bytes()[:4] != b"PAR1"
    got = pacsv.read_csv(tmp_path / "kept.csv")
    want = src.take(np.flatnonzero(chosen.keep))
    assert got.column_names == want.column_names
    assert got.column("id").to_pylist() == want.column("id").to_pylist()
    np.testing.assert_allclose(read_examples(tmp_path / "kept.csv", embedding_column="f*").embeddings,
                               X[np.flatnonzero(chosen.keep)], rtol=1e-6)


def test_atomic_writes_get_normal_file_permissions(tmp_path):
    import os
    import stat

    from prunekit.io.atomic import atomic_path

    from prunekit.io import atomic

    with atomic_path(tmp_path / "out.txt") as tmp:
        tmp.write_text("x")
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o666 & ~atomic._umask()


def test_data_identity_is_by_value_across_dtypes():
    """float32 data, the same numbers as float64 or as integers: one digest; a value that only
    float64 can hold changes it."""
    from prunekit.io.identity import compute_identity

    rng = np.random.default_rng(3)
    X32 = rng.standard_normal((50, 6)).astype(np.float32)
    ids = np.arange(50)
    a = compute_identity(X32, None, ids)
    assert compute_identity(X32.astype(np.float64), None, ids) == a
    Xi = rng.integers(-5, 5, (50, 6))
    assert compute_identity(Xi, None, ids) == compute_identity(Xi.astype(np.float32), None, ids)
    X64 = X32.astype(np.float64)
    X64[3, 2] += 1e-12  # not a float32 any more
    assert compute_identity(X64, None, ids).content != a.content
