"""Resumable sweeps: methods × keep fractions × seeds × {CE, KD} on one data set.

A sweep is described by a TOML file (``SweepConfig.from_toml``, in ``sweep_config``) and runs into an
output directory (its layout: ``sweep_store``). Finished cells are skipped on a rerun.

The teacher for KD is trained on all the data with the students' configuration and the cell's seed;
every cell is one :func:`prunekit.data.train.train_subset` call.
``scoring_seconds`` of a method is the wall time of the scoring call it needed; dynamics scorers
(el2n, forgetting, aum, ..., and ccs which uses aum) share one set of proxy trainings, so they all
carry the cost of that shared call, as do geometry scorers of theirs.

Algorithm and parameters: docs/ALGORITHMS.md §3.4.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from prunekit.data.experiment.sweep_config import (
    RECIPE_KEYS, SWEEP_PARAMS, Cell, SweepConfig, cell_digest, cells, difficulty_scorers, is_dynamics, valid_methods,
)
from prunekit.data.experiment.sweep_store import (
    RESULT_COLUMNS, cell_order, finished, json_write, prepare_dir, write_results,
)

# ----------------------------------------------------------------------------- data & per-seed work

_DATA: dict[str, Any] = {}


def _load(cfg: SweepConfig):
    """(name, X_train, y_train, X_test, y_test, n_classes), loaded once per process."""
    from prunekit.data.train import load_training_data
    from prunekit.errors import InputError

    key = _data_key(cfg)
    if key in _DATA:
        return _DATA[key]
    td = load_training_data(cfg.data, labels=cfg.labels, test=cfg.test, test_labels=cfg.test_labels,
                            need_test=True)
    if td.y is None or td.y_test is None:
        raise InputError("a sweep needs labelled training and test data")
    X, X_test = np.asarray(td.X, dtype=np.float32), np.asarray(td.X_test, dtype=np.float32)
    if cfg.standardize:
        from prunekit.data.train.recipe import standardize

        X, X_test, _ = standardize(X, X_test)
    elif not cfg.is_bundled:
        from prunekit.data.train.recipe import warn_if_unscaled

        warn_if_unscaled(X, td.name)
    out = (td.name, X, td.y, X_test, td.y_test, td.n_classes)
    _DATA.clear()
    _DATA[key] = out
    _DATA[key, "examples"] = td.examples
    return out


def _data_key(cfg: SweepConfig) -> tuple:
    """The in-process cache key of the loaded data: the config and the files' size and mtime (a file
    rewritten between two sweeps in one process is read again)."""
    stats = []
    for p in (cfg.data, cfg.labels, cfg.test, cfg.test_labels):
        try:
            st = os.stat(p) if p is not None else None
        except OSError:
            st = None
        stats.append(None if st is None else (st.st_size, st.st_mtime_ns, st.st_ino))
    return (cfg.digest(), *stats)


def data_identity(cfg: SweepConfig) -> dict[str, Any]:
    """The identity (rows, ids, content digests) of the sweep's training data."""
    _load(cfg)
    return _DATA[_data_key(cfg), "examples"].identity.to_dict()


def heldout_identity(cfg: SweepConfig) -> dict[str, Any]:
    """A content digest of the sweep's test data (features and labels), as loaded."""
    from prunekit.io.cache import checksum_arrays

    _, _, _, X_test, y_test, _ = _load(cfg)
    return {"rows": int(len(y_test)), "content": checksum_arrays(X_test, np.asarray(y_test, dtype=np.int64))}


def _train_config(cfg: SweepConfig, seed: int, teacher: bool = False):
    from prunekit.data.train import TrainConfig

    recipe = cfg.teacher_config() if teacher else {k: getattr(cfg, k) for k in RECIPE_KEYS}
    return TrainConfig(**recipe, budget=cfg.budget, seed=seed).validate()


def _scorer_groups(cfg: SweepConfig) -> dict[str, list[str]]:
    """Scorers to run per seed, in two groups sharing their expensive part."""
    diff = difficulty_scorers()
    want = [m for m in cfg.methods if m in diff and m != "random"]
    if "ccs" in cfg.methods:
        want += [s for s in ("aum", cfg.selector("ccs").get("cutoff_score")) if s and s in diff and s not in want]
    if "dbp" in cfg.methods and "density" not in want:
        want.append("density")
    return {"dynamics": [m for m in want if is_dynamics(m)], "geometry": [m for m in want if not is_dynamics(m)]}


def _scorer_of(method: str) -> str:
    """The scorer whose table a fixed-subset method selects from."""
    return {"ccs": "aum", "dbp": "density"}.get(method, method)


def _cache_key(cfg: SweepConfig, what: str) -> str:
    """What a cache file (``teacher``, ``dynamics``, ``geometry``) depends on, as a digest; it is
    recorded in the file's JSON, and a cache of another key is computed again (never reused)."""
    from prunekit.data.experiment.sweep_config import _digest

    st = cfg.settings()
    if what == "teacher":
        return _digest({"teacher": st["teacher"], "standardize": st["standardize"], "data": st["data"]})
    key = {k: st[k] for k in ("data", *RECIPE_KEYS, "standardize", "proxy_runs", "proxy_epochs")}
    return _digest(dict(key, scorers=sorted(_scorer_groups(cfg)[what])))


def _cached(d: Path, what: str, key: str, ext: str) -> bool:
    """Whether ``d/<what><ext>`` exists and was made for ``key``."""
    try:
        return (d / f"{what}{ext}").exists() and json.loads((d / f"{what}.json").read_text()).get("key") == key
    except (OSError, json.JSONDecodeError):
        return False


def prepare_seed(out: str, cfg_dict: dict, seed: int, need_scores: bool, need_teacher: bool) -> None:
    """Compute (or find cached) the score tables and teacher logits of one seed."""
    from prunekit.data import score
    from prunekit.data.train import teacher_logits
    from prunekit.io.atomic import atomic_path

    cfg = SweepConfig.from_dict(cfg_dict)
    d = Path(out) / "cache" / f"seed{seed}"
    d.mkdir(parents=True, exist_ok=True)
    _, X, y, _, _, C = _load(cfg)
    if need_scores:
        from prunekit.io.examples import ExampleSet

        for group, names in _scorer_groups(cfg).items():
            if not names or _cached(d, group, _cache_key(cfg, group), ".parquet"):
                continue
            ex = ExampleSet(X, labels=y)
            kw = {}
            if group == "dynamics":  # the proxies train with the user's recipe too
                kw = {"runs": cfg.proxy_runs, "epochs": cfg.proxy_epochs, "model": cfg.model, "width": cfg.width,
                      "depth": cfg.depth, "batch_size": cfg.batch_size, "lr": cfg.lr, "optimizer": cfg.optimizer}
            t0, c0 = time.perf_counter(), time.process_time()
            table = score(ex, names, seed=seed, show_progress=False, **kw)
            seconds = time.perf_counter() - t0
            json_write(d / f"{group}.json", {"seconds": seconds, "cpu_seconds": time.process_time() - c0,
                                             "scorers": names, "key": _cache_key(cfg, group)})
            table.write(d / f"{group}.parquet")  # last: its presence marks the group done
    if need_teacher and not _cached(d, "teacher", _cache_key(cfg, "teacher"), ".npy"):
        t0, c0 = time.perf_counter(), time.process_time()
        T, _ = teacher_logits(X, y, config=_train_config(cfg, seed, teacher=True), n_classes=C, cache=False,
                              show_progress=False)
        # the teacher's cost, charged to every KD cell of this seed (KD's real price)
        json_write(d / "teacher.json", {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
                                        "key": _cache_key(cfg, "teacher")})
        with atomic_path(d / "teacher.npy") as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, T)


def _selection_rows(cfg: SweepConfig, d: Path, cell: Cell) -> tuple[np.ndarray | None, float]:
    """(row numbers kept, scoring seconds) for a fixed-subset cell."""
    from prunekit.data import ScoreTable, select

    y = _load(cfg)[2]
    if cell.method == "random":
        from prunekit.data.table import ScoreTable as _ST

        t = _ST(ids=np.arange(len(y)), labels=y, scores={})
        return np.flatnonzero(select(t, "random", cell.keep, seed=cell.seed, **cfg.selector("random")).keep), 0.0
    scorer = _scorer_of(cell.method)
    group = "dynamics" if is_dynamics(scorer) else "geometry"
    table = ScoreTable.read(d / f"{group}.parquet")
    seconds = json.loads((d / f"{group}.json").read_text())["seconds"]
    opts = dict(cfg.selector(cell.method))
    if cell.method in ("ccs", "dbp"):  # dbp ranks by its own column (centroid_distance)
        column = None if cell.method == "dbp" else difficulty_scorers()[scorer]
        sel = select(table, cell.method, cell.keep, score=column, seed=cell.seed, **opts)
    else:
        direction = opts.pop("direction")
        if direction != "offset":
            opts.pop("beta")
        sel = select(table, direction, cell.keep, score=difficulty_scorers()[scorer], seed=cell.seed, **opts)
    return np.flatnonzero(sel.keep), seconds


def _cost(path: Path) -> tuple[float | None, float | None]:
    """(wall, CPU seconds) recorded in a cache JSON; None for what an older prunekit did not record."""
    try:
        rec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None, None
    return rec.get("seconds"), rec.get("cpu_seconds")


def run_cell(out: str, cfg_dict: dict, cell: Cell) -> dict[str, Any]:
    """Train and evaluate one cell; returns its result row (does not write it)."""
    from prunekit.data.train import TrainingData, train_subset
    from prunekit.io.examples import ExampleSet

    cfg = SweepConfig.from_dict(cfg_dict)
    name, X, y, X_test, y_test, C = _load(cfg)
    d = Path(out) / "cache" / f"seed{cell.seed}"
    rows, rs2, scoring, scoring_cpu = None, None, 0.0, 0.0
    if cell.method == "rs2":
        rs2 = cell.keep
    elif cell.method != "full":
        rows, scoring = _selection_rows(cfg, d, cell)
        if cell.method != "random":
            scorer = _scorer_of(cell.method)
            scoring_cpu = _cost(d / f"{'dynamics' if is_dynamics(scorer) else 'geometry'}.json")[1]
    teacher, teacher_cpu = _cost(d / "teacher.json") if cell.kd else (0.0, 0.0)
    c0 = time.process_time()
    run = train_subset(TrainingData(name, ExampleSet(X, labels=y), X_test, y_test, C), _train_config(cfg, cell.seed),
                       rows=rows, rs2=rs2, kd_alpha=cfg.alpha if cell.kd else None, kd_tau=cfg.tau,
                       teacher_logits=np.load(d / "teacher.npy") if cell.kd else None,
                       scoring_seconds=scoring, show_progress=False)
    training_cpu = time.process_time() - c0
    r, kept = run.result, run.kept_per_class
    return {"dataset": name, "config_hash": cfg.digest(), "cell_hash": cell_digest(cfg.settings(), cell),
            "method": cell.method, "keep": cell.keep,
            "seed": cell.seed, "kd": cell.kd, "alpha": float(r.config["kd_alpha"]),
            "accuracy": float(r.test_accuracy), "loss": float(r.test_loss), "scoring_seconds": float(scoring),
            "training_seconds": float(r.seconds), "steps": int(r.steps), "examples": int(r.examples_per_epoch),
            # CPU seconds of this process beside the wall seconds (a busy machine stretches wall time);
            # KD cells carry the teacher's training cost (None: the cached teacher predates recording)
            "training_cpu_seconds": float(training_cpu), "scoring_cpu_seconds": scoring_cpu,
            "teacher_seconds": teacher, "teacher_cpu_seconds": teacher_cpu,
            "run_id": uuid.uuid4().hex,
            # kept examples per class (JSON list, index = class); RS2 draws a new subset every epoch: null
            "kept_per_class": None if kept is None else json.dumps([int(v) for v in kept])}


def _check_model(cfg: SweepConfig) -> None:
    """Build the student's and the teacher's model once on the data's shape: a user's factory that
    fails or returns no ``nn.Module`` is one ``ConfigError`` naming the key, before any work."""
    from prunekit.nn.factory import build_factory, is_factory

    _, X, _, _, _, C = _load(cfg)
    for key, model in (("model", cfg.model), ("teacher.model", cfg.teacher_config()["model"])):
        if is_factory(model):
            build_factory(model, int(X.shape[1]), int(C), 0, key=key)


def _worker_init(threads: int) -> None:
    os.environ.setdefault("PRUNEKIT_PROGRESS", "0")
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover
        pass


# ----------------------------------------------------------------------------- the sweep


@dataclass
class SweepResult:
    path: Path
    total: int
    skipped: int
    ran: int
    rows: list[dict] = field(repr=False, default_factory=list)
    report: Path | None = None


def run_sweep(
    config: SweepConfig | str | os.PathLike,
    out: str | os.PathLike,
    *,
    force: bool = False,
    workers: int | None = None,
    show_progress: bool | None = None,
    on_cell: Callable[[dict], None] | None = None,
    report: bool = False,
) -> SweepResult:
    """Run (or resume) a sweep into ``out``; returns where the table is and what was done.

    Finished cells (``out/cells/*.json``) are skipped; ``out`` holding another config is refused
    unless ``force``. ``workers`` (default: the config's) > 1 runs cells in that many processes.
    ``report``: also write the HTML report into ``out/report/`` (what ``prunekit data sweep`` does)."""
    from prunekit._progress import progress

    cfg = config if isinstance(config, SweepConfig) else SweepConfig.from_toml(config)
    n_workers = cfg.workers if workers is None else workers
    SWEEP_PARAMS["workers"].check(n_workers)
    out = Path(out)
    from prunekit.data.experiment.sweep_store import OWNED
    from prunekit.io.atomic import check_not_input

    inputs = [("data", cfg.data if Path(str(cfg.data)).exists() else None), ("labels", cfg.labels),
              ("test data", cfg.test), ("test labels", cfg.test_labels),
              ("config", None if isinstance(config, SweepConfig) else config)]
    check_not_input(out, inputs)
    for name in OWNED:  # what --force may replace: an input inside one of these is refused too
        check_not_input(out / name, inputs, folder=True)
    _check_model(cfg)  # a factory that does not import or build is refused before anything is written
    prepare_dir(out, cfg, force, data_identity(cfg), heldout_identity(cfg))
    all_cells = cells(cfg)
    done = finished(out, cfg)
    todo = [c for c in all_cells if c.key not in done]
    skipped = len(all_cells) - len(todo)
    write_results(out, cfg, done)
    cfg_dict = cfg.to_dict()
    prep = []
    for s in range(cfg.seeds):
        mine = [c for c in todo if c.seed == s]
        if mine:
            need_scores = any(c.method not in ("full", "rs2", "random") for c in mine)
            prep.append((s, need_scores, any(c.kd for c in mine)))

    def finish(row: dict) -> None:
        key = Cell(row["method"], row["keep"], row["seed"], row["kd"]).key
        json_write(out / "cells" / f"{key}.json", row)
        done[key] = row
        write_results(out, cfg, done)
        log.cell_done(row)
        if on_cell is not None:
            on_cell(row)

    from prunekit.data.experiment.sweep_log import CellLog, wanted

    total_units = len(prep) + len(todo)
    log = CellLog(wanted(show_progress), total_units, str(out), skipped, len(todo))
    # without a terminal the cell log is the progress (a line per cell, with ETA): no second one
    bar = False if log.on else show_progress
    with progress(total_units, f"sweep: {len(todo)} cells to run ({skipped} done)", bar) as advance:
        if n_workers == 1 or not todo:
            for s, ns, nt in prep:
                prepare_seed(str(out), cfg_dict, s, ns, nt)
                log.seed_ready(s)
                advance(1)
            for c in todo:
                finish(run_cell(str(out), cfg_dict, c))
                advance(1)
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed

            threads = max(1, (os.cpu_count() or 1) // n_workers)
            with ProcessPoolExecutor(n_workers, mp_context=mp.get_context("spawn"),
                                     initializer=_worker_init, initargs=(threads,)) as pool, \
                    _workers_stop_with_the_sweep(pool):
                seeds = {pool.submit(prepare_seed, str(out), cfg_dict, s, ns, nt): s for s, ns, nt in prep}
                for f in as_completed(seeds):
                    f.result()
                    log.seed_ready(seeds[f])
                    advance(1)
                futures = [pool.submit(run_cell, str(out), cfg_dict, c) for c in todo]
                try:
                    for f in as_completed(futures):
                        finish(f.result())
                        advance(1)
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
    order = cell_order(cfg)
    rows = [done[k] for k in sorted(done, key=order.__getitem__)]
    result = SweepResult(out / "results.parquet", len(all_cells), skipped, len(todo), rows)
    if report:
        from prunekit.data.experiment.sweep_report import write_report

        result.report = write_report(out, out / "report")
    return result


@contextlib.contextmanager
def _workers_stop_with_the_sweep(pool):
    """While the worker pool runs: SIGTERM (``kill``) stops this process like Ctrl-C does, and either
    terminates the workers at once. Otherwise they would run on, orphaned, and could still write
    their cells into a folder the user has since replaced or removed."""
    import signal
    import threading

    previous = None
    if threading.current_thread() is threading.main_thread():
        def stop(signum, frame):
            raise SystemExit(128 + signum)
        previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except BaseException:
        for proc in list((getattr(pool, "_processes", None) or {}).values()):   # no public way to kill them
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def summary(rows: Iterable[dict]) -> list[tuple[str, float, bool, int, float, float]]:
    """(method, keep, kd, seeds, mean accuracy, std) per method × keep × kd, in first-seen order."""
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["keep"], r["kd"]), []).append(r["accuracy"])
    return [(m, k, kd, len(a), float(np.mean(a)), float(np.std(a))) for (m, k, kd), a in groups.items()]


__all__ = ["Cell", "RESULT_COLUMNS", "SweepConfig", "SweepResult", "cells", "finished", "run_sweep", "summary",
           "valid_methods"]
