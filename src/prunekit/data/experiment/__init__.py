"""Experiments over the data-pruning pipeline: resumable sweeps (``run_sweep``) of methods × keep
fractions × seeds × {CE, KD}, scaling-curve fits (``fit_power_law``) and the HTML report
(``write_report``)."""

from prunekit.data.experiment.report import write_report
from prunekit.data.experiment.scaling import PowerLaw, fit_power_law
from prunekit.data.experiment.sweep import (
    RESULT_COLUMNS, Cell, SweepConfig, SweepResult, cells, run_sweep, summary, valid_methods,
)

__all__ = ["Cell", "PowerLaw", "RESULT_COLUMNS", "SweepConfig", "SweepResult", "cells", "fit_power_law", "run_sweep",
           "summary", "valid_methods", "write_report"]
