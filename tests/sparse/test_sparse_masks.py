"""MaskManager: which tensors, apply() on weights and optimizer state, state_dict round trip."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from prunekit.errors import ConfigError, InputError
from prunekit.sparse.masks import MaskManager, prunable_weights

from sparse_helpers import TinyNet, lenet300


def test_selects_conv_and_linear_weights_never_biases_or_norms():
    mm = MaskManager(TinyNet())
    assert mm.names == ["conv.weight", "fc1.weight", "fc2.weight", "head.weight"]
    assert all(m.dtype == torch.bool and m.all() for m in mm.masks.values())
    assert mm.numel() == 4 * 9 + 256 * 32 + 32 * 16 + 16 * 3


def test_module_types_and_name_filters():
    net = TinyNet()
    assert list(prunable_weights(net, module_types=["Linear"])) == ["fc1.weight", "fc2.weight", "head.weight"]
    assert list(prunable_weights(net, include="fc*")) == ["fc1.weight", "fc2.weight"]
    assert list(prunable_weights(net, include=["fc2.weight"])) == ["fc2.weight"]
    assert list(prunable_weights(net, exclude="head")) == ["conv.weight", "fc1.weight", "fc2.weight"]
    assert list(prunable_weights(net, dense_first_last=True)) == ["fc1.weight", "fc2.weight"]


def test_no_prunable_layers_is_config_error():
    with pytest.raises(ConfigError, match="no prunable layers"):
        MaskManager(nn.Sequential(nn.ReLU(), nn.LayerNorm(3)))


def test_filter_matching_nothing_names_the_filter():
    with pytest.raises(ConfigError, match=r"include=\['attn\*'\] matched none.*fc1"):
        MaskManager(lenet300(), include="attn*")
    with pytest.raises(ConfigError, match="exclude"):
        MaskManager(lenet300(), exclude="fc*")
    with pytest.raises(ConfigError, match="dense_first_last leaves nothing"):
        MaskManager(nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2)), dense_first_last=True)
    with pytest.raises(ConfigError, match="unknown module type"):
        MaskManager(lenet300(), module_types=["Dense"])


def _half_masks(mm, seed=0):
    g = torch.Generator().manual_seed(seed)
    for n, p in mm.params.items():
        mm.set_mask(n, torch.rand(p.shape, generator=g) < 0.5)


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_apply_zeroes_weights_and_optimizer_state_but_not_gradients(opt_name):
    torch.manual_seed(0)
    net = TinyNet()
    mm = MaskManager(net)
    _half_masks(mm)
    opt = (torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9) if opt_name == "sgd"
           else torch.optim.Adam(net.parameters(), lr=1e-2))
    x, y = torch.randn(16, 64), torch.randint(0, 3, (16,))
    for _ in range(3):
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
        # the optimizer just moved masked weights (their gradient is dense): apply() re-zeroes
        moved = any(bool((p[~mm.masks[n]] != 0).any()) for n, p in mm.params.items())
        assert moved
        mm.apply(opt)
        keys = ["momentum_buffer"] if opt_name == "sgd" else ["exp_avg", "exp_avg_sq"]
        for n, p in mm.params.items():
            off = ~mm.masks[n]
            assert torch.all(p[off] == 0)
            for k in keys:
                assert torch.all(opt.state[p][k][off] == 0), (n, k)
                assert torch.any(opt.state[p][k][~off] != 0), (n, k)  # active state untouched
            # gradients stay dense: regrowth reads them at masked positions
            assert torch.any(p.grad[off] != 0)
        opt.zero_grad()


def test_state_dict_round_trip_reproduces_masks():
    a = MaskManager(lenet300(seed=0))
    _half_masks(a, seed=3)
    state = a.state_dict()
    b = MaskManager(lenet300(seed=1))
    b.load_state_dict(state)
    assert b.names == a.names
    for n in a.names:
        assert torch.equal(a.masks[n], b.masks[n])
    assert b.density() == a.density()
    # plain data: survives torch.save / torch.load with weights_only
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    c = MaskManager(lenet300())
    c.load_state_dict(torch.load(buf, weights_only=True))
    assert all(torch.equal(a.masks[n], c.masks[n]) for n in a.names)


def test_state_dict_from_another_model_is_readable_error():
    state = MaskManager(lenet300()).state_dict()
    with pytest.raises(InputError, match="different model.*conv.weight"):
        MaskManager(TinyNet()).load_state_dict(state)
    with pytest.raises(InputError, match=r"different model: the mask of fc1.weight has shape \(300, 784\), the model expects \(300, 64\)"):
        MaskManager(lenet300(dim=64)).load_state_dict(state)
    with pytest.raises(InputError, match="not a prunekit mask state_dict"):
        MaskManager(lenet300()).load_state_dict({"fc1.weight": torch.ones(300, 784)})


def test_set_mask_checks_shape_and_name():
    mm = MaskManager(lenet300())
    with pytest.raises(InputError, match="shape"):
        mm.set_mask("fc1.weight", torch.ones(3, 3))
    with pytest.raises(InputError, match="no mask named"):
        mm.set_mask("fc9.weight", torch.ones(3, 3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_masks_follow_the_parameter_device():  # pragma: no cover - no GPU on the CI machine
    net = lenet300()
    mm = MaskManager(net)
    _half_masks(mm)
    net.cuda()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    mm.apply(opt)
    assert all(m.device.type == "cuda" for m in mm.masks.values())
