"""The lake's own errors: both are unusable input (``InputError``: exit 2, one line, in the CLI)."""

from __future__ import annotations

from prunekit.errors import InputError


class RecipeError(InputError):
    """A recipe cannot be built, read, or does not reproduce its child exactly."""


class PlanMismatch(InputError):
    """The plan no longer describes the lake (tables missing or changed since the scan)."""
