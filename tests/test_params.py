"""prunekit.params: one declaration gives the error wording, the help text and the refused values."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from prunekit.errors import ConfigError
from prunekit.params import REQUIRED, Param, Spec

DECLARED = [
    Param("k", int, low=1, default=None, none_means="chosen from the data"),
    Param("eps", float, low=0.0, high=1.0, high_open=True, default=0.05),
    Param("tau", float, low=0.0, low_open=True, default=0.5),
    Param("alpha", float, low=0.0, high=1.0, also=("auto",), default="auto"),
    Param("metric", "choice", choices=("cosine", "l2"), default="cosine"),
    Param("dedup", bool, default=False),
    Param("device", str, default="cpu"),
    Param("seed", int, default=0),
]


@pytest.mark.parametrize("p", DECLARED, ids=lambda p: p.name)
def test_every_invalid_example_is_refused_in_the_one_wording(p):
    assert p.invalid_examples(), "a declaration must name values it refuses"
    for v in p.invalid_examples():
        with pytest.raises(ConfigError) as e:
            p.check(v)
        assert str(e.value) == f"{p.name} must be {p.describe()}, got {v!r}"


@pytest.mark.parametrize("p", DECLARED, ids=lambda p: p.name)
def test_default_is_valid_and_help_names_it(p):
    assert p.check(p.default) == p.default
    text = p.help_text()
    assert f"default: {p.default_text()}" in text.lower()
    assert "[default" not in text  # Rich markup would swallow it


def test_bounds_open_and_closed():
    eps = DECLARED[1]
    assert eps.check(0) == 0.0 and eps.check(0.999) == 0.999
    for bad in (1.0, -1e-9, float("inf")):
        with pytest.raises(ConfigError, match=r"eps must be a number in \[0, 1\)"):
            eps.check(bad)
    tau = DECLARED[2]
    with pytest.raises(ConfigError, match="tau must be a number > 0, got 0"):
        tau.check(0)


def test_numpy_scalars_are_accepted_and_normalised():
    k = DECLARED[0]
    v = k.check(np.int64(3))
    assert v == 3 and type(v) is int
    assert DECLARED[1].check(np.float32(0.25)) == 0.25


def test_choices_from_a_callable_follow_the_registry():
    names = ["a"]
    p = Param("method", "choice", choices=lambda: names, default="a")
    names.append("b")
    assert p.check("b") == "b" and "'b'" in p.describe()


def test_spec_resolves_defaults_and_refuses_unknown_and_missing():
    s = Spec(Param("n", int, low=1), DECLARED[1])
    assert s.resolve({"n": 2}, "thing 'x'") == {"n": 2, "eps": 0.05}
    with pytest.raises(ConfigError, match="thing 'x' has no parameter 'm'; its parameters: eps, n"):
        s.resolve({"n": 2, "m": 1}, "thing 'x'")
    with pytest.raises(ConfigError, match="thing 'x' needs parameter 'n'"):
        s.resolve({}, "thing 'x'")
    assert s["n"].default is REQUIRED
    with pytest.raises(ValueError):
        Spec(DECLARED[0], DECLARED[0])


def test_training_recipe_defaults_are_declared_once():
    from prunekit.data.train import TRAIN_PARAMS, TrainConfig

    fields = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    assert fields == TRAIN_PARAMS.defaults()
