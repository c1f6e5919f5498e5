"""Figures: many patients, summary tables, words on axes, doses, peaks, no pyplot state."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")

from typer.testing import CliRunner

from mscsim.analysis.compare import compare_scenarios
from mscsim.analysis.withdrawal import withdrawal
from mscsim.cli.main import app
from mscsim.engine import simulate
from mscsim.io.scenario import load_scenario
from mscsim.problem import prepare_scenario
from mscsim.report.analysis_plots import plot_comparison, plot_withdrawal
from mscsim.report.plots import (
    MIN_OUTCOME_SPAN_SHARE,
    axis_label,
    plot_cells,
    plot_scenario,
    save_figure,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCA = EXAMPLES / "sca_uc_msc_iv.toml"


def _line(fig: object, label: str, panel: int = 0) -> tuple[np.ndarray, np.ndarray]:
    ax = fig.axes[panel]  # type: ignore[attr-defined]
    for line in ax.get_lines():
        if line.get_label() == label:
            return np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
    raise AssertionError(f"no line {label!r}")


def _wide(n_patients: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    t = np.linspace(0.0, 10.0, 11)
    parts = []
    for i in range(n_patients):
        lung = 1e6 * rng.uniform(0.5, 2.0) * np.exp(-0.5 * t)
        parts.append(
            pd.DataFrame(
                {"patient_id": i, "time_day": t, "cells_lung": lung, "cells_total": 1.1 * lung}
            )
        )
    return pd.concat(parts, ignore_index=True)


def test_many_patients_are_a_median_line_with_a_band() -> None:
    frame = _wide(20)
    fig = plot_cells(frame)
    t, y = _line(fig, "lung")
    expected = frame.pivot(index="time_day", columns="patient_id", values="cells_lung")
    np.testing.assert_allclose(t, expected.index)
    np.testing.assert_allclose(y, np.median(expected.to_numpy(), axis=1), rtol=1e-12)
    assert fig.axes[0].collections, "the 5-95% band is drawn"
    assert "median and 5-95% of 20 patients" in fig.get_suptitle()


def test_a_few_patients_are_a_line_each() -> None:
    fig = plot_cells(_wide(3))
    lines = [ln for ln in fig.axes[0].get_lines() if ln.get_color() == "tab:blue"]
    assert len(lines) == 3


def test_the_summary_table_is_plotted_as_median_and_band() -> None:
    t = np.arange(5.0)
    frame = pd.concat(
        [
            pd.DataFrame({"time_day": t, "output": name, "p5": 1 + t, "p50": 2 + t, "p95": 3 + t})
            for name in ("cells_lung", "cells_total", "effect")
        ],
        ignore_index=True,
    )
    fig = plot_cells(frame)
    _, y = _line(fig, "lung")
    np.testing.assert_allclose(y, 2 + t)
    assert len(fig.axes) == 2  # cells, effect


def test_labels_are_words_with_units() -> None:
    assert axis_label("perfusion_ratio") == "Perfusion ratio (ischemic/normal limb)"
    assert axis_label("cells_lung") == "Viable cells"
    assert axis_label("time_day") == "Day"


def test_the_outcome_panel_says_which_direction_is_worse_and_keeps_a_sensible_span() -> None:
    fig = plot_scenario(load_scenario(SCA))
    sara = fig.axes[-1]
    titles = " ".join(sara.get_title(loc=loc) for loc in ("left", "center", "right"))
    assert "higher is worse" in titles.lower()
    assert sara.get_ylabel().startswith("SARA score")
    low, high = sara.get_ylim()
    assert high - low >= MIN_OUTCOME_SPAN_SHARE * 40 - 1e-9
    assert fig.axes[-1].get_xlabel() == "Day"


def test_a_scenario_plot_marks_the_doses_and_draws_the_post_dose_peak() -> None:
    scenario = load_scenario(SCA)
    fig = plot_scenario(scenario, log=True)
    days, _ = _line(fig, "dose")
    np.testing.assert_allclose(days, [0, 90, 180, 270])
    _, drawn = _line(fig, "lung")
    # Reference: the first two days at 0.0005-day output spacing.
    inputs = prepare_scenario(scenario)
    fine = simulate(
        inputs.model, inputs.doses[:1], times_day=np.arange(0, 2.0, 5e-4), params=inputs.params
    )
    peak = float(fine.output("cells_lung").max())
    assert scenario.simulation.output_every_days == 1
    day_one = float(fine.output("cells_lung")[0, 2000])
    assert day_one < 0.9 * peak, "the scenario's 1-day grid misses the peak"
    assert np.nanmax(drawn) == pytest.approx(peak, rel=0.01)


def test_plotting_leaves_the_backend_and_pyplot_alone(tmp_path: Path) -> None:
    code = (
        "import sys, matplotlib\n"
        "import pandas as pd\n"
        "from mscsim.report.plots import plot_cells, save_figure\n"
        "frame = pd.DataFrame({'time_day': [0.0, 1.0], 'cells_total': [1.0, 2.0]})\n"
        "fig = plot_cells(frame)\n"
        f"save_figure(fig, {str(tmp_path / 'f.png')!r})\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    env = {**os.environ, "MPLBACKEND": "svg"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_the_products_comparison_includes_the_untreated_course() -> None:
    scenario = load_scenario(EXAMPLES / "products" / "auto_bm.toml")
    courses = compare_scenarios([scenario], ["auto"]).courses
    assert set(courses["regimen"]) == {"auto", "untreated"}
    assert courses.loc[courses["regimen"] == "auto", "dose"].sum() == 6
    fig = plot_comparison(courses, outcome="sara_score")
    labels = [line.get_label() for line in fig.axes[2].get_lines()]
    assert "untreated" in labels


def test_the_withdrawal_panels_cover_the_same_days() -> None:
    result = withdrawal(load_scenario(SCA), follow_up_days=120)
    fig = plot_withdrawal(result)
    top_left, top_right, low_left, low_right = fig.axes
    assert top_left.get_xlim() == top_right.get_xlim()
    assert low_left.get_xlim() == low_right.get_xlim()


runner = CliRunner()


def test_cli_plots_a_table_of_many_patients_and_a_summary(tmp_path: Path) -> None:
    wide, summary = tmp_path / "wide.csv", tmp_path / "summary.csv"
    _wide(8).to_csv(wide, index=False)
    t = np.arange(3.0)
    pd.DataFrame(
        {"time_day": t, "output": "cells_total", "p5": t, "p50": t + 1, "p95": t + 2}
    ).to_csv(summary, index=False)
    for table in (wide, summary):
        figure = tmp_path / f"{table.stem}.png"
        result = runner.invoke(app, ["plot", str(table), "-o", str(figure)])
        assert result.exit_code == 0, result.output
        assert figure.stat().st_size > 0


def test_cli_plots_a_scenario(tmp_path: Path) -> None:
    figure = tmp_path / "sca.svg"
    result = runner.invoke(app, ["plot", str(SCA), "-o", str(figure), "--log"])
    assert result.exit_code == 0, result.output
    assert "<svg" in figure.read_text()


def test_cli_refuses_a_table_that_is_not_a_simulation_in_one_line(tmp_path: Path) -> None:
    table = tmp_path / "other.csv"
    pd.DataFrame({"a": [1]}).to_csv(table, index=False)
    figure = tmp_path / "f.png"
    result = runner.invoke(app, ["plot", str(table), "-o", str(figure)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: table = {str(table)!r}: ")
    assert not figure.exists()


def test_save_figure_writes_the_format_of_the_extension(tmp_path: Path) -> None:
    fig = plot_cells(_wide(1))
    assert save_figure(fig, tmp_path / "f.pdf").read_bytes()[:4] == b"%PDF"
