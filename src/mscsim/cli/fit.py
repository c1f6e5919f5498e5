"""``mscsim fit``: fit parameters to a NONMEM-style dataset; write estimates and diagnostics."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Table

from mscsim.cli.common import out_console, progress_callback, user_errors
from mscsim.cli.display import plain, print_json, print_table
from mscsim.errors import SpecError
from mscsim.io.outputs import OutputSet

if TYPE_CHECKING:
    import pandas as pd

    from mscsim.analysis.observation import ResidualError
    from mscsim.models.base import Array
    from mscsim.problem import Observations, Problem

__all__ = ["FIT_FILES", "fit"]

FIT_FILES: tuple[str, ...] = ("estimates.csv", "fit.json", "gof.png", "vpc.png")
"""The files ``mscsim fit`` writes into its directory."""

MAX_VPC_REPLICATES = 10_000


class ErrorChoice(StrEnum):
    """Residual error models of ``--error``."""

    ADDITIVE = "additive"
    PROPORTIONAL = "proportional"
    COMBINED = "combined"


class PriorChoice(StrEnum):
    """Priors of ``--prior``."""

    NONE = "none"
    LIBRARY = "library"


def parse_names(text: str, flag: str) -> list[str]:
    """Parse ``"a,b"`` into distinct names.

    Raises
    ------
    SpecError
        For an empty list or a repeated name.
    """
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names or len(set(names)) != len(names):
        raise SpecError(
            f"{flag} = {text!r}: give distinct parameter names, comma-separated "
            "(e.g. target_half_life_days,early_loss_fraction)"
        )
    return names


@user_errors
def fit(
    data: Annotated[Path, typer.Argument(help="Dataset: NONMEM-style CSV (ID TIME AMT CMT ...).")],
    scenario: Annotated[
        Path,
        typer.Option("--scenario", help="Scenario file (TOML): model, product and defaults."),
    ],
    estimate: Annotated[
        str, typer.Option("--estimate", help="Parameters to estimate, e.g. a,b,c.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the results.")],
    error: Annotated[
        ErrorChoice, typer.Option("--error", help="Residual error model.")
    ] = ErrorChoice.PROPORTIONAL,
    population: Annotated[
        bool,
        typer.Option("--population", help="Fit between-patient variability too (SAEM)."),
    ] = False,
    prior: Annotated[
        PriorChoice,
        typer.Option(
            "--prior", help="none: maximum likelihood; library: MAP with the library's ranges."
        ),
    ] = PriorChoice.NONE,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the VPC and of SAEM.")] = 0,
    vpc_replicates: Annotated[
        int, typer.Option("--vpc-replicates", help="Simulated replicates of the VPC.")
    ] = 200,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print fit.json instead of a table.")
    ] = False,
) -> None:
    """Fit parameters to a dataset: estimates with 95% intervals, goodness of fit and a VPC.

    Without --population, all IDs are fitted together with one value per parameter
    (maximum likelihood, profile-likelihood intervals). With --population, typical
    values, between-patient SDs (omega_<name>) and the residual error are fitted by SAEM.
    """
    from mscsim.io.nonmem import read_nonmem
    from mscsim.io.scenario import load_scenario

    names = parse_names(estimate, "--estimate")
    if seed < 0:
        raise SpecError(f"--seed = {seed}: must be >= 0")
    if not 1 <= vpc_replicates <= MAX_VPC_REPLICATES:
        raise SpecError(
            f"--vpc-replicates = {vpc_replicates}: must be from 1 to {MAX_VPC_REPLICATES}"
        )
    if population and prior is PriorChoice.LIBRARY:
        raise SpecError("--prior = library: only for individual fits, not with --population")
    with OutputSet() as outputs:
        folder = outputs.add_dir(output, flag="--output", known=FIT_FILES)
        dataset = read_nonmem(data, load_scenario(scenario))
        problem, observations = dataset.problem, dataset.observations
        if population:
            table, summary, predicted, simulated, fitted = _population(
                problem, observations, names, error.value, seed, vpc_replicates
            )
        else:
            table, summary, predicted, simulated, fitted = _individual(
                problem, observations, names, error.value, prior.value, seed, vpc_replicates
            )
        _write(outputs, folder, table, summary, observations, predicted, simulated, fitted)
    if as_json:
        print_json(summary)
        return
    out_console.print(f"wrote {output}/: {', '.join(FIT_FILES)}")
    _print_table(table, summary)


def _individual(
    problem: Problem,
    observations: Observations,
    names: list[str],
    kind: str,
    prior: str,
    seed: int,
    n_replicates: int,
) -> tuple[pd.DataFrame, dict[str, Any], Array, Array, ResidualError]:
    from mscsim.analysis.fit import fit_individual, initial_error, simulate_observations

    with progress_callback("fit and profiles") as progress:
        result = fit_individual(
            problem,
            observations,
            names,
            error=initial_error(kind, observations),
            prior=prior,  # type: ignore[arg-type]
            progress=progress,
        )
    with progress_callback("VPC"):
        simulated = simulate_observations(
            problem,
            observations,
            result.estimates,
            result.error,
            n_replicates=n_replicates,
            rng=seed,
        )
    summary = result.to_json_dict() | {"method": "individual", "seed": seed}
    return result.to_frame(), summary, result.predicted, simulated, result.error


def _population(
    problem: Problem,
    observations: Observations,
    names: list[str],
    kind: str,
    seed: int,
    n_replicates: int,
) -> tuple[pd.DataFrame, dict[str, Any], Array, Array, ResidualError]:
    from mscsim.analysis.fit import initial_error, predict_observations, simulate_observations
    from mscsim.analysis.saem import fit_population

    with progress_callback("SAEM iterations") as progress:
        result = fit_population(
            problem,
            observations,
            names,
            error=initial_error(kind, observations),
            seed=seed,
            progress=progress,
        )
    predicted = predict_observations(problem, observations, result.individual)
    with progress_callback("VPC"):
        simulated = simulate_observations(
            problem,
            observations,
            dict(result.theta),
            result.error,
            n_replicates=n_replicates,
            omega=dict(result.omega),
            rng=seed,
        )
    table = result.to_frame()
    summary: dict[str, Any] = {
        "objective": result.objective,
        "converged": result.converged,
        "n_observations": result.n_observations,
        "n_subjects": result.n_subjects,
        "method": "population",
        "objective_method": result.objective_method,
        "objective_sd": result.objective_sd,
        "interval": result.interval_method,
        "error_model": result.error.kind.value,
        "estimates": dict(zip(table["parameter"], table["estimate"], strict=True)),
        "n_iterations": list(result.n_iterations),
        "seed": seed,
    }
    return table, summary, predicted, simulated, result.error


def _write(
    outputs: OutputSet,
    folder: Any,
    table: pd.DataFrame,
    summary: dict[str, Any],
    observations: Observations,
    predicted: Array,
    simulated: Array,
    error: ResidualError,
) -> None:
    from mscsim.io.tables import write_table
    from mscsim.report.fit_plots import plot_gof, plot_vpc
    from mscsim.report.plots import save_figure

    with outputs.writing(folder) as tmp:
        write_table(table, tmp / "estimates.csv", atomic=False)
        (tmp / "fit.json").write_text(
            json.dumps(plain(summary), indent=2, allow_nan=False) + "\n", encoding="utf-8"
        )
        save_figure(plot_gof(observations, predicted, error), tmp / "gof.png", atomic=False)
        save_figure(plot_vpc(observations, simulated), tmp / "vpc.png", atomic=False)


def _print_table(table: pd.DataFrame, summary: dict[str, Any]) -> None:
    status = "converged" if summary["converged"] else "NOT converged"
    title = (
        f"{summary['method']} fit, {status}: -2LL {summary['objective']:.3f}, "
        f"{summary['n_observations']} observations, {summary['n_subjects']} subjects"
    )
    out = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("parameter", "estimate", "95% low", "95% high"):
        out.add_column(column, justify="left" if column == "parameter" else "right")
    for row in table.to_dict(orient="records"):
        values = (float(row["estimate"]), float(row["ci_low"]), float(row["ci_high"]))
        out.add_row(str(row["parameter"]), *(f"{v:.4g}" for v in values))
    print_table(out)
