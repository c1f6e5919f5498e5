"""``mscsim simulate`` and ``mscsim plot``."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure
    from numpy.typing import NDArray

    from mscsim.engine.solvers import Solver
    from mscsim.io.outputs import Output
    from mscsim.models.base import Model
    from mscsim.population.run import PercentileSummary, PopulationChunk
    from mscsim.problem.executors import Executor
    from mscsim.problem.policy import EvidencePolicy
    from mscsim.problem.problem import Problem
    from mscsim.spec.scenario import Scenario

__all__ = [
    "BeyondEvidenceOption",
    "CovariateSummary",
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
            _refuse_unless_it_fits(problem)
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


IN_MEMORY_SHARE = 0.5
"""Share of the machine's memory a run without a ``[population]`` may fill: it
holds every patient's states, outputs and table at once (a population streams
its chunks instead)."""

BYTES_PER_VALUE = 40
"""Peak bytes per state or output value of such a run (a patient at a time),
measured: 6.1 GB for 20,000 patients x 366 times x 23 states and outputs of
the SCA example (36 bytes), while its table is built and written."""


def _memory_bytes() -> float:
    """Return this machine's memory in bytes (infinite where the system will not say)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return math.inf


def _refuse_unless_it_fits(problem: Problem) -> None:
    """Raise before any work when an in-memory run would not fit in memory.

    Raises
    ------
    SpecError
        Naming ``n_patients``, the memory needed and what to do instead.
    """
    n, times = problem.n_patients, problem.times_day.size
    values = n * times * (len(problem.model.states) + len(problem.model.output_names))
    need, have = values * BYTES_PER_VALUE, _memory_bytes() * IN_MEMORY_SHARE
    if need > have:
        raise SpecError(
            f"n_patients = {n}: {n} patients x {times} output times need about "
            f"{need / 2**30:.1f} GiB in memory, more than the {have / 2**30:.1f} GiB one run "
            "without a [population] may take (half this machine's); add a [population] "
            "table (its patients stream in chunks), or use fewer patients or a coarser "
            "output_every_days"
        )


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
    table (one row per patient and dose) is written from them. Every table is
    written chunk by chunk (Parquet row groups): only one chunk is held at a time.

    Returns what to print: lines and tables, and the same as data for ``--json``.
    """
    import warnings

    import numpy as np

    from mscsim.errors import MscsimWarning
    from mscsim.io.tables import write_output_table
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
        from mscsim.analysis.doses import with_dose_times

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
    covariates = CovariateSummary()
    with contextlib.ExitStack() as stack, progress_callback("patients") as progress:

        def stream(output: Output | None) -> Callable[[pd.DataFrame], None] | None:
            return None if output is None else stack.enter_context(_table_stream(outputs, output))

        sink = _PopulationSink(
            covariates,
            write_table=None if collector is not None else stream(table_out),
            percentiles=collector,
            write_doses=stream(doses_file),
            write_covariates=stream(covariates_file),
            table_times=None if doses_file is None else np.searchsorted(times, typical.times_day),
        )
        done = 0
        for chunk in chunks:
            done += sink.add(chunk)
            del chunk  # nothing of a chunk is kept while the next one is simulated
            if progress is not None:
                progress(done, n_patients)
    shown: list[str | Table] = []
    if collector is not None:
        write_output_table(outputs, table_out, collector.frame())
        shown.append(f"wrote {table_out.path}: percentiles 5/50/95 over {n_patients} patients")
    else:
        shown.append(f"wrote {table_out.path}: {n_patients} patients, every one")
    if doses_file is not None:
        shown.append(f"wrote {doses_file.path}: {sink.dose_rows} row(s), one per patient and dose")
    if covariates_file is not None:
        shown.append(f"wrote {covariates_file.path}: sampled covariates per patient")
    shown.append(product_line(spec))
    table = Table(title="sampled patients", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("covariate", "p5", "median", "p95"):
        table.add_column(col, justify="left" if col == "covariate" else "right")
    sampled = covariates.rows()
    for row in sampled:
        if "shares" in row:
            shares = ", ".join(f"{k} {v:g}" for k, v in row["shares"].items())
            table.add_row(row["covariate"], "", shares, "")
        else:
            p5, p50, p95 = row["p5"], row["median"], row["p95"]
            table.add_row(row["covariate"], f"{p5:.3g}", f"{p50:.3g}", f"{p95:.3g}")
    shown.append(table)
    return shown, {"patients": n_patients, "summary": summary, "covariates": sampled}


@contextlib.contextmanager
def _table_stream(outputs: OutputSet, output: Output) -> Iterator[Callable[[pd.DataFrame], None]]:
    """Yield a function appending a chunk to ``output``'s temporary (a row group in Parquet).

    A failed write or close is one line naming ``output``.
    """
    from mscsim.io.tables import TableWriter

    with outputs.writing(output) as tmp, TableWriter(tmp, atomic=False) as writer:

        def write(frame: pd.DataFrame) -> None:
            with outputs.writing(output):
                writer.write(frame)

        yield write


@dataclass
class _PopulationSink:
    """Where each simulated chunk goes: output tables, percentiles, covariate summary.

    Nothing of a chunk is kept once :meth:`add` returns (the tables are written,
    percentiles and the covariate summary keep their own copies).
    """

    covariates: CovariateSummary
    write_table: Callable[[pd.DataFrame], None] | None
    percentiles: PercentileSummary | None
    write_doses: Callable[[pd.DataFrame], None] | None
    write_covariates: Callable[[pd.DataFrame], None] | None
    table_times: NDArray[np.intp] | None
    """Positions of the table's output times among the simulated times (with doses)."""
    dose_rows: int = 0

    def add(self, chunk: PopulationChunk) -> int:
        """Write or collect one chunk; return its number of patients."""
        from mscsim.analysis.doses import problem_dose_exposures

        result = chunk.result
        if self.write_doses is not None and self.table_times is not None:
            doses = problem_dose_exposures(result, chunk.problem)
            self.write_doses(doses)
            self.dose_rows += len(doses)
            result = result.take_times(self.table_times)
        if self.write_table is not None:
            self.write_table(result.to_frame())
        elif self.percentiles is not None:
            self.percentiles.add(result)
        if self.write_covariates is not None:
            self.write_covariates(chunk.covariates)
        self.covariates.add(chunk.covariates)
        return result.n_patients


class CovariateSummary:
    """Percentiles 5/50/95 of the sampled covariates over every patient, fed chunk by chunk.

    Numeric covariates are kept (8 bytes per patient each) so that their
    percentiles are exact; other covariates (genotype, sex) only as counts.
    """

    def __init__(self) -> None:
        self.columns: list[str] = []
        self.numeric: dict[str, list[np.ndarray]] = {}
        self.counts: dict[str, dict[object, int]] = {}
        self.dtypes: dict[str, Any] = {}

    def add(self, covariates: pd.DataFrame) -> None:
        """Add one chunk's covariates (``patient_id`` and one column per covariate)."""
        if not self.columns:
            self.columns = [str(c) for c in covariates.columns.drop("patient_id")]
        for name in self.columns:
            values = covariates[name]
            if values.dtype.kind in "fi":
                self.numeric.setdefault(name, []).append(values.to_numpy(copy=True))
                continue
            self.dtypes[name] = values.dtype
            counts = self.counts.setdefault(name, {})
            found = values.value_counts(sort=False)  # in order of first appearance
            for key, count in zip(found.index.tolist(), found.tolist(), strict=True):
                counts[key] = counts.get(key, 0) + int(count)

    def rows(self) -> list[dict[str, Any]]:
        """Return per covariate ``p5``, ``median``, ``p95``, or the ``shares`` of its values.

        The same figures as ``Series.quantile`` and ``Series.value_counts(normalize=True)``
        (rounded to 2 decimals) over every patient at once.
        """
        import numpy as np
        import pandas as pd

        rows: list[dict[str, Any]] = []
        for name in self.columns:
            if name in self.numeric:
                values = pd.Series(np.concatenate(self.numeric[name]))
                p5, p50, p95 = values.quantile([0.05, 0.5, 0.95])
                rows.append({"covariate": name, "p5": p5, "median": p50, "p95": p95})
                continue
            counts = self.counts[name]
            index = pd.Index(list(counts), dtype=self.dtypes[name])
            found = pd.Series(list(counts.values()), index=index, dtype=np.int64)
            found = found.sort_values(ascending=False, kind="stable")
            shares = (found / found.sum()).round(2).to_dict()
            rows.append({"covariate": name, "shares": shares})
        return rows


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
