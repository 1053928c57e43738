"""A sweep's log for people reading a file: without a terminal (a log file, CI, ``nohup``) the
progress bar is silent, so a sweep writes one plain line to stderr when it starts, when a seed's
scores and teacher are ready, and for every finished cell — with its accuracy, the progress and
an estimate of the time left::

    sweep runs/digits: 14 cells to run (0 done)
    sweep [ 1/14] full keep 1 seed 0 CE: accuracy 95.27 % (3.1 s) · elapsed 0:00:04 · ETA 0:00:52

The estimate is the mean wall time per finished unit so far times the units left.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from prunekit._progress import hms


def wanted(show_progress: bool | None, stream: TextIO | None = None) -> bool:
    """Lines are written unless progress is off (``False``, ``--quiet``) or a bar is shown (a terminal)."""
    if show_progress is False:
        return False
    stream = sys.stderr if stream is None else stream
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return not tty


class CellLog:
    """One line per event on ``stream`` (default stderr) when ``on``; ``units`` = seeds to prepare
    + cells to run."""

    def __init__(self, on: bool, units: int, name: str, skipped: int, cells: int, stream: TextIO | None = None):
        self.on, self.units, self.stream = on, max(1, units), stream
        self.done = 0
        self.cells, self.cell = cells, 0
        self.t0 = time.perf_counter()
        self._write(f"sweep {name}: {cells} cells to run ({skipped} done)")

    def _write(self, text: str) -> None:
        if self.on:
            stream = sys.stderr if self.stream is None else self.stream
            print(text, file=stream, flush=True)

    def _eta(self) -> str:
        elapsed = time.perf_counter() - self.t0
        left = elapsed / self.done * (self.units - self.done) if self.done else float("nan")
        eta = hms(left) if left == left else "?"
        return f"elapsed {hms(elapsed)} · ETA {eta}"

    def seed_ready(self, seed: int) -> None:
        self.done += 1
        self._write(f"sweep: seed {seed} scores and teacher ready · {self._eta()}")

    def cell_done(self, row: dict) -> None:
        self.done += 1
        self.cell += 1
        w = len(str(self.cells))
        kd = "KD" if row.get("kd") else "CE"
        self._write(f"sweep [{self.cell:>{w}}/{self.cells}] {row['method']} keep {row['keep']:g} seed {row['seed']} "
                    f"{kd}: accuracy {100 * row['accuracy']:.2f} % ({row.get('training_seconds', 0.0):.1f} s) · "
                    f"{self._eta()}")
