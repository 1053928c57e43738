"""Bad training recipes (issue 14): a model factory that does not import, has no such function,
fails, or returns no ``nn.Module``; unknown optimizer or schedule names; bad ``[teacher]`` and
``[select.*]`` keys — in ``data sweep`` configs, ``data train`` and ``data plan`` options. Each is one
``error:`` line naming the key, exit 2, nothing written (the harness checks every file)."""

from __future__ import annotations

import sys

import pytest

from _bad_input_harness import Case, both, params, run_case, write

SWEEP = 'data = "digits"\nmethods = ["random"]\nkeep = [0.5]\nseeds = 1\nkd = [false]\nepochs = 1\n'
NETS = {
    "pk14_bad_int": "def make(dim, n_classes, seed):\n    return 3\n",
    "pk14_bad_raise": "def make(dim, n_classes, seed):\n    raise ValueError('no such width')\n",
    "pk14_bad_syntax": "def make(dim, n_classes, seed)\n    return None\n",
    "pk14_bad_attr": "def build(dim, n_classes, seed):\n    return None\n",
}


def sweep_case(name: str, body: str, words, setup=None) -> Case:
    cfg = write("s.toml", SWEEP + body)
    return Case(7, f"sweep-{name}", lambda c: ["data", "sweep", c.tmp / "s.toml", "-o", c.tmp / "out"], words,
                setup=cfg if setup is None else both(setup, cfg))


def nets(name: str):
    return write(f"{name}.py", NETS[name])


CASES = [
    sweep_case("model-does-not-import", 'model = "pk14_no_such_module:make"\n',
               ("model", "pk14_no_such_module", "cannot import")),
    sweep_case("model-path-malformed", 'model = "my nets:make"\n', ("model", "module:function")),
    sweep_case("model-module-has-a-syntax-error", 'model = "pk14_bad_syntax:make"\n',
               ("model", "pk14_bad_syntax", "SyntaxError"), nets("pk14_bad_syntax")),
    sweep_case("model-function-missing", 'model = "pk14_bad_attr:make"\n', ("model", "no attribute 'make'"),
               nets("pk14_bad_attr")),
    sweep_case("model-returns-a-non-module", 'model = "pk14_bad_int:make"\n',
               ("model", "pk14_bad_int:make", "returned int", "nn.Module"), nets("pk14_bad_int")),
    sweep_case("model-factory-raises", 'model = "pk14_bad_raise:make"\n',
               ("model", "pk14_bad_raise", "no such width"), nets("pk14_bad_raise")),
    sweep_case("optimizer-unknown", 'optimizer = "lbfgs"\n', ("optimizer", "lbfgs")),
    sweep_case("schedule-unknown", 'schedule = "sawtooth"\n', ("schedule", "sawtooth")),
    sweep_case("teacher-optimizer-unknown", '[teacher]\noptimizer = "rmsprop"\n', ("teacher.optimizer", "rmsprop")),
    sweep_case("teacher-model-returns-a-non-module", '[teacher]\nmodel = "pk14_bad_int:make"\n',
               ("teacher.model", "nn.Module"), nets("pk14_bad_int")),
    sweep_case("select-unknown-direction", '[select.random]\nbalance = "lopsided"\n', ("select.random", "lopsided")),
    sweep_case("select-not-a-method", '[select.el2n]\ndirection = "easiest"\n', ("select.el2n", "methods")),
    Case(7, "train-model-does-not-import",
         lambda c: ["data", "train", "digits", "--model", "pk14_no_such_module:make", "--epochs", "1", "-o", "m.pt"],
         ("model", "pk14_no_such_module")),
    Case(7, "train-model-returns-a-non-module",
         lambda c: ["data", "train", "digits", "--model", "pk14_bad_int:make", "--epochs", "1", "-o", "m.pt"],
         ("model", "nn.Module"), setup=nets("pk14_bad_int")),
    Case(7, "train-schedule-unknown",
         lambda c: ["data", "train", "digits", "--schedule", "sawtooth", "--epochs", "1", "-o", "m.pt"],
         ("schedule", "sawtooth")),
    Case(7, "plan-optimizer-unknown", lambda c: ["data", "plan", "digits", "--optimizer", "lbfgs", "-o", "plan"],
         ("optimizer", "lbfgs")),
    Case(7, "plan-model-does-not-import",
         lambda c: ["data", "plan", "digits", "--model", "pk14_no_such_module:make", "-o", "plan"],
         ("model", "pk14_no_such_module")),
]


@pytest.mark.parametrize("case", params(CASES))
def test_bad_recipe(case, ctx, capsys, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # importing a factory writes no __pycache__
    for name in NETS:  # each case imports its own copy of the module
        monkeypatch.delitem(sys.modules, name, raising=False)
    run_case(case, ctx, capsys, [])
