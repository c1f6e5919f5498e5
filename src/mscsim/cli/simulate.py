"""``mscsim simulate`` and ``mscsim plot``."""

from __future__ import annotations

import contextlib
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
from mscsim.io.tables import TableWriter, check_table_path, read_table, write_table
from mscsim.population.run import DEFAULT_CHUNK_SIZE
from mscsim.report.summary import cell_summary
from mscsim.spec.scenario import Scenario

__all__ = [
    "BeyondEvidenceOption",
    "DaskOption",
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
DaskOption = Annotated[
    str | None,
    typer.Option(
        "--dask", help="Run chunks on Dask: tcp://HOST:PORT or local[:N] (default: in process)."
    ),
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
    summary: Annotated[
        bool,
        typer.Option("--summary", help="Population: write percentiles 5/50/95 over time."),
    ] = False,
    covariates_out: Annotated[
        Path | None,
        typer.Option("--covariates-out", help="Population: sampled covariates per patient."),
    ] = None,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", help="Population: patients simulated together.")
    ] = DEFAULT_CHUNK_SIZE,
    dask: DaskOption = None,
    engine: EngineOption = EngineChoice.FAST,
    allow_beyond_evidence: BeyondEvidenceOption = False,
    allow_failed_lot: FailedLotOption = False,
) -> None:
    """Simulate a scenario and write cells, effect and outcome over time.

    With a [population] table every patient differs; the table holds every patient
    (or, with --summary, percentiles over patients).
    """
    from mscsim.analysis.doses import simulate_with_dose_exposures

    check_table_path(output)
    if doses_out is not None:
        check_table_path(doses_out, what="--doses-out")
        if doses_out.resolve() == output.resolve():
            raise SpecError(f"--doses-out = {str(doses_out)!r}: must differ from --output")
    if covariates_out is not None:
        check_table_path(covariates_out, what="--covariates-out")
    if n_patients is not None and n_patients < 1:
        raise SpecError(f"--n-patients = {n_patients}: must be >= 1")
    if chunk_size < 1:
        raise SpecError(f"--chunk-size = {chunk_size}: must be >= 1")
    spec = load_scenario(scenario)
    if spec.population is not None:
        if doses_out is not None:
            raise SpecError("--doses-out: not available with a [population] yet")
        _simulate_population(
            spec,
            output,
            n_patients=n_patients or spec.simulation.n_patients,
            summary=summary,
            covariates_out=covariates_out,
            chunk_size=chunk_size,
            dask=dask,
            engine=engine,
            allow_beyond_evidence=allow_beyond_evidence,
            allow_failed_lot=allow_failed_lot,
        )
        return
    for flag, given in (
        ("--summary", summary),
        ("--covariates-out", covariates_out is not None),
        ("--dask", dask is not None),
    ):
        if given:
            raise SpecError(f"{flag}: needs a [population] table in the scenario")
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
    cells = cell_summary(frame)
    median = " (median over patients)" if result.n_patients > 1 else ""
    table = Table(title=f"viable cells{median}", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("compartment", "peak", "on day", "at the end", "last day with a cell"):
        table.add_column(col, justify="left" if col == "compartment" else "right")
    for name, row in cells.iterrows():
        last = row["last_day_with_a_cell"]
        table.add_row(
            str(name).removeprefix("cells_"),
            f"{row['peak_cells']:.3g}",
            f"{row['peak_day']:g}",
            f"{row['end_cells']:.3g}",
            "never" if last != last else f"{last:g}",
        )
    out_console.print(table)


def _simulate_population(
    spec: Scenario,
    output: Path,
    *,
    n_patients: int,
    summary: bool,
    covariates_out: Path | None,
    chunk_size: int,
    dask: str | None,
    engine: EngineChoice,
    allow_beyond_evidence: bool,
    allow_failed_lot: bool,
) -> None:
    """Stream a population's chunks into the output table (or its percentiles)."""
    from mscsim.population import PercentileSummary, simulate_population

    chunks = simulate_population(
        spec,
        n_patients=n_patients,
        chunk_size=chunk_size,
        engine=engine.value,
        dask=dask,
        allow_beyond_evidence=allow_beyond_evidence,
        allow_failed_lot=allow_failed_lot,
    )
    collector: PercentileSummary | None = None
    covariates = []
    with contextlib.ExitStack() as stack, progress_callback("patients") as progress:
        writer = None if summary else stack.enter_context(TableWriter(output))
        done = 0
        for chunk in chunks:
            result = chunk.result
            if writer is not None:
                writer.write(result.to_frame())
            else:
                if collector is None:
                    collector = PercentileSummary(
                        n_patients, result.times_day, list(result.outputs)
                    )
                collector.add(result)
            covariates.append(chunk.covariates)
            done += result.n_patients
            if progress is not None:
                progress(done, n_patients)
    if collector is not None:
        write_table(collector.frame(), output)
        out_console.print(f"wrote {output}: percentiles 5/50/95 over {n_patients} patients")
    else:
        out_console.print(f"wrote {output}: {n_patients} patients, every one")
    frame = pd.concat(covariates, ignore_index=True)
    if covariates_out is not None:
        write_table(frame, covariates_out)
        out_console.print(f"wrote {covariates_out}: sampled covariates per patient")
    out_console.print(product_line(spec))
    table = Table(title="sampled patients", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("covariate", "p5", "median", "p95"):
        table.add_column(col, justify="left" if col == "covariate" else "right")
    for name in frame.columns.drop("patient_id"):
        values = frame[name]
        if values.dtype.kind in "fi":
            p5, p50, p95 = values.quantile([0.05, 0.5, 0.95])
            table.add_row(name, f"{p5:.3g}", f"{p50:.3g}", f"{p95:.3g}")
        else:
            shares = values.value_counts(normalize=True).round(2).to_dict()
            table.add_row(name, "", ", ".join(f"{k} {v:g}" for k, v in shares.items()), "")
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
