"""``prunekit sparse train`` / ``report`` in-process: a tiny real run, and bad input → exit 2 with
one ``error:`` line and nothing written."""

from __future__ import annotations

import pytest
import torch

from prunekit.cli import main
from prunekit.nn import load_checkpoint
from prunekit.sparse import MaskManager
from prunekit.sparse.train import TRAIN_SPARSE_PARAMS


def run(args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_and_report_smoke_on_digits(tmp_path, capsys):
    ck = tmp_path / "rigl.pt"
    code, out, err = run(["sparse", "train", "--data", "digits", "--model", "lenet300", "--method", "rigl",
                          "--sparsity", 0.9, "--epochs", 1, "--delta-t", 5, "--seed", 1, "-q", "-o", ck], capsys)
    assert code == 0, err
    assert "test accuracy" in out and "density 0.1000" in out
    c = load_checkpoint(ck)
    assert c.config["method"] == "rigl" and c.config["seed"] == 1 and c.config["epochs"] == 1
    assert c.config["data"] == "digits" and c.metrics["steps"] == 12  # ceil(1437 / 128)
    mm = MaskManager.from_state_dict(c.model, c.masks)
    assert mm.density() == pytest.approx(0.1, abs=1e-4)
    for n, m in mm.masks.items():  # the checkpoint's weights hold exact zeros where masked
        assert torch.all(c.model.get_parameter(n)[~m] == 0)
    assert 0.0 <= c.metrics["test_accuracy"] <= 1.0
    assert any(e["event"] == "regrow" for e in c.events)

    png = tmp_path / "r.png"
    code, out, err = run(["sparse", "report", ck, "--png", png], capsys)
    assert code == 0, err
    assert "fc1" in out and "total" in out and "theoretical forward FLOPs" in out
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_train_cnn_on_8x8_digits(tmp_path, capsys):
    ck = tmp_path / "cnn.pt"
    code, out, err = run(["sparse", "train", "--data", "digits", "--model", "smallcnn", "--method", "granet",
                          "--sparsity", 0.5, "--epochs", 1, "--delta-t", 4, "-q", "-o", ck], capsys)
    assert code == 0, err
    code, out, err = run(["sparse", "report", ck], capsys)
    assert code == 0 and "conv1" in out and "Conv2d" in out


P = TRAIN_SPARSE_PARAMS


@pytest.mark.parametrize("args, message", [
    (["--sparsity", 1.0], str(P["sparsity"].error(1.0))),
    (["--sparsity", -0.5], str(P["sparsity"].error(-0.5))),
    (["--method", "granett"], str(P["method"].error("granett"))),
    (["--model", "lenet5"], "lenet5 is defined for 28×28 images"),
    (["--model", "resnet"], str(P["model"].error("resnet"))),
    (["--data", "cifar"], str(P["data"].error("cifar"))),
    (["--epochs", 0], str(P["epochs"].error(0))),
    (["--lr", 0], str(P["lr"].error(0.0))),
    (["--delta-t", 0], str(P["delta_t"].error(0))),
    (["--batch-size", -3], str(P["batch_size"].error(-3))),
    (["--device", "tpu"], "unknown device"),
    (["--include", "conv*"], "name filter include=['conv*'] matched none of the Linear/Conv1d/Conv2d/Conv3d layers (fc1, fc2, fc3)"),
    (["--exclude", "fc*"], "excluded every"),
    (["--method", "dense", "--dense-first-last"], "method 'dense' has none"),
    # LeNet-300-100 on 64 features: the per-layer floor is 300 + 100 + 10 of 50,200 weights
    (["--method", "lth", "--sparsity", 0.999], "sparsity 0.999 is out of reach for lth on this model: each "
     "globally pruned layer keeps at least one weight per output unit, a floor of 410 of the 50,200 sparsified "
     "weights; the highest reachable sparsity is 0.9918"),
])
def test_train_bad_input_exit_2_one_line(tmp_path, capsys, args, message):
    ck = tmp_path / "x.pt"
    code, out, err = run(["sparse", "train", "--data", "digits", "--method", "rigl", "-q", "-o", ck, *args], capsys)
    assert code == 2
    assert err.startswith("error: ") and err.strip().count("\n") == 0, err
    assert message in err
    assert list(tmp_path.iterdir()) == []


def test_train_help_lists_valid_values_and_defaults(capsys):
    code, out, _ = run(["sparse", "train", "--help"], capsys)
    assert code == 0
    text = " ".join(out.replace("│", " ").split())  # Rich wraps the help into a box
    for name in ("lenet300", "lenet5", "smallcnn", "mnist5k", "digits", "optdigits", "penbased",
                 "dense", "magnitude_layer", "granet_s2s", "lth"):
        assert f"'{name}'" in text, name
    assert "rotten_tomatoes" not in text  # its features need an embedding model run
    for fragment in ("default: lenet300", "default: granet", "default: 0.9", "default: 0.1", "default: 100",
                     "an integer ≥ 1", "a number in [0, 1)"):
        assert fragment in text, fragment


def test_bad_paths_exit_2(tmp_path, capsys):
    code, _, err = run(["sparse", "train", "--data", "digits", "-o", tmp_path / "no" / "x.pt"], capsys)
    assert code == 2 and "does not exist" in err and err.count("\n") == 1
    code, _, err = run(["sparse", "report", tmp_path / "missing.pt"], capsys)
    assert code == 2 and "does not exist" in err
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    code, _, err = run(["sparse", "report", junk], capsys)
    assert code == 2 and "not a readable torch checkpoint" in err and err.count("\n") == 1
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    code, _, err = run(["sparse", "report", other], capsys)
    assert code == 2 and "not a prunekit checkpoint" in err


def test_layer_selection_and_foreign_masks(tmp_path, capsys):
    ck = tmp_path / "mid.pt"
    code, out, err = run(["sparse", "train", "--data", "digits", "--method", "magnitude", "--sparsity", 0.5,
                          "--epochs", 1, "--dense-first-last", "-q", "-o", ck], capsys)
    assert code == 0, err
    c = load_checkpoint(ck)
    assert MaskManager.from_state_dict(c.model, c.masks).names == ["fc2.weight"]  # fc1 and fc3 kept dense
    assert c.config["method_options"] == {"dense_first_last": True}
    code, out, err = run(["sparse", "report", ck], capsys)
    assert code == 0 and "fc1" in out  # dense layers are still reported
    # a checkpoint whose masks were made for another model: one readable line, exit 2
    from prunekit.nn import make_model

    payload = torch.load(ck, weights_only=True)
    payload["masks"] = MaskManager(make_model("lenet300", 784, 10)).state_dict()
    torch.save(payload, ck)
    code, out, err = run(["sparse", "report", ck], capsys)
    assert code == 2 and "made for a different model" in err and err.count("\n") == 1
