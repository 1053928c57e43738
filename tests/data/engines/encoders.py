"""Tiny deterministic encoders for the encoder tests (loaded by file path, so Ray workers need not
import the tests package): a seeded random projection of hashed character trigrams (texts) or of
the flattened items (arrays)."""

from __future__ import annotations

import zlib

import numpy as np

BUCKETS, DIM = 128, 16


def _projection(width: int) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(width, DIM)).astype(np.float32)


def make_text(device: str = "cpu"):
    P = _projection(BUCKETS)

    def encode(texts):
        H = np.zeros((len(texts), BUCKETS), np.float32)
        for i, t in enumerate(texts):
            for j in range(len(t) - 2):
                H[i, zlib.crc32(t[j : j + 3].encode()) % BUCKETS] += 1.0
        return H @ P

    return encode


make_text.encoder_id = "trigram-projection-v1"


def make_failing():
    """The text encoder, except that a batch holding the text ``BOOM`` raises."""
    encode = make_text()

    def run(texts):
        if any("BOOM" in t for t in texts):
            raise RuntimeError("cannot encode BOOM")
        return encode(texts)

    return run


def make_crashing():
    """The text encoder, except that a batch holding the text ``BOOM`` kills its process (as a
    segfault or the OOM killer would)."""
    import os

    encode = make_text()

    def run(texts):
        if any("BOOM" in t for t in texts):
            os._exit(1)
        return encode(texts)

    return run


def make_array():
    def encode(items):
        X = np.asarray(items, np.float32).reshape(len(items), -1)
        return X @ _projection(X.shape[1])

    return encode


not_a_factory = 3
