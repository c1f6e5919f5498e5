"""``mscsim fit`` from the command line: files, summary, refusals (in process, one subprocess)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.cli.test_cli import EXAMPLES as EXAMPLES_DIR
from tests.cli.test_cli import invoke
from tests.io.test_nonmem import MALFORMED

from mscsim.analysis.fit import simulate_observations
from mscsim.analysis.observation import ResidualError
from mscsim.io.nonmem import write_nonmem
from mscsim.io.scenario import load_scenario
from mscsim.problem import Observations, problem_from_scenario

SCENARIO = """\
[patient]
weight_kg = 70

[product]
source = "bone_marrow"
donor = "autologous"
viability = 1.0

[[dose]]
route = "intramuscular"
cells = 5e7
day = 0

[simulation]
horizon_days = 28
output_every_days = 1

[parameters]
target_capacity_cells = inf
"""
TRUTH = {"target_half_life_days": 3.0, "early_loss_fraction": 0.4}
TIMES = (0.1, 1.0, 2.0, 4.0, 7.0, 14.0, 21.0, 28.0)
ESTIMATE = ",".join(TRUTH)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A scenario and a dataset of 5 patients simulated at :data:`TRUTH` (20% error)."""
    folder = tmp_path_factory.mktemp("fit")
    scenario = folder / "base.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    problem = problem_from_scenario(load_scenario(scenario), n_patients=5)
    n = problem.n_patients
    design = Observations.of(
        np.repeat(np.arange(n), len(TIMES)), np.tile(TIMES, n), "cells_target", 1.0
    )
    error = ResidualError("proportional", proportional=0.2)
    values = simulate_observations(problem, design, TRUTH, error, rng=11)[0]
    observations = Observations.of(design.patient, design.time_day, design.output, values)
    data = folder / "data.csv"
    data.write_text(write_nonmem(problem, observations), encoding="utf-8")
    return str(data), str(scenario)


@pytest.mark.slow
def test_fit_writes_estimates_summary_and_diagnostics(
    files: tuple[str, str], tmp_path: Path
) -> None:
    data, scenario = files
    out = tmp_path / "fit"
    code, stdout, stderr = invoke(
        "fit", data, "--scenario", scenario, "--estimate", ESTIMATE, "-o", str(out)
    )
    assert code == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "estimates.csv",
        "fit.json",
        "gof.png",
        "vpc.png",
    ]
    frame = pd.read_csv(out / "estimates.csv")
    assert list(frame.columns[:4]) == ["parameter", "estimate", "ci_low", "ci_high"]
    assert list(frame["parameter"]) == [*TRUTH, "sigma_prop"]
    rows = frame.set_index("parameter")
    for name, truth in TRUTH.items():
        assert rows.loc[name, "ci_low"] < rows.loc[name, "estimate"] < rows.loc[name, "ci_high"]
        assert rows.loc[name, "estimate"] == pytest.approx(truth, rel=0.15)
    summary = json.loads((out / "fit.json").read_text())
    assert {"objective", "converged", "n_observations", "n_subjects"} <= set(summary)
    assert summary["n_observations"] == 5 * len(TIMES)
    assert summary["n_subjects"] == 5
    assert summary["converged"] is True
    assert math.isfinite(summary["objective"])
    for figure in ("gof.png", "vpc.png"):
        assert (out / figure).read_bytes()[:4] == b"\x89PNG"
        assert (out / figure).stat().st_size > 10_000
    assert "target_half_life_days" in stdout and "wrote" in stdout
    assert not list(tmp_path.glob(".*.mscsim-partial-*"))


@pytest.mark.slow
def test_fit_json_prints_the_summary_with_the_contract_keys(
    files: tuple[str, str], tmp_path: Path
) -> None:
    data, scenario = files
    code, stdout, _ = invoke(
        "fit", data, "--scenario", scenario, "--estimate", "target_half_life_days",
        "--error", "additive", "-o", str(tmp_path / "f"), "--json",
    )  # fmt: skip
    assert code == 0
    summary = json.loads(stdout)
    assert summary["error_model"] == "additive"
    assert list(summary["estimates"]) == ["target_half_life_days", "sigma_add"]
    assert isinstance(summary["converged"], bool)


@pytest.mark.slow
def test_fit_population_writes_omega_rows(files: tuple[str, str], tmp_path: Path) -> None:
    data, scenario = files
    out = tmp_path / "pop"
    code, _, stderr = invoke(
        "fit", data, "--scenario", scenario, "--estimate", "target_half_life_days",
        "--population", "-o", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    frame = pd.read_csv(out / "estimates.csv")
    assert "omega_target_half_life_days" in set(frame["parameter"])
    summary = json.loads((out / "fit.json").read_text())
    assert summary["method"] == "population"
    assert summary["n_subjects"] == 5


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--estimate", "no_such_rate"],
            "error: estimate = 'no_such_rate': not a parameter of the model",
        ),
        (["--estimate", "a,,a"], "error: --estimate = 'a,,a': give distinct parameter names"),
        (
            ["--estimate", "target_half_life_days", "--vpc-replicates", "0"],
            "error: --vpc-replicates = 0: must be from 1 to 10000",
        ),
        (
            ["--estimate", "target_half_life_days", "--population", "--prior", "library"],
            "error: --prior = library: only for individual fits",
        ),
        (
            ["--estimate", "target_half_life_days", "--error", "gamma"],
            "error: --error = 'gamma': must be one of additive, proportional, combined",
        ),
    ],
)
def test_fit_refuses_a_bad_request_in_one_line_with_status_2(
    files: tuple[str, str], tmp_path: Path, args: list[str], line: str
) -> None:
    data, scenario = files
    out = tmp_path / "out"
    code, _, stderr = invoke("fit", data, "--scenario", scenario, *args, "-o", str(out))
    assert code == 2
    assert stderr.startswith(line), stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_fit_refuses_a_missing_dataset(files: tuple[str, str], tmp_path: Path) -> None:
    _, scenario = files
    missing = tmp_path / "none.csv"
    code, _, stderr = invoke(
        "fit", str(missing), "--scenario", scenario, "--estimate", ESTIMATE,
        "-o", str(tmp_path / "o"),
    )  # fmt: skip
    assert code == 2
    assert stderr.strip().splitlines() == [f"error: dataset = {str(missing)!r}: no such file"]


def test_fit_refuses_a_directory_holding_other_files(
    files: tuple[str, str], tmp_path: Path
) -> None:
    data, scenario = files
    (tmp_path / "notes.txt").write_text("mine")
    code, _, stderr = invoke(
        "fit", data, "--scenario", scenario, "--estimate", ESTIMATE, "-o", str(tmp_path)
    )
    assert code == 2
    assert "holds files mscsim did not write ('notes.txt')" in stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_fit_runs_as_an_installed_command(files: tuple[str, str], tmp_path: Path) -> None:
    data, scenario = files
    out = tmp_path / "sub"
    done = subprocess.run(
        [sys.executable, "-m", "mscsim", "fit", data, "--scenario", scenario,
         "--estimate", "target_half_life_days", "-o", str(out), "--vpc-replicates", "20"],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "fit.json").read_text())["n_subjects"] == 5


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_every_malformed_dataset_exits_2_with_its_one_line(tmp_path: Path, case: str) -> None:
    text, message = MALFORMED[case]
    data = tmp_path / "bad.csv"
    data.write_text(text, encoding="utf-8")
    sca = str(EXAMPLES_DIR / "sca_uc_msc_iv.toml")
    out = tmp_path / "out"
    code, _, stderr = invoke(
        "fit", str(data), "--scenario", sca, "--estimate", "target_half_life_days", "-o", str(out)
    )
    assert code == 2
    assert stderr == f"error: {message}\n"
    assert not out.exists()
