"""Rendering helpers shared by the command groups."""

from __future__ import annotations

from typing import Any, Iterable

from rich.console import Console
from rich.table import Table

#: lines are never broken by Rich (soft wrap): a terminal wraps them itself, a log file keeps them whole
console = Console(soft_wrap=True)


def table(title: str, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    """Print a table: fitted to the terminal, or — into a file or pipe — as wide as its content
    (a log never wraps a table at 80 columns)."""
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(str(c), overflow="fold")
    for r in rows:
        t.add_row(*[_fmt(v) for v in r])
    if console.is_terminal:
        console.print(t)
        return
    from rich.measure import Measurement

    t.min_width = len(title)  # the title is laid out within the table's width
    wide = console.options.update(max_width=100_000)
    width = Measurement.get(console, wide, t).maximum
    Console(file=console.file, width=width, color_system=None).print(t)


def warnings_as_lines():
    """Show the library's warnings (unscaled features, a forced data mismatch) as one plain line
    each on stderr, after the call."""
    import contextlib
    import warnings

    import typer

    @contextlib.contextmanager
    def ctx():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        seen = set()
        for w in caught:
            if str(w.message) not in seen:
                seen.add(str(w.message))
                typer.secho(f"warning: {w.message}", err=True, fg="yellow")

    return ctx()


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
