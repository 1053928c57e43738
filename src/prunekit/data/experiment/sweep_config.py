"""What a sweep runs: its configuration (``SweepConfig``, read from TOML) and its grid of cells.

Cells: for each seed, ``method`` × ``keep`` × ``kd``; ``keep = 1.0`` is the full-data model, run
once per seed × kd as method ``"full"``. ``"random"`` keeps a uniform subset, a difficulty scorer
keeps the hardest by its score, ``"ccs"`` is coverage-centric selection over AUM and ``"rs2"``
draws a fresh random subset of the same size every epoch.
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
from prunekit.data.train.subset import KD_ALPHA, KD_TAU
from prunekit.data.train.trainer import TRAIN_PARAMS
from prunekit.errors import ConfigError, InputError
from prunekit.params import REQUIRED, Param, Spec

SELECTION_METHODS = ("random", "ccs", "rs2")

#: the scalar keys of a sweep config, declared once (lists — methods, keep, kd — are checked below)
SWEEP_PARAMS = Spec(
    Param("seeds", int, low=1, default=1, help="Seeds per cell (0, 1, …)"),
    dataclasses.replace(KD_ALPHA, name="alpha", default="auto"),
    dataclasses.replace(KD_TAU, name="tau"),
    TRAIN_PARAMS["model"],
    TRAIN_PARAMS["epochs"],
    dataclasses.replace(TRAIN_PARAMS["budget"], default="steps"),
    TRAIN_PARAMS["batch_size"],
    TRAIN_PARAMS["lr"],
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
    epochs: int = _D["epochs"]
    budget: str = _D["budget"]
    batch_size: int = _D["batch_size"]
    lr: float = _D["lr"]
    proxy_runs: int = _D["proxy_runs"]
    proxy_epochs: int = _D["proxy_epochs"]
    workers: int = _D["workers"]
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
