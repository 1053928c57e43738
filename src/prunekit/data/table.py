"""``ScoreTable``: the artefact passed between stages — one row per example.

On disk it is a Parquet file a person can open::

    id, label, <score columns…>, cluster, duplicate_of, keep, reason

``duplicate_of`` holds the *id* of the kept example a removed near-duplicate duplicates (null
otherwise); ``keep``/``reason`` appear once a selection was made (reason is null for kept rows).
Run metadata (scorer parameters, directions, the input's identity, the selection) is stored as
JSON under the schema metadata key ``prunekit``. Writes are atomic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from prunekit._version import __version__
from prunekit.errors import InputError
from prunekit.io.atomic import atomic_path

RESERVED = ("id", "label", "cluster", "duplicate_of", "keep", "reason")
META_KEY = b"prunekit"


@dataclass
class ScoreTable:
    """Per-example results. ``duplicate_of`` is stored in memory as a row index (-1 = none)."""

    ids: np.ndarray
    labels: np.ndarray | None
    scores: dict[str, np.ndarray]
    cluster: np.ndarray | None = None
    duplicate_of: np.ndarray | None = None
    keep: np.ndarray | None = None
    reason: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    #: the file this table was read from (not stored in it)
    path: Path | None = field(default=None, compare=False)
    #: files this table was derived from, as (what, path) pairs: ``write`` never replaces one
    inputs: tuple = field(default=(), compare=False)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def directions(self) -> dict[str, str]:
        return dict(self.meta.get("directions", {}))

    def column(self, name: str) -> np.ndarray:
        """A score column by name, with an error listing the available ones."""
        if not isinstance(name, str) or name not in self.scores:
            have = ", ".join(self.scores) or "none"
            raise InputError(f"no score column {name!r}; available score columns: {have}")
        return self.scores[name]

    def row_of(self, example_id: Any) -> int:
        """Row number of an id (ids given as strings on the command line are matched too)."""
        ids = self.ids
        if ids.dtype == object:
            hit = np.flatnonzero(ids == str(example_id))
        else:
            try:
                hit = np.flatnonzero(ids == int(example_id))
            except (TypeError, ValueError):
                hit = np.array([], dtype=np.int64)
        if not len(hit):
            raise InputError(f"id {example_id!r} is not in this table ({len(ids)} examples)")
        return int(hit[0])

    # ------------------------------------------------------------------ arrow / parquet
    def to_arrow(self):
        import pyarrow as pa

        cols: dict[str, Any] = {"id": pa.array(self.ids.tolist() if self.ids.dtype == object else self.ids)}
        if self.labels is not None:
            names = self.meta.get("label_names")
            cols["label"] = pa.array(
                np.asarray(names, dtype=object)[self.labels].tolist() if names else self.labels
            )
        for name, values in self.scores.items():
            cols[name] = pa.array(values)
        if self.cluster is not None:
            cols["cluster"] = pa.array(self.cluster.astype(np.int32))
        if self.duplicate_of is not None:
            d = self.duplicate_of
            present = d >= 0
            dup_ids = self.ids[np.where(present, d, 0)]
            cols["duplicate_of"] = pa.array(
                dup_ids.tolist() if self.ids.dtype == object else dup_ids, mask=~present
            )
        if self.keep is not None:
            cols["keep"] = pa.array(self.keep.astype(bool))
            cols["reason"] = pa.array(
                [None if k else r for k, r in zip(self.keep.tolist(), self.reason.tolist())],
                type=pa.string(),
            )
        table = pa.table(cols)
        meta = {**self.meta, "prunekit_version": __version__}
        return table.replace_schema_metadata({META_KEY: json.dumps(meta, default=_jsonable)})

    def to_pandas(self):
        return self.to_arrow().to_pandas()

    def write(self, path: str | Path) -> Path:
        """Write atomically to ``path``, which may not be the data this table was made on (nor
        any file it was derived from)."""
        import pyarrow.parquet as pq

        src = self.meta.get("source", {})
        self.check_output(path, [("data", src.get("path")), ("labels", src.get("labels_path")), *self.inputs])
        table = self.to_arrow()
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        return Path(path)

    @staticmethod
    def check_output(path: str | Path, inputs=()) -> Path:
        """Fail before any work when ``path`` cannot take a table: not a ``.parquet`` name, not
        writable, or one of ``inputs`` ((what, path) pairs)."""
        from prunekit.io.atomic import check_not_input, check_writable

        p = check_not_input(check_writable(path), inputs)
        if p.suffix.lower() not in (".parquet", ".pq"):
            raise InputError(f"score and selection tables are Parquet files, but the extension of {p} says "
                             f"{p.suffix or 'nothing'}: name it .parquet")
        return p

    @classmethod
    def read(cls, path: str | Path) -> "ScoreTable":
        import pyarrow as pa
        import pyarrow.parquet as pq

        p = Path(path)
        if not p.exists():
            raise InputError(f"{p} does not exist")
        if p.is_dir():
            raise InputError(f"{p} is a directory; expected a score/selection table file (.parquet)")
        if p.stat().st_size == 0:
            raise InputError(f"{p} is empty (0 bytes)")
        try:
            table = pq.read_table(p)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"cannot read {p} as a prunekit Parquet table: {str(exc).splitlines()[0]}") from None
        raw = (table.schema.metadata or {}).get(META_KEY)
        if raw is None or "id" not in table.column_names:
            raise InputError(f"{p} is not a prunekit score/selection table (no prunekit metadata)")
        meta = json.loads(raw)
        meta.pop("prunekit_version", None)
        ids = table.column("id").to_numpy(zero_copy_only=False)
        ids = ids.astype(object) if ids.dtype.kind in "OUS" else ids.astype(np.int64)
        labels = None
        if "label" in table.column_names:
            lab = table.column("label").to_numpy(zero_copy_only=False)
            names = meta.get("label_names")
            if names:
                lookup = {n: i for i, n in enumerate(names)}
                labels = np.array([lookup[v] for v in lab.tolist()], dtype=np.int64)
            else:
                labels = lab.astype(np.int64)
        scores = {
            c: table.column(c).to_numpy().astype(np.float64)
            for c in table.column_names
            if c not in RESERVED
        }
        cluster = table.column("cluster").to_numpy().astype(np.int32) if "cluster" in table.column_names else None
        dup = None
        if "duplicate_of" in table.column_names:
            col = table.column("duplicate_of")
            valid = col.is_valid().to_numpy(zero_copy_only=False)
            dup = np.full(len(ids), -1, dtype=np.int64)
            if valid.any():
                vals = col.drop_null().to_numpy(zero_copy_only=False)
                pos = {v: i for i, v in enumerate(ids.tolist())}
                dup[valid] = [pos[v] for v in vals.tolist()]
        keep = reason = None
        if "keep" in table.column_names:
            keep = table.column("keep").to_numpy(zero_copy_only=False).astype(bool)
            reason = np.array(table.column("reason").to_pylist(), dtype=object)
        return cls(ids, labels, scores, cluster, dup, keep, reason, meta, path=p)

    def source_examples(self, examples=None):
        """The examples this table was made on: ``examples`` itself (an ``ExampleSet``), read from a
        path, or — by default — read from the path recorded at scoring time, with the same column
        and labels options."""
        from prunekit.io.examples import ExampleSet, read_examples

        if isinstance(examples, ExampleSet):
            return examples
        src = self.meta.get("source", {})
        if examples is None:
            examples = src.get("path")
            if not examples:
                raise InputError("the table does not record its input file: pass the data path")
        kw: dict[str, Any] = {}
        if src.get("format") == "shards" and examples == src.get("path"):  # a folder or glob of shards
            from prunekit.io.shards import read_shards

            return read_shards(examples, **{k: src.get(k) for k in ("embedding_column", "label_column", "id_column")})
        if src.get("format") in ("parquet", "arrow", "csv"):
            kw = {k: src.get(k) for k in ("embedding_column", "label_column", "id_column")}
        elif src.get("labels_path"):
            kw = {"labels": src["labels_path"]}
        return read_examples(examples, **kw)

    def check_data(self, examples, *, data: str | None = None, force: bool = False) -> dict[str, Any] | None:
        """Refuse to use this table with examples other than the ones it was made on.

        Compares the data identity recorded at scoring time (rows, ids digest, content digest)
        with ``examples.identity``; a table written by an older prunekit records none and is
        checked on rows and ids only. ``force``: let a mismatch through and return its description
        (for the caller to record); otherwise ``InputError`` naming what differs."""
        from prunekit.io.identity import DataIdentity, _ids_digest, check_identity

        actual = examples.identity
        recorded = self.meta.get("data_identity")
        if DataIdentity.from_dict(recorded) is None:  # no identity recorded: rows and ids only
            recorded = DataIdentity(len(self), _ids_digest(self.ids), actual.content).to_dict()
        what = str(self.path) if self.path is not None else "the score table"
        src = data or examples.source.get("path") or "the data"
        return check_identity(recorded, actual, artefact=what, data=str(src), force=force)


def _jsonable(o: Any):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
