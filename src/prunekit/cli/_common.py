"""Rendering helpers shared by the command groups."""

from __future__ import annotations

from typing import Any, Iterable

from rich.console import Console
from rich.table import Table

console = Console()


def table(title: str, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(str(c), overflow="fold")
    for r in rows:
        t.add_row(*[_fmt(v) for v in r])
    console.print(t)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def option(param, *flags: str, default: Any = ..., extra: str = "", help: str | None = None, **kwargs: Any):
    """A Typer option declared by a :class:`prunekit.params.Param`: its help text names the valid
    values and the default (plain text; Rich markup would swallow ``[default: …]``). ``default``
    overrides the CLI default, e.g. ``None`` so that the library fills it in; ``help`` replaces the
    declared meaning (an option that sets the parameter of something else), ``extra`` adds to it."""
    import dataclasses

    import typer

    from prunekit.params import REQUIRED

    d = param.default if default is ... else default
    if default is not ... and default is not None:  # the command's own default: say that one
        param = dataclasses.replace(param, default=default)
    if d is REQUIRED:
        d = ...
    return typer.Option(d, *flags, help=param.help_text(extra, help), show_default=False, **kwargs)
