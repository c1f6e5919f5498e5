"""The page's presets (scenarios matching the examples) and its form fields.

Each preset is a scenario as JSON, in the shape of a scenario file, with the lot
given inline as the product's viability and potency (the page reads no file).
``sca_uc_iv`` is ``examples/sca_uc_msc_iv.toml`` with its lot's viability 92% and
potency 1; ``cli_bm_im`` is ``examples/cli_bm_msc_im.toml``. The inflammation and
cells-only presets are illustrations of the same product, not examples of a trial.

Examples
--------
>>> from mscsim.spec.scenario import Scenario
>>> sorted(PRESETS) == sorted(PRESET_ORDER)
True
>>> all(Scenario.model_validate(p) for p in PRESETS.values())
True
"""

from __future__ import annotations

import copy
from typing import Any

from mscsim.spec.examples import example_scenario
from mscsim.spec.route import Route
from mscsim.spec.source import CellSource, Donor

__all__ = [
    "DEFAULT_PRESET",
    "DISEASE_DEFAULTS",
    "FORM_FIELDS",
    "PRESETS",
    "PRESET_ORDER",
    "preset",
]

PRESETS: dict[str, dict[str, Any]] = {
    "sca_uc_iv": example_scenario("sca_uc_msc_iv"),
    "cli_bm_im": example_scenario("cli_bm_msc_im"),
    "inflammation_uc_iv": {
        "patient": {"weight_kg": 65},
        "product": {"source": "umbilical_cord", "donor": "allogeneic", "viability": 0.92},
        "dose": [
            {
                "route": "intravenous",
                "cells_per_kg": 1e6,
                "day": 0,
                "every_days": 7,
                "count": 4,
                "infusion_hours": 1,
            }
        ],
        "disease": {"model": "inflammation", "baseline_index": 1.0},
        "simulation": {"horizon_days": 90, "output_every_days": 1},
    },
    "none_uc_iv": {
        "patient": {"weight_kg": 65},
        "product": {"source": "umbilical_cord", "donor": "allogeneic", "viability": 0.92},
        "dose": [{"route": "intravenous", "cells_per_kg": 1e6, "day": 0, "infusion_hours": 1}],
        "disease": {"model": "none"},
        "simulation": {"horizon_days": 30, "output_every_days": 1},
    },
}

PRESET_ORDER: tuple[str, ...] = ("sca_uc_iv", "cli_bm_im", "inflammation_uc_iv", "none_uc_iv")
DEFAULT_PRESET = "sca_uc_iv"
"""The preset whose figures the page shows on load."""

DISEASE_DEFAULTS: dict[str, dict[str, Any]] = {
    "none": {"model": "none"},
    "sca": {"model": "sca", "genotype": "pooled", "baseline_score": 13},
    "limb_ischemia": {"model": "limb_ischemia", "baseline_perfusion_ratio": 0.29},
    "inflammation": {"model": "inflammation", "baseline_index": 1.0},
}
"""The ``[disease]`` table a form starts from when its disease is changed."""

FORM_FIELDS: tuple[dict[str, Any], ...] = (
    {"name": "disease", "path": "disease.model", "choices": tuple(DISEASE_DEFAULTS)},
    {"name": "route", "path": "dose[0].route", "choices": tuple(r.value for r in Route)},
    {"name": "source", "path": "product.source", "choices": tuple(c.value for c in CellSource)},
    {"name": "donor", "path": "product.donor", "choices": tuple(d.value for d in Donor)},
    {"name": "viability", "path": "product.viability", "min": 1, "max": 100, "unit": "%"},
    {"name": "dose_unit", "choices": ("dose_per_kg", "dose_total")},
    {"name": "dose", "path": "dose[0].cells_per_kg | dose[0].cells", "min": 0},
    {"name": "weight", "path": "patient.weight_kg", "min": 0.3, "max": 400},
    {"name": "count", "path": "dose[0].count", "min": 1, "max": 10_000},
    {"name": "every_days", "path": "dose[0].every_days", "min": 0},
    {"name": "horizon", "path": "simulation.horizon_days", "min": 1, "max": 36_500},
)
"""The page's form: each field, the scenario key it sets and what it allows.

A dose is given per kg (``cells_per_kg``) or in total (``cells``); viability is
shown in percent and stored as a fraction.
"""


def preset(name: str) -> dict[str, Any]:
    """Return a copy of the preset called ``name``.

    Raises
    ------
    SpecError
        For an unknown name.
    """
    from mscsim.errors import SpecError

    if name not in PRESETS:
        raise SpecError(f"preset = {name!r}: must be one of {', '.join(PRESET_ORDER)}")
    return copy.deepcopy(PRESETS[name])
