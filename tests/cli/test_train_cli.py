"""``prunekit data train`` in-process: checkpoint + metrics on bundled digits, on an exported file with
a selection made by ``data score``/``select`` (honest cost: scoring seconds), RS2 with KD, and bad
input → exit 2, one ``error:`` line, nothing written."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from prunekit.cli import main
from prunekit.data import ScoreTable
from prunekit.data.train import evaluate, load_checkpoint
from prunekit.datasets import load

N_DIGITS = 1437


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run(args, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def metrics_of(ckpt: Path) -> dict:
    return json.loads(ckpt.with_name(ckpt.name + ".metrics.json").read_text())


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Teachers trained by these tests are cached in the test's own directory."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("PRUNEKIT_CACHE", str(cache))
    return cache


@pytest.fixture(scope="module")
def digits_files(tmp_path_factory):
    """digits train/test exported to Parquet, scored (prototypicality) and a 30% hardest selection;
    plus a selection made on the *test* export (360 rows)."""
    d = tmp_path_factory.mktemp("digits")
    train, test = d / "d.parquet", d / "t.parquet"
    scores, sel = d / "scores.parquet", d / "sel.parquet"
    test_scores, test_sel = d / "t_scores.parquet", d / "t_sel.parquet"
    for args in (
        ["datasets", "export", "digits", "-o", train],
        ["datasets", "export", "digits", "--split", "test", "-o", test],
        ["data", "score", train, "-m", "prototypicality", "-q", "-o", scores],
        ["data", "select", scores, "-s", "hardest", "--keep", 0.3, "-o", sel],
        ["data", "score", test, "-m", "random", "-q", "-o", test_scores],
        ["data", "select", test_scores, "-s", "random", "--keep", 0.5, "-o", test_sel],
    ):
        assert main([str(a) for a in args]) == 0, args
    return {"train": train, "test": test, "scores": scores, "sel": sel, "test_sel": test_sel}


def test_train_bundled_digits_writes_checkpoint_and_metrics(tmp_path, capsys):
    out = tmp_path / "m.pt"
    code, stdout, err = run(["data", "train", "digits", "--model", "mlp", "--epochs", 2, "-o", out], capsys)
    assert code == 0, err
    assert out.exists()
    m = metrics_of(out)
    for key in ("test_accuracy", "train_seconds", "scoring_seconds", "steps", "keep"):
        assert key in m, key
    assert m["keep"] == 1.0 and m["subset"] == "all"
    assert m["scoring_seconds"] == 0.0 and m["teacher_seconds"] == 0.0 and m["kd_alpha"] == 0.0
    assert m["train_seconds"] > 0
    assert m["steps"] == 2 * math.ceil(N_DIGITS / 128)
    assert m["examples_per_epoch"] == N_DIGITS
    assert len(m["history"]) == 2 and m["config"]["model"] == "mlp"
    # the metrics describe the checkpoint written: its accuracy on the fixed test split
    model, cfg = load_checkpoint(out)
    ds = load("digits")
    acc, _ = evaluate(model, ds.X_test, ds.y_test)
    assert acc == pytest.approx(m["test_accuracy"])
    assert 0.0 < m["test_accuracy"] <= 1.0
    assert "test accuracy" in stdout


def test_train_on_a_selection_reports_the_kept_fraction_and_scoring_cost(digits_files, tmp_path, capsys):
    out = tmp_path / "student.pt"
    code, stdout, err = run(["data", "train", digits_files["train"], "--selection", digits_files["sel"],
                             "--test", digits_files["test"], "--epochs", 2, "--budget", "epochs", "-o", out], capsys)
    assert code == 0, err
    m = metrics_of(out)
    sel = ScoreTable.read(digits_files["sel"])
    kept = int(sel.keep.sum())
    assert kept == round(0.3 * N_DIGITS)
    assert m["subset"] == "selection"
    assert m["keep"] == pytest.approx(kept / N_DIGITS)
    assert m["examples_per_epoch"] == kept
    assert m["steps"] == 2 * math.ceil(kept / 128)
    scoring = sum(r["seconds"] for r in sel.meta["scorers"])
    assert m["scoring_seconds"] > 0 and m["scoring_seconds"] == pytest.approx(scoring)
    assert m["test_accuracy"] is not None and 0 <= m["test_accuracy"] <= 1
    assert load_checkpoint(out)[1]["dim"] == 64

    # budget "steps" (the default, as in sweeps and plans): as many steps as full data, whatever the subset
    out2 = tmp_path / "steps.pt"
    code, _, err = run(["data", "train", digits_files["train"], "--selection", digits_files["sel"],
                        "--epochs", 2, "-o", out2], capsys)
    assert code == 0, err
    m2 = metrics_of(out2)
    assert m2["steps"] == 2 * math.ceil(N_DIGITS / 128)
    assert m2["test_accuracy"] is None  # no --test for a file


def test_train_rs2_with_kd_auto(tmp_path, capsys, private_cache):
    out = tmp_path / "rs2.pt"
    code, _, err = run(["data", "train", "digits", "--rs2", 0.3, "--kd-alpha", "auto", "--epochs", 2,
                        "--budget", "epochs", "-o", out], capsys)
    assert code == 0, err
    m = metrics_of(out)
    assert m["subset"] == "rs2" and m["keep"] == 0.3
    assert m["kd_alpha"] == pytest.approx(0.7)  # clip(1 - 0.3, 0.25, 0.9)
    assert m["examples_per_epoch"] == round(0.3 * N_DIGITS)
    assert m["steps"] == 2 * math.ceil(round(0.3 * N_DIGITS) / 128)
    assert m["teacher_seconds"] > 0
    assert m["history"][-1]["lr"] == pytest.approx(0.0, abs=1e-12)
    assert len(list(private_cache.glob("teacher-*.npy"))) == 1  # the teacher's logits were cached
    # a second student with the same teacher reuses the cached logits (same file, no new entry)
    out2 = tmp_path / "rs2b.pt"
    code, _, err = run(["data", "train", "digits", "--rs2", 0.2, "--kd-alpha", "auto", "--epochs", 2,
                        "-o", out2], capsys)
    assert code == 0, err
    assert metrics_of(out2)["kd_alpha"] == pytest.approx(0.8)
    assert len(list(private_cache.glob("teacher-*.npy"))) == 1


def test_train_with_a_teacher_checkpoint(tmp_path, capsys, private_cache):
    teacher = tmp_path / "teacher.pt"
    assert run(["data", "train", "digits", "--epochs", 1, "-o", teacher], capsys)[0] == 0
    out = tmp_path / "student.pt"
    code, _, err = run(["data", "train", "digits", "--rs2", 0.5, "--kd-alpha", 0.5, "--teacher", teacher,
                        "--epochs", 1, "-o", out], capsys)
    assert code == 0, err
    assert metrics_of(out)["kd_alpha"] == 0.5
    assert not list(private_cache.glob("teacher-*.npy"))  # a given teacher is not trained


def _bad_cases(files: dict, tmp: Path) -> dict[str, tuple[list, str]]:
    not_ckpt = tmp / "not_a_checkpoint.pt"
    not_ckpt.write_text("hello\n")
    return {
        "teacher-not-a-checkpoint": (["digits", "--kd-alpha", 0.5, "--teacher", not_ckpt],
                                     "not a prunekit checkpoint"),
        "kd-alpha-2": (["digits", "--kd-alpha", 2], "kd_alpha must be a number in [0, 1] or 'auto', got 2.0"),
        "kd-alpha-negative": (["digits", "--kd-alpha=-0.5"], "kd_alpha must be"),
        "kd-alpha-word": (["digits", "--kd-alpha", "lots"], "kd_alpha must be"),
        "ids-not-in-data": ([files["test"], "--selection", files["sel"]], "was made on different data"),
        "selection-and-rs2": (["digits", "--selection", files["sel"], "--rs2", 0.3], "not both"),
        "unknown-bundled-name": (["nosuchdata"], "neither a file nor a bundled data set"),
        "score-table-without-selection": ([files["train"], "--selection", files["scores"]], "no selection"),
        "unknown-model": (["digits", "--model", "resnet"], "model must be one of"),
        "unknown-optimizer": (["digits", "--optimizer", "lbfgs"], "optimizer must be one of 'sgd', 'adamw'"),
        "unknown-budget": (["digits", "--budget", "flops"], "budget must be one of 'epochs', 'steps'"),
        "rs2-out-of-range": (["digits", "--rs2", 1.5], "rs2_keep"),
        "test-dim-mismatch": ([files["train"], "--test", tmp / "narrow.npy", "--test-labels", tmp / "nl.npy"],
                              "features"),
    }


BAD = ["teacher-not-a-checkpoint", "kd-alpha-2", "kd-alpha-negative", "kd-alpha-word", "ids-not-in-data",
       "selection-and-rs2", "unknown-bundled-name", "score-table-without-selection", "unknown-model",
       "unknown-optimizer", "unknown-budget", "rs2-out-of-range", "test-dim-mismatch"]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_exit_2_one_line_nothing_written(case, digits_files, tmp_path, capsys, private_cache):
    np.save(tmp_path / "narrow.npy", np.zeros((5, 10), np.float32))
    np.save(tmp_path / "nl.npy", np.zeros(5, np.int64))
    args, needle = _bad_cases(digits_files, tmp_path)[case]
    out = tmp_path / "out" / "m.pt"
    out.parent.mkdir()
    code, _, err = run(["data", "train", *args, "--epochs", 1, "-o", out], capsys)
    assert code == 2, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert needle in lines[0], lines[0]
    assert "Traceback" not in err
    assert list(out.parent.iterdir()) == [], "a checkpoint or metrics file was written"
    if case.startswith("kd-alpha"):
        # refused before any teacher is trained
        assert not private_cache.exists() or not list(private_cache.glob("teacher-*"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present here")
def test_cuda_without_cuda_via_cli(tmp_path, capsys):
    out = tmp_path / "m.pt"
    code, _, err = run(["data", "train", "digits", "--device", "cuda", "--epochs", 1, "-o", out], capsys)
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "CUDA is not available" in lines[0], err
    assert not out.exists() and not out.with_name("m.pt.metrics.json").exists()


def test_selection_made_on_a_larger_file_is_refused(digits_files, tmp_path, capsys):
    """The selection of the 1437-row train export used with the 360-row test export: refused on
    the data identity, naming both row counts."""
    out = tmp_path / "m.pt"
    code, _, err = run(["data", "train", digits_files["test"], "--selection", digits_files["sel"], "-o", out],
                       capsys)
    assert code == 2
    assert "sel.parquet was made on different data than t.parquet: 1,437 rows vs 360" in err, err
    assert not out.exists()
    # a selection made on the test export itself works on it
    code, _, err = run(["data", "train", digits_files["test"], "--selection", digits_files["test_sel"],
                        "--epochs", 1, "-o", out], capsys)
    assert code == 0, err
    assert metrics_of(out)["keep"] == pytest.approx(0.5)


def test_selection_of_other_data_refused_unless_forced(digits_files, tmp_path, capsys, private_cache):
    """The issue's case: a selection made on a different 200-row file used with ``digits`` trained on
    the 60 ids the two share, without a word. Now: refused naming what differs; ``--force`` trains
    and records the mismatch. A selection made on the exported ``digits`` file *is* the bundled
    ``digits`` data (same rows, ids and values) and is accepted."""
    import pyarrow.parquet as pq

    small = tmp_path / "small.parquet"
    pq.write_table(pq.read_table(digits_files["train"]).slice(0, 200), small)
    for args in (["data", "score", small, "-m", "random", "-q", "-o", tmp_path / "s.parquet"],
                 ["data", "select", tmp_path / "s.parquet", "-s", "random", "--keep", 0.3, "-o", tmp_path / "sel.parquet"]):
        assert main([str(a) for a in args]) == 0
    out = tmp_path / "m.pt"
    code, _, err = run(["data", "train", "digits", "--selection", tmp_path / "sel.parquet", "--epochs", 1, "-o", out],
                       capsys)
    assert code == 2 and "sel.parquet was made on different data than digits: 200 rows vs 1,437" in err, err
    assert not out.exists()
    code, _, err = run(["data", "train", "digits", "--selection", tmp_path / "sel.parquet", "--epochs", 1, "--force",
                        "-o", out], capsys)
    assert code == 0, err
    assert "warning: the selection was made on different data (200 rows vs 1,437)" in err
    m = metrics_of(out)
    assert m["data_mismatch"]["selection"]["forced"] is True
    assert m["examples_per_epoch"] == 60
    # the exported file and the bundled set are the same data
    code, _, err = run(["data", "train", "digits", "--selection", digits_files["sel"], "--epochs", 1,
                        "-o", tmp_path / "ok.pt"], capsys)
    assert code == 0, err
    assert "data_mismatch" not in metrics_of(tmp_path / "ok.pt")
    assert metrics_of(tmp_path / "ok.pt")["data_identity"]["rows"] == N_DIGITS


def test_teacher_of_other_data_refused_unless_forced(digits_files, tmp_path, capsys, private_cache):
    teacher = tmp_path / "teacher.pt"
    code, _, err = run(["data", "train", digits_files["test"], "--epochs", 1, "-o", teacher], capsys)
    assert code == 0, err
    out = tmp_path / "m.pt"
    args = ["data", "train", digits_files["train"], "--kd-alpha", 0.5, "--teacher", teacher, "--epochs", 1, "-o", out]
    code, _, err = run(args, capsys)
    assert code == 2 and "teacher" in err and "was made on different data" in err, err
    assert not out.exists()
    code, _, err = run(args + ["--force"], capsys)
    assert code == 0, err
    assert metrics_of(out)["data_mismatch"]["teacher"]["forced"] is True


@pytest.mark.parametrize("target", ["data", "selection", "metrics"])
def test_train_output_never_replaces_an_input(target, digits_files, tmp_path, capsys, private_cache):
    import shutil

    data = shutil.copy(digits_files["train"], tmp_path / "d.parquet")
    sel = shutil.copy(digits_files["sel"], tmp_path / "sel.parquet")
    out = {"data": data, "selection": sel, "metrics": tmp_path / "x"}[target]
    if target == "metrics":  # <out>.metrics.json would replace the selection
        sel = shutil.copy(digits_files["sel"], tmp_path / "x.metrics.json")
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    code, _, err = run(["data", "train", data, "--selection", sel, "--epochs", 1, "-o", out], capsys)
    assert code == 2 and "refusing to write" in err, err
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before
