"""``prunekit lake ...``: find contained tables in a data lake, plan, apply, restore, purge."""

from __future__ import annotations

import typer

app = typer.Typer(help="Tables in a data lake: find contained tables, plan deletions, delete safely, "
                       "restore exactly.", no_args_is_help=True)

# --- scan / demo (catalog, containment) -------------------------------------------------------

# --- plan / apply / restore / purge ---------------------------------------------------------------
