"""The fast CPU selection must agree with the torch.topk reference; drop-and-regrow counts."""

from __future__ import annotations

import pytest
import torch

from prunekit.errors import InputError
from prunekit.sparse.criteria import drop_and_regrow, global_magnitude_masks, topk_mask


def reference(scores, k, candidates=None):
    flat = scores.reshape(-1).clone().float()
    if candidates is not None:
        flat[~candidates.reshape(-1)] = -float("inf")
    out = torch.zeros(flat.numel(), dtype=torch.bool)
    out[torch.topk(flat, k).indices] = True
    return out.reshape(scores.shape)


@pytest.mark.parametrize("k", [0, 1, 7, 500, 1500, 2999, 3000])
@pytest.mark.parametrize("with_candidates", [False, True])
def test_topk_mask_matches_torch_topk(k, with_candidates):
    g = torch.Generator().manual_seed(k)
    scores = torch.randn(50, 60, generator=g)  # continuous: no ties
    cand = torch.rand(50, 60, generator=g) < 0.7 if with_candidates else None
    n_cand = 3000 if cand is None else int(cand.sum())
    if k > n_cand:
        with pytest.raises(InputError, match="cannot choose"):
            topk_mask(scores, k, candidates=cand)
        return
    got = topk_mask(scores, k, candidates=cand)
    assert int(got.sum()) == k
    assert torch.equal(got, reference(scores, k, cand))
    if cand is not None:
        assert not torch.any(got & ~cand)


def test_topk_mask_ties_exact_count_lowest_index_first():
    scores = torch.tensor([1.0, 3.0, 2.0, 2.0, 2.0, 0.0])
    assert topk_mask(scores, 3).tolist() == [False, True, True, True, False, False]
    assert topk_mask(torch.zeros(5), 2).tolist() == [True, True, False, False, False]


def test_drop_and_regrow_counts_and_choices():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(40, 50, generator=g)
    mask = torch.rand(40, 50, generator=g) < 0.2
    w = w * mask
    grad = torch.randn(40, 50, generator=g)
    n = 37
    new, dropped, grown = drop_and_regrow(w, mask, n, grad=grad)
    assert int(new.sum()) == int(mask.sum())
    assert int(dropped.sum()) == int(grown.sum()) <= n
    # dropped are the smallest |w| among the active ones
    act = w.abs()[mask]
    thr = act.sort().values[n - 1]
    assert torch.all(w.abs()[mask & ~new] <= thr)
    # grown are the largest |grad| among positions free after the drop
    free = ~(mask & ~reference_drop(w, mask, n))
    best = grad.abs()[free].sort(descending=True).values[n - 1]
    assert torch.all(grad.abs()[grown] >= best)


def reference_drop(w, mask, n):
    scores = torch.where(mask, -w.abs(), torch.full_like(w, -float("inf")))
    return reference(scores, n)  # the n smallest |w| among active


def test_global_magnitude_never_reactivates():
    w = {"a": torch.tensor([[5.0, 0.0], [1.0, 2.0]]), "b": torch.tensor([3.0, 4.0, 0.5])}
    m = {"a": torch.tensor([[True, False], [True, True]]), "b": torch.tensor([True, True, False])}
    out = global_magnitude_masks(w, m, 4)
    # the plain global top-4 (5, 4, 3, 2): no layer falls below its floor (2 rows of "a", 1 for "b")
    assert out["a"].tolist() == [[True, False], [False, True]] and out["b"].tolist() == [True, True, False]
    out = global_magnitude_masks(w, m, 100)  # clamped to the 5 active
    assert all(torch.equal(out[k], m[k]) for k in m)


@pytest.mark.parametrize("k", [1, 50, 2_000, 9_000, 40_000])
@pytest.mark.parametrize("kind", ["continuous", "ties", "candidates"])
def test_prefiltered_selection_on_large_layers_matches_torch_topk(k, kind):
    # Large enough for the sampled pre-filter (≥ 32k values, k ≤ n/8); ties at the threshold must
    # still go to the lowest index, exactly as without the pre-filter.
    g = torch.Generator().manual_seed(k)
    n = 300 * 784 // 3
    scores = torch.randn(n, generator=g)
    cand = None
    if kind == "ties":
        scores = torch.round(scores * 4) / 4          # few distinct values: many ties
    if kind == "candidates":
        cand = torch.rand(n, generator=g) < 0.9
    got = topk_mask(scores, k, candidates=cand)
    assert int(got.sum()) == k
    if kind == "ties":
        thr = scores.sort(descending=True).values[k - 1]
        above = scores > thr
        tied = torch.nonzero(scores == thr).flatten()[: k - int(above.sum())]
        want = above.clone()
        want[tied] = True
        assert torch.equal(got, want)
    else:
        assert torch.equal(got, reference(scores, k, cand))
