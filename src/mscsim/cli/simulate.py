"""``mscsim simulate`` and ``mscsim plot``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich import box
from rich.table import Table

from mscsim.cli.common import out_console, progress_callback, user_errors
from mscsim.errors import SpecError
from mscsim.evidence.sources import resolve_product
from mscsim.io.scenario import load_scenario
from mscsim.io.tables import check_table_path, read_table, write_table
from mscsim.report.summary import cell_summary
from mscsim.spec.scenario import Scenario

__all__ = [
    "BeyondEvidenceOption",
    "EngineChoice",
    "EngineOption",
    "FailedLotOption",
    "plot",
    "simulate",
]


class EngineChoice(StrEnum):
    """Integration backend."""

    FAST = "fast"
    SCIPY = "scipy"


EngineOption = Annotated[
    EngineChoice, typer.Option("--engine", help="fast (vectorized) or scipy (LSODA).")
]
BeyondEvidenceOption = Annotated[
    bool,
    typer.Option("--allow-beyond-evidence", help="Simulate doses above the highest studied."),
]
FailedLotOption = Annotated[
    bool,
    typer.Option("--allow-failed-lot", help="Simulate a lot that fails release (warns)."),
]


@user_errors
def simulate(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (TOML).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Result table: .csv or .parquet.")],
    n_patients: Annotated[
        int | None, typer.Option("--n-patients", help="Overrides [simulation] n_patients.")
    ] = None,
    doses_out: Annotated[
        Path | None,
        typer.Option(
            "--doses-out", help="Per-dose table (.csv/.parquet): viable cells and exposure."
        ),
    ] = None,
    engine: EngineOption = EngineChoice.FAST,
    allow_beyond_evidence: BeyondEvidenceOption = False,
    allow_failed_lot: FailedLotOption = False,
) -> None:
    """Simulate a scenario and write cells, effect and outcome over time."""
    from mscsim.analysis.doses import simulate_with_dose_exposures

    check_table_path(output)
    if doses_out is not None:
        check_table_path(doses_out, what="--doses-out")
        if doses_out.resolve() == output.resolve():
            raise SpecError(f"--doses-out = {str(doses_out)!r}: must differ from --output")
    if n_patients is not None and n_patients < 1:
        raise SpecError(f"--n-patients = {n_patients}: must be >= 1")
    spec = load_scenario(scenario)
    with progress_callback("simulating") as progress:
        result, doses = simulate_with_dose_exposures(
            spec,
            n_patients=n_patients,
            engine=engine.value,
            allow_beyond_evidence=allow_beyond_evidence,
            allow_failed_lot=allow_failed_lot,
            progress=progress,
        )
    frame = result.to_frame()
    write_table(frame, output)
    out_console.print(
        f"wrote {output}: {result.n_patients} patient(s) x {result.times_day.size} times, "
        f"engine {result.engine}"
    )
    out_console.print(product_line(spec))
    if doses_out is not None:
        write_table(doses, doses_out)
        out_console.print(f"wrote {doses_out}: {len(doses)} row(s), one per patient and dose")
        out_console.print(dose_table(doses))
    summary = cell_summary(frame)
    median = " (median over patients)" if result.n_patients > 1 else ""
    table = Table(title=f"viable cells{median}", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("compartment", "peak", "on day", "at the end", "last day with a cell"):
        table.add_column(col, justify="left" if col == "compartment" else "right")
    for name, row in summary.iterrows():
        last = row["last_day_with_a_cell"]
        table.add_row(
            str(name).removeprefix("cells_"),
            f"{row['peak_cells']:.3g}",
            f"{row['peak_day']:g}",
            f"{row['end_cells']:.3g}",
            "never" if last != last else f"{last:g}",
        )
    out_console.print(table)


def product_line(spec: Scenario) -> str:
    """Describe the product as simulated: viability, potency, donor and their origin."""
    product = resolve_product(spec.product, patient_age_years=spec.patient.age_years)
    origin = {
        "product": "as given",
        "lot": "from the lot",
        "source": f"typical post-thaw {spec.product.source.value}",
    }[product.viability_from]
    donor = spec.product.donor.value
    if spec.product.is_allogeneic:
        donor += f", HLA match {product.hla_match:g}"
        donor += f", immunosuppression {spec.patient.immunosuppression:g}"
    age = "" if product.donor_age_factor == 1 else f" (donor age x{product.donor_age_factor:.3g})"
    return (
        f"product: {spec.product.source.value} ({donor}); viability {product.viability:.3g} "
        f"({origin}); potency {product.potency:.3g}{age}"
    )


def dose_table(doses: pd.DataFrame) -> Table:
    """Per-dose exposure of the first patient, relative to the first dose."""
    first = doses[doses["patient_id"] == doses["patient_id"].iloc[0]]
    table = Table(
        title="exposure per dose (viable cells in the body, to the next dose)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for col in ("dose", "day", "route", "viable cells", "cell-days", "vs first", "per cell (d)"):
        table.add_column(col, justify="right")
    base = float(first["exposure_cell_days"].iloc[0])
    for row in first.itertuples():
        exposure = float(row.exposure_cell_days)
        table.add_row(
            str(int(row.dose_index) + 1),
            f"{row.day:g}",
            str(row.route),
            f"{row.viable_cells:.3g}",
            f"{exposure:.3g}",
            f"{exposure / base:.2f}" if base > 0 else "-",
            f"{row.exposure_per_viable_cell_days:.3g}",
        )
    return table


@user_errors
def plot(
    table: Annotated[Path, typer.Argument(help="Table written by `mscsim simulate`.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Figure: .png, .svg or .pdf.")],
    log: Annotated[bool, typer.Option("--log", help="Logarithmic cell axis.")] = False,
) -> None:
    """Plot viable cells by compartment over time."""
    from mscsim.report.plots import check_figure_path, plot_cells

    check_figure_path(output, what="--output")
    frame = read_table(table)
    plot_cells(frame, output, log=log, title=f"Viable MSCs by compartment: {table.stem}")
    out_console.print(f"wrote {output}")
