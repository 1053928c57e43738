"""What a sweep runs: its configuration (``SweepConfig``, read from TOML) and its grid of cells.

Cells: for each seed, ``method`` × ``keep`` × ``kd``; ``keep = 1.0`` is the full-data model, run
once per seed × kd as method ``"full"``. ``"random"`` keeps a uniform subset, a difficulty scorer
keeps the hardest by its score (``[select.<method>]``: easiest, offset, class balance), ``"ccs"`` is
coverage-centric selection over AUM, ``"dbp"`` density-based pruning over the density scorer's
clusters and ``"rs2"`` draws a fresh random subset of the same size every epoch.

The training recipe (model — a built-in or the user's factory —, optimizer, schedule, ...) is
:data:`prunekit.data.train.TRAIN_PARAMS`'s, shared with ``prunekit data train`` and the planner;
``[teacher]`` overrides it for the KD teacher.

Identity: :meth:`SweepConfig.settings` is everything that changes results, *without* file paths (the
data's content is checked by its digest instead, see ``sweep_store``), so a moved sweep folder
resumes; :func:`cell_settings` is the part one cell depends on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prunekit.data.scores.dynamics.scorers import PROXY_PARAMS
from prunekit.data.select import KEEP as SELECT_KEEP
from prunekit.data.select.methods import BALANCE, BETA, BINS, CUTOFF_SCORE, TAU, WITHIN_CLUSTER
from prunekit.data.train.recipe import STANDARDIZE
from prunekit.data.train.subset import KD_ALPHA, KD_TAU
from prunekit.data.train.trainer import TRAIN_PARAMS
from prunekit.errors import ConfigError, InputError
from prunekit.params import REQUIRED, Param, Spec

SELECTION_METHODS = ("random", "ccs", "dbp", "rs2")
#: the recipe keys (student; the teacher's default to them); ``budget`` is the student's alone
RECIPE_KEYS = ("model", "width", "depth", "epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay",
               "schedule")
TEACHER_PARAMS = Spec(*(TRAIN_PARAMS[k] for k in RECIPE_KEYS))
DIRECTION = Param("direction", "choice", choices=("hardest", "easiest", "offset"), default="hardest",
                  help="Which examples a score keeps (offset: drop the beta hardest first, then the hardest)")
#: per-method selector settings (``[select.<method>]``), by kind of method
SELECT_SPECS = {
    "score": Spec(DIRECTION, BALANCE, BETA),
    "random": Spec(BALANCE),
    "ccs": Spec(BETA, BINS, dataclasses.replace(CUTOFF_SCORE, none_means="aum")),
    "dbp": Spec(TAU, WITHIN_CLUSTER),
    "rs2": Spec(),
}

#: the scalar keys of a sweep config, declared once (lists — methods, keep, kd — are checked below)
SWEEP_PARAMS = Spec(
    Param("seeds", int, low=1, default=1, help="Seeds per cell (0, 1, …)"),
    dataclasses.replace(KD_ALPHA, name="alpha", default="auto"),
    dataclasses.replace(KD_TAU, name="tau"),
    *(TRAIN_PARAMS[k] for k in RECIPE_KEYS),
    TRAIN_PARAMS["budget"],
    STANDARDIZE,
    dataclasses.replace(PROXY_PARAMS["runs"], name="proxy_runs", default=3),
    dataclasses.replace(PROXY_PARAMS["epochs"], name="proxy_epochs", default=5),
    Param("workers", int, low=1, default=1, help="Cells run in this many processes"),
)
#: a kept fraction
KEEP = dataclasses.replace(SELECT_KEEP, default=REQUIRED, none_means=None)
_D = SWEEP_PARAMS.defaults()


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


def is_dynamics(scorer: str) -> bool:
    """Whether a registered scorer trains proxy models (they share one set of trainings)."""
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
    seeds: int = _D["seeds"]
    kd: list[bool] = field(default_factory=lambda: [False, True])
    alpha: float | str = _D["alpha"]
    tau: float = _D["tau"]
    model: str = _D["model"]
    width: int = _D["width"]
    depth: int = _D["depth"]
    epochs: int = _D["epochs"]
    batch_size: int = _D["batch_size"]
    optimizer: str = _D["optimizer"]
    lr: float = _D["lr"]
    momentum: float = _D["momentum"]
    weight_decay: float = _D["weight_decay"]
    schedule: str = _D["schedule"]
    budget: str = _D["budget"]
    standardize: bool = _D["standardize"]
    teacher: dict = field(default_factory=dict)
    select: dict = field(default_factory=dict)
    proxy_runs: int = _D["proxy_runs"]
    proxy_epochs: int = _D["proxy_epochs"]
    workers: int = _D["workers"]
    test: str | None = None
    labels: str | None = None
    test_labels: str | None = None

    KEYS = ("data", "methods", "keep", "seeds", "kd", "alpha", "tau", *RECIPE_KEYS, "budget", "standardize",
            "teacher", "select", "proxy_runs", "proxy_epochs", "workers", "test", "labels", "test_labels")
    PATHS = ("data", "test", "labels", "test_labels")

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
        from prunekit.datasets import DATASETS

        for p in SWEEP_PARAMS:  # checked, not normalised: the values as given form the config hash
            p.check(getattr(self, p.name))
        if not isinstance(self.methods, list) or not self.methods or not all(isinstance(m, str) for m in self.methods):
            raise ConfigError(f"methods must be a non-empty list of names; valid: {', '.join(valid_methods())}")
        bad = [m for m in self.methods if m not in valid_methods()]
        if bad:
            raise ConfigError(f"unknown method {bad[0]!r}; valid methods: {', '.join(valid_methods())}")
        self.methods = list(dict.fromkeys(self.methods))
        if not isinstance(self.keep, list) or not self.keep:
            raise ConfigError("keep must be a non-empty list of fractions in (0, 1]")
        self.keep = sorted({KEEP.check(k) for k in self.keep})
        if not isinstance(self.kd, list) or not self.kd or not all(isinstance(b, bool) for b in self.kd):
            raise ConfigError(f"kd must be a list of true/false, got {self.kd!r}")
        self.kd = sorted(set(self.kd))
        self.teacher = _check_teacher(self.teacher)
        self.select = _check_select(self.select, self.methods)
        from prunekit.nn.factory import is_factory, load_factory

        folders = [getattr(self, "_base", None)] if getattr(self, "_base", None) is not None else []
        for key, model in (("model", self.model), ("teacher.model", self.teacher.get("model"))):
            if is_factory(model):  # imported now (the config's folder is searched too): refused early
                load_factory(model, key=key, folders=folders)
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

    def settings(self) -> dict[str, Any]:
        """Everything that changes results, without file paths: see :func:`settings_of`."""
        return settings_of(self.to_dict())

    def digest(self) -> str:
        """SHA-256 of :meth:`settings` (no paths, not ``workers``), 16 hex digits."""
        return _digest(self.settings())

    def teacher_config(self) -> dict[str, Any]:
        """The teacher's recipe: ``[teacher]`` over the student's."""
        return self.settings()["teacher"]

    def selector(self, method: str) -> dict[str, Any]:
        """The selector settings of ``method`` (defaults filled)."""
        return self.settings()["select"].get(method, {})


def _digest(d: Any) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _kind(method: str) -> str:
    return method if method in SELECT_SPECS else "score"


def _check_teacher(t: Any) -> dict[str, Any]:
    if not isinstance(t, dict):
        raise ConfigError(f"teacher must be a table of recipe keys ({', '.join(RECIPE_KEYS)}), got {t!r}")
    TEACHER_PARAMS.check_names(t, "the [teacher] table")
    for k, v in t.items():
        try:
            TEACHER_PARAMS[k].check(v)
        except ConfigError as exc:
            raise ConfigError(f"teacher.{exc}") from None
    return dict(t)


def _check_select(sel: Any, methods: list[str]) -> dict[str, dict]:
    if not isinstance(sel, dict) or not all(isinstance(v, dict) for v in sel.values()):
        raise ConfigError(f"select must be tables [select.<method>] of selector settings, got {sel!r}")
    for m, d in sel.items():
        if m not in methods:
            raise ConfigError(f"[select.{m}]: {m!r} is not one of the sweep's methods ({', '.join(methods)})")
        spec = SELECT_SPECS[_kind(m)]
        spec.check_names(d, f"[select.{m}]")
        for k, v in d.items():
            try:
                spec[k].check(v)
            except ConfigError as exc:
                raise ConfigError(f"select.{m}.{exc}") from None
        cut = d.get("cutoff_score")
        if cut is not None and (cut not in difficulty_scorers() or not is_dynamics(cut)):
            dyn = ", ".join(s for s in difficulty_scorers() if is_dynamics(s))
            raise ConfigError(f"select.ccs.cutoff_score must be a training-dynamics score ({dyn}), got {cut!r}")
    return {m: dict(d) for m, d in sel.items()}


def settings_of(d: dict[str, Any]) -> dict[str, Any]:
    """The settings of a config dict (as ``SweepConfig.to_dict()`` or an older prunekit's
    ``sweep.json`` wrote it): every key but the paths and ``workers``, defaults filled in, the
    ``[teacher]`` recipe and ``[select.*]`` settings resolved. A bundled data set is named; file data
    is identified by content (``data_identity``), not by where it lies."""
    out: dict[str, Any] = {"data": d["data"] if d.get("test") is None else "<file>"}
    for k in ("methods", "keep", "kd"):
        out[k] = d.get(k)
    for p in SWEEP_PARAMS:
        if p.name != "workers":
            out[p.name] = d.get(p.name, p.default)
    t = d.get("teacher") or {}
    out["teacher"] = {k: t.get(k, out[k]) for k in RECIPE_KEYS}
    sel = d.get("select") or {}
    out["select"] = {m: {p.name: (sel.get(m) or {}).get(p.name, p.default) for p in SELECT_SPECS[_kind(m)]}
                     for m in out["methods"] or []}
    return out


def cell_settings(settings: dict[str, Any], cell: "Cell") -> dict[str, Any]:
    """What one cell's result depends on: the data, the student's recipe, its method's selector
    settings, and — for KD cells — the teacher and the KD weights; cells of dynamics-score methods
    also the proxy trainings. The same for the same cell of two configs that differ elsewhere."""
    keys = ("data", *RECIPE_KEYS, "budget", "standardize")
    out = {k: settings[k] for k in keys}
    out["cell"] = cell.key
    if cell.kd:
        out.update(alpha=settings["alpha"], tau=settings["tau"], teacher=settings["teacher"])
    if cell.method not in ("full", "random", "rs2"):
        out["select"] = settings["select"].get(cell.method, {})
        if cell.method not in ("dbp",) and (cell.method == "ccs" or is_dynamics(cell.method)):
            out.update(proxy_runs=settings["proxy_runs"], proxy_epochs=settings["proxy_epochs"])
    elif cell.method == "random":
        out["select"] = settings["select"].get("random", {})
    return out


def cell_digest(settings: dict[str, Any], cell: "Cell") -> str:
    return _digest(cell_settings(settings, cell))


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
