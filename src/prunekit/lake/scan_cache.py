"""What the content stages computed, kept between scans: a re-scan reads only what changed.

The profile cache (``catalog``) spares a re-scan the profiling; this cache spares it the sample
and verification stages. Everything is keyed by table *content* — ``format:sha256 of the bytes``
(``TableProfile.checksum``) — never by a file's name, size or mtime alone:

- **sample hashes** of a child: ``(content, name, k, seed)`` → the ``k`` row hashes the sample
  stage probes (the sample positions are seeded by the table's name, so a renamed table is
  sampled anew);
- **parent hash sets**: ``(content, column set)`` → the sorted distinct row hashes of the parent's
  projection, for parents hashed whole (up to ``content.PREFILTER_ROWS`` rows; a bigger one is
  hashed only where a sample can match) while the sets fit ``budget_bytes``;
- **sample outcomes** per pair: ``(parent content, child content, child name, k, seed)`` → how many
  sampled rows were missing (0: the pair passed);
- **exact outcomes** per pair: ``(parent content, child content, semantics)`` → contained or not;
- **fingerprints**: content → ``profile.table_fingerprint`` (computed only for the candidate
  duplicates of set semantics).

An unchanged lake therefore needs no table content at all; a changed or added table is read once
(a renamed one is only checksummed by the catalogue, and read again only to be sampled as a child),
and only the pairs that involve it are sampled or verified again. Entries of contents
no longer in the lake are dropped when the cache is written. The whole cache is discarded when
prunekit's version or the code that defines values (``code_digest``: reading, hashing, canonical
forms, engines) changes. Writes are atomic; a missing, damaged or unwritable cache only costs
reading the tables again.

Layout (a folder next to the profile cache, ``<root>/.prunekit/profiles.scan/`` by default):
``index.json`` (versions, outcomes, the sample index), ``samples-<digest>.npy`` (every cached
sample, concatenated) and ``sets/<digest>.npy`` (one parent hash set each).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from pathlib import Path

import numpy as np

from prunekit._version import __version__
from prunekit.io.atomic import atomic_path
from prunekit.lake.model import TableProfile

SCAN_CACHE_VERSION = 1
#: sources whose change can change a profile, a row hash or an exact answer
SEMANTIC_SOURCES = ("tableio.py", "profile.py", "verify.py", "model.py", "formats.py", "delta.py",
                    "iceberg.py", "backends/__init__.py", "backends/duckdb_.py", "backends/spark_.py",
                    "backends/spark_lake.py", "backends/spark_tasks.py",
                    "semantics.py")


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """sha1 of prunekit's version and the sources that define values (``SEMANTIC_SOURCES``): a
    development checkout changes them without changing the version."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha1(__version__.encode())
    for rel in SEMANTIC_SOURCES:
        p = here / rel
        h.update(rel.encode() + b"\0")
        with contextlib.suppress(OSError):
            h.update(p.read_bytes())
    return h.hexdigest()


def content_key(p: TableProfile) -> str:
    """A table's content identity: its format and the sha256 of its bytes."""
    return f"{p.format}:{p.checksum}"


def scan_cache_dir(profile_cache: str | Path) -> Path:
    """Where the scan cache of a profile cache file lives: ``<stem>.scan/`` next to it."""
    p = Path(profile_cache)
    return p.with_name(p.stem + ".scan")


def _digest(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()[:24]


class ScanCache:
    """The content stages' memory of earlier scans (see the module docstring).

    ``folder=None`` gives a cache that remembers nothing and writes nothing. Lookups return None
    when nothing is known; ``put_*`` record new results, written by ``save``.
    """

    def __init__(self, folder: str | Path | None, *, budget_bytes: int = 256 << 20):
        self.folder = Path(folder) if folder is not None else None
        self.budget = budget_bytes
        self.samples_index: dict[str, list] = {}     # key → [offset, length]
        self.sample_pairs: dict[str, int] = {}
        self.exact_pairs: dict[str, bool] = {}
        self.fingerprints: dict[str, str] = {}
        self.sets: dict[str, list] = {}              # key → [file, length]
        self._samples_file: str | None = None
        self._samples_blob: np.ndarray | None = None
        self._new_samples: dict[str, np.ndarray] = {}
        self._new_sets: dict[str, np.ndarray] = {}
        self.dirty = False
        self.hits = 0
        if self.folder is not None:
            self._load()

    # --- lookups and records -------------------------------------------------------------------

    def _load(self) -> None:
        try:
            d = json.loads((self.folder / "index.json").read_text())
            if d.get("version") != SCAN_CACHE_VERSION or d.get("code") != code_digest():
                return   # other code may hash or compare differently: start afresh
            self.samples_index = dict(d["samples"])
            self.sample_pairs = dict(d["sample_pairs"])
            self.exact_pairs = dict(d["exact_pairs"])
            self.fingerprints = dict(d.get("fingerprints", {}))
            self.sets = dict(d["sets"])
            self._samples_file = d.get("samples_file")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            self.samples_index, self.sample_pairs, self.exact_pairs, self.sets = {}, {}, {}, {}
            self.fingerprints = {}

    @staticmethod
    def sample_key(p: TableProfile, k: int, seed: int, part: str = "rows") -> str:
        return f"{content_key(p)}|{p.name}|{k}|{seed}|{part}"

    def sample(self, p: TableProfile, k: int, seed: int, part: str = "rows") -> np.ndarray | None:
        """The sampled rows' hashes (``part="rows"``), or each column's hashes of them one after
        the other (``part="columns"``)."""
        key = self.sample_key(p, k, seed, part)
        if key in self._new_samples:
            return self._new_samples[key]
        where = self.samples_index.get(key)
        out = None if where is None else self._from_blob(*where)
        if out is not None:
            self.hits += 1
        return out

    def put_sample(self, p: TableProfile, k: int, seed: int, hashes: np.ndarray, part: str = "rows") -> None:
        if self.folder is not None:
            self._new_samples[self.sample_key(p, k, seed, part)] = np.asarray(hashes, dtype=np.uint64).ravel()
            self.dirty = True

    @staticmethod
    def set_key(parent: TableProfile, cols: tuple[str, ...]) -> str:
        return f"{content_key(parent)}|{','.join(cols)}"

    def hash_set(self, parent: TableProfile, cols: tuple[str, ...]) -> np.ndarray | None:
        key = self.set_key(parent, cols)
        if key in self._new_sets:
            return self._new_sets[key]
        where = self.sets.get(key)
        if where is None:
            return None
        try:
            out = np.load(self.folder / "sets" / where[0])
        except (OSError, ValueError):
            return None
        if len(out) != where[1]:
            return None
        self.hits += 1
        return out

    def put_hash_set(self, parent: TableProfile, cols: tuple[str, ...], hashes: np.ndarray) -> None:
        if self.folder is None:
            return
        used = sum(n for _, n in self.sets.values()) + sum(len(a) for a in self._new_sets.values())
        if (used + len(hashes)) * 8 <= self.budget:
            self._new_sets[self.set_key(parent, cols)] = hashes
            self.dirty = True

    @staticmethod
    def pair_key(parent: TableProfile, child: TableProfile, *extra) -> str:
        return "|".join([content_key(parent), content_key(child), *map(str, extra)])

    def sample_outcome(self, parent: TableProfile, child: TableProfile, k: int, seed: int) -> int | None:
        v = self.sample_pairs.get(self.pair_key(parent, child, child.name, k, seed))
        if v is not None:
            self.hits += 1
        return v

    def put_sample_outcome(self, parent, child, k: int, seed: int, missing: int) -> None:
        if self.folder is not None:
            self.sample_pairs[self.pair_key(parent, child, child.name, k, seed)] = int(missing)
            self.dirty = True

    def exact(self, parent: TableProfile, child: TableProfile, semantics: str) -> bool | None:
        v = self.exact_pairs.get(self.pair_key(parent, child, semantics))
        if v is not None:
            self.hits += 1
        return v

    def put_exact(self, parent: TableProfile, child: TableProfile, semantics: str, ok: bool) -> None:
        if self.folder is not None:
            self.exact_pairs[self.pair_key(parent, child, semantics)] = bool(ok)
            self.dirty = True

    @property
    def empty(self) -> bool:
        """Nothing known yet (no folder, or a first scan): every answer will be computed."""
        return not (self.samples_index or self.sample_pairs or self.exact_pairs or self.sets
                    or self._new_samples or self._new_sets)

    def fingerprint(self, p: TableProfile) -> str | None:
        v = self.fingerprints.get(content_key(p))
        if v is not None:
            self.hits += 1
        return v

    def put_fingerprint(self, p: TableProfile, fingerprint: str) -> None:
        if self.folder is not None:
            self.fingerprints[content_key(p)] = fingerprint
            self.dirty = True

    # --- writing -------------------------------------------------------------------------------

    def save(self, present: set[str]) -> None:
        """Write what changed, forgetting every entry that names a content not in ``present``
        (content keys of the lake's tables now). Raises ``OSError``/``InputError`` when the
        folder cannot be written."""
        if self.folder is None:
            return

        def alive(key: str, n: int = 1) -> bool:   # the first n fields are content keys
            return all(x in present for x in key.split("|", n)[:n])

        old = {k: v for k, v in self.samples_index.items() if alive(k)}
        sample_pairs = {k: v for k, v in self.sample_pairs.items() if alive(k, 2)}
        exact_pairs = {k: v for k, v in self.exact_pairs.items() if alive(k, 2)}
        fingerprints = {k: v for k, v in self.fingerprints.items() if k in present}
        sets = {k: v for k, v in self.sets.items() if alive(k)}
        forgot = (len(old), len(sample_pairs), len(exact_pairs), len(sets), len(fingerprints)) != (
            len(self.samples_index), len(self.sample_pairs), len(self.exact_pairs), len(self.sets),
            len(self.fingerprints))
        if not (self.dirty or forgot):
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "sets").mkdir(exist_ok=True)
        for key, arr in self._new_sets.items():
            if alive(key):
                name = _digest(key) + ".npy"
                with atomic_path(self.folder / "sets" / name) as tmp, open(tmp, "wb") as fh:
                    np.save(fh, np.ascontiguousarray(arr, dtype=np.uint64))
                sets[key] = [name, int(len(arr))]
        # every sample in one file: the ones kept, then the new ones
        pieces, index, off = [], {}, 0
        for key, (o, n) in old.items():
            a = self._from_blob(o, n)
            if a is None:
                continue
            pieces.append(a)
            index[key] = [off, n]
            off += n
        for key, a in self._new_samples.items():
            if alive(key):
                pieces.append(a)
                index[key] = [off, int(len(a))]
                off += len(a)
        blob = np.concatenate(pieces).astype(np.uint64) if pieces else np.zeros(0, np.uint64)
        samples_file = f"samples-{hashlib.sha1(blob.tobytes()).hexdigest()[:24]}.npy"
        if samples_file != self._samples_file:
            with atomic_path(self.folder / samples_file) as tmp, open(tmp, "wb") as fh:
                np.save(fh, blob)
        with atomic_path(self.folder / "index.json") as tmp:
            tmp.write_text(json.dumps({"version": SCAN_CACHE_VERSION, "prunekit": __version__,
                                       "code": code_digest(), "samples_file": samples_file,
                                       "samples": index, "sample_pairs": sample_pairs,
                                       "exact_pairs": exact_pairs, "sets": sets,
                                       "fingerprints": fingerprints}))
        # files no index names any more (other scans reading an older index treat them as misses)
        keep = {samples_file, "index.json", "sets"}
        for f in self.folder.iterdir():
            if f.name not in keep and f.name.startswith("samples-") and f.suffix == ".npy":
                f.unlink(missing_ok=True)
        named = {v[0] for v in sets.values()}
        for f in (self.folder / "sets").iterdir():
            if f.suffix == ".npy" and f.name not in named:
                f.unlink(missing_ok=True)
        self.samples_index, self.sample_pairs = index, sample_pairs
        self.exact_pairs, self.sets, self.fingerprints = exact_pairs, sets, fingerprints
        self._samples_file, self._samples_blob = samples_file, None
        self._new_samples, self._new_sets, self.dirty = {}, {}, False

    def _from_blob(self, off: int, n: int) -> np.ndarray | None:
        try:
            if self._samples_blob is None:
                if self._samples_file is None:
                    return None
                self._samples_blob = np.load(self.folder / self._samples_file, mmap_mode="r")
            a = np.array(self._samples_blob[off:off + n], dtype=np.uint64)
        except (OSError, ValueError):
            return None
        return a if len(a) == n else None
