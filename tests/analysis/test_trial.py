"""Virtual trials: a null trial rejects at alpha; a real effect is found; power grows with n."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy import stats

from mscsim.analysis.trial import analyse_replicate, check_trial_size, power_curve, run_trial
from mscsim.errors import SpecError
from mscsim.problem import InProcess
from mscsim.spec.trial import TrialSpec
from tests.conftest import build_scenario

# A cheap model: local cells against an inflammation index over four weeks.
ARM: dict[str, Any] = {
    "product": {"source": "bone_marrow", "donor": "autologous", "viability": 0.9},
    "dose": [{"route": "intramuscular", "cells": 5e7, "day": 1}],
    "disease": {"model": "inflammation", "baseline_index": 2.0},
    "simulation": {"horizon_days": 28},
    "population": {"seed": 0, "baseline": {"dist": "normal", "mean": 2.0, "sd": 0.3, "min": 0.5}},
}


def trial(**changes: Any) -> TrialSpec:
    scenario = build_scenario(**ARM)
    data: dict[str, Any] = {
        "trial": {"replicates": 200, "seed": 1, "alpha": 0.05},
        "endpoint": {"output": "inflammation_index", "day": 14},
        "measurement": {"additive_sd": 0.3},
        "arm": [
            {"name": "treated", "n": 8, "scenario": scenario},
            {"name": "control", "n": 8, "scenario": scenario, "placebo": True},
        ],
    }
    for key, value in changes.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return TrialSpec.model_validate(data)


def binomial_bounds(p: float, n: int) -> tuple[float, float]:
    low, high = stats.binom.interval(0.999, n, p)
    return low / n, high / n


@pytest.mark.parametrize("analysis", ["ancova", "welch"])
def test_a_null_trial_rejects_at_alpha(analysis: str) -> None:
    spec = trial(trial={"replicates": 2000, "analysis": analysis})
    arms = [a.model_copy(update={"placebo": True}) for a in spec.arm]
    null = spec.model_copy(update={"arm": tuple(arms)})
    result = run_trial(null)
    low, high = binomial_bounds(0.05, 2000)
    assert low <= result.summary.power <= high
    # Each patient is compared with its own untreated course: no effect at all.
    assert result.summary.true_effect == 0.0


def test_a_trials_patients_do_not_depend_on_how_they_are_batched() -> None:
    spec = trial(trial={"replicates": 12})
    whole = run_trial(spec)
    for chunk_size in (1, 7, 50):
        batched = run_trial(spec, executor=InProcess(chunk_size=chunk_size))
        pd.testing.assert_frame_equal(batched.patients, whole.patients, rtol=1e-12)
        pd.testing.assert_frame_equal(batched.replicates, whole.replicates, rtol=1e-9)
    # Replicate r's patients are the same whether 12 or 5 replicates are simulated.
    fewer = run_trial(spec, replicates=5).patients
    first = whole.patients[whole.patients["replicate"] < 5].reset_index(drop=True)
    pd.testing.assert_frame_equal(fewer, first, rtol=1e-12)


def test_a_large_true_effect_gives_power_near_one() -> None:
    spec = trial(trial={"replicates": 100}, measurement={"additive_sd": 0.05})
    result = run_trial(spec, n_per_arm=20)
    assert result.summary.true_effect < -0.3  # inflammation falls under treatment
    assert result.summary.power >= 0.98
    assert result.summary.n_treated_for_80_percent_power <= 20
    est = result.replicates["estimate"]
    assert est.mean() == pytest.approx(result.summary.true_effect, abs=4 * est.std() / 10 + 0.02)


def test_power_rises_with_n_per_arm() -> None:
    # Noisier ratings, so that power is far from 1 at small n.
    spec = trial(measurement={"additive_sd": 0.4}, trial={"replicates": 150})
    curve = power_curve(spec, [3, 8, 24])
    assert curve["power"].is_monotonic_increasing
    assert curve["power"].iloc[-1] - curve["power"].iloc[0] > 0.3


def test_dropout_removes_patients_from_the_analysis() -> None:
    result = run_trial(trial(trial={"replicates": 300, "dropout": 0.25}))
    kept = result.replicates[["n_treated", "n_control"]].to_numpy().mean()
    assert kept == pytest.approx(8 * 0.75, abs=0.3)


def test_ancova_uses_the_baseline_to_narrow_the_interval() -> None:
    rng = np.random.default_rng(0)
    n, effect = 60, -1.0
    base_t, base_c = rng.normal(10, 3, n), rng.normal(10, 3, n)
    change_t = 0.5 * base_t + effect + rng.normal(0, 0.5, n)
    change_c = 0.5 * base_c + rng.normal(0, 0.5, n)
    a = analyse_replicate(change_t, change_c, base_t, base_c, analysis="ancova", alpha=0.05)
    w = analyse_replicate(change_t, change_c, base_t, base_c, analysis="welch", alpha=0.05)
    assert a["ci_low"] < effect < a["ci_high"]
    assert a["ci_high"] - a["ci_low"] < 0.5 * (w["ci_high"] - w["ci_low"])
    assert a["p_value"] < w["p_value"]


def test_the_safety_counts_follow_the_per_infusion_probabilities() -> None:
    result = run_trial(trial(trial={"replicates": 500}, safety={"fever_per_infusion": 0.2}))
    counts = result.summary.safety_per_replicate
    assert counts["treated"]["fevers"] == pytest.approx(8 * 0.2, rel=0.12)
    assert counts["control"]["fevers"] == pytest.approx(8 * 0.2 / 2.48, rel=0.2)


@pytest.mark.parametrize(
    ("kwargs", "replicates"),
    [({"replicates": 10**9}, "1,000,000,000"), ({"replicates": 10**6, "n_per_arm": 10**4}, "GiB")],
)
def test_a_trial_larger_than_memory_is_refused_before_it_runs(
    kwargs: dict[str, int], replicates: str
) -> None:
    with pytest.raises(SpecError, match=r"^trial.replicates = \d+: .* GiB, more than the 4 GiB"):
        check_trial_size(trial(), **kwargs)
    with pytest.raises(SpecError, match=replicates):
        run_trial(trial(), replicates=kwargs["replicates"], n_per_arm=kwargs.get("n_per_arm"))


@pytest.mark.parametrize("day", [math.nan, math.inf, -1.0, 2.0**63 - 1])
def test_a_visit_day_that_is_not_a_finite_day_is_refused(day: float) -> None:
    with pytest.raises(ValidationError, match=r"trial\.visit_days\.1"):
        trial(trial={"visit_days": [30.0, day]})


def test_no_size_for_80_percent_power_is_none_not_nan() -> None:
    from mscsim.analysis.trial import _n_for_power

    spec = trial()
    kept = pd.DataFrame({"arm": ["treated", "control"] * 50, "change": np.arange(100.0)})
    assert _n_for_power(kept, "treated", "control", 1e-9, spec) is None  # root finder fails
    n = _n_for_power(kept, "treated", "control", 20.0, spec)
    assert n is not None and math.isfinite(n) and n > 1
