"""Selector parameters (and the budget) are declared once: every value a declaration refuses is
refused by ``select`` with exactly the declaration's message, and ``selector_params()`` gives a
command line one ``Param`` per option name. Generated from the specs."""

from __future__ import annotations

import pytest

from planted import gaussian_mixture
from prunekit.data import score, select
from prunekit.data.select import COUNT, KEEP, SELECTORS, get_selector, selector_params
from prunekit.errors import ConfigError
from prunekit.io.examples import from_arrays
from prunekit.params import Param

CASES = [(name, p, bad) for name, cls in SELECTORS.items() for p in cls.spec for bad in p.invalid_examples()]


@pytest.fixture(scope="module")
def table():
    X, y = gaussian_mixture(sizes=(30, 20, 10), dim=8, seed=4)
    return score(from_arrays(X, labels=y), ["prototypicality", "density", "semdedup"], k=4)


@pytest.mark.parametrize("case", CASES, ids=[f"{n}-{p.name}={b!r}" for n, p, b in CASES])
def test_refused_with_the_declared_message(case, table):
    name, p, bad = case
    with pytest.raises(ConfigError) as info:
        get_selector(name, **{p.name: bad}).select(table, 0.3)
    assert str(info.value) == str(p.error(bad))
    if bad is not None:  # the pipeline leaves None to the selector's default
        with pytest.raises(ConfigError) as info:
            select(table, name, 0.3, **{p.name: bad})
        assert str(info.value) == str(p.error(bad))


BUDGET_CASES = [(p, bad) for p in (KEEP, COUNT) for bad in p.invalid_examples()]


@pytest.mark.parametrize("case", BUDGET_CASES, ids=[f"{p.name}={b!r}" for p, b in BUDGET_CASES])
def test_budget_refused_with_the_declared_message(case, table):
    p, bad = case
    for name in SELECTORS:
        with pytest.raises(ConfigError) as info:
            select(table, name, **{p.name: bad})
        assert str(info.value) == str(p.error(bad))


def test_count_larger_than_n_keeps_its_data_message(table):
    with pytest.raises(ConfigError, match=r"^count must be between 1 and the number of examples \(60\), got 61$"):
        select(table, "hardest", count=61)


def test_every_parameter_has_bad_cases_and_help():
    for name, cls in SELECTORS.items():
        for p in cls.spec:
            assert p.invalid_examples(), (name, p.name)
            assert p.help, f"{name}.{p.name} has no help text"


def test_init_only_stores_and_refuses_unknown_names():
    s = get_selector("dbp", tau=-1)  # validated when selecting, not here
    assert s.params["tau"] == -1
    with pytest.raises(ConfigError, match=r"^selector 'dbp' has no parameter 'balance'; its parameters: "
                                          r"complexity, score, tau, within$"):
        get_selector("dbp", balance="equal")
    assert SELECTORS["ccs"].defaults == {"score": None, "beta": 0.1, "bins": 50, "cutoff_score": None}


def test_selector_params_cover_every_option():
    merged = selector_params()
    assert set(merged) == {p.name for cls in SELECTORS.values() for p in cls.spec}
    for name, p in merged.items():
        assert isinstance(p, Param) and p.name == name and p.help_text()
    # beta is one declaration shared by offset and ccs
    assert SELECTORS["offset"].spec["beta"] is SELECTORS["ccs"].spec["beta"] is merged["beta"]
    # dbp ranks by centroid_distance unless told otherwise; the merged option says so
    score_opt = merged["score"]
    assert score_opt.default is None and "dbp: a string or None, default centroid_distance" in score_opt.help
