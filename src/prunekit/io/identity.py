"""The identity of a data set, recorded in every artefact made from it and checked by every consumer.

An identity is three facts about an :class:`~prunekit.io.examples.ExampleSet`:

``rows``
    the number of examples;
``ids``
    a SHA-256 digest of the ids in order (integers by value, strings as UTF-8);
``content``
    a SHA-256 digest of what prunekit uses from each example: the embedding values (as float64,
    so the same numbers read from ``.npy``, Parquet or CSV digest alike) and the label of each
    row (its class index), in order.

The digests stream over the rows in blocks (a memory-mapped matrix is read with positional reads,
never loaded whole nor kept resident).
Artefacts made by older versions of prunekit carry no identity; they are checked on rows and ids
only, as before.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from prunekit.errors import InputError

#: rows hashed per block (None: about 32 MiB of float64 per block): bounded memory for any N
BLOCK: int | None = None
VERSION = 1


@dataclass(frozen=True)
class DataIdentity:
    rows: int
    ids: str
    content: str

    def to_dict(self) -> dict[str, Any]:
        return {"version": VERSION, "rows": self.rows, "ids": self.ids, "content": self.content}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "DataIdentity | None":
        if not d or d.get("version") != VERSION:
            return None
        return cls(int(d["rows"]), str(d["ids"]), str(d["content"]))

    def differences(self, other: "DataIdentity") -> list[str]:
        """What differs, in words (empty when the two are the same data)."""
        if self.rows != other.rows:
            return [f"{self.rows:,} rows vs {other.rows:,}"]
        out = []
        if self.ids != other.ids:
            out.append("the ids differ")
        if self.content != other.content:
            out.append("the content differs (embedding values or labels)" if not out else "the content differs")
        return out


def _ids_digest(ids: np.ndarray) -> str:
    h = hashlib.sha256()
    step = BLOCK or 65536
    if ids.dtype == object or ids.dtype.kind in "US":
        h.update(b"str\0")
        for i in range(0, len(ids), step):
            h.update(b"\0".join(str(v).encode("utf-8") for v in ids[i : i + step]))
            h.update(b"\0")
    else:
        h.update(b"int\0")
        for i in range(0, len(ids), step):
            h.update(np.ascontiguousarray(ids[i : i + step], dtype="<i8").tobytes())
    return h.hexdigest()[:32]


def _content_digest(X: np.ndarray, labels: np.ndarray | None) -> str:
    from prunekit.io.arrays import iter_raw_blocks

    h = hashlib.sha256()
    h.update(f"{X.shape[1]}\0".encode())
    # positional reads for a memory-mapped file: no mapped page becomes resident
    for _, _, block in iter_raw_blocks(X, BLOCK or max(1024, (32 << 20) // (8 * X.shape[1]))):
        h.update(np.ascontiguousarray(block, dtype="<f8").tobytes())
    h.update(b"labels\0")
    if labels is not None:
        step = BLOCK or 65536
        for i in range(0, len(labels), step):
            h.update(np.ascontiguousarray(labels[i : i + step], dtype="<i8").tobytes())
    return h.hexdigest()[:32]


def compute_identity(embeddings: np.ndarray, labels: np.ndarray | None, ids: np.ndarray) -> DataIdentity:
    return DataIdentity(int(embeddings.shape[0]), _ids_digest(np.asarray(ids)), _content_digest(embeddings, labels))


def check_identity(
    recorded: dict[str, Any] | None,
    actual: DataIdentity,
    *,
    artefact: str,
    data: str,
    force: bool = False,
) -> dict[str, Any] | None:
    """Refuse to use ``artefact`` with data whose identity differs from the one it recorded.

    Returns ``None`` when they match (or the artefact records none); with ``force`` a mismatch is
    let through and described in the returned dictionary, for the caller to record."""
    want = DataIdentity.from_dict(recorded)
    if want is None:
        return None
    diff = want.differences(actual)
    if not diff:
        return None
    if not force:
        raise InputError(f"{artefact} was made on different data than {data}: {'; '.join(diff)} "
                         "(pass --force to use it anyway)")
    return {"forced": True, "differences": diff, "recorded": want.to_dict(), "actual": actual.to_dict()}
