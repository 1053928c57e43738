"""Experiments over the data-pruning pipeline: resumable sweeps (``run_sweep``) of methods × keep
fractions × seeds × {CE, KD}, scaling-curve fits (``fit_power_law``), the HTML report
(``write_report``) and the pruning-budget recommender (``recommend``: pilots → a method, kept
fraction and KD weight within a tolerance)."""

from prunekit.data.experiment.forecast import Recommendation, recommend_from_rows
from prunekit.data.experiment.recommend import RecommendRun, recommend
from prunekit.data.experiment.sweep_report import write_report
from prunekit.data.experiment.scaling import PowerLaw, fit_power_law
from prunekit.data.experiment.sweep import (
    RESULT_COLUMNS, Cell, SweepConfig, SweepResult, cells, run_sweep, summary, valid_methods,
)

__all__ = ["Cell", "PowerLaw", "RESULT_COLUMNS", "Recommendation", "RecommendRun", "SweepConfig", "SweepResult",
           "cells", "fit_power_law", "recommend", "recommend_from_rows", "run_sweep", "summary", "valid_methods",
           "write_report"]
