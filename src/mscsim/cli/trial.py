"""``mscsim trial``: replicate a virtual trial, report power, write tables and a plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from mscsim.cli.common import (
    executor_for,
    load_user_model,
    out_console,
    parse_whole_numbers,
    progress_callback,
    user_errors,
)
from mscsim.cli.display import plain, print_json, print_table
from mscsim.cli.limits import check_count, check_dask, field_bounds
from mscsim.cli.simulate import DaskOption, ModelOption
from mscsim.errors import SpecError
from mscsim.io.outputs import OutputSet
from mscsim.problem.executors import DEFAULT_CHUNK_SIZE

__all__ = ["TRIAL_FILES", "trial"]

TRIAL_FILES: tuple[str, ...] = (
    "patients.parquet",
    "replicates.parquet",
    "power_curve.csv",
    "summary.json",
    "trial.png",
)
"""The files ``mscsim trial`` writes into its directory."""


@user_errors
def trial(
    trial_file: Annotated[Path, typer.Argument(help="Trial file (TOML).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the results.")],
    replicates: Annotated[
        int | None, typer.Option("--replicates", help="Overrides [trial] replicates.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Overrides [trial] seed.")] = None,
    power_curve: Annotated[
        str | None,
        typer.Option("--power-curve", help="Also power against n per arm, e.g. 10,20,40,80."),
    ] = None,
    dask: DaskOption = None,
    model: ModelOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON instead of a table.")
    ] = False,
) -> None:
    """Simulate a two-arm trial many times: power, effect estimate, CI and safety.

    With --model every arm runs that model (it needs the endpoint's output).
    """
    from mscsim.analysis.trial import check_trial_size, run_trial
    from mscsim.analysis.trial import power_curve as run_power_curve
    from mscsim.io.models import require_outputs
    from mscsim.io.scenario import load_trial
    from mscsim.io.tables import write_table
    from mscsim.report.analysis_plots import plot_trial
    from mscsim.report.plots import save_figure
    from mscsim.spec.trial import TrialSettings

    check_count("--replicates", replicates, int(field_bounds(TrialSettings, "replicates")[1]))
    if seed is not None and seed < 0:
        raise SpecError(f"--seed = {seed}: must be >= 0")
    check_dask(dask)
    executor = executor_for(dask, DEFAULT_CHUNK_SIZE)
    ns = None
    if power_curve is not None:
        ns = sorted(parse_whole_numbers(power_curve, "--power-curve", 2, 100_000, "10,20,40"))
    with OutputSet() as outputs:
        folder = outputs.add_dir(output, flag="--output", known=TRIAL_FILES)
        user_model = load_user_model(model, use="trial")
        spec = load_trial(trial_file)
        if user_model is not None and model is not None:
            endpoint = spec.endpoint.output
            require_outputs(
                user_model, model, use=f"endpoint.output = {endpoint!r}", outputs=(endpoint,)
            )
        check_trial_size(spec, replicates=replicates)
        if ns is not None:
            check_trial_size(spec, replicates=replicates, n_per_arm=ns[-1])
        with progress_callback("patients") as progress:
            result = run_trial(
                spec,
                replicates=replicates,
                seed=seed,
                model=user_model,
                executor=executor,
                progress=progress,
            )
        curve = None
        if ns is not None:
            with progress_callback("power curve"):
                curve = run_power_curve(
                    spec, ns, replicates=replicates, seed=seed, model=user_model, executor=executor
                )
        summary = result.summary.to_dict()
        with outputs.writing(folder) as tmp:
            write_table(result.patients, tmp / "patients.parquet", atomic=False)
            write_table(result.replicates, tmp / "replicates.parquet", atomic=False)
            if curve is not None:
                write_table(curve, tmp / "power_curve.csv", atomic=False)
                summary["power_curve"] = curve.to_dict(orient="records")
            (tmp / "summary.json").write_text(
                json.dumps(plain(summary), indent=2, allow_nan=False) + "\n", encoding="utf-8"
            )
            figure = plot_trial(
                result.replicates, summary, power_curve=curve, title="Virtual two-arm trial"
            )
            save_figure(figure, tmp / "trial.png", atomic=False)
    if as_json:
        print_json(summary)
        return
    written = ", ".join(f for f in TRIAL_FILES if curve is not None or f != "power_curve.csv")
    out_console.print(f"wrote {output}/: {written}")
    typed = result.summary
    table = Table(title=typed.endpoint, box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("arms (n)", ", ".join(f"{k} {v}" for k, v in typed.n_per_arm.items()))
    table.add_row("replicates", str(typed.replicates))
    table.add_row("analysis", f"{typed.analysis}, alpha {typed.alpha}")
    table.add_row("power", f"{typed.power:.3f}")
    table.add_row("true effect (treated - control)", f"{typed.true_effect:+.3f}")
    table.add_row("mean estimate", f"{typed.effect_estimate:+.3f}")
    table.add_row("mean CI", f"{typed.ci_low:+.3f} to {typed.ci_high:+.3f}")
    if typed.n_treated_for_80_percent_power is not None:
        table.add_row(
            "treated n for 80% power (t-test)", f"{typed.n_treated_for_80_percent_power:,.0f}"
        )
    for arm, counts in typed.safety_per_replicate.items():
        table.add_row(
            f"{arm}: per replicate",
            f"{counts['infusions']:g} infusions, {counts['fevers']:.2f} fevers, "
            f"{counts['serious_events']:.3f} serious events",
        )
    if curve is not None:
        for row in curve.itertuples():
            table.add_row(f"power at n = {row.n_per_arm} per arm", f"{row.power:.3f}")
    print_table(table)
