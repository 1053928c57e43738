"""Parameters declared once.

A :class:`Param` states a parameter's type, range or choices, default and meaning. The same
declaration produces

- the validation error, always worded ``"<name> must be <what>, got <value>"``
  (``Param.check``), raised as :class:`~prunekit.errors.ConfigError`;
- the ``--help`` text of the CLI option, ending in its valid values and default (``Param.help_text``);
- the bad-input tests (``Param.invalid_examples``: values the declaration must refuse).

A :class:`Spec` is the ordered set of a component's parameters (a scorer's, a selector's, a
sparsifier's). It rejects unknown names, fills defaults and validates every value it is given.

Example::

    K = Param("k", int, low=1, default=None, none_means="one cluster per class, else round(√N)")
    K.check(0)   # ConfigError: k must be an integer ≥ 1, got 0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from prunekit.errors import ConfigError

__all__ = ["Param", "Spec", "REQUIRED"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: default of a parameter that has none (the caller must give it)
REQUIRED: Any = _Required()


def _fmt(x: float) -> str:
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x) if isinstance(x, float) else str(x)


@dataclass(frozen=True)
class Param:
    """One declared parameter.

    Args:
        name: the parameter's name as the user writes it (keyword, TOML key; the CLI flag is
            ``--`` + name with ``_`` → ``-`` unless the command says otherwise).
        type: ``int``, ``float``, ``bool``, ``str`` (free text), or ``"choice"`` (one of ``choices``).
        default: the value used when not given; :data:`REQUIRED` when there is none.
        low, high: inclusive bounds for numbers (``low_open``/``high_open`` make them exclusive).
        choices: the valid names of a choice, or a callable returning them (for registries filled
            at import time).
        none_means: if set, ``None`` is accepted and means this (e.g. "chosen from the data").
        also: extra accepted literal values of another type, e.g. ``("auto",)`` for a number that
            may also be ``"auto"``.
        help: what the parameter means, one sentence (the CLI ``--help`` adds range and default).
    """

    name: str
    type: Any
    default: Any = REQUIRED
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: Sequence[str] | Callable[[], Sequence[str]] = ()
    none_means: str | None = None
    also: tuple = ()
    help: str = ""

    # ------------------------------------------------------------------ description

    def valid_choices(self) -> tuple[str, ...]:
        c = self.choices() if callable(self.choices) else self.choices
        return tuple(c)

    def describe(self, with_none: bool = True) -> str:
        """What a valid value is, in words: ``"an integer ≥ 1"``, ``"a number in (0, 1]"``, …
        (``with_none=False`` leaves out "or None": on the command line, None is the absent option)."""
        t = self.type
        if t == "choice":
            what = "one of " + ", ".join(repr(c) for c in self.valid_choices())
        elif t is bool:
            what = "true or false"
        elif t is str:
            what = "a string"
        else:
            noun = "an integer" if t is int else "a number"
            lo, hi = self.low, self.high
            if lo is not None and hi is not None:
                what = f"{noun} in {'(' if self.low_open else '['}{_fmt(lo)}, {_fmt(hi)}{')' if self.high_open else ']'}"
            elif lo is not None:
                what = f"{noun} {'>' if self.low_open else '≥'} {_fmt(lo)}"
            elif hi is not None:
                what = f"{noun} {'<' if self.high_open else '≤'} {_fmt(hi)}"
            else:
                what = noun
        extras = [repr(a) for a in self.also]
        if self.none_means is not None and with_none:
            extras.append("None")
        if extras:
            what += " or " + " or ".join(extras)
        return what

    def error(self, value: Any) -> ConfigError:
        """The one wording of a refused value."""
        return ConfigError(f"{self.name} must be {self.describe()}, got {value!r}")

    def default_text(self) -> str:
        if self.default is REQUIRED:
            return "required"
        if self.default is None and self.none_means:
            return self.none_means
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        return _fmt(self.default) if isinstance(self.default, (int, float)) else str(self.default)

    def help_text(self, extra: str = "", meaning: str | None = None) -> str:
        """CLI help: the meaning (``meaning`` overrides the declared one), then the valid values and
        the default (plain text, no markup)."""
        parts = [t.strip().rstrip(".") for t in (self.help if meaning is None else meaning, extra) if t and t.strip()]
        head = ". ".join(parts)
        what = [] if self.type is str else [self.describe(with_none=False)]
        if self.default is not REQUIRED:
            what.append(f"default: {self.default_text()}")
        tail = "; ".join(what)
        if not tail:
            return f"{head}." if head else ""
        return f"{head} ({tail})." if head else f"{tail[0].upper()}{tail[1:]}."

    # ------------------------------------------------------------------ validation

    def check(self, value: Any) -> Any:
        """``value`` normalised (numpy scalars → Python), or :class:`ConfigError` in the one wording."""
        if value is None and self.none_means is not None:
            return None
        if self.also and isinstance(value, str) and value in self.also:
            return value
        t = self.type
        if t == "choice":
            if isinstance(value, str) and value in self.valid_choices():
                return value
            raise self.error(value)
        if t is bool:
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            raise self.error(value)
        if t is str:
            if isinstance(value, str):
                return value
            raise self.error(value)
        if isinstance(value, (bool, np.bool_)):
            raise self.error(value)
        if t is int:
            if not isinstance(value, (int, np.integer)):
                raise self.error(value)
            v: Any = int(value)
        else:
            if not isinstance(value, (int, float, np.integer, np.floating)):
                raise self.error(value)
            v = float(value)
            if not math.isfinite(v):  # NaN and ±inf are never a usable setting
                raise self.error(value)
        if self.low is not None and (v < self.low or (self.low_open and v == self.low)):
            raise self.error(value)
        if self.high is not None and (v > self.high or (self.high_open and v == self.high)):
            raise self.error(value)
        return v

    def invalid_examples(self) -> list[Any]:
        """Values this declaration must refuse (the generated bad-input tests use them)."""
        out: list[Any] = []
        t = self.type
        if t == "choice":
            out += ["no-such-" + self.name, 3]
        elif t is bool:
            out += ["yes", 2]
        elif t is str:
            out += [3]
        else:
            out += ["3", True, float("nan")]
            if t is int:
                out.append(2.5)
            if self.low is not None:
                out.append(self.low if self.low_open else (self.low - 1 if t is int else self.low - 0.5))
            if self.high is not None:
                out.append(self.high if self.high_open else (self.high + 1 if t is int else self.high + 0.5))
        if self.none_means is None and self.default is not None:
            out.append(None)
        return out


@dataclass(frozen=True)
class Spec:
    """The ordered parameters of one component (``owner`` names it in errors, e.g. "scorer 'aum'")."""

    params: tuple[Param, ...] = field(default_factory=tuple)

    def __init__(self, *params: Param | Iterable[Param]) -> None:
        flat: list[Param] = []
        for p in params:
            if isinstance(p, Param):
                flat.append(p)
            else:
                flat.extend(p)
        names = [p.name for p in flat]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"parameter declared twice: {dup}")  # a bug in prunekit, not user input
        object.__setattr__(self, "params", tuple(flat))

    def __iter__(self) -> Iterator[Param]:
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def __contains__(self, name: object) -> bool:
        return any(p.name == name for p in self.params)

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def without(self, *names: str) -> "Spec":
        return Spec(*(p for p in self.params if p.name not in names))

    def replace(self, **changes: Mapping[str, Any]) -> "Spec":
        """The same spec with some declarations changed, e.g. ``replace(epochs={"low": 0})``."""
        import dataclasses

        return Spec(*(dataclasses.replace(p, **changes[p.name]) if p.name in changes else p for p in self.params))

    def check_names(self, given: Iterable[str], owner: str) -> None:
        unknown = sorted(set(given) - set(self.names()))
        if unknown:
            valid = ", ".join(sorted(self.names())) or "none"
            raise ConfigError(f"{owner} has no parameter {unknown[0]!r}; its parameters: {valid}")

    def resolve(self, given: Mapping[str, Any], owner: str) -> dict[str, Any]:
        """Defaults filled in, every value checked; unknown names and missing required ones refused."""
        self.check_names(given, owner)
        out: dict[str, Any] = {}
        for p in self.params:
            if p.name in given:
                out[p.name] = p.check(given[p.name])
            elif p.default is REQUIRED:
                raise ConfigError(f"{owner} needs parameter {p.name!r} ({p.describe()})")
            else:
                out[p.name] = p.default
        return out

    def table(self) -> list[tuple[str, str, str, str]]:
        """``(name, valid values, default, meaning)`` rows, for docs and ``--help`` listings."""
        return [(p.name, p.describe(), p.default_text(), p.help) for p in self.params]
