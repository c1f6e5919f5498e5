"""The flagship example scenarios as scenario tables, for code that runs without the files.

``examples/*.toml`` are the files users copy; the claims audit and the web page's
presets need the same scenarios inside the installed package. A test
(``tests/spec/test_examples.py``) keeps these tables equal to the files, with the
lot's release viability and potency written in where a file names a lot.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["EXAMPLE_SCENARIOS", "example_scenario"]

EXAMPLE_SCENARIOS: dict[str, dict[str, Any]] = {
    "sca_uc_msc_iv": {
        "patient": {"weight_kg": 65, "age_years": 40},
        "product": {
            "source": "umbilical_cord",
            "donor": "allogeneic",
            "viability": 0.92,
            "potency": 1.0,
        },
        "dose": [
            {
                "route": "intravenous",
                "cells_per_kg": 1e6,
                "day": 0,
                "every_days": 90,
                "count": 4,
                "infusion_hours": 1,
            }
        ],
        "disease": {"model": "sca", "genotype": "SCA3", "baseline_score": 13},
        "simulation": {"horizon_days": 365, "output_every_days": 1},
    },
    "cli_bm_msc_im": {
        "patient": {"weight_kg": 70},
        "product": {"source": "bone_marrow", "donor": "autologous", "viability": 0.9},
        "dose": [{"route": "intramuscular", "cells_per_kg": 2e6, "day": 0}],
        "disease": {"model": "limb_ischemia", "baseline_perfusion_ratio": 0.29},
        "simulation": {"horizon_days": 42, "output_every_days": 0.5},
    },
}
"""``examples/sca_uc_msc_iv.toml`` (SCA3, allogeneic UC-MSC 1e6/kg IV every 90 days
x 4; its lot ``uc_msc_lot.toml`` gives viability 0.92 and potency 1) and
``examples/cli_bm_msc_im.toml`` (autologous BM-MSC 2e6/kg into the calf muscle)."""


def example_scenario(name: str) -> dict[str, Any]:
    """Return a copy of example ``name``'s scenario table (:data:`EXAMPLE_SCENARIOS`)."""
    return copy.deepcopy(EXAMPLE_SCENARIOS[name])
