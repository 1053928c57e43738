"""Rich markup must not swallow text of a command's help: a bracketed word in a docstring
(``[teacher]``, ``[select.*]``: TOML tables) reaches the rendered --help."""

from __future__ import annotations

import re

import typer

from prunekit.cli import _register, app, main


def _commands():
    _register()
    out = []

    def walk(cmd, path):
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, path + [name])
        else:
            out.append((path, cmd))

    walk(typer.main.get_command(app), [])
    return out


def test_bracketed_words_of_docstrings_are_shown(capsys):
    checked = 0
    for path, cmd in _commands():
        # a bracketed word as written in the docstring (a Rich escape "\[" included)
        words = [w.replace("\\", "") for w in re.findall(r"\\?\[[^\]\s]+\]", cmd.help or "")]
        if not words:
            continue
        assert main([*path, "--help"]) == 0
        shown = capsys.readouterr().out
        for w in words:
            assert w in shown, f"{' '.join(path)} --help lost {w!r}"
        checked += 1
    assert checked  # data plan names [teacher] and [select.*]
