"""``export``: write the examples a selection keeps, in the format the output's extension names.

The selection is checked against the data first (rows, ids and content, see
:mod:`prunekit.io.identity`); the output may never be one of the inputs.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from prunekit.data.table import ScoreTable
from prunekit.errors import ConfigError, InputError
from prunekit.io.atomic import atomic_path, check_not_input, check_writable
from prunekit.io.examples import ExampleSet
from prunekit.io.writers import EXTENSIONS, output_format

#: what ``export`` can write; ``None``/"auto" = the output's extension decides
EXPORT_FORMATS = ("auto", "same", "index", "npy", "parquet", "arrow", "csv")


class DataMismatchWarning(UserWarning):
    """An artefact was used with data it was not made on, because ``force`` was given."""


def export_format(out: Path, format: str | None, input_format: str | None) -> str:
    """The format to write ``out`` in: the extension decides; an explicit ``format`` must agree
    with it (``index`` is a Parquet file; ``same`` is the input's format)."""
    format = format or "auto"
    if format not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format {format!r}; valid: {', '.join(EXPORT_FORMATS)}")
    ext = out.suffix.lower()
    by_ext = EXTENSIONS.get(ext)
    if format == "auto":
        return output_format(out)
    want = {"index": "parquet", "same": input_format}.get(format, format)
    if want in ("array", "arrow-table"):
        want = "npy"
    if ext == "" and format != "same":
        return format
    if by_ext != want:
        what = f"--format {format}" + (f" ({want})" if format in ("same", "index") else "")
        raise InputError(f"{what} conflicts with the extension of {out} "
                         f"({by_ext or ext or 'none'}); rename the output or drop --format")
    return format if format == "index" else want


def export(
    table: ScoreTable,
    examples: ExampleSet | str | os.PathLike | None,
    out: str | os.PathLike,
    *,
    format: str | None = None,
    force: bool = False,
) -> Path:
    """Write the examples ``table`` keeps to ``out``.

    The extension of ``out`` decides the format: ``.npy`` (the rows, plus ``<stem>.labels.npy``
    when there are labels), ``.parquet``, ``.arrow``/``.feather`` or ``.csv`` (a table input keeps
    its own columns; an array input is written as ``id, label, embedding`` / ``f0…``). ``format``
    may name it too (``index``: a Parquet file of the kept ``id`` and ``row``; ``same``: the
    input's format) but must agree with the extension. ``examples`` defaults to the data path the
    table recorded; it must be the data the table was made on (``force`` proceeds anyway, warns
    with :class:`DataMismatchWarning` and records it in a Parquet/Arrow output's metadata)."""
    if table.keep is None:
        raise InputError("this table has no selection yet: run select first")
    out = check_writable(out)
    src_meta = table.meta.get("source", {})
    target = export_format(out, format, src_meta.get("format"))
    inputs = [("selection", table.path), ("data", src_meta.get("path") if examples is None else None),
              ("data", examples if isinstance(examples, (str, os.PathLike)) else None),
              ("labels", src_meta.get("labels_path"))]
    outs = [out] + ([out.with_name(out.stem + ".labels.npy")] if target == "npy" else [])
    for o in outs:
        check_not_input(o, inputs)
    rows = np.flatnonzero(table.keep)
    if target == "index":
        import pyarrow as pa

        ids = table.ids[rows]
        t = pa.table({"id": pa.array(ids.tolist() if ids.dtype == object else ids), "row": pa.array(rows)})
        return _write_table(t, out, "parquet", None)
    ex = table.source_examples(examples)
    for o in outs:
        check_not_input(o, [("data", ex.source.get("path")), ("labels", ex.source.get("labels_path"))])
    forced = table.check_data(ex, force=force)
    if forced:
        warnings.warn(DataMismatchWarning(
            f"{table.path or 'the selection'} was made on different data ({'; '.join(forced['differences'])}); "
            "exported anyway (--force)"), stacklevel=2)
    if target == "npy":
        _write_npy(ex, rows, out)
        return out
    fmt = ex.source.get("format")
    if fmt in ("parquet", "arrow", "csv") and ex.source.get("path"):
        from prunekit.io.examples import _read_table

        t = _read_table(Path(ex.source["path"]), fmt).take(rows)
    else:  # an array input written as a table
        t = _array_table(ex, rows, flat=target == "csv")
    if target == "csv":
        import pyarrow.types as pat

        nested = [f.name for f in t.schema if pat.is_nested(f.type)]
        if nested:
            raise InputError(
                f"cannot export as csv: column {nested[0]!r} holds lists ({t.schema.field(nested[0]).type}), "
                "which CSV cannot store; name the output .parquet, .arrow or .npy")
    return _write_table(t, out, target, forced)


def _write_npy(ex: ExampleSet, rows: np.ndarray, out: Path) -> None:
    from numpy.lib.format import open_memmap

    X = ex.embeddings
    lab_out = out.with_name(out.stem + ".labels.npy")
    with atomic_path(out) as tmp:
        dst = open_memmap(tmp, mode="w+", dtype=X.dtype, shape=(len(rows), X.shape[1]))
        step = 65536
        for s in range(0, len(rows), step):
            dst[s : s + step] = X[rows[s : s + step]]
        dst.flush()
        del dst
        if ex.labels is not None:  # lands just before the matrix: a failure leaves no matrix
            with atomic_path(lab_out) as ltmp:
                with open(ltmp, "wb") as fh:
                    np.save(fh, ex.labels[rows])


def _array_table(ex: ExampleSet, rows: np.ndarray, *, flat: bool):
    import pyarrow as pa

    ids = ex.ids[rows]
    cols: dict[str, Any] = {"id": pa.array(ids.tolist() if ids.dtype == object else ids)}
    if ex.labels is not None:
        lab = ex.labels[rows]
        cols["label"] = pa.array(np.asarray(ex.label_names, dtype=object)[lab].tolist() if ex.label_names else lab)
    X = np.asarray(ex.embeddings[rows])
    if flat:
        for j in range(X.shape[1]):
            cols[f"f{j}"] = pa.array(X[:, j])
    else:
        cols["embedding"] = pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(X).reshape(-1)),
                                                               X.shape[1])
    return pa.table(cols)


def _write_table(t, out: Path, fmt: str, forced: dict | None) -> Path:
    from prunekit.io.writers import write_table

    if forced and fmt in ("parquet", "arrow"):
        meta = dict(t.schema.metadata or {})
        meta[b"prunekit"] = json.dumps({"export": {"data_mismatch": forced}}).encode()
        t = t.replace_schema_metadata(meta)
    return write_table(t, out, fmt)
