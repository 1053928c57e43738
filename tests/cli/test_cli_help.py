"""Every command's --help: it renders, its choices list every valid name, its declared options say
their default."""

from __future__ import annotations

import pytest
import typer

from prunekit.cli import _register, app, main


def _commands():
    _register()
    root = typer.main.get_command(app)
    out = []

    def walk(cmd, path):
        if hasattr(cmd, "commands"):  # a group (Typer vendors its own click)
            for name, sub in cmd.commands.items():
                walk(sub, path + [name])
        else:
            out.append((" ".join(path), cmd))

    walk(root, [])
    return dict(out)


COMMANDS = _commands()


def _help(cmd) -> str:
    return "\n".join(getattr(p, "help", None) or "" for p in cmd.params)


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_help_renders(path, capsys):
    assert main([*path.split(), "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage" in out


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_no_option_help_uses_markup_brackets_for_defaults(path):
    # Rich markup mode swallows "[default: …]"; declared options say "default: …" in parentheses.
    assert "[default" not in _help(COMMANDS[path])


def test_score_help_lists_every_scorer():
    from prunekit.data.scores import SCORERS

    text = _help(COMMANDS["data score"])
    missing = [n for n in SCORERS if f"'{n}'" not in text]
    assert not missing, missing


def test_select_help_lists_every_selector():
    from prunekit.data.select import SELECTORS

    text = _help(COMMANDS["data select"])
    missing = [n for n in SELECTORS if f"'{n}'" not in text]
    assert not missing, missing


def test_train_help_lists_every_model_and_says_defaults():
    from prunekit.data.train import TRAIN_PARAMS

    cmd = COMMANDS["data train"]
    by_name = {p.name: getattr(p, "help", None) or "" for p in cmd.params}
    for name in ("model", "optimizer", "schedule", "budget"):
        for choice in TRAIN_PARAMS[name].valid_choices():
            assert f"'{choice}'" in by_name[name], (name, choice)
    from prunekit.data.train.subset import KD_TAU

    for p in (*(TRAIN_PARAMS[n] for n in ("epochs", "batch_size", "lr", "seed")), KD_TAU):
        assert f"default: {p.default_text()})" in by_name[p.name], p.name


def test_plan_help_says_its_defaults():
    by_name = {p.name: getattr(p, "help", None) or "" for p in COMMANDS["data plan"].params}
    assert "default: 1)" in by_name["tolerance"]
    assert "default: 1)" in by_name["final_seeds"]


def test_running_the_cli_again_does_not_grow_the_command_tree(capsys):
    assert main(["--version"]) == 0
    groups, commands = len(app.registered_groups), len(app.registered_commands)
    for _ in range(3):
        assert main(["--version"]) == 0
    assert (len(app.registered_groups), len(app.registered_commands)) == (groups, commands) == (5, 1)
