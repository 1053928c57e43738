"""DP4TL on planted data: label mapping keeps the source classes the target resembles; feature
mapping keeps the source clusters the target lands in; the ``dp4tl`` selector keeps whole groups,
gives every drop a reason, and refuses a target of another feature width."""

from __future__ import annotations

import numpy as np
import pytest

from prunekit.cli import main
from prunekit.data import ScoreTable, score, select
from prunekit.data.scores.dp4tl import feature_mapping_counts, label_mapping_counts
from prunekit.errors import ConfigError, InputError
from prunekit.io.examples import from_arrays

C, PER, DIM = 6, 40, 8
LIKE = (1, 4)  # the source classes the target resembles


def planted(seed=0):
    """Six well-separated source classes; a target drawn around classes 1 and 4 only."""
    rng = np.random.default_rng(seed)
    means = 6.0 * np.eye(DIM)[:C]
    X = np.concatenate([rng.normal(size=(PER, DIM)) + means[c] for c in range(C)]).astype(np.float32)
    y = np.repeat(np.arange(C), PER)
    T = np.concatenate([rng.normal(size=(25, DIM)) + means[c] for c in LIKE]).astype(np.float32)
    return X, y, T


@pytest.fixture(scope="module")
def lm_table(one_torch_thread):
    X, y, T = planted()
    return score(from_arrays(X, labels=y), "dp4tl_lm", target=T, epochs=3, seed=0)


def test_label_mapping_keeps_the_classes_the_target_resembles(lm_table):
    counts = lm_table.meta["scorers"][0]["group_counts"]
    assert sum(counts) == 50 and set(np.flatnonzero(counts)) <= set(LIKE)
    assert lm_table.directions["dp4tl_lm"] == "value"
    sel = select(lm_table, "dp4tl", 2 / C)
    assert sorted(set(lm_table.labels[sel.keep].tolist())) == list(LIKE)
    assert sel.keep.sum() == 2 * PER
    assert all(r.startswith("group rank: class ") for r in sel.reason[~sel.keep])


def test_budget_edge_is_one_partial_group_with_its_reason(lm_table):
    sel = select(lm_table, "dp4tl", count=2 * PER + 10, seed=3)
    kept = np.bincount(lm_table.labels[sel.keep], minlength=C)
    assert kept[list(LIKE)].tolist() == [PER, PER] and kept.sum() == 2 * PER + 10
    partial = np.flatnonzero((kept > 0) & (kept < PER))
    assert len(partial) == 1
    edge = [r for r in sel.reason[~sel.keep] if r.startswith("group edge")]
    assert len(edge) == PER - 10 and "keeps 10 of 40 at random" in edge[0]


def test_feature_mapping_keeps_the_clusters_the_target_lands_in():
    X, y, T = planted(1)
    t = score(from_arrays(X), "dp4tl_fm", target=T, k=C, seed=0)  # no labels: a self-supervised source
    sel = select(t, "dp4tl", 2 / C)
    # the kept rows are exactly the two planted groups the target resembles
    assert sorted(set(y[sel.keep].tolist())) == list(LIKE)
    assert sel.keep.sum() == 2 * PER
    # the score is indexed by the *source cluster*: members of one cluster share one value
    for c in np.unique(t.cluster):
        assert len(set(t.scores["dp4tl_fm"][t.cluster == c].tolist())) == 1


def test_counting_functions_by_hand():
    logits = np.array([[0.1, 2.0, 0.0], [3.0, 0.0, 0.0], [0.0, 5.0, 1.0], [1.0, 1.0, 0.0]])
    assert label_mapping_counts(logits, 3).tolist() == [2, 2, 0]  # a tie goes to the lowest class
    cents = np.array([[1, 0], [0, 1]], dtype=np.float32)
    counts, assign = feature_mapping_counts(cents, np.array([[2.0, 0.1], [0.1, 3.0], [5.0, 1.0]]))
    assert counts.tolist() == [2, 1] and assign.tolist() == [0, 1, 0]


def test_target_width_and_missing_target_are_refused():
    X, y, T = planted()
    ex = from_arrays(X, labels=y)
    for m in ("dp4tl_lm", "dp4tl_fm"):
        with pytest.raises(InputError, match="target data has 5 features per example but the source has 8"):
            score(ex, m, target=T[:, :5], **({"k": C} if m == "dp4tl_fm" else {"epochs": 1}))
        with pytest.raises(ConfigError, match="needs target="):
            score(ex, m, **({"k": C} if m == "dp4tl_fm" else {}))
    with pytest.raises(InputError, match="needs source labels"):
        score(from_arrays(X), "dp4tl_lm", target=T)


def test_cli_score_then_select(tmp_path, one_torch_thread):
    X, y, T = planted()
    np.save(tmp_path / "src.npy", X)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "tgt.npy", T)
    assert main(["data", "score", str(tmp_path / "src.npy"), "--labels", str(tmp_path / "y.npy"),
                 "-m", "dp4tl_lm", "--target", str(tmp_path / "tgt.npy"), "--epochs", "3",
                 "-o", str(tmp_path / "s.parquet"), "-q"]) == 0
    assert main(["data", "select", str(tmp_path / "s.parquet"), "-s", "dp4tl", "--keep", "0.3333",
                 "-o", str(tmp_path / "sel.parquet")]) == 0
    t = ScoreTable.read(tmp_path / "sel.parquet")
    assert sorted(set(t.labels[t.keep].tolist())) == list(LIKE)
    assert t.meta["scorers"][0]["params"]["target"] == str(tmp_path / "tgt.npy")
