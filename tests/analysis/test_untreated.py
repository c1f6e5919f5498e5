"""The untreated course: every analysis either runs it or refuses in one line naming `dose`."""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mscsim.analysis import compare_scenarios, compare_splits, withdrawal
from mscsim.analysis.doses import DOSE_COLUMNS, simulate_course, simulate_with_dose_exposures
from mscsim.cli.main import app
from mscsim.errors import SpecError
from mscsim.io.scenario import load_scenario
from mscsim.population import simulate_population
from mscsim.report.summary import course_cell_summary
from mscsim.spec.scenario import Scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DOSES = re.compile(r"^\[\[dose\]\]\n(?:[^\[\n].*\n|\n)*", re.MULTILINE)


def _untreated(source: Path, target: Path) -> Path:
    """Write ``source`` without its ``[[dose]]`` tables to ``target``."""
    text, n = DOSES.subn("", source.read_text())
    assert n >= 1
    target.write_text(text)
    return target


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """Untreated copies of the SCA example and of the trial's arm, with what they read."""
    shutil.copy(EXAMPLES / "uc_msc_lot.toml", tmp_path)
    shutil.copy(EXAMPLES / "sca_uc_msc_iv.toml", tmp_path / "treated.toml")
    shutil.copy(EXAMPLES / "sca_trial_arm.toml", tmp_path)
    trial = (EXAMPLES / "sca_trial.toml").read_text()
    (tmp_path / "trial.toml").write_text(
        trial.replace('scenario = "sca_trial_arm.toml"', 'scenario = "untreated_arm.toml"', 1)
    )
    return {
        "untreated": _untreated(EXAMPLES / "sca_uc_msc_iv.toml", tmp_path / "untreated.toml"),
        "arm": _untreated(EXAMPLES / "sca_trial_arm.toml", tmp_path / "untreated_arm.toml"),
        "treated": tmp_path / "treated.toml",
        "trial": tmp_path / "trial.toml",
        "dir": tmp_path,
    }


CLI_CASES: dict[str, tuple[list[str], int]] = {
    "simulate": (["simulate", "{untreated}", "-o", "{dir}/o.csv"], 0),
    "simulate --doses-out": (
        ["simulate", "{untreated}", "-o", "{dir}/o.csv", "--doses-out", "{dir}/d.csv"],
        0,
    ),
    "compare": (["compare", "{untreated}", "{treated}", "-o", "{dir}/c.csv"], 0),
    "compare --split": (["compare", "{untreated}", "--split", "1,2"], 2),
    "withdrawal": (["withdrawal", "{untreated}"], 2),
    "withdrawal --stop-day": (["withdrawal", "{untreated}", "--stop-day", "30"], 2),
    "trial, an untreated arm": (["trial", "{trial}", "-o", "{dir}/trial", "--replicates", "2"], 0),
    "population": (["simulate", "{arm}", "-o", "{dir}/p.csv", "--n-patients", "3"], 0),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_every_command_runs_an_untreated_scenario_or_refuses_naming_dose(
    case: str, files: dict[str, Path]
) -> None:
    template, expected = CLI_CASES[case]
    args = [a.format(**{k: str(v) for k, v in files.items()}) for a in template]
    result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == expected, result.stdout + result.stderr
    if expected == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: dose"), result.stderr


def test_simulate_prints_no_cell_and_writes_an_empty_dose_table(files: dict[str, Path]) -> None:
    out, doses = files["dir"] / "o.csv", files["dir"] / "d.csv"
    result = CliRunner().invoke(
        app, ["simulate", str(files["untreated"]), "-o", str(out), "--doses-out", str(doses)]
    )
    assert result.exit_code == 0, result.stderr
    assert "never" in result.stdout
    table = pd.read_csv(doses)
    assert list(table.columns) == list(DOSE_COLUMNS) and table.empty
    assert (pd.read_csv(out).filter(like="cells_") == 0).all().all()


def _course(path: Path) -> object:
    course = simulate_course(load_scenario(path))
    summary = course_cell_summary(course)
    assert (summary["peak_cells"] == 0).all()
    assert summary["last_day_with_a_cell"].isna().all()
    return course


def _exposures(path: Path) -> object:
    result, table = simulate_with_dose_exposures(load_scenario(path))
    assert table.empty and list(table.columns) == list(DOSE_COLUMNS)
    return result


def _compare(path: Path) -> object:
    table = compare_scenarios(
        [load_scenario(path), load_scenario(path.with_name("treated.toml"))]
    ).table
    assert table.shape[0] >= 2
    return table


def _population(path: Path) -> object:
    chunks = list(simulate_population(load_scenario(path), n_patients=3))
    cells = pd.concat([c.result.to_frame() for c in chunks])["cells_total"]
    assert (cells == 0).all()
    return chunks


def _refused(call: Callable[[Scenario], object]) -> Callable[[Path], object]:
    def run(path: Path) -> object:
        with pytest.raises(SpecError, match=r"^dose\b"):
            call(load_scenario(path))
        return None

    return run


PYTHON_CASES: dict[str, tuple[str, Callable[[Path], object]]] = {
    "simulate_course": ("untreated", _course),
    "simulate_with_dose_exposures": ("untreated", _exposures),
    "compare_scenarios": ("untreated", _compare),
    "compare_splits": ("untreated", _refused(compare_splits)),
    "withdrawal": ("untreated", _refused(withdrawal)),
    "simulate_population": ("arm", _population),
}


@pytest.mark.parametrize("case", list(PYTHON_CASES))
def test_every_analysis_function_runs_an_untreated_scenario_or_refuses_naming_dose(
    case: str, files: dict[str, Path]
) -> None:
    which, check = PYTHON_CASES[case]
    check(files[which])


def test_the_untreated_course_keeps_its_disease_course(files: dict[str, Path]) -> None:
    result = simulate_course(load_scenario(files["untreated"])).result
    sara = result.output("sara_score")[0]
    assert math.isclose(float(sara[0]), 13.0) and sara[-1] > sara[0]
