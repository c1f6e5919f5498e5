"""``mscsim trial``: replicate a virtual trial, report power, write tables and a plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from mscsim.cli.common import (
    out_console,
    parse_whole_numbers,
    progress_callback,
    user_errors,
)
from mscsim.cli.simulate import DaskOption
from mscsim.errors import SpecError
from mscsim.io.scenario import load_trial
from mscsim.io.tables import atomic_path, write_table

__all__ = ["trial"]


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
) -> None:
    """Simulate a two-arm trial many times: power, effect estimate, CI and safety."""
    from mscsim.analysis.trial import power_curve as run_power_curve
    from mscsim.analysis.trial import run_trial
    from mscsim.report.analysis_plots import plot_trial

    if replicates is not None and replicates < 1:
        raise SpecError(f"--replicates = {replicates}: must be >= 1")
    if seed is not None and seed < 0:
        raise SpecError(f"--seed = {seed}: must be >= 0")
    if output.exists() and not output.is_dir():
        raise SpecError(f"--output = {str(output)!r}: exists and is not a directory")
    ns = None
    if power_curve is not None:
        ns = sorted(parse_whole_numbers(power_curve, "--power-curve", 2, 100_000, "10,20,40"))
    spec = load_trial(trial_file)
    with progress_callback("patients") as progress:
        result = run_trial(spec, replicates=replicates, seed=seed, dask=dask, progress=progress)
    curve = None
    if ns is not None:
        with progress_callback("power curve"):
            curve = run_power_curve(spec, ns, replicates=replicates, seed=seed, dask=dask)
    output.mkdir(parents=True, exist_ok=True)
    write_table(result.patients, output / "patients.parquet")
    write_table(result.replicates, output / "replicates.parquet")
    summary = dict(result.summary)
    if curve is not None:
        write_table(curve, output / "power_curve.csv")
        summary["power_curve"] = curve.to_dict(orient="records")
    with atomic_path(output / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    plot_trial(
        result.replicates,
        summary,
        output / "trial.png",
        power_curve=curve,
        title=f"Virtual trial: {trial_file.stem}",
    )
    out_console.print(
        f"wrote {output}/: patients.parquet, replicates.parquet, summary.json, trial.png"
    )
    table = Table(title=f"{summary['endpoint']}", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("")
    table.add_column("value", justify="right")
    n_text = ", ".join(f"{k} {v}" for k, v in summary["n_per_arm"].items())  # type: ignore[attr-defined]
    table.add_row("arms (n)", n_text)
    table.add_row("replicates", str(summary["replicates"]))
    table.add_row("analysis", f"{summary['analysis']}, alpha {summary['alpha']}")
    table.add_row("power", f"{summary['power']:.3f}")
    table.add_row("true effect (treated - control)", f"{summary['true_effect']:+.3f}")
    table.add_row("mean estimate", f"{summary['effect_estimate']:+.3f}")
    table.add_row("mean CI", f"{summary['ci_low']:+.3f} to {summary['ci_high']:+.3f}")
    n80 = summary.get("n_treated_for_80_percent_power")
    if n80 is not None:
        table.add_row("treated n for 80% power (t-test)", f"{n80:,.0f}")
    for arm, counts in summary["safety_per_replicate"].items():  # type: ignore[attr-defined]
        table.add_row(
            f"{arm}: per replicate",
            f"{counts['infusions']:g} infusions, {counts['fevers']:.2f} fevers, "
            f"{counts['serious_events']:.3f} serious events",
        )
    if curve is not None:
        for row in curve.itertuples():
            table.add_row(f"power at n = {row.n_per_arm} per arm", f"{row.power:.3f}")
    out_console.print(table)
