"""The identity of a data set, recorded in every artefact made from it and checked by every consumer.

An identity is three facts about an :class:`~prunekit.io.examples.ExampleSet`:

``rows``
    the number of examples;
``ids``
    a SHA-256 digest of the ids in order (integers by value, strings as UTF-8);
``content``
    a SHA-256 digest of what prunekit uses from each example: the embedding values (by value: the
    same numbers stored as float32, float64 or integers digest alike, so ``.npy``, Parquet and CSV
    copies of one data set agree) and the label of each row (its class index), in order.

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

#: ids and labels hashed per step (any step gives the same digest)
STEP = 65536


def block_rows(dim: int) -> int:
    """Rows of embeddings per digest block: about 32 MiB as float64. Part of the digest's
    definition (each block is tagged with its width), so it depends on the dimension only."""
    return max(1024, (32 << 20) // (8 * dim))
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
    step = STEP
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


def _canonical_block(block: np.ndarray) -> tuple[bytes, np.ndarray]:
    """(tag, contiguous array) a block of values digests as, the same for the same numbers whatever
    the dtype they were stored in: float32 when every value is exactly a float32 (float32 data as
    it is, no copy), else float64. The tag names the width used."""
    if block.dtype == np.dtype("<f4"):
        return b"4", np.ascontiguousarray(block)
    b64 = np.asarray(block, dtype=np.float64)
    b32 = b64.astype(np.float32)
    if np.array_equal(b32, b64):
        return b"4", np.ascontiguousarray(b32, dtype="<f4")
    return b"8", np.ascontiguousarray(b64, dtype="<f8")


def _content_digest(X: np.ndarray, labels: np.ndarray | None) -> str:
    from prunekit.io.arrays import iter_raw_blocks

    # positional reads for a memory-mapped file: no mapped page becomes resident
    blocks = (block for _, _, block in iter_raw_blocks(X, block_rows(X.shape[1])))
    return _content_digest_blocks(X.shape[1], blocks, labels)


def _content_digest_blocks(dim: int, blocks, labels: np.ndarray | None) -> str:
    """The content digest from the rows in blocks of ``block_rows(dim)`` (the last one shorter)."""
    h = hashlib.sha256()
    h.update(f"{dim}\0".encode())
    # block boundaries depend on the width only (never the dtype), so equal values give equal
    # digests
    for block in blocks:
        tag, arr = _canonical_block(block)
        h.update(tag)
        h.update(memoryview(arr).cast("B"))
    h.update(b"labels\0")
    if labels is not None:
        step = STEP
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
