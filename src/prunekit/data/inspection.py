"""What a selection kept and why: per-class counts, reason categories, score histograms, and the
explanation of one example. Plain data in, plain data (or a PNG) out; the CLI only renders."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from prunekit.data.table import ScoreTable
from prunekit.errors import InputError
from prunekit.io.atomic import atomic_path


def _require_selection(table: ScoreTable) -> None:
    if table.keep is None:
        raise InputError("this table has no selection yet: run 'prunekit data select' first")


def class_counts(table: ScoreTable) -> list[dict[str, Any]]:
    """Per class: total, kept, kept fraction (one row 'all' when the table has no labels)."""
    _require_selection(table)
    names = table.meta.get("label_names")
    if table.labels is None:
        return [{"class": "all", "total": len(table), "kept": int(table.keep.sum()),
                 "fraction": float(table.keep.mean())}]
    rows = []
    for c in np.unique(table.labels):
        m = table.labels == c
        rows.append({
            "class": names[c] if names else int(c),
            "total": int(m.sum()),
            "kept": int(table.keep[m].sum()),
            "fraction": float(table.keep[m].mean()),
        })
    return rows


def reason_counts(table: ScoreTable, *, by: str = "category", top: int = 10) -> list[tuple[str, int]]:
    """Most common drop reasons, by category (text before ':') or by full text."""
    _require_selection(table)
    dropped = [r for r in table.reason[~table.keep].tolist() if r is not None]
    keys = [r.split(":", 1)[0] for r in dropped] if by == "category" else dropped
    return Counter(keys).most_common(top)


def score_quantiles(table: ScoreTable) -> list[tuple[str, str, float, float, float, float, float]]:
    """Per score column: (name, direction, min, p25, median, p75, max)."""
    rows = []
    for name, v in table.scores.items():
        q = np.percentile(v, [0, 25, 50, 75, 100])
        rows.append((name, table.directions.get(name, ""), *[float(x) for x in q]))
    return rows


def inspect(table: ScoreTable | str | Path, *, png: str | Path | None = None,
            score: str | None = None) -> dict[str, Any]:
    """Everything ``prunekit data inspect`` shows: ``n``, ``quantiles`` (see :func:`score_quantiles`),
    and for a selection ``selector``, ``kept``, ``class_counts``, ``reason_categories`` and the five
    most common ``reasons``; with ``png`` the score histogram is written there (``histogram``)."""
    t = table if isinstance(table, ScoreTable) else ScoreTable.read(table)
    if png is not None:
        from prunekit.io.atomic import check_not_input, check_writable

        check_writable(png)
        src = t.meta.get("source", {})
        check_not_input(png, [("table", t.path), ("data", src.get("path")), *t.inputs])
    if score is not None:
        t.column(score)  # an unknown column is an error, histogram or not
    out: dict[str, Any] = {"n": len(t), "quantiles": score_quantiles(t)}
    if t.keep is not None:
        out.update(selector=t.meta.get("selection", {}).get("selector"), kept=int(t.keep.sum()),
                   class_counts=class_counts(t), reason_categories=reason_counts(t),
                   reasons=reason_counts(t, by="text", top=5))
    if png is not None:
        out["histogram"] = plot_histogram(t, png, score)
    return out


def default_score_column(table: ScoreTable) -> str:
    dirs = table.directions
    for c in table.scores:
        if dirs.get(c) == "difficulty":
            return c
    if not table.scores:
        raise InputError("the table has no score columns")
    return next(iter(table.scores))


def plot_histogram(table: ScoreTable, path: str | Path, column: str | None = None, bins: int = 50) -> Path:
    """PNG histogram of one score column, kept vs dropped stacked (all rows if no selection)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    column = column or default_score_column(table)
    v = table.column(column)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    edges = np.histogram_bin_edges(v, bins=bins)
    if table.keep is not None:
        ax.hist([v[table.keep], v[~table.keep]], bins=edges, stacked=True,
                label=[f"kept ({int(table.keep.sum())})", f"dropped ({int((~table.keep).sum())})"],
                color=["#2b7bba", "#d9d9d9"])
        ax.legend()
        sel = table.meta.get("selection", {})
        ax.set_title(f"{column}: selector {sel.get('selector', '?')}, kept {int(table.keep.sum())} of {len(table)}")
    else:
        ax.hist(v, bins=edges, color="#2b7bba")
        ax.set_title(f"{column} ({len(table)} examples)")
    direction = table.directions.get(column, "")
    ax.set_xlabel(f"{column}" + (f"  ({direction}: higher = harder)" if direction == "difficulty" else f"  ({direction})" if direction else ""))
    ax.set_ylabel("examples")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return Path(path)


def _check_explained_data(table: ScoreTable, examples, check: bool, force: bool) -> dict[str, Any]:
    if not check:
        return {"checked": False, "why": "not asked"}
    if examples is None:
        path = table.meta.get("source", {}).get("path")
        if not path:
            return {"checked": False, "why": "the table records no data file"}
        if not Path(path).exists():
            return {"checked": False, "why": f"the data it was made on ({path}) no longer exists"}
    ex = table.source_examples(examples)
    forced = table.check_data(ex, force=force)
    return {"checked": True, "path": ex.source.get("path"), **({"data_mismatch": forced} if forced else {})}


def explain(table: ScoreTable, example_id: Any, *, examples=None, check_data: bool = True,
            force: bool = False) -> dict[str, Any]:
    """Everything the table knows about one example: scores with their percentile among all
    examples, cluster, duplicate, keep and reason.

    ``check_data``: first check that the data (``examples``, a path, or by default the file recorded
    at scoring time when it still exists) is what the table was made on — an id may name another
    example in changed data. A mismatch is refused unless ``force``. ``out["data"]`` says what was
    checked."""
    r = table.row_of(example_id)
    out: dict[str, Any] = {"id": table.ids[r], "row": r, "data": _check_explained_data(table, examples, check_data, force)}
    if table.labels is not None:
        names = table.meta.get("label_names")
        out["label"] = names[table.labels[r]] if names else int(table.labels[r])
    scores = {}
    for name, v in table.scores.items():
        pct = 100.0 * float((v < v[r]).sum() + 0.5 * ((v == v[r]).sum() - 1)) / max(1, len(v) - 1)
        scores[name] = {"value": float(v[r]), "percentile": pct, "direction": table.directions.get(name, "")}
    out["scores"] = scores
    if table.cluster is not None:
        c = int(table.cluster[r])
        out["cluster"] = c
        out["cluster_size"] = int((table.cluster == c).sum())
    if table.duplicate_of is not None and table.duplicate_of[r] >= 0:
        out["duplicate_of"] = table.ids[table.duplicate_of[r]]
    if table.duplicate_of is not None:
        out["duplicated_by"] = int((table.duplicate_of == r).sum())
    if table.keep is not None:
        out["keep"] = bool(table.keep[r])
        out["reason"] = table.reason[r]
    return out
