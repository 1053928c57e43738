"""Coverage-centric coreset selection: hard cutoff, equal-width bins, water-filled budget."""

from __future__ import annotations

import numpy as np
import pytest

from prunekit.data import ScoreTable, select
from prunekit.data.select.base import waterfill
from prunekit.errors import ConfigError, InputError


def table_of(scores: dict[str, np.ndarray], labels=None) -> ScoreTable:
    n = len(next(iter(scores.values())))
    return ScoreTable(ids=np.arange(n), labels=labels, scores=dict(scores),
                      meta={"directions": {c: "difficulty" for c in scores}})


@pytest.mark.parametrize("beta,keep", [(0.3, 0.2), (0.1, 0.5), (0.25, 0.75), (0.0, 0.4)])
def test_hard_cutoff_removes_exactly_the_hardest(beta, keep):
    rng = np.random.default_rng(0)
    s = rng.permutation(1000).astype(float)  # distinct scores: the hardest set is unambiguous
    out = select(table_of({"s": s}), "ccs", keep, beta=beta, bins=20)
    n_cut = round(beta * 1000)
    hardest = set(np.argsort(-s)[:n_cut].tolist())
    cut = {i for i, r in enumerate(out.reason) if r is not None and r.startswith("hard cutoff:")}
    assert cut == hardest
    assert not out.keep[sorted(hardest)].any()
    assert int(out.keep.sum()) == round(keep * 1000)


def test_cutoff_uses_its_own_score():
    rng = np.random.default_rng(1)
    s, margin = rng.random(500), rng.random(500)
    out = select(table_of({"s": s, "neg_margin": margin}), "ccs", 0.3, score="s",
                 cutoff_score="neg_margin", beta=0.2)
    cut = np.array([r is not None and r.startswith("hard cutoff:") for r in out.reason])
    assert set(np.flatnonzero(cut).tolist()) == set(np.argsort(-margin)[:100].tolist())
    assert "neg_margin" in out.reason[np.flatnonzero(cut)[0]]


def test_waterfill_by_hand():
    # visit order by size (ties by index): 4 (0), 0 (1), 2 (3), 5 (8), 3 (20), 1 (50)
    # 0 → min(0, 30//6)=0; 1 → min(1, 30//5)=1; 3 → min(3, 29//4)=3; 8 → min(8, 26//3)=8;
    # 20 → min(20, 18//2)=9; 50 → 9
    assert waterfill(np.array([1, 50, 3, 20, 0, 8]), 30).tolist() == [1, 9, 3, 9, 0, 8]
    assert waterfill(np.array([5, 5, 5]), 10).tolist() == [3, 3, 4]
    assert waterfill(np.array([2, 2]), 4).tolist() == [2, 2]
    with pytest.raises(InputError):
        waterfill(np.array([2, 2]), 5)


def binned_scores():
    """Scores on [0, 1] in 4 equal-width bins holding 2 / 10 / 5 / 30 members."""
    parts = [np.array([0.0, 0.1]), np.linspace(0.3, 0.45, 10), np.linspace(0.55, 0.7, 5),
             np.linspace(0.8, 1.0, 30)]
    s = np.concatenate(parts)
    bins = np.repeat(np.arange(4), [len(p) for p in parts])
    perm = np.random.default_rng(0).permutation(len(s))
    return s[perm], bins[perm]


def test_allocation_matches_hand_computed_example():
    s, b = binned_scores()
    out = select(table_of({"s": s}), "ccs", count=15, beta=0.0, bins=4)
    # bins of 2, 10, 5, 30 visited 2, 5, 10, 30 with 15 to place:
    # 2 → min(2, 15//4)=2; 5 → min(5, 13//3)=4; 10 → min(10, 9//2)=4; 30 → 5
    assert np.bincount(b[out.keep], minlength=4).tolist() == [2, 4, 4, 5]
    for r in np.flatnonzero(~out.keep):
        assert out.reason[r].startswith(f"bin quota: s bin {b[r]} of 4 keeps ")


def test_small_bins_are_taken_whole():
    rng = np.random.default_rng(2)
    # 10 bins: 6 sparse ones (1..6 members) and 4 crowded ones (200 each)
    sizes = [1, 2, 3, 4, 5, 6, 200, 200, 200, 200]
    s = np.concatenate([j / 10 + rng.uniform(0.01, 0.09, n) for j, n in enumerate(sizes)])
    s[0], s[-1] = 0.0, 1.0  # pin the range so bins are exactly [j/10, (j+1)/10)
    b = np.minimum((s * 10).astype(int), 9)
    assert np.bincount(b).tolist() == sizes
    out = select(table_of({"s": s}), "ccs", count=300, beta=0.0, bins=10)
    kept = np.bincount(b[out.keep], minlength=10)
    assert kept[:6].tolist() == sizes[:6]  # every sparse bin whole
    # 279 left for 4 bins of 200: 279//4 = 69, then 210//3 = 70, 140//2 = 70, 70
    assert kept[6:].tolist() == [69, 70, 70, 70]


def test_uniform_inside_bins_and_seeded():
    s, b = binned_scores()
    t = table_of({"s": s})
    picks = [select(t, "ccs", count=15, beta=0.0, bins=4, seed=seed).keep for seed in range(30)]
    assert all(np.array_equal(picks[0], select(t, "ccs", count=15, beta=0.0, bins=4, seed=0).keep)
               for _ in range(2))
    freq = np.mean(picks, axis=0)
    # inside the crowded bin every member gets picked sometimes (not the top of the bin only)
    assert (freq[b == 3] > 0).all()
    assert len({p.tobytes() for p in picks}) > 20


def test_constant_scores_one_bin():
    out = select(table_of({"s": np.full(50, 2.0)}), "ccs", count=10, beta=0.0, bins=5)
    assert out.keep.sum() == 10


def test_errors():
    t = table_of({"s": np.random.default_rng(0).random(100)})
    with pytest.raises(InputError, match="hard cutoff"):
        select(t, "ccs", 0.8, beta=0.3)  # 80 > 70 left after the cutoff
    with pytest.raises(ConfigError, match="bins"):
        select(t, "ccs", 0.3, bins=0)
    with pytest.raises(ConfigError, match="beta"):
        select(t, "ccs", 0.3, beta=1.0)
    with pytest.raises(ConfigError, match="beta"):
        select(t, "ccs", 0.3, beta=-0.1)
