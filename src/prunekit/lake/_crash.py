"""Test hook: kill the process at a named point of a lake command (see ``prunekit.lake.apply``).

With ``PRUNEKIT_LAKE_CRASH_AT=<point>[:<n>]`` in the environment, the n-th time (default the first)
the process reaches ``crash_point("<point>")`` it sends itself SIGKILL — no cleanup, no ``finally``,
exactly like a power cut of that process. Unset, ``crash_point`` does nothing. It exists only so the
tests can kill a real ``prunekit lake apply`` (a subprocess) between two steps of its journal.
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "PRUNEKIT_LAKE_CRASH_AT"
_counts: dict[str, int] = {}


def crash_point(point: str) -> None:
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    name, _, nth = spec.partition(":")
    if name != point:
        return
    _counts[point] = _counts.get(point, 0) + 1
    if _counts[point] == int(nth or 1):
        if hasattr(signal, "SIGKILL"):
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(137)  # pragma: no cover - platforms without SIGKILL
