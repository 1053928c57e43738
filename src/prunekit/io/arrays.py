"""Streaming access to (possibly memory-mapped) embedding matrices with bounded memory.

Pages of a memory-mapped file that were read count towards the process's resident memory until
they are unmapped. ``release`` tells the kernel we are done with them (they stay in the page
cache), so a pass over a matrix larger than RAM keeps a bounded footprint.
"""

from __future__ import annotations

import mmap
import os
from typing import Iterator

import numpy as np

from prunekit.errors import InputError


def _mapping(arr: np.ndarray) -> mmap.mmap | None:
    base = arr
    while base is not None:
        if isinstance(base, mmap.mmap):
            return base
        base = getattr(base, "base", None) if not isinstance(base, (bytes, bytearray)) else None
    return None


def release(arr: np.ndarray) -> None:
    """Drop the resident pages of a memory-mapped array from this process (no-op otherwise)."""
    m = _mapping(arr)
    if m is None or not hasattr(m, "madvise"):
        return
    try:
        m.madvise(mmap.MADV_DONTNEED)
    except (OSError, ValueError):  # pragma: no cover - platform specific
        pass


def default_block_rows(dim: int, target_bytes: int = 32 << 20) -> int:
    return max(1024, target_bytes // max(1, 4 * dim))


def _row(local: int, start: int, idx: np.ndarray | None) -> int:
    return int(idx[local]) if idx is not None else local + start


def as_float32_block(
    block: np.ndarray, start: int = 0, idx: np.ndarray | None = None, *, copy: bool = True
) -> np.ndarray:
    """A contiguous float32 block (a private copy unless ``copy=False`` and ``block`` already is
    one); NaN/inf are rejected naming the first bad row (``start + i``, or ``idx[i]``)."""
    out = np.array(block, dtype=np.float32, order="C", copy=True if copy else None)
    # A sum is NaN/inf whenever an element is (no block-sized temporary); only then look closer.
    if not np.isfinite(out.sum(dtype=np.float64)):
        bad_rows = np.flatnonzero(~np.isfinite(out).all(axis=1))
        if len(bad_rows):
            raise InputError(f"embeddings contain NaN or inf (first at row {_row(int(bad_rows[0]), start, idx)})")
    return out


def normalize_rows(block: np.ndarray, start: int = 0, idx: np.ndarray | None = None) -> np.ndarray:
    """L2-normalise rows in place; zero rows are an error (cosine is undefined)."""
    norms = np.sqrt(np.einsum("ij,ij->i", block, block))  # no block-sized temporary
    if (norms == 0).any():
        bad = _row(int(np.flatnonzero(norms == 0)[0]), start, idx)
        raise InputError(
            f"row {bad} of the embeddings is all zeros: cosine distance is undefined "
            "(use metric='l2')"
        )
    block /= norms[:, None]
    return block


def iter_raw_blocks(X: np.ndarray, block_rows: int | None = None) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(start, stop, rows)`` in file order without validation. For a memory-mapped file the
    rows are read with positional reads into one reused buffer (valid until the next step), so
    no mapped page ever becomes resident; other arrays yield views."""
    n = X.shape[0]
    rows = block_rows or default_block_rows(X.shape[1])
    src = _file_rows(X)
    if src is None:
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            yield start, stop, X[start:stop]
            release(X)
        return
    path, offset, row_bytes = src
    buf = np.empty((min(rows, n), X.shape[1]), dtype=X.dtype)
    mv = memoryview(buf).cast("B")
    fd = os.open(path, os.O_RDONLY)
    try:
        for start in range(0, n, rows):
            stop = min(n, start + rows)
            want = (stop - start) * row_bytes
            got, pos = 0, offset + start * row_bytes
            while got < want:  # a positional read may return less than asked
                k = os.preadv(fd, [mv[got:want]], pos + got)
                if k == 0:
                    raise InputError(f"{path} is shorter than its header says (row {start})")
                got += k
            yield start, stop, buf[: stop - start]
    finally:
        os.close(fd)


def iter_blocks(
    X: np.ndarray, block_rows: int | None = None, *, normalize: bool = False
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(start, stop, float32 block)`` over the rows of ``X``: a private, validated copy,
    optionally L2-normalised; memory stays at about one block whatever the size of ``X``."""
    for start, stop, raw in iter_raw_blocks(X, block_rows):
        block = as_float32_block(raw, start)
        if normalize:
            normalize_rows(block, start)
        yield start, stop, block


def _file_rows(X: np.ndarray) -> tuple[str, int, int] | None:
    """(path, byte offset of row 0, bytes per row) when ``X`` is a whole, C-ordered np.memmap."""
    if (
        isinstance(X, np.memmap)
        and isinstance(getattr(X, "base", None), mmap.mmap)
        and getattr(X, "filename", None)
        and X.flags.c_contiguous
    ):
        return X.filename, int(X.offset), int(X.shape[1] * X.dtype.itemsize)
    return None


def _pread_rows(path: str, offset: int, row_bytes: int, idx: np.ndarray, dtype, dim: int) -> np.ndarray:
    """Read rows ``idx`` with positional reads, one call per run of consecutive rows.

    Mapping the pages instead would make the kernel map ~64 KiB around every touched row
    (fault-around), so a sparse gather would make most of the file resident."""
    out = np.empty((len(idx), dim), dtype=dtype)
    buf = memoryview(out).cast("B")
    idx = np.asarray(idx, dtype=np.int64)
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1  # runs of consecutive row numbers
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(idx)]])
    fd = os.open(path, os.O_RDONLY)
    try:
        for a, b in zip(starts.tolist(), ends.tolist()):
            want = (b - a) * row_bytes
            got = os.preadv(fd, [buf[a * row_bytes : b * row_bytes]], offset + int(idx[a]) * row_bytes)
            if got != want:
                raise InputError(f"{path} is shorter than its header says (row {int(idx[a])})")
    finally:
        os.close(fd)
    return out


def gather_rows(X: np.ndarray, idx: np.ndarray, *, normalize: bool = False) -> np.ndarray:
    """Rows ``X[idx]`` as validated float32; from a memory-mapped file they are read with
    positional reads, so no mapped pages become resident."""
    if len(idx) == 0:
        return np.zeros((0, X.shape[1]), np.float32)
    src = _file_rows(X)
    raw = _pread_rows(*src, idx, X.dtype, X.shape[1]) if src is not None else X[idx]
    block = as_float32_block(raw, idx=idx, copy=False)  # both paths made a private copy already
    if normalize:
        normalize_rows(block, idx=idx)
    return block
