"""Analyses over simulations: per-dose exposure, regimen comparison and withdrawal."""

from mscsim.analysis.compare import (
    COMPARE_COLUMNS,
    compare_scenarios,
    compare_splits,
    split_problem,
    split_scenario,
    treatment_window,
)
from mscsim.analysis.doses import (
    DOSE_COLUMNS,
    Course,
    dose_exposures,
    simulate_course,
    simulate_with_dose_exposures,
)
from mscsim.analysis.extrema import course_extrema, dense_times
from mscsim.analysis.withdrawal import (
    Withdrawal,
    WithdrawalComparison,
    msc_withdrawal,
    reference_drug_withdrawal,
    withdrawal,
    withdrawal_analysis,
)

__all__ = [
    "COMPARE_COLUMNS",
    "DOSE_COLUMNS",
    "Course",
    "Withdrawal",
    "WithdrawalComparison",
    "compare_scenarios",
    "compare_splits",
    "course_extrema",
    "dense_times",
    "dose_exposures",
    "msc_withdrawal",
    "reference_drug_withdrawal",
    "simulate_course",
    "simulate_with_dose_exposures",
    "split_problem",
    "split_scenario",
    "treatment_window",
    "withdrawal",
    "withdrawal_analysis",
]
