"""The claims audit: each verdict comes from a computation, and overrides that must move it do."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mscsim.analysis import withdrawal_analysis
from mscsim.analysis.claims import (
    CLAIM_IDS,
    CLAIMS,
    NUMERICAL_TOLERANCE,
    VERDICTS,
    _deciding,
    _holds,
    _problem,
    audit_claims,
    claim,
)
from mscsim.errors import MscsimWarning, SpecError

CONTRACT_IDS = (
    "dose_by_route",
    "survival_four_weeks",
    "repeated_dosing",
    "immune_attack",
    "source_quality",
    "distribution_losses",
    "paracrine_action",
    "frequency_over_dose",
    "no_dependence",
    "sca_trial",
)
CHEAP = ("dose_by_route", "survival_four_weeks", "distribution_losses")
"""Claims fast enough to audit with a sample in a unit test."""


def test_every_claim_of_the_contract_is_checked() -> None:
    assert set(CONTRACT_IDS) <= set(CLAIM_IDS)
    for c in CLAIMS:
        assert set(c.heard) == set(c.statement) == set(c.emergent_reason) == {"en", "zh"}


@pytest.mark.slow
def test_audit_gives_verdicts_robustness_and_references() -> None:
    results = audit_claims(samples=8, seed=3, ids=CHEAP)
    assert [r.id for r in results] == list(CHEAP)
    for r in results:
        assert r.verdict in VERDICTS
        assert r.robustness is not None and 0.0 <= r.robustness <= 1.0
        assert all(ref.startswith("R") for ref in r.references)
        record = r.to_dict()
        assert list(record)[:7] == [
            "id",
            "claim",
            "verdict",
            "robustness",
            "deciding_parameters",
            "emergent",
            "references",
        ]


@pytest.mark.slow
def test_same_seed_gives_the_same_audit_and_another_seed_another_sample() -> None:
    first = audit_claims(samples=6, seed=11, ids=["survival_four_weeks"])
    again = audit_claims(samples=6, seed=11, ids=["survival_four_weeks"])
    assert first == again
    space = claim("survival_four_weeks").space()
    from mscsim.analysis.claims import _sample

    a, b = _sample(space, 6, 11, 1), _sample(space, 6, 12, 1)
    assert not np.allclose(a["target_half_life_days"], b["target_half_life_days"])


@pytest.mark.slow
def test_a_claims_sample_does_not_depend_on_the_other_claims_checked() -> None:
    alone = audit_claims(samples=6, seed=5, ids=["survival_four_weeks"])[0]
    with_others = audit_claims(samples=6, seed=5, ids=["dose_by_route", "survival_four_weeks"])
    assert with_others[1] == alone


def test_chinese_texts_replace_the_english_ones() -> None:
    en = audit_claims(samples=0, ids=["dose_by_route"], lang="en")[0]
    zh = audit_claims(samples=0, ids=["dose_by_route"], lang="zh")[0]
    assert zh.claim != en.claim and zh.verdict == en.verdict
    assert "静脉输注" in zh.claim


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lang": "fr"}, "lang = 'fr'"),
        ({"samples": 1}, "samples = 1"),
        ({"samples": -2}, "samples = -2"),
        ({"seed": -1}, "seed = -1"),
        ({"ids": ["no_such_claim"]}, "claim = 'no_such_claim'"),
    ],
)
def test_bad_audit_settings_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        audit_claims(**kwargs)  # type: ignore[arg-type]


def test_an_override_of_a_parameter_the_claim_does_not_use_is_refused() -> None:
    with pytest.raises(SpecError, match=r"parameters\.drug_ec50"):
        claim("survival_four_weeks").check({"drug_ec50": 1.0})
    with pytest.raises(SpecError, match=r"parameters\.target_half_life_days = -1\.0"):
        claim("survival_four_weeks").check({"target_half_life_days": -1.0})


# --- verdicts follow the physics: overrides whose effect is known flip them ---


@pytest.mark.slow
def test_survival_verdict_follows_the_half_life_at_the_site() -> None:
    # First-order loss: 2^(-28/7) = 6% of the dose at day 28 vs 2^(-28/1) ~ 4e-9.
    survival = claim("survival_four_weeks")
    assert survival.check({"target_half_life_days": 7.0}) is True
    assert survival.check({"target_half_life_days": 1.0}) is False


@pytest.mark.slow
def test_immune_attack_needs_an_immune_clearance() -> None:
    attack = claim("immune_attack")
    none = {
        "immune_clearance_per_day": 0.0,
        "sensitised_clearance_multiplier": 1.0,
        "ibmir_max_loss": 0.0,
    }
    assert attack.check(none) is False
    assert attack.check({**none, "immune_clearance_per_day": 0.5}) is True


@pytest.mark.slow
def test_no_dependence_fails_only_with_a_mechanism_that_lowers_later_doses() -> None:
    stopping = claim("no_dependence")
    assert stopping.check({"sensitised_clearance_multiplier": 1.0}) is True
    strong = {"sensitised_clearance_multiplier": 5.0, "sensitising_exposure_cell_days": 1e7}
    assert stopping.check(strong) is False


def test_frequency_claim_depends_on_saturation_not_on_a_rule() -> None:
    frequency = claim("frequency_over_dose")
    # No saturation anywhere (capacity far above the dose, factor far below its EC50):
    # the same cells give the same effect whatever the schedule, so "more" is false.
    linear = {"target_capacity_cells": 1e12, "effect_ec50_ng": 1e5, "effect_hill": 1.0}
    with pytest.warns(MscsimWarning, match="outside the plausible range"):
        value, _ = frequency.margin(linear)
    assert abs(value) < 0.02 and value < 0
    # Retention saturates and the effect saturates: the second dose adds more.
    saturating = {"target_capacity_cells": 1e7, "effect_ec50_ng": 0.24, "effect_hill": 1.0}
    assert frequency.check(saturating) is True


def test_paracrine_effect_vanishes_without_secretion() -> None:
    value, se = claim("paracrine_action").margin()
    assert se == 0 and value == pytest.approx(1 - NUMERICAL_TOLERANCE, abs=1e-6)


# --- the batched computations agree with mscsim's own analyses ---


@pytest.mark.slow
def test_no_dependence_matches_the_withdrawal_analysis() -> None:
    problem = _problem("sca_iv")
    result = withdrawal_analysis(problem, horizon_day=635.0, resolution_day=0.25)
    value, _ = claim("no_dependence").margin()
    tolerance_index = value + 1 - NUMERICAL_TOLERANCE  # the tolerance part decides here
    assert result.rebound == 0.0
    assert tolerance_index == pytest.approx(result.tolerance_index, abs=1e-3)


def test_holds_is_none_within_two_standard_errors() -> None:
    assert _holds(0.05, 0.03) is None
    assert _holds(-0.2, 0.03) is False
    assert _holds(0.2, 0.0) is True
    assert _holds(math.nan, 0.0) is None


def test_deciding_parameters_are_those_that_move_the_margin() -> None:
    rng = np.random.default_rng(0)
    n = 64
    sample = {name: rng.uniform(size=n) for name in ("a", "b", "c", "d")}
    margin = 3 * sample["b"] - sample["d"] + 0.05 * rng.normal(size=n)
    assert _deciding(sample, margin) == ("b", "d")
    assert _deciding(sample, np.zeros(n)) == ()


@pytest.mark.slow
def test_trial_claim_reports_power_with_its_standard_error() -> None:
    trial = claim("sca_trial")
    value, se = trial.margin()
    assert -0.8 <= value <= 0.2 and 0 <= se <= 0.5 / math.sqrt(200) + 1e-12
