"""Progress without a terminal: plain lines on stderr, at most one per ``$PRUNEKIT_PROGRESS_EVERY``
seconds, with the share done, elapsed time and ETA, and a last line if any was written; nothing
for a pass shorter than the interval, nothing with ``show=False`` or ``$PRUNEKIT_PROGRESS=0``."""

from __future__ import annotations

import re

import pytest

from prunekit._progress import hms, progress

LINE = re.compile(r"^scanning: (\d+) % \(([\d,]+) / 1,000\) · elapsed \d+:\d\d:\d\d · ETA (\d+:\d\d:\d\d|\?)$")


def _run(steps: int = 10, size: int = 100) -> None:
    with progress(1000, "scanning") as advance:
        for _ in range(steps):
            advance(size)


def test_lines_without_a_terminal(monkeypatch, capsys):
    monkeypatch.setenv("PRUNEKIT_PROGRESS", "1")
    monkeypatch.setenv("PRUNEKIT_PROGRESS_EVERY", "0")
    _run()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 11 and lines[-1].startswith("scanning: done in ")
    shares = [LINE.match(x) for x in lines[:-1]]
    assert all(shares), lines
    assert [int(m.group(1)) for m in shares] == list(range(10, 101, 10))
    assert shares[-1].group(2) == "1,000" and shares[-1].group(3) == "0:00:00"


@pytest.mark.parametrize("env, show", [({"PRUNEKIT_PROGRESS_EVERY": "3600"}, None),  # a short pass
                                       ({"PRUNEKIT_PROGRESS_EVERY": "0"}, False),    # --quiet
                                       ({"PRUNEKIT_PROGRESS_EVERY": "0", "PRUNEKIT_PROGRESS": "0"}, None)])
def test_silent(env, show, monkeypatch, capsys):
    monkeypatch.setenv("PRUNEKIT_PROGRESS", "1")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with progress(10, "scanning", show) as advance:
        advance(10)
    assert capsys.readouterr().err == ""


def test_hms():
    assert [hms(x) for x in (0, 59.6, 3599, 3600 * 25 + 61)] == ["0:00:00", "0:01:00", "0:59:59", "25:01:01"]
