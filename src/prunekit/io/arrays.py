"""Streaming access to (possibly memory-mapped) embedding matrices with bounded memory.

Pages of a memory-mapped file that were read count towards the process's resident memory until
they are unmapped. ``release`` tells the kernel we are done with them (they stay in the page
cache), so a pass over a matrix larger than RAM keeps a bounded footprint.
"""

from __future__ import annotations

import mmap
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


def default_block_rows(dim: int, target_bytes: int = 64 << 20) -> int:
    return max(1024, target_bytes // max(1, 4 * dim))


def _row(local: int, start: int, idx: np.ndarray | None) -> int:
    return int(idx[local]) if idx is not None else local + start


def as_float32_block(
    block: np.ndarray, start: int = 0, idx: np.ndarray | None = None, *, copy: bool = True
) -> np.ndarray:
    """A contiguous float32 block (a private copy unless ``copy=False`` and ``block`` already is
    one); NaN/inf are rejected naming the first bad row (``start + i``, or ``idx[i]``)."""
    out = np.array(block, dtype=np.float32, order="C", copy=True if copy else None)
    if not np.isfinite(out).all():
        bad = _row(int(np.flatnonzero(~np.isfinite(out).all(axis=1))[0]), start, idx)
        raise InputError(f"embeddings contain NaN or inf (first at row {bad})")
    return out


def normalize_rows(block: np.ndarray, start: int = 0, idx: np.ndarray | None = None) -> np.ndarray:
    """L2-normalise rows in place; zero rows are an error (cosine is undefined)."""
    norms = np.linalg.norm(block, axis=1)
    if (norms == 0).any():
        bad = _row(int(np.flatnonzero(norms == 0)[0]), start, idx)
        raise InputError(
            f"row {bad} of the embeddings is all zeros: cosine distance is undefined "
            "(use metric='l2')"
        )
    block /= norms[:, None]
    return block


def iter_blocks(
    X: np.ndarray, block_rows: int | None = None, *, normalize: bool = False
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(start, stop, float32 block)`` over the rows of ``X``, validated, optionally
    L2-normalised, releasing memory-mapped pages as it goes."""
    n = X.shape[0]
    rows = block_rows or default_block_rows(X.shape[1])
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        block = as_float32_block(X[start:stop], start)
        release(X)
        if normalize:
            normalize_rows(block, start)
        yield start, stop, block


def gather_rows(
    X: np.ndarray, idx: np.ndarray, *, normalize: bool = False, release_pages: bool = True
) -> np.ndarray:
    """Rows ``X[idx]`` as validated float32 (``idx`` sorted ascending reads the file in order).

    With ``release_pages=False`` the caller releases mapped pages itself (in larger batches)."""
    if len(idx) == 0:
        return np.zeros((0, X.shape[1]), np.float32)
    # fancy indexing already made a private copy
    block = as_float32_block(X[idx], idx=idx, copy=False)
    if release_pages:
        release(X)
    if normalize:
        normalize_rows(block, idx=idx)
    return block
