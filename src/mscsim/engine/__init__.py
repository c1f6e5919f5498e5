"""The engine: dose events, batched integration across patients, results."""

from typing import TYPE_CHECKING

from mscsim._lazy import lazy_exports

if TYPE_CHECKING:
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

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "events": ["ResolvedDose", "Schedule", "build_schedule", "output_times"],
        "integrate": ["ENGINES", "simulate"],
        "result": ["SimulationResult"],
        "scenario": ["ScenarioInputs", "prepare_scenario", "simulate_scenario"],
    },
)
