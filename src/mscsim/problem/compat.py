"""Names kept from before the problem layer (``prepare_scenario``, ``ScenarioInputs``)."""

from __future__ import annotations

from mscsim.models.base import Model
from mscsim.problem.build import problem_from_scenario
from mscsim.problem.policy import EvidencePolicy
from mscsim.problem.problem import Problem
from mscsim.spec.scenario import Scenario

__all__ = ["ScenarioInputs", "prepare_scenario"]

ScenarioInputs = Problem
"""What ``prepare_scenario`` returned; now a :class:`~mscsim.problem.Problem`."""


def prepare_scenario(
    scenario: Scenario,
    *,
    model: Model | None = None,
    allow_beyond_evidence: bool = False,
    allow_failed_lot: bool = False,
) -> Problem:
    """Return ``problem_from_scenario(scenario, model=model, policy=EvidencePolicy(...))``.

    Kept for scripts written before :func:`~mscsim.problem.problem_from_scenario`.
    """
    policy = EvidencePolicy(allow_beyond_evidence, allow_failed_lot)
    return problem_from_scenario(scenario, model=model, policy=policy)
