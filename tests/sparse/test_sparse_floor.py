"""The per-layer floor of global selection (docs/ALGORITHMS.md §5.4): no method prunes a layer to
nothing, the target is still met exactly, and an unreachable target is refused up front."""

from __future__ import annotations

import pytest
import torch

from prunekit.errors import ConfigError, InputError
from prunekit.nn import make_model
from prunekit.sparse import criteria, make_sparsifier
from prunekit.sparse.criteria import floor_count, global_magnitude_masks, kept_count, layer_floor

GLOBAL = ["magnitude", "gmp", "granet", "granet_s2s", "snip", "lth"]
#: (model, sparsity): both LeNets at 98-99.5 %; every one of these empties a layer without the floor
CASES = [("lenet5", 0.98), ("lenet5", 0.995), ("lenet300", 0.995)]


def _train(method, model, sparsity, *, steps=30, seed=0, check=None):
    """A short run on random 28×28 inputs (the floor is about selection, not accuracy); ``check``
    sees the sparsifier after every step. Returns the sparsifier."""
    torch.manual_seed(seed)
    net = make_model(model, 784, 10, seed=seed)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(seed)
    X, y = torch.rand(steps, 16, 784, generator=g), torch.randint(0, 10, (steps, 16), generator=g)
    kw = {"total_steps": steps, "seed": seed}
    if method in ("gmp", "granet", "granet_s2s", "rigl", "set"):
        kw["delta_t"] = 5
    if method == "snip":
        kw["batch"] = (X[0], y[0])
    sp = make_sparsifier(method, net, opt, sparsity, **kw)
    for t in range(steps):
        torch.nn.functional.cross_entropy(net(X[t]), y[t]).backward()
        opt.step()
        sp.step()
        opt.zero_grad(set_to_none=True)
        if check is not None:
            check(sp)
    return sp


def _below_floor(sp) -> dict:
    shapes = sp.masks.shapes()
    return {n: c for n, c in sp.masks.nonzeros().items() if c < layer_floor(shapes[n])}


@pytest.mark.parametrize("model,sparsity", CASES)
@pytest.mark.parametrize("method", GLOBAL)
def test_global_methods_keep_every_layer_at_or_above_its_floor(method, model, sparsity):
    seen = []
    sp = _train(method, model, sparsity, check=lambda s: seen.append(_below_floor(s)))
    assert all(not b for b in seen), [b for b in seen if b][:1]   # at every step, not only at the end
    numel = sp.masks.numel()
    assert sum(sp.masks.nonzeros().values()) == kept_count(1 - sparsity, numel)  # the target, exactly
    assert abs(sp.density() - (1 - sparsity)) <= 1 / numel


@pytest.mark.parametrize("method,model,sparsity", [(m, *c) for m in GLOBAL for c in CASES
                                                   if (m, *c) != ("snip", "lenet5", 0.98)])
def test_without_the_floor_these_runs_empty_a_layer(method, model, sparsity, monkeypatch):
    # The cases above are ones where the floor binds (all but SNIP on LeNet-5 at 98 %, which keeps
    # every layer above it on its own): with it removed, a layer falls below it (most go to zero),
    # so the test above fails if the floor is taken out.
    real = {}
    monkeypatch.setattr(criteria, "layer_floor", lambda shape: 0)
    sp = _train(method, model, sparsity, check=lambda s: real.update(
        {n: min(real.get(n, c), c) for n, c in s.masks.nonzeros().items()}))
    monkeypatch.undo()
    shapes = sp.masks.shapes()
    assert any(real[n] < layer_floor(shapes[n]) for n in real)


@pytest.mark.parametrize("method", ["rigl", "set"])
def test_regrowth_never_changes_a_layer_count(method):
    # RigL/SET allocate per layer (ERK, at least 1 weight each) and drop-and-regrow keeps counts.
    counts = []
    _train(method, "lenet5", 0.995, check=lambda s: counts.append(dict(s.masks.nonzeros())))
    assert all(c == counts[0] for c in counts) and min(counts[0].values()) >= 1


def test_a_layer_held_at_its_floor_feeds_every_unit_and_the_rest_is_global_top_k():
    g = torch.Generator().manual_seed(0)
    w = {"big": torch.randn(8, 20, generator=g), "tiny": 1e-3 * torch.randn(5, 4, 3, generator=g)}
    m = {n: torch.ones_like(t, dtype=torch.bool) for n, t in w.items()}
    out = global_magnitude_masks(w, m, 20)
    assert int(out["big"].sum()) + int(out["tiny"].sum()) == 20
    # plain global top-k would leave "tiny" empty; held at its floor it keeps the best weight of
    # each of its 5 output channels
    tiny = out["tiny"].reshape(5, -1)
    assert tiny.sum(dim=1).tolist() == [1] * 5
    assert tiny[torch.arange(5), w["tiny"].abs().reshape(5, -1).argmax(dim=1)].all()
    # the other 15 are the largest |w| of the other layer
    big = w["big"].abs().flatten()
    assert torch.equal(out["big"].flatten(), big >= big.sort(descending=True).values[14])


def test_a_one_dimensional_tensor_has_a_floor_of_one_and_masks_never_reactivate():
    w = {"a": torch.tensor([[5.0, 0.5], [1.0, 2.0]]), "v": torch.tensor([0.01, 0.02, 0.03])}
    m = {"a": torch.tensor([[True, True], [False, True]]), "v": torch.tensor([True, True, False])}
    out = global_magnitude_masks(w, m, 3)   # plain top-3 would be 5, 2, 0.5 and leave "v" empty
    assert out["a"].tolist() == [[True, False], [False, True]] and out["v"].tolist() == [False, True, False]


def test_when_no_layer_falls_short_it_is_the_plain_global_top_k():
    g = torch.Generator().manual_seed(1)
    w = {"a": torch.randn(10, 30, generator=g), "b": torch.randn(20, 10, generator=g)}
    m = {n: torch.ones_like(t, dtype=torch.bool) for n, t in w.items()}
    out = global_magnitude_masks(w, m, 250)
    flat = torch.cat([w["a"].abs().flatten(), w["b"].abs().flatten()])
    assert torch.equal(torch.cat([out["a"].flatten(), out["b"].flatten()]),
                       flat >= flat.sort(descending=True).values[249])


def test_selection_below_the_floors_raises():
    w = {"a": torch.randn(4, 3), "b": torch.randn(2, 5)}
    m = {n: torch.ones_like(t, dtype=torch.bool) for n, t in w.items()}
    with pytest.raises(InputError, match="floors .* need 6 of the 22"):
        global_magnitude_masks(w, m, 5)


@pytest.mark.parametrize("method", GLOBAL)
def test_an_unreachable_target_is_refused_up_front(method):
    # LeNet-300-100: floor 300 + 100 + 10 = 410 of 266,200 weights → at most 0.9984 sparse
    net = make_model("lenet300", 784, 10, seed=0)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    before = [p.detach().clone() for p in net.parameters()]
    kw = {"total_steps": 100, "batch": (torch.rand(4, 784), torch.tensor([0, 1, 2, 3]))} if method == "snip" \
        else {"total_steps": 100}
    with pytest.raises(ConfigError) as e:
        make_sparsifier(method, net, opt, 0.999, **kw)
    msg = str(e.value)
    assert "sparsity 0.999" in msg and "410 of the 266,200" in msg and "highest reachable sparsity is 0.9984" in msg
    assert "\n" not in msg
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))  # nothing was pruned
    assert not opt._optimizer_step_post_hooks  # and no hook left behind


def test_the_highest_reachable_sparsity_is_reached_with_every_layer_at_its_floor():
    net = make_model("lenet300", 784, 10, seed=0)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    sp = make_sparsifier("magnitude", net, opt, 0.9984, prune_step=0)
    shapes = sp.masks.shapes()
    assert floor_count(shapes) == 410 and kept_count(1 - 0.9984, sp.masks.numel()) == 426
    nz = sp.masks.nonzeros()
    assert sum(nz.values()) == 426 and all(nz[n] >= layer_floor(s) for n, s in shapes.items())
    for n, mask in sp.masks.masks.items():  # every output unit still receives an input
        assert mask.reshape(mask.shape[0], -1).any(dim=1).all(), n


def test_layer_scope_and_random_starts_are_not_refused():
    # per-layer allocations never go below one weight per layer and are not global selections
    net = make_model("lenet300", 784, 10, seed=0)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    sp = make_sparsifier("magnitude_layer", net, opt, 0.999, prune_step=0)
    assert min(sp.masks.nonzeros().values()) >= 1
