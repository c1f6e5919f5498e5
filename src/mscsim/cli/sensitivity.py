"""``mscsim sensitivity``: Sobol indices or Morris screening of a scenario's summary."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mscsim.cli.common import err_console, out_console, progress_callback, user_errors
from mscsim.cli.limits import check_count, check_dask
from mscsim.cli.simulate import DaskOption
from mscsim.errors import SpecError

__all__ = ["MAX_SIMULATIONS", "MAX_TRIALS", "SENSITIVITY_FILES", "Method", "sensitivity"]

SENSITIVITY_FILES: tuple[str, ...] = ("indices.csv", "sensitivity.png")
"""The files ``mscsim sensitivity`` writes into its directory."""
MAX_SIMULATIONS = 200_000
"""Most simulated parameter sets one run may ask for (about 45 min on one core for a
one-year scenario's effect_auc, a few minutes for the other summaries)."""
MAX_TRIALS = 2_000
"""Most whole trials one ``trial_power`` run may ask for."""
MAX_N = 2**16


class Method(StrEnum):
    """Global sensitivity methods."""

    SOBOL = "sobol"
    MORRIS = "morris"


def _evaluations(method: Method, n: int, k: int) -> int:
    """Summary evaluations: Saltelli ``n (k + 2)``, Morris ``n (k + 1)``."""
    return n * (k + 2) if method is Method.SOBOL else n * (k + 1)


def _check_work(method: Method, n: int, k: int, slow: bool) -> int:
    """Refuse a run whose simulations exceed the limit, before any work; return their count."""
    work = _evaluations(method, n, k)
    limit = MAX_TRIALS if slow else MAX_SIMULATIONS
    if work > limit:
        what = "trials" if slow else "simulations"
        raise SpecError(
            f"--n = {n}: {method.value} with {k} parameters needs {work:,} {what}, more than "
            f"the {limit:,} allowed; use a smaller --n or fewer --parameters"
        )
    return work


@user_errors
def sensitivity(
    scenario_file: Annotated[
        Path, typer.Argument(help="Scenario file (TOML); a trial file for trial_power.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the results.")],
    summary: Annotated[
        str,
        typer.Option(
            "--summary",
            help="effect_auc, outcome_change, target_cell_days or trial_power (slow).",
        ),
    ],
    method: Annotated[
        Method, typer.Option("--method", help="Sobol indices or Morris screening.")
    ] = Method.SOBOL,
    n: Annotated[
        int | None,
        typer.Option(
            "--n", help="Sobol base sample (a power of 2, default 64) or Morris trajectories (10)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the sampling.")] = 0,
    parameters: Annotated[
        str | None,
        typer.Option(
            "--parameters",
            help="Parameters to vary, comma-separated (default: every guessed one, tag G).",
        ),
    ] = None,
    day: Annotated[
        float | None, typer.Option("--day", help="outcome_change: read at this day.")
    ] = None,
    dask: DaskOption = None,
) -> None:
    """Which guessed parameters drive a summary: Sobol indices or Morris screening.

    Each parameter varies over its plausible range in the library (log-uniform for
    rates, half-lives and amounts; uniform for fractions). Writes indices.csv
    (Sobol: parameter, S1, S1_conf, ST, ST_conf; Morris: parameter, mu, mu_star,
    mu_star_conf, sigma) and sensitivity.png.
    """
    from mscsim.analysis.sensitivity import (
        check_target,
        morris,
        scenario_space,
        sobol,
        summary_named,
    )
    from mscsim.cli.common import executor_for
    from mscsim.io.outputs import OutputSet
    from mscsim.io.scenario import load_scenario, load_trial
    from mscsim.io.tables import write_table
    from mscsim.problem.executors import DEFAULT_CHUNK_SIZE
    from mscsim.report.plots import save_figure
    from mscsim.report.sensitivity_plots import plot_sobol, plot_tornado

    chosen = summary_named(summary, day=day)
    n = (64 if method is Method.SOBOL else 10) if n is None else n
    check_count("--n", n, MAX_N)
    if method is Method.SOBOL and n & (n - 1):
        raise SpecError(f"--n = {n}: Sobol sampling needs a power of 2 (e.g. 64, 128, 256)")
    if method is Method.MORRIS and n < 2:
        raise SpecError(f"--n = {n}: Morris needs at least 2 trajectories")
    if seed < 0:
        raise SpecError(f"--seed = {seed}: must be >= 0")
    check_dask(dask)
    names = None if parameters is None else _names(parameters)
    with OutputSet() as outputs:
        folder = outputs.add_dir(output, flag="--output", known=SENSITIVITY_FILES)
        target = load_trial(scenario_file) if chosen.slow else load_scenario(scenario_file)
        check_target(chosen, target)
        space = scenario_space(target, names)
        work = _check_work(method, n, space.k, chosen.slow)
        err_console.print(
            f"{method.value}: {work:,} {'trials' if chosen.slow else 'simulations'} "
            f"of {chosen.name} over {space.k} parameters"
        )
        options = {"executor": executor_for(dask, DEFAULT_CHUNK_SIZE)}
        with progress_callback("parameter sets") as progress:
            if method is Method.SOBOL:
                indices = sobol(chosen, space, target, n=n, seed=seed, progress=progress, **options)
                frame = indices.to_frame()
                figure = plot_sobol(frame, title=f"Sobol indices of {chosen.name}")
            else:
                result = morris(
                    chosen, space, target, n_trajectories=n, seed=seed, progress=progress, **options
                )
                frame = result.to_frame()
                figure = plot_tornado(
                    frame, column="mu_star", title=f"Morris screening of {chosen.name}"
                )
        with outputs.writing(folder) as tmp:
            write_table(frame, tmp / "indices.csv", atomic=False)
            save_figure(figure, tmp / "sensitivity.png", atomic=False)
    out_console.print(f"wrote {output}/: {', '.join(SENSITIVITY_FILES)}")


def _names(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise SpecError(f"--parameters = {text!r}: give parameter names, comma-separated")
    return names
