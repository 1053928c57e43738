"""The one small exception hierarchy of prunekit.

Public functions validate their input and raise one of these with a message naming the problem;
the CLI turns them into a single readable line and a non-zero exit.
"""

from __future__ import annotations


class PrunekitError(Exception):
    """Base class of every error prunekit raises on purpose."""


class InputError(PrunekitError, ValueError):
    """The data given is unusable: wrong shape, NaN, duplicate ids, unreadable file, ..."""


class ConfigError(PrunekitError, ValueError):
    """A parameter or option is out of range or unknown."""


class MissingDependencyError(PrunekitError, ImportError):
    """An optional dependency is needed; the message carries the exact install line."""


def require(module: str, extra: str):
    """Import an optional module or raise with the pip line that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            f"{module} is needed for this; install it with: pip install 'prunekit[{extra}]'"
        ) from exc
