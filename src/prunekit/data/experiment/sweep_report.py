"""The sweep report: one self-contained HTML file (every plot embedded as a base64 PNG) plus the PNGs.

``write_report(results, out_dir)`` reads a sweep's ``results.parquet`` (or the sweep directory, or an
in-memory pyarrow / pandas table with the sweep's columns) and writes into ``out_dir``:

``accuracy_vs_keep.png``
    test accuracy vs kept fraction per method, mean ± std over seeds, KD dashed, full-data lines;
``scaling.png``
    test error vs kept examples on log–log axes with a fitted power law ``err ≈ a·n^(−b)`` per
    method (the exponent ``b`` in the legend);
``time_to_accuracy.png``
    accuracy vs the whole cost of a result: scoring + teacher training (KD cells) + training, in
    wall seconds and, beside them, CPU seconds (a busy machine stretches wall time, not CPU time);
``kept_per_class.png``
    kept examples per class per method at each keep fraction (from the ``kept_per_class`` column;
    tables without it get examples per epoch per method instead, and the HTML says so);
``report.html``
    the plots, a results table (mean ± std accuracy per method × keep × KD) and the sweep config.

Every curve says what its method keeps ("el2n, keeps hardest"); the spread is named where it is
shown (population standard deviation over seeds); colours come from :mod:`prunekit.data.colors`
(one per method, the same in every plot); paths in the shown config are relative to the report.

The directory is written beside its final place and renamed into it, so a reader never sees half
a report.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from prunekit.data.experiment.report_parts import SPREAD, cost_notes, keeps_what, relative_paths, with_costs
from prunekit.errors import InputError

NEEDED = ("method", "keep", "seed", "kd", "accuracy", "scoring_seconds", "training_seconds", "examples")
PLOTS = ("accuracy_vs_keep", "scaling", "time_to_accuracy", "kept_per_class")


# ----------------------------------------------------------------------------- input


def load_results(results) -> tuple[Any, dict | None]:
    """(pandas DataFrame, sweep config or None) from a sweep directory, a Parquet file or a table."""
    import pandas as pd

    config = None
    if isinstance(results, (str, os.PathLike)):
        p = Path(results)
        if p.is_dir():
            meta = p / "sweep.json"
            p = p / "results.parquet"
        else:
            meta = p.parent / "sweep.json"
        if not p.is_file():
            raise InputError(f"no sweep results at {p} (run `prunekit data sweep` first)")
        import pyarrow.parquet as pq

        try:
            df = pq.read_table(p).to_pandas()
        except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
            raise InputError(f"{p} is not a readable Parquet table: {exc}") from None
        if meta.is_file():
            with contextlib.suppress(json.JSONDecodeError, OSError, AttributeError):
                config = json.loads(meta.read_text()).get("config")
    elif isinstance(results, pd.DataFrame):
        df = results.copy()
    elif hasattr(results, "to_pandas"):
        df = results.to_pandas()
    else:
        raise InputError(f"results must be a sweep directory, a Parquet file or a table, got {type(results).__name__}")
    missing = [c for c in NEEDED if c not in df.columns]
    if missing:
        raise InputError(f"the results table lacks column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    if len(df) == 0:
        raise InputError("the results table is empty: no finished cells to report")
    return df, config


def _methods(df) -> list[str]:
    """Methods other than ``full``, in first-seen (config) order."""
    return [m for m in dict.fromkeys(df["method"]) if m != "full"]


def _kds(df) -> list[bool]:
    return sorted({bool(v) for v in df["kd"]})


def _label(method: str, kd: bool, df=None) -> str:
    """Legend label: the method, what it keeps (when ``df.attrs['keeps']`` knows), KD."""
    keeps = (df.attrs.get("keeps", {}) if df is not None else {}).get(method)
    name = f"{method}, {keeps}" if keeps else method
    return f"{name} + KD" if kd else name


def _stats(df, method: str, kd: bool, value: str = "accuracy"):
    """keeps, means, stds over seeds of ``value`` for one method × kd, sorted by keep."""
    sub = df[(df["method"] == method) & (df["kd"] == kd)]
    g = sub.groupby("keep")[value]
    keeps = np.array(sorted(g.groups), dtype=float)
    return keeps, np.array([g.get_group(k).mean() for k in keeps]), np.array([g.get_group(k).std(ddof=0) for k in keeps])


# ----------------------------------------------------------------------------- plots


def _figure(w=7.5, h=4.6):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _legend_below(fig, ax, *, fontsize: float = 7, ncol: int = 2) -> None:
    """One legend for the figure, under its plots and outside every axes (constrained layout).
    The labels say what each curve keeps ("prototypicality, easiest, proportional class balance +
    KD"), so a legend inside the axes hid data points and ran past the figure's edge, cut off."""
    handles, labels = ax.get_legend_handles_labels()
    fig.set_layout_engine("constrained")
    if handles:
        fig.legend(handles, labels, loc="outside lower center", fontsize=fontsize, ncol=ncol, frameon=False)


def _finish(fig, ax, path: Path, *, log_grid: bool = False) -> None:
    """Legend, grid, layout and save: the common end of the line plots."""
    ax.grid(alpha=0.3, which="both" if log_grid else "major")
    _legend_below(fig, ax)
    fig.savefig(path)


def _colors(names: list[str]) -> dict[str, Any]:
    from prunekit.data.colors import method_colors

    return method_colors(names)


STYLE = {False: "-", True: "--"}


def _plot_accuracy(df, path: Path) -> list[str]:
    notes = []
    fig = _figure()
    ax = fig.add_subplot()
    methods, kds = _methods(df), _kds(df)
    colors = _colors(methods)
    for m in methods:
        for kd in kds:
            k, mu, sd = _stats(df, m, kd)
            if len(k):
                ax.errorbar(k, 100 * mu, yerr=100 * sd, color=colors[m], linestyle=STYLE[kd], marker="o", ms=3,
                            capsize=2, label=_label(m, kd, df))
    for kd in kds:
        full = df[(df["method"] == "full") & (df["kd"] == kd)]["accuracy"]
        if len(full):
            ax.axhline(100 * full.mean(), color="0.3", linestyle=STYLE[kd], lw=1,
                       label=f"full data{' + KD' if kd else ''} ({100 * full.mean():.2f}%)")
    if not (df["method"] == "full").any():
        notes.append("No full-data cells (keep = 1.0) in this sweep: the plots have no full-data reference.")
    ax.set_xlabel("kept fraction")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"accuracy vs kept fraction (mean ± {SPREAD}; KD dashed)", fontsize=9)
    _finish(fig, ax, path)
    return notes


def scaling_fits(df) -> tuple[dict[tuple[str, bool], Any], list[str]]:
    """Power-law fits ``err ≈ a·n^(−b)`` per method × kd over mean error per kept-example count (the
    full-data cell of the same kd included); skipped series are named in the notes."""
    from prunekit.data.experiment.scaling import fit_power_law

    fits, notes = {}, []
    for m in _methods(df):
        for kd in _kds(df):
            n, err = _scaling_points(df, m, kd)
            if len(n) == 0:
                continue
            if len(n) < 2:
                notes.append(f"{_label(m, kd)}: only {len(n)} point, no power-law fit (needs ≥ 2).")
                continue
            try:
                fits[(m, kd)] = fit_power_law(n, err)
            except InputError as exc:
                notes.append(f"{_label(m, kd)}: no power-law fit ({exc}).")
    return fits, notes


def _scaling_points(df, method: str, kd: bool):
    sub = df[((df["method"] == method) | (df["method"] == "full")) & (df["kd"] == kd)]
    if not (sub["method"] == method).any():
        return np.array([]), np.array([])
    g = sub.assign(err=1.0 - sub["accuracy"]).groupby("keep")
    n = g["examples"].mean().to_numpy(dtype=float)
    err = g["err"].mean().to_numpy(dtype=float)
    return n, err


def _plot_scaling(df, path: Path) -> list[str]:
    fits, notes = scaling_fits(df)
    fig = _figure()
    ax = fig.add_subplot()
    methods = _methods(df)
    colors = _colors(methods)
    for m in methods:
        for kd in _kds(df):
            n, err = _scaling_points(df, m, kd)
            ok = err > 0
            if not ok.any():
                continue
            fit = fits.get((m, kd))
            label = _label(m, kd, df) + (f"  b = {fit.b:.3f}" if fit is not None else "  (no fit)")
            ax.plot(n[ok], err[ok], "o", color=colors[m], ms=4, label=label,
                    mfc="none" if kd else colors[m])
            if fit is not None:
                xs = np.geomspace(n.min(), n.max(), 50)
                ax.plot(xs, fit.predict(xs), color=colors[m], linestyle=STYLE[kd], lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("kept examples (per epoch)")
    ax.set_ylabel("test error (1 − accuracy)")
    ax.set_title("test error vs kept examples, fitted err ≈ a·n^(−b) (KD dashed)")
    _finish(fig, ax, path, log_grid=True)
    return notes


def _plot_time(df, path: Path) -> list[str]:
    fig = _figure(11, 4.6)
    d = with_costs(df)
    methods = _methods(d)
    colors = _colors(methods)
    for i, kind in enumerate(("wall", "cpu")):
        ax = fig.add_subplot(1, 2, i + 1)
        for m in methods:
            for kd in _kds(d):
                k, acc, _ = _stats(d, m, kd)
                _, t, _ = _stats(d, m, kd, kind)
                ok = np.isfinite(t)
                if ok.any():
                    ax.plot(t[ok], 100 * acc[ok], color=colors[m], linestyle=STYLE[kd], marker="o", ms=3,
                            label=_label(m, kd, d))
        for kd in _kds(d):
            full = d[(d["method"] == "full") & (d["kd"] == kd)]
            if len(full) and np.isfinite(full[kind].mean()):
                ax.plot([full[kind].mean()], [100 * full["accuracy"].mean()], marker="*", ms=12, color="0.2",
                        linestyle="none", mfc="none" if kd else "0.2",
                        label=f"full data{' + KD (teacher included)' if kd else ''}")
        if (d[kind].dropna() > 0).all() and d[kind].notna().any():
            ax.set_xscale("log")
        ax.set_xlabel(f"{'wall' if kind == 'wall' else 'CPU'} seconds: scoring + teacher (KD) + training")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"time to accuracy, {'wall clock' if kind == 'wall' else 'CPU time'}", fontsize=9)
        ax.grid(alpha=0.3, which="both")
    _legend_below(fig, fig.axes[0], ncol=3)  # both panels draw the same curves
    fig.savefig(path)
    return cost_notes(df)


def _per_class(df):
    """{(method, keep): mean kept count per class over seeds} from the ``kept_per_class`` column."""
    if "kept_per_class" not in df.columns:
        return {}
    out: dict[tuple[str, float], list[np.ndarray]] = {}
    for m, k, s in zip(df["method"], df["keep"], df["kept_per_class"]):
        if s is None or (isinstance(s, float) and np.isnan(s)) or s == "":
            continue
        out.setdefault((m, float(k)), []).append(np.asarray(json.loads(s), dtype=float))
    return {key: np.mean(np.stack(v), axis=0) for key, v in out.items() if len({len(a) for a in v}) == 1}


def _plot_per_class(df, path: Path) -> list[str]:
    counts = _per_class(df)
    methods = _methods(df)
    colors = _colors(methods)
    if not counts:
        fig = _figure()
        ax = fig.add_subplot()
        for m in methods:
            sub = df[df["method"] == m]
            g = sub.groupby("keep")["examples"].mean()
            ax.plot(g.index, g.to_numpy(), marker="o", ms=3, color=colors[m], label=_label(m, False, df))
        ax.set_xlabel("kept fraction")
        ax.set_ylabel("examples per epoch")
        ax.set_title("examples per epoch per method")
        ax.grid(alpha=0.3)
        _legend_below(fig, ax)
        fig.savefig(path)
        return ["Per-class kept counts are not recorded in this results table (no kept_per_class column); "
                "the plot shows examples per epoch per method instead."]
    keeps = sorted({k for (m, k) in counts if m != "full"})
    shown = [m for m in methods if any((m, k) in counts for k in keeps)]
    full = counts.get(("full", 1.0))
    rows = max(1, len(keeps))
    fig = _figure(7.5, 2.6 * rows + 0.6)
    notes = []
    if "rs2" in methods:
        notes.append("rs2 draws a new random subset every epoch, so it has no fixed per-class counts.")
    for i, k in enumerate(keeps or [1.0]):
        ax = fig.add_subplot(rows, 1, i + 1)
        ms = [m for m in shown if (m, k) in counts]
        C = max((len(counts[(m, k)]) for m in ms), default=len(full) if full is not None else 0)
        x = np.arange(C)
        w = 0.8 / max(1, len(ms))
        for j, m in enumerate(ms):
            ax.bar(x - 0.4 + w * (j + 0.5), counts[(m, k)], width=w, color=colors[m], label=_label(m, False, df))
        if full is not None and len(full) == C:
            ax.plot(x, full * k, "k_", ms=14, mew=1.5, label="class-proportional subset of the same size")
        ax.set_title(f"keep {k:g}: kept examples per class (mean over seeds)", fontsize=9)
        ax.set_ylabel("kept")
        ax.set_xticks(x if C <= 30 else x[:: max(1, C // 20)])
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, axis="y")
    fig.axes[-1].set_xlabel("class")
    # one legend for all panels: the same methods in each (the panel with the most of them)
    _legend_below(fig, max(fig.axes, key=lambda a: len(a.get_legend_handles_labels()[0])), fontsize=6, ncol=3)
    fig.savefig(path)
    return notes


# ----------------------------------------------------------------------------- HTML


def results_table(df) -> list[tuple]:
    """(method, keep, kd, seeds, mean acc, std acc (ddof 0), mean scoring s, mean training s, mean
    teacher s, mean total wall s, mean total CPU s), ``full`` first, then methods in first-seen
    order, keep ascending, CE before KD; the totals count scoring + teacher (KD) + training."""
    df = with_costs(df)
    order = ["full"] + _methods(df) if (df["method"] == "full").any() else _methods(df)
    out = []
    for m in order:
        for k in sorted({float(v) for v in df.loc[df["method"] == m, "keep"]}):
            for kd in _kds(df):
                sub = df[(df["method"] == m) & (df["keep"] == k) & (df["kd"] == kd)]
                if len(sub):
                    out.append((m, k, kd, int(sub["seed"].nunique()), float(sub["accuracy"].mean()),
                                float(sub["accuracy"].std(ddof=0)), float(sub["scoring_seconds"].mean()),
                                float(sub["training_seconds"].mean()),
                                float(np.nan_to_num(sub["teacher_seconds"].mean())) if "teacher_seconds" in sub else 0.0,
                                float(sub["wall"].mean()), float(sub["cpu"].mean())))
    return out


CAPTIONS = {
    "accuracy_vs_keep": ("Accuracy vs kept fraction",
                         "Test accuracy of a student trained on the kept subset, mean ± std over seeds; "
                         "solid = cross-entropy, dashed = distillation from a full-data teacher; grey lines: "
                         "full-data training."),
    "scaling": ("Test error vs kept examples (log–log)",
                "Mean test error against the number of kept examples per epoch, the full-data point included; "
                "lines are least-squares power laws err ≈ a·n^(−b); a larger b means error falls faster with "
                "more data (the exponent is in the legend)."),
    "time_to_accuracy": ("Time to accuracy, scoring and teacher included",
                         "Accuracy against the whole cost of a result = scoring + teacher training (KD cells: "
                         "the full-data teacher is KD's real price) + training, one point per keep fraction; "
                         "left in wall seconds, right in CPU seconds of the processes that did the work (wall "
                         "time stretches on a busy machine, CPU time much less). A method whose points lie right "
                         "of the full-data star never pays back its scoring (and teacher) cost at that accuracy."),
    "kept_per_class": ("Kept examples per class",
                       "How many examples of each class each method keeps (mean over seeds); black ticks: "
                       "a class-proportional subset of the same size."),
}

CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1000px;margin:2em auto;
padding:0 1em;color:#222}h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}img{max-width:100%;height:auto;
border:1px solid #ddd}table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.note{color:#8a4b00}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.8em}"""


def _fit_table(df) -> str:
    fits, _ = scaling_fits(df)
    if not fits:
        return ""
    rows = "".join(f'<tr><td>{html.escape(_label(m, kd))}</td><td class="b">{f.b:.3f}</td><td>{f.a:.3g}</td>'
                   f"<td>{f.r2:.3f}</td><td>{f.n_points}</td></tr>" for (m, kd), f in fits.items())
    return ('<table id="power-law-fits"><thead><tr><th>method</th><th>exponent b</th><th>a</th><th>R² (log–log)</th>'
            f"<th>points</th></tr></thead><tbody>{rows}</tbody></table>")


def _html(df, config, pngs: dict[str, bytes], notes: dict[str, list[str]]) -> str:
    e = html.escape
    datasets = ", ".join(str(d) for d in dict.fromkeys(df["dataset"])) if "dataset" in df.columns else "?"
    seeds = int(df["seed"].nunique())
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>prunekit sweep report: {e(datasets)}</title><style>{CSS}</style></head><body>",
             f"<h1>prunekit sweep report: {e(datasets)}</h1>",
             f"<p>{len(df)} cells; methods: {e(', '.join(_methods(df)))}; keep fractions: "
             f"{e(', '.join(f'{k:g}' for k in sorted(set(df['keep']))))}; {seeds} seed{'s' if seeds != 1 else ''}; "
             f"KD: {e(', '.join('on' if k else 'off' for k in _kds(df)))}. "
             f"Every ± is the {SPREAD}.</p>",
             '<p id="keeps">What each method keeps: ' + e("; ".join(f"{m}: {df.attrs['keeps'].get(m, '?')}" for m in _methods(df))) + ".</p>"]
    for name in PLOTS:
        title, caption = CAPTIONS[name]
        b64 = base64.b64encode(pngs[name]).decode("ascii")
        parts.append(f'<h2 id="{name}">{e(title)}</h2><p>{e(caption)}</p>')
        parts += [f'<p class="note">{e(n)}</p>' for n in notes.get(name, [])]
        parts.append(f'<img id="img-{name}" alt="{e(title)}" src="data:image/png;base64,{b64}">')
        if name == "scaling":
            parts.append(_fit_table(df))
    parts.append('<h2 id="results">Results</h2><table id="results-table"><thead><tr><th>method</th><th>keep</th>'
                 f"<th>KD</th><th>seeds</th><th>accuracy %</th><th>± std ({e(SPREAD)})</th><th>scoring s</th>"
                 "<th>teacher s</th><th>training s</th><th>total wall s</th><th>total CPU s</th>"
                 "</tr></thead><tbody>")
    for m, k, kd, n, a, s, sc, tr, te, wall, cpu in results_table(df):
        cpu_s = f"{cpu:.2f}" if np.isfinite(cpu) else "—"
        parts.append(f"<tr><td>{e(m)}</td><td>{k:g}</td><td>{'yes' if kd else 'no'}</td><td>{n}</td>"
                     f"<td>{100 * a:.2f}</td><td>{100 * s:.2f}</td><td>{sc:.2f}</td><td>{te:.2f}</td>"
                     f"<td>{tr:.2f}</td><td>{wall:.2f}</td><td>{cpu_s}</td></tr>")
    parts.append("</tbody></table>")
    parts.append('<h2 id="config">Sweep config</h2>')
    if config is not None:
        parts.append(f"<pre>{e(json.dumps(config, indent=1, sort_keys=True))}</pre>")
    else:
        parts.append("<p>Not available (the report was made from a table without its sweep.json).</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(results, out_dir: str | os.PathLike, *, config: dict | None = None) -> Path:
    """Write ``report.html`` and the PNGs into ``out_dir`` (replacing an earlier report there);
    returns the path of ``report.html``. ``results``: a sweep directory, its ``results.parquet``,
    or a pyarrow / pandas table with the sweep's columns; ``config`` overrides the sweep config
    shown (read from ``sweep.json`` beside the table when there is one)."""
    df, found = load_results(results)
    config = config if config is not None else found
    df.attrs["keeps"] = {m: keeps_what(m, config) for m in _methods(df)}
    out = Path(out_dir)
    config = relative_paths(config, out) if config is not None else None
    if out.exists() and not out.is_dir():
        raise InputError(f"report output {out} exists and is not a directory")
    if isinstance(results, (str, os.PathLike)):
        from prunekit.io.atomic import check_not_input

        r = Path(results)
        files = [r / "results.parquet", r / "sweep.json"] if r.is_dir() else [r]
        check_not_input(out, [("sweep results", f) for f in files if f.exists()], folder=True)
    if out.is_dir():
        ours = {"report.html", *(f"{name}.png" for name in PLOTS)}
        foreign = sorted(p.name for p in out.iterdir() if p.name not in ours)
        if foreign:  # replacing the folder would delete them
            raise InputError(f"report output {out} holds files that are not a prunekit report "
                             f"({', '.join(foreign[:3])}{', …' if len(foreign) > 3 else ''}); "
                             "choose a new or empty folder")
    parent = out.parent
    if not parent.is_dir():
        raise InputError(f"cannot write the report: directory {parent} does not exist")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-tmp-", dir=parent))
    try:
        pngs, notes = {}, {}
        for name, fn in zip(PLOTS, (_plot_accuracy, _plot_scaling, _plot_time, _plot_per_class)):
            notes[name] = fn(df, tmp / f"{name}.png")
            pngs[name] = (tmp / f"{name}.png").read_bytes()
        (tmp / "report.html").write_text(_html(df, config, pngs, notes), encoding="utf-8")
        os.chmod(tmp, 0o755)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}-old-", dir=parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "report.html"


__all__ = ["SPREAD", "keeps_what", "load_results", "relative_paths", "results_table", "scaling_fits", "write_report"]
