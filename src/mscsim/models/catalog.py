"""A description of every built-in model, for listings (``mscsim models``)."""

from __future__ import annotations

from typing import Any

from mscsim.evidence.library import load_library
from mscsim.models.diseases import Outcome, disease_entries
from mscsim.models.reference_drug import ReferenceDrug
from mscsim.models.therapy import TherapyModel

__all__ = ["model_catalog"]


def _outcome(outcome: Outcome | None) -> dict[str, Any] | None:
    if outcome is None:
        return None
    return {
        "name": outcome.name,
        "unit": outcome.unit,
        "higher_is_worse": outcome.higher_is_worse,
        "direction": outcome.direction,
        "description": outcome.description,
    }


def model_catalog() -> list[dict[str, Any]]:
    """Return one entry per registered disease and the reference drug: outputs, outcome, parameters.

    ``own_parameters`` are the disease's (or drug's) own; ``parameters`` lists all
    the full model reads (kinetics and paracrine ones included).
    """
    library = load_library()
    entries = []
    for entry in disease_entries():
        disease = entry.disease()
        model = TherapyModel(disease)
        entries.append(
            {
                "name": model.name,
                "scenario": f'[disease] model = "{entry.key}"',
                "description": entry.description,
                "states": list(model.states),
                "outputs": list(model.output_names),
                "outcome": _outcome(disease.outcome),
                "own_parameters": [p.name for p in library.for_model(disease.name)],
                "parameters": [p.name for p in model.parameters],
            }
        )
    drug = ReferenceDrug()
    entries.append(
        {
            "name": drug.name,
            "scenario": "used by `mscsim withdrawal` for contrast",
            "description": "Drug with tolerance and withdrawal rebound (feedback model, R97)",
            "states": list(drug.states),
            "outputs": list(drug.output_names),
            "outcome": _outcome(drug.outcome),
            "own_parameters": [p.name for p in drug.parameters],
            "parameters": [p.name for p in drug.parameters],
        }
    )
    return entries
