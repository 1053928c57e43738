"""prunekit's own .npy reader (``prunekit.io.npy``) against numpy's, and the reason it exists:
shards are read without ``ast``, which CPython 3.11 cannot run in two threads at once."""
import ast
import io
import itertools
import random

import numpy as np
import pytest

from prunekit.errors import InputError
from prunekit.io.npy import open_npy, parse_literal, read_header
from prunekit.io.shards import read_shard, scan_shards, shard_identity

CASES = list(itertools.product(["<f4", "<f8", "<f2", "|u1", ">i2", "<i8", "<c8", "|b1"],
                               [(0, 3), (5,), (), (3, 4), (2, 3, 4)], "CF", [(1, 0), (2, 0), (3, 0)]))


def _npy(a: np.ndarray, version=None) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, version=version, allow_pickle=False)
    return buf.getvalue()


@pytest.mark.parametrize("dtype,shape,order,version", CASES)
def test_same_array_as_numpy(dtype, shape, order, version, tmp_path):
    a = (np.arange(int(np.prod(shape))) % 7).astype(dtype).reshape(shape, order=order)
    a = np.asfortranarray(a) if order == "F" else a
    raw = _npy(a, version)
    path = tmp_path / "a.npy"
    path.write_bytes(raw)
    want = np.load(path, mmap_mode="r" if a.size else None)
    for got in (open_npy(str(path)), open_npy(io.BytesIO(raw))):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.flags.f_contiguous == want.flags.f_contiguous and got.flags.c_contiguous == want.flags.c_contiguous
        assert np.array_equal(got, want)
        assert not got.flags.writeable


def test_structured_dtype_like_numpy():
    a = np.zeros(3, dtype=[("x", "<f4"), ("y", "<i2", (2,))])
    a["x"] = [1, 2, 3]
    got = open_npy(io.BytesIO(_npy(a)))
    assert got.dtype == a.dtype and np.array_equal(got, a)


def test_header_offset_and_fields():
    raw = _npy(np.ones((4, 6), "<f4"))
    fh = io.BytesIO(raw)
    h = read_header(fh)
    assert (h.shape, h.fortran_order, h.dtype, h.version) == ((4, 6), False, np.dtype("<f4"), (1, 0))
    assert h.offset == fh.tell() == len(raw) - 4 * 6 * 4 and h.nbytes == 96


def _with_header(text: str, version=(1, 0)) -> bytes:
    body = text.encode("latin1")
    size = len(body).to_bytes(2 if version[0] == 1 else 4, "little")
    return b"\x93NUMPY" + bytes(version) + size + body + b"\0" * 64


BAD = {
    "not npy": b"PAR1" + b"\0" * 40,
    "empty": b"",
    "truncated length": b"\x93NUMPY\x01\x00\x10",
    "truncated header": b"\x93NUMPY\x01\x00\xff\x00{'descr'",
    "version 9": _with_header("{}", (9, 0)),
    "missing key": _with_header("{'descr': '<f4', 'shape': (2, 2), }"),
    "extra key": _with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}"),
    "shape not tuple": _with_header("{'descr': '<f4', 'fortran_order': False, 'shape': [2, 2]}"),
    "negative shape": _with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 2)}"),
    "fortran not bool": _with_header("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}"),
    "bad descr": _with_header("{'descr': 'nonsense', 'fortran_order': False, 'shape': (2,)}"),
    "code": _with_header("{'descr': __import__('os').getcwd(), 'fortran_order': False, 'shape': (2,)}"),
    "unbalanced": _with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,}"),
    "trailing text": _with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} 5"),
    "short data": _with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (100,)}"),
    "object array": _with_header("{'descr': '|O', 'fortran_order': False, 'shape': (2,)}"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_refuses_what_numpy_refuses(case, tmp_path):
    path = tmp_path / "bad.npy"
    path.write_bytes(BAD[case])
    with pytest.raises(Exception):  # the reference refuses it too (ValueError, EOFError, TokenError...)
        np.array(np.load(path, allow_pickle=False))
    for source in (str(path), io.BytesIO(BAD[case])):
        with pytest.raises(ValueError):
            np.array(open_npy(source))


def _random_literal(rng: random.Random, depth: int = 0):
    pick = rng.randrange(7 if depth < 3 else 4)
    if pick == 0:
        return rng.randrange(-10**6, 10**6)
    if pick == 1:
        return rng.choice([True, False, None])
    if pick == 2:
        return "".join(rng.choice("abc<>|f48 _[]():,{}\"") for _ in range(rng.randrange(6)))
    if pick == 3:
        return ""
    items = [_random_literal(rng, depth + 1) for _ in range(rng.randrange(4))]
    if pick == 4:
        return tuple(items)
    if pick == 5:
        return items
    return {str(k): v for k, v in zip(range(len(items)), items)}


def test_parse_literal_equals_ast_on_random_literals():
    rng = random.Random(0)
    for _ in range(2000):
        value = _random_literal(rng)
        text = repr(value)
        if "\\" in text:  # escapes are not part of .npy headers
            continue
        assert parse_literal(text) == ast.literal_eval(text) == value, text
        spaced = text.replace(",", " ,  ").replace("(", "( ")  # strings change too, the same for both
        assert parse_literal(spaced) == ast.literal_eval(spaced), spaced


def test_shards_are_read_without_ast(tmp_path, monkeypatch):
    """The identity digest reads shards in a background thread while the main thread loads other
    .npy files; on CPython 3.11 two threads in ``ast`` at once can raise "AST constructor recursion
    depth mismatch" (a CI run did). Reading a shard must therefore never call ``ast``."""
    rng = np.random.default_rng(0)
    for i, rows in enumerate((5, 9)):
        np.save(tmp_path / f"part-{i}.npy", rng.normal(size=(rows, 4)).astype(np.float32))

    used = []

    def no_ast(*a, **k):
        used.append(a[:1])
        raise AssertionError("ast used while reading a shard")

    with monkeypatch.context() as m:  # undone before asserting: pytest's reports use ast
        m.setattr(ast, "literal_eval", no_ast)
        m.setattr(ast, "parse", no_ast)
        ss = scan_shards(str(tmp_path))
        X, ids, labels = read_shard(ss.shards[1])
        identity = shard_identity(ss)
        try:
            np.load(tmp_path / "part-0.npy")  # numpy's own reader does use ast
        except AssertionError:
            pass
    assert used == [used[-1]], "ast used while reading a shard"
    assert X.shape == (9, 4) and ids is None and labels is None and identity.rows == 14


def test_shard_with_bad_header_is_one_line(tmp_path):
    (tmp_path / "a.npy").write_bytes(BAD["code"])
    with pytest.raises(InputError, match=r"shard a.npy: cannot read its .npy header"):
        scan_shards(str(tmp_path))
