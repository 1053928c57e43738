"""Pages rendered in headless Chromium (Debian's ``/usr/bin/chromium``) for the tests of the HTML
the project writes: a screenshot and the page's console messages."""

from __future__ import annotations

import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")


def render(page: Path, tmp: Path, timeout: int = 90) -> tuple[Path, list[str]]:
    """Screenshot of ``page`` (1200×3000) and its console messages (Chromium's own harmless errors —
    D-Bus, GPU — left out: page messages carry ``:CONSOLE``)."""
    shot = tmp / "shot.png"
    proc = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp / 'profile'}", f"--screenshot={shot}", "--window-size=1200,3000",
         "--enable-logging=stderr", "--v=0", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return shot, [line for line in proc.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
