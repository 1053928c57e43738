"""The contract every registered selector keeps: exact budgets, a reason for every drop,
determinism under a seed, clear errors, dedup-then-select, class balance and tie-breaking.

Parametrized over ``SELECTORS``; parameters a selector needs go in ``PARAMS``. The shared
``scored_table`` fixture holds every geometry score (``density`` for dbp), clusters and
``duplicate_of``.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from prunekit.data import ScoreTable, select
from prunekit.data.select import SELECTORS, budget, get_selector
from prunekit.errors import ConfigError, InputError

NAMES = sorted(SELECTORS)

# Parameters a selector needs on the fixture table (others run with their defaults).
PARAMS: dict[str, dict] = {"dbp": {}, "ccs": {"beta": 0.1},
                           # the fixture has no value column: any score stands in for the group value / log-weight
                           "dp4tl": {"score": "cluster_complexity"}, "importance": {"score": "prototypicality"}}
BUDGETS = [("keep", 0.3, 300), ("keep", 0.05, 50), ("keep", 0.5, 500), ("keep", 0.9, 900),
           ("keep", 0.0004, 1), ("keep", 0.1234, 123), ("count", 17, 17), ("count", 1, 1),
           ("count", 512, 512)]


def params_for(name: str, **over) -> dict:
    return {**PARAMS.get(name, {}), **over}


def no_cutoff(name: str) -> dict:
    """Parameters that let a selector keep everything (no hard cutoff / offset)."""
    return params_for(name, **({"beta": 0.0} if "beta" in SELECTORS[name].spec else {}))


def do_select(table, name, *, keep=None, count=None, seed=0, dedup=False, **over):
    return select(table, name, keep, count=count, dedup=dedup, seed=seed, **params_for(name, **over))


def check_reasons(out) -> None:
    assert out.keep.dtype == bool and out.keep.shape == (len(out),)
    assert out.reason.shape == (len(out),)
    for k, r in zip(out.keep.tolist(), out.reason.tolist()):
        if k:
            assert r is None
        else:
            assert isinstance(r, str) and r
            category, _, detail = r.partition(": ")
            assert category and detail, f"reason {r!r} is not '<category>: <detail>'"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind,value,expected", BUDGETS)
def test_exact_keep_counts_and_reasons(name, kind, value, expected, scored_table):
    assert len(scored_table) == 1000
    out = do_select(scored_table, name, **{kind: value})
    assert int(out.keep.sum()) == expected
    check_reasons(out)
    assert out.meta["selection"]["kept"] == expected
    # the input table is left untouched
    assert scored_table.keep is None


@pytest.mark.parametrize("name", NAMES)
def test_keep_everything(name, scored_table):
    out = select(scored_table, name, 1.0, **no_cutoff(name))
    assert out.keep.all()
    assert all(r is None for r in out.reason)


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_under_seed(name, scored_table):
    a = do_select(scored_table, name, keep=0.37, seed=5)
    b = do_select(scored_table, name, keep=0.37, seed=5)
    assert a.keep.tobytes() == b.keep.tobytes()
    assert a.reason.tolist() == b.reason.tolist()


@pytest.mark.parametrize("name", ["random", "ccs"])
def test_seed_changes_random_selections(name, scored_table):
    a = do_select(scored_table, name, keep=0.3, seed=0)
    b = do_select(scored_table, name, keep=0.3, seed=1)
    assert not np.array_equal(a.keep, b.keep)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("keep", [0, 0.0, -0.1, 1.0001, 2, float("nan"), float("inf"), True, "0.3"])
def test_keep_outside_unit_interval(name, keep, scored_table):
    with pytest.raises(ConfigError, match="keep"):
        do_select(scored_table, name, keep=keep)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("count", [0, -3, 1001, 10**9, 2.5, True])
def test_bad_counts(name, count, scored_table):
    with pytest.raises(ConfigError, match="count"):
        do_select(scored_table, name, count=count)


@pytest.mark.parametrize("name", NAMES)
def test_budget_given_once(name, scored_table):
    with pytest.raises(ConfigError, match="exactly one"):
        do_select(scored_table, name)
    with pytest.raises(ConfigError, match="exactly one"):
        do_select(scored_table, name, keep=0.3, count=30)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_parameter(name, scored_table):
    with pytest.raises(ConfigError, match="no_such_param"):
        get_selector(name, no_such_param=1)
    with pytest.raises(ConfigError, match="no_such_param"):
        select(scored_table, name, 0.3, no_such_param=1)


def test_unknown_selector_lists_valid_names(scored_table):
    with pytest.raises(ConfigError) as info:
        select(scored_table, "no-such-selector", 0.3)
    for name in NAMES:
        assert name in str(info.value)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_score_column_lists_columns(name, scored_table):
    if "score" not in SELECTORS[name].spec:
        pytest.skip("selector takes no score column")
    with pytest.raises(InputError, match="no score column 'nope'.*prototypicality"):
        do_select(scored_table, name, keep=0.3, score="nope")


def test_budget_rounding():
    assert budget(1000, 0.3) == 300
    assert budget(3, 0.5) == 2  # half rounds up
    assert budget(10, 0.01) == 1  # never zero
    assert budget(7, 1.0) == 7
    assert budget(1000, count=17) == 17


# ----------------------------------------------------------------------------- dedup


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("keep", [0.3, 0.8])
def test_dedup_drops_exactly_the_duplicates(name, keep, scored_table):
    dup = scored_table.duplicate_of
    is_dup = dup >= 0
    out = do_select(scored_table, name, keep=keep, dedup=True)
    assert int(out.keep.sum()) == round(keep * 1000)
    check_reasons(out)
    assert not (out.keep & is_dup).any()
    dup_reason = np.array([r is not None and r.startswith("duplicate:") for r in out.reason])
    assert np.array_equal(dup_reason, is_dup)
    for row in np.flatnonzero(is_dup):
        assert out.reason[row] == f"duplicate: near-duplicate of id {scored_table.ids[dup[row]]}"


@pytest.mark.parametrize("name", NAMES)
def test_dedup_budget_larger_than_what_remains(name, scored_table):
    n_left = int((scored_table.duplicate_of < 0).sum())
    with pytest.raises(InputError, match="near-duplicates"):
        do_select(scored_table, name, count=n_left + 1, dedup=True)


@pytest.mark.parametrize("name", NAMES)
def test_dedup_needs_duplicate_of(name, scored_table):
    t = copy.copy(scored_table)
    t.duplicate_of = None
    with pytest.raises(InputError, match="semdedup"):
        do_select(t, name, keep=0.3, dedup=True)


# ----------------------------------------------------------------------------- class balance


def imbalanced_table(scores=None) -> ScoreTable:
    """100 rows, classes of 50 / 30 / 15 / 5 (interleaved), one difficulty column."""
    rng = np.random.default_rng(0)
    y = rng.permutation(np.repeat([0, 1, 2, 3], [50, 30, 15, 5]))
    s = rng.random(100) if scores is None else scores
    return ScoreTable(ids=np.arange(100), labels=y, scores={"s": s},
                      meta={"directions": {"s": "difficulty"}})


BALANCED = [n for n in NAMES if "balance" in SELECTORS[n].spec]


@pytest.mark.parametrize("name", BALANCED)
@pytest.mark.parametrize(
    "balance,expected",
    [
        # m = 33 of sizes (50, 30, 15, 5): raw quotas 16.5, 9.9, 4.95, 1.65 → floors 16, 9, 4, 1;
        # the 3 left go to the largest remainders (.95, .9, .65): classes 2, 1, 3.
        ("proportional", [16, 10, 5, 2]),
        # water-filling from the smallest class: 5 → min(5, 33//4)=5; 15 → min(15, 28//3)=9;
        # 30 → min(30, 19//2)=9; 50 → 10.
        ("equal", [10, 9, 9, 5]),
    ],
)
def test_class_balance_counts(name, balance, expected):
    t = imbalanced_table()
    out = select(t, name, count=33, balance=balance, **no_cutoff(name))
    counts = np.bincount(t.labels[out.keep], minlength=4)
    assert counts.tolist() == expected
    check_reasons(out)


@pytest.mark.parametrize("balance", ["proportional", "equal"])
def test_class_balance_within_class_by_score(balance):
    t = imbalanced_table()
    out = select(t, "hardest", count=33, balance=balance)
    s, y = t.scores["s"], t.labels
    for c in range(4):
        rows = np.flatnonzero(y == c)
        kept = np.flatnonzero(out.keep & (y == c))
        top = rows[np.argsort(-s[rows], kind="stable")[: len(kept)]]
        assert sorted(top.tolist()) == kept.tolist()


def test_equal_balance_small_class_taken_whole():
    t = imbalanced_table()
    out = select(t, "easiest", count=80, balance="equal")
    # 5 → 5; 15 → 15; 30 → min(30, 60//2) = 30; 50 → 30
    assert np.bincount(t.labels[out.keep], minlength=4).tolist() == [30, 30, 15, 5]


@pytest.mark.parametrize("name", BALANCED)
def test_balance_needs_labels_and_valid_option(name):
    t = imbalanced_table()
    with pytest.raises(ConfigError, match="balance"):
        select(t, name, 0.3, balance="bogus", **no_cutoff(name))
    t.labels = None
    with pytest.raises(InputError, match="labels"):
        select(t, name, 0.3, balance="equal", **no_cutoff(name))


# ----------------------------------------------------------------------------- ties


def constant_table(n=100) -> ScoreTable:
    return ScoreTable(ids=np.arange(n) * 10, labels=None, scores={"s": np.full(n, 0.25)},
                      cluster=(np.arange(n) % 4).astype(np.int32),
                      meta={"directions": {"s": "difficulty"}})


@pytest.mark.parametrize("name", ["hardest", "easiest", "sorscher"])
def test_ties_broken_by_row(name):
    out = select(constant_table(), name, count=10)
    assert np.flatnonzero(out.keep).tolist() == list(range(10))


def test_offset_ties_broken_by_row():
    out = select(constant_table(), "offset", count=10, beta=0.1)
    # the "10 hardest" of a constant score are rows 0..9 (row order); the next 10 are kept
    assert np.flatnonzero(out.keep).tolist() == list(range(10, 20))
    assert all(r.startswith("offset:") for r in out.reason[:10])


def test_dbp_ties_broken_by_row():
    t = constant_table()
    t.scores["cx"] = np.ones(100)
    out = select(t, "dbp", count=20, score="s", complexity="cx")
    # equal complexity and sizes → 5 per cluster; within a cluster its lowest rows
    kept = np.flatnonzero(out.keep)
    assert sorted(kept.tolist()) == sorted([c + 4 * i for c in range(4) for i in range(5)])


def test_offset_drops_the_hardest_first():
    rng = np.random.default_rng(3)
    s = rng.permutation(200).astype(float)
    t = ScoreTable(ids=np.arange(200), labels=None, scores={"s": s},
                   meta={"directions": {"s": "difficulty"}})
    out = select(t, "offset", count=50, beta=0.2)
    order = np.argsort(-s)
    assert all(out.reason[r].startswith("offset:") for r in order[:40])
    assert sorted(np.flatnonzero(out.keep).tolist()) == sorted(order[40:90].tolist())


def test_sorscher_switches_from_easy_to_hard():
    s = np.arange(100, dtype=float)
    t = ScoreTable(ids=np.arange(100), labels=None, scores={"s": s},
                   meta={"directions": {"s": "difficulty"}})
    few = select(t, "sorscher", count=10, abundant=50)
    many = select(t, "sorscher", count=60, abundant=50)
    assert np.flatnonzero(few.keep).tolist() == list(range(10))  # scarce: easiest
    assert np.flatnonzero(many.keep).tolist() == list(range(40, 100))  # abundant: hardest


def test_default_score_is_first_difficulty_column(scored_table):
    out = select(scored_table, "hardest", count=100)
    s = scored_table.scores["prototypicality"]
    assert sorted(np.flatnonzero(out.keep).tolist()) == sorted(np.argsort(-s, kind="stable")[:100].tolist())
    t = ScoreTable(ids=np.arange(5), labels=None, scores={"r": np.arange(5.0)},
                   meta={"directions": {"r": "redundancy"}})
    with pytest.raises(InputError, match="score=<column>"):
        select(t, "hardest", count=2)


@pytest.mark.parametrize("name", NAMES)
def test_wrongly_typed_parameters(name, scored_table):
    """Every declared parameter given a value of the wrong kind fails as a PrunekitError."""
    from prunekit.errors import PrunekitError

    for param in SELECTORS[name].spec.names():
        for bad in ("not-a-value", [1, 2]):
            with pytest.raises(PrunekitError):
                do_select(scored_table, name, keep=0.3, **{param: bad})


def test_offset_budget_larger_than_eligible(scored_table):
    with pytest.raises(InputError, match="eligible"):
        select(scored_table, "offset", 0.95, beta=0.1)
