"""Reading ``.npy`` files without Python's ``ast`` module.

numpy parses a ``.npy`` header with ``ast.literal_eval``. On CPython 3.11 the code that builds
Python AST objects keeps its recursion count per interpreter, not per thread, so two threads
parsing at the same moment can fail with ``SystemError: AST constructor recursion depth mismatch``
(python/cpython#106905; fixed in 3.12+). prunekit reads shards in a background thread (the
identity digest) while the main thread loads other ``.npy`` files, and CI hit exactly this error.
So shards are opened here: the header is a dict of three literals, which a small parser reads.

The format (numpy's ``format`` module documents it): 6 magic bytes ``\\x93NUMPY``, a major and a
minor version byte, the header length (2 bytes little-endian in version 1, 4 bytes in 2 and 3),
then the header, a Python dict literal with the keys ``descr``, ``fortran_order`` and ``shape``,
Latin-1 in versions 1 and 2, UTF-8 in 3. The data follows, C or Fortran ordered.
"""
from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

MAGIC = b"\x93NUMPY"
_LENGTH = {1: ("<H", 2, "latin1"), 2: ("<I", 4, "latin1"), 3: ("<I", 4, "utf8")}
_MAX_HEADER = 1 << 20  # numpy's own writer never comes close; a bigger one is not a .npy we wrote or read
_TOKEN = re.compile(r"\s*(?:(?P<str>'[^'\\]*'|\"[^\"\\]*\")|(?P<int>-?\d+)|(?P<name>True|False|None)"
                    r"|(?P<punct>[{}()\[\]:,]))")
_CLOSE = {"{": "}", "(": ")", "[": "]"}


@dataclass(frozen=True)
class NpyHeader:
    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype
    offset: int  # where the data starts
    version: tuple[int, int]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def parse_literal(text: str) -> Any:
    """The value of a Python literal made of dicts, tuples, lists, strings without escapes,
    integers, True, False and None: what a ``.npy`` header holds. ValueError otherwise."""
    tokens: list[tuple[str, Any]] = []
    pos, end = 0, len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"cannot parse the header at {text[pos:pos + 20].strip()!r}")
        kind = m.lastgroup
        raw = m.group(kind)
        value = raw[1:-1] if kind == "str" else int(raw) if kind == "int" else \
            {"True": True, "False": False, "None": None}[raw] if kind == "name" else raw
        tokens.append((kind, value))
        pos = m.end()
    at = 0

    def take() -> tuple[str, Any]:
        nonlocal at
        if at >= len(tokens):
            raise ValueError("the header ends too early")
        at += 1
        return tokens[at - 1]

    def peek() -> Any:
        return tokens[at][1] if at < len(tokens) and tokens[at][0] == "punct" else None

    def value() -> Any:
        kind, v = take()
        if kind != "punct":
            return v
        if v not in _CLOSE:
            raise ValueError(f"unexpected {v!r} in the header")
        close, items, commas = _CLOSE[v], [], 0
        while peek() != close:
            item = value()
            if v == "{":
                if take() != ("punct", ":"):
                    raise ValueError("expected ':' in the header's dict")
                item = (item, value())
            items.append(item)
            if peek() != ",":
                break
            take()
            commas += 1
        if take() != ("punct", close):
            raise ValueError(f"expected {close!r} in the header")
        if v == "{":
            return dict(items)
        if v == "[":
            return items
        return items[0] if len(items) == 1 and commas == 0 else tuple(items)

    out = value()
    if at != len(tokens):
        raise ValueError("text after the header's dict")
    return out


def read_header(fh: BinaryIO) -> NpyHeader:
    """The header of the ``.npy`` file ``fh`` (positioned at its start); leaves ``fh`` at the data.
    ValueError, with numpy's wording where it has one, when it is not a ``.npy`` header."""
    start = fh.tell() if fh.seekable() else 0
    head = fh.read(8)
    if len(head) < 8 or head[:6] != MAGIC:
        raise ValueError("the magic string is not correct; it is not a .npy file")
    major, minor = head[6], head[7]
    if major not in _LENGTH:
        raise ValueError(f"unsupported .npy version {(major, minor)}")
    fmt, width, encoding = _LENGTH[major]
    raw_len = fh.read(width)
    if len(raw_len) < width:
        raise ValueError("the .npy header is truncated")
    (length,) = struct.unpack(fmt, raw_len)
    if length > _MAX_HEADER:
        raise ValueError(f"the .npy header is {length} bytes long; at most {_MAX_HEADER} are read")
    raw = fh.read(length)
    if len(raw) < length:
        raise ValueError("the .npy header is truncated")
    try:
        d = parse_literal(raw.decode(encoding))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot parse the .npy header {raw[:60]!r}: {exc}") from None
    if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
        raise ValueError(f"the .npy header is not a dict with the keys descr, fortran_order, shape: {d!r}")
    shape, fortran = d["shape"], d["fortran_order"]
    if not isinstance(shape, tuple) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                               for s in shape):
        raise ValueError(f"shape is not a valid shape: {shape!r}")
    if not isinstance(fortran, bool):
        raise ValueError(f"fortran_order is not a valid bool: {fortran!r}")
    try:
        dtype = np.lib.format.descr_to_dtype(d["descr"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"descr is not a valid dtype descriptor: {d['descr']!r} ({exc})") from None
    return NpyHeader(tuple(shape), fortran, dtype, start + 8 + width + length, (major, minor))


def open_npy(source: str | BinaryIO) -> np.ndarray:
    """The array in a ``.npy`` file: memory-mapped read-only for a local path, read whole (and
    read-only) from an open binary file. Object arrays are refused, as ``allow_pickle=False``."""
    if isinstance(source, str):
        with open(source, "rb") as fh:
            h = read_header(fh)
            size = fh.seek(0, 2)
    else:
        h = read_header(source)
        size = None
    if h.dtype.hasobject:
        raise ValueError("object arrays cannot be loaded when allow_pickle=False")
    order = "F" if h.fortran_order else "C"
    if h.nbytes == 0:  # mmap cannot map 0 bytes
        empty = np.empty(h.shape, h.dtype, order=order)
        empty.flags.writeable = False
        return empty
    if size is not None:
        if size - h.offset < h.nbytes:
            raise ValueError(f"the file holds {size - h.offset} bytes of data, its header promises {h.nbytes}")
        return np.memmap(source, dtype=h.dtype, mode="r", offset=h.offset, shape=h.shape, order=order)
    data = source.read(h.nbytes)
    if len(data) < h.nbytes:
        raise ValueError(f"the file holds {len(data)} bytes of data, its header promises {h.nbytes}")
    return np.frombuffer(data, dtype=h.dtype).reshape(h.shape, order=order)
