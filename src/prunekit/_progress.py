"""Rich progress bars for long passes; silent when stderr is not a terminal or when disabled."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Callable, Iterator


def enabled(flag: bool | None = None) -> bool:
    if flag is not None:
        return flag
    if os.environ.get("PRUNEKIT_PROGRESS", "").lower() in ("0", "false", "no"):
        return False
    return sys.stderr.isatty()


@contextlib.contextmanager
def progress(total: float, description: str, show: bool | None = None) -> Iterator[Callable[[float], None]]:
    """Yield ``advance(n)``; renders a transient Rich bar on stderr when enabled."""
    if not enabled(show):
        yield lambda n=1: None
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
