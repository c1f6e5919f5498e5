"""compare, withdrawal and trial run on a model defined here, not a built-in one."""

from __future__ import annotations

from typing import Any

import numpy as np

from mscsim.analysis import compare_splits, withdrawal
from mscsim.analysis.trial import run_trial
from mscsim.problem import EvidencePolicy
from mscsim.spec.trial import TrialSpec
from tests.conftest import build_scenario
from tests.scored_depot import ScoredDepot

SCENARIO: dict[str, Any] = {
    "dose": [{"route": "intramuscular", "cells": 4e7, "every_days": 7, "count": 4}],
    "simulation": {"horizon_days": 42, "output_every_days": 1},
}


def test_compare_splits_runs_on_a_user_model_and_conserves_cells() -> None:
    comparison = compare_splits(
        build_scenario(**SCENARIO), (1, 2), model=ScoredDepot(), window_days=14
    )
    table = comparison.to_frame()
    assert table["regimen"].tolist()[-1] == "untreated"
    np.testing.assert_allclose(table["total_viable_cells"].iloc[:2], 1.6e8, rtol=1e-12)
    assert table["effect_auc"].iloc[-1] == 0 and (table["effect_auc"].iloc[:2] > 0).all()
    assert np.isnan(comparison.courses["cells_total"]).sum() == 0


def test_withdrawal_runs_on_a_user_model() -> None:
    result = withdrawal(build_scenario(**SCENARIO), follow_up_days=30, model=ScoredDepot())
    assert result.msc.model == "scored_depot" and result.msc.outcome == "score"
    courses = result.msc.to_frame()
    stopped = courses[courses["course"] == "stopped"]["outcome"].to_numpy()
    assert stopped.min() < 20.0 and stopped[-1] > stopped.min()  # benefit fades after the stop


def test_a_trial_runs_on_a_user_model() -> None:
    scenario = build_scenario(**SCENARIO, population={"seed": 2})
    spec = TrialSpec.model_validate(
        {
            "trial": {"replicates": 20, "seed": 1},
            "endpoint": {"output": "score", "day": 14},
            "measurement": {"additive_sd": 0.1},
            "arm": [
                {"name": "treated", "n": 6, "scenario": scenario},
                {"name": "control", "n": 6, "scenario": scenario, "placebo": True},
            ],
        }
    )
    result = run_trial(spec, model=ScoredDepot())
    assert result.summary.true_effect < -0.3  # engrafted cells lower the score
    assert result.summary.power == 1.0
    assert set(result.summary.to_dict()) >= {"power", "true_effect", "safety_per_replicate"}


def test_the_policy_object_reaches_the_problem_of_an_analysis() -> None:
    big = {"dose": [{"route": "intramuscular", "cells_per_kg": 2e7, "every_days": 7, "count": 2}]}
    scenario = build_scenario(**{**SCENARIO, **big})
    import pytest

    from mscsim.errors import MscsimWarning, SpecError

    with pytest.raises(SpecError, match="allow_beyond_evidence"):
        withdrawal(scenario, follow_up_days=10, model=ScoredDepot())
    with pytest.warns(MscsimWarning, match="beyond the highest studied"):
        withdrawal(
            scenario,
            follow_up_days=10,
            model=ScoredDepot(),
            policy=EvidencePolicy(allow_beyond_evidence=True),
        )
