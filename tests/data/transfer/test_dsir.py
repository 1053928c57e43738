"""DSIR: hashed n-gram features, importance log-weights, Gumbel top-k resampling and KL reduction —
on planted domains and hand-computed cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from prunekit.cli import main
from prunekit.data import ScoreTable, select
from prunekit.data.dsir import (
    composition, dsir_table, dsir_weights, hashed_ngrams, kl_reduction, ngram_model, read_texts, text_set,
)
from prunekit.data.select import gumbel_top_k
from prunekit.errors import InputError

VOCAB = {
    "movies": "film movie actor director plot scene cast screenplay funny boring performance cinema".split(),
    "politics": "senate vote bill congress tax policy election governor law campaign voters debate".split(),
    "sports": "goal match team coach season league score player stadium injury transfer win".split(),
}
SHARED = "the a of and is to in it was".split()


def planted_docs(domain: str, n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    words = VOCAB[domain]
    return [" ".join(rng.choice(words + SHARED, size=12)) for _ in range(n)]


@pytest.fixture(scope="module")
def pool():
    texts, groups = [], []
    for i, d in enumerate(VOCAB):
        texts += planted_docs(d, 100, i)
        groups += [d] * 100
    return text_set(texts, group=groups)


@pytest.mark.parametrize("gumbel", [True, False])
def test_dsir_picks_the_target_domain(pool, gumbel):
    target = text_set(planted_docs("movies", 50, 99))
    table, w = dsir_table(pool, target)
    assert table.directions["dsir"] == "value"
    sel = select(table, "importance", count=100, seed=0, gumbel=gumbel)
    comp = composition(pool.group, np.flatnonzero(sel.keep))
    assert comp["movies"] >= 0.95
    assert w.kl_reduction(np.flatnonzero(sel.keep)) > w.kl_reduction(np.arange(200, 300)) + 0.1
    rnd = select(table, "random", count=100, seed=0)
    assert w.kl_reduction(np.flatnonzero(sel.keep)) > w.kl_reduction(np.flatnonzero(rnd.keep))


def test_gumbel_top_k_is_without_replacement_and_seed_deterministic():
    w = np.log(np.array([1.0, 2.0, 7.0, 0.5, 0.5, 3.0]))
    a = gumbel_top_k(w, 4, np.random.default_rng(5))
    assert len(a) == len(set(a.tolist())) == 4
    assert np.array_equal(a, gumbel_top_k(w, 4, np.random.default_rng(5)))
    draws = [tuple(gumbel_top_k(w, 3, np.random.default_rng(s))) for s in range(30)]
    assert len(set(draws)) > 1  # other seeds, other samples
    assert gumbel_top_k(w, 2).tolist() == [2, 5]  # deterministic top-k
    # one draw: the probabilities of sampling ∝ the weights
    first = np.bincount([gumbel_top_k(w[:3], 1, np.random.default_rng(s))[0] for s in range(3000)], minlength=3)
    assert np.allclose(first / 3000, [0.1, 0.2, 0.7], atol=0.03)


def test_selector_reasons_and_determinism(pool):
    table, _ = dsir_table(pool, text_set(planted_docs("sports", 30, 7)))
    a = select(table, "importance", 0.25, seed=4)
    b = select(table, "importance", 0.25, seed=4)
    assert a.keep.tobytes() == b.keep.tobytes() and a.keep.sum() == 75
    assert set(a.reason[~a.keep].tolist()) == {"not resampled: outside the Gumbel top-k sample of 75 by dsir"}


def test_kl_reduction_by_hand():
    # smoothing 1 over 2 buckets: p = [2/3, 1/3], q_raw = [1/3, 2/3], q_sel = p
    assert math.isclose(kl_reduction(np.array([3, 1]), np.array([1, 3]), np.array([3, 1])), math.log(2) / 3)
    assert kl_reduction(np.array([3, 1]), np.array([1, 3]), np.array([1, 3])) == 0.0
    assert np.allclose(ngram_model(np.array([3, 1]), 1.0), [2 / 3, 1 / 3])


def test_log_weights_by_hand():
    raw = ["apple apple", "pear"]
    w = dsir_weights(raw, ["apple"], buckets=64, ngrams=1, smoothing=0.01)
    R = hashed_ngrams(raw, buckets=64, ngrams=1).toarray()
    expected = R @ (np.log(w.p_target) - np.log(w.q_raw))
    assert np.allclose(w.log_weights, expected)
    assert w.log_weights[0] > w.log_weights[1]
    assert hashed_ngrams(["a b c"], buckets=1000, ngrams=2).sum() == 5  # 3 unigrams + 2 bigrams


def test_no_overlap_and_empty_inputs_are_refused():
    with pytest.raises(InputError, match="shares no word n-gram with the raw pool"):
        dsir_weights(["alpha beta", "gamma"], ["omega psi"], buckets=10_000)
    with pytest.raises(InputError, match="target documents hold no words"):
        dsir_weights(["alpha"], ["", "  ."])
    with pytest.raises(InputError, match="no documents"):
        text_set([])


def test_cli_dsir(tmp_path, pool):
    rows = [{"text": t, "domain": g} for t, g in zip(pool.texts, pool.group)]
    (tmp_path / "pool.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "target.txt").write_text("\n".join(planted_docs("politics", 40, 3)) + "\n")
    out = tmp_path / "sel.parquet"
    assert main(["data", "dsir", str(tmp_path / "pool.jsonl"), "--target", str(tmp_path / "target.txt"),
                 "--count", "100", "--group-column", "domain", "-o", str(out)]) == 0
    t = ScoreTable.read(out)
    kept = np.asarray(t.meta["label_names"])[t.labels[t.keep]]
    assert (kept == "politics").mean() >= 0.95
    assert t.meta["selection"]["kl_reduction"] > 0
    assert len(read_texts(tmp_path / "target.txt")) == 40


def test_library_call_is_what_the_cli_writes(tmp_path, pool):
    """``dsir_select`` (the library) gives the selection ``prunekit data dsir`` writes."""
    from prunekit.data.dsir import dsir_select, text_set

    target = planted_docs("politics", 40, 3)
    (tmp_path / "target.txt").write_text("\n".join(target) + "\n")
    (tmp_path / "pool.txt").write_text("\n".join(pool.texts) + "\n")
    out = tmp_path / "sel.parquet"
    assert main(["data", "dsir", str(tmp_path / "pool.txt"), "--target", str(tmp_path / "target.txt"),
                 "--count", "100", "--seed", "3", "-o", str(out)]) == 0
    written = ScoreTable.read(out)
    sel = dsir_select(tmp_path / "pool.txt", text_set(target), count=100, seed=3)
    assert np.array_equal(sel.keep, written.keep) and sel.keep.sum() == 100
    assert np.array_equal(sel.scores["dsir"], written.scores["dsir"])
    assert sel.meta["selection"]["kl_reduction"] == pytest.approx(written.meta["selection"]["kl_reduction"])
