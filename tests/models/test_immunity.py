"""Host immunity: memory follows its closed form; later allogeneic doses deliver less.

These tests follow a patient who forms donor-specific antibodies (``dsa_probability``
1, :data:`SENSITISED`); the share of such patients is tested in
``test_immunity_human.py``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import FIRST_ORDER, build_scenario

from mscsim.analysis import simulate_with_dose_exposures
from mscsim.population import simulate_scenario

LN2 = math.log(2.0)

SENSITISED = {"dsa_probability": 1.0}
"""A patient who forms donor-specific antibodies (a single scenario's expected
clearance otherwise weighs memory by the probability, 0.115)."""

# dsa_probability = 1 is outside the evidence range (0.06-0.15) on purpose.
pytestmark = pytest.mark.filterwarnings(
    "ignore:parameters.dsa_probability = 1 is outside:mscsim.errors.MscsimWarning"
)


def exposures(
    *,
    donor: str = "allogeneic",
    every: float = 30.0,
    count: int = 4,
    product: dict[str, Any] | None = None,
    patient: dict[str, Any] | None = None,
    parameters: dict[str, float] | None = None,
    route: str = "intravenous",
) -> np.ndarray:
    """Per-dose whole-body exposure (cell-days) of one patient."""
    scenario = build_scenario(
        patient={"weight_kg": 70, **(patient or {})},
        product={"source": "umbilical_cord", "donor": donor, "viability": 1.0, **(product or {})},
        dose=[{"route": route, "cells": 7e7, "every_days": every, "count": count}],
        simulation={"horizon_days": every * count},
        parameters={**SENSITISED, **(parameters or {})},
    )
    _, table = simulate_with_dose_exposures(scenario)
    return table["exposure_cell_days"].to_numpy()


@pytest.mark.parametrize("route", ["intravenous", "intramuscular"])
def test_autologous_doses_each_deliver_the_same_exposure(route: str) -> None:
    x = exposures(donor="autologous", every=120, route=route)
    np.testing.assert_allclose(x, x[0], rtol=1e-9)


def test_allogeneic_exposure_falls_dose_after_dose_as_the_host_is_sensitised() -> None:
    x = exposures(every=30)
    assert np.all(np.diff(x) < 0)
    assert x[-1] / x[0] < 0.9
    # Without memory (multiplier 1) the innate clearance alone is the same every time.
    same = exposures(every=120, parameters={"sensitised_clearance_multiplier": 1.0})
    np.testing.assert_allclose(same, same[0], rtol=1e-9)


def test_spacing_doses_lets_memory_fade_and_exposure_recover() -> None:
    # Memory peaks about 2 weeks after a dose (priming half-life 5 d); beyond that,
    # the longer the interval, the more memory has faded when the next dose comes.
    ratios = []
    for every in (30, 60, 90, 180, 365):
        x = exposures(every=every, count=2)
        ratios.append(x[1] / x[0])
    assert all(np.diff(ratios) > 0)
    assert ratios[0] < 0.85
    # A year is twelve memory half-lives: the second dose is almost a first dose again.
    assert ratios[-1] > 0.999


@pytest.mark.parametrize(
    ("section", "field"), [("product", "hla_match"), ("patient", "immunosuppression")]
)
def test_hla_match_and_immunosuppression_protect_later_doses(section: str, field: str) -> None:
    ratios = []
    for level in (0.0, 0.5, 0.9, 1.0):
        x = exposures(every=30, **{section: {field: level}})  # type: ignore[arg-type]
        ratios.append(x[-1] / x[0])
    assert all(np.diff(ratios) > 0)
    # Complete match or complete suppression: no priming, every dose alike.
    assert ratios[-1] == pytest.approx(1.0, abs=1e-6)


@settings(max_examples=15, deadline=None)
@given(multiplier=st.floats(1.0, 5.0), every=st.sampled_from([14.0, 30.0, 60.0]))
def test_a_stronger_sensitised_clearance_never_delivers_more(
    multiplier: float, every: float
) -> None:
    base = exposures(every=every, count=3)  # default multiplier 2
    other = exposures(
        every=every, count=3, parameters={"sensitised_clearance_multiplier": multiplier}
    )
    sign = np.sign(multiplier - 2.0)
    assert np.all(sign * (other - base) <= 1e-9 * base)


def test_memory_follows_its_closed_form_for_a_first_order_local_dose() -> None:
    # Multiplier 1: memory does not act back on the cells, which decay as D e^{-kt}.
    d, x50, tp, tm, ki, t_half = 5e7, 1e8, 5.0, 30.0, 0.05, 4.0
    scenario = build_scenario(
        product={"source": "bone_marrow", "donor": "allogeneic", "viability": 1.0},
        dose=[{"route": "intramuscular", "cells": d}],
        simulation={"horizon_days": 120, "output_every_days": 0.5},
        parameters={
            **FIRST_ORDER,
            **SENSITISED,
            "sensitised_clearance_multiplier": 1.0,
            "sensitising_exposure_cell_days": x50,
            "immune_priming_half_life_days": tp,
            "immune_memory_half_life_days": tm,
            "immune_clearance_per_day": ki,
        },
    )
    result = simulate_scenario(scenario)
    t = result.times_day
    k, kp, km = LN2 / t_half + ki, LN2 / tp, LN2 / tm
    a = d / x50 * kp / (kp - k)
    memory = a * (
        (np.exp(-k * t) - np.exp(-km * t)) / (km - k)
        - (np.exp(-kp * t) - np.exp(-km * t)) / (km - kp)
    )
    expected = np.where(memory > 1e-6, memory / (1 + memory), 0.0)
    np.testing.assert_allclose(result.output("sensitisation")[0], expected, rtol=1e-9, atol=1e-15)
    assert result.output("sensitisation")[0].max() > 0.1


def test_autologous_cells_prime_no_memory_and_stay_linear() -> None:
    scenario = build_scenario(
        product={"source": "bone_marrow", "donor": "autologous"},
        dose=[{"route": "intramuscular", "cells": 5e7, "every_days": 14, "count": 3}],
        simulation={"horizon_days": 60},
    )
    result = simulate_scenario(scenario)
    assert np.all(result.output("sensitisation") == 0.0)
