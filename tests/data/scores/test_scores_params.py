"""Scorer parameters are declared once (a ``Spec`` per scorer): every value a declaration refuses is
refused by the scorer with exactly the declaration's message, and ``scorer_params()`` gives a
command line one ``Param`` per option name. The bad-input cases are generated from the specs, so a
new scorer or parameter is covered without editing this file."""

from __future__ import annotations

import pytest

from planted import gaussian_mixture
from prunekit.data import score
from prunekit.data.scores import SCORERS, ScoringContext, get_scorer, scorer_params
from prunekit.errors import ConfigError
from prunekit.io.examples import from_arrays
from prunekit.params import Param

CASES = [(name, p, bad) for name, cls in SCORERS.items() for p in cls.spec for bad in p.invalid_examples()]


def case_id(case) -> str:
    name, p, bad = case
    return f"{name}-{p.name}={bad!r}"


@pytest.fixture(scope="module")
def small():
    X, y = gaussian_mixture(sizes=(30, 20, 10), dim=8, seed=4)
    return X, y


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_refused_with_the_declared_message(case, small):
    name, p, bad = case
    X, y = small
    ex = from_arrays(X.copy(), labels=y.copy())
    with pytest.raises(ConfigError) as info:
        get_scorer(name, **{p.name: bad}).score(ex, ScoringContext(ex))
    assert str(info.value) == str(p.error(bad))
    if bad is not None:  # the pipeline leaves None to the scorer's default
        with pytest.raises(ConfigError) as info:
            score(from_arrays(X.copy(), labels=y.copy()), name, **{p.name: bad})
        assert str(info.value) == str(p.error(bad))


def test_every_parameter_has_bad_cases():
    for name, cls in SCORERS.items():
        for p in cls.spec:
            assert p.invalid_examples(), (name, p.name)
            assert p.help, f"{name}.{p.name} has no help text"


def test_init_only_stores_and_refuses_unknown_names():
    s = get_scorer("aum", variant="nope", runs=-1)  # validated when scoring, not here
    assert s.params["variant"] == "nope"
    with pytest.raises(ConfigError, match=r"^scorer 'aum' has no parameter 'bad'; its parameters: batch_size, "
                                          r"depth, epochs, lr, model, optimizer, runs, variant, width$"):
        get_scorer("aum", bad=1)
    assert SCORERS["aum"].defaults == SCORERS["aum"].spec.defaults()


def test_scorer_params_cover_every_option():
    merged = scorer_params()
    names = {p.name for cls in SCORERS.values() for p in cls.spec}
    assert set(merged) == names
    for name, p in merged.items():
        assert isinstance(p, Param) and p.name == name
        assert p.help_text()  # the CLI help renders
        declared = {q for cls in SCORERS.values() for q in cls.spec if q.name == name}
        if len(declared) == 1:
            assert p == declared.pop()  # one declaration: handed out as is


def test_shared_parameters_are_one_declaration():
    """The cluster parameters and the proxy-training parameters are declared once."""
    for group in (("prototypicality", "density", "semdedup"), ("forgetting", "el2n", "aum", "dynamic_uncertainty")):
        first = SCORERS[group[0]].spec
        for other in group[1:]:
            for p in first:
                assert SCORERS[other].spec[p.name] is p, (other, p.name)
    # GraNd differs in epochs only (0 = at initialisation); the merged option says so
    g, e = SCORERS["grand"].spec, SCORERS["el2n"].spec
    assert [p.name for p in g if p is not e[p.name]] == ["epochs"]
    assert g["epochs"].default == 0 and g["epochs"].low == 0
    epochs = scorer_params()["epochs"]
    assert epochs.default == 10 and "grand, grand_last_layer: an integer ≥ 0, default 0" in epochs.help


def test_registry_choices_list_every_name():
    from prunekit.data.train import MODELS
    from prunekit.data.train.trainer import OPTIMIZERS

    merged = scorer_params()
    assert merged["model"].valid_choices() == tuple(MODELS)
    assert merged["optimizer"].valid_choices() == tuple(OPTIMIZERS)
    for name in MODELS:
        assert repr(name) in merged["model"].help_text()
