"""Progress of long passes: a Rich bar on a terminal; without one (a log file, ``nohup``, a cluster
job's output), a plain line on stderr at most every ``$PRUNEKIT_PROGRESS_EVERY`` seconds (default
30) with the share done, the elapsed time and an estimate of the time left, and, if it wrote
any, a last line when the pass ends; a pass shorter than that writes nothing. ``$PRUNEKIT_PROGRESS=0`` or ``show=False``
(``--quiet``) turns both off::

    assigning 400,000,000 rows in 6,400 shards: 37 % (148,000,000 / 400,000,000) · elapsed 0:02:14 · ETA 0:03:48
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Callable, Iterator


def enabled(flag: bool | None = None) -> bool:
    """Whether a bar is drawn: ``flag`` if given, else on a terminal unless ``$PRUNEKIT_PROGRESS=0``."""
    if flag is not None:
        return flag
    return not _off() and sys.stderr.isatty()


#: seconds between two progress lines when stderr is not a terminal
EVERY_S = 30.0


def hms(seconds: float) -> str:
    s = int(round(max(0.0, seconds)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _off() -> bool:
    return os.environ.get("PRUNEKIT_PROGRESS", "").lower() in ("0", "false", "no")


@contextlib.contextmanager
def progress(total: float, description: str, show: bool | None = None) -> Iterator[Callable[[float], None]]:
    """Yield ``advance(n)``; renders a transient Rich bar on stderr when enabled, else (unless
    turned off) writes the plain lines of the module docstring."""
    if not enabled(show):
        if show is False or _off():
            yield lambda n=1: None
        else:
            with _lines(total, description) as advance:
                yield advance
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


@contextlib.contextmanager
def _lines(total: float, description: str) -> Iterator[Callable[[float], None]]:
    try:
        every = float(os.environ.get("PRUNEKIT_PROGRESS_EVERY", EVERY_S))
    except ValueError:
        every = EVERY_S
    t0 = time.monotonic()
    state = {"done": 0.0, "last": t0, "wrote": False}

    def line(now: float) -> str:
        done, elapsed = state["done"], now - t0
        share = done / total if total else 1.0
        eta = hms(elapsed / share - elapsed) if 0 < share else "?"
        return (f"{description}: {100 * share:.0f} % ({done:,.0f} / {total:,.0f}) · elapsed {hms(elapsed)}"
                f" · ETA {eta}")

    def advance(n: float = 1) -> None:
        state["done"] += n
        now = time.monotonic()
        if now - state["last"] >= every:
            state["last"], state["wrote"] = now, True
            print(line(now), file=sys.stderr, flush=True)

    yield advance
    if state["wrote"]:
        print(f"{description}: done in {hms(time.monotonic() - t0)}", file=sys.stderr, flush=True)

