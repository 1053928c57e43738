"""Every declared parameter of the sparse pillar refuses each of its ``invalid_examples()`` with a
``ConfigError`` worded exactly as ``Param.error(value)``: the sparsifiers' options, ``train_sparse``'s
and PERP's; and on the command line: exit 2, one ``error:`` line, nothing written."""

from __future__ import annotations

import pytest
import torch
import typer

from prunekit.cli import main
from prunekit.cli.sparse import app as sparse_app
from prunekit.errors import ConfigError
from prunekit.sparse.methods import METHODS, accepted_options
from prunekit.sparse.perp import PERP_PARAMS, perp_prepare
from prunekit.sparse.train import TRAIN_SPARSE_PARAMS, train_sparse

from sparse_helpers import lenet300

CLASSES = sorted({cls for cls, _ in METHODS.values()}, key=lambda c: c.__name__)
#: options that are not scalars (checked where they are used, not declared as Param)
STRUCTURAL = {"module_types", "include", "exclude", "batch", "loss_fn"}


def cases(params, owner):
    return [pytest.param(p, v, id=f"{owner}-{p.name}-{v!r}") for p in params for v in p.invalid_examples()]


def build(cls, **overrides):
    net = lenet300(dim=16)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    kw = {"total_steps": 100}
    if cls.__name__ == "SNIP":
        kw["batch"] = (torch.zeros(4, 16), torch.zeros(4, dtype=torch.long))
    kw.update(overrides)
    sparsity = kw.pop("sparsity", 0.5)
    return cls(net, opt, sparsity, **kw)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_options_declare_exactly_the_scalar_keywords(cls):
    assert set(cls.options.names()) == (accepted_options(cls) - STRUCTURAL) | {"sparsity"}
    build(cls)  # the declared defaults are valid


@pytest.mark.parametrize("cls, param, bad", [
    pytest.param(cls, p, v, id=f"{cls.__name__}-{p.name}-{v!r}")
    for cls in CLASSES for p in cls.options for v in p.invalid_examples()
])
def test_sparsifier_option_refused_in_the_declared_wording(cls, param, bad):
    with pytest.raises(ConfigError) as ei:
        build(cls, **{param.name: bad})
    assert str(ei.value) == str(param.error(bad))


@pytest.mark.parametrize("param, bad", cases(TRAIN_SPARSE_PARAMS, "train_sparse"))
def test_train_sparse_parameter_refused_in_the_declared_wording(tmp_path, param, bad):
    # every check runs before any data is loaded or anything written
    with pytest.raises(ConfigError) as ei:
        train_sparse(**{param.name: bad}, out=tmp_path / "x.pt")
    assert str(ei.value) == str(param.error(bad))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("param, bad", cases(PERP_PARAMS, "perp"))
def test_perp_parameter_refused_in_the_declared_wording(param, bad):
    net = lenet300(dim=16)
    masks = {"fc1.weight": torch.ones(300, 16, dtype=torch.bool)}
    with pytest.raises(ConfigError) as ei:
        perp_prepare(net, masks, **{param.name: bad})
    assert str(ei.value) == str(param.error(bad))


def cli_options() -> set[str]:
    train = typer.main.get_command(sparse_app).commands["train"]
    return {o.name for o in train.params}


def cli_cases():
    """The invalid examples a command line can spell (numbers for number options, names for choices),
    for every declared parameter that ``prunekit sparse train`` has an option for."""
    out = []
    for p in (p for p in TRAIN_SPARSE_PARAMS if p.name in cli_options()):
        for v in p.invalid_examples():
            if p.type == "choice" and isinstance(v, str):
                out.append(pytest.param(p, v, v, id=f"{p.name}-{v}"))
            elif p.type is int and isinstance(v, int) and not isinstance(v, bool):
                out.append(pytest.param(p, str(v), v, id=f"{p.name}-{v}"))
            elif p.type is float and isinstance(v, (int, float)) and not isinstance(v, bool):
                out.append(pytest.param(p, str(v), float(v), id=f"{p.name}-{v}"))
    return out


@pytest.mark.parametrize("param, arg, parsed", cli_cases())
def test_cli_bad_value_exit_2_one_line_nothing_written(tmp_path, capsys, param, arg, parsed):
    code = main(["sparse", "train", "-q", "-o", str(tmp_path / "x.pt"), "--" + param.name.replace("_", "-"), arg])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.strip().count("\n") == 0, err
    assert err.strip() == f"error: {param.error(parsed)}"
    assert list(tmp_path.iterdir()) == []


def test_every_declared_cli_option_has_a_bad_value_case():
    covered = {c.values[0].name for c in cli_cases()}
    declared = set(TRAIN_SPARSE_PARAMS.names()) & cli_options()
    # seed takes any integer, --dense-first-last is a flag, and device is free text (an unknown one
    # is refused by the device resolver: test_sparse_cli)
    assert covered == declared - {"seed", "device", "dense_first_last"}
    assert declared == set(TRAIN_SPARSE_PARAMS.names()) - {"momentum", "weight_decay"}  # library only
