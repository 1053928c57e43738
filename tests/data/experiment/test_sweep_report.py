"""The sweep report: every plot embedded in one self-contained HTML file, the power-law exponents,
the CLI (``prunekit data report``, and ``prunekit data sweep`` writing one), and a render in
headless Chromium (Debian's ``chromium``, installed by scripts/setup.sh)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prunekit.cli import main
from prunekit.data.experiment import fit_power_law
from prunekit.data.experiment.sweep_report import PLOTS, write_report
from headless import CHROMIUM, render

PNG = b"\x89PNG\r\n\x1a\n"
N, C = 1000, 10
EXPONENTS = {"random": 0.5, "el2n": 0.7, "rs2": 0.6}


def planted_table(seeds: int = 2) -> pd.DataFrame:
    """Error ≈ 0.05·(n/N)^(−b) per method (b planted), full data at n = N, a little seed noise."""
    rng = np.random.default_rng(0)
    rows = []
    per_class = np.full(C, N // C)
    for seed in range(seeds):
        for kd in (False, True):
            rows.append(dict(dataset="toy", method="full", keep=1.0, seed=seed, kd=kd, accuracy=0.95,
                             scoring_seconds=0.0, training_seconds=2.0, examples=N,
                             kept_per_class=json.dumps(per_class.tolist())))
            for m, b in EXPONENTS.items():
                for k in (0.1, 0.3, 0.5):
                    n = int(k * N)
                    acc = 1 - 0.05 * (n / N) ** (-b) * (1 + 1e-3 * rng.standard_normal())
                    kpc = None if m == "rs2" else json.dumps((per_class * k).astype(int).tolist())
                    rows.append(dict(dataset="toy", method=m, keep=k, seed=seed, kd=kd, accuracy=acc,
                                     scoring_seconds=3.0 if m == "el2n" else 0.0, training_seconds=2.0 * k,
                                     examples=n, kept_per_class=kpc))
    return pd.DataFrame(rows)


def images(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    return write_report(planted_table(), tmp_path_factory.mktemp("rep") / "report")


def test_html_embeds_every_plot_and_the_table(report):
    text = report.read_text()
    imgs = images(text)
    assert len(imgs) == len(PLOTS) == text.count('<img src') + text.count("<img id=")
    for name, data in zip(PLOTS, imgs):
        assert data.startswith(PNG) and len(data) > 10_000, name
        assert (report.parent / f"{name}.png").read_bytes() == data  # the PNGs sit next to the HTML
        assert f'id="img-{name}"' in text
    # self-contained: no external URLs, no scripts
    assert "<script" not in text and "http://" not in text and "https://" not in text
    assert 'id="results-table"' in text
    # results table: full first; random keep 0.1 CE: mean ± std of the two seeds
    t = planted_table()
    acc = t[(t.method == "random") & (t.keep == 0.1) & ~t.kd].accuracy
    assert f"<td>random</td><td>0.1</td><td>no</td><td>2</td><td>{100 * acc.mean():.2f}</td>" \
           f"<td>{100 * acc.std(ddof=0):.2f}</td>" in text
    results = text[text.index('id="results-table"'):]
    assert results.index("<td>full</td>") < results.index("<td>random</td>")
    assert "Per-class kept counts are not recorded" not in text
    assert "rs2 draws a new random subset every epoch" in text
    assert "Not available" in text  # no sweep.json for an in-memory table


def test_power_law_exponents_in_the_html(report):
    text = report.read_text()
    t = planted_table()
    for m, b in EXPONENTS.items():
        sub = t[((t.method == m) | (t.method == "full")) & ~t.kd].assign(err=lambda d: 1 - d.accuracy)
        g = sub.groupby("keep")
        fit = fit_power_law(g.examples.mean(), g.err.mean())
        assert abs(fit.b - b) < 0.02  # the planted exponent is recovered
        assert f'<td>{m}</td><td class="b">{fit.b:.3f}</td>' in text


def test_methods_with_one_point_are_named_and_no_per_class_column(tmp_path):
    t = planted_table(seeds=1)
    t = t[(t.method != "full") & ~((t.method == "el2n") & (t.keep > 0.1))].drop(columns="kept_per_class")
    text = write_report(t, tmp_path / "r").read_text()
    assert len(images(text)) == len(PLOTS)
    assert "el2n: only 1 point, no power-law fit" in text
    assert "Per-class kept counts are not recorded" in text
    assert "No full-data cells" in text


def test_report_replaces_an_earlier_one_atomically(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.html").write_text("old")
    (out / "scaling.png").write_bytes(b"old")
    p = write_report(planted_table(seeds=1), out)
    assert p == out / "report.html" and p.read_text() != "old"
    assert (out / "scaling.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["report"]  # no temporary left behind


def test_sweep_writes_a_report_and_data_report_rewrites_it(tmp_path, capsys):
    cfg = tmp_path / "s.toml"
    cfg.write_text('data = "digits"\nmethods = ["random", "el2n"]\nkeep = [0.3, 1.0]\nseeds = 1\n'
                   'kd = [false]\nepochs = 1\nproxy_runs = 1\nproxy_epochs = 1\n')
    out = tmp_path / "out"
    assert main(["data", "sweep", str(cfg), "-o", str(out)]) == 0
    stdout = capsys.readouterr().out
    html = out / "report" / "report.html"
    assert "report →" in stdout and html.exists()
    text = html.read_text()
    assert len(images(text)) == len(PLOTS) and "&quot;methods&quot;: [" in text  # the config from sweep.json
    assert "Per-class kept counts are not recorded" not in text  # the sweep records them
    assert main(["data", "report", str(out), "-o", str(tmp_path / "r2")]) == 0
    assert (tmp_path / "r2" / "report.html").exists()


def test_data_report_bad_input_one_line_exit_2(tmp_path, capsys):
    assert main(["data", "report", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "does not exist" in err and len(err.splitlines()) == 1
    assert main(["data", "report", str(tmp_path)]) == 2  # exists but holds no sweep
    err = capsys.readouterr().err.strip()
    assert "no sweep results" in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # nothing written


needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(),
                                    reason="/usr/bin/chromium is missing (scripts/setup.sh installs Debian's chromium)")


@needs_chromium
def test_report_renders_in_headless_chromium(report, tmp_path):
    import matplotlib.image

    shot, console = render(report, tmp_path)
    assert not console, console
    data = shot.read_bytes()
    assert data.startswith(PNG) and len(data) > 50_000
    px = matplotlib.image.imread(shot)
    assert px.shape[:2] == (3000, 1200)
    assert float(np.std(px[..., :3])) > 0.05  # not a blank page
    # the plots were decoded and laid out: some rows far down the page are not blank either
    assert float(np.std(px[2000:, :, :3])) > 0.02


@needs_chromium
def test_console_error_detection_works(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>nosuch();</script></body></html>")
    _, console = render(page, tmp_path)
    assert any("Uncaught" in line and "bad.html" in line for line in console)


def test_report_never_replaces_the_sweep_or_foreign_files(tmp_path, capsys):
    """The report folder is replaced wholesale: pointing it at the sweep folder (or a parent of the
    results, or a folder of other files) would delete them — refused, nothing changed."""
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    planted_table().to_parquet(sweep / "results.parquet")
    before = sorted(p.name for p in sweep.iterdir())
    for out in (sweep, tmp_path):
        assert main(["data", "report", str(sweep), "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert "refusing to write" in err and "holds the sweep results" in err, err
    assert sorted(p.name for p in sweep.iterdir()) == before
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    assert main(["data", "report", str(sweep), "-o", str(other)]) == 2
    assert "not a prunekit report (notes.txt)" in capsys.readouterr().err
    assert (other / "notes.txt").read_text() == "keep me"
    # an earlier report is still replaced
    assert main(["data", "report", str(sweep), "-o", str(tmp_path / "rep")]) == 0
    assert main(["data", "report", str(sweep), "-o", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "report.html").exists()
