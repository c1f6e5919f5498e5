"""Regimen comparison: splitting keeps the cells; which regimen wins is the model's answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mscsim.analysis import COMPARE_COLUMNS, compare_scenarios, compare_splits, split_scenario
from mscsim.errors import SpecError
from mscsim.io.scenario import load_scenario
from tests.conftest import build_scenario

LIMB = {"model": "limb_ischemia"}


@given(
    k=st.integers(1, 12),
    cells=st.floats(1e6, 1e8),
    viability=st.floats(0.5, 1.0),
    count=st.integers(1, 3),
)
@settings(max_examples=40, deadline=None)
def test_split_keeps_total_viable_cells_route_and_window(
    k: int, cells: float, viability: float, count: int
) -> None:
    dose = {"route": "intramuscular", "cells": cells, "day": 3, "count": count}
    if count > 1:
        dose["every_days"] = 10
    scenario = build_scenario(
        product={"source": "bone_marrow", "donor": "autologous", "viability": viability},
        dose=[dose],
        simulation={"horizon_days": 60},
    )
    split = split_scenario(scenario, k)
    events = split.regimen.expand()
    assert len(events) == k
    assert {e.route for e in events} == {scenario.dose[0].route}
    total = math.fsum(e.cells_for(70) for e in events)
    assert total == pytest.approx(cells * count, rel=1e-12)
    assert events[0].time_day == 3
    window = 10.0 * count if count > 1 else 28.0
    assert events[-1].time_day == pytest.approx(3 + (k - 1) * window / k, rel=1e-12)


def test_compare_conserves_total_viable_cells_across_splits() -> None:
    scenario = load_scenario("examples/cli_bm_msc_im.toml")
    frame = compare_splits(scenario, (1, 2, 3, 4, 8)).table
    assert list(frame.columns) == list(COMPARE_COLUMNS)
    expected = 2e6 * 70 * 0.90
    treated = frame.iloc[:-1]
    np.testing.assert_allclose(treated["total_viable_cells"], expected, rtol=1e-14)
    assert treated["n_doses"].tolist() == [1, 2, 3, 4, 8]
    untreated = frame.iloc[-1]
    assert untreated["regimen"] == "untreated" and untreated["total_viable_cells"] == 0
    assert untreated["effect_auc"] == 0 and untreated["exposure_cell_days"] == 0
    assert frame.attrs["outcome"] == "perfusion_ratio"


def test_saturation_makes_frequent_small_doses_beat_one_large_dose() -> None:
    # Clinical IM dose above retention capacity and in the saturating part of the Emax curve.
    frame = compare_splits(load_scenario("examples/cli_bm_msc_im.toml"), (1, 4)).table
    one, four = frame.iloc[0], frame.iloc[1]
    assert four["effect_auc"] > 1.3 * one["effect_auc"]
    assert four["exposure_cell_days"] > one["exposure_cell_days"]
    assert four["days_above_threshold"] > one["days_above_threshold"]


def test_without_saturation_splitting_changes_neither_exposure_nor_effect() -> None:
    # Linear regime: no retention capacity, factor far below EC50 (effect ~ linear in
    # cells), and no early loss: exposure is proportional to the cells whatever the split.
    scenario = build_scenario(
        dose=[{"route": "intramuscular", "cells": 1e6}],
        disease=LIMB,
        simulation={"horizon_days": 120},
        parameters={
            "target_capacity_cells": math.inf,
            "early_loss_fraction": 0.0,
            "effect_ec50_ng": 1e4,
        },
    )
    with pytest.warns(match="plausible range"):
        frame = compare_splits(scenario, (1, 2, 4)).table
    treated = frame.iloc[:-1]
    exposure = treated["exposure_cell_days"].to_numpy()
    np.testing.assert_allclose(exposure, exposure[0], rtol=1e-6)
    auc = treated["effect_auc"].to_numpy()
    # Effect AUCs are read off a 1.2-h grid: each dose's rise costs ~1e-3.
    np.testing.assert_allclose(auc, auc[0], rtol=5e-3)


def test_a_steep_threshold_response_favours_one_large_dose() -> None:
    scenario = build_scenario(
        dose=[{"route": "intramuscular", "cells": 3e7}],
        disease=LIMB,
        simulation={"horizon_days": 60},
        parameters={"effect_hill": 3.0, "effect_ec50_ng": 6.0},
    )
    frame = compare_splits(scenario, (1, 4)).table
    assert frame.iloc[0]["effect_auc"] > 2 * frame.iloc[1]["effect_auc"]


def test_compare_scenarios_gives_a_row_each_and_one_untreated_row() -> None:
    a = build_scenario(disease=LIMB)
    b = build_scenario(dose=[{"route": "intramuscular", "cells": 1e7}], disease=LIMB)
    frame = compare_scenarios([a, b], ["big", "small"]).table
    assert frame["regimen"].tolist() == ["big", "small", "untreated"]
    assert frame.iloc[0]["effect_auc"] > frame.iloc[1]["effect_auc"] > 0
    assert frame.iloc[2]["effect_auc"] == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"splits": (0,)}, "split = 0"),
        ({"splits": (2, 2)}, "distinct"),
        ({"splits": (8,), "window_days": 100.0}, "after simulation.horizon_days"),
    ],
)
def test_bad_splits_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        compare_splits(build_scenario(disease=LIMB), **kwargs)  # type: ignore[arg-type]


def test_a_scenario_without_doses_cannot_be_split() -> None:
    with pytest.raises(SpecError, match="no doses to split"):
        split_scenario(build_scenario(dose=[]), 2)


def test_compare_reports_later_doses_delivering_less_only_for_allogeneic_cells() -> None:
    monthly = [{"route": "intravenous", "cells": 7e7, "every_days": 30, "count": 4}]
    products = {
        donor: build_scenario(
            product={"source": "umbilical_cord", "donor": donor, "viability": 1.0},
            dose=monthly,
            simulation={"horizon_days": 150},
        )
        for donor in ("autologous", "allogeneic")
    }
    frame = compare_scenarios(list(products.values()), list(products)).table
    ratio = frame.set_index("regimen")["last_dose_exposure_ratio"]
    assert ratio["autologous"] == pytest.approx(1.0, rel=1e-6)
    assert ratio["allogeneic"] < 0.9
    assert math.isnan(ratio["untreated"])


@pytest.mark.parametrize("window", [0.0, -1.0, math.inf, math.nan])
def test_a_split_window_that_is_not_a_finite_positive_day_count_is_refused(window: float) -> None:
    scenario = load_scenario("examples/cli_bm_msc_im.toml")
    with pytest.raises(SpecError, match=r"^window_days = .*: must be a finite number of days > 0"):
        split_scenario(scenario, 2, window)
