"""Issue 14, items 1–3: the user's recipe in sweeps and the planner (a model factory, AdamW, the
teacher's own recipe, per-method selector settings, standardisation), portable and safe resume
(a moved folder, ``--force``, a folder of an older prunekit), and logs for files (a line per cell,
tables as wide as their content, ``--json``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from prunekit.cli import main
from prunekit.data.experiment import SweepConfig, run_sweep
from prunekit.data.experiment.sweep_config import cell_digest, cells
from prunekit.errors import ConfigError

# A user's factory: records every call (dim, n_classes, seed) in calls.txt beside it.
NETS = '''
from pathlib import Path
import torch.nn as nn

def make(dim, n_classes, seed):
    with open(Path(__file__).with_name("calls.txt"), "a") as fh:
        fh.write(f"{dim} {n_classes} {seed}\\n")
    return nn.Sequential(nn.Linear(dim, 48), nn.ReLU(), nn.Linear(48, n_classes))
'''

BASE = """
data = "{data}"
{files}
methods = {methods}
keep = {keep}
seeds = 1
kd = [{kd}]
epochs = {epochs}
"""


def write_nets(folder: Path, name: str) -> str:
    (folder / f"{name}.py").write_text(NETS)
    return f"{name}:make"


def write_cfg(path: Path, *, data: str = "digits", files: str = "", kd: str = "false", extra: str = "",
              methods: str = '["random"]', keep: str = "[0.5, 1.0]", epochs: int = 2) -> Path:
    path.write_text(BASE.format(data=data, files=files, kd=kd, methods=methods, keep=keep, epochs=epochs) + extra)
    return path


def rows_of(res) -> dict:
    return {(r["method"], r["keep"], r["kd"]): r for r in res.rows}


@pytest.fixture(scope="module")
def digits_files(tmp_path_factory):
    """digits as .npy files with a labels file each, in a folder of their own."""
    from prunekit.datasets import load

    d = tmp_path_factory.mktemp("digits-files")
    ds = load("digits")
    for name, X, y in (("train", ds.X_train, ds.y_train), ("test", ds.X_test, ds.y_test)):
        np.save(d / f"{name}.npy", X)
        np.save(d / f"{name}_y.npy", y)
    return d


FILES = 'labels = "train_y.npy"\ntest = "test.npy"\ntest_labels = "test_y.npy"'


# ----------------------------------------------------------------------------- the recipe


def test_user_factory_with_adamw_runs_and_its_cells_differ_from_sgd(tmp_path, capsys):
    model = write_nets(tmp_path, "pk14_nets_adamw")
    sgd = write_cfg(tmp_path / "sgd.toml", extra=f'model = "{model}"\n')
    adamw = write_cfg(tmp_path / "adamw.toml", extra=f'model = "{model}"\noptimizer = "adamw"\nlr = 0.003\n'
                                                      'weight_decay = 0.01\nschedule = "onecycle"\n')
    code = main(["data", "sweep", str(adamw), "-o", str(tmp_path / "a"), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    doc = json.loads(out.out)  # stdout is exactly one JSON document
    assert (doc["total"], doc["ran"]) == (2, 2) and {s["method"] for s in doc["summary"]} == {"full", "random"}
    calls = (tmp_path / "calls.txt").read_text().split("\n")
    assert "64 10 0" in calls  # the factory built the models: digits has 64 features and 10 classes
    res_a = run_sweep(adamw, tmp_path / "a", show_progress=False)
    assert res_a.ran == 0
    res_s = run_sweep(sgd, tmp_path / "s", show_progress=False)
    a, s = rows_of(res_a), rows_of(res_s)
    assert a.keys() == s.keys()
    for k in a:  # same model, same data and steps; only the optimizer recipe differs
        assert a[k]["steps"] == s[k]["steps"]
        assert a[k]["loss"] != s[k]["loss"]
    assert res_a.rows[0]["config_hash"] != res_s.rows[0]["config_hash"]
    settings = json.loads((tmp_path / "a" / "sweep.json").read_text())["settings"]
    assert settings["optimizer"] == "adamw" and settings["model"] == model and settings["schedule"] == "onecycle"


def test_teacher_recipe_and_selector_settings_change_only_their_cells(tmp_path):
    base = write_cfg(tmp_path / "a.toml", kd="false, true", methods='["random", "el2n"]',
                     extra="proxy_runs = 1\nproxy_epochs = 1\n")
    cfg = SweepConfig.from_toml(base)
    bigger = SweepConfig.from_dict(dict(cfg.to_dict(), teacher={"width": 2, "epochs": 3}))
    easy = SweepConfig.from_dict(dict(cfg.to_dict(), select={"el2n": {"direction": "easiest"}}))
    assert bigger.teacher_config()["width"] == 2 and bigger.teacher_config()["lr"] == cfg.lr  # the rest: student's
    for c in cells(cfg):
        same_t = cell_digest(cfg.settings(), c) == cell_digest(bigger.settings(), c)
        same_s = cell_digest(cfg.settings(), c) == cell_digest(easy.settings(), c)
        assert same_t == (not c.kd), c
        assert same_s == (c.method != "el2n"), c
    res = run_sweep(easy, tmp_path / "easy", show_progress=False)
    hard = run_sweep(cfg, tmp_path / "hard", show_progress=False)
    e, h = rows_of(res), rows_of(hard)
    assert e[("random", 0.5, False)]["accuracy"] == h[("random", 0.5, False)]["accuracy"]
    assert e[("el2n", 0.5, False)]["kept_per_class"] != h[("el2n", 0.5, False)]["kept_per_class"]


def test_data_train_takes_the_same_recipe(tmp_path, capsys, monkeypatch):
    from prunekit.data.experiment.sweep_config import SWEEP_PARAMS
    from prunekit.data.train import TRAIN_PARAMS

    assert TRAIN_PARAMS["budget"].default == SWEEP_PARAMS["budget"].default == "steps"  # one default
    model = write_nets(tmp_path, "pk14_nets_train")
    monkeypatch.chdir(tmp_path)  # the factory is found in the current directory
    out = tmp_path / "m.pt"
    code = main(["data", "train", "digits", "--model", model, "--optimizer", "adamw", "--lr", "0.003",
                 "--schedule", "onecycle", "--standardize", "--epochs", "1", "--json", "-o", str(out)])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    doc = json.loads(cap.out)
    assert (doc["config"]["model"], doc["config"]["optimizer"], doc["budget"]) == (model, "adamw", "steps")
    assert doc["standardize"] is True and "history" not in doc and Path(doc["metrics"]).exists()
    assert (tmp_path / "calls.txt").read_text().startswith("64 10 0")
    # the teacher's own recipe: a built-in, wider and trained longer than the student
    code = main(["data", "train", "digits", "--model", model, "--epochs", "1", "--kd-alpha", "0.5",
                 "--teacher-model", "mlp", "--teacher-width", "2", "--teacher-epochs", "2", "--json",
                 "-o", str(tmp_path / "kd.pt")])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    doc = json.loads(cap.out)
    assert doc["teacher_seconds"] > 0 and doc["kd_alpha"] == 0.5


@pytest.mark.parametrize("body, words", [
    ('optimizer = "lbfgs"\n', ("optimizer", "lbfgs")),
    ('schedule = "sawtooth"\n', ("schedule", "sawtooth")),
    ('model = "pk14_no_such_module_x:make"\n', ("model", "pk14_no_such_module_x", "cannot import")),
    ('model = "bad path:make"\n', ("model", "module:function")),
    ('[teacher]\noptimizer = "rmsprop"\n', ("teacher.optimizer", "rmsprop")),
    ('[teacher]\nlayers = 3\n', ("[teacher]", "layers")),
    ('[select.random]\ndirection = "easiest"\n', ("[select.random]", "direction")),
    ('[select.ccs]\nbeta = 2\n', ("ccs", "beta")),
])
def test_bad_recipe_keys_are_one_line_naming_the_key(tmp_path, body, words):
    p = write_cfg(tmp_path / "bad.toml", methods='["random", "ccs"]', extra=body)
    with pytest.raises(ConfigError) as ei:
        SweepConfig.from_toml(p)
    msg = str(ei.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_unscaled_user_features_warn_once_and_standardize_silences(tmp_path, capsys):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    X = np.c_[rng.normal(0, 1, (120, 3)) + y[:, None], rng.normal(5e4, 2e4, 120)].astype(np.float32)
    for name in ("train", "test"):
        np.save(tmp_path / f"{name}.npy", X)
        np.save(tmp_path / f"{name}_y.npy", y)
    cfg = write_cfg(tmp_path / "s.toml", data="train.npy", files=FILES, epochs=1)
    assert main(["data", "sweep", str(cfg), "-o", str(tmp_path / "a"), "-q"]) == 0
    err = capsys.readouterr().err
    warn = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert len(warn) == 1 and "unscaled" in warn[0] and "standardize" in warn[0], err
    cfg = write_cfg(tmp_path / "z.toml", data="train.npy", files=FILES, epochs=1, extra="standardize = true\n")
    assert main(["data", "sweep", str(cfg), "-o", str(tmp_path / "z"), "-q"]) == 0
    assert "warning" not in capsys.readouterr().err


@pytest.mark.slow
def test_planner_runs_on_the_users_recipe(tmp_path, capsys):
    model = write_nets(tmp_path, "pk14_nets_plan")
    plan = tmp_path / "plan.toml"
    plan.write_text(f'data = "digits"\nmodel = "{model}"\noptimizer = "adamw"\nlr = 0.003\n'
                    'methods = ["random", "rs2"]\nkeep = [0.5]\nseeds = 1\nkd = [false]\nepochs = 1\n'
                    'pilots = [0.25, 0.5, 0.75]\ntolerance = 100\n[select.random]\nbalance = "proportional"\n')
    code = main(["data", "plan", str(plan), "-o", str(tmp_path / "p"), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    doc = json.loads(out.out)
    chosen = doc["recommendation"]["chosen"]
    assert chosen["method"] in ("random", "rs2") and doc["measured"] is not None  # the final run: same recipe
    final = json.loads(next((tmp_path / "p" / "final").glob("*/sweep.json")).read_text())["settings"]
    assert (final["model"], final["optimizer"]) == (model, "adamw")
    pilots = sorted((tmp_path / "p" / "pilot").glob("n*/sweep/sweep.json"))
    assert len(pilots) == 3
    for p in pilots:
        st = json.loads(p.read_text())["settings"]
        assert (st["model"], st["optimizer"], st["lr"]) == (model, "adamw", 0.003)
    sizes = {int(line.split()[0]) for line in (tmp_path / "calls.txt").read_text().split("\n") if line}
    assert sizes == {64}  # every pilot model came from the user's factory


# ----------------------------------------------------------------------------- resume


def test_a_moved_sweep_folder_resumes_redoing_nothing(digits_files, tmp_path):
    a = tmp_path / "where-it-ran"
    shutil.copytree(digits_files, a)
    cfg = write_cfg(a / "s.toml", data="train.npy", files=FILES, kd="false, true")
    first = run_sweep(cfg, a / "out", show_progress=False)
    assert first.ran == 4
    b = tmp_path / "elsewhere" / "moved"
    b.parent.mkdir()
    shutil.move(str(a), str(b))
    again = run_sweep(b / "s.toml", b / "out", show_progress=False)
    assert (again.skipped, again.ran) == (4, 0)
    assert [r["run_id"] for r in again.rows] == [r["run_id"] for r in first.rows]
    assert str(tmp_path) not in json.dumps(json.loads((b / "out" / "sweep.json").read_text())["config"])


def test_force_keeps_finished_cells_still_in_the_config(tmp_path, capsys):
    cfg = write_cfg(tmp_path / "a.toml", kd="false, true")
    first = {(r["method"], r["keep"], r["kd"]): r["run_id"] for r in run_sweep(cfg, tmp_path / "o",
                                                                                show_progress=False).rows}
    changed = write_cfg(tmp_path / "b.toml", kd="false, true", keep="[0.3, 0.5, 1.0]", extra="tau = 2.0\n")
    code = main(["data", "sweep", str(changed), "-o", str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "different sweep config" in err and "tau" in err and "--force" in err, err
    code = main(["data", "sweep", str(changed), "-o", str(tmp_path / "o"), "-q", "--force", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert json.loads(out.out)["ran"] == 4  # 2 new cells (keep 0.3) + 2 KD cells (tau changed)
    res = run_sweep(changed, tmp_path / "o", show_progress=False)
    now = {(r["method"], r["keep"], r["kd"]): r["run_id"] for r in res.rows}
    for k, rid in first.items():  # plain cross-entropy cells do not depend on tau: kept as they were
        assert (now[k] == rid) == (not k[2]), k
    # back to the first config: its CE cells are still there, only the KD cells run again
    assert run_sweep(cfg, tmp_path / "o", force=True, show_progress=False).ran == 2


def test_a_sweep_folder_of_an_older_prunekit_resumes_and_is_upgraded(tmp_path):
    cfg_path = write_cfg(tmp_path / "s.toml")
    res = run_sweep(cfg_path, tmp_path / "o", show_progress=False)
    out = tmp_path / "o"
    # what an older prunekit wrote: a hash over the config with absolute paths, no cell hashes
    old_keys = ("data", "methods", "keep", "seeds", "kd", "alpha", "tau", "model", "epochs", "budget",
                "batch_size", "lr", "proxy_runs", "proxy_epochs", "workers", "test", "labels", "test_labels")
    cfg = SweepConfig.from_toml(cfg_path)
    meta = json.loads((out / "sweep.json").read_text())
    (out / "sweep.json").write_text(json.dumps({"config_hash": "0123456789abcdef",
                                                "config": {k: getattr(cfg, k) for k in old_keys},
                                                "data_identity": meta["data_identity"]}))
    for p in (out / "cells").glob("*.json"):
        row = json.loads(p.read_text())
        del row["cell_hash"]
        p.write_text(json.dumps(row))
    again = run_sweep(cfg_path, out, show_progress=False)
    assert again.ran == 0 and [r["run_id"] for r in again.rows] == [r["run_id"] for r in res.rows]
    assert json.loads((out / "sweep.json").read_text())["format"] == 2
    assert all("cell_hash" in json.loads(p.read_text()) for p in (out / "cells").glob("*.json"))


# ----------------------------------------------------------------------------- logs


def test_without_a_terminal_a_sweep_prints_a_line_per_cell(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PRUNEKIT_PROGRESS", "1")  # progress lines on, at every step: the cell log
    monkeypatch.setenv("PRUNEKIT_PROGRESS_EVERY", "0")  # replaces the sweep's own, so none shows
    cfg = write_cfg(tmp_path / "s.toml", kd="false, true", methods='["random", "rs2"]', epochs=1)
    assert main(["data", "sweep", str(cfg), "-o", str(tmp_path / "o")]) == 0
    out = capsys.readouterr()
    lines = [ln for ln in out.err.splitlines() if ln.startswith("sweep [")]
    assert len(lines) == 6, out.err
    assert not [ln for ln in out.err.splitlines() if ln.startswith("sweep:") and " % (" in ln], out.err
    assert [ln.split("]")[0] for ln in lines] == [f"sweep [{i}/6" for i in range(1, 7)]
    assert all("accuracy" in ln and "ETA" in ln and "elapsed" in ln for ln in lines)
    assert lines[-1].endswith("ETA 0:00:00")
    # the summary table is as wide as its content, whatever the terminal width would be
    table_lines = [ln for ln in out.out.splitlines() if ln.startswith(("┃", "│"))]
    assert table_lines and all(len(ln) == len(table_lines[0]) for ln in table_lines)
    assert any("results.parquet" in ln for ln in out.out.splitlines()[:1])
    # and --quiet says nothing
    assert main(["data", "sweep", str(cfg), "-o", str(tmp_path / "o"), "-q"]) == 0
    assert capsys.readouterr().err == ""
