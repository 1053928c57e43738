"""An honest report (issue 14 item 4): time to accuracy counts scoring *and* the teacher's training,
CPU seconds beside wall seconds, every curve says what it keeps, the spread is named, one colour
per method in every plot, no absolute path in a report."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from prunekit.data.colors import FULL_COLOR, method_color, method_colors
from prunekit.data.experiment.report_parts import SPREAD, keeps_what, relative_paths, with_costs
from prunekit.data.experiment.sweep import SweepConfig, run_sweep
from prunekit.data.experiment.sweep_report import results_table, write_report


def _table() -> pd.DataFrame:
    rows = []
    for kd in (False, True):
        for m, k in (("full", 1.0), ("el2n", 0.3), ("random", 0.3)):
            rows.append(dict(dataset="toy", method=m, keep=k, seed=0, kd=kd, accuracy=0.9, examples=int(100 * k),
                             scoring_seconds=5.0 if m == "el2n" else 0.0, training_seconds=2.0,
                             teacher_seconds=7.0 if kd else 0.0, training_cpu_seconds=3.0,
                             scoring_cpu_seconds=9.0 if m == "el2n" else 0.0,
                             teacher_cpu_seconds=11.0 if kd else 0.0))
    return pd.DataFrame(rows)


def test_totals_count_scoring_teacher_and_training_in_wall_and_cpu():
    d = with_costs(_table())
    kd_el2n = d[(d.method == "el2n") & d.kd].iloc[0]
    assert kd_el2n["wall"] == 5.0 + 7.0 + 2.0 and kd_el2n["cpu"] == 9.0 + 11.0 + 3.0
    ce_random = d[(d.method == "random") & ~d.kd].iloc[0]
    assert ce_random["wall"] == 2.0
    rows = {(r[0], r[2]): r for r in results_table(_table())}
    assert rows[("el2n", True)][8:] == (7.0, 14.0, 23.0)  # teacher s, total wall s, total CPU s


def test_report_names_what_each_curve_keeps_the_spread_and_no_absolute_path(tmp_path):
    cfg = {"data": str(tmp_path / "data" / "train.npy"), "methods": ["el2n", "random"], "seeds": 1}
    text = write_report(_table(), tmp_path / "rep", config=cfg).read_text()
    assert "el2n: hardest" in text and "random: uniform" in text
    assert SPREAD in text and "teacher s" in text and "total CPU s" in text
    assert str(tmp_path) not in text and "../data/train.npy" in text
    assert "Time to accuracy, scoring and teacher included" in text


def test_keeps_what_follows_a_configured_direction():
    assert keeps_what("el2n") == "hardest"
    assert keeps_what("el2n", {"selectors": {"el2n": {"direction": "easiest"}}}) == "easiest"
    assert keeps_what("el2n", {"select": {"el2n": {"direction": "offset", "beta": 0.1, "balance": "equal"}}}) \
        == "offset (the 0.1 hardest dropped first), equal class balance"
    assert keeps_what("random", {"select": {"random": {"balance": "proportional"}}}) == "uniform, proportional class balance"
    assert keeps_what("rs2").startswith("new random subset")
    assert relative_paths({"a": ["/x/y", "rel"], "b": 1}, "/x/z") == {"a": ["../y", "rel"], "b": 1}


def test_one_colour_per_method_whatever_else_is_plotted():
    assert method_colors(["el2n", "ccs"])["el2n"] == method_colors(["ccs", "random", "el2n"])["el2n"]
    assert method_color("el2n + KD") == method_color("el2n") and method_color("full") == FULL_COLOR
    assert method_color("my_new_scorer") == method_color("my_new_scorer")  # stable for unknown names
    known = ["random", "rs2", "el2n", "forgetting", "aum", "ccs", "prototypicality", "density", "dbp"]
    assert len({method_color(m) for m in known}) == len(known)


def test_the_planner_plot_and_the_report_share_the_colour_module():
    """No module draws method curves with its own palette (tab10 by position, 'C<i>')."""
    from pathlib import Path

    import prunekit

    src = Path(prunekit.__file__).parent
    for path in (src / "data/experiment/recommend.py", src / "data/experiment/sweep_report.py"):
        text = path.read_text()
        assert "method_color" in text and "tab10" not in text and not re.search(r'f"C\{', text), path


@pytest.mark.slow
def test_sweep_records_teacher_and_cpu_seconds_and_the_report_counts_them(tmp_path):
    cfg = SweepConfig.from_dict({"data": "digits", "methods": ["random"], "keep": [0.3, 1.0], "seeds": 1,
                                 "kd": [False, True], "epochs": 1}).validate()
    res = run_sweep(cfg, tmp_path / "s", show_progress=False, report=True)
    rows = {(r["method"], r["kd"]): r for r in res.rows}
    assert rows[("random", False)]["teacher_seconds"] == 0.0
    teacher = json.loads((tmp_path / "s" / "cache" / "seed0" / "teacher.json").read_text())
    assert teacher["seconds"] > 0 and teacher["cpu_seconds"] > 0
    for key in (("random", True), ("full", True)):
        assert rows[key]["teacher_seconds"] == teacher["seconds"]  # KD's real price, on every KD cell
    assert all(r["training_cpu_seconds"] > 0 for r in res.rows)
    df = pd.read_parquet(res.path)
    assert {"teacher_seconds", "training_cpu_seconds", "scoring_cpu_seconds", "teacher_cpu_seconds"} <= set(df)
    kd = df[(df.method == "random") & df.kd].iloc[0]
    total = with_costs(df)[(df.method == "random") & df.kd].iloc[0]["wall"]
    assert total == pytest.approx(kd.scoring_seconds + kd.teacher_seconds + kd.training_seconds)
    text = res.report.read_text()
    m = re.search(r"<td>random</td><td>0.3</td><td>yes</td><td>1</td>(?:<td>[^<]*</td>){3}<td>([0-9.]+)</td>", text)
    assert m and float(m.group(1)) == pytest.approx(teacher["seconds"], abs=0.01)
    assert np.isfinite(df["training_cpu_seconds"]).all()
