# The names mscsim exports, each imported from its module on first use
# (lazy_loader.attach_stub reads the imports; type checkers read all of it).

from .analysis import compare_scenarios, compare_splits, withdrawal
from .engine import FastSolver, ResolvedDose, ScipySolver, SimulationResult, simulate
from .errors import (
    ConvergenceError,
    EvidenceError,
    IntegrationError,
    MscsimError,
    MscsimWarning,
    SpecError,
    UnitError,
)
from .evidence import Parameter, ParameterLibrary, assess_dose, load_library
from .io import load_scenario, read_table, write_table
from .models import CellKinetics, Model, TherapyModel, local_first_order_cells, target_site
from .population import problem_from_population, simulate_population, simulate_scenario
from .problem import (
    DaskExecutor,
    EvidencePolicy,
    InProcess,
    Problem,
    ev,
    prepare_scenario,
    problem_from_scenario,
    solve,
)
from .spec import (
    CellSource,
    Donor,
    Dose,
    Patient,
    Product,
    Regimen,
    Route,
    Scenario,
    SimulationSettings,
)

__version__: str  # defined in __init__.py, so not loaded lazily

__all__ = [
    "CellKinetics",
    "CellSource",
    "ConvergenceError",
    "DaskExecutor",
    "Donor",
    "Dose",
    "EvidenceError",
    "EvidencePolicy",
    "FastSolver",
    "InProcess",
    "IntegrationError",
    "Model",
    "MscsimError",
    "MscsimWarning",
    "Parameter",
    "ParameterLibrary",
    "Patient",
    "Problem",
    "Product",
    "Regimen",
    "ResolvedDose",
    "Route",
    "Scenario",
    "ScipySolver",
    "SimulationResult",
    "SimulationSettings",
    "SpecError",
    "TherapyModel",
    "UnitError",
    "__version__",
    "assess_dose",
    "compare_scenarios",
    "compare_splits",
    "ev",
    "load_library",
    "load_scenario",
    "local_first_order_cells",
    "prepare_scenario",
    "problem_from_population",
    "problem_from_scenario",
    "read_table",
    "simulate",
    "simulate_population",
    "simulate_scenario",
    "solve",
    "target_site",
    "withdrawal",
    "write_table",
]
