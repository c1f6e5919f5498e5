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
        ResolvedDose,
        SimulationResult,
        prepare_scenario,
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
    from mscsim.population import simulate_population, simulate_scenario
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
    "Donor",
    "Dose",
    "EvidenceError",
    "IntegrationError",
    "Model",
    "MscsimError",
    "MscsimWarning",
    "Parameter",
    "ParameterLibrary",
    "Patient",
    "Product",
    "Regimen",
    "ResolvedDose",
    "Route",
    "Scenario",
    "SimulationResult",
    "SimulationSettings",
    "SpecError",
    "TherapyModel",
    "UnitError",
    "__version__",
    "assess_dose",
    "compare_scenarios",
    "compare_splits",
    "load_library",
    "load_scenario",
    "local_first_order_cells",
    "prepare_scenario",
    "read_table",
    "simulate",
    "simulate_population",
    "simulate_scenario",
    "target_site",
    "withdrawal",
    "write_table",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "analysis": ["compare_scenarios", "compare_splits", "withdrawal"],
        "engine": [
            "ResolvedDose",
            "SimulationResult",
            "prepare_scenario",
            "simulate",
        ],
        "evidence": ["Parameter", "ParameterLibrary", "assess_dose", "load_library"],
        "io": ["load_scenario", "read_table", "write_table"],
        "population": ["simulate_population", "simulate_scenario"],
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
