"""``mscsim simulate`` and ``mscsim plot``."""

from __future__ import annotations

import contextlib
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from mscsim.cli.common import (
    executor_for,
    load_user_model,
    out_console,
    progress_callback,
    run_options,
    user_errors,
)
from mscsim.cli.display import cell_count, print_json, print_table
from mscsim.cli.limits import check_count, check_dask, field_bounds
from mscsim.errors import SpecError
from mscsim.io.outputs import OutputSet
from mscsim.problem.executors import DEFAULT_CHUNK_SIZE

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from mscsim.engine.solvers import Solver
    from mscsim.io.outputs import Output
    from mscsim.models.base import Model
    from mscsim.problem.executors import Executor
    from mscsim.problem.policy import EvidencePolicy
    from mscsim.spec.scenario import Scenario

__all__ = [
    "BeyondEvidenceOption",
    "DaskOption",
    "EngineChoice",
    "EngineOption",
    "FailedLotOption",
    "ModelOption",
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
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        metavar="FILE.py:ClassName",
        help="Your own model instead of the scenario's: a class in a Python file, built "
        "with no arguments (see examples/user_model.py). The file is executed as Python: "
        "use only files you trust.",
    ),
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
    model: ModelOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON instead of tables.")
    ] = False,
) -> None:
    """Simulate a scenario and write cells, effect and outcome over time.

    With a [population] table every patient differs; the table holds every patient
    (or, with --summary, percentiles over patients).
    """
    from mscsim.analysis.doses import simulate_course
    from mscsim.io.scenario import load_scenario
    from mscsim.io.tables import TABLE_FORMATS, write_output_table
    from mscsim.problem.build import problem_from_scenario
    from mscsim.report.summary import course_cell_summary
    from mscsim.spec.scenario import SimulationSettings

    most = int(field_bounds(SimulationSettings, "n_patients")[1])
    check_count("--n-patients", n_patients, most)
    check_count("--chunk-size", chunk_size, most)
    check_dask(dask)
    shown: list[str | Table] = []
    data: dict[str, object] = {}
    with OutputSet() as outputs:
        table_out = outputs.add_file(output, flag="--output", formats=TABLE_FORMATS)
        doses_file = covariates_file = None
        if doses_out is not None:
            doses_file = outputs.add_file(doses_out, flag="--doses-out", formats=TABLE_FORMATS)
        if covariates_out is not None:
            covariates_file = outputs.add_file(
                covariates_out, flag="--covariates-out", formats=TABLE_FORMATS
            )
        user_model = load_user_model(
            model,
            use="--doses-out",
            outputs=("total_exposure_cell_days",) if doses_out is not None else (),
        )
        spec = load_scenario(scenario)
        solver, policy = run_options(engine.value, allow_beyond_evidence, allow_failed_lot)
        if spec.population is not None:
            shown, data = _simulate_population(
                spec,
                outputs,
                table_out,
                n_patients=n_patients or spec.simulation.n_patients,
                summary=summary,
                covariates_file=covariates_file,
                doses_file=doses_file,
                executor=executor_for(dask, chunk_size),
                solver=solver,
                policy=policy,
                model=user_model,
            )
        else:
            for flag, given in (
                ("--summary", summary),
                ("--covariates-out", covariates_out is not None),
                ("--dask", dask is not None),
            ):
                if given:
                    raise SpecError(f"{flag}: needs a [population] table in the scenario")
            problem = problem_from_scenario(
                spec, model=user_model, policy=policy, n_patients=n_patients
            )
            with progress_callback("simulating") as progress:
                course = simulate_course(problem, solver, progress=progress)
            result = course.result
            frame = result.to_frame()
            write_output_table(outputs, table_out, frame)
            shown.append(
                f"wrote {output}: {result.n_patients} patient(s) x {result.times_day.size} "
                f"times, engine {result.engine}"
            )
            shown.append(product_line(spec))
            data["patients"], data["times"] = result.n_patients, int(result.times_day.size)
            data["engine"] = result.engine
            if doses_file is not None:
                doses = course.dose_exposures()
                write_output_table(outputs, doses_file, doses)
                shown.append(f"wrote {doses_out}: {len(doses)} row(s), one per patient and dose")
                shown.extend([dose_table(doses)] if len(doses) else [])
                data["doses"] = doses.to_dict(orient="records")
            data["cells"] = []
            if any(name.startswith("cells_") for name in result.outputs):
                cells = course_cell_summary(course)
                shown.append(_cells_table(cells, result.n_patients, float(result.times_day[-1])))
                data["cells"] = [
                    {"compartment": str(name).removeprefix("cells_"), **row}
                    for name, row in cells.to_dict(orient="index").items()
                ]
            else:
                shown.append(
                    f"model {result.model}: no cells_* outputs, so no viable-cell summary; "
                    f"outputs: {', '.join(result.outputs)}"
                )
        data["product"] = product_line(spec)
        data["outputs"] = {o.flag: str(o.path) for o in outputs.outputs}
    if as_json:
        print_json(data)
        return
    for item in shown:
        if isinstance(item, Table):
            print_table(item)
        else:
            out_console.print(item)


def _cells_table(cells: pd.DataFrame, n_patients: int, horizon_day: float) -> Table:
    """Peak, day of the peak, end and last day with a viable cell per compartment.

    Days print with 4 significant digits; a compartment with a cell left at the
    horizon says so rather than naming the horizon as its last day.
    """
    median = " (median over patients)" if n_patients > 1 else ""
    table = Table(title=f"viable cells{median}", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("compartment", "peak", "on day", "at the end", "last day with a cell"):
        table.add_column(col, justify="left" if col == "compartment" else "right")
    for name, row in cells.iterrows():
        last = row["last_day_with_a_cell"]
        table.add_row(
            str(name).removeprefix("cells_"),
            cell_count(row["peak_cells"]),
            f"{row['peak_day']:.4g}",
            cell_count(row["end_cells"]),
            "never"
            if last != last
            else f"still at day {horizon_day:g}"
            if row["end_cells"] >= 1
            else f"{last:.4g}",
        )
    return table


def _simulate_population(
    spec: Scenario,
    outputs: OutputSet,
    table_out: Output,
    *,
    n_patients: int,
    summary: bool,
    covariates_file: Output | None,
    doses_file: Output | None,
    executor: Executor,
    solver: Solver,
    policy: EvidencePolicy,
    model: Model | None = None,
) -> tuple[list[str | Table], dict[str, object]]:
    """Stream a population's chunks into the output table (or its percentiles).

    With ``doses_file``, chunks are simulated at the dose days too and the per-dose
    table (one row per patient and dose) is written from them.

    Returns what to print: lines and tables, and the same as data for ``--json``.
    """
    import warnings

    import numpy as np
    import pandas as pd

    from mscsim.analysis.doses import problem_dose_exposures, with_dose_times
    from mscsim.errors import MscsimWarning
    from mscsim.io.tables import TableWriter, write_output_table
    from mscsim.population import PercentileSummary, simulate_population
    from mscsim.problem.build import problem_from_scenario

    with warnings.catch_warnings():  # simulate_population says them once
        warnings.simplefilter("ignore", MscsimWarning)
        typical = problem_from_scenario(spec, model=model, policy=policy, n_patients=1)
    collector: PercentileSummary | None = None
    if summary:  # the store of every patient's outputs is sized, or refused, before any work
        collector = PercentileSummary(n_patients, typical.times_day, typical.model.output_names)
    times = typical.times_day
    if doses_file is not None:
        times = with_dose_times(times, typical.events.time_day)
    chunks = simulate_population(
        spec,
        n_patients=n_patients,
        model=model,
        solver=solver,
        executor=executor,
        policy=policy,
        times_day=times,
    )
    dose_tables = []
    covariates = []
    with contextlib.ExitStack() as stack, progress_callback("patients") as progress:
        writer = None
        if collector is None:
            tmp = stack.enter_context(outputs.writing(table_out))
            writer = stack.enter_context(TableWriter(tmp, atomic=False))
        done = 0
        for chunk in chunks:
            result = chunk.result
            if doses_file is not None:
                dose_tables.append(problem_dose_exposures(result, chunk.problem))
                result = result.take_times(np.searchsorted(times, typical.times_day))
            if writer is not None:
                writer.write(result.to_frame())
            elif collector is not None:
                collector.add(result)
            covariates.append(chunk.covariates)
            done += result.n_patients
            if progress is not None:
                progress(done, n_patients)
    shown: list[str | Table] = []
    if collector is not None:
        write_output_table(outputs, table_out, collector.frame())
        shown.append(f"wrote {table_out.path}: percentiles 5/50/95 over {n_patients} patients")
    else:
        shown.append(f"wrote {table_out.path}: {n_patients} patients, every one")
    if doses_file is not None:
        doses = pd.concat(dose_tables, ignore_index=True)
        write_output_table(outputs, doses_file, doses)
        shown.append(f"wrote {doses_file.path}: {len(doses)} row(s), one per patient and dose")
    frame = pd.concat(covariates, ignore_index=True)
    if covariates_file is not None:
        write_output_table(outputs, covariates_file, frame)
        shown.append(f"wrote {covariates_file.path}: sampled covariates per patient")
    shown.append(product_line(spec))
    table = Table(title="sampled patients", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("covariate", "p5", "median", "p95"):
        table.add_column(col, justify="left" if col == "covariate" else "right")
    sampled: list[dict[str, object]] = []
    for name in frame.columns.drop("patient_id"):
        values = frame[name]
        if values.dtype.kind in "fi":
            p5, p50, p95 = values.quantile([0.05, 0.5, 0.95])
            table.add_row(name, f"{p5:.3g}", f"{p50:.3g}", f"{p95:.3g}")
            sampled.append({"covariate": name, "p5": p5, "median": p50, "p95": p95})
        else:
            shares = values.value_counts(normalize=True).round(2).to_dict()
            table.add_row(name, "", ", ".join(f"{k} {v:g}" for k, v in shares.items()), "")
            sampled.append({"covariate": name, "shares": shares})
    shown.append(table)
    return shown, {"patients": n_patients, "summary": summary, "covariates": sampled}


def product_line(spec: Scenario) -> str:
    """Describe the product as simulated: viability, potency, donor and their origin."""
    from mscsim.evidence.sources import resolve_product

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
    source: Annotated[
        Path,
        typer.Argument(
            help="Table written by `mscsim simulate` (.csv/.parquet, also --summary), "
            "or a scenario file (.toml) to simulate with dense output after each dose."
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Figure: .png, .svg or .pdf.")],
    log: Annotated[bool, typer.Option("--log", help="Logarithmic cell axis.")] = False,
    engine: EngineOption = EngineChoice.FAST,
    allow_beyond_evidence: BeyondEvidenceOption = False,
    allow_failed_lot: FailedLotOption = False,
    model: ModelOption = None,
) -> None:
    """Plot viable cells by compartment, effect and outcome over time (doses marked)."""
    from mscsim.cli.analysis import add_figure
    from mscsim.report.plots import save_figure

    with OutputSet() as outputs:
        figure_out = add_figure(outputs, output, "--output")
        figure = _plot_figure(
            source, log, engine, allow_beyond_evidence, allow_failed_lot, model=model
        )
        with outputs.writing(figure_out) as tmp:
            save_figure(figure, tmp, atomic=False)
    out_console.print(f"wrote {output}")


def _plot_figure(
    source: Path,
    log: bool,
    engine: EngineChoice,
    allow_beyond_evidence: bool,
    allow_failed_lot: bool,
    *,
    model: str | None = None,
) -> Figure:
    """Build the figure of ``mscsim plot`` from a scenario (dense output) or a table."""
    from mscsim.io.scenario import load_scenario
    from mscsim.io.tables import read_table
    from mscsim.report.plots import PLOTTED_CELLS, check_cell_table, plot_cells, plot_scenario

    if source.suffix.lower() == ".toml":
        user_model = load_user_model(model, use="plot", outputs=(PLOTTED_CELLS,))
        solver, policy = run_options(engine.value, allow_beyond_evidence, allow_failed_lot)
        figure = plot_scenario(
            load_scenario(source), log=log, solver=solver, policy=policy, model=user_model
        )
    else:
        for flag, given in (
            ("--allow-beyond-evidence", allow_beyond_evidence),
            ("--allow-failed-lot", allow_failed_lot),
            ("--model", model is not None),
        ):
            if given:
                raise SpecError(f"{flag}: only used with a scenario file (.toml)")
        frame = read_table(source)
        check_cell_table(frame, what=f"table = {str(source)!r}")
        figure = plot_cells(frame, log=log)
    return figure
