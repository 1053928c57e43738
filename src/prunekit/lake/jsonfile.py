"""The lake's own JSON files (plans, recipes, the journal): reading one (the value, or one readable
error line) and the UTC timestamps they record."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from prunekit.errors import InputError


def read_json(path: Path, what: str, *, missing: str, error: type[InputError] = InputError) -> Any:
    """The JSON value in ``path``; ``error(missing)`` when there is no such file, and
    ``error("<path>: not a readable <what> (<why>)")`` when it cannot be read or parsed."""
    if not path.exists():
        raise error(missing)
    if path.is_dir():
        raise error(f"{path}: is a directory, not a {what} file")
    if path.stat().st_size == 0:
        raise error(f"{path}: the {what} file is empty (0 bytes)")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise error(f"{path}: not a readable {what} ({exc})") from exc


def utc_timestamp(timespec: str = "seconds") -> str:
    """Now, in UTC, ISO 8601 (``timespec`` as for ``datetime.isoformat``: "seconds" for plans and
    recipes, "milliseconds" for journal records)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec=timespec)
