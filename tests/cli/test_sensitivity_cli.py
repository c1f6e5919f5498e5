"""``mscsim sensitivity`` from the command line (in process)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from tests.cli.test_cli import CLI, SCA, invoke

from mscsim.cli.sensitivity import SENSITIVITY_FILES


@pytest.mark.slow
def test_sobol_writes_the_indices_and_the_figure(tmp_path: Path) -> None:
    out = tmp_path / "sens"
    code, _, stderr = invoke(
        "sensitivity", SCA, "--summary", "outcome_change", "--n", "8",
        "--parameters", "homing_fraction,effect_ec50_ng", "-o", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(SENSITIVITY_FILES)
    frame = pd.read_csv(out / "indices.csv")
    assert list(frame.columns) == ["parameter", "S1", "S1_conf", "ST", "ST_conf"]
    assert frame["parameter"].tolist() == ["homing_fraction", "effect_ec50_ng"]
    assert "sobol: 32 simulations of outcome_change over 2 parameters" in stderr
    assert (out / "sensitivity.png").stat().st_size > 5_000


@pytest.mark.slow
def test_morris_writes_screening_measures(tmp_path: Path) -> None:
    out = tmp_path / "sens"
    code, _, stderr = invoke(
        "sensitivity", CLI, "--summary", "effect_auc", "--method", "morris", "--n", "3",
        "--parameters", "homing_fraction,target_half_life_days", "-o", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    frame = pd.read_csv(out / "indices.csv")
    assert list(frame.columns) == ["parameter", "mu", "mu_star", "mu_star_conf", "sigma"]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--summary", "auc"], "error: summary = 'auc': one of effect_auc, outcome_change"),
        (
            ["--summary", "effect_auc", "--n", "100"],
            "error: --n = 100: Sobol sampling needs a power of 2",
        ),
        (
            ["--summary", "effect_auc", "--n", "0"],
            "error: --n = 0: must be a whole number from 1 to 65,536",
        ),
        (
            ["--summary", "effect_auc", "--n", "16384"],
            "error: --n = 16384: sobol with 21 parameters needs 376,832 simulations",
        ),
        (
            ["--summary", "effect_auc", "--parameters", "nope"],
            "error: parameters = nope: not a parameter of the model",
        ),
        (["--summary", "effect_auc", "--seed", "-1"], "error: --seed = -1: must be >= 0"),
        (["--summary", "trial_power"], "error: endpoint: missing"),
        (
            ["--summary", "effect_auc", "--day", "30"],
            "error: summary day = 30: only for outcome_change",
        ),
        (
            ["--summary", "effect_auc", "--method", "fast"],
            "error: --method = 'fast': must be one of sobol, morris",
        ),
    ],
)
def test_bad_requests_exit_2_with_one_line(tmp_path: Path, args: list[str], line: str) -> None:
    out = tmp_path / "sens"
    code, _, stderr = invoke("sensitivity", SCA, *args, "-o", str(out))
    assert code == 2
    assert stderr.strip().splitlines()[-1].startswith(line), stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert not out.exists()
