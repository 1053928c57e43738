"""The ``prunekit`` command line: thin Typer commands over the public API.

Errors that are the user's (``PrunekitError``) print one line and exit 2; no traceback.
"""

from __future__ import annotations

import sys

import typer

from prunekit._version import __version__

app = typer.Typer(
    name="prunekit",
    help="Remove redundancy from ML work: prune training examples, contained tables and network weights.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"prunekit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """prunekit command line."""


_registered = False


def _register() -> None:
    """Attach the command groups, once per process: ``main`` runs many times in one process (tests,
    scripts), and every extra attachment made each later call rebuild one more copy of the tree."""
    global _registered
    if _registered:
        return
    from prunekit.cli import data, datasets, demo, lake, sparse, text  # noqa: F401

    app.add_typer(data.app, name="data")
    app.add_typer(datasets.app, name="datasets")
    app.add_typer(lake.app, name="lake")
    app.add_typer(sparse.app, name="sparse")
    app.add_typer(text.app, name="text")
    app.command("demo")(demo.demo)
    _registered = True


def main(argv: list[str] | None = None) -> int:
    from prunekit.errors import PrunekitError

    _register()
    try:
        rv = app(args=argv, standalone_mode=False)
    except PrunekitError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        return 2
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True, fg="red")
        return 130
    except MemoryError:
        typer.secho("error: out of memory (try a smaller --sample or a memory-mapped .npy)", err=True, fg="red")
        return 2
    except OSError as exc:
        typer.secho(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), err=True, fg="red")
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.secho("aborted", err=True, fg="red")
        return 1
    except Exception as exc:
        # Usage errors (missing option, bad value) come from the click Typer vendors; match them
        # by shape rather than by a private import path.
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            msg = exc.format_message()
            if msg:  # empty when the help was shown for a bare command group
                typer.secho(f"error: {msg} (see --help)", err=True, fg="red")
            return 2
        raise
    # With standalone_mode=False, click *returns* the code of a ``typer.Exit(n)`` raised inside a
    # command instead of raising it (e.g. ``lake apply`` exits 1 when some tables were refused).
    if isinstance(rv, int) and not isinstance(rv, bool) and rv:
        return rv
    return 0


def entry() -> None:  # console script
    sys.exit(main())
