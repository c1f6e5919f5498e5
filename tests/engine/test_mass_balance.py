"""Conservation: cells never appear between doses; compartments add up; infusions deliver."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests.conftest import build_scenario

from mscsim.engine import solver_named
from mscsim.errors import MscsimWarning
from mscsim.population import simulate_scenario

# Intra-arterial doses have no human dose evidence; the warning saying so is expected here.
NO_IA_EVIDENCE = pytest.mark.filterwarnings(
    "ignore:.*no human dose evidence:mscsim.errors.MscsimWarning"
)

IMMORTAL = {
    "lung_half_life_days": math.inf,
    "liver_spleen_half_life_days": math.inf,
    "target_half_life_days": math.inf,
    "early_loss_half_life_days": math.inf,
    "immune_clearance_per_day": 0.0,
    "ibmir_max_loss": 0.0,
}

SCENARIOS = {
    "iv_repeated_infusions": {
        "product": {"source": "umbilical_cord", "donor": "allogeneic", "viability": 0.9},
        "dose": [
            {
                "route": "intravenous",
                "cells_per_kg": 1e6,
                "every_days": 30,
                "count": 3,
                "infusion_hours": 2,
            }
        ],
        "simulation": {"horizon_days": 90, "output_every_days": 0.25},
    },
    "im_saturating": {
        "dose": [{"route": "intramuscular", "cells": 1.8e8, "every_days": 10, "count": 2}],
        "simulation": {"horizon_days": 30, "output_every_days": 0.5},
    },
    "ia_and_im": {
        "dose": [
            {"route": "intra_arterial", "cells": 5e7, "day": 0},
            {"route": "intramuscular", "cells": 5e7, "day": 5},
        ],
        "simulation": {"horizon_days": 20, "output_every_days": 0.5},
    },
}


@NO_IA_EVIDENCE
@pytest.mark.parametrize("engine", ["fast", "scipy"])
@pytest.mark.parametrize("name", SCENARIOS)
def test_cells_never_increase_between_doses_and_compartments_add_up(name: str, engine: str) -> None:
    result = simulate_scenario(build_scenario(**SCENARIOS[name]), solver=solver_named(engine))
    out = result.outputs
    parts = sum(out[k] for k in ("cells_lung", "cells_blood", "cells_liver_spleen"))
    np.testing.assert_allclose(parts + out["cells_target"], out["cells_total"], rtol=1e-12)
    total = out["cells_total"][0]
    scenario = build_scenario(**SCENARIOS[name])
    events = scenario.regimen.expand()
    t = result.times_day
    for i in range(1, t.size):
        dosed = any(e.time_day <= t[i] and e.time_day + e.duration_day > t[i - 1] for e in events)
        if not dosed:
            assert total[i] <= total[i - 1] * (1 + 1e-9) + 1e-6, f"cells rose at day {t[i]}"
    assert np.all(result.states >= 0)


@pytest.mark.parametrize("engine", ["fast", "scipy"])
def test_an_infusion_delivers_exactly_the_viable_dose_when_no_cell_dies(engine: str) -> None:
    scenario = build_scenario(
        product={"source": "umbilical_cord", "donor": "autologous", "viability": 0.8},
        dose=[{"route": "intravenous", "cells": 1e8, "day": 1, "infusion_hours": 6}],
        simulation={"horizon_days": 3, "output_every_days": 0.125},
        parameters=IMMORTAL,
    )
    with pytest.warns(MscsimWarning, match="outside the plausible range"):
        result = simulate_scenario(scenario, solver=solver_named(engine))
    total = result.output("cells_total")[0]
    t = result.times_day
    rtol = 1e-12 if engine == "fast" else 1e-6
    assert np.all(total[t <= 1] == 0)
    np.testing.assert_allclose(total[t >= 1.25], 0.8e8, rtol=rtol)
    # Halfway through the infusion, half of the dose is in.
    assert total[np.flatnonzero(np.isclose(t, 1.125))[0]] == pytest.approx(0.4e8, rel=rtol)


def test_a_dose_on_an_output_time_is_reported_just_after_the_dose() -> None:
    scenario = build_scenario(
        dose=[{"route": "intramuscular", "cells": 1e7, "day": 5}],
        simulation={"horizon_days": 10},
        parameters={"early_loss_fraction": 0.0},
    )
    target = simulate_scenario(scenario).output("cells_target")[0]
    assert target[4] == 0.0
    assert target[5] == pytest.approx(1e7, rel=1e-12)


def test_a_scenario_without_doses_is_the_untreated_course_with_no_cells() -> None:
    result = simulate_scenario(build_scenario(dose=[]))
    assert result.states.shape[2] == 29
    assert not np.any(result.states)
