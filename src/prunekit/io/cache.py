"""A small on-disk cache for expensive arrays (embeddings, teacher logits).

Entries are keyed by a JSON-able description (model id, data checksum, options) hashed with
SHA-256; each ``.npy`` has a ``.json`` sidecar holding its key so a person can see what it is.
The directory is ``$PRUNEKIT_CACHE`` or ``~/.cache/prunekit``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from prunekit.io.atomic import atomic_path


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    d = Path(override or os.environ.get("PRUNEKIT_CACHE") or Path.home() / ".cache" / "prunekit")
    d.mkdir(parents=True, exist_ok=True)
    return d


def key_digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def checksum_arrays(*arrays: np.ndarray) -> str:
    """SHA-256 over dtype, shape and bytes of each array (streamed in 64 MiB pieces)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.asarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        flat = a.reshape(-1) if a.flags.c_contiguous else np.ascontiguousarray(a).reshape(-1)
        step = max(1, (64 << 20) // max(1, a.itemsize))
        for s in range(0, flat.size, step):
            h.update(flat[s : s + step].tobytes())
    return h.hexdigest()


def checksum_texts(texts: Iterable[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        b = str(t).encode()
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def cached_array(
    key: dict[str, Any],
    compute: Callable[[], np.ndarray],
    *,
    name: str = "array",
    directory: str | os.PathLike | None = None,
) -> np.ndarray:
    """Return the array cached under ``key``, computing and storing it atomically on a miss."""
    d = cache_dir(directory)
    digest = key_digest(key)[:24]
    path = d / f"{name}-{digest}.npy"
    if path.exists():
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except ValueError:
            path.unlink(missing_ok=True)  # a corrupt entry is recomputed, never trusted
    arr = np.asarray(compute())
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)
    with atomic_path(d / f"{name}-{digest}.json") as tmp:
        tmp.write_text(json.dumps(key, sort_keys=True, indent=1, default=str))
    return arr
