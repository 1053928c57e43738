"""``prunekit data``: score, select, export, inspect, explain."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import List, Optional


import typer

from prunekit.cli._common import console, option, table
from prunekit.data.scores import SCORERS, scorer_params
from prunekit.data.select import COUNT, KEEP, SELECTORS, selector_params
from prunekit.errors import ConfigError
from prunekit.params import Param
from prunekit.data.train.subset import KD_ALPHA, KD_TAU
from prunekit.data.train.trainer import TRAIN_PARAMS as _TP
from prunekit.data.dsir import DSIR_PARAMS as _DSIR

app = typer.Typer(help="Score, select and export training examples.", no_args_is_help=True)

DATA_HELP = "Examples: .npy (memory-mapped), .parquet (file or folder), .arrow/.feather or .csv."
_METHOD = Param("method", "choice", choices=lambda: list(SCORERS), help="Scorer; repeat for several")
_SELECTOR = Param("selector", "choice", choices=lambda: list(SELECTORS), help="Selector")
_ENGINE = Param("engine", "choice", choices=("local", "ray"), default="local",
                help="Where the geometry scorers run: this process, or a Ray cluster (needs prunekit's ray extra)")


def _scorer_option(name: str, *flags: str, extra: str = ""):
    """An option for a scorer parameter: declared by the scorers; omitted = each scorer's default."""
    return option(scorer_params()[name], *flags, default=None, extra=extra)


def _selector_option(name: str, *flags: str, extra: str = ""):
    return option(selector_params()[name], *flags, default=None, extra=extra)


@app.command("score")
def score_cmd(
    data: str = typer.Argument(..., help=DATA_HELP),  # a str: a Path would turn s3://b/k into s3:/b/k
    method: List[str] = option(_METHOD, "--method", "-m"),
    out: Path = typer.Option(..., "--out", "-o", help="Output Parquet file (id, label, scores, cluster, duplicate_of)."),
    labels: Optional[Path] = typer.Option(None, help="Labels for .npy input (.npy or one-column CSV)."),
    ids: Optional[Path] = typer.Option(None, help="Ids for .npy input (.npy or one-column CSV)."),
    embedding_column: Optional[str] = typer.Option(None, help="Table input: list column, or glob of numeric columns like 'f*'."),
    label_column: Optional[str] = typer.Option(None, help="Table input: label column (default 'label' if present)."),
    id_column: Optional[str] = typer.Option(None, help="Table input: id column (default 'id' if present)."),
    k: Optional[int] = _scorer_option("k", "--k"),
    metric: Optional[str] = _scorer_option("metric"),
    sample: Optional[int] = _scorer_option("sample"),
    niter: Optional[int] = _scorer_option("niter"),
    n_neighbors: Optional[int] = _scorer_option("n_neighbors"),
    eps: Optional[float] = _scorer_option("eps"),
    policy: Optional[str] = _scorer_option("policy"),
    runs: Optional[int] = _scorer_option("runs"),
    epochs: Optional[int] = _scorer_option("epochs"),
    model: Optional[str] = _scorer_option("model"),
    at_epoch: Optional[int] = _scorer_option("at_epoch"),
    variant: Optional[str] = _scorer_option("variant"),
    window: Optional[int] = _scorer_option("window"),
    target: Optional[Path] = _scorer_option("target", extra="dp4tl_lm, dp4tl_fm"),
    surrogate: Optional[Path] = _scorer_option("surrogate"),
    seed: int = option(_TP["seed"]),
    engine: str = option(_ENGINE),
    address: Optional[str] = typer.Option(None, help="--engine ray: address of an existing Ray cluster (default: start a local one)."),
    workers: Optional[int] = typer.Option(None, help="--engine ray: Ray Data tasks (or encoder actors) run at once (default: the cluster's CPUs)."),
    selection: Optional[Path] = typer.Option(None, help="--engine ray: also select (--selector, --keep, --dedup) and write the selection here."),
    selector: str = option(_SELECTOR, "--selector", default="dbp", help="--engine ray: selector of --selection"),
    keep: Optional[float] = option(KEEP, extra="(--engine ray with --selection)"),
    dedup: bool = typer.Option(False, "--dedup", help="--engine ray with --selection: drop near-duplicates first."),
    encoder: Optional[str] = typer.Option(None, help="DATA holds raw inputs: embed them first with 'all-MiniLM-L6-v2', 'pkg.mod:make_encoder' or 'file.py:make_encoder' (cached per shard; on Ray in actors)."),
    input_column: Optional[str] = typer.Option(None, help="--encoder: Parquet column of the raw inputs (default 'text' or 'image')."),
    batch_size: Optional[int] = typer.Option(None, help="--encoder: rows per call of the encoder (default 64)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or summary."),
) -> None:
    """Score every example and write a Parquet table.

    DATA may also be a folder or glob of .npy / Parquet shards (local paths or fsspec URIs); with
    --engine ray they are scored on a Ray cluster, and one part per shard is written beside the
    merged table (OUT.parts/).

    Example:

        prunekit data score emb.npy --labels labels.npy -m prototypicality -m semdedup -m density --k 1000 -o scores.parquet

        prunekit data score mnist.parquet -m el2n -m forgetting -m aum --runs 10 --epochs 10 -o dyn.parquet

        prunekit data score 'emb/*.npy' -m prototypicality -m semdedup -m density --k 1000 --engine ray -o scores.parquet --selection sel.parquet --keep 0.3 --dedup

        prunekit data score 'docs/*.parquet' --encoder all-MiniLM-L6-v2 -m semdedup --k 100 --engine ray -o scores.parquet
    """
    from prunekit.data import score
    from prunekit.io import read_examples
    from prunekit.data import ScoreTable
    from prunekit.io.shards import is_shard_source, read_shards

    progress = None if not quiet else False
    geometry = dict(k=k, metric=metric, sample=sample, niter=niter, n_neighbors=n_neighbors, eps=eps, policy=policy)
    if engine == "ray":
        from prunekit.data.engines import score_shards

        if labels is not None or ids is not None:
            raise ConfigError("--engine ray reads labels and ids from Parquet shards' columns, not from --labels/--ids")

        sel = {"out": selection, "method": selector, "keep": keep, "dedup": dedup} if selection else None
        run = score_shards(str(data), method, out, engine="ray", address=address, workers=workers, seed=seed,
                           selection=sel, embedding_column=embedding_column, label_column=label_column,
                           id_column=id_column, show_progress=progress, encoder=encoder, input_column=input_column,
                           batch_size=batch_size, **{k_: v for k_, v in geometry.items() if v is not None})
        t = run.scores
        if not quiet:
            if encoder is not None:
                console.print(f"ray: {len(run.computed['embed'])} shards embedded, {len(run.skipped['embed'])} "
                              "found in the cache")
            console.print(f"ray: {len(run.computed.get('assign', []))} shards assigned, "
                          f"{len(run.skipped.get('assign', []))} already done; seconds per stage {run.seconds}; "
                          f"parts → {run.paths['parts']}")
    else:
        if selection is not None:
            raise ConfigError("--selection is part of --engine ray; locally, run 'prunekit data select' on the scores")
        ScoreTable.check_output(out, [("data", None if "://" in data else Path(data)), ("labels", labels), ("ids", ids), ("target", target),
                                      ("surrogate", surrogate)])
        if encoder is not None:
            from prunekit.data.engines.embed import DEFAULT_BATCH, read_embedded

            if labels is not None or ids is not None:
                raise ConfigError("--encoder reads labels and ids from Parquet columns, not from --labels/--ids")
            ex = read_embedded(str(data), encoder, show_progress=progress, input_column=input_column,
                               id_column=id_column, label_column=label_column, batch_size=batch_size or DEFAULT_BATCH)
        elif input_column is not None or batch_size is not None:
            raise ConfigError("--input-column and --batch-size apply with --encoder")
        elif is_shard_source(str(data)):
            ex = read_shards(str(data), embedding_column=embedding_column, label_column=label_column,
                             id_column=id_column)
        else:
            ex = read_examples(Path(data), embedding_column=embedding_column, label_column=label_column,
                               id_column=id_column, labels=labels, ids=ids)
        t = score(ex, method, seed=seed, show_progress=progress, **geometry,
                  runs=runs, epochs=epochs, model=model, at_epoch=at_epoch, variant=variant, window=window,
                  target=None if target is None else str(target),
                  surrogate=None if surrogate is None else str(surrogate))
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
        if "group_counts" in run:
            used = sum(1 for c in run["group_counts"] if c)
            extra.append(f"{run['target_examples']:,} target examples onto {used} of "
                         f"{len(run['group_counts'])} source {run['group']}s")
        if "n_duplicates" in run:
            extra.append(f"{run['n_duplicates']:,} near-duplicates (eps={run['eps']})")
        rows.append((run["method"], f"{run['seconds']:.2f}s", "; ".join(extra)))
    table(f"scored {len(t):,} examples → {out}", ["method", "time", "details"], rows)


@app.command("select")
def select_cmd(
    scores: Path = typer.Argument(..., help="Score table written by 'prunekit data score'."),
    selector: str = option(_SELECTOR, "--selector", "-s"),
    out: Path = typer.Option(..., "--out", "-o", help="Output Parquet file (adds keep and reason)."),
    keep: Optional[float] = option(KEEP),
    count: Optional[int] = option(COUNT),
    score: Optional[str] = _selector_option("score", "--score"),
    balance: Optional[str] = _selector_option("balance", extra="for hardest, easiest, offset and random"),
    beta: Optional[float] = _selector_option("beta", extra="for offset and ccs"),
    bins: Optional[int] = _selector_option("bins"),
    cutoff_score: Optional[str] = _selector_option("cutoff_score"),
    tau: Optional[float] = _selector_option("tau"),
    within: Optional[str] = _selector_option("within"),
    abundant: Optional[int] = _selector_option("abundant"),
    group: Optional[str] = _selector_option("group"),
    gumbel: Optional[bool] = _selector_option("gumbel", "--gumbel/--top-k"),
    dedup: bool = typer.Option(False, "--dedup", help="Drop near-duplicates (from semdedup) before selecting."),
    seed: int = option(_TP["seed"]),
) -> None:
    """Choose the examples to keep; every dropped example gets a reason.

    Example:

        prunekit data select scores.parquet -s dbp --keep 0.3 --dedup -o selection.parquet
    """
    from prunekit.data import ScoreTable, select
    ScoreTable.check_output(out, [("score table", scores)])
    t = ScoreTable.read(scores)
    s = select(t, selector, keep, count=count, dedup=dedup, seed=seed, score=score, balance=balance,
               beta=beta, bins=bins, cutoff_score=cutoff_score, tau=tau, within=within, abundant=abundant,
               group=group, gumbel=gumbel)
    s.write(out)
    _print_summary(s, f"{selector}: kept {int(s.keep.sum()):,} of {len(s):,} → {out}")


def _print_summary(t, title: str) -> None:
    from prunekit.data.inspection import class_counts, reason_counts

    _print_counts(class_counts(t), reason_counts(t), title)


def _print_counts(cc, rc, title: str) -> None:
    table(title, ["class", "total", "kept", "kept %"],
          [(r["class"], r["total"], r["kept"], f"{100 * r['fraction']:.1f}") for r in cc])
    if rc:
        table("why examples were dropped", ["reason", "examples"], rc)


@app.command("dsir")
def dsir_cmd(
    raw: Path = typer.Argument(..., help="Raw pool of documents: .txt (one per line), .jsonl, .csv or .parquet."),
    target: Path = typer.Option(..., "--target", "-t", help="Target documents (same formats)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output Parquet selection (id, dsir log-weight, keep, reason)."),
    keep: Optional[float] = option(KEEP),
    count: Optional[int] = option(COUNT),
    text_column: str = typer.Option("text", help="Text column/field of .jsonl, .csv and .parquet input."),
    id_column: Optional[str] = typer.Option(None, help="Id column of the raw pool (default: row numbers)."),
    group_column: Optional[str] = typer.Option(None, help="A column of the raw pool (e.g. its domain) to count the selection by."),
    buckets: int = option(_DSIR["buckets"]),
    ngrams: int = option(_DSIR["ngrams"]),
    smoothing: float = option(_DSIR["smoothing"]),
    gumbel: bool = option(selector_params()["gumbel"], "--gumbel/--top-k"),
    seed: int = option(_TP["seed"]),
) -> None:
    """DSIR: importance-resample the raw documents that look like the target (hashed n-grams).

    Example:

        prunekit data dsir pool.jsonl --target reviews.jsonl --keep 0.1 --group-column domain -o dsir.parquet
    """
    from prunekit.data import ScoreTable
    from prunekit.data.dsir import dsir_select

    ScoreTable.check_output(out, [("raw pool", raw), ("target", target)])
    s = dsir_select(raw, target, keep, count=count, seed=seed, gumbel=gumbel, text_column=text_column,
                    id_column=id_column, group_column=group_column, buckets=buckets, ngrams=ngrams,
                    smoothing=smoothing)
    s.write(out)
    kl = s.meta["selection"]["kl_reduction"]
    _print_summary(s, f"dsir: kept {int(s.keep.sum()):,} of {len(s):,} (KL reduction {kl:.4f}) → {out}")


@app.command("export")
def export_cmd(
    selection: Path = typer.Argument(..., help="Selection table written by 'prunekit data select'."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file; its extension decides the format: .npy, .parquet, .arrow/.feather or .csv."),
    data: Optional[Path] = typer.Option(None, help="The scored data (default: the path recorded in the selection)."),
    format: Optional[str] = typer.Option(None, help="index (a Parquet file of kept ids and rows) or same (the input's format); must agree with the extension of --out."),
    force: bool = typer.Option(False, "--force", help="Export even if the data is not what the selection was made on (warns; recorded in Parquet/Arrow output)."),
) -> None:
    """Write the kept examples in the format you train from (or an index of ids and rows).

    Example:

        prunekit data export selection.parquet -o kept.parquet
    """
    from prunekit.data import ScoreTable, export

    t = ScoreTable.read(selection)
    with _warnings_as_lines():
        p = export(t, data, out, format=format, force=force)
    console.print(f"wrote {int(t.keep.sum()):,} kept examples → {p}")


@contextlib.contextmanager
def _warnings_as_lines():
    """Show the library's warnings (a forced data mismatch) as one plain line each on stderr."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        typer.secho(f"warning: {w.message}", err=True, fg="yellow")


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
    from prunekit.data.inspection import inspect

    r = inspect(selection, png=png, score=score)
    table(f"{selection}: {r['n']:,} examples", ["score", "direction", "min", "p25", "median", "p75", "max"],
          r["quantiles"])
    if "kept" in r:
        _print_counts(r["class_counts"], r["reason_categories"], f"selector {r['selector']}: kept {r['kept']:,} of {r['n']:,}")
        table("most common reasons", ["reason", "examples"], r["reasons"])
    if png is not None:
        console.print(f"histogram → {png}")


@app.command("explain")
def explain_cmd(
    example_id: str = typer.Argument(..., metavar="ID", help="The example's id."),
    selection: Path = typer.Argument(..., help="Selection (or score) table."),
    data: Optional[Path] = typer.Option(None, help="The scored data to check the table against (default: the path it recorded, if it still exists)."),
    force: bool = typer.Option(False, "--force", help="Explain even if the data is not what the table was made on."),
) -> None:
    """Why an example was kept or dropped: its scores (with percentiles), cluster, duplicate.

    Example:

        prunekit data explain 1234 selection.parquet
    """
    from prunekit.data import ScoreTable
    from prunekit.data.inspection import explain

    t = ScoreTable.read(selection)
    e = explain(t, example_id, examples=data, force=force)
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
    d = e["data"]
    if not d["checked"]:
        console.print(f"[dim]data not checked: {d['why']}; explained from the table alone[/dim]")
    elif "data_mismatch" in d:
        typer.secho(f"warning: the table was made on different data ({'; '.join(d['data_mismatch']['differences'])}); "
                    "explained anyway (--force)", err=True, fg="yellow")
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
    model: str = option(_TP["model"], extra="cnn takes square images as flat vectors"),
    width: int = option(_TP["width"]),
    depth: int = option(_TP["depth"]),
    epochs: int = option(_TP["epochs"]),
    batch_size: int = option(_TP["batch_size"]),
    optimizer: str = option(_TP["optimizer"]),
    lr: float = option(_TP["lr"]),
    momentum: float = option(_TP["momentum"]),
    weight_decay: float = option(_TP["weight_decay"]),
    schedule: str = option(_TP["schedule"]),
    budget: str = option(_TP["budget"]),
    standardize: bool = typer.Option(False, "--standardize", help="z-score every feature with the training set's mean and std (test data alike)."),
    kd_alpha: Optional[str] = option(KD_ALPHA, default=None, extra="omit for plain cross-entropy"),
    kd_tau: float = option(KD_TAU),
    teacher: Optional[Path] = typer.Option(None, help="Teacher checkpoint (default: train one on all the data, cached)."),
    teacher_model: Optional[str] = option(dataclasses.replace(_TP["model"], default=None, none_means="--model"),
                                          "--teacher-model", help="Model of the trained teacher"),
    teacher_width: Optional[int] = option(dataclasses.replace(_TP["width"], default=None, none_means="--width"),
                                          "--teacher-width", help="Width multiplier of the trained teacher (capacity)"),
    teacher_epochs: Optional[int] = option(dataclasses.replace(_TP["epochs"], default=None, none_means="--epochs"),
                                           "--teacher-epochs", help="Epochs of the trained teacher"),
    teacher_optimizer: Optional[str] = option(dataclasses.replace(_TP["optimizer"], default=None,
                                                                  none_means="--optimizer"),
                                              "--teacher-optimizer", help="Optimizer of the trained teacher"),
    teacher_lr: Optional[float] = option(dataclasses.replace(_TP["lr"], default=None, none_means="--lr"),
                                         "--teacher-lr", help="Peak learning rate of the trained teacher"),
    device: str = option(_TP["device"]),
    seed: int = option(_TP["seed"]),
    force: bool = typer.Option(False, "--force", help="Train even if --selection or --teacher was made on other data (recorded in the metrics)."),
    json_out: bool = typer.Option(False, "--json", help="Print the metrics (without the per-epoch history) as JSON instead of a line."),
) -> None:
    """Train a classifier on a kept subset (or with RS2), optionally distilling from a teacher
    trained on all the data; writes a checkpoint and a metrics JSON with the wall time of scoring
    and of training.

    Example:

        prunekit data train mnist5k --model cnn --selection selection.parquet --kd-alpha auto -o student.pt

        prunekit data train train.parquet --test test.parquet --model mynets:make --optimizer adamw --lr 0.001 --standardize -o m.pt

    The recipe keys are those of a sweep config (docs/TRAINING.md, "The recipe"); the budget
    defaults to equal steps everywhere.
    """
    from prunekit.data.train import TrainConfig, train_subset
    from prunekit.io.atomic import check_not_input, check_writable

    inputs = [("data", data if Path(data).exists() else None), ("selection", selection), ("labels", labels),
              ("test data", test), ("test labels", test_labels), ("teacher", teacher)]
    for o in (out, out.with_name(out.name + ".metrics.json")):
        check_writable(o)
        check_not_input(o, inputs)
    cfg = TrainConfig(model=model, width=width, depth=depth, epochs=epochs, batch_size=batch_size,
                      optimizer=optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay,
                      schedule=schedule, budget=budget, device=device, seed=seed)
    with _warnings_as_lines():
        run = train_subset(data, cfg, selection=selection, rs2=rs2, rs2_replace=rs2_replace,
                           rs2_balanced=rs2_balanced, kd_alpha=kd_alpha, kd_tau=kd_tau, teacher=teacher,
                           teacher_model=teacher_model, teacher_width=teacher_width, labels=labels, test=test,
                           teacher_recipe={k: v for k, v in (("epochs", teacher_epochs), ("optimizer", teacher_optimizer),
                                                             ("lr", teacher_lr)) if v is not None},
                           test_labels=test_labels, force=force, standardize=standardize)
    _, metrics_path = run.save(out)
    for what, m in run.metrics.get("data_mismatch", {}).items():
        typer.secho(f"warning: the {what} was made on different data ({'; '.join(m['differences'])}); "
                    "trained anyway (--force, recorded in the metrics)", err=True, fg="yellow")
    r = run.result
    if json_out:
        import json

        doc = {k: v for k, v in run.metrics.items() if k != "history"}
        doc["config"] = {k: v for k, v in doc["config"].items() if k != "standardize"}
        typer.echo(json.dumps(dict(doc, checkpoint=str(out), metrics=str(metrics_path)), default=str))
        return
    acc = f"test accuracy {100 * r.test_accuracy:.2f}%" if r.test_accuracy is not None else "no test data"
    console.print(f"trained {model} on {r.examples_per_epoch:,} examples/epoch, {r.steps} steps in "
                  f"{r.seconds:.1f}s; {acc} → {out}, {metrics_path}")


from prunekit.cli.sweep import sweep_cmd as _sweep; app.command("sweep")(_sweep)  # noqa: E402,E702
from prunekit.cli.sweep import report_cmd as _report; app.command("report")(_report)  # noqa: E402,E702
from prunekit.cli.sweep import plan_cmd as _plan; app.command("plan")(_plan)  # noqa: E402,E702
from prunekit.cli.gallery import gallery_cmd as _gallery; app.command("gallery")(_gallery)  # noqa: E402,E702
