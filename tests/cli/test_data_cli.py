"""The command line: the happy path end to end, and bad input → one line, exit 2, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from prunekit.cli import main


@pytest.fixture()
def emb(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((5, 16)).astype(np.float32)
    y = np.repeat(np.arange(5), 60)
    X = centers[y] + 1.0 * rng.standard_normal((300, 16)).astype(np.float32)
    X[250:260] = X[0:10] + 1e-4  # planted near-duplicates
    xp, yp = tmp_path / "emb.npy", tmp_path / "labels.npy"
    np.save(xp, X)
    np.save(yp, y)
    return xp, yp


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_score_select_export_inspect_explain(emb, tmp_path, capsys):
    xp, yp = emb
    scores, sel = tmp_path / "scores.parquet", tmp_path / "sel.parquet"
    code, out, err = run(["data", "score", xp, "--labels", yp, "-m", "prototypicality", "-m", "semdedup",
                          "-m", "density", "--k", 5, "-o", scores], capsys)
    assert code == 0, err
    t = pq.read_table(scores)
    assert {"id", "label", "prototypicality", "semdedup", "cluster", "duplicate_of"} <= set(t.column_names)
    dup = t.column("duplicate_of").to_pylist()
    # each planted pair: one member is removed as a duplicate of the other (which one: keep order)
    assert all(dup[i] == 250 + i or dup[250 + i] == i for i in range(10)), dup[:10] + dup[250:260]

    code, out, err = run(["data", "select", scores, "-s", "dbp", "--keep", 0.3, "--dedup", "-o", sel], capsys)
    assert code == 0, err
    s = pq.read_table(sel).to_pandas()
    assert s["keep"].sum() == 90
    assert s.loc[~s["keep"], "reason"].notna().all() and s.loc[s["keep"], "reason"].isna().all()
    assert "cluster quota" in out

    kept = tmp_path / "kept.npy"
    code, out, err = run(["data", "export", sel, "-o", kept], capsys)
    assert code == 0, err
    X = np.load(xp)
    np.testing.assert_array_equal(np.load(kept), X[s["keep"].to_numpy()])
    np.testing.assert_array_equal(np.load(tmp_path / "kept.labels.npy"), np.load(yp)[s["keep"].to_numpy()])

    png = tmp_path / "hist.png"
    code, out, err = run(["data", "inspect", sel, "--png", png], capsys)
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert "why examples were dropped" in out

    dropped_id = int(s.loc[~s["keep"], "id"].iloc[0])
    code, out, err = run(["data", "explain", dropped_id, sel], capsys)
    assert code == 0, err
    assert "dropped" in out and str(s.loc[~s["keep"], "reason"].iloc[0])[:20] in out


@pytest.mark.parametrize(
    "make_args, needle",
    [
        (lambda d: ["data", "score", d / "missing.npy", "-m", "random"], "does not exist"),
        (lambda d: ["data", "score", d / "emb.npy", "-m", "nope"], "valid scorers"),
        (lambda d: ["data", "score", d / "emb.npy", "-m", "prototypicality", "--k", 10_000], "larger than the number"),
        (lambda d: ["data", "score", d / "emb.npy", "-m", "random", "--labels", d / "short.npy"], "different lengths"),
        (lambda d: ["data", "score", d / "nan.npy", "-m", "prototypicality"], "NaN"),
        (lambda d: ["data", "score", d / "text.npy", "-m", "random"], "not a NumPy"),
        (lambda d: ["data", "score", d / "emb.npy", "-m", "random", "--ids", d / "dup_ids.npy"], "unique"),
        (lambda d: ["data", "score", d / "emb.npy", "-m", "random", "-o", d / "no_dir" / "x.parquet"], "does not exist"),
        (lambda d: ["data", "score", d / "emb.parquet", "-m", "random", "--embedding-column", "nope"], "not found"),
        (lambda d: ["data", "score", d / "strs.parquet", "-m", "random", "--embedding-column", "s"], "not numeric"),
        (lambda d: ["data", "select", d / "scores.parquet", "-s", "hardest", "--keep", 1.5], "(0, 1]"),
        (lambda d: ["data", "select", d / "scores.parquet", "-s", "hardest", "--count", 10_000], "between 1 and"),
        (lambda d: ["data", "select", d / "scores.parquet", "-s", "magic", "--keep", 0.5], "valid selectors"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(make_args, needle, emb, tmp_path, capsys):
    import pyarrow as pa

    xp, yp = emb
    np.save(tmp_path / "short.npy", np.zeros(10, dtype=np.int64))
    bad = np.load(xp)
    bad[7, 3] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    (tmp_path / "text.npy").write_text("id,x\n1,2\n")
    np.save(tmp_path / "dup_ids.npy", np.zeros(300, dtype=np.int64))
    pq.write_table(pa.table({"embedding": [[1.0, 2.0]] * 3}), tmp_path / "emb.parquet")
    pq.write_table(pa.table({"s": ["a", "b"], "x": [1.0, 2.0]}), tmp_path / "strs.parquet")
    assert main(["data", "score", str(xp), "-m", "random", "-o", str(tmp_path / "scores.parquet")]) == 0
    capsys.readouterr()
    out_file = tmp_path / "out.parquet"
    args = make_args(tmp_path)
    if "-o" not in args:
        args += ["-o", out_file]
    code, out, err = run(args, capsys)
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert needle in lines[0]
    assert "Traceback" not in err
    assert not out_file.exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_every_command_help_has_an_example(capsys):
    for cmd in (["data", "score"], ["data", "select"], ["data", "export"], ["data", "inspect"],
                ["data", "explain"], ["data", "gallery"], ["datasets", "list"], ["datasets", "export"], ["demo"]):
        code, out, err = run([*cmd, "--help"], capsys)
        assert code == 0
        assert "Example" in out and "prunekit " in out, cmd


def test_console_script_entry_point(tmp_path):
    """The installed entry point: version, and a real error path in a fresh process."""
    exe = Path(sys.executable).with_name("prunekit")
    r = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("prunekit ")
    r = subprocess.run([str(exe), "data", "select", str(tmp_path / "none.parquet"), "-s", "random",
                        "--keep", "0.5", "-o", str(tmp_path / "o.parquet")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "does not exist" in r.stderr


@pytest.mark.slow
def test_demo_selection_part_writes_its_artefacts(tmp_path, capsys):
    """The README's main command, first part (the sweep part is covered by the sweep tests)."""
    out = tmp_path / "demo"
    code, stdout, err = run(["demo", "-o", out, "--no-sweep", "--no-text"], capsys)
    assert code == 0, err
    for name in ("scores.parquet", "selection_dbp.parquet", "kept_dbp.parquet", "dbp_centroid_distance.png",
                 "gallery_mnist5k.html"):
        assert (out / name).stat().st_size > 0, name
    kept = pq.read_table(out / "kept_dbp.parquet")
    assert kept.num_rows == 1200  # 30 % of the 4000 training images
    assert "full data" in stdout and "dbp (dedup first)" in stdout
