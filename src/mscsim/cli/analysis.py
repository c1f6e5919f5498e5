"""``mscsim compare``, ``mscsim withdrawal`` and ``mscsim models``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, cast

import pandas as pd
import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from mscsim.cli.common import out_console, parse_whole_numbers, progress_callback, user_errors
from mscsim.cli.simulate import (
    BeyondEvidenceOption,
    EngineChoice,
    EngineOption,
    FailedLotOption,
)
from mscsim.errors import SpecError
from mscsim.io.scenario import load_scenario
from mscsim.io.tables import check_table_path, write_table

__all__ = ["compare", "models", "withdrawal"]

Pair = tuple[pd.DataFrame, pd.DataFrame]


def _fmt(value: object, spec: str = ".3g") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


def _compare_table(frame: pd.DataFrame) -> Table:
    outcome = frame.attrs.get("outcome")
    unit = frame.attrs.get("outcome_unit")
    title = "regimens compared"
    if outcome:
        direction = "higher is worse" if frame.attrs.get("higher_is_worse") else "higher is better"
        title += f" - outcome {outcome} ({unit}; {direction})"
    totals = sorted({float(v) for v in frame["total_viable_cells"] if v > 0})
    caption = (
        "cell-days: viable cells at the target x days; last/1st: whole-body exposure after "
        "the last dose over the same window after the first; effect AUC in effect-days"
    )
    if len(totals) == 1:
        caption = f"every regimen gives {totals[0]:.4g} viable cells in total; " + caption
    table = Table(
        title=title, caption=caption, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True
    )
    heads = {
        "regimen": "regimen (viable cells)",
        "n_doses": "doses",
        "exposure_cell_days": "cell-days",
        "last_dose_exposure_ratio": "last/1st",
        "effect_auc": "effect AUC",
        "days_above_threshold": f"d > {frame.attrs.get('effect_threshold', 0.5):g}",
        "outcome_end": "end",
        "change_from_baseline": "change",
    }
    for col, head in heads.items():
        table.add_column(head, justify="left" if col == "regimen" else "right", no_wrap=True)
    for _, row in frame.iterrows():
        table.add_row(
            str(row["regimen"]),
            str(row["n_doses"]),
            _fmt(row["exposure_cell_days"]),
            _fmt(row["last_dose_exposure_ratio"], ".2f"),
            _fmt(row["effect_auc"], ".2f"),
            _fmt(row["days_above_threshold"], ".1f"),
            _fmt(row["outcome_end"], ".3f"),
            _fmt(row["change_from_baseline"], "+.3f"),
        )
    return table


@user_errors
def compare(
    scenarios: Annotated[list[Path], typer.Argument(help="One scenario with --split, or several.")],
    split: Annotated[
        str | None,
        typer.Option("--split", help="Give the scenario's cells as k equal doses, e.g. 1,2,4,8."),
    ] = None,
    window_days: Annotated[
        float | None,
        typer.Option(
            "--window-days",
            help="Days the split doses spread over (default: the regimen's own window; "
            "28 for a single dose).",
        ),
    ] = None,
    effect_threshold: Annotated[
        float, typer.Option("--effect-threshold", help="Effect level counted in days above.")
    ] = 0.5,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Table: .csv or .parquet.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Figure of effect and outcome: .png/.svg/.pdf.")
    ] = None,
    engine: EngineOption = EngineChoice.FAST,
    allow_beyond_evidence: BeyondEvidenceOption = False,
    allow_failed_lot: FailedLotOption = False,
) -> None:
    """Compare regimens: the same cells split into more doses, or several scenarios."""
    from mscsim.analysis.compare import compare_scenarios, compare_splits

    if output is not None:
        check_table_path(output)
    if plot is not None:
        from mscsim.report.plots import check_figure_path

        check_figure_path(plot, what="--plot")
    if not 0 < effect_threshold < 1:
        raise SpecError(f"--effect-threshold = {effect_threshold}: must be between 0 and 1")
    if window_days is not None and not window_days > 0:
        raise SpecError(f"--window-days = {window_days}: must be > 0")
    if split is not None:
        if len(scenarios) != 1:
            raise SpecError(f"--split: give exactly one scenario, not {len(scenarios)}")
        splits = parse_whole_numbers(split, "--split", 1, 365, "1,2,4,8")
        spec = load_scenario(scenarios[0])
        with progress_callback("comparing") as progress:
            frame, courses = cast(
                Pair,
                compare_splits(
                    spec,
                    splits,
                    window_days=window_days,
                    effect_threshold=effect_threshold,
                    engine=engine.value,
                    allow_beyond_evidence=allow_beyond_evidence,
                    allow_failed_lot=allow_failed_lot,
                    progress=progress,
                    courses=True,
                ),
            )
    else:
        if window_days is not None:
            raise SpecError("--window-days: only used with --split")
        specs = [load_scenario(p) for p in scenarios]
        frame, courses = cast(
            Pair,
            compare_scenarios(
                specs,
                [p.stem for p in scenarios],
                effect_threshold=effect_threshold,
                engine=engine.value,
                allow_beyond_evidence=allow_beyond_evidence,
                allow_failed_lot=allow_failed_lot,
                courses=True,
            ),
        )
    if output is not None:
        write_table(frame, output)
        out_console.print(f"wrote {output}")
    if plot is not None:
        from mscsim.report.analysis_plots import plot_comparison

        plot_comparison(
            courses,
            plot,
            outcome=frame.attrs.get("outcome"),
            threshold=effect_threshold,
            title=f"Same total viable cells, different schedules: {scenarios[0].stem}"
            if split is not None
            else "Scenarios compared",
        )
        out_console.print(f"wrote {plot}")
    out_console.print(_compare_table(frame))


def _days(value: float | None, follow_up: float) -> str:
    if value is None:
        return f"not within {follow_up:g} d"
    return f"{value:.1f}"


@user_errors
def withdrawal(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (TOML) with a [disease].")],
    stop_day: Annotated[
        float | None,
        typer.Option("--stop-day", help="Day treatment stops (default: its last dose)."),
    ] = None,
    follow_up_days: Annotated[
        float, typer.Option("--follow-up-days", help="Days followed after the stop.")
    ] = 365.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Figure of the courses: .png/.svg/.pdf.")
    ] = None,
    engine: EngineOption = EngineChoice.FAST,
    allow_beyond_evidence: BeyondEvidenceOption = False,
    allow_failed_lot: FailedLotOption = False,
) -> None:
    """Stop treatment: rebound, fading and tolerance, MSC beside a drug with tolerance."""
    from mscsim.analysis.withdrawal import withdrawal as run_withdrawal

    if plot is not None:
        from mscsim.report.plots import check_figure_path

        check_figure_path(plot, what="--plot")
    if not follow_up_days > 0:
        raise SpecError(f"--follow-up-days = {follow_up_days}: must be > 0")
    spec = load_scenario(scenario)
    with progress_callback("stopping") as progress:
        result = run_withdrawal(
            spec,
            stop_day=stop_day,
            follow_up_days=follow_up_days,
            engine=engine.value,
            allow_beyond_evidence=allow_beyond_evidence,
            allow_failed_lot=allow_failed_lot,
            progress=progress,
        )
    if plot is not None:
        from mscsim.report.analysis_plots import plot_withdrawal

        plot_withdrawal(result, plot, title=f"Stopping treatment: {scenario.stem}")
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    if plot is not None:
        out_console.print(f"wrote {plot}")
    table = Table(
        title=f"stopping at day {result.msc.stop_day:g}", box=box.SIMPLE_HEAD, pad_edge=False
    )
    table.add_column("")
    table.add_column("MSC", justify="right")
    table.add_column("reference drug", justify="right")
    m, d = result.msc, result.reference_drug
    table.add_row("outcome", m.outcome, d.outcome)
    table.add_row("unit", m.outcome_unit, d.outcome_unit)
    table.add_row("rebound below untreated", f"{m.rebound:.3g}", f"{d.rebound:.3g}")
    table.add_row(
        "days to benefit < 10%",
        _days(m.fade_days, follow_up_days),
        _days(d.fade_days, follow_up_days),
    )
    table.add_row(
        "benefit kept at end", f"{m.benefit_at_end + 0.0:.3g}", f"{d.benefit_at_end + 0.0:.3g}"
    )
    table.add_row("tolerance index", f"{m.tolerance_index:.3f}", f"{d.tolerance_index:.3f}")
    out_console.print(table)
    out_console.print(
        "rebound: largest worsening below the never-treated course after stopping; "
        "tolerance index: effect after the last dose / after the first (1 = none)."
    )


@user_errors
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the built-in models with their outputs, outcome direction and parameters."""
    from mscsim.models.catalog import model_catalog

    catalog = model_catalog()
    if as_json:
        typer.echo(json.dumps(catalog, indent=2))
        return
    for entry in catalog:
        outcome = entry["outcome"]
        out_console.print(f"[bold]{escape(entry['name'])}[/bold]  {escape(entry['scenario'])}")
        out_console.print(f"  {entry['description']}")
        if outcome is not None:
            out_console.print(
                f"  outcome: {outcome['name']} ({outcome['unit']}; {outcome['direction']})"
            )
        out_console.print(f"  outputs: {', '.join(entry['outputs'])}")
        own = ", ".join(entry["own_parameters"]) or "(kinetics and paracrine ones only)"
        out_console.print(f"  parameters: {own}")
    out_console.print("values, units and sources of every parameter: `mscsim params`.")
