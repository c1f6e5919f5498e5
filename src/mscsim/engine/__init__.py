"""The engine: dose events, batched integration across patients, results."""

from mscsim.engine.events import ResolvedDose, Schedule, build_schedule, output_times
from mscsim.engine.integrate import ENGINES, simulate
from mscsim.engine.result import SimulationResult
from mscsim.engine.scenario import ScenarioInputs, prepare_scenario, simulate_scenario

__all__ = [
    "ENGINES",
    "ResolvedDose",
    "ScenarioInputs",
    "Schedule",
    "SimulationResult",
    "build_schedule",
    "output_times",
    "prepare_scenario",
    "simulate",
    "simulate_scenario",
]
