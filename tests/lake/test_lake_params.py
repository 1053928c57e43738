"""Bad input, generated from the declarations in ``prunekit.lake.params``: every value a declaration
refuses is refused by every library function taking that parameter — with exactly the declared
message, before anything is written — and by the CLI with exit 2 and one ``error:`` line."""

from __future__ import annotations

import pytest

from _planted_plan import write_lake
from prunekit.cli import main
from prunekit.errors import ConfigError
from prunekit.lake.backends import get_verifier
from prunekit.lake.deletion_plan import plan_to_file
from prunekit.lake.deletion_problem import CostModel, Problem
from prunekit.lake.deletion_solver import solve
from prunekit.lake.demo_lake import run_demo
from prunekit.lake.params import (
    COST_PARAMS,
    DEMO_PARAMS,
    ENGINE,
    MIN_COLUMNS,
    PLAN_PARAMS,
    SAMPLE_ROWS,
    SCAN_PARAMS,
    SEMANTICS_PARAM,
    SOLVER,
    THROUGHPUT,
    TIME_LIMIT,
    WORKERS,
)
from prunekit.lake.recipe import build_recipe
from prunekit.lake.scan import scan, scan_to_folder
from prunekit.lake.schema_graph import schema_candidates
from prunekit.lake.verify import sample_indices
from prunekit.params import Spec

# (library function, the parameters it takes, a call with those keywords; tmp is the test's folder)
CALLS = [
    ("scan_to_folder", SCAN_PARAMS, lambda tmp, **kw: scan_to_folder(tmp / "lake", tmp / "out", **kw)),
    ("scan", Spec(SCAN_PARAMS, WORKERS), lambda tmp, **kw: scan(tmp / "lake", **kw)),
    ("plan_to_file", PLAN_PARAMS, lambda tmp, **kw: plan_to_file(tmp / "scan", tmp / "out" / "plan.json", **kw)),
    ("CostModel", COST_PARAMS, lambda tmp, **kw: CostModel(**kw)),
    ("solve", Spec(SOLVER, TIME_LIMIT), lambda tmp, **kw: solve(Problem([], {}, {}, {}, {}, {}, []), **kw)),
    ("run_demo", DEMO_PARAMS, lambda tmp, **kw: run_demo(tmp / "out", **kw)),
    ("get_verifier", Spec(ENGINE), lambda tmp, engine: get_verifier(engine)),
    ("sample_indices", Spec(SAMPLE_ROWS), lambda tmp, sample_rows: sample_indices("t", 10, sample_rows)),
    ("schema_candidates", Spec(MIN_COLUMNS), lambda tmp, **kw: schema_candidates({}, **kw)),
    ("build_recipe", Spec(SEMANTICS_PARAM), lambda tmp, **kw: build_recipe(tmp / "c.csv", tmp / "p.csv", **kw)),
]
CASES = [pytest.param(call, p, v, id=f"{fname}-{p.name}-{v!r}")
         for fname, spec, call in CALLS for p in spec for v in p.invalid_examples()]


@pytest.mark.parametrize("call, param, value", CASES)
def test_library_refuses_every_invalid_value_in_the_declared_words(tmp_path, call, param, value):
    with pytest.raises(ConfigError) as err:
        call(tmp_path, **{param.name: value})
    assert str(err.value) == str(param.error(value))
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("params") / "lake"
    write_lake(root)
    return root


@pytest.fixture(scope="module")
def scan_dir(lake, tmp_path_factory):
    out = tmp_path_factory.mktemp("params") / "scan"
    scan_to_folder(lake, out, cache=False, graph=False)
    return out


@pytest.mark.parametrize("args, param, value", [
    (["--sample-rows", "0"], SAMPLE_ROWS, 0),
    (["--min-columns", "-1"], MIN_COLUMNS, -1),
    (["--engine", "oracle"], ENGINE, "oracle"),
    (["--semantics", "multiset"], SEMANTICS_PARAM, "multiset"),
])
def test_cli_scan_bad_option(lake, tmp_path, capsys, args, param, value):
    out = tmp_path / "out"
    assert main(["lake", "scan", str(lake), "-o", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {param.error(value)}"
    assert not out.exists() and not (lake / ".prunekit").exists() and not (lake / ".prunekit-trash").exists()


@pytest.mark.parametrize("args, param, value", [
    (["--throughput", "0"], THROUGHPUT, 0.0),
    (["--storage-price", "-1"], COST_PARAMS["storage_price_per_gb_month"], -1.0),
    (["--max-rebuild-seconds", "-2"], COST_PARAMS["max_rebuild_seconds"], -2.0),
    (["--solver", "simplex"], SOLVER, "simplex"),
    (["--time-limit", "0"], TIME_LIMIT, 0.0),
])
def test_cli_plan_bad_option(scan_dir, tmp_path, capsys, args, param, value):
    assert main(["lake", "plan", str(scan_dir), "-o", str(tmp_path / "plan.json"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {param.error(value)}"
    assert not (tmp_path / "plan.json").exists()


@pytest.mark.parametrize("args, param, value", [
    (["--limit", "0"], DEMO_PARAMS["limit"], 0),
    (["--engine", "oracle"], ENGINE, "oracle"),
])
def test_cli_demo_bad_option(tmp_path, capsys, args, param, value):
    out = tmp_path / "demo"
    assert main(["lake", "demo", "-o", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {param.error(value)}"
    assert not out.exists()


def test_help_names_every_valid_value_and_default(capsys):
    for command, spec in (("scan", SCAN_PARAMS), ("plan", PLAN_PARAMS), ("demo", DEMO_PARAMS)):
        assert main(["lake", command, "--help"]) == 0
        text = " ".join(capsys.readouterr().out.replace("│", " ").split())
        for p in spec:
            assert f"default: {p.default_text()}" in text, (command, p.name)
            for choice in p.valid_choices():
                assert repr(choice) in text, (command, p.name, choice)
