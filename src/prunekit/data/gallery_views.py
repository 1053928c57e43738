"""What one example looks like on the gallery page: a thumbnail (a data URI) or a text snippet.

:func:`load_views` finds the best view of the examples a selection was made on, in this order:

1. ``views`` given: a folder of images (one file per example, in sorted path order, or matched to the
   ids by file stem), a Hugging Face data set saved with ``save_to_disk`` (its first image column,
   else its first text column), or a ``.npy`` of images (N, H, W) or (N, H, W, 3);
2. a column of the data table: text (``text_column``, else ``text``, ``sentence``, ``review``,
   ``content``, ``snippet``, else the only string column), image bytes (a binary column, or a
   Hugging Face image struct ``{bytes, path}``), or image file paths (relative to the table);
3. the features themselves when they are square grey images: D = s² with 4 ≤ s ≤ 64 (8×8 digits,
   28×28 MNIST);
4. nothing to show: the page names each example by id and label only, and says so.
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np

from prunekit.errors import InputError

IMAGE_EXT = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff")
TEXT_COLUMNS = ("text", "sentence", "review", "content", "snippet")
THUMB = 64  # longest side of a thumbnail, pixels


class Views:
    """``kind``: "image", "text" or "none"; ``html(row)``: the view of one example; ``source``: where
    the views came from (shown on the page)."""

    def __init__(self, kind: str, fn: Callable[[int], str], source: str):
        self.kind, self._fn, self.source = kind, fn, source

    def html(self, row: int) -> str:
        return self._fn(int(row))


def png_uri(pixels: np.ndarray) -> str:
    """A uint8 (H, W) or (H, W, 3) array as a ``data:image/png;base64,…`` URI."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _img(uri: str, small: bool) -> str:
    css = ' class="px"' if small else ""
    return f'<img{css} alt="" src="{uri}">'


def _thumb_from_bytes(data: bytes, what: str) -> str:
    from PIL import Image, UnidentifiedImageError

    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{what} is not a readable image: {exc}") from None
    im = im.convert("RGB") if im.mode not in ("L", "RGB") else im
    small = max(im.size) < THUMB
    im.thumbnail((THUMB, THUMB))
    return _img(png_uri(np.asarray(im)), small)


def _snippet(text: Any, limit: int = 220) -> str:
    t = "" if text is None else str(text)
    short = t if len(t) <= limit else t[: limit - 1].rstrip() + "…"
    return f'<span class="snip" title="{html.escape(t[:1000])}">{html.escape(short)}</span>'


def _pixels(X, rows_hint: int) -> Views | None:
    d = X.shape[1]
    s = math.isqrt(d)
    if s * s != d or not 4 <= s <= 64:
        return None
    sample = np.asarray(X[: min(len(X), 2000)], dtype=np.float32)
    lo, hi = float(sample.min()), float(sample.max())
    span = hi - lo if hi > lo else 1.0

    def view(row: int) -> str:
        v = (np.asarray(X[row], dtype=np.float32).reshape(s, s) - lo) / span
        return _img(png_uri((np.clip(v, 0, 1) * 255).astype(np.uint8)), True)

    return Views("image", view, f"the features as {s}×{s} grey images")


def _image_array(arr: np.ndarray, what: str) -> Views:
    if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[-1] not in (1, 3, 4)):
        raise InputError(f"{what} must hold images of shape (N, H, W) or (N, H, W, 3), got {arr.shape}")
    lo, hi = float(np.min(arr[:200])), float(np.max(arr[:200]))
    span = hi - lo if hi > lo else 1.0

    def view(row: int) -> str:
        a = np.asarray(arr[row], dtype=np.float32)
        a = a[..., 0] if a.ndim == 3 and a.shape[-1] == 1 else a[..., :3] if a.ndim == 3 else a
        return _img(png_uri((np.clip((a - lo) / span, 0, 1) * 255).astype(np.uint8)), max(a.shape[:2]) < THUMB)

    return Views("image", view, f"{what} (images {arr.shape[1:]})")


def _image_folder(folder: Path, ids: np.ndarray) -> Views:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXT and p.is_file())
    if not files:
        raise InputError(f"image folder {folder} holds no image files ({', '.join(IMAGE_EXT)})")
    by_stem = {p.stem: p for p in files}
    if len(by_stem) == len(files) and all(str(i) in by_stem for i in ids.tolist()):
        pick = [by_stem[str(i)] for i in ids.tolist()]
        how = "matched to the ids by file name"
    elif len(files) == len(ids):
        pick, how = files, "one file per example in sorted path order"
    else:
        raise InputError(f"image folder {folder} holds {len(files)} images for {len(ids)} examples, and their "
                         "names are not the ids: it does not match the data")
    return Views("image", lambda row: _thumb_from_bytes(pick[row].read_bytes(), str(pick[row])),
                 f"images in {folder.name}/ ({how})")


def _hf_views(folder: Path, n: int) -> Views:
    try:
        import datasets
    except ImportError:
        raise InputError(f"{folder} is a Hugging Face data set; reading it needs: pip install datasets") from None
    try:
        ds = datasets.load_from_disk(str(folder))
    except Exception as exc:  # datasets raises several types for a folder it cannot read
        raise InputError(f"cannot read the Hugging Face data set {folder}: {str(exc).splitlines()[0]}") from None
    if isinstance(ds, datasets.DatasetDict):
        split = "train" if "train" in ds else next(iter(ds))
        ds = ds[split]
    if len(ds) != n:
        raise InputError(f"the Hugging Face data set {folder} has {len(ds)} rows for {n} examples: it does not "
                         "match the data")
    feats = ds.features
    img = next((k for k, f in feats.items() if type(f).__name__ == "Image"), None)
    if img is not None:
        plain = ds.cast_column(img, datasets.Image(decode=False))

        def view(row: int) -> str:
            cell = plain[row][img]
            data = cell.get("bytes") or Path(cell["path"]).read_bytes()
            return _thumb_from_bytes(data, f"{folder} row {row}")

        return Views("image", view, f"Hugging Face data set {folder.name}, column {img!r}")
    txt = next((k for k, f in feats.items() if getattr(f, "dtype", "") in ("string", "large_string")), None)
    if txt is None:
        raise InputError(f"the Hugging Face data set {folder} has no image or text column to show")
    return Views("text", lambda row: _snippet(ds[row][txt]), f"Hugging Face data set {folder.name}, column {txt!r}")


def _table_views(path: Path, n: int, text_column: str | None) -> Views | None:
    import pyarrow as pa

    from prunekit.io.examples import detect_format

    fmt = detect_format(path)
    if fmt not in ("parquet", "arrow", "csv"):
        if text_column is not None:
            raise InputError(f"--text-column names a column of table data (.parquet, .arrow, .csv), but {path.name} "
                             "is a .npy matrix")
        return None
    if fmt == "parquet":
        import pyarrow.parquet as pq

        schema = pq.read_schema(path) if path.is_file() else pq.ParquetDataset(path).schema
        read = lambda cols: pq.read_table(path, columns=cols)  # noqa: E731
    elif fmt == "arrow":
        import pyarrow.feather as feather

        t = feather.read_table(path)
        schema, read = t.schema, (lambda cols: t.select(cols))
    else:
        import pyarrow.csv as pcsv

        t = pcsv.read_csv(path)
        schema, read = t.schema, (lambda cols: t.select(cols))
    names = schema.names
    strings = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    if text_column is not None and text_column not in names:
        raise InputError(f"no column {text_column!r} in {path}; its columns: {', '.join(names)}")
    if text_column is None:
        binary = [f.name for f in schema if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)
                  or (pa.types.is_struct(f.type) and f.type.get_field_index("bytes") >= 0)]
        if binary:
            col = read([binary[0]]).column(0).to_pylist()
            return Views("image", lambda row: _thumb_from_bytes(
                col[row]["bytes"] if isinstance(col[row], dict) else col[row], f"{path} row {row}"),
                f"images in column {binary[0]!r}")
        for c in strings:
            if c.lower() in ("path", "file", "filename", "image", "image_path"):
                vals = read([c]).column(0).to_pylist()
                if vals and str(vals[0]).lower().endswith(IMAGE_EXT):
                    base = path.parent if path.is_file() else path
                    return Views("image", lambda row: _thumb_from_bytes((base / vals[row]).read_bytes(),
                                                                        str(base / vals[row])),
                                 f"image files named in column {c!r}")
        cands = [c for c in strings if c.lower() in TEXT_COLUMNS] or \
                [c for c in strings if c.lower() not in ("id", "label", "labels", "class")]
        if not cands:
            return None
        text_column = cands[0]
    texts = read([text_column]).column(0).to_pylist()
    if len(texts) != n:
        return None
    return Views("text", lambda row: _snippet(texts[row]), f"text column {text_column!r}")


def load_views(examples, data: Path | None, views: Path | None, text_column: str | None) -> Views:
    """The best view of ``examples`` (an ``ExampleSet``; ``data``: the file it was read from)."""
    n = len(examples)
    if views is not None:
        views = Path(views)
        if not views.exists():
            raise InputError(f"views {views} does not exist")
        if views.is_dir():
            if (views / "dataset_info.json").exists() or (views / "dataset_dict.json").exists() \
                    or (views / "state.json").exists():
                return _hf_views(views, n)
            return _image_folder(views, np.asarray(examples.ids))
        if views.suffix.lower() == ".npy":
            arr = np.load(views, mmap_mode="r")
            if len(arr) != n:
                raise InputError(f"views {views} holds {len(arr)} images for {n} examples: it does not match the data")
            return _image_array(arr, views.name)
        raise InputError(f"views must be an image folder, a saved Hugging Face data set or a .npy of images, "
                         f"not {views.name}")
    if data is not None and Path(data).exists():
        v = _table_views(Path(data), n, text_column)
        if v is not None:
            return v
    elif text_column is not None:
        raise InputError("--text-column needs --data: the table the text column is in")
    v = _pixels(examples.embeddings, n)
    if v is not None:
        return v
    return Views("none", lambda row: "", "nothing to show (no text, image or square pixel features)")


__all__ = ["Views", "load_views", "png_uri"]
