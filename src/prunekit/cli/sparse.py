"""``prunekit sparse ...``: sparse training of built-in models and per-layer reports."""

from __future__ import annotations

import typer

app = typer.Typer(help="Network weights: sparse training (GraNet and baselines) and reports.",
                  no_args_is_help=True)
