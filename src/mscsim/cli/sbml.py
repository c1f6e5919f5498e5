"""``mscsim export-sbml``: a scenario's model and dosing as SBML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mscsim.cli.common import out_console, run_options, user_errors
from mscsim.cli.simulate import BeyondEvidenceOption, FailedLotOption
from mscsim.io.outputs import OutputSet

__all__ = ["SBML_FORMATS", "export_sbml"]

SBML_FORMATS: tuple[str, ...] = (".xml", ".sbml")
"""File names ``export-sbml`` writes."""


@user_errors
def export_sbml(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (TOML).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="SBML file (.xml or .sbml) to write.")
    ],
    allow_beyond_evidence: BeyondEvidenceOption = False,
    allow_failed_lot: FailedLotOption = False,
) -> None:
    """Write the scenario's model with its doses as SBML Level 3 Version 2.

    One patient (the scenario's), time in days, amounts in cells: one species per
    state, rate rules from the linear part and the model's nonlinear terms (immune
    memory, limited retention, the effect on a disease), outputs (cells_<compartment>,
    ...) as assignment rules, doses as events.
    """
    from mscsim.io.sbml import scenario_to_sbml
    from mscsim.io.scenario import load_scenario

    with OutputSet() as outputs:
        target = outputs.add_file(output, flag="--output", formats=SBML_FORMATS, kind="SBML")
        spec = load_scenario(scenario)
        _, policy = run_options("fast", allow_beyond_evidence, allow_failed_lot)
        text = scenario_to_sbml(spec, source=scenario.name, policy=policy)
        with outputs.writing(target) as tmp:
            tmp.write_text(text, encoding="utf-8")
    out_console.print(f"wrote {output}: SBML L3V2 of {scenario.name}")
