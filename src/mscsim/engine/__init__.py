"""The engine: dose events, solvers integrating patients in batches, results."""

from typing import TYPE_CHECKING

from mscsim._lazy import lazy_exports

if TYPE_CHECKING:
    from mscsim.engine.events import ResolvedDose, Schedule, build_schedule, output_times
    from mscsim.engine.integrate import simulate
    from mscsim.engine.result import SimulationResult
    from mscsim.engine.solvers import (
        ENGINES,
        FastSolver,
        Integration,
        ScipySolver,
        Solver,
        solver_named,
    )

__all__ = [
    "ENGINES",
    "FastSolver",
    "Integration",
    "ResolvedDose",
    "Schedule",
    "ScipySolver",
    "SimulationResult",
    "Solver",
    "build_schedule",
    "output_times",
    "simulate",
    "solver_named",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "events": ["ResolvedDose", "Schedule", "build_schedule", "output_times"],
        "integrate": ["simulate"],
        "result": ["SimulationResult"],
        "solvers": [
            "ENGINES",
            "FastSolver",
            "Integration",
            "ScipySolver",
            "Solver",
            "solver_named",
        ],
    },
)
