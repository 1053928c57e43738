"""The report's legends sit outside the plots and inside the picture: the labels say what each
curve keeps ("prototypicality, easiest, proportional class balance + KD"), and a legend drawn
inside the axes hid data points and, on the two-panel time-to-accuracy plot, ran past the
figure's right edge and was cut off (seen on penbased, docs/RESULTS.md)."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure

from prunekit.data.experiment.sweep_report import PLOTS, write_report
from test_sweep_report import planted_table

SELECT = {"el2n": {"direction": "easiest", "balance": "proportional"},
          "random": {"balance": "proportional"}}


@pytest.mark.parametrize("per_class", [True, False])
def test_legends_are_outside_the_axes_and_inside_the_figure(tmp_path, monkeypatch, per_class):
    saved: dict[str, Figure] = {}
    original = Figure.savefig

    def record(fig, path, *a, **kw):
        original(fig, path, *a, **kw)  # draws the figure: the extents below are final
        saved[str(path).rsplit("/", 1)[-1].removesuffix(".png")] = fig

    monkeypatch.setattr(Figure, "savefig", record)
    df = planted_table()
    if not per_class:
        df = df.drop(columns=["kept_per_class"])  # the examples-per-epoch fallback plot
    write_report(df, tmp_path / "report", config={"select": SELECT})
    assert set(PLOTS) <= set(saved)
    for name in PLOTS:
        fig = saved[name]
        renderer = fig.canvas.get_renderer()
        legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
        assert legends, name
        box = fig.bbox
        for leg in legends:
            lb = leg.get_window_extent(renderer)
            assert lb.x0 >= box.x0 - 1 and lb.x1 <= box.x1 + 1 and lb.y0 >= box.y0 - 1 and lb.y1 <= box.y1 + 1, \
                f"{name}: legend cut off at the figure's edge"
            for ax in fig.axes:
                assert not lb.overlaps(ax.get_window_extent(renderer)), f"{name}: legend over the plot"
        assert any("easiest, proportional class balance" in t.get_text()
                   for leg in legends for t in leg.get_texts()), name


def test_planner_plot_legend_is_outside_the_axes(tmp_path, monkeypatch):
    from prunekit.data.experiment.forecast import recommend_from_rows
    from prunekit.data.experiment.recommend import RecommendRun, plot_recommendation
    from test_recommend import N_FULL, planted_rows

    boxes = []
    original = Figure.savefig

    def record(fig, path, *a, **kw):
        original(fig, path, *a, **kw)  # the plan closes its figure after saving: measure it now
        renderer = fig.canvas.get_renderer()
        legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
        boxes.append((fig.bbox, [leg.get_window_extent(renderer) for leg in legends],
                      [ax.get_window_extent(renderer) for ax in fig.axes]))

    monkeypatch.setattr(Figure, "savefig", record)
    rec = recommend_from_rows(planted_rows(), n_full=N_FULL, tolerance=1.0)
    run = RecommendRun(tmp_path, rec, {"drop": 0.5}, 1.0, 1.0, {"model": "mlp", "epochs": 10})
    plot_recommendation(run, [], tmp_path / "plan.png", config={"select": SELECT})
    ((box, legends, axes),) = boxes
    assert legends
    for lb in legends:
        assert box.x0 - 1 <= lb.x0 and lb.x1 <= box.x1 + 1 and box.y0 - 1 <= lb.y0
        assert not any(lb.overlaps(a) for a in axes)
