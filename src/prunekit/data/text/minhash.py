"""Text normalisation, shingling and MinHash signatures, vectorised in NumPy.

**Normalisation** (the same as datatrove's ``simplify_text`` defaults, so the two tools shingle a
document alike): lower case; every run of digits (with one decimal part) becomes ``0``;
punctuation, ASCII symbols and control characters become spaces; whitespace runs collapse to one
space; diacritics are stripped (NFD, combining marks dropped). The exact-duplicate pass hashes this
normalised text (BLAKE2b, 64 bits), so documents that differ only in case, punctuation, spacing or
accents are exact duplicates.

**Shingles**: the word ``n``-grams of the normalised text (words = runs between spaces; ``n`` = 5 by
default). A document with fewer than ``n`` words has no shingle and no signature: it takes part in
the exact pass only (datatrove skips it likewise).

**Hashing**, for a whole batch of documents at once: each word's 64-bit hash is its BLAKE2b digest
(remembered in a bounded cache: text is mostly repeated words); a shingle's hash mixes its ``n``
word hashes with ``n`` fixed odd constants and the SplitMix64 finaliser, vectorised.
Permutation ``i`` maps a shingle hash ``x`` to ``(a_i·x + b_i) mod 2^64`` (``a_i`` odd, fixed by
the seed) and keeps the top 32 bits (multiply-shift hashing); a document's signature is the
minimum over its shingles, per permutation (``np.minimum.reduceat``) — ``num_perm`` uint32 values.

**LSH**: the signature is cut into ``bands`` bands of ``rows`` values (``num_perm = bands·rows``);
each band's values hash to one 64-bit bucket key. Two documents of Jaccard similarity ``s`` share
at least one bucket with probability ``1 - (1 - s^rows)^bands``; the threshold this implies — where
the curve is steepest, ``(1/bands)^(1/rows)`` — is 0.72 for the default 14 × 8.
Algorithm and parameters: docs/TEXT.md.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

import numpy as np

U64 = np.uint64
_NUMBERS = re.compile(r"\d+(?:[.,،٫⎖⎗⎘]\d+)?")
_WORD_CACHE = 1 << 19  # words whose hash is remembered (cleared when full)
# the ASCII symbols datatrove treats as punctuation (Unicode punctuation P* is added below)
_SYMBOLS = "$+<=>^`|~％１＄"


def _punctuation_class() -> str:
    chars = set(_SYMBOLS) | {chr(c) for c in range(32)} | {chr(c) for c in range(127, 160)}
    for c in range(0x10000):
        if unicodedata.category(chr(c)).startswith("P"):
            chars.add(chr(c))
    chars -= {"\n"}  # whitespace: handled with it
    return "".join(re.escape(c) for c in sorted(chars))


#: punctuation, symbols and whitespace runs → one space (one regex pass)
_SPACE = re.compile(f"[{_punctuation_class()}\\s]+")
_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def normalize(text: str) -> str:
    """The normalised form of a document (see the module docstring)."""
    text = _SPACE.sub(" ", _NUMBERS.sub("0", text.lower()))
    if not text.isascii():
        text = unicodedata.normalize("NFD", text)
        if not text.isascii():
            text = _MARKS.sub("", text)
    return text.strip()


def exact_hash(normalized: str) -> int:
    """64-bit hash of a normalised document (the exact-duplicate key)."""
    return int.from_bytes(hashlib.blake2b(normalized.encode("utf-8"), digest_size=8).digest(), "little")


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, in place on a uint64 array (arithmetic modulo 2^64)."""
    x ^= x >> U64(30)
    x *= U64(0xBF58476D1CE4E5B9)
    x ^= x >> U64(27)
    x *= U64(0x94D049BB133111EB)
    x ^= x >> U64(31)
    return x


def _constants(seed: int, count: int, salt: int) -> np.ndarray:
    rng = np.random.default_rng([int(seed), salt])
    return rng.integers(0, 2**63, size=count, dtype=np.uint64) * U64(2) + U64(1)  # odd


class MinHasher:
    """Signatures and band keys for batches of normalised documents (one per seed/parameters)."""

    def __init__(self, *, ngram: int = 5, bands: int = 14, rows: int = 8, seed: int = 0):
        self.ngram, self.bands, self.rows, self.seed = int(ngram), int(bands), int(rows), int(seed)
        self.num_perm = self.bands * self.rows
        self.a = _constants(seed, self.num_perm, 1)
        self.b = np.random.default_rng([int(seed), 2]).integers(0, 2**63, size=self.num_perm, dtype=np.uint64)
        self.word_mix = _constants(seed, self.ngram, 3)
        self.band_mix = _constants(seed, self.rows, 4)
        self._words: dict[str, int] = {}  # word → hash, a bounded cache

    def _word(self, word: str) -> int:
        v = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little") or 1
        self._words[word] = v
        return v

    @property
    def threshold(self) -> float:
        """The Jaccard similarity the banding implies: ``(1/bands)^(1/rows)``."""
        return (1.0 / self.bands) ** (1.0 / self.rows)

    def collision_probability(self, s: float) -> float:
        """Probability that two documents of Jaccard similarity ``s`` share a bucket."""
        return 1.0 - (1.0 - s ** self.rows) ** self.bands

    # ------------------------------------------------------------------ shingles

    def shingles(self, docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Shingle hashes of normalised documents: ``(hashes uint64, doc of each hash)``, the
        hashes of a document consecutive, documents in order."""
        words: list[str] = []
        counts = np.empty(len(docs), dtype=np.int64)
        for i, d in enumerate(docs):
            ws = d.split(" ") if d else []
            counts[i] = len(ws)
            words += ws
        if not words:
            return np.empty(0, np.uint64), np.empty(0, np.int64)
        cache = self._words
        if len(cache) > _WORD_CACHE:
            cache.clear()
        get = cache.get
        w = np.array([get(x) or self._word(x) for x in words], dtype=np.uint64)
        word_doc = np.repeat(np.arange(len(docs)), counts)
        n = self.ngram
        m = len(w) - n + 1
        if m <= 0:
            return np.empty(0, np.uint64), np.empty(0, np.int64)
        valid = word_doc[: m] == word_doc[n - 1 :]
        h = np.zeros(m, dtype=np.uint64)
        for k in range(n):
            h += w[k : k + m] * self.word_mix[k]
        h = _mix(h[valid])
        return h, word_doc[:m][valid]

    # ------------------------------------------------------------------ signatures

    def signatures(self, docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(signatures (len(docs), num_perm) uint32, has_signature (len(docs),) bool)``; a
        document without shingles gets all-ones and ``False``."""
        h, doc = self.shingles(docs)
        n = len(docs)
        sig = np.full((n, self.num_perm), 0xFFFFFFFF, dtype=np.uint32)
        has = np.zeros(n, dtype=bool)
        if not len(h):
            return sig, has
        present, first = np.unique(doc, return_index=True)
        has[present] = True
        lengths = np.diff(np.append(first, len(h)))
        # documents sorted by shingle count, in chunks padded to the chunk's longest with each
        # document's own shingles repeated (a repeat never changes a minimum): every reduction
        # is then a contiguous row-wise min
        order = np.argsort(lengths, kind="stable")
        cells = 1 << 20
        i = 0
        while i < len(order):
            width = int(lengths[order[i]])
            j = i + 1
            while j < len(order):
                width = int(lengths[order[min(len(order) - 1, j + 63)]])
                if (j + 64 - i) * width > cells:
                    break
                j = min(len(order), j + 64)
            chunk = order[i:j]
            width = int(lengths[chunk].max())
            idx = first[chunk, None] + np.arange(width)[None, :] % lengths[chunk, None]
            X = h[idx]
            T = np.empty_like(X)
            out = np.empty((len(chunk), self.num_perm), dtype=np.uint64)
            for p in range(self.num_perm):
                np.multiply(X, self.a[p], out=T)
                T += self.b[p]
                T.min(axis=1, out=out[:, p])
            sig[present[chunk]] = (out >> U64(32)).astype(np.uint32)
            i = j
        return sig, has

    def band_keys(self, sig: np.ndarray) -> np.ndarray:
        """64-bit bucket key of every band: ``(bands, len(sig))`` uint64 (band-major)."""
        n = len(sig)
        out = np.empty((self.bands, n), dtype=np.uint64)
        for b in range(self.bands):
            acc = np.full(n, b + 1, dtype=np.uint64)
            for r in range(self.rows):
                acc += sig[:, b * self.rows + r].astype(np.uint64) * self.band_mix[r]
                acc = _mix(acc)
            out[b] = acc
        return out


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Fraction of equal signature values, row by row: the MinHash estimate of Jaccard similarity."""
    return (sig_a == sig_b).mean(axis=-1)


def shingle_set(normalized: str, ngram: int) -> set[str]:
    """The shingles of a normalised document as strings (for exact Jaccard)."""
    words = normalized.split()
    return {" ".join(words[i : i + ngram]) for i in range(len(words) - ngram + 1)}


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)
