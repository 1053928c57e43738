"""``prunekit.nn``, the training plumbing both pillars share: one model registry whose initial
weights are pinned to what each pillar's own code produced before, one evaluate, one device
resolver, one checkpoint format that still reads the two older ones, and the old import paths as
re-exports of the same objects."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import prunekit.data.train as data_train
import prunekit.data.train.models as data_models
import prunekit.data.train.trainer as data_trainer
import prunekit.nn as pnn
import prunekit.sparse.models as sparse_models
from prunekit.errors import ConfigError, InputError
from prunekit.nn import (DATA_MODELS, MODELS, SPARSE_MODELS, evaluate, load_checkpoint, make_model, predict_logits,
                         resolve_device, save_checkpoint)
from prunekit.nn.models import MODEL
from prunekit.nn.params import DEVICE, DIM, N_CLASSES, SEED, WIDTH
from prunekit.sparse import MaskManager, checkpoint_report, sparse_state_dict


def weights_hash(model) -> str:
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


# Computed with the code before the registry was merged: prunekit.data.train.models.make_model for
# mlp/cnn/linear, prunekit.sparse.models.make_model for the others. Key: name/dim/classes/seed/width.
PINNED = {
    "mlp/64/10/0/1": "8e06a89313dfce85", "mlp/784/10/0/2": "06fa04ef7636f17d",
    "cnn/64/10/0/1": "87f5bfbe6a907fbf", "cnn/784/10/0/2": "df16572601ec9368",
    "linear/64/3/0/1": "bd28a3e6c60a2471", "lenet300/784/10/0/1": "7f288af0cf05f1ea",
    "lenet300/64/10/0/1": "826c34ff2559ed9c", "lenet5/784/10/0/1": "a82f1669b2f1a334",
    "smallcnn/64/10/0/1": "af85dcfacc2bb5d0", "smallcnn/784/10/0/1": "6b621f14d4984219",
    "mlp/64/10/7/1": "49ae5b18b4306aec", "mlp/784/10/7/2": "c6d09aeffb38c03e",
    "cnn/64/10/7/1": "c68242f909580fb9", "cnn/784/10/7/2": "69455548a2bbfb63",
    "linear/64/3/7/1": "a204fba1412ed659", "lenet300/784/10/7/1": "be10568e67e04fde",
    "lenet300/64/10/7/1": "53384337230da35f", "lenet5/784/10/7/1": "3112df79e16ea10c",
    "smallcnn/64/10/7/1": "1bdf7ca3d68e5af9", "smallcnn/784/10/7/1": "91ba681c511e76f1",
}


# ----------------------------------------------------------------------------- the registry


@pytest.mark.parametrize("key", sorted(PINNED))
def test_initial_weights_are_byte_identical_to_the_pillars_old_code(key):
    name, dim, c, seed, width = key.split("/")
    assert weights_hash(make_model(name, int(dim), int(c), seed=int(seed), width=int(width))) == PINNED[key]


def test_every_model_is_pinned_and_the_families_split_the_registry():
    assert {k.split("/")[0] for k in PINNED} == set(MODELS)
    assert DATA_MODELS == ("mlp", "cnn", "linear") and SPARSE_MODELS == ("lenet300", "lenet5", "smallcnn")
    assert set(DATA_MODELS) | set(SPARSE_MODELS) == set(MODELS)


def test_sparse_family_leaves_the_global_random_state_alone():
    torch.manual_seed(123)
    a = torch.rand(3)
    torch.manual_seed(123)
    for name in SPARSE_MODELS:
        make_model(name, 784, 10, seed=5)
    assert torch.equal(torch.rand(3), a)


def test_cnn_and_smallcnn_are_the_same_layers_under_different_names_and_init():
    """What the registry's docstring says: same shapes, other names, weights √3 apart, same biases."""
    cnn, small = make_model("cnn", 64, 10, seed=0), make_model("smallcnn", 64, 10, seed=0)
    assert [tuple(p.shape) for p in cnn.parameters()] == [tuple(p.shape) for p in small.parameters()]
    assert set(cnn.state_dict()).isdisjoint(small.state_dict())
    for (name, a), b in zip(cnn.named_parameters(), small.parameters()):
        if name.endswith("weight"):
            assert torch.allclose(a, b * 3 ** 0.5, rtol=1e-5, atol=1e-7) and not torch.equal(a, b), name
        else:
            assert torch.equal(a, b), name
    x = torch.randn(2, 64)
    assert torch.equal(cnn(x), cnn.head(cnn.features(x)))  # the data family's interface
    assert not hasattr(small, "features")


def test_width_only_where_a_model_has_one():
    assert make_model("mlp", 64, 10, width=2).head.in_features == 256
    for name in ("linear", "lenet300"):
        with pytest.raises(ConfigError, match=f"model '{name}' has no width multiplier.*mlp, cnn.*got 2"):
            make_model(name, 64, 10, width=2)


@pytest.mark.parametrize("param, kwargs", [
    (MODEL, {}), (DIM, {}), (N_CLASSES, {}), (SEED, {}), (WIDTH, {}),
])
def test_make_model_bad_input_in_the_declared_wording(param, kwargs):
    good = {"model": "mlp", "dim": 64, "n_classes": 10, "seed": 0, "width": 1}
    for bad in param.invalid_examples():
        args = {**good, param.name: bad}
        with pytest.raises(ConfigError) as ei:
            make_model(args.pop("model"), args.pop("dim"), args.pop("n_classes"), **args)
        assert str(ei.value) == str(param.error(bad))


def test_old_import_paths_are_the_one_implementation():
    for name in ("make_model", "evaluate", "predict_logits", "resolve_device", "save_checkpoint", "load_checkpoint"):
        assert getattr(data_trainer, name) is getattr(pnn, name), name
        assert getattr(data_train, name, getattr(pnn, name)) is getattr(pnn, name), name
    assert data_models.make_model is sparse_models.make_model is pnn.make_model
    assert data_models.MODELS == DATA_MODELS and sparse_models.MODELS == SPARSE_MODELS


# ----------------------------------------------------------------------------- device, evaluation


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu") and resolve_device(torch.device("cpu")).type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ConfigError, match="unknown device 'tpu'; use cpu, cuda, cuda:N or auto"):
        resolve_device("tpu")
    for bad in DEVICE.invalid_examples():
        with pytest.raises(ConfigError) as ei:
            resolve_device(bad)
        assert str(ei.value) == str(DEVICE.error(bad))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_evaluate_takes_arrays_or_tensors_and_keeps_the_mode():
    g = np.random.default_rng(0)
    X = g.random((130, 64), dtype=np.float32)
    y = g.integers(0, 10, 130)
    net = make_model("lenet300", 64, 10, seed=1)
    net.train()
    a = evaluate(net, X, y, batch_size=50)
    b = evaluate(net, torch.from_numpy(X), torch.from_numpy(y), batch_size=50)
    assert a == b and net.training
    logits = predict_logits(net, X)
    assert a[0] == float((logits.argmax(1) == y).mean())
    assert a[1] == pytest.approx(float(torch.nn.functional.cross_entropy(torch.from_numpy(logits),
                                                                         torch.from_numpy(y))), rel=1e-6)


# ----------------------------------------------------------------------------- checkpoints


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_reads_the_old_data_format(tmp_path):
    """``{"prunekit_checkpoint": 1, ...}`` as ``prunekit.data.train.save_checkpoint`` wrote it."""
    net = make_model("mlp", 64, 10, seed=3, width=2)
    cfg = {"model": "mlp", "width": 2, "epochs": 1, "seed": 3, "dim": 64, "n_classes": 10, "kd_alpha": 0.0}
    p = tmp_path / "old_data.pt"
    torch.save({"prunekit_checkpoint": 1, "prunekit_version": "0.9.0", "config": cfg,
                "state_dict": net.state_dict()}, p)
    ck = load_checkpoint(p)
    model, config = ck  # the data pillar's (model, config)
    assert config == cfg and ck.format == "prunekit_checkpoint/1" and ck.masks is None and ck.metrics == {}
    assert _same_weights(model, net) and load_checkpoint(p)[1] is not None
    # the old format recorded a width for every model, also those without one
    lin = make_model("linear", 64, 10, seed=1)
    torch.save({"prunekit_checkpoint": 1, "config": {**cfg, "model": "linear"}, "state_dict": lin.state_dict()}, p)
    assert _same_weights(load_checkpoint(p).model, lin)


def test_reads_the_old_sparse_format(tmp_path):
    """``{"format": "prunekit.sparse.checkpoint/1", ...}`` as ``prunekit sparse train`` wrote it."""
    net = make_model("lenet300", 64, 10, seed=2)
    mm = MaskManager(net)
    g = torch.Generator().manual_seed(0)
    for n, w in mm.params.items():
        mm.set_mask(n, torch.rand(w.shape, generator=g) < 0.3)
    mm.apply()
    cfg = {"model": "lenet300", "data": "digits", "dim": 64, "n_classes": 10, "method": "rigl", "sparsity": 0.7,
           "epochs": 1, "seed": 2, "prunekit": "0.9.0"}
    metrics = {"test_accuracy": 0.5, "test_loss": 1.5, "density": mm.density(), "steps": 12, "seconds": 1.0,
               "history": []}
    p = tmp_path / "old_sparse.pt"
    torch.save({"format": "prunekit.sparse.checkpoint/1", "config": cfg, "state_dict": sparse_state_dict(net, mm),
                "masks": mm.state_dict(), "events": [{"t": 5, "event": "regrow"}], "metrics": metrics}, p)
    ck = load_checkpoint(p)
    assert ck.format == "prunekit.sparse.checkpoint/1" and ck.config == cfg and ck.metrics == metrics
    assert ck.events == [{"t": 5, "event": "regrow"}] and _same_weights(ck.model, net)
    back = MaskManager.from_state_dict(ck.model, ck.masks)
    assert all(torch.equal(back.masks[n], mm.masks[n]) for n in mm.masks)
    rep = checkpoint_report(p)
    assert rep.title == "rigl lenet300 on digits, sparsity target 0.7, test accuracy 50.00%"
    assert rep.totals["nonzeros"] == sum(mm.nonzeros().values())


def test_one_format_for_both_pillars_round_trips(tmp_path):
    # a data run: model + config
    data_run = SimpleNamespace(model=make_model("cnn", 64, 10, seed=4),
                               config={"model": "cnn", "width": 1, "dim": 64, "n_classes": 10})
    p = save_checkpoint(data_run, tmp_path / "d.pt")
    ck = load_checkpoint(p)
    assert ck.format == pnn.CHECKPOINT_FORMAT and _same_weights(ck.model, data_run.model) and ck.masks is None
    # a run with extra entries (what SparseRun gives): its state_dict replaces the model's
    net = make_model("smallcnn", 64, 10, seed=4)
    zeroed = {k: torch.zeros_like(v) for k, v in net.state_dict().items()}

    class Run:
        model, config = net, {"model": "smallcnn", "dim": 64, "n_classes": 10, "method": "dense"}

        def checkpoint_entries(self):
            return {"state_dict": zeroed, "events": [{"t": 1}], "metrics": {"test_accuracy": 1.0}}

    ck = load_checkpoint(save_checkpoint(Run(), tmp_path / "s.pt"))
    assert all(torch.all(v == 0) for v in ck.model.state_dict().values())
    assert ck.events == [{"t": 1}] and ck.metrics == {"test_accuracy": 1.0}
    assert sorted(q.name for q in tmp_path.iterdir()) == ["d.pt", "s.pt"]  # atomic: no temporary left
    with pytest.raises(InputError, match="lacks dim, n_classes"):
        save_checkpoint(SimpleNamespace(model=net, config={"model": "smallcnn"}), tmp_path / "x.pt")


def test_unreadable_and_foreign_files(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    with pytest.raises(InputError, match=r"is not a prunekit checkpoint \(not a readable torch checkpoint"):
        load_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(InputError, match="is not a prunekit checkpoint$"):
        load_checkpoint(other)
    wrong = tmp_path / "wrong.pt"
    torch.save({"format": pnn.CHECKPOINT_FORMAT, "config": {"model": "lenet300", "dim": 32, "n_classes": 10},
                "state_dict": make_model("lenet300", 64, 10).state_dict()}, wrong)
    with pytest.raises(InputError, match="weights do not fit model lenet300"):
        load_checkpoint(wrong)
    with pytest.raises(InputError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
