# The names mscsim.engine exports, each imported from its module on first use
# (lazy_loader.attach_stub reads the imports; type checkers read all of it).

from .events import ResolvedDose, Schedule, build_schedule, output_times
from .integrate import simulate
from .result import SimulationResult
from .solvers import ENGINES, FastSolver, Integration, ScipySolver, Solver, solver_named

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
