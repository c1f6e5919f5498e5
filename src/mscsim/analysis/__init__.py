"""Analyses over simulations: regimen comparison and withdrawal."""

from mscsim.analysis.compare import (
    COMPARE_COLUMNS,
    compare_scenarios,
    compare_splits,
    split_scenario,
    treatment_window,
)
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
    "Withdrawal",
    "WithdrawalComparison",
    "compare_scenarios",
    "compare_splits",
    "msc_withdrawal",
    "reference_drug_withdrawal",
    "split_scenario",
    "treatment_window",
    "withdrawal",
    "withdrawal_analysis",
]
