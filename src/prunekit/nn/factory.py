"""A user's own model: an import path ``"package.module:function"`` to a factory.

The factory is called as ``function(dim, n_classes, seed)`` — input width (features per example),
number of classes and the run's seed — and must return a ``torch.nn.Module`` mapping a float32
batch ``(B, dim)`` to logits ``(B, n_classes)``. prunekit seeds torch with ``seed`` before calling
it, so a factory that draws its weights from torch's default generator is reproducible too.

The module is imported with Python's ordinary import; when that fails, the current directory and
the folders given (a sweep config's folder) are tried as well, so ``model = "nets:make"`` finds
``nets.py`` beside ``sweep.toml``. Every failure is one :class:`~prunekit.errors.ConfigError` line
naming the key (``model``): a malformed path, a module that does not import, a missing function, a
return value that is not a module.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from prunekit.errors import ConfigError, require
from prunekit.params import Param

__all__ = ["ModelParam", "is_factory", "load_factory", "build_factory"]

_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


def is_factory(name: Any) -> bool:
    """Whether ``name`` is meant as a factory path (it holds a colon)."""
    return isinstance(name, str) and ":" in name


@dataclass(frozen=True)
class ModelParam(Param):
    """A model key: a name of the registry (a choice) or a factory path ``"module:function"``."""

    def describe(self, with_none: bool = True) -> str:
        return super().describe(with_none) + " or a factory 'module:function'"

    def check(self, value: Any) -> Any:
        if is_factory(value):
            if not _PATH.match(value):
                raise ConfigError(f"{self.name} must be a factory path like 'mypkg.nets:make' "
                                  f"(module:function), got {value!r}")
            return value
        return super().check(value)


def load_factory(path: str, *, key: str = "model", folders: Iterable[str | os.PathLike] = ()) -> Callable:
    """The function ``path`` (``"module:function"``) names, imported; ``folders`` are also searched."""
    if not isinstance(path, str) or not _PATH.match(path):
        raise ConfigError(f"{key} must be a factory path like 'mypkg.nets:make' (module:function), got {path!r}")
    mod_name, attr = path.split(":", 1)
    extra = [str(Path(f).resolve()) for f in (os.getcwd(), *folders)]
    try:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not mod_name.startswith(exc.name):
                raise
            added = [f for f in extra if f not in sys.path]
            sys.path.extend(added)  # kept: worker processes (spawn) inherit sys.path
            importlib.invalidate_caches()
            mod = importlib.import_module(mod_name)
    except ConfigError:
        raise
    except BaseException as exc:  # noqa: BLE001 - any failure of the user's module is one line
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise ConfigError(f"{key} {path!r}: cannot import module {mod_name!r} "
                          f"({type(exc).__name__}: {' '.join(str(exc).split())})") from None
    obj: Any = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{key} {path!r}: module {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"{key} {path!r}: {attr!r} is not callable (a factory (dim, n_classes, seed) → nn.Module)")
    return obj


def build_factory(path: str, dim: int, n_classes: int, seed: int, *, key: str = "model",
                  folders: Iterable[str | os.PathLike] = ()):
    """Call the factory ``path`` names with ``(dim, n_classes, seed)`` under ``torch.manual_seed(seed)``
    (the global random state is restored afterwards); the result must be an ``nn.Module``."""
    torch = require("torch", "torch")
    fn = load_factory(path, key=key, folders=folders)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            net = fn(dim, n_classes, seed)
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's code: one line
            raise ConfigError(f"{key} {path!r} failed when called with (dim={dim}, n_classes={n_classes}, "
                              f"seed={seed}): {type(exc).__name__}: {' '.join(str(exc).split())}") from None
    if not isinstance(net, torch.nn.Module):
        raise ConfigError(f"{key} {path!r} returned {type(net).__name__}, not a torch.nn.Module")
    return net
