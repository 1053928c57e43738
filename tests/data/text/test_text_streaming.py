"""Text deduplication streams over its shards: peak memory follows the shard size, not the corpus.

Two corpora of the same 6 MiB shards, 2 and 8 of them: the larger holds 36 MiB more text (and
Python would need about twice that to hold it as strings). Peak resident memory of a process
running ``dedup`` on each may differ only by the per-document bookkeeping (ids, hashes, flags:
~150 bytes per document, ~3 MiB here), far below the text."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from peak_rss import PEAK_KB

CHILD = PEAK_KB + r"""
import json, sys

from prunekit.data.text import dedup
import pyarrow.parquet  # loaded before the baseline is taken
base = peak_kb()
r = dedup(sys.argv[1], sys.argv[2], workers=1, show_progress=False)
print(json.dumps({"base_kb": base, "peak_kb": peak_kb(), "docs": r.counts["documents"],
                  "near": r.counts["near"], "exact": r.counts["exact"]}))
"""

DOCS_PER_SHARD, WORDS = 3000, 330


def _write_corpus(folder, shards: int) -> int:
    folder.mkdir()
    rng = np.random.default_rng(0)
    vocab = np.array(["".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), int(rng.integers(3, 9))))
                      for _ in range(5000)])
    size, prev = 0, ""
    for s in range(shards):
        with open(folder / f"part-{s:03d}.jsonl", "w") as fh:
            for i in range(DOCS_PER_SHARD):
                text = " ".join(vocab[rng.integers(0, len(vocab), WORDS)])
                if i == 7:
                    text = prev  # one planted exact duplicate per shard
                prev = text
                line = json.dumps({"text": text}) + "\n"
                size += len(line)
                fh.write(line)
    return size


def _peak_growth(corpus, out) -> tuple[float, dict]:
    env = {**os.environ, "PRUNEKIT_PROGRESS": "0"}
    r = subprocess.run([sys.executable, "-c", CHILD, str(corpus), str(out)], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    return (res["peak_kb"] - res["base_kb"]) / 1024, res


@pytest.mark.slow
def test_dedup_memory_follows_the_shard_not_the_corpus(tmp_path):
    growth, sizes = {}, {}
    for shards in (2, 8):
        corpus = tmp_path / f"c{shards}"
        sizes[shards] = _write_corpus(corpus, shards)
        growth[shards], res = _peak_growth(corpus, tmp_path / f"o{shards}")
        assert res["docs"] == shards * DOCS_PER_SHARD and res["exact"] == shards
    text_diff_mb = (sizes[8] - sizes[2]) / 2**20  # ≈ 36 MiB
    assert text_diff_mb > 30
    # Holding the corpus would add at least the text difference; streaming adds the bookkeeping.
    assert growth[8] - growth[2] < 0.25 * text_diff_mb, (growth, text_diff_mb)
