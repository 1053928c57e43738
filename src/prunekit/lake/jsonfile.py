"""Reading the lake's own JSON files (plans, recipes): the value, or one readable error line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prunekit.errors import InputError


def read_json(path: Path, what: str, *, missing: str, error: type[InputError] = InputError) -> Any:
    """The JSON value in ``path``; ``error(missing)`` when there is no such file, and
    ``error("<path>: not a readable <what> (<why>)")`` when it cannot be read or parsed."""
    if not path.exists():
        raise error(missing)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise error(f"{path}: not a readable {what} ({exc})") from exc
