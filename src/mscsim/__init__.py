"""mscsim: simulator and regimen planner for mesenchymal stem/stromal cell therapy.

The public API: validated specs, the parameter library, models, the engine.
Names load on first use, so ``import mscsim`` is quick.
"""

from typing import TYPE_CHECKING

from mscsim._lazy import lazy_exports
from mscsim.errors import (
    ConvergenceError,
    EvidenceError,
    IntegrationError,
    MscsimError,
    MscsimWarning,
    SpecError,
    UnitError,
)

if TYPE_CHECKING:
    from mscsim.analysis import compare_scenarios, compare_splits, withdrawal
    from mscsim.engine import (
        FastSolver,
        ResolvedDose,
        ScipySolver,
        SimulationResult,
        simulate,
    )
    from mscsim.evidence import Parameter, ParameterLibrary, assess_dose, load_library
    from mscsim.io import load_scenario, read_table, write_table
    from mscsim.models import (
        CellKinetics,
        Model,
        TherapyModel,
        local_first_order_cells,
        target_site,
    )
    from mscsim.population import (
        problem_from_population,
        simulate_population,
        simulate_scenario,
    )
    from mscsim.problem import (
        DaskExecutor,
        EvidencePolicy,
        InProcess,
        Problem,
        ev,
        prepare_scenario,
        problem_from_scenario,
        solve,
    )
    from mscsim.spec import (
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

__version__ = "0.1.0"

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

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "analysis": ["compare_scenarios", "compare_splits", "withdrawal"],
        "engine": ["FastSolver", "ResolvedDose", "ScipySolver", "SimulationResult", "simulate"],
        "evidence": ["Parameter", "ParameterLibrary", "assess_dose", "load_library"],
        "io": ["load_scenario", "read_table", "write_table"],
        "population": ["problem_from_population", "simulate_population", "simulate_scenario"],
        "problem": [
            "DaskExecutor",
            "EvidencePolicy",
            "InProcess",
            "Problem",
            "ev",
            "prepare_scenario",
            "problem_from_scenario",
            "solve",
        ],
        "models": [
            "CellKinetics",
            "Model",
            "TherapyModel",
            "local_first_order_cells",
            "target_site",
        ],
        "spec": [
            "CellSource",
            "Donor",
            "Dose",
            "Patient",
            "Product",
            "Regimen",
            "Route",
            "Scenario",
            "SimulationSettings",
        ],
    },
)
