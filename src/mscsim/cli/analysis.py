"""``mscsim compare``, ``mscsim withdrawal`` and ``mscsim models``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from mscsim.cli.common import (
    load_user_model,
    out_console,
    parse_whole_numbers,
    progress_callback,
    run_options,
    user_errors,
)
from mscsim.cli.display import print_json, print_table
from mscsim.cli.simulate import (
    BeyondEvidenceOption,
    EngineChoice,
    EngineOption,
    FailedLotOption,
    ModelOption,
)
from mscsim.errors import SpecError
from mscsim.io.outputs import OutputSet

if TYPE_CHECKING:
    import pandas as pd

    from mscsim.io.outputs import Output


__all__ = ["compare", "models", "withdrawal"]


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
    model: ModelOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the comparison as JSON instead of a table.")
    ] = False,
) -> None:
    """Compare regimens: the same cells split into more doses, or several scenarios."""
    with OutputSet() as outputs:
        table_out = None if output is None else add_table(outputs, output, "--output")
        figure_out = None if plot is None else add_figure(outputs, plot, "--plot")
        frame = _compare(
            scenarios,
            split,
            window_days,
            effect_threshold,
            outputs,
            table_out,
            figure_out,
            engine=engine,
            allow_beyond_evidence=allow_beyond_evidence,
            allow_failed_lot=allow_failed_lot,
            model=model,
        )
    if as_json:
        print_json(
            {
                "attrs": dict(frame.attrs),
                "regimens": frame.to_dict(orient="records"),
                "outputs": {"--output": output, "--plot": plot},
            }
        )
        return
    for written in (output, plot):
        if written is not None:
            out_console.print(f"wrote {written}")
    print_table(_compare_table(frame))


def add_table(outputs: OutputSet, path: Path, flag: str) -> Output:
    """Check a table output (``.csv`` / ``.parquet``) before any work."""
    from mscsim.io.tables import TABLE_FORMATS

    return outputs.add_file(path, flag=flag, formats=TABLE_FORMATS)


def add_figure(outputs: OutputSet, path: Path, flag: str) -> Output:
    """Check a figure output (``.png`` / ``.svg`` / ``.pdf``) before any work."""
    from mscsim.report.plots import FIGURE_FORMATS

    return outputs.add_file(path, flag=flag, formats=FIGURE_FORMATS, kind="figure")


def _compare(
    scenarios: list[Path],
    split: str | None,
    window_days: float | None,
    effect_threshold: float,
    outputs: OutputSet,
    table_out: Output | None,
    figure_out: Output | None,
    *,
    engine: EngineChoice,
    allow_beyond_evidence: bool,
    allow_failed_lot: bool,
    model: str | None = None,
) -> pd.DataFrame:
    """Run the comparison and write its table and figure into their temporaries."""
    from mscsim.analysis.compare import compare_scenarios, compare_splits
    from mscsim.io.scenario import load_scenario
    from mscsim.io.tables import write_output_table

    solver, policy = run_options(engine.value, allow_beyond_evidence, allow_failed_lot)
    if not 0 < effect_threshold < 1:
        raise SpecError(f"--effect-threshold = {effect_threshold}: must be between 0 and 1")
    if window_days is not None and not 0 < window_days < math.inf:
        raise SpecError(f"--window-days = {window_days}: must be a finite number of days > 0")
    user_model = load_user_model(
        model, use="compare", outputs=("effect", ("cells_target", "exposure_cell_days"))
    )
    if split is not None:
        if len(scenarios) != 1:
            raise SpecError(f"--split: give exactly one scenario, not {len(scenarios)}")
        splits = parse_whole_numbers(split, "--split", 1, 365, "1,2,4,8")
        spec = load_scenario(scenarios[0])
        with progress_callback("comparing") as progress:
            comparison = compare_splits(
                spec,
                splits,
                window_days=window_days,
                effect_threshold=effect_threshold,
                model=user_model,
                solver=solver,
                policy=policy,
                progress=progress,
            )
    else:
        if window_days is not None:
            raise SpecError("--window-days: only used with --split")
        specs = [load_scenario(p) for p in scenarios]
        comparison = compare_scenarios(
            specs,
            [p.stem for p in scenarios],
            effect_threshold=effect_threshold,
            model=user_model,
            solver=solver,
            policy=policy,
        )
    frame, courses = comparison.table, comparison.courses
    if table_out is not None:
        write_output_table(outputs, table_out, frame)
    if figure_out is not None:
        from mscsim.report.analysis_plots import plot_comparison
        from mscsim.report.plots import save_figure

        figure = plot_comparison(
            courses,
            outcome=frame.attrs.get("outcome"),
            threshold=effect_threshold,
            title="Same total viable cells, different schedules"
            if split is not None
            else "Products and regimens compared",
            names=None if split is not None else _legend_names(scenarios),
        )
        with outputs.writing(figure_out) as tmp:
            save_figure(figure, tmp, atomic=False)
    return frame


def _legend_names(scenarios: list[Path]) -> dict[str, str]:
    """Legend text per scenario: its product in words (and its name if two read alike)."""
    from mscsim.io.scenario import load_scenario
    from mscsim.report.plots import product_label

    words = {p.stem: product_label(load_scenario(p)) for p in scenarios}
    words["untreated"] = "never treated"
    seen = list(words.values())
    return {k: v if seen.count(v) == 1 else f"{k}: {v}" for k, v in words.items()}


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
    model: ModelOption = None,
) -> None:
    """Stop treatment: rebound, fading and tolerance, MSC beside a drug with tolerance."""
    from mscsim.analysis.withdrawal import MAX_FOLLOW_UP_DAYS
    from mscsim.analysis.withdrawal import withdrawal as run_withdrawal
    from mscsim.io.scenario import load_scenario

    if not 0 < follow_up_days <= MAX_FOLLOW_UP_DAYS:
        raise SpecError(
            f"--follow-up-days = {follow_up_days:g}: must be > 0 and at most "
            f"{MAX_FOLLOW_UP_DAYS:g} (100 years)"
        )
    if stop_day is not None and not math.isfinite(stop_day):
        raise SpecError(f"--stop-day = {stop_day}: must be a day within the regimen")
    with OutputSet() as outputs:
        figure_out = None if plot is None else add_figure(outputs, plot, "--plot")
        user_model = load_user_model(model, use="withdrawal", outputs=("effect",), outcome=True)
        spec = load_scenario(scenario)
        solver, policy = run_options(engine.value, allow_beyond_evidence, allow_failed_lot)
        with progress_callback("stopping") as progress:
            result = run_withdrawal(
                spec,
                stop_day=stop_day,
                follow_up_days=follow_up_days,
                model=user_model,
                solver=solver,
                policy=policy,
                progress=progress,
            )
        if figure_out is not None:
            from mscsim.report.analysis_plots import plot_withdrawal
            from mscsim.report.plots import save_figure

            with outputs.writing(figure_out) as tmp:
                save_figure(plot_withdrawal(result), tmp, atomic=False)
    if as_json:
        print_json(result.to_dict())
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
    print_table(table)
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
        print_json(catalog)
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
