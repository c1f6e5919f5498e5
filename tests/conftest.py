from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from mscsim.io.scenario import parse_scenario
from mscsim.spec import Scenario

# Overflow and invalid operations are bugs; underflow in decay terms is fine.
np.seterr(divide="raise", over="raise", invalid="raise")

BASE: dict[str, Any] = {
    "patient": {"weight_kg": 70},
    "product": {"source": "bone_marrow", "donor": "autologous", "viability": 1.0},
    "dose": [{"route": "intramuscular", "cells": 5e7, "day": 0}],
    "simulation": {"horizon_days": 28, "output_every_days": 1},
}

# Kinetics reduced to pure first-order loss at a local site (the closed-form case).
FIRST_ORDER = {
    "target_capacity_cells": float("inf"),
    "local_leak_per_day": 0.0,
    "early_loss_fraction": 0.0,
}


def build_scenario(**sections: Any) -> Scenario:
    """Return BASE with whole sections replaced (``dose=[...]``, ``parameters={...}``)."""
    data = copy.deepcopy(BASE)
    data.update(copy.deepcopy(sections))
    return parse_scenario(data)


@pytest.fixture
def make_scenario() -> Callable[..., Scenario]:
    return build_scenario
