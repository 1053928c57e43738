"""prunekit: remove redundancy from machine-learning work.

Training examples: score (``prunekit.data.scores``), select (``prunekit.data.select``), export.
"""

from prunekit._version import __version__
from prunekit.errors import ConfigError, InputError, MissingDependencyError, PrunekitError

__all__ = [
    "__version__",
    "PrunekitError",
    "InputError",
    "ConfigError",
    "MissingDependencyError",
]
