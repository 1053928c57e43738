"""Bad input to ``prunekit data gallery``: a selection made on other data, missing files, the wrong
extension, an output naming an input → exit 2, one ``error:`` line, nothing written (the harness
snapshots every file)."""

from __future__ import annotations

import pytest

from _bad_input_harness import Case, hardlink, params, run_case

D = lambda name: (lambda c: c.data / name)  # noqa: E731  a store file
T = lambda name: (lambda c: c.tmp / name)   # noqa: E731  a case-folder file


def gallery(sel, *extra):
    return lambda c: ["data", "gallery", sel(c) if callable(sel) else sel,
                      *[e(c) if callable(e) else e for e in extra]]


CASES = [
    Case(2, "gallery-selection-of-other-content", gallery(D("sel.parquet"), "--data", D("other.parquet"), "-o", "g.html"),
         ("made on different data", "content")),
    Case(2, "gallery-selection-of-other-ids", gallery(D("sel.parquet"), "--data", D("other_ids.parquet"), "-o", "g.html"),
         ("made on different data", "ids")),
    Case(2, "gallery-selection-of-fewer-rows", gallery(D("sel.parquet"), "--data", D("short.parquet"), "-o", "g.html"),
         ("made on different data", "rows")),
    Case(7, "gallery-missing-selection", gallery(T("none.parquet"), "-o", "g.html"), ("does not exist",)),
    Case(7, "gallery-missing-data", gallery(D("sel.parquet"), "--data", T("none.parquet"), "-o", "g.html"),
         ("does not exist", T("none.parquet"))),
    Case(7, "gallery-missing-views", gallery(D("sel.parquet"), "--views", T("imgs"), "-o", "g.html"),
         ("does not exist",)),
    Case(3, "gallery-out-not-html", gallery(D("sel.parquet"), "-o", "g.parquet"), (".html", "g.parquet")),
    Case(3, "gallery-selection-not-parquet", gallery(D("d.csv"), "-o", "g.html"),
         (D("d.csv"),)),
    Case(6, "gallery-score-table-has-no-selection", gallery(D("s.parquet"), "-o", "g.html"), ("no selection",)),
    Case(1, "gallery-out-hardlink-to-selection", gallery(D("sel.parquet"), "-o", T("g.html")),
         ("refusing to write", D("sel.parquet")), setup=hardlink("g.html", D("sel.parquet"))),
    Case(6, "gallery-text-column-of-a-matrix",
         gallery(D("sel_npy.parquet"), "--data", D("emb.npy"), "--text-column", "text", "-o", "g.html"),
         ("--text-column", "emb.npy")),
    Case(3, "gallery-views-not-images", gallery(D("sel.parquet"), "--views", D("d.csv"), "-o", "g.html"),
         ("views must be", "d.csv")),
    Case(7, "gallery-out-parent-missing", gallery(D("sel.parquet"), "-o", T("no/g.html")), ("does not exist",)),
]


@pytest.mark.parametrize("case", params(CASES))
def test_bad_gallery_input(case, ctx, data_store, capsys):
    ctx.stores["data"] = data_store.root
    run_case(case, ctx, capsys, [data_store])
