"""A user model for tests: the example depot with an effect and an outcome.

Imported by the analysis tests and given to the command line as
``--model tests/scored_depot.py:ScoredDepot``.
"""

from __future__ import annotations

from examples.user_model import LocalDepot

from mscsim.models.base import Array, Params


class _Outcome:
    name = "score"
    unit = "points"
    higher_is_worse = True
    description = "Falls by one point per 1e7 engrafted cells"


class ScoredDepot(LocalDepot):
    """The example depot model with an effect and an outcome read off its engrafted pool."""

    name = "scored_depot"
    output_names = (*LocalDepot.output_names, "cells_target", "effect", "score")
    outcome = _Outcome()

    def outputs(self, y: Array, params: Params) -> dict[str, Array]:
        out = super().outputs(y, params)
        engrafted = out["cells_engrafted"]
        out["cells_target"] = engrafted
        out["effect"] = engrafted / (engrafted + 1e7)
        out["score"] = 20.0 - engrafted / 1e7
        return out
