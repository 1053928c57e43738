"""See what was pruned: one self-contained HTML page (every image inlined as a data URI, no script)
that a person scrolls through.

``write_gallery(selection, data, out)`` writes, for a selection table and the examples it was made
on (checked: a selection made on other data is refused):

``#summary``     kept and dropped counts, the selector, where the pictures come from;
``#reasons``     dropped examples grouped by reason category, with counts and examples of each;
``#duplicates``  near-duplicate groups side by side: the member the others duplicate first, then
                 each removed member with its cosine similarity to it;
``#typical``     per class the most and least typical examples (cosine similarity to the class's
                 mean embedding), kept and dropped;
``#map``         a 2-D map of the examples (UMAP when ``umap-learn`` is installed, else PCA),
                 coloured by cluster (or class), kept as dots and dropped as crosses.

Pictures: thumbnails for image data, snippets for text (:mod:`prunekit.data.gallery_views`).
The page is written atomically and never over an input.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections import Counter
from pathlib import Path

import numpy as np

from prunekit.data.gallery_views import Views, load_views
from prunekit.data.table import ScoreTable
from prunekit.errors import InputError

SECTIONS = ("summary", "reasons", "duplicates", "typical", "map")
PER_GROUP = 12       # examples shown per reason category
DUP_GROUPS = 12      # near-duplicate groups shown
PER_CELL = 4         # examples per (class, typical/atypical, kept/dropped) cell
MAX_CLASSES = 20     # classes shown in the typical section
MAP_POINTS = 4000    # points drawn on the map (a seeded sample above that)

CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222}h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
h3{font-size:1em;margin:1.2em 0 .3em}.row{display:flex;flex-wrap:wrap;gap:6px;align-items:flex-start;margin:.3em 0}
.card{border:2px solid #ccc;border-radius:4px;padding:3px;background:#fafafa;font-size:.72em;text-align:center}
.card.kept{border-color:#2e9d4b}.card.dropped{border-color:#d1495b;background:#fff5f6}
.image .card{width:88px}.card img{display:block;margin:0 auto;width:56px;height:auto}.card img.px{image-rendering:pixelated}
.text .card{width:230px;text-align:left}.snip{display:block;font-size:1.15em;line-height:1.3}
.cap{color:#555;display:block;margin-top:2px}.grp{border-left:3px solid #ccc;padding-left:.6em;margin:.6em 0}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}.note{color:#8a4b00}.legend span{margin-right:1.2em}#map img{max-width:100%;border:1px solid #ddd}
.cell{flex:1 1 45%;min-width:260px}"""


# ----------------------------------------------------------------------------- inputs


def _inputs(selection, data, views, out, force: bool):
    """(table, examples, data path or None), every input checked before any work."""
    from prunekit.io.atomic import check_not_input, check_writable

    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"the gallery is an HTML page, but the extension of {out} says {out.suffix or 'nothing'}: "
                         "name it .html")
    table = selection if isinstance(selection, ScoreTable) else ScoreTable.read(selection)
    if table.keep is None:
        raise InputError("this table has no selection yet: run 'prunekit data select' first")
    if data is not None and not isinstance(data, (str, os.PathLike)):
        examples, data_path = data, None
    else:
        data_path = Path(data) if data is not None else None
        if data_path is not None and not data_path.exists():
            raise InputError(f"data {data_path} does not exist")
        recorded = table.meta.get("source", {}).get("path")
        if data_path is None and (not recorded or not Path(recorded).exists()):
            raise InputError("the selection does not record an existing data file: pass --data (the scored data)")
        data_path = data_path or Path(recorded)
        examples = None
    ins = [("selection", table.path), ("data", data_path), ("views", views)]
    check_writable(out)
    check_not_input(out, ins)
    if examples is None:
        examples = table.source_examples(data_path)
    table.check_data(examples, data=str(data_path) if data_path else None, force=force)
    return table, examples, data_path


# ----------------------------------------------------------------------------- pieces


def _label_names(table: ScoreTable, examples) -> list[str] | None:
    return table.meta.get("label_names") or getattr(examples, "label_names", None)


def _card(table: ScoreTable, views: Views, row: int, names, extra: str = "") -> str:
    kept = bool(table.keep[row])
    cap = [f"id {html.escape(str(table.ids[row]))}"]
    if table.labels is not None:
        lab = int(table.labels[row])
        cap.append(html.escape(str(names[lab]) if names and lab < len(names) else str(lab)))
    if extra:
        cap.append(extra)
    why = "" if kept else f' title="{html.escape(str(table.reason[row] or "dropped"))}"'
    return (f'<div class="card {"kept" if kept else "dropped"}"{why}>{views.html(row)}'
            f'<span class="cap">{" · ".join(cap)}</span></div>')


def _row(table, views, rows, names, extras=None) -> str:
    extras = extras or {}
    return '<div class="row">' + "".join(_card(table, views, r, names, extras.get(r, "")) for r in rows) + "</div>"


def _unit(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def _reasons(table, views, names) -> str:
    dropped = np.flatnonzero(~table.keep)
    parts = ['<h2 id="reasons">Dropped examples by reason</h2>']
    if not len(dropped):
        return parts[0] + "<p>Nothing was dropped.</p>"
    cats: dict[str, list[int]] = {}
    for r in dropped.tolist():
        cats.setdefault(str(table.reason[r] or "no reason recorded").split(":", 1)[0], []).append(r)
    parts.append("<table><thead><tr><th>reason</th><th>dropped</th><th>example reason</th></tr></thead><tbody>")
    for cat, rows in sorted(cats.items(), key=lambda kv: -len(kv[1])):
        parts.append(f"<tr><td>{html.escape(cat)}</td><td>{len(rows):,}</td>"
                     f"<td>{html.escape(str(table.reason[rows[0]] or ''))}</td></tr>")
    parts.append("</tbody></table>")
    rng = np.random.default_rng(0)
    for cat, rows in sorted(cats.items(), key=lambda kv: -len(kv[1])):
        show = sorted(rng.choice(rows, size=min(PER_GROUP, len(rows)), replace=False).tolist())
        parts.append(f'<div class="grp"><h3>{html.escape(cat)}: {len(rows):,} dropped '
                     f"(showing {len(show)})</h3>{_row(table, views, show, names)}</div>")
    return "\n".join(parts)


def _duplicates(table, views, names, U) -> str:
    head = '<h2 id="duplicates">Near-duplicate groups</h2>'
    d = table.duplicate_of
    if d is None or not (d >= 0).any():
        return head + ("<p>No near-duplicates recorded in this table (score with <code>semdedup</code> and "
                       "select with <code>--dedup</code> to find and drop them).</p>")
    groups: dict[int, list[int]] = {}
    for r in np.flatnonzero(d >= 0).tolist():
        groups.setdefault(int(d[r]), []).append(r)
    order = sorted(groups, key=lambda g: (-len(groups[g]), g))
    n_dup, n_g = sum(map(len, groups.values())), len(groups)
    parts = [head, f"<p>{n_dup:,} example{'s' if n_dup != 1 else ''} duplicate{'' if n_dup != 1 else 's'} "
             f"{n_g:,} other{'s' if n_g != 1 else ''}; the {min(DUP_GROUPS, n_g)} largest group{'s' if n_g != 1 else ''}, the original the others duplicate first (green border: "
             "kept; the selector may drop it too), then each removed duplicate with its cosine similarity to it.</p>"]
    for g in order[:DUP_GROUPS]:
        members = groups[g]
        sims = U[members] @ U[g]
        extras = {r: f"sim {s:.3f}" for r, s in zip(members, sims.tolist())}
        extras[g] = "original, kept" if table.keep[g] else "original, dropped too"
        members = [m for _, m in sorted(zip(-sims, members))]
        parts.append(f'<div class="grp">{_row(table, views, [g] + members, names, extras)}</div>')
    return "\n".join(parts)


def _typical(table, views, names, U) -> str:
    parts = ['<h2 id="typical">Most and least typical examples per class</h2>',
             "<p>Typicality: cosine similarity of an example's embedding to its class's mean embedding. "
             f"Per class, the {PER_CELL} most and least typical examples among the kept and among the dropped.</p>"]
    labels = table.labels if table.labels is not None else np.zeros(len(table), dtype=np.int64)
    classes = np.unique(labels)
    if len(classes) > MAX_CLASSES:
        parts.append(f'<p class="note">{len(classes)} classes: the {MAX_CLASSES} largest are shown.</p>')
        counts = Counter(labels.tolist())
        classes = np.array(sorted(classes, key=lambda c: -counts[int(c)])[:MAX_CLASSES])
    for c in classes.tolist():
        rows = np.flatnonzero(labels == c)
        mean = U[rows].mean(axis=0)
        sim = U[rows] @ (mean / max(float(np.linalg.norm(mean)), 1e-12))
        name = names[c] if names and table.labels is not None and c < len(names) else (c if table.labels is not None else "all")
        parts.append(f"<h3>class {html.escape(str(name))}: {len(rows):,} examples, "
                     f"{int(table.keep[rows].sum()):,} kept</h3><div class=\"row\">")
        for kept in (True, False):
            sub = rows[table.keep[rows] == kept]
            s = sim[table.keep[rows] == kept]
            o = np.argsort(-s, kind="stable")
            for what, pick in (("most typical", o[:PER_CELL]), ("least typical", o[::-1][:PER_CELL])):
                extras = {int(sub[i]): f"typ {s[i]:.2f}" for i in pick}
                body = _row(table, views, [int(sub[i]) for i in pick], names, extras) if len(pick) else "<p>none</p>"
                parts.append(f'<div class="cell"><b>{what}, {"kept" if kept else "dropped"}</b>{body}</div>')
        parts.append("</div>")
    return "\n".join(parts)


def _map(table, X: np.ndarray, seed: int) -> tuple[str, str]:
    """(base64 PNG, method name) of the 2-D map."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(table)
    rows = np.arange(n) if n <= MAP_POINTS else np.sort(np.random.default_rng(seed).choice(n, MAP_POINTS, replace=False))
    Z = np.asarray(X[rows], dtype=np.float32)
    method = "PCA"
    try:
        import umap  # type: ignore[import-not-found]

        Z2 = umap.UMAP(n_components=2, random_state=seed).fit_transform(Z)
        method = "UMAP"
    except ImportError:
        from sklearn.decomposition import PCA

        Z2 = PCA(n_components=2, random_state=seed).fit_transform(Z - Z.mean(axis=0)) if Z.shape[1] > 1 \
            else np.c_[Z[:, 0], np.zeros(len(Z))]
    group = table.cluster if table.cluster is not None else table.labels
    fig = Figure(figsize=(8, 6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    colours = cmap(np.asarray(group[rows]) % 20) if group is not None else "#4477aa"
    keep = table.keep[rows]
    ax.scatter(Z2[~keep, 0], Z2[~keep, 1], s=12, c=colours[~keep] if group is not None else colours, marker="x",
               linewidths=0.8, alpha=0.5)
    ax.scatter(Z2[keep, 0], Z2[keep, 1], s=10, c=colours[keep] if group is not None else colours, marker="o",
               linewidths=0)
    # legend proxies in black: the colours are the clusters', not kept/dropped
    ax.scatter([], [], s=10, c="black", marker="o", label="kept")
    ax.scatter([], [], s=12, c="black", marker="x", linewidths=0.8, label="dropped")
    what = "cluster" if table.cluster is not None else ("class" if table.labels is not None else "")
    ax.set_title(f"{method} of the embeddings ({len(rows):,} of {n:,} examples); colour = {what or 'one'}; "
                 "● kept, × dropped", fontsize=9)
    ax.legend(fontsize=8, loc="best")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii"), method


# ----------------------------------------------------------------------------- the page


def gallery_html(table: ScoreTable, examples, views: Views, *, title: str = "", seed: int = 0) -> str:
    """The page for ``table`` (a selection) over ``examples`` (what it was made on)."""
    e = html.escape
    names = _label_names(table, examples)
    X = np.asarray(examples.embeddings)
    U = _unit(X)
    n, kept = len(table), int(table.keep.sum())
    sel = table.meta.get("selection", {})
    selector = sel.get("selector") or sel.get("method") or "?"
    png, how = _map(table, X, seed)
    body = [f'<h1>What was pruned{": " + e(title) if title else ""}</h1>',
            f'<section id="summary"><p>Kept <b>{kept:,}</b> of {n:,} examples ({100 * kept / n:.1f}%), dropped '
            f"<b>{n - kept:,}</b>; selector {e(str(selector))}. Pictures: {e(views.source)}.</p>"
            '<p class="legend"><span style="color:#2e9d4b">■ green border: kept</span>'
            '<span style="color:#d1495b">■ red border: dropped (hover for the reason)</span></p></section>']
    if views.kind == "none":
        body.append('<p class="note">The data holds no text, images or square pixel features: examples are '
                    "shown by id and label; pass --views (an image folder, a saved Hugging Face data set or a "
                    ".npy of images) to see them.</p>")
    wrap = f'<div class="{views.kind}">'
    body += [f'<section>{wrap}{_reasons(table, views, names)}</div></section>',
             f'<section>{wrap}{_duplicates(table, views, names, U)}</div></section>',
             f'<section>{wrap}{_typical(table, views, names, U)}</div></section>',
             f'<section id="map"><h2>Map of the clusters ({how})</h2><p>Each point an example, projected to 2-D '
             f'with {how}; colour: its {"cluster" if table.cluster is not None else "class"}; dots kept, crosses '
             f'dropped.</p><img id="img-map" alt="2-D map" src="data:image/png;base64,{png}"></section>']
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>prunekit gallery{': ' + e(title) if title else ''}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def write_gallery(selection, data=None, out: str | os.PathLike = "gallery.html", *, views=None,
                  text_column: str | None = None, title: str | None = None, force: bool = False,
                  seed: int = 0) -> Path:
    """Write the gallery page of ``selection`` (a selection table or its path) over ``data`` (the
    scored data: a path, an ``ExampleSet``, or None for the path the selection records) to ``out``
    (.html); returns ``out``. ``views``: an image folder, a saved Hugging Face data set or a .npy of
    images to show instead of what the data holds; ``text_column``: the table column of the texts.
    ``force``: show a selection made on other data anyway."""
    from prunekit.io.atomic import atomic_path

    table, examples, data_path = _inputs(selection, data, views, out, force)
    v = load_views(examples, data_path, Path(views) if views is not None else None, text_column)
    name = title or (data_path.name if data_path is not None else examples.source.get("name", ""))
    page = gallery_html(table, examples, v, title=str(name), seed=seed)
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(out)


__all__ = ["SECTIONS", "gallery_html", "write_gallery"]
