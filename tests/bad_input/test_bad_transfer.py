"""Bad input to the transfer commands (issue 15): a DSIR target with no word in common with the
pool, a DP4TL target whose feature width differs from the source, unreadable text — exit 2, one
``error:`` line naming the problem, nothing written (see ``_bad_input_harness``)."""

from __future__ import annotations

import numpy as np
import pytest

from _bad_input_harness import Case, params, run_case, write

OUT = "out.parquet"


def npy(name: str, shape):
    def setup(c):
        np.save(c.tmp / name, np.random.default_rng(0).normal(size=shape).astype(np.float32))
    return setup


def dsir(raw="pool.txt", target="target.txt", *extra):
    return lambda c: ["data", "dsir", c.tmp / raw, "--target", c.tmp / target, "--keep", "0.5", *extra, "-o", OUT]


def both(*setups):
    def setup(c):
        for s in setups:
            s(c)
    return setup


POOL = write("pool.txt", "the film was great\na dull movie\nthe senate voted\n")

CASES = [
    Case(6, "dsir-target-shares-no-word", dsir(),
         ("target", "no word n-gram", "do not overlap"),
         setup=both(POOL, write("target.txt", "zyzzyva quokka\nxylophone\n"))),
    Case(6, "dsir-target-without-words", dsir(), ("target", "no words"),
         setup=both(POOL, write("target.txt", "...\n!!\n"))),
    Case(6, "dsir-jsonl-line-not-json", dsir("pool.jsonl"), ("pool.jsonl", "line 2", "not json"),
         setup=both(write("pool.jsonl", '{"text": "a film"}\n{not json\n'), write("target.txt", "film\n"))),
    Case(6, "dsir-missing-text-field", dsir("pool.jsonl"), ("pool.jsonl", "row 2", "'text'"),
         setup=both(write("pool.jsonl", '{"text": "a film"}\n{"body": "x"}\n'), write("target.txt", "film\n"))),
    Case(6, "dsir-not-utf8", dsir(), ("pool.txt", "utf-8"),
         setup=both(write("pool.txt", b"a film\n\xff\xfe bad\n"), write("target.txt", "film\n"))),
    Case(6, "dp4tl-target-width-differs",
         lambda c: ["data", "score", c.data / "d.parquet", "-m", "dp4tl_fm", "--k", "3", "--target",
                    c.tmp / "t.npy", "-o", OUT],
         ("target", "5 features", "source has 8"), setup=npy("t.npy", (20, 5))),
    Case(6, "dp4tl-lm-target-width-differs",
         lambda c: ["data", "score", c.data / "d.parquet", "-m", "dp4tl_lm", "--epochs", "1", "--target",
                    c.tmp / "t.npy", "-o", OUT],
         ("target", "5 features", "source has 8"), setup=npy("t.npy", (20, 5))),
    Case(6, "dp4tl-without-target",
         lambda c: ["data", "score", c.data / "d.parquet", "-m", "dp4tl_fm", "--k", "3", "-o", OUT],
         ("dp4tl_fm", "target")),
]


@pytest.mark.parametrize("case", params(CASES))
def test_bad_transfer_input(case, ctx, data_store, capsys):
    ctx.stores["data"] = data_store.root
    run_case(case, ctx, capsys, [data_store])
