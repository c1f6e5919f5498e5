"""The dose-event table's grouping by schedule, against the one-patient-at-a-time definitions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mscsim.engine.events import ResolvedDose
from mscsim.errors import SpecError
from mscsim.problem import DoseEvents
from mscsim.spec.route import Route

ROUTES = list(Route)


def table(seed: int, n_patients: int) -> DoseEvents:
    """Return a table of 0-3 doses per patient from a few times, routes and durations."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        for _ in range(int(rng.integers(0, 4))):
            time = float(rng.choice([0.0, 1.0, 2.5]))
            route = ROUTES[int(rng.integers(0, 2))]
            rows.append((p, time, float(rng.uniform()), route, float(rng.choice([0.0, 0.04]))))
    return DoseEvents.from_rows(rows)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_patients=st.integers(0, 25))
def test_schedule_groups_are_the_patients_with_equal_keys(seed: int, n_patients: int) -> None:
    events = table(seed, n_patients)
    expected: dict[object, list[int]] = {}
    for p in range(n_patients):  # the definition: one key per patient, groups by first seen
        expected.setdefault(events.schedule_key(p), []).append(p)
    groups = events.schedule_groups(n_patients)
    assert list(groups) == list(expected)
    for key, rows in groups.items():
        assert rows.dtype == np.intp and rows.tolist() == expected[key]


def test_doses_for_gives_each_dose_with_its_patients_amounts() -> None:
    doses = [
        ResolvedDose(0.0, Route.INTRAVENOUS, np.array([1.0, 2.0, 3.0]), 0.04),
        ResolvedDose(7.0, Route.INTRAVENOUS, np.array([5.0]), 0.0),
    ]
    events = DoseEvents.shared(doses, 3)
    assert len(events) == 6 and events.patient.tolist() == [0, 0, 1, 1, 2, 2]
    got = events.doses_for(np.array([0, 2]))
    assert [d.time_day for d in got] == [0.0, 7.0]
    assert got[0].viable_cells.tolist() == [1.0, 3.0] and got[1].viable_cells.tolist() == [5.0]
    assert DoseEvents.shared([], 4).doses_for(np.arange(4)) == ()
    uneven = DoseEvents.from_rows([(0, 0.0, 1.0, "intravenous", 0.0)])
    with pytest.raises(SpecError, match="different numbers of doses"):
        uneven.doses_for(np.array([0, 1]))
