"""Named components with declared parameters, and the registries that hold them.

Scorers (``prunekit.data.scores``) and selectors (``prunekit.data.select``) are both a
:class:`Component`: a ``name``, a one-line ``summary`` and a :class:`~prunekit.params.Spec` of
parameters. ``__init__`` only stores the parameters (unknown names are refused); the component
validates them through the spec when it runs (``checked_params``), so every refused value reads
``"<name> must be <what>, got <value>"``.

A :class:`Registry` finds a component by name and gives, for a command line, every parameter name
its components declare → its :class:`~prunekit.params.Param` (``Registry.params``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Generic, TypeVar

from prunekit.errors import ConfigError
from prunekit.params import Param, Spec


class _Defaults:
    """``cls.defaults``: {parameter: default}, derived from ``cls.spec`` (read it, do not set it)."""

    def __get__(self, obj: Any, owner: type) -> dict[str, Any]:
        return owner.spec.defaults()


class Component:
    """Base class of scorers and selectors: subclasses set ``name``, ``summary`` and ``spec``."""

    kind: ClassVar[str] = ""  # "scorer", "selector": names the component in messages
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    spec: ClassVar[Spec] = Spec()
    defaults = _Defaults()

    def __init__(self, **params: Any) -> None:
        self.spec.check_names(params, self.owner())
        self.params = {**self.spec.defaults(), **params}

    @classmethod
    def owner(cls) -> str:
        return f"{cls.kind} {cls.name!r}"

    def checked_params(self) -> dict[str, Any]:
        """The stored parameters validated by the spec (numbers normalised to ``int``/``float``);
        ``ConfigError`` in the declared wording for the first refused one."""
        return self.spec.resolve(self.params, self.owner())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


C = TypeVar("C", bound=Component)


class Registry(dict[str, type[C]], Generic[C]):
    """name → component class, in registration order; ``kind`` names them in messages."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def register(self, cls: type[C]) -> type[C]:
        """Class decorator: file ``cls`` under ``cls.name``."""
        self[cls.name] = cls
        return cls

    def lookup(self, name: str) -> type[C]:
        """The class registered as ``name``; ``ConfigError`` listing the valid names otherwise."""
        if name not in self:
            raise ConfigError(f"unknown {self.kind} {name!r}; valid {self.kind}s: {', '.join(sorted(self))}")
        return self[name]

    def make(self, name: str, **params: Any) -> C:
        """A ``name`` component holding ``params`` (unknown parameter names refused)."""
        return self.lookup(name)(**params)

    def params(self) -> dict[str, Param]:
        """Every parameter name a registered component declares → its ``Param`` (first declared
        first), for a command line that builds one option per name and passes the values on.

        A name that components declare differently (e.g. scorers' ``epochs``: ≥ 1, default 10 for
        the recorded dynamics, ≥ 0, default 0 for GraNd) maps to the declaration most of them
        share, its help naming the others' range and default; each component still validates its
        own declaration."""
        variants: dict[str, dict[Param, list[str]]] = {}
        for cls in self.values():
            for p in cls.spec:
                variants.setdefault(p.name, {}).setdefault(p, []).append(cls.name)
        out = {}
        for name, by_param in variants.items():
            ranked = sorted(by_param.items(), key=lambda kv: -len(kv[1]))  # stable: ties by declaration
            main = ranked[0][0]
            others = [f"{', '.join(users)}: {p.describe()}, default {p.default_text()}" for p, users in ranked[1:]]
            meaning = [main.help.rstrip(".")] if main.help else []
            out[name] = dataclasses.replace(main, help="; ".join(meaning + others)) if others else main
        return out
