"""Sweeps (resume after SIGKILL, refusal of a different config, bad configs, workers) and the
power-law fit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from prunekit.cli import main
from prunekit.data.experiment import RESULT_COLUMNS, SweepConfig, cells, fit_power_law, run_sweep
from prunekit.errors import ConfigError, InputError

PRUNEKIT = Path(sys.executable).with_name("prunekit")
DETERMINISTIC = ["method", "keep", "seed", "kd", "alpha", "accuracy", "steps", "examples"]

# 2 full + 3 methods × 2 keeps × 2 kd = 14 cells; 30 epochs make each cell take ~0.2 s, long
# enough to kill the sweep between cells.
SMALL = """
data = "digits"
methods = ["random", "aum", "rs2"]
keep = [0.3, 0.6, 1.0]
seeds = 1
kd = [false, true]
model = "mlp"
epochs = {epochs}
proxy_runs = 1
proxy_epochs = 1
"""


def write_config(path: Path, epochs: int = 30, extra: str = "") -> Path:
    path.write_text(SMALL.format(epochs=epochs) + extra)
    return path


def run(args, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def table(path: Path):
    return pq.read_table(path / "results.parquet").to_pandas()


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """One uninterrupted run through the API: (config path, output dir)."""
    d = tmp_path_factory.mktemp("clean")
    cfg = write_config(d / "sweep.toml")
    res = run_sweep(cfg, d / "out", show_progress=False)
    assert (res.total, res.skipped, res.ran) == (14, 0, 14)
    return cfg, d / "out"


def test_table_has_every_cell_with_the_columns(clean):
    cfg_path, out = clean
    t = table(out)
    assert list(t.columns) == list(RESULT_COLUMNS)
    cfg = SweepConfig.from_toml(cfg_path)
    want = [(c.method, c.keep, c.seed, c.kd) for c in cells(cfg)]
    assert list(zip(t.method, t.keep, t.seed, t.kd)) == want
    assert set(t.method) == {"full", "random", "aum", "rs2"}
    assert t.accuracy.between(0, 1).all() and (t.steps > 0).all()
    # equal-steps budget (the default): every run takes the full-data number of steps
    assert t.steps.nunique() == 1
    assert (t.alpha[~t.kd] == 0).all() and (t.alpha[t.kd] > 0).all()
    assert (t.scoring_seconds[t.method == "aum"] > 0).all() and (t.scoring_seconds[t.method == "rs2"] == 0).all()
    assert t.run_id.is_unique and (t.config_hash == cfg.digest()).all()
    assert (out / "cache" / "seed0" / "teacher.npy").exists()
    assert (out / "cache" / "seed0" / "dynamics.parquet").exists()


def test_rerun_with_the_same_config_redoes_nothing(clean, tmp_path):
    cfg_path, out = clean
    before = table(out)
    res = run_sweep(cfg_path, out, show_progress=False)
    assert (res.skipped, res.ran) == (14, 0)
    assert table(out).equals(before)


@pytest.mark.slow
def test_resume_after_sigkill_redoes_no_finished_cell(clean, tmp_path):
    clean_out = clean[1]
    cfg = write_config(tmp_path / "sweep.toml")
    out = tmp_path / "out"
    env = {**os.environ, "PRUNEKIT_PROGRESS": "0"}
    args = [str(PRUNEKIT), "data", "sweep", str(cfg), "-o", str(out), "-q"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list((out / "cells").glob("*.json"))) >= 1:
                break
            time.sleep(0.01)
        assert proc.poll() is None, f"the sweep ended before it could be killed: {proc.stderr.read()!r}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    finished = {p.stem: json.loads(p.read_text())["run_id"] for p in (out / "cells").glob("*.json")}
    assert 1 <= len(finished) < 14, f"kill landed after {len(finished)} of 14 cells"
    # the table a reader sees after the kill is valid and holds only finished cells
    partial = table(out)
    assert set(partial.run_id) <= set(finished.values()) and len(partial) >= len(finished) - 1

    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    t = table(out)
    assert len(t) == 14
    # every cell finished before the kill kept its row (same run id): none was redone
    assert set(finished.values()) <= set(t.run_id)
    assert len(set(t.run_id) - set(finished.values())) == 14 - len(finished)
    ref = table(clean_out)
    assert t[DETERMINISTIC].equals(ref[DETERMINISTIC])
    assert np.allclose(t.loss, ref.loss, rtol=1e-5)


@pytest.mark.slow
def test_sigterm_stops_the_worker_processes_too(tmp_path):
    """``kill`` of a sweep running cells in 2 processes: the workers end with it, none runs on
    (orphaned) to write cells into a folder the user may replace."""
    psutil = pytest.importorskip("psutil")
    cfg = write_config(tmp_path / "sweep.toml")
    out = tmp_path / "out"
    env = {**os.environ, "PRUNEKIT_PROGRESS": "0"}
    proc = subprocess.Popen([str(PRUNEKIT), "data", "sweep", str(cfg), "-o", str(out), "-q", "--workers", "2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        workers = []
        while time.monotonic() < deadline and proc.poll() is None and not list((out / "cells").glob("*.json")):
            time.sleep(0.05)
        assert proc.poll() is None, f"the sweep ended before it could be stopped: {proc.stderr.read()!r}"
        workers = psutil.Process(proc.pid).children(recursive=True)
        assert len(workers) >= 2
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        assert proc.returncode != 0
        gone, alive = psutil.wait_procs(workers, timeout=30)
        assert alive == [], f"workers still running after the sweep was stopped: {alive}"
        cells = len(list((out / "cells").glob("*.json")))
        time.sleep(1)
        assert len(list((out / "cells").glob("*.json"))) == cells   # nothing writes after the stop
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for w in workers:
            if w.is_running():
                w.kill()


def test_different_config_is_refused_unless_forced(tmp_path, capsys):
    out = tmp_path / "out"
    a = write_config(tmp_path / "a.toml", epochs=1)
    code, _, err = run(["data", "sweep", a, "-o", out, "-q"], capsys)
    assert code == 0
    before = (out / "results.parquet").read_bytes()
    b = write_config(tmp_path / "b.toml", epochs=2)
    code, _, err = run(["data", "sweep", b, "-o", out, "-q"], capsys)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert "different sweep config" in err and "--force" in err
    assert (out / "results.parquet").read_bytes() == before
    (out / "notes.txt").write_text("mine")
    code, _, err = run(["data", "sweep", b, "-o", out, "--force"], capsys)
    assert code == 0, err
    t = table(out)
    assert len(t) == 14 and (t.config_hash == SweepConfig.from_toml(b).digest()).all()
    assert (out / "notes.txt").read_text() == "mine"  # --force clears only what a sweep wrote


def test_a_non_empty_directory_that_is_not_a_sweep_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("x")
    code, _, err = run(["data", "sweep", write_config(tmp_path / "a.toml", 1), "-o", out, "-q", "--force"], capsys)
    assert code == 2 and "holds no sweep" in err
    assert sorted(p.name for p in out.iterdir()) == ["precious.txt"]


@pytest.mark.parametrize("body, message", [
    ('data = "digits"\nbogus = 1\nepocs = 3\n', "unknown keys in the sweep config: bogus, epocs"),
    ('data = "digits"\nmethods = ["random", "nope"]\n', "unknown method 'nope'; valid methods: aum, ccs"),
    ('data = "digits"\nkeep = [0]\n', "keep must be a number in (0, 1], got 0"),
    ('data = "digits"\nkeep = [0.5, 1.5]\n', "keep must be a number in (0, 1], got 1.5"),
    ('data = "digits"\nseeds = 0\n', "seeds must be an integer ≥ 1, got 0"),
    ('data = "no/such/file.npy"\n', "data path no/such/file.npy does not exist"),
    ('data = "digits"\nkd = "yes"\n', "kd must be a list of true/false"),
    ('methods = ["random"]\n', "needs 'data'"),
    ('data = "digits"\nalpha = 2\n', "alpha must be a number in [0, 1] or 'auto', got 2"),
    ('data = [1\n', "is not valid TOML"),
])
def test_bad_config_one_line_exit_2_nothing_written(tmp_path, capsys, body, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(body)
    out = tmp_path / "out"
    code, _, err = run(["data", "sweep", cfg, "-o", out], capsys)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert message in err
    assert not out.exists()


def _sweep_param_cases():
    from prunekit.data.experiment.sweep_config import SWEEP_PARAMS

    return [(p.name, v) for p in SWEEP_PARAMS for v in p.invalid_examples()]


@pytest.mark.parametrize("key, value", _sweep_param_cases(), ids=repr)
def test_every_declared_sweep_key_refuses_its_invalid_values(key, value):
    from prunekit.data.experiment.sweep_config import SWEEP_PARAMS

    with pytest.raises(ConfigError) as ei:
        SweepConfig.from_dict({"data": "digits", key: value})
    assert str(ei.value) == str(SWEEP_PARAMS[key].error(value))


def test_bad_config_leaves_an_existing_sweep_untouched(clean, tmp_path, capsys):
    _, out = clean
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    cfg = tmp_path / "bad.toml"
    cfg.write_text('data = "digits"\nkeep = [1.5]\n')
    code, _, _ = run(["data", "sweep", cfg, "-o", out, "--force"], capsys)
    assert code == 2
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_missing_config_file(tmp_path, capsys):
    code, _, err = run(["data", "sweep", tmp_path / "none.toml", "-o", tmp_path / "out"], capsys)
    assert code == 2 and "does not exist" in err


def test_file_data_needs_a_test_split_and_relative_paths_resolve(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 2), np.float32))
    (tmp_path / "sub").mkdir()
    cfg = tmp_path / "sub" / "s.toml"
    cfg.write_text('data = "../x.npy"\n')
    with pytest.raises(ConfigError, match="needs 'test'"):
        SweepConfig.from_toml(cfg)
    cfg.write_text('data = "digits"\ntest = "../x.npy"\n')
    with pytest.raises(ConfigError, match="own test split"):
        SweepConfig.from_toml(cfg)


def test_sweep_on_files(tmp_path):
    from prunekit.datasets import load

    ds = load("digits")
    for name, X, y in (("train", ds.X_train, ds.y_train), ("test", ds.X_test, ds.y_test)):
        np.save(tmp_path / f"{name}.npy", X)
        np.save(tmp_path / f"{name}_y.npy", y)
    cfg = tmp_path / "s.toml"
    cfg.write_text('data = "train.npy"\nlabels = "train_y.npy"\ntest = "test.npy"\ntest_labels = "test_y.npy"\n'
                   'methods = ["random"]\nkeep = [0.5]\nkd = [false]\nepochs = 2\n')
    res = run_sweep(cfg, tmp_path / "out", show_progress=False)
    t = table(tmp_path / "out")
    assert res.total == 1 and len(t) == 1 and t.dataset[0] == "train.npy" and 0 < t.accuracy[0] <= 1


@pytest.mark.slow
def test_workers_2_gives_the_same_table(clean, tmp_path):
    cfg_path, clean_out = clean
    res = run_sweep(cfg_path, tmp_path / "out", workers=2, show_progress=False)
    assert res.ran == 14
    t, ref = table(tmp_path / "out"), table(clean_out)
    assert t[DETERMINISTIC].equals(ref[DETERMINISTIC])
    # the loss may differ in the last float32 bit: BLAS runs on fewer threads per worker
    assert np.allclose(t.loss, ref.loss, rtol=1e-5)


def test_bad_workers(clean, tmp_path):
    with pytest.raises(ConfigError, match="workers"):
        run_sweep(clean[0], tmp_path / "out", workers=0)


# ----------------------------------------------------------------------------- power law


def test_power_law_recovers_a_noiseless_exponent():
    n = np.array([100, 200, 500, 1000, 2000, 5000])
    fit = fit_power_law(n, 3.0 * n ** -0.35)
    assert abs(fit.b - 0.35) < 0.01 and abs(fit.a - 3.0) < 1e-6 and fit.r2 > 0.9999 and fit.n_points == 6
    assert np.allclose(fit.predict(n), 3.0 * n ** -0.35)


def test_power_law_recovers_a_noisy_exponent():
    rng = np.random.default_rng(0)
    n = np.geomspace(100, 50_000, 12)
    err = 2.0 * n ** -0.35 * np.exp(rng.normal(0, 0.05, len(n)))
    fit = fit_power_law(n, err)
    assert abs(fit.b - 0.35) < 0.05 and fit.r2 > 0.9


def test_power_law_drops_zero_error_and_validates():
    fit = fit_power_law([10, 100, 1000, 10000], [0.5, 0.25, 0.125, 0.0])
    assert fit.n_points == 3 and abs(fit.b - np.log10(2)) < 1e-9
    with pytest.raises(InputError, match="same length"):
        fit_power_law([1, 2], [0.1])
    with pytest.raises(InputError, match="n must be > 0"):
        fit_power_law([0, 2], [0.1, 0.2])
    with pytest.raises(InputError, match="err must be ≥ 0"):
        fit_power_law([1, 2], [0.1, -0.2])
    with pytest.raises(InputError, match="finite"):
        fit_power_law([1, np.nan], [0.1, 0.2])
    with pytest.raises(InputError, match="at least two points"):
        fit_power_law([10, 10, 20], [0.1, 0.2, 0.0])


def test_resume_on_changed_data_is_refused_unless_forced(tmp_path, capsys):
    """A sweep folder records the identity of its data: resuming after the data file was rewritten
    (same path, same config, changed values) would mix cells of two data sets — refused."""
    import pyarrow as pa

    for args in (["datasets", "export", "digits", "-o", tmp_path / "d.parquet"],
                 ["datasets", "export", "digits", "--split", "test", "-o", tmp_path / "t.parquet"]):
        assert main([str(a) for a in args]) == 0
    cfg = tmp_path / "s.toml"
    cfg.write_text(f'data = "{tmp_path / "d.parquet"}"\ntest = "{tmp_path / "t.parquet"}"\nmethods = ["random"]\n'
                   'keep = [0.5]\nseeds = 1\nkd = [false]\nmodel = "mlp"\nepochs = 1\n')
    out = tmp_path / "out"
    code, _, err = run(["data", "sweep", cfg, "-o", out, "-q"], capsys)
    assert code == 0, err
    assert json.loads((out / "sweep.json").read_text())["data_identity"]["rows"] == 1437
    t = pq.read_table(tmp_path / "d.parquet")
    label = t.column("label").to_numpy().copy()
    label[:2] = label[1::-1]  # two labels swapped: same rows, ids and values
    pq.write_table(t.set_column(t.column_names.index("label"), "label", pa.array(label)), tmp_path / "d.parquet")
    before = (out / "results.parquet").read_bytes()
    code, _, err = run(["data", "sweep", cfg, "-o", out, "-q"], capsys)
    assert code == 2 and "made on different data (the content differs" in err and "--force" in err, err
    assert (out / "results.parquet").read_bytes() == before
    code, _, err = run(["data", "sweep", cfg, "-o", out, "-q", "--force"], capsys)
    assert code == 0, err
    code, _, err = run(["data", "sweep", cfg, "-o", tmp_path / "d.parquet", "-q"], capsys)
    assert code == 2 and "refusing to write" in err, err


def test_data_inside_a_folder_force_may_replace_is_refused(tmp_path, capsys):
    """``--force`` clears the sweep's own folders (``cache``, ``cells``, …): data stored inside one
    of them would be deleted, so such a sweep is refused before anything is written."""
    out = tmp_path / "out"
    (out / "cache").mkdir(parents=True)
    for args in (["datasets", "export", "digits", "-o", out / "cache" / "d.parquet"],
                 ["datasets", "export", "digits", "--split", "test", "-o", tmp_path / "t.parquet"]):
        assert main([str(a) for a in args]) == 0
    cfg = tmp_path / "s.toml"
    cfg.write_text(f'data = "{out / "cache" / "d.parquet"}"\ntest = "{tmp_path / "t.parquet"}"\n'
                   'methods = ["random"]\nkeep = [0.5]\nseeds = 1\nkd = [false]\nmodel = "mlp"\nepochs = 1\n')
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    code, _, err = run(["data", "sweep", cfg, "-o", out, "-q", "--force"], capsys)
    assert code == 2 and "refusing to write" in err and "holds the data" in err, err
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
