"""``mscsim simulate`` and ``mscsim plot``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from mscsim.cli.common import out_console, progress_callback, user_errors
from mscsim.engine.scenario import simulate_scenario
from mscsim.errors import SpecError
from mscsim.io.scenario import load_scenario
from mscsim.io.tables import check_table_path, read_table, write_table
from mscsim.report.summary import cell_summary

__all__ = ["BeyondEvidenceOption", "EngineChoice", "EngineOption", "plot", "simulate"]


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


@user_errors
def simulate(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (TOML).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Result table: .csv or .parquet.")],
    n_patients: Annotated[
        int | None, typer.Option("--n-patients", help="Overrides [simulation] n_patients.")
    ] = None,
    engine: EngineOption = EngineChoice.FAST,
    allow_beyond_evidence: BeyondEvidenceOption = False,
) -> None:
    """Simulate a scenario and write cells by compartment over time."""
    check_table_path(output)
    if n_patients is not None and n_patients < 1:
        raise SpecError(f"--n-patients = {n_patients}: must be >= 1")
    spec = load_scenario(scenario)
    with progress_callback("simulating") as progress:
        result = simulate_scenario(
            spec,
            n_patients=n_patients,
            engine=engine.value,
            allow_beyond_evidence=allow_beyond_evidence,
            progress=progress,
        )
    frame = result.to_frame()
    write_table(frame, output)
    out_console.print(
        f"wrote {output}: {result.n_patients} patient(s) x {result.times_day.size} times, "
        f"engine {result.engine}"
    )
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
