"""Resumable sweeps: methods × keep fractions × seeds × {CE, KD} on one data set.

A sweep is described by a TOML file (``SweepConfig.from_toml``) and runs into an output directory:

``sweep.json``
    the normalised configuration and its hash (``workers`` excluded: it does not change results);
``cells/<cell>.json``
    one file per finished cell, written atomically — the source of truth for what is done;
``results.parquet``
    every finished cell as one row, in a fixed order; rewritten atomically after each cell, so a
    reader (or a SIGKILL) never sees a half-written table;
``cache/seed<k>/``
    per-seed artefacts reused across keep fractions and across restarts: ``scores.parquet``
    (the score table), ``scoring.json`` (its wall time) and ``teacher.npy`` (teacher logits).

Cells: for each seed, ``method`` × ``keep`` × ``kd``; ``keep = 1.0`` is the full-data model,
run once per seed × kd as method ``"full"``. ``"random"`` keeps a uniform subset, a difficulty
scorer keeps the hardest by its score, ``"ccs"`` is coverage-centric selection over AUM and
``"rs2"`` draws a fresh random subset of the same size every epoch. The teacher for KD is trained
on all the data with the students' configuration and the cell's seed.

``scoring_seconds`` of a method is the wall time of the scoring call it needed; dynamics scorers
(el2n, forgetting, aum, ..., and ccs which uses aum) share one set of proxy trainings, so they all
carry the cost of that shared call, as do geometry scorers of theirs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from prunekit.errors import ConfigError, InputError

SELECTION_METHODS = ("random", "ccs", "rs2")
BUDGETS = ("epochs", "steps")
RESULT_COLUMNS = ("dataset", "config_hash", "method", "keep", "seed", "kd", "alpha", "accuracy", "loss",
                  "scoring_seconds", "training_seconds", "steps", "examples", "run_id", "kept_per_class")
OWNED = ("sweep.json", "results.parquet", "cells", "cache", "report")


def difficulty_scorers() -> dict[str, str]:
    """Registered scorers that give a difficulty column → that column (the first one)."""
    from prunekit.data.scores import SCORERS

    out = {}
    for name, cls in SCORERS.items():
        cols = [c for c, d in cls.columns.items() if d == "difficulty"]
        if cols:
            out[name] = cols[0]
    return out


def valid_methods() -> list[str]:
    return sorted(set(difficulty_scorers()) | set(SELECTION_METHODS))


def _is_dynamics(scorer: str) -> bool:
    from prunekit.data.scores import SCORERS

    return "runs" in SCORERS[scorer].defaults


# ----------------------------------------------------------------------------- configuration


def read_toml(path: str | os.PathLike, what: str) -> tuple[dict[str, Any], Path]:
    """(the TOML file's table, its folder — relative paths inside resolve against it); a missing
    or malformed file is one readable error naming ``what``."""
    import tomllib

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} {p} does not exist")
    try:
        return tomllib.loads(p.read_text()), p.resolve().parent
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p} is not valid TOML: {exc}") from None


@dataclass
class SweepConfig:
    """What to sweep. ``data``: a bundled data set name (``digits``, ``mnist5k``, ...) or a file
    read by ``read_examples`` (then ``test`` is required; ``labels`` / ``test_labels`` for .npy)."""

    data: str
    methods: list[str] = field(default_factory=lambda: ["random", "el2n", "ccs", "rs2"])
    keep: list[float] = field(default_factory=lambda: [0.1, 0.3, 0.5, 0.7, 1.0])
    seeds: int = 1
    kd: list[bool] = field(default_factory=lambda: [False, True])
    alpha: float | str = "auto"
    tau: float = 4.0
    model: str = "mlp"
    epochs: int = 10
    budget: str = "steps"
    batch_size: int = 128
    lr: float = 0.05
    proxy_runs: int = 3
    proxy_epochs: int = 5
    workers: int = 1
    test: str | None = None
    labels: str | None = None
    test_labels: str | None = None

    KEYS = ("data", "methods", "keep", "seeds", "kd", "alpha", "tau", "model", "epochs", "budget", "batch_size",
            "lr", "proxy_runs", "proxy_epochs", "workers", "test", "labels", "test_labels")

    @classmethod
    def from_dict(cls, d: dict[str, Any], base: Path | None = None) -> "SweepConfig":
        """Validate ``d`` (as read from TOML); relative paths resolve against ``base``."""
        unknown = sorted(k for k in d if k not in cls.KEYS)
        if unknown:
            raise ConfigError(f"unknown key{'s' if len(unknown) > 1 else ''} in the sweep config: "
                              f"{', '.join(unknown)}; valid keys: {', '.join(cls.KEYS)}")
        if "data" not in d:
            raise ConfigError("the sweep config needs 'data' (a bundled data set name or a file)")
        d = dict(d)
        if isinstance(d.get("kd"), bool):
            d["kd"] = [d["kd"]]
        for k in ("methods", "keep", "kd"):
            if isinstance(d.get(k), (str, int, float)) and not isinstance(d.get(k), bool):
                d[k] = [d[k]]
        cfg = cls(**d)
        cfg._base = base
        return cfg.validate()

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> "SweepConfig":
        d, base = read_toml(path, "sweep config")
        return cls.from_dict(d, base=base)

    def validate(self) -> "SweepConfig":
        from prunekit.data.train import MODELS
        from prunekit.datasets import DATASETS

        def pos_int(name):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")

        def number(name, v):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"{name} must be a number, got {v!r}")

        for name in ("seeds", "epochs", "batch_size", "proxy_runs", "proxy_epochs", "workers"):
            pos_int(name)
        if not isinstance(self.methods, list) or not self.methods or not all(isinstance(m, str) for m in self.methods):
            raise ConfigError(f"methods must be a non-empty list of names; valid: {', '.join(valid_methods())}")
        bad = [m for m in self.methods if m not in valid_methods()]
        if bad:
            raise ConfigError(f"unknown method {bad[0]!r}; valid methods: {', '.join(valid_methods())}")
        self.methods = list(dict.fromkeys(self.methods))
        if not isinstance(self.keep, list) or not self.keep:
            raise ConfigError("keep must be a non-empty list of fractions in (0, 1]")
        for k in self.keep:
            number("keep", k)
            if not 0 < k <= 1:
                raise ConfigError(f"keep fraction {k} is outside (0, 1]")
        self.keep = sorted({float(k) for k in self.keep})
        if not isinstance(self.kd, list) or not self.kd or not all(isinstance(b, bool) for b in self.kd):
            raise ConfigError(f"kd must be a list of true/false, got {self.kd!r}")
        self.kd = sorted(set(self.kd))
        if self.alpha != "auto":
            number("alpha", self.alpha)
            if not 0 <= self.alpha <= 1:
                raise ConfigError(f"alpha must be 'auto' or a number in [0, 1], got {self.alpha!r}")
        number("tau", self.tau)
        number("lr", self.lr)
        if self.tau <= 0 or self.lr <= 0:
            raise ConfigError("tau and lr must be > 0")
        if self.model not in MODELS:
            raise ConfigError(f"unknown model {self.model!r}; valid: {', '.join(MODELS)}")
        if self.budget not in BUDGETS:
            raise ConfigError(f"unknown budget {self.budget!r}; valid: {', '.join(BUDGETS)}")
        if not isinstance(self.data, str) or not self.data:
            raise ConfigError("data must be a bundled data set name or a file path")
        base = getattr(self, "_base", None)
        for name in ("data", "test", "labels", "test_labels"):
            v = getattr(self, name)
            if v is None or (name == "data" and v in DATASETS and not self._resolve(v, base).exists()):
                continue
            if not isinstance(v, str):
                raise ConfigError(f"{name} must be a path, got {v!r}")
            p = self._resolve(v, base)
            if not p.exists():
                hint = f" and is not a bundled data set ({', '.join(DATASETS)})" if name == "data" else ""
                raise ConfigError(f"{name} path {v} does not exist{hint}")
            setattr(self, name, str(p))
        if self.is_bundled:
            if self.test is not None:
                raise ConfigError(f"{self.data} is a bundled data set with its own test split; drop 'test'")
        elif self.test is None:
            raise ConfigError("a sweep on a file needs 'test' (labelled test data for accuracy)")
        return self

    @staticmethod
    def _resolve(v: str, base: Path | None) -> Path:
        p = Path(v).expanduser()
        return p if p.is_absolute() or base is None else base / p

    @property
    def is_bundled(self) -> bool:
        from prunekit.datasets import DATASETS

        return self.data in DATASETS and not Path(self.data).exists()

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.KEYS}

    def digest(self) -> str:
        """SHA-256 of everything that changes results (not ``workers``), 16 hex digits."""
        d = {k: v for k, v in self.to_dict().items() if k != "workers"}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- cells


@dataclass(frozen=True)
class Cell:
    method: str
    keep: float
    seed: int
    kd: bool

    @property
    def key(self) -> str:
        return f"{self.method}-keep{self.keep:g}-seed{self.seed}-kd{int(self.kd)}"


def cells(cfg: SweepConfig) -> list[Cell]:
    """Every cell, in the table's order: method (config order, ``full`` first), keep, seed, kd."""
    out = []
    if 1.0 in cfg.keep:
        out += [Cell("full", 1.0, s, kd) for s in range(cfg.seeds) for kd in cfg.kd]
    for m in cfg.methods:
        out += [Cell(m, k, s, kd) for k in cfg.keep if k < 1.0 for s in range(cfg.seeds) for kd in cfg.kd]
    return out


def _order(cfg: SweepConfig) -> dict[str, int]:
    return {c.key: i for i, c in enumerate(cells(cfg))}


# ----------------------------------------------------------------------------- data & per-seed work

_DATA: dict[str, Any] = {}


def _load(cfg: SweepConfig):
    """(name, X_train, y_train, X_test, y_test, n_classes), loaded once per process."""
    key = cfg.digest()
    if key in _DATA:
        return _DATA[key]
    if cfg.is_bundled:
        from prunekit.datasets import load

        ds = load(cfg.data)
        if ds.X_train is None:
            raise ConfigError(f"{cfg.data} has no features to train on")
        out = (cfg.data, np.asarray(ds.X_train), ds.y_train, np.asarray(ds.X_test), ds.y_test, len(ds.label_names))
    else:
        from prunekit.io.examples import read_examples

        ex = read_examples(cfg.data, labels=cfg.labels)
        te = read_examples(cfg.test, labels=cfg.test_labels)
        if ex.labels is None or te.labels is None:
            raise InputError("a sweep needs labelled training and test data")
        if te.dim != ex.dim:
            raise InputError(f"test data has {te.dim} features; training data has {ex.dim}")
        C = max(int(ex.labels.max()), int(te.labels.max())) + 1
        out = (Path(cfg.data).name, np.asarray(ex.embeddings, dtype=np.float32), ex.labels,
               np.asarray(te.embeddings, dtype=np.float32), te.labels, C)
    _DATA.clear()
    _DATA[key] = out
    return out


def _train_config(cfg: SweepConfig, seed: int):
    from prunekit.data.train import TrainConfig

    return TrainConfig(model=cfg.model, epochs=cfg.epochs, budget=cfg.budget, batch_size=cfg.batch_size,
                       lr=cfg.lr, seed=seed).validate()


def _scorer_groups(cfg: SweepConfig) -> dict[str, list[str]]:
    """Scorers to run per seed, in two groups sharing their expensive part."""
    diff = difficulty_scorers()
    want = [m for m in cfg.methods if m in diff and m != "random"]
    if "ccs" in cfg.methods and "aum" not in want:
        want.append("aum")
    return {"dynamics": [m for m in want if _is_dynamics(m)], "geometry": [m for m in want if not _is_dynamics(m)]}


def _json_write(path: Path, obj: Any) -> None:
    from prunekit.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))


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
            if not names or (d / f"{group}.parquet").exists():
                continue
            ex = ExampleSet(X, labels=y)
            kw = {"runs": cfg.proxy_runs, "epochs": cfg.proxy_epochs, "model": cfg.model} if group == "dynamics" else {}
            t0 = time.perf_counter()
            table = score(ex, names, seed=seed, show_progress=False, **kw)
            seconds = time.perf_counter() - t0
            _json_write(d / f"{group}.json", {"seconds": seconds, "scorers": names})
            table.write(d / f"{group}.parquet")  # last: its presence marks the group done
    if need_teacher and not (d / "teacher.npy").exists():
        T, _ = teacher_logits(X, y, config=_train_config(cfg, seed), n_classes=C, cache=False, show_progress=False)
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
        return np.flatnonzero(select(t, "random", cell.keep, seed=cell.seed).keep), 0.0
    scorer = "aum" if cell.method == "ccs" else cell.method
    group = "dynamics" if _is_dynamics(scorer) else "geometry"
    table = ScoreTable.read(d / f"{group}.parquet")
    seconds = json.loads((d / f"{group}.json").read_text())["seconds"]
    column = difficulty_scorers()[scorer]
    selector = "ccs" if cell.method == "ccs" else "hardest"
    sel = select(table, selector, cell.keep, score=column, seed=cell.seed)
    return np.flatnonzero(sel.keep), seconds


def run_cell(out: str, cfg_dict: dict, cell: Cell) -> dict[str, Any]:
    """Train and evaluate one cell; returns its result row (does not write it)."""
    from prunekit.data.train import fit

    cfg = SweepConfig.from_dict(cfg_dict)
    name, X, y, X_test, y_test, C = _load(cfg)
    d = Path(out) / "cache" / f"seed{cell.seed}"
    rows, rs2, scoring = None, None, 0.0
    if cell.method == "rs2":
        rs2 = cell.keep
    elif cell.method != "full":
        rows, scoring = _selection_rows(cfg, d, cell)
    # Kept examples per class (JSON list, index = class); rs2 draws a new subset every epoch: null.
    kept = None if rs2 is not None else np.bincount(y if rows is None else y[rows], minlength=C)
    T = np.load(d / "teacher.npy") if cell.kd else None
    alpha = cfg.alpha if cell.kd else 0.0
    r = fit(X, y, _train_config(cfg, cell.seed), rows=rows, rs2_keep=rs2, teacher_logits=T, kd_alpha=alpha,
            kd_tau=cfg.tau, n_classes=C, X_test=X_test, y_test=y_test, show_progress=False)
    return {"dataset": name, "config_hash": cfg.digest(), "method": cell.method, "keep": cell.keep,
            "seed": cell.seed, "kd": cell.kd, "alpha": float(r.config["kd_alpha"]),
            "accuracy": float(r.test_accuracy), "loss": float(r.test_loss), "scoring_seconds": float(scoring),
            "training_seconds": float(r.seconds), "steps": int(r.steps), "examples": int(r.examples_per_epoch),
            "run_id": uuid.uuid4().hex,
            "kept_per_class": None if kept is None else json.dumps([int(v) for v in kept])}


def _worker_init(threads: int) -> None:
    os.environ.setdefault("PRUNEKIT_PROGRESS", "0")
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover
        pass


# ----------------------------------------------------------------------------- the output directory


def _prepare_dir(out: Path, cfg: SweepConfig, force: bool) -> None:
    """Create ``out`` or check it holds this very sweep; clear another sweep's files when forced."""
    if out.exists() and not out.is_dir():
        raise InputError(f"output {out} exists and is not a directory")
    meta = out / "sweep.json"
    if out.is_dir() and any(out.iterdir()):
        if not meta.exists():
            raise InputError(f"output directory {out} is not empty and holds no sweep; choose a new or empty directory")
        try:
            old = json.loads(meta.read_text()).get("config_hash")
        except (json.JSONDecodeError, OSError, AttributeError):
            old = None
        if old != cfg.digest():
            if not force:
                raise InputError(f"output directory {out} holds results of a different sweep config "
                                 f"({old} vs {cfg.digest()}); use --force to replace them")
            for name in OWNED:  # only what a sweep writes, never anything else in the directory
                p = out / name
                if p.is_dir():
                    shutil.rmtree(p)
                elif p.exists():
                    p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / "cells").mkdir(exist_ok=True)
    for tmp in list(out.glob(".*.tmp")) + list((out / "cells").glob(".*.tmp")):
        tmp.unlink(missing_ok=True)  # left by a killed run; never a result
    if not meta.exists():
        _json_write(meta, {"config_hash": cfg.digest(), "config": cfg.to_dict()})


def finished(out: Path, cfg: SweepConfig) -> dict[str, dict]:
    """Rows of the finished cells of this sweep, by cell key."""
    order = _order(cfg)
    done = {}
    for p in (out / "cells").glob("*.json"):
        if p.stem in order:
            try:
                done[p.stem] = json.loads(p.read_text())
            except json.JSONDecodeError:  # pragma: no cover - cell files are written atomically
                continue
    return done


def write_results(out: Path, cfg: SweepConfig, done: dict[str, dict]) -> Path:
    """Rewrite ``results.parquet`` atomically from the finished cells, in cell order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from prunekit.io.atomic import atomic_path

    order = _order(cfg)
    rows = [done[k] for k in sorted(done, key=order.__getitem__)]
    schema = pa.schema([("dataset", pa.string()), ("config_hash", pa.string()), ("method", pa.string()),
                        ("keep", pa.float64()), ("seed", pa.int64()), ("kd", pa.bool_()), ("alpha", pa.float64()),
                        ("accuracy", pa.float64()), ("loss", pa.float64()), ("scoring_seconds", pa.float64()),
                        ("training_seconds", pa.float64()), ("steps", pa.int64()), ("examples", pa.int64()),
                        ("run_id", pa.string()), ("kept_per_class", pa.string())])
    # .get: cells finished by an older prunekit have no kept_per_class (null)
    table = pa.table({c: [r.get(c) for r in rows] for c in RESULT_COLUMNS}, schema=schema)
    path = out / "results.parquet"
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


# ----------------------------------------------------------------------------- the sweep


@dataclass
class SweepResult:
    path: Path
    total: int
    skipped: int
    ran: int
    rows: list[dict] = field(repr=False, default_factory=list)


def run_sweep(
    config: SweepConfig | str | os.PathLike,
    out: str | os.PathLike,
    *,
    force: bool = False,
    workers: int | None = None,
    show_progress: bool | None = None,
    on_cell: Callable[[dict], None] | None = None,
) -> SweepResult:
    """Run (or resume) a sweep into ``out``; returns where the table is and what was done.

    Finished cells (``out/cells/*.json``) are skipped; ``out`` holding another config is refused
    unless ``force``. ``workers`` (default: the config's) > 1 runs cells in that many processes."""
    from prunekit._progress import progress

    cfg = config if isinstance(config, SweepConfig) else SweepConfig.from_toml(config)
    n_workers = cfg.workers if workers is None else workers
    if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
        raise ConfigError(f"workers must be a positive integer, got {n_workers!r}")
    out = Path(out)
    _prepare_dir(out, cfg, force)
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
        _json_write(out / "cells" / f"{key}.json", row)
        done[key] = row
        write_results(out, cfg, done)
        if on_cell is not None:
            on_cell(row)

    total_units = len(prep) + len(todo)
    with progress(total_units, f"sweep: {len(todo)} cells to run ({skipped} done)", show_progress) as advance:
        if n_workers == 1 or not todo:
            for s, ns, nt in prep:
                prepare_seed(str(out), cfg_dict, s, ns, nt)
                advance(1)
            for c in todo:
                finish(run_cell(str(out), cfg_dict, c))
                advance(1)
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed

            threads = max(1, (os.cpu_count() or 1) // n_workers)
            with ProcessPoolExecutor(n_workers, mp_context=mp.get_context("spawn"),
                                     initializer=_worker_init, initargs=(threads,)) as pool:
                for f in as_completed([pool.submit(prepare_seed, str(out), cfg_dict, s, ns, nt) for s, ns, nt in prep]):
                    f.result()
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
    order = _order(cfg)
    rows = [done[k] for k in sorted(done, key=order.__getitem__)]
    return SweepResult(out / "results.parquet", len(all_cells), skipped, len(todo), rows)


def summary(rows: Iterable[dict]) -> list[tuple[str, float, bool, int, float, float]]:
    """(method, keep, kd, seeds, mean accuracy, std) per method × keep × kd, in first-seen order."""
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["keep"], r["kd"]), []).append(r["accuracy"])
    return [(m, k, kd, len(a), float(np.mean(a)), float(np.std(a))) for (m, k, kd), a in groups.items()]


__all__ = ["Cell", "RESULT_COLUMNS", "SweepConfig", "SweepResult", "cells", "finished", "run_sweep", "summary",
           "valid_methods"]
