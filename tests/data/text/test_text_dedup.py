"""Text deduplication: planted exact duplicates and near-duplicates at known Jaccard levels are
found and explained (the kept document they duplicate, the estimated and exact Jaccard); what is
below the threshold stays; JSONL and Parquet shards give the same decisions; SemDeDup composes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prunekit.cli import main
from prunekit.data import ScoreTable
from prunekit.data.text import dedup, implied_threshold
from prunekit.data.text.lsh import bucket_pairs
from prunekit.data.text.minhash import MinHasher, estimated_jaccard, jaccard, normalize, shingle_set

LETTERS = list("abcdefghijklmnopqrstuvwxyz")
N_DOCS, WORDS = 300, 200
M = WORDS - 4  # shingles (5-grams) per document


def _vocab(rng, n=4000):
    return sorted({"".join(rng.choice(LETTERS, int(rng.integers(3, 9)))) for _ in range(n)})


def _span_variant(words, level, rng, vocab):
    """Replace one span of k words: J = (M - k - 4) / (M + k + 4) exactly (new words are unseen)."""
    k = max(1, int(round((M * (1 - level) - 4 * (1 + level)) / (1 + level))))
    s = int(rng.integers(5, WORDS - k - 5))
    w = list(words)
    w[s : s + k] = [f"planted{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(k)]
    return " ".join(w), (M - k - 4) / (M + k + 4)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three JSONL shards of random-word documents; planted: an exact duplicate (other case,
    punctuation, spacing) of doc 3, near-duplicates of docs 10/11/12 at Jaccard ≈ 0.95/0.9/0.85,
    and a far variant of doc 13 (Jaccard ≈ 0.3, below the threshold)."""
    rng = np.random.default_rng(0)
    vocab = _vocab(rng)
    docs = [" ".join(rng.choice(vocab, WORDS)) for _ in range(N_DOCS)]
    planted = {}  # position → (source position, kind, exact Jaccard)
    docs[200] = "  " + docs[3].upper().replace(" ", " ,  ") + "!!"
    planted[200] = (3, "exact", 1.0)
    for pos, src, level in ((150, 10, 0.95), (250, 11, 0.9), (280, 12, 0.85), (290, 13, 0.3)):
        docs[pos], j = _span_variant(docs[src].split(), level, rng, vocab)
        planted[pos] = (src, "near" if level > 0.5 else "far", j)
    root = tmp_path_factory.mktemp("text")
    d = root / "jsonl"
    d.mkdir()
    for s in range(3):
        with open(d / f"part-{s}.jsonl", "w") as fh:
            for i in range(s * 100, (s + 1) * 100):
                fh.write(json.dumps({"id": f"doc{i}", "text": docs[i], "meta": i}) + "\n")
    pq_dir = root / "parquet"
    pq_dir.mkdir()
    for s in range(3):
        ids = [f"doc{i}" for i in range(s * 100, (s + 1) * 100)]
        pq.write_table(pa.table({"id": ids, "text": docs[s * 100 : (s + 1) * 100]}), pq_dir / f"part-{s}.parquet")
    return {"root": root, "jsonl": d, "parquet": pq_dir, "docs": docs, "planted": planted}


@pytest.fixture(scope="module")
def result(corpus):
    return dedup(corpus["jsonl"], corpus["root"] / "out", id_field="id", exact_jaccard=True, workers=2,
                 show_progress=False)


def test_implied_threshold_and_estimates():
    assert implied_threshold(14, 8) == pytest.approx(0.719, abs=1e-4)
    mh = MinHasher()
    assert mh.collision_probability(0.8) == pytest.approx(0.924, abs=1e-3)
    rng = np.random.default_rng(1)
    vocab = _vocab(rng)
    pairs, exact = [], []
    for level in (0.3, 0.5, 0.7, 0.9):
        for _ in range(25):
            base = " ".join(rng.choice(vocab, WORDS))
            var, j = _span_variant(base.split(), level, rng, vocab)
            pairs += [base, var]
            exact.append(jaccard(shingle_set(base, 5), shingle_set(var, 5)))
            assert exact[-1] == pytest.approx(j)
    sig, has = mh.signatures(pairs)
    assert has.all()
    est = estimated_jaccard(sig[0::2], sig[1::2])
    err = est - np.array(exact)
    assert abs(err.mean()) < 0.02 and err.std() < 0.06  # unbiased, σ ≈ √(J(1−J)/112)


def test_normalisation_matches_the_documented_rules():
    assert normalize("  Héllo,  WORLD!\tIt's 3.14 — and 42%.") == "hello world it s 0 and 0"
    assert normalize("Ça   va?") == normalize("ca va")


def test_bucket_pairs_star_chain_and_small_buckets():
    keys = np.array([5, 7, 5, 9, 5, 7], dtype=np.uint64)
    live = np.arange(6)
    got = {tuple(p) for p in bucket_pairs(keys, live).tolist()}
    assert got == {(0, 2), (0, 4), (2, 4), (1, 5)}
    assert not len(bucket_pairs(keys, np.array([0, 1, 3])))  # no equal keys left


def test_planted_duplicates_found_and_explained(corpus, result):
    t = result.table
    row = {v: i for i, v in enumerate(t.ids.tolist())}
    for pos, (src, kind, j) in corpus["planted"].items():
        r = row[f"doc{pos}"]
        if kind == "far":
            assert t.keep[r], f"doc{pos} (Jaccard {j:.2f}) must stay"
            continue
        assert not t.keep[r], f"doc{pos} ({kind}, Jaccard {j:.2f}) not removed"
        assert t.ids[t.duplicate_of[r]] == f"doc{src}"  # names the kept document it duplicates
        assert t.keep[row[f"doc{src}"]]
        assert t.scores["jaccard"][r] == pytest.approx(j, abs=1e-9)  # the exact Jaccard
        assert abs(t.scores["jaccard_estimate"][r] - j) < 0.15
        assert t.reason[r].startswith("exact duplicate" if kind == "exact" else "near duplicate")
    assert result.counts == {**result.counts, "documents": N_DOCS, "exact": 1, "near": 3, "kept": N_DOCS - 4}
    meta = t.meta["text_dedup"]
    assert (meta["bands"], meta["rows"], meta["ngram"]) == (14, 8, 5)
    assert [s["documents"] for s in t.meta["shards"]] == [100, 100, 100]
    # each shard's content identity, as the example pillar records its data's
    assert [s["sha256"] for s in t.meta["shards"]] == \
        [hashlib.sha256(Path(s["shard"]).read_bytes()).hexdigest() for s in t.meta["shards"]]


def test_artefacts_table_and_kept_shards(corpus, result):
    out = corpus["root"] / "out"
    assert sorted(p.name for p in out.iterdir()) == ["dedup.parquet", "kept"]
    back = ScoreTable.read(out / "dedup.parquet")
    assert (back.keep == result.table.keep).all() and (back.duplicate_of == result.table.duplicate_of).all()
    kept_ids = [json.loads(line)["id"] for s in range(3) for line in open(out / "kept" / f"part-{s}.jsonl")]
    assert kept_ids == [i for i, k in zip(result.table.ids.tolist(), result.table.keep) if k]
    first = open(out / "kept" / "part-0.jsonl").readline()
    assert json.loads(first)["meta"] == 0  # lines copied as they were


def test_parquet_shards_decide_alike(corpus, result, tmp_path):
    r = dedup(corpus["parquet"], tmp_path / "o", id_field="id", workers=1, show_progress=False)
    assert (r.table.keep == result.table.keep).all()
    assert (r.table.duplicate_of == result.table.duplicate_of).all()
    kept = pq.read_table(tmp_path / "o" / "kept" / "part-2.parquet")
    assert kept.column_names == ["id", "text"] and kept.num_rows == int(result.table.keep[200:].sum())


def test_semantic_stage_after_minhash(corpus, tmp_path):
    rng = np.random.default_rng(0)
    E = rng.standard_normal((N_DOCS, 16)).astype(np.float32)
    E[120] = E[20] * 1.001  # semantically the same, textually unrelated
    np.save(tmp_path / "e.npy", E)
    r = dedup(corpus["jsonl"], tmp_path / "o", id_field="id", embeddings=tmp_path / "e.npy", k=4,
              show_progress=False, write_kept=False)
    t = r.table
    i = t.row_of("doc120")
    assert not t.keep[i] and t.ids[t.duplicate_of[i]] == "doc20" and t.reason[i].startswith("semantic duplicate")
    assert r.counts["semantic"] == 1 and r.counts["near"] == 3 and r.counts["exact"] == 1


def test_cli_prints_one_line_per_shard_and_a_summary(corpus, tmp_path, capsys):
    code = main(["text", "dedup", str(corpus["jsonl"]), "--id-field", "id", "-o", str(tmp_path / "o"),
                 "--workers", "1", "--no-kept"])
    out = capsys.readouterr().out
    assert code == 0
    assert sum("documents in" in line for line in out.splitlines()) == 3
    assert "removed 1 exact, 3 near" in out
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["dedup.parquet"]


def test_allow_empty_removes_empty_documents_with_a_reason(tmp_path):
    (tmp_path / "c.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in
                                              ["one two three four five six", "  ", "one two three four five six"]))
    r = dedup(tmp_path / "c.jsonl", tmp_path / "o", allow_empty=True, show_progress=False)
    assert r.table.reason.tolist() == [None, "empty document", "exact duplicate (same normalised text)"]
    assert r.counts["empty"] == 1 and r.counts["kept"] == 1
