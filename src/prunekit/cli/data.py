"""``prunekit data``: score, select, export, inspect, explain."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import numpy as np

import typer

from prunekit.cli._common import console, table

app = typer.Typer(help="Score, select and export training examples.", no_args_is_help=True)

DATA_HELP = "Examples: .npy (memory-mapped), .parquet (file or folder), .arrow/.feather or .csv."


@app.command("score")
def score_cmd(
    data: Path = typer.Argument(..., help=DATA_HELP),
    method: List[str] = typer.Option(..., "--method", "-m", help="Scorer name; repeat for several (prototypicality, semdedup, density, random)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output Parquet file (id, label, scores, cluster, duplicate_of)."),
    labels: Optional[Path] = typer.Option(None, help="Labels for .npy input (.npy or one-column CSV)."),
    ids: Optional[Path] = typer.Option(None, help="Ids for .npy input (.npy or one-column CSV)."),
    embedding_column: Optional[str] = typer.Option(None, help="Table input: list column, or glob of numeric columns like 'f*'."),
    label_column: Optional[str] = typer.Option(None, help="Table input: label column (default 'label' if present)."),
    id_column: Optional[str] = typer.Option(None, help="Table input: id column (default 'id' if present)."),
    k: Optional[int] = typer.Option(None, "--k", help="k-means clusters (default: classes for prototypicality alone, else round(sqrt N))."),
    metric: Optional[str] = typer.Option(None, help="cosine (default) or l2."),
    sample: Optional[int] = typer.Option(None, help="Rows k-means is fitted on (default 100000); all rows are assigned."),
    niter: Optional[int] = typer.Option(None, help="k-means iterations (default 20)."),
    eps: Optional[float] = typer.Option(None, help="semdedup: remove when cosine > 1 - eps (default 0.05)."),
    policy: Optional[str] = typer.Option(None, help="semdedup keep policy: hard (default), easy, random."),
    runs: Optional[int] = typer.Option(None, help="Dynamics scores: seeded proxy trainings averaged (default 5)."),
    epochs: Optional[int] = typer.Option(None, help="Dynamics scores: epochs per proxy training (default 10; grand: 0 = at init)."),
    model: Optional[str] = typer.Option(None, help="Dynamics scores: proxy model mlp (default), cnn or linear."),
    at_epoch: Optional[int] = typer.Option(None, help="el2n: 0-based epoch it is read at (default: the last)."),
    variant: Optional[str] = typer.Option(None, help="aum: logit (default) or prob margin."),
    window: Optional[int] = typer.Option(None, help="dynamic_uncertainty: window of epochs (default 10)."),
    seed: int = typer.Option(0, help="Random seed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or summary."),
) -> None:
    """Score every example and write a Parquet table.

    Example:

        prunekit data score emb.npy --labels labels.npy -m prototypicality -m semdedup -m density --k 1000 -o scores.parquet

        prunekit data score mnist.parquet -m el2n -m forgetting -m aum --runs 10 --epochs 10 -o dyn.parquet
    """
    from prunekit.data import score
    from prunekit.io import read_examples
    from prunekit.io.atomic import check_writable

    check_writable(out)
    ex = read_examples(data, embedding_column=embedding_column, label_column=label_column,
                       id_column=id_column, labels=labels, ids=ids)
    t = score(ex, method, seed=seed, show_progress=None if not quiet else False,
              k=k, metric=metric, sample=sample, niter=niter, eps=eps, policy=policy,
              runs=runs, epochs=epochs, model=model, at_epoch=at_epoch, variant=variant, window=window)
    t.write(out)
    if quiet:
        return
    rows = []
    for run in t.meta["scorers"]:
        extra = []
        if "clustering" in run:
            c = run["clustering"]
            extra.append(f"k={c['k']} {c['metric']}, fitted on {c['sample']:,}")
        if "proxy_seconds" in run:
            extra.append(f"{run['runs']} proxy trainings ({run['proxy_seconds']:.1f}s, shared)")
        if "never_learned" in run:
            extra.append(f"{run['never_learned']} never learned")
        if "n_duplicates" in run:
            extra.append(f"{run['n_duplicates']:,} near-duplicates (eps={run['eps']})")
        rows.append((run["method"], f"{run['seconds']:.2f}s", "; ".join(extra)))
    table(f"scored {len(t):,} examples → {out}", ["method", "time", "details"], rows)


@app.command("select")
def select_cmd(
    scores: Path = typer.Argument(..., help="Score table written by 'prunekit data score'."),
    selector: str = typer.Option(..., "--selector", "-s", help="hardest, easiest, offset, random, ccs, dbp, sorscher."),
    out: Path = typer.Option(..., "--out", "-o", help="Output Parquet file (adds keep and reason)."),
    keep: Optional[float] = typer.Option(None, help="Fraction of examples to keep, in (0, 1]."),
    count: Optional[int] = typer.Option(None, help="Number of examples to keep (instead of --keep)."),
    score: Optional[str] = typer.Option(None, "--score", help="Score column to rank by (default: first difficulty column)."),
    balance: Optional[str] = typer.Option(None, help="Class balance: proportional or equal (hardest/easiest/offset/random)."),
    beta: Optional[float] = typer.Option(None, help="offset/ccs: fraction of N dropped as hardest first."),
    bins: Optional[int] = typer.Option(None, help="ccs: number of equal-width score bins (default 50)."),
    cutoff_score: Optional[str] = typer.Option(None, help="ccs: column for the hard cutoff (default --score)."),
    tau: Optional[float] = typer.Option(None, help="dbp: softmax temperature (default 0.5)."),
    within: Optional[str] = typer.Option(None, help="dbp: hardest (default), easiest or random within clusters."),
    dedup: bool = typer.Option(False, "--dedup", help="Drop near-duplicates (from semdedup) before selecting."),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    """Choose the examples to keep; every dropped example gets a reason.

    Example:

        prunekit data select scores.parquet -s dbp --keep 0.3 --dedup -o selection.parquet
    """
    from prunekit.data import ScoreTable, select
    from prunekit.io.atomic import check_writable

    check_writable(out)
    t = ScoreTable.read(scores)
    s = select(t, selector, keep, count=count, dedup=dedup, seed=seed, score=score, balance=balance,
               beta=beta, bins=bins, cutoff_score=cutoff_score, tau=tau, within=within)
    s.write(out)
    _print_summary(s, f"{selector}: kept {int(s.keep.sum()):,} of {len(s):,} → {out}")


def _print_summary(t, title: str) -> None:
    from prunekit.data.report import class_counts, reason_counts

    cc = class_counts(t)
    table(title, ["class", "total", "kept", "kept %"],
          [(r["class"], r["total"], r["kept"], f"{100 * r['fraction']:.1f}") for r in cc])
    rc = reason_counts(t)
    if rc:
        table("why examples were dropped", ["reason", "examples"], rc)


@app.command("export")
def export_cmd(
    selection: Path = typer.Argument(..., help="Selection table written by 'prunekit data select'."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file."),
    data: Optional[Path] = typer.Option(None, help="The scored data (default: the path recorded in the selection)."),
    format: str = typer.Option("same", help="same (the input's format), index, npy, parquet or csv."),
) -> None:
    """Write the kept examples in the format you train from (or an index of ids and rows).

    Example:

        prunekit data export selection.parquet -o kept.parquet
    """
    from prunekit.data import ScoreTable, export

    t = ScoreTable.read(selection)
    p = export(t, data, out, format=format)
    console.print(f"wrote {int(t.keep.sum()):,} kept examples → {p}")


@app.command("inspect")
def inspect_cmd(
    selection: Path = typer.Argument(..., help="Selection (or score) table."),
    png: Optional[Path] = typer.Option(None, help="Write a score histogram (kept vs dropped) here."),
    score: Optional[str] = typer.Option(None, "--score", help="Column for the histogram (default: first difficulty)."),
) -> None:
    """Per-class kept counts, the top drop reasons and a score histogram.

    Example:

        prunekit data inspect selection.parquet --png hist.png
    """
    import numpy as np

    from prunekit.data import ScoreTable
    from prunekit.data.report import plot_histogram, reason_counts

    t = ScoreTable.read(selection)
    rows = []
    for name, v in t.scores.items():
        q = np.percentile(v, [0, 25, 50, 75, 100])
        rows.append((name, t.directions.get(name, ""), *[float(x) for x in q]))
    table(f"{selection}: {len(t):,} examples", ["score", "direction", "min", "p25", "median", "p75", "max"], rows)
    if t.keep is not None:
        sel = t.meta.get("selection", {})
        _print_summary(t, f"selector {sel.get('selector')}: kept {int(t.keep.sum()):,} of {len(t):,}")
        table("most common reasons", ["reason", "examples"], reason_counts(t, by="text", top=5))
    if png is not None:
        plot_histogram(t, png, score)
        console.print(f"histogram → {png}")


@app.command("explain")
def explain_cmd(
    example_id: str = typer.Argument(..., metavar="ID", help="The example's id."),
    selection: Path = typer.Argument(..., help="Selection (or score) table."),
) -> None:
    """Why an example was kept or dropped: its scores (with percentiles), cluster, duplicate.

    Example:

        prunekit data explain 1234 selection.parquet
    """
    from prunekit.data import ScoreTable
    from prunekit.data.report import explain

    t = ScoreTable.read(selection)
    e = explain(t, example_id)
    head = [f"id {e['id']} (row {e['row']})"]
    if "label" in e:
        head.append(f"label {e['label']}")
    if "cluster" in e:
        head.append(f"cluster {e['cluster']} ({e['cluster_size']} members)")
    console.print(", ".join(head))
    if "keep" in e:
        console.print("[green]kept[/green]" if e["keep"] else f"[red]dropped[/red]: {e['reason']}")
    if "duplicate_of" in e:
        console.print(f"near-duplicate of id {e['duplicate_of']}")
    if e.get("duplicated_by"):
        console.print(f"{e['duplicated_by']} removed example(s) duplicate it")
    table("scores", ["score", "value", "percentile", "direction"],
          [(k, v["value"], f"{v['percentile']:.1f}", v["direction"]) for k, v in e["scores"].items()])


@app.command("train")
def train_cmd(
    data: str = typer.Argument(..., help="Training data (a file, as for 'score') or a bundled data set name (e.g. mnist5k: its fixed test split is used)."),
    out: Path = typer.Option(..., "--out", "-o", help="Checkpoint to write (.pt); metrics go to <out>.metrics.json."),
    selection: Optional[Path] = typer.Option(None, help="Train on the examples this selection keeps."),
    rs2: Optional[float] = typer.Option(None, help="RS2: a fresh random fraction of the data every epoch (instead of --selection)."),
    rs2_replace: bool = typer.Option(False, help="RS2: independent subsets per epoch (default: without replacement across epochs)."),
    rs2_balanced: bool = typer.Option(False, help="RS2: class-balanced draws."),
    labels: Optional[Path] = typer.Option(None, help="Labels for .npy input."),
    test: Optional[Path] = typer.Option(None, help="Test data (same format) for accuracy."),
    test_labels: Optional[Path] = typer.Option(None, help="Labels for .npy test data."),
    model: str = typer.Option("mlp", help="mlp, cnn (square images as flat vectors) or linear."),
    epochs: int = typer.Option(10, help="Epochs (see --budget)."),
    batch_size: int = typer.Option(128, help="Batch size."),
    optimizer: str = typer.Option("sgd", help="sgd or adamw."),
    lr: float = typer.Option(0.05, help="Peak learning rate."),
    schedule: str = typer.Option("cosine", help="cosine, step or constant, over the total number of steps."),
    budget: str = typer.Option("epochs", help="epochs (fewer steps on smaller subsets) or steps (as many steps as full data)."),
    kd_alpha: Optional[str] = typer.Option(None, help="Distillation weight in [0, 1] or 'auto' (clip(1 - keep, 0.25, 0.9))."),
    kd_tau: float = typer.Option(4.0, help="Distillation temperature."),
    teacher: Optional[Path] = typer.Option(None, help="Teacher checkpoint (default: train one on all the data, cached)."),
    teacher_model: Optional[str] = typer.Option(None, help="Model of the trained teacher (default: --model)."),
    teacher_width: int = typer.Option(1, help="Width multiplier of the trained teacher (capacity)."),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N or auto."),
    seed: int = typer.Option(0, help="Random seed."),
) -> None:
    """Train a classifier on a kept subset (or with RS2), optionally distilling from a teacher
    trained on all the data; writes a checkpoint and a metrics JSON with the wall time of scoring
    and of training.

    Example:

        prunekit data train mnist5k --model cnn --selection selection.parquet --kd-alpha auto -o student.pt
    """
    import json

    from prunekit.data import ScoreTable
    from prunekit.data.train import TrainConfig, fit, rows_from_selection, save_checkpoint, teacher_logits
    from prunekit.errors import ConfigError
    from prunekit.io.atomic import atomic_path, check_writable

    check_writable(out)
    metrics_path = out.with_name(out.name + ".metrics.json")
    if teacher is not None and kd_alpha is None:
        raise ConfigError("--teacher is only used for distillation: add --kd-alpha (a number or 'auto')")
    ex, X_test, y_test, n_classes = _train_data(data, labels, test, test_labels)
    if ex.labels is None:
        raise ConfigError("training needs labels (--labels for .npy, or a label column)")
    cfg = TrainConfig(model=model, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
                      schedule=schedule, budget=budget, device=device, seed=seed).validate()
    X = ex.embeddings
    rows, scoring_seconds = None, 0.0
    if selection is not None and rs2 is not None:
        raise ConfigError("give --selection or --rs2, not both")
    if selection is not None:
        table = ScoreTable.read(selection)
        rows = rows_from_selection(table, ex.ids)
        scoring_seconds = float(sum(r.get("seconds", 0.0) for r in table.meta.get("scorers", [])))
    alpha: float | str = 0.0
    if kd_alpha is not None:
        try:
            alpha = kd_alpha if kd_alpha == "auto" else float(kd_alpha)
        except ValueError:
            raise ConfigError(f"--kd-alpha must be a number in [0, 1] or 'auto', got {kd_alpha!r}") from None
        if alpha != "auto" and not 0.0 <= alpha <= 1.0:  # before the teacher is trained
            raise ConfigError(f"--kd-alpha must be a number in [0, 1] or 'auto', got {kd_alpha!r}")
    T, tinfo = None, {}
    if alpha != 0.0:
        tcfg = TrainConfig(**{**cfg.__dict__, "model": teacher_model or model, "width": teacher_width})
        T, tinfo = teacher_logits(X, ex.labels, teacher=teacher, config=tcfg, n_classes=n_classes)
    r = fit(X, ex.labels, cfg, rows=rows, rs2_keep=rs2, rs2_replace=rs2_replace, rs2_balanced=rs2_balanced,
            teacher_logits=T, kd_alpha=alpha, kd_tau=kd_tau, n_classes=n_classes, X_test=X_test, y_test=y_test)
    save_checkpoint(r, out)
    keep = rs2 if rs2 is not None else (len(rows) / len(ex) if rows is not None else 1.0)
    metrics = {
        "keep": keep, "subset": "rs2" if rs2 is not None else ("selection" if rows is not None else "all"),
        "examples_per_epoch": r.examples_per_epoch, "steps": r.steps, "budget": budget,
        "test_accuracy": r.test_accuracy, "test_loss": r.test_loss,
        "scoring_seconds": scoring_seconds, "teacher_seconds": tinfo.get("seconds", 0.0),
        "train_seconds": r.seconds, "kd_alpha": r.config["kd_alpha"], "kd_tau": kd_tau,
        "config": r.config, "history": r.history,
    }
    with atomic_path(metrics_path) as tmp:
        tmp.write_text(json.dumps(metrics, indent=1))
    acc = f"test accuracy {100 * r.test_accuracy:.2f}%" if r.test_accuracy is not None else "no test data"
    console.print(f"trained {model} on {r.examples_per_epoch:,} examples/epoch, {r.steps} steps in "
                  f"{r.seconds:.1f}s; {acc} → {out}, {metrics_path}")


def _train_data(data: str, labels, test, test_labels):
    """Examples + optional test arrays from a path or a bundled data set name."""
    from prunekit.datasets import DATASETS, load
    from prunekit.errors import InputError
    from prunekit.io import read_examples

    if not Path(data).exists() and data in DATASETS:
        if test is not None:
            raise InputError(f"{data} is a bundled data set with its own test split; drop --test")
        ds = load(data)
        ex = ds.train_examples()
        return ex, ds.X_test, ds.y_test, len(ds.label_names)
    if not Path(data).exists():
        raise InputError(f"{data} is neither a file nor a bundled data set ({', '.join(DATASETS)})")
    ex = read_examples(data, labels=labels)
    X_test = y_test = None
    if test is not None:
        te = read_examples(test, labels=test_labels)
        if te.labels is None:
            raise InputError("test data needs labels")
        if te.dim != ex.dim:
            raise InputError(f"test data has {te.dim} features; training data has {ex.dim}")
        X_test, y_test = np.asarray(te.embeddings), te.labels
    n_classes = ex.n_classes if ex.labels is not None else None
    if y_test is not None and n_classes is not None:
        n_classes = max(n_classes, int(y_test.max()) + 1)
    return ex, X_test, y_test, n_classes


from prunekit.cli.sweep import sweep_cmd as _sweep; app.command("sweep")(_sweep)  # noqa: E402,E702
from prunekit.cli.sweep import report_cmd as _report; app.command("report")(_report)  # noqa: E402,E702
from prunekit.cli.sweep import plan_cmd as _plan; app.command("plan")(_plan)  # noqa: E402,E702
