"""The valid neighbours of the bad-input cases: what must *work* — ``--force`` on data an artefact was
not made on (and recorded as forced), the output extension deciding the export format, unicode and
spaces in paths — and a ``kill -9`` in the middle of a write leaving no partial artefact."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from _bad_input_harness import snapshot
from prunekit.cli import main


def run(args, capsys):
    code = main([str(a) for a in args])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err and "Traceback" not in cap.out, cap.err
    return code, cap.out, cap.err


def test_force_export_on_other_data_proceeds_and_records_it(data_store, tmp_path, capsys):
    d = data_store.root
    before = snapshot(d)
    out = tmp_path / "k.parquet"
    code, _, err = run(["data", "export", d / "sel.parquet", "--data", d / "other.parquet", "--force", "-o", out],
                       capsys)
    assert code == 0, err
    assert pq.read_table(out).num_rows == 100
    assert b"forced" in out.read_bytes()          # recorded in the Parquet metadata
    assert snapshot(d) == before


def test_force_train_on_other_data_proceeds_and_records_it(data_store, tmp_path, capsys, one_torch_thread):
    d = data_store.root
    before = snapshot(d)
    out = tmp_path / "m.pt"
    code, _, err = run(["data", "train", d / "other.parquet", "--selection", d / "sel.parquet", "--force",
                        "--epochs", "1", "-o", out], capsys)
    assert code == 0, err
    metrics = list(tmp_path.glob("m*.metrics.json"))
    assert out.exists() and len(metrics) == 1
    assert "forced" in metrics[0].read_text()
    assert snapshot(d) == before


def test_default_export_format_follows_the_extension(data_store, tmp_path, capsys):
    from prunekit.io import read_examples

    d = data_store.root
    out = tmp_path / "kept.csv"
    code, _, err = run(["data", "export", d / "sel_flat.parquet", "-o", out], capsys)
    assert code == 0, err
    ex = read_examples(out)
    sel = pq.read_table(d / "sel_flat.parquet").to_pandas()
    np.testing.assert_array_equal(np.asarray(ex.ids), sel.loc[sel["keep"], "id"].to_numpy())
    assert ex.dim == 8


def test_unicode_and_spaces_in_paths_work(data_store, lake_store, tmp_path, capsys):
    src = tmp_path / "dätä dïr" / "my dätä.parquet"
    src.parent.mkdir()
    shutil.copy(data_store.root / "d.parquet", src)
    outdir = tmp_path / "öut dïr"
    outdir.mkdir()
    scores, sel, kept = outdir / "scö res.parquet", outdir / "sél ection.parquet", outdir / "képt set.parquet"
    assert run(["data", "score", src, "-m", "prototypicality", "--k", "3", "-q", "-o", scores], capsys)[0] == 0
    assert run(["data", "select", scores, "-s", "hardest", "--keep", "0.3", "-o", sel], capsys)[0] == 0
    code, out, err = run(["data", "export", sel, "-o", kept], capsys)
    assert code == 0, err
    assert pq.read_table(kept).num_rows == 60
    code, out, err = run(["data", "explain", "5", sel], capsys)
    assert code == 0, err

    lake = tmp_path / "läke wïth spåces"
    shutil.copytree(lake_store.root / "lake", lake)
    scan = tmp_path / "scän öut"
    code, out, err = run(["lake", "scan", lake, "--no-cache", "--no-graph", "-q", "-o", scan], capsys)
    assert code == 0, err
    code, out, err = run(["lake", "plan", scan, "-q", "-o", tmp_path / "plän.json"], capsys)
    assert code == 0, err
    plan = json.loads((tmp_path / "plän.json").read_text())
    assert sorted(x["table"] for x in plan["deletions"]) == ["derived/eu", "exports/small"]


def test_kill_9_mid_write_leaves_no_partial_artefact(tmp_path):
    """A real ``prunekit data score`` killed with SIGKILL as soon as its temporary output appears:
    nothing under the final name. What stays is the dot-prefixed temporary file ``atomic_path``
    made beside the target (``.out.parquet.<random>.tmp``: a killed process cannot remove it)."""
    rng = np.random.default_rng(0)
    big = tmp_path / "big.npy"
    np.save(big, rng.normal(size=(3_000_000, 4)).astype(np.float32))
    exe = Path(sys.executable).with_name("prunekit")
    env = {**os.environ, "PRUNEKIT_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    for attempt in range(3):
        outdir = tmp_path / f"out{attempt}"
        outdir.mkdir()
        before = snapshot(tmp_path)
        p = subprocess.Popen([str(exe), "data", "score", str(big), "-m", "random", "-q", "-o",
                              str(outdir / "out.parquet")], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        killed = False
        deadline = time.monotonic() + 120
        while p.poll() is None and time.monotonic() < deadline:
            if os.listdir(outdir):
                os.kill(p.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.001)
        p.wait()
        if not killed:  # the write was too quick to see: try again
            assert p.returncode == 0, p.stderr.read()
            continue
        assert p.returncode == -signal.SIGKILL
        left = sorted(os.listdir(outdir))
        assert "out.parquet" not in left
        stray = [n for n in left if not (n.startswith(".out.parquet.") and n.endswith(".tmp"))]
        assert stray == [], stray
        assert snapshot(tmp_path)["big.npy"] == before["big.npy"]   # the input is untouched
        return
    raise AssertionError("the temporary output never appeared before the process finished (3 tries)")


def test_the_harness_sees_a_write_and_puts_the_store_back(data_store, tmp_path, capsys):
    """The harness itself: a command that succeeds (writes its output, exit 0) fails the checks,
    and a store changed by a case is put back from its pristine copy."""
    import pytest

    from _bad_input_harness import Case, Ctx, run_case

    before = snapshot(data_store.root)
    case_dir = tmp_path / "case"
    case_dir.mkdir()
    ok = Case(7, "succeeds", lambda c: ["data", "score", c.data / "d.parquet", "-m", "random", "-q",
                                        "-o", c.tmp / "o.parquet"])
    with pytest.raises(AssertionError, match="one 'error:' line"):
        run_case(ok, Ctx(tmp=case_dir, stores={"data": data_store.root}), capsys, [data_store])

    def spoil(c):
        (c.data / "d.parquet").write_bytes(b"spoilt")

    spoilt = Case(7, "spoils-the-store", lambda c: ["data", "select", c.data / "d.parquet", "-s", "random",
                                                    "--keep", "0.5", "-o", c.tmp / "x.parquet"],
                  (("cannot read", "not a parquet"),), setup=spoil)
    (tmp_path / "case2").mkdir()
    run_case(spoilt, Ctx(tmp=tmp_path / "case2", stores={"data": data_store.root}), capsys, [data_store])
    assert snapshot(data_store.root) == before
