"""Every kind of bad scenario is refused with one line naming field, value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mscsim.errors import MscsimWarning, SpecError
from mscsim.io import load_scenario
from mscsim.problem import prepare_scenario

GOOD = """
[patient]
weight_kg = 65

[product]
source = "umbilical_cord"
donor = "allogeneic"
viability = 0.9

[[dose]]
route = "intravenous"
cells_per_kg = 1e6
every_days = 90
count = 4

[simulation]
horizon_days = 365
"""

BAD = [
    (
        "top-level typo",
        GOOD + "\n[simulaton]\nhorizon_days = 3\n",
        r"^simulaton = .*unknown key; allowed keys here: patient, product, dose, disease, simulation, parameters, population, model, label$",
    ),
    (
        "dose typo",
        GOOD.replace("count = 4", "count = 4\nevery = 3"),
        r"^dose\[0\]\.every = 3: unknown key; allowed keys here: route, cells",
    ),
    (
        "bad route",
        GOOD.replace('"intravenous"', '"intravenus"'),
        r"^dose\[0\]\.route = 'intravenus': must be 'intravenous', 'intra_arterial'",
    ),
    (
        "bad source",
        GOOD.replace('"umbilical_cord"', '"cord"'),
        r"^product\.source = 'cord': must be 'bone_marrow', 'umbilical_cord' or 'adipose'$",
    ),
    (
        "both amounts",
        GOOD.replace("cells_per_kg = 1e6", "cells_per_kg = 1e6\ncells = 1e8"),
        r"^dose\[0\]\.cells / cells_per_kg: both given; give exactly one",
    ),
    (
        "no amount",
        GOOD.replace("cells_per_kg = 1e6", ""),
        r"^dose\[0\]\.cells / cells_per_kg: neither given; give exactly one",
    ),
    (
        "negative weight",
        GOOD.replace("weight_kg = 65", "weight_kg = -65"),
        r"^patient\.weight_kg = -65: must be greater than (or equal to )?[\d.]+$",
    ),
    (
        "viability above 1",
        GOOD.replace("viability = 0.9", "viability = 90"),
        r"^product\.viability = 90: must be less than or equal to 1$",
    ),
    (
        "missing source",
        GOOD.replace('source = "umbilical_cord"', ""),
        r"^product\.source: missing; this key is required$",
    ),
    (
        "zero interval",
        GOOD.replace("every_days = 90", "every_days = 0"),
        r"^dose\[0\]\.every_days = 0: must be greater than 0$",
    ),
    (
        "count without interval",
        GOOD.replace("every_days = 90", ""),
        r"^dose\[0\]\.every_days: missing while count = 4",
    ),
    (
        "infusion for a local route",
        GOOD.replace('"intravenous"', '"intramuscular"').replace(
            "count = 4", "count = 4\ninfusion_hours = 2"
        ),
        r"^dose\[0\]\.infusion_hours = 2\.0: only intravenous doses are infused",
    ),
    (
        "infusion shorter than a minute",
        GOOD.replace("count = 4", "count = 4\ninfusion_hours = 1e-320"),
        r"^dose\[0\]\.infusion_hours = 1e-320: must be at least one minute \(0\.0167 h\); omit it",
    ),
    (
        "string for a number",
        GOOD.replace("weight_kg = 65", 'weight_kg = "heavy"'),
        r"^patient\.weight_kg = 'heavy': must be a number >=? [\d.]+ and <= 400$",
    ),
    (
        "output grid coarser than horizon",
        GOOD.replace("horizon_days = 365", "horizon_days = 365\noutput_every_days = 400"),
        r"^simulation\.output_every_days = 400\.0: larger than horizon_days = 365\.0",
    ),
]


@pytest.mark.parametrize(("case", "text", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_scenarios_are_refused_with_one_line(
    tmp_path: Path, case: str, text: str, message: str
) -> None:
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(SpecError, match=message) as info:
        load_scenario(path)
    assert "\n" not in str(info.value)


def test_good_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(GOOD)
    scenario = load_scenario(path)
    assert scenario.regimen.total_cells(65) == pytest.approx(4 * 65e6)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"^scenario = '.*nope\.toml': file not found$"):
        load_scenario(tmp_path / "nope.toml")


PARAMETER_ERRORS = [
    (
        {"lung_trap_fraktion": 0.5},
        r"^parameters\.lung_trap_fraktion = 0\.5: not a parameter of this model; did you mean lung_trap_fraction\b",
    ),
    (
        {"lung_trap_fraction": 1.5},
        r"^parameters\.lung_trap_fraction = 1\.5: must be >= 0 and <= 1 \(fraction\)$",
    ),
    (
        {"local_leak_per_day": -0.1},
        r"^parameters\.local_leak_per_day = -0\.1: must be >= 0 \(1/day\)$",
    ),
    (
        {"target_half_life_days": 0.0},
        r"^parameters\.target_half_life_days = 0\.0: must be > 0 \(day\)$",
    ),
    (
        {"target_capacity_cells": float("nan")},
        r"^parameters\.target_capacity_cells = nan: must be > 0",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), PARAMETER_ERRORS)
def test_impossible_or_unknown_parameter_overrides_are_refused(
    tmp_path: Path, overrides: dict[str, float], message: str
) -> None:
    path = tmp_path / "s.toml"
    path.write_text(GOOD)
    scenario = load_scenario(path).model_copy(update={"parameters": overrides})
    with pytest.raises(SpecError, match=message):
        prepare_scenario(scenario)


def test_an_override_outside_the_plausible_range_warns_but_is_used(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(GOOD + "\n[parameters]\nlung_half_life_days = 5\n")
    with pytest.warns(MscsimWarning, match=r"lung_half_life_days = 5 is outside .*\[0\.5, 2\]"):
        inputs = prepare_scenario(load_scenario(path))
    assert inputs.params["lung_half_life_days"][0] == 5.0


def test_toml_inf_disables_saturation(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    # Autologous cells: no immune memory, so nothing else makes the kinetics nonlinear.
    text = GOOD.replace('"intravenous"', '"intramuscular"').replace('"allogeneic"', '"autologous"')
    path.write_text(text + "\n[parameters]\ntarget_capacity_cells = inf\n")
    inputs = prepare_scenario(load_scenario(path))
    assert inputs.site == "intramuscular"
    assert np.isinf(inputs.params["target_capacity_cells"]).all()
    assert inputs.model.is_linear(inputs.params)


def test_two_local_routes_in_one_scenario_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        GOOD
        + '\n[[dose]]\nroute = "intrathecal"\ncells = 2e7\n'
        + '\n[[dose]]\nroute = "intramuscular"\ncells = 2e7\n'
    )
    with pytest.raises(SpecError, match=r"^dose\.route = intramuscular, intrathecal: one scenario"):
        prepare_scenario(load_scenario(path))


def test_a_dose_beyond_the_highest_studied_is_refused_unless_allowed(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(GOOD.replace("cells_per_kg = 1e6", "cells_per_kg = 2e7"))
    with pytest.raises(SpecError, match=r"beyond the highest studied.*allow_beyond_evidence=True"):
        prepare_scenario(load_scenario(path))
    with pytest.warns(MscsimWarning, match="beyond the highest studied"):
        prepare_scenario(load_scenario(path), allow_beyond_evidence=True)
