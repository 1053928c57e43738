"""Bad input to ``prunekit text dedup``: exit 2, one ``error:`` line naming the shard and the line
(or row), no traceback, nothing written (see ``_bad_input_harness``). Classes: 1 output naming an
input, 6 messages naming the real problem, 7 hostile input."""

from __future__ import annotations

import json

import pytest

from _bad_input_harness import Case, both, mkdir, params, run_case, write

T = lambda rel: (lambda c: c.tmp / rel)  # noqa: E731
GOOD = "".join(json.dumps({"id": i, "text": f"document number {chr(97 + i)} says something else entirely"}) + "\n"
               for i in range(5))


def cmd(*parts):
    return lambda c: [p(c) if callable(p) else p for p in parts]


def dedup(*shards, out="out", opts=()):
    return cmd("text", "dedup", *[T(s) for s in shards], "-o", out, *opts)


def _parquet(name, **cols):
    def setup(c):
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table(cols), c.tmp / name)
    return setup


CASES = [
    Case(6, "empty-document", dedup("c.jsonl"), ("c.jsonl", "line 2", "empty document"),
         setup=write("c.jsonl", '{"text": "a b c d e f"}\n{"text": "   "}\n')),
    Case(6, "non-utf8-bytes", dedup("c.jsonl"), ("c.jsonl", "line 3", "utf-8"),
         setup=write("c.jsonl", b'{"text": "one two"}\n{"text": "three four"}\n{"text": "caf\xe9"}\n')),
    Case(6, "line-not-json", dedup("c.jsonl"), ("c.jsonl", "line 2", "not json"),
         setup=write("c.jsonl", '{"text": "a b c"}\n{"text": "unterminated\n')),
    Case(6, "missing-text-field", dedup("c.jsonl"), ("c.jsonl", "line 1", "'text'", "--text-field"),
         setup=write("c.jsonl", '{"body": "a b c"}\n')),
    Case(6, "text-not-a-string", dedup("c.jsonl"), ("c.jsonl", "line 1", "not text"),
         setup=write("c.jsonl", '{"text": 42}\n')),
    Case(6, "json-not-an-object", dedup("c.jsonl"), ("c.jsonl", "line 1", "json object"),
         setup=write("c.jsonl", '["a", "b"]\n')),
    # the second shard is read by a worker process: its error still names it and its line
    Case(6, "bad-line-in-second-shard-of-two", dedup("a.jsonl", "b.jsonl", opts=("--workers", "2")),
         ("b.jsonl", "line 4", "not json"),
         setup=both(write("a.jsonl", GOOD), write("b.jsonl", "".join(GOOD.splitlines(True)[:3]) + "{oops\n"))),
    Case(6, "parquet-missing-text-column", dedup("p.parquet"), ("p.parquet", "no column 'text'"),
         setup=_parquet("p.parquet", body=["a b c d e"])),
    Case(6, "parquet-null-text", dedup("p.parquet"), ("p.parquet", "row 1", "null"),
         setup=_parquet("p.parquet", text=["a b c d e", None])),
    Case(6, "parquet-empty-document", dedup("p.parquet"), ("p.parquet", "row 0", "empty document"),
         setup=_parquet("p.parquet", text=["", "a b c d e"])),
    Case(6, "duplicate-id-field", dedup("c.jsonl", opts=("--id-field", "id")), ("'7'", "occurs 2 times"),
         setup=write("c.jsonl", '{"id": 7, "text": "a b c d"}\n{"id": 7, "text": "e f g h"}\n')),
    Case(6, "missing-id-field", dedup("c.jsonl", opts=("--id-field", "id")), ("c.jsonl", "line 1", "'id'"),
         setup=write("c.jsonl", '{"text": "a b c d"}\n')),
    Case(6, "embeddings-wrong-rows", dedup("c.jsonl", opts=("--embeddings", "e.npy")), ("e.npy", "(5, d)"),
         setup=both(write("c.jsonl", GOOD), lambda c: __import__("numpy").save(c.tmp / "e.npy",
                                                                               __import__("numpy").ones((3, 4))))),
    Case(7, "missing-shard", dedup("nope.jsonl"), (T("nope.jsonl"), "does not exist")),
    Case(7, "unknown-extension", dedup("c.txt"), ("c.txt", ".jsonl"), setup=write("c.txt", "hello")),
    Case(7, "folder-without-shards", dedup("d"), ("d", "no text shards"), setup=mkdir("d")),
    Case(7, "shard-named-twice", dedup("c.jsonl", "c.jsonl"), ("c.jsonl", "twice"), setup=write("c.jsonl", GOOD)),
    Case(7, "output-exists", dedup("c.jsonl", out="adir"), ("adir", "already exists"),
         setup=both(write("c.jsonl", GOOD), mkdir("adir"))),
    Case(7, "output-parent-missing", dedup("c.jsonl", out="nodir/out"), ("nodir", "does not exist"),
         setup=write("c.jsonl", GOOD)),
    Case(1, "output-inside-input-folder", cmd("text", "dedup", T("d"), "-o", T("d/out")), ("refusing", "shard"),
         setup=both(mkdir("d"), write("d/c.jsonl", GOOD))),
    Case(7, "bands-zero", dedup("c.jsonl", opts=("--bands", "0")), ("bands", "0"), setup=write("c.jsonl", GOOD)),
    Case(7, "min-jaccard-above-one", dedup("c.jsonl", opts=("--min-jaccard", "1.5")), ("min_jaccard", "1.5"),
         setup=write("c.jsonl", GOOD)),
    Case(7, "unknown-embed-model", dedup("c.jsonl", opts=("--embed-model", "gpt9")), ("gpt9",),
         setup=write("c.jsonl", GOOD)),
    Case(7, "truncated-gzip-shard", dedup("c.jsonl.gz"), ("c.jsonl.gz",),
         setup=write("c.jsonl.gz", __import__("gzip").compress(GOOD.encode())[:40])),
]


@pytest.mark.parametrize("case", params(CASES))
def test_bad_text_input(case, ctx, capsys):
    run_case(case, ctx, capsys, [])
