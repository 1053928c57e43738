"""Bad checkpoint files and outputs that would replace an input: ``prunekit sparse report`` (and
``prunekit.nn.load_checkpoint`` under it) print one line naming the real problem, exit 2, and
write nothing."""

from __future__ import annotations

import os

import pytest
import torch

from prunekit.cli import main
from prunekit.errors import InputError
from prunekit.nn import load_checkpoint
from prunekit.sparse.sparsity_report import checkpoint_report


def run(args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A real sparse checkpoint (LeNet-300-100 on the 64 digits features, one epoch)."""
    from prunekit.sparse.train import train_sparse

    path = tmp_path_factory.mktemp("ck") / "good.pt"
    train_sparse("lenet300", "digits", method="magnitude", sparsity=0.9, epochs=1, show_progress=False, out=path)
    return path


def _variant(ckpt, tmp_path, name, change):
    payload = torch.load(ckpt, weights_only=True)
    change(payload)
    path = tmp_path / name
    torch.save(payload, path)
    return path


def _one_line_exit_2(args, capsys, tmp_path, *fragments):
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run(args, capsys)
    assert code == 2, (out, err)
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for f in fragments:
        assert f in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    return err


def test_wrong_shaped_weight_names_the_layer_and_both_shapes(ckpt, tmp_path, capsys):
    def shrink(p):
        p["state_dict"]["fc2.weight"] = torch.zeros(50, 300)

    bad = _variant(ckpt, tmp_path, "bad.pt", shrink)
    # torch's message is several lines; cutting it at the first one used to leave "...for MLP:"
    _one_line_exit_2(["sparse", "report", bad], capsys, tmp_path, "weights do not fit model lenet300",
                     "fc2.weight has shape (50, 300) in the file, the model expects (100, 300)")
    with pytest.raises(InputError, match=r"fc2\.weight has shape \(50, 300\) in the file, the model expects"):
        load_checkpoint(bad)


def test_missing_and_extra_weights_are_named(ckpt, tmp_path, capsys):
    def edit(p):
        del p["state_dict"]["fc3.bias"]
        p["state_dict"]["fc4.weight"] = torch.zeros(2, 2)

    bad = _variant(ckpt, tmp_path, "bad.pt", edit)
    _one_line_exit_2(["sparse", "report", bad], capsys, tmp_path, "missing: fc3.bias", "not in the model: fc4.weight")


def test_wrong_shaped_mask_names_the_file_the_layer_and_both_shapes(ckpt, tmp_path, capsys):
    def edit(p):
        p["masks"]["masks"]["fc2.weight"] = torch.ones(5, 5, dtype=torch.bool)

    bad = _variant(ckpt, tmp_path, "bad.pt", edit)
    _one_line_exit_2(["sparse", "report", bad], capsys, tmp_path, "bad.pt: mask state_dict was made for a "
                     "different model: the mask of fc2.weight has shape (5, 5), the model expects (100, 300)")


@pytest.mark.parametrize("case, fragment", [
    ("empty", "is an empty file (0 bytes), not a prunekit checkpoint"),
    ("text", "is not a prunekit checkpoint (not a readable torch checkpoint: not a file written by torch.save)"),
    ("truncated", "(not a readable torch checkpoint: a torch.save file, but corrupt or truncated)"),
    ("objects", "it holds Python objects besides tensors and plain data"),
    ("foreign", "is not a prunekit checkpoint"),
    ("no-config", "is not a usable prunekit checkpoint: its config lacks dim, n_classes"),
    ("no-weights", "is not a usable prunekit checkpoint: it has no state_dict of weights"),
    ("unknown-model", "names model 'resnet', which is not a prunekit model"),
    ("data-checkpoint", "is not a prunekit sparse checkpoint"),
    ("directory", "is a directory, expected a file"),
    ("missing", "does not exist"),
])
def test_bad_checkpoint_files(ckpt, tmp_path, capsys, case, fragment):
    src = tmp_path / "src"
    src.mkdir()
    path = src / f"{case}.pt"
    good = ckpt.read_bytes()
    payload = torch.load(ckpt, weights_only=True)
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("not a checkpoint")  # torch reads this as a legacy pickle and fails "weights only"
    elif case == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif case == "objects":
        torch.save({"format": payload["format"], "x": torch.optim.SGD}, path)
    elif case == "foreign":
        torch.save({"state_dict": payload["state_dict"]}, path)
    elif case == "no-config":
        torch.save({**payload, "config": {"model": "lenet300"}}, path)
    elif case == "no-weights":
        torch.save({**payload, "state_dict": None}, path)
    elif case == "unknown-model":
        torch.save({**payload, "config": {**payload["config"], "model": "resnet"}}, path)
    elif case == "data-checkpoint":
        torch.save({**payload, "config": {k: v for k, v in payload["config"].items() if k != "method"}}, path)
    elif case == "directory":
        path.mkdir()
    err = _one_line_exit_2(["sparse", "report", path, "--png", tmp_path / "r.png"], capsys, tmp_path, fragment)
    assert "Traceback" not in err


def test_report_never_writes_over_its_checkpoint(ckpt, tmp_path, capsys):
    ck = tmp_path / "run.pt"
    ck.write_bytes(ckpt.read_bytes())
    before = ck.read_bytes()
    err = _one_line_exit_2(["sparse", "report", ck, "--png", ck], capsys, tmp_path, f"refusing to write {ck}",
                           f"it is the checkpoint {ck}")
    assert "output never replaces an input" in err
    link = tmp_path / "link.png"
    os.symlink(ck, link)
    _one_line_exit_2(["sparse", "report", ck, "--png", link], capsys, tmp_path, "it is the checkpoint")
    assert ck.read_bytes() == before
    with pytest.raises(InputError, match="it is the checkpoint"):
        checkpoint_report(ck, png=ck)
    # a different name is fine, and written atomically (no temporary left behind)
    code, out, err = run(["sparse", "report", ck, "--png", tmp_path / "r.png"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.png", "r.png", "run.pt"]
    assert ck.read_bytes() == before
