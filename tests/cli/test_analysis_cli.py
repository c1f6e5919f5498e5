"""``mscsim compare``, ``withdrawal`` and ``models`` from the command line (in process)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from tests.cli.test_cli import CLI, SCA, invoke

from mscsim.analysis import COMPARE_COLUMNS


def test_compare_split_writes_the_table_and_figure(tmp_path: Path) -> None:
    table, figure = tmp_path / "cmp.csv", tmp_path / "cmp.png"
    code, stdout, _ = invoke(
        "compare", CLI, "--split", "1,2,4", "-o", str(table), "--plot", str(figure)
    )
    assert code == 0, stdout
    frame = pd.read_csv(table)
    assert list(frame.columns) == list(COMPARE_COLUMNS)
    assert frame["n_doses"].tolist() == [1, 2, 4, 0]
    assert figure.stat().st_size > 10_000
    assert "untreated" in stdout and "perfusion_ratio" in stdout


def test_compare_several_scenarios(tmp_path: Path) -> None:
    code, stdout, _ = invoke("compare", CLI, CLI)
    assert code == 0
    assert "cli_bm_msc_im" in stdout


def test_withdrawal_json_has_stable_keys() -> None:
    code, stdout, _ = invoke("withdrawal", SCA, "--json")
    assert code == 0
    data = json.loads(stdout)
    assert set(data) == {"msc", "reference_drug"}
    for part in data.values():
        assert {"rebound", "fade_days", "tolerance_index", "outcome", "outcome_unit"} <= set(part)
    assert data["msc"]["rebound"] <= 1e-9 < 0.05 < data["reference_drug"]["rebound"]


def test_withdrawal_table_and_plot(tmp_path: Path) -> None:
    figure = tmp_path / "w.svg"
    code, stdout, _ = invoke("withdrawal", SCA, "--plot", str(figure), "--follow-up-days", "120")
    assert code == 0
    assert "tolerance index" in stdout and "reference drug" in stdout
    assert figure.read_text().startswith("<?xml")


def test_models_lists_every_disease_with_direction() -> None:
    code, stdout, _ = invoke("models", "--json")
    assert code == 0
    catalog = {m["name"]: m for m in json.loads(stdout)}
    assert catalog["msc_therapy[sca]"]["outcome"]["direction"] == "higher is worse"
    assert catalog["msc_therapy[limb_ischemia]"]["outcome"]["higher_is_worse"] is False
    assert catalog["msc_therapy[none]"]["outcome"] is None
    assert "reference_drug" in catalog
    code, stdout, _ = invoke("models")
    assert code == 0 and "inflammation_index" in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("compare", CLI, "--split", "1,x"), "--split = '1,x'"),
        (("compare", CLI, "--split", "0,2"), "--split = '0,2'"),
        (("compare", CLI, SCA, "--split", "2"), "exactly one scenario"),
        (("compare", CLI, "--split", "2", "--effect-threshold", "1.5"), "--effect-threshold"),
        (("compare", CLI, "--split", "2", "--plot", "f.gif"), "--plot = 'f.gif'"),
        (("compare", CLI, "--split", "2", "-o", "t.xlsx"), "t.xlsx"),
        (("withdrawal", CLI), "at least two administrations"),
        (("withdrawal", SCA, "--stop-day", "-5"), "stop_day = -5"),
        (("withdrawal", SCA, "--follow-up-days", "0"), "--follow-up-days = 0"),
    ],
)
def test_bad_requests_exit_2_with_one_line(args: tuple[str, ...], message: str) -> None:
    code, stdout, stderr = invoke(*args)
    assert code == 2
    assert stderr.count("\n") == 1 and message in stderr
    assert "Traceback" not in stderr + stdout
