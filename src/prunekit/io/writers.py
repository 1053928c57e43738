"""Write examples to the formats ``read_examples`` reads (atomically)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from prunekit.errors import InputError
from prunekit.io.atomic import atomic_path

#: output extension → the format written (the readers accept a few more, e.g. .txt as CSV; a
#: writer only promises what the name says)
EXTENSIONS = {".npy": "npy", ".parquet": "parquet", ".pq": "parquet", ".arrow": "arrow", ".feather": "arrow",
              ".csv": "csv"}


def output_format(path: str | Path) -> str:
    """The format an output file's extension names; anything else is refused."""
    p = Path(path)
    fmt = EXTENSIONS.get(p.suffix.lower())
    if fmt is None:
        raise InputError(f"cannot tell which format to write {p} in from its extension "
                         f"{p.suffix or '(none)'}; name it .npy, .parquet, .arrow, .feather or .csv")
    return fmt


def write_examples(
    path: str | Path,
    X: np.ndarray,
    labels: np.ndarray | None = None,
    ids: np.ndarray | None = None,
    *,
    label_names: Sequence[str] | None = None,
) -> list[Path]:
    """Write (N, D) embeddings with labels/ids. ``.npy`` writes the matrix and, beside it,
    ``<stem>.labels.npy``; Parquet/Arrow write ``id, label, embedding`` (fixed-size list);
    CSV writes ``id, label, f0..f{D-1}``. Returns the files written."""
    p = Path(path)
    fmt = output_format(p)
    X = np.asarray(X)
    if X.ndim != 2 or len(X) == 0:
        raise InputError(f"expected a non-empty (N, D) matrix, got shape {X.shape}")
    written = []
    if fmt == "npy":
        with atomic_path(p) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, X)
        written.append(p)
        if labels is not None:
            lp = p.with_name(p.stem + ".labels.npy")
            with atomic_path(lp) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, np.asarray(labels))
            written.append(lp)
        return written
    import pyarrow as pa

    cols = {"id": pa.array(np.arange(len(X)) if ids is None else np.asarray(ids))}
    if labels is not None:
        lab = np.asarray(labels)
        cols["label"] = pa.array(np.asarray(label_names, dtype=object)[lab].tolist() if label_names else lab)
    if fmt == "csv":
        for j in range(X.shape[1]):
            cols[f"f{j}"] = pa.array(X[:, j])
    else:
        flat = pa.array(np.ascontiguousarray(X).reshape(-1))
        cols["embedding"] = pa.FixedSizeListArray.from_arrays(flat, X.shape[1])
    write_table(pa.table(cols), p, fmt)
    written.append(p)
    return written


def write_table(table, path: str | Path, fmt: str) -> Path:
    """Write a ``pyarrow.Table`` atomically as ``parquet``, ``arrow`` (Feather v2) or ``csv``."""
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, tmp)
        elif fmt == "arrow":
            import pyarrow.feather as feather

            feather.write_feather(table, tmp)
        elif fmt == "csv":
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, tmp)
        else:
            raise InputError(f"cannot write a table as {fmt!r}; use parquet, arrow or csv")
    return Path(path)
