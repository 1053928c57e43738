"""Export to torch.nn.utils.prune and to a plain state_dict; per-layer report and FLOPs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.utils.prune  # noqa: F401  (submodule, used below)
from torch import nn

from prunekit.errors import ConfigError, InputError
from prunekit.sparse import MaskManager, layer_report, plot_report, report_totals, sparse_state_dict, to_torch_prune
from prunekit.nn import make_model

from sparse_helpers import lenet300


def half_masked(model, seed=0):
    mm = MaskManager(model)
    g = torch.Generator().manual_seed(seed)
    for n, p in mm.params.items():
        mm.set_mask(n, torch.rand(p.shape, generator=g) < 0.3)
    mm.apply()
    return mm


def test_export_to_torch_prune():
    net = lenet300(dim=64)
    mm = half_masked(net)
    x = torch.randn(5, 64)
    ref = net(x)
    names = to_torch_prune(net, mm)
    assert names == ["fc1.weight", "fc2.weight", "fc3.weight"]
    for n in ["fc1", "fc2", "fc3"]:
        mod = getattr(net, n)
        assert torch.equal(mod.weight_mask.bool(), mm.masks[f"{n}.weight"])
        assert torch.nn.utils.prune.is_pruned(mod)
    assert torch.allclose(net(x), ref)
    for n in ["fc1", "fc2", "fc3"]:
        torch.nn.utils.prune.remove(getattr(net, n), "weight")
    assert torch.all(net.fc1.weight[~mm.masks["fc1.weight"]] == 0)


def test_sparse_state_dict_has_exact_zeros_and_loads_anywhere():
    net = lenet300(dim=64)
    mm = half_masked(net)
    with torch.no_grad():  # as right after an optimizer step: masked weights moved off zero
        net.fc1.weight.add_(0.01)
    sd = sparse_state_dict(net, mm)
    assert torch.all(sd["fc1.weight"][~mm.masks["fc1.weight"]] == 0)
    assert torch.equal(sd["fc1.bias"], net.fc1.bias)
    fresh = lenet300(dim=64, seed=5)
    fresh.load_state_dict(sd)
    assert int((fresh.fc2.weight != 0).sum()) == int(mm.masks["fc2.weight"].sum())
    with pytest.raises(InputError, match="does not name"):
        sparse_state_dict(net, {"fc9.weight": torch.ones(1)})


def test_report_flops_for_lenet5_use_the_conv_output_size():
    net = make_model("lenet5", 784, 10)
    rows = layer_report(net, None, torch.zeros(3, 784))  # batch of 3: FLOPs are per example
    by = {r["layer"]: r for r in rows}
    # conv1: 6×1×5×5 weights at 28×28 outputs (padding 2); conv2: 16×6×5×5 at 10×10
    assert by["conv1"]["positions"] == 784 and by["conv1"]["flops_dense"] == 2 * 150 * 784
    assert by["conv2"]["positions"] == 100 and by["conv2"]["flops_dense"] == 2 * 2400 * 100
    assert by["fc1"]["flops_dense"] == 2 * 400 * 120 and by["fc1"]["positions"] == 1
    assert all(r["density"] == 1.0 for r in rows)
    # with masks: FLOPs scale with the active weights of each layer
    mm = half_masked(net)
    rows = layer_report(net, mm, torch.zeros(1, 784))
    by = {r["layer"]: r for r in rows}
    nnz = int(mm.masks["conv2.weight"].sum())
    assert by["conv2"]["nonzeros"] == nnz and by["conv2"]["flops"] == 2 * nnz * 100
    tot = report_totals(rows)
    assert tot["nonzeros"] == sum(mm.nonzeros().values())
    assert tot["flops"] == sum(r["flops"] for r in rows)
    # without an example input, conv FLOPs are unknown (not guessed)
    rows = layer_report(net, mm)
    assert {r["layer"]: r["flops"] for r in rows}["conv1"] is None
    assert report_totals(rows)["flops"] is None


def test_report_linear_on_sequences_counts_tokens():
    net = nn.Sequential(nn.Linear(8, 4))
    rows = layer_report(net, None, torch.zeros(2, 7, 8))
    assert rows[0]["positions"] == 7 and rows[0]["flops_dense"] == 2 * 32 * 7


def test_report_png(tmp_path):
    net = lenet300(dim=64)
    rows = layer_report(net, half_masked(net), torch.zeros(1, 64))
    out = tmp_path / "r.png"
    plot_report(rows, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.png"]  # no temporary file left behind
    with pytest.raises(InputError, match="does not exist"):
        plot_report(rows, tmp_path / "missing" / "r.png")


def test_report_errors():
    with pytest.raises(ConfigError, match="no Linear/Conv"):
        layer_report(nn.Sequential(nn.ReLU()))
    with pytest.raises(InputError, match="example_input"):
        layer_report(lenet300(dim=64), None, [1, 2, 3])
