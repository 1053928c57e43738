"""The gallery page (issue 14 item 5): one self-contained HTML file with every section, thumbnails
for image data (8×8 digits as pixel features, an image folder), snippets for text, near-duplicate
groups with the original first, reasons with counts, a 2-D map; rendered in headless Chromium."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pytest

from prunekit.cli import main
from prunekit.data import ScoreTable
from prunekit.data.gallery import SECTIONS, write_gallery
from prunekit.data.pipeline import score, select
from prunekit.data.text_demo import write_text_table
from prunekit.io.examples import read_examples
from prunekit.io.writers import write_examples
from headless import CHROMIUM, render

PNG = b"\x89PNG\r\n\x1a\n"
URI = re.compile(r'<img [^>]*src="(data:[^"]*)"')


def _select(data: Path, tmp: Path, keep=0.5, methods=("prototypicality", "semdedup", "density")) -> Path:
    ex = read_examples(data)
    t = score(ex, list(methods), seed=0, show_progress=False, **({"k": 4} if "density" in methods else {}))
    t.write(tmp / "scores.parquet")
    s = select(t, "dbp" if "density" in methods else "random", keep, dedup="semdedup" in methods, seed=0)
    return s.write(tmp / "sel.parquet")


def _check_page(text: str) -> list[bytes]:
    for name in SECTIONS:
        assert f'id="{name}"' in text, name
    assert "<script" not in text and "http://" not in text and "https://" not in text  # self-contained
    uris = URI.findall(text)
    assert uris and all(u.startswith("data:image/png;base64,") for u in uris)
    pngs = [base64.b64decode(u.split(",", 1)[1], validate=True) for u in uris]
    assert all(p.startswith(PNG) for p in pngs)
    return pngs


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """8×8 digits with six planted near-duplicates: (data, selection, page)."""
    from prunekit.datasets import load

    tmp = tmp_path_factory.mktemp("gal-img")
    ds = load("digits")
    X, y = np.asarray(ds.X_train[:400]), np.asarray(ds.y_train[:400])
    X = np.vstack([X, X[:6] + 0.001])
    y = np.concatenate([y, y[:6]])
    data = tmp / "digits.parquet"
    write_examples(data, X, y)
    sel = _select(data, tmp)
    page = write_gallery(sel, data, tmp / "gallery.html")
    return data, sel, page


def test_image_gallery_has_every_section_and_decodable_thumbnails(digits):
    data, sel, page = digits
    text = page.read_text()
    pngs = _check_page(text)
    assert len(pngs) > 50  # thumbnails, not just the map
    assert "8×8 grey images" in text
    t = ScoreTable.read(sel)
    # reasons grouped with their counts
    cats = {}
    for r in t.reason[~t.keep]:
        cats[r.split(":", 1)[0]] = cats.get(r.split(":", 1)[0], 0) + 1
    for cat, n in cats.items():
        assert f"<td>{cat}</td><td>{n:,}</td>" in text
    # near-duplicate groups: the original first, each duplicate with its similarity
    dup = text[text.index('id="duplicates"'):text.index('id="typical"')]
    assert dup.count('class="grp"') >= 1 and ("sim 1.000" in dup or "sim 0.99" in dup)
    first = re.search(r'<div class="grp"><div class="row"><div class="card (kept|dropped)"[^>]*>.*?<span class="cap">([^<]*)</span>', dup)
    assert first and "original" in first.group(2)
    typ = text[text.index('id="typical"'):text.index('id="map"')]
    assert typ.count("most typical, kept") == 10 and typ.count("least typical, dropped") == 10


def test_text_gallery_shows_snippets(tmp_path):
    rng = np.random.default_rng(0)
    n = 240
    y = np.arange(n) % 2
    X = rng.standard_normal((n, 16)).astype(np.float32) + 3 * y[:, None]
    X[200:204] = X[0:4] + 1e-4  # near-duplicates
    texts = [f"review number {i}: {'great' if c else 'dull'} <film> & more" for i, c in enumerate(y)]
    data = write_text_table(tmp_path / "t.parquet", texts, y, X / np.linalg.norm(X, axis=1, keepdims=True),
                            ("rotten", "fresh"))
    sel = _select(data, tmp_path)
    text = write_gallery(sel, data, tmp_path / "g.html").read_text()
    pngs = _check_page(text)
    assert len(pngs) == 1  # only the map: text examples are snippets
    assert "text column &#x27;text&#x27;" in text and text.count('class="snip"') > 40
    assert "&lt;film&gt; &amp; more" in text  # escaped
    assert "class fresh" in text and "class rotten" in text


def test_image_folder_views_and_cli(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 5)).astype(np.float32)
    data = tmp_path / "d.parquet"
    write_examples(data, X, np.arange(30) % 3)
    sel = _select(data, tmp_path, methods=("random",))
    no_view = write_gallery(sel, data, tmp_path / "plain.html").read_text()
    assert "nothing to show" in no_view and len(URI.findall(no_view)) == 1
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(30):
        Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(imgs / f"{i}.png")
    assert main(["data", "gallery", str(sel), "--data", str(data), "--views", str(imgs),
                 "-o", str(tmp_path / "g.html")]) == 0
    assert "gallery →" in capsys.readouterr().out
    text = (tmp_path / "g.html").read_text()
    assert len(_check_page(text)) > 20 and "matched to the ids by file name" in text
    assert not list(tmp_path.glob(".*.tmp"))


def test_hf_image_dataset_views(tmp_path):
    datasets = pytest.importorskip("datasets")
    from PIL import Image

    rng = np.random.default_rng(2)
    X = rng.standard_normal((12, 4)).astype(np.float32)
    data = tmp_path / "d.parquet"
    write_examples(data, X, np.arange(12) % 2)
    sel = _select(data, tmp_path, methods=("random",))
    ims = [Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)) for _ in range(12)]
    ds = datasets.Dataset.from_dict({"image": ims, "label": [i % 2 for i in range(12)]},
                                    features=datasets.Features({"image": datasets.Image(),
                                                                "label": datasets.Value("int64")}))
    ds.save_to_disk(str(tmp_path / "hf"))
    text = write_gallery(sel, data, tmp_path / "g.html", views=tmp_path / "hf").read_text()
    assert len(_check_page(text)) > 10 and "Hugging Face data set hf" in text


def test_gallery_renders_in_headless_chromium(digits, tmp_path):
    """Non-blank screenshot and no console errors (Debian's chromium, as the sweep report test)."""
    import matplotlib.image

    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing (scripts/test.sh installs Debian's chromium)")
    shot, console = render(digits[2], tmp_path)
    assert not console, console
    px = matplotlib.image.imread(shot)
    assert float(np.std(px[..., :3])) > 0.05
    assert float(np.std(px[2000:, :, :3])) > 0.02  # thumbnails far down the page were laid out


@pytest.mark.slow
def test_demo_text_gallery_on_rotten_tomatoes(tmp_path):
    """The demo's text page: real review snippets on their MiniLM embeddings (both ship offline)."""
    pytest.importorskip("sentence_transformers")
    from prunekit.data.text_demo import run_text_gallery

    r = run_text_gallery(tmp_path, rows=80, seed=0, show_progress=False)
    if "skipped" in r:
        pytest.skip(r["skipped"])
    text = Path(r["gallery"]).read_text()
    assert len(_check_page(text)) == 1 and text.count('class="snip"') > 30
    assert "class fresh" in text and "class rotten" in text and r["kept"] == 40
