"""``--model FILE.py:ClassName``: the command line runs a user model (in process)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from examples.user_model import DEPOT_PARAMETERS, bateman
from tests.cli.test_cli import CLI, EXAMPLES, SCA, invoke

from mscsim.io.models import load_model, model_members
from mscsim.models.base import Model

USER_MODEL = EXAMPLES / "user_model.py"
DEPOT = f"{USER_MODEL}:LocalDepot"


WEEKLY = """
[patient]
weight_kg = 70

[product]
source = "bone_marrow"
donor = "autologous"
viability = 1.0

[[dose]]
route = "intramuscular"
cells = 4e7
every_days = 7
count = 4

[simulation]
horizon_days = 42
"""


@pytest.fixture
def scored() -> str:
    """A user model file with a scored depot: ``FILE.py:ScoredDepot``."""
    return f"{Path(__file__).resolve().parents[1] / 'scored_depot.py'}:ScoredDepot"


def test_simulate_writes_the_user_models_outputs_and_they_match_its_closed_form(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.csv"
    code, stdout, stderr = invoke("simulate", CLI, "--model", DEPOT, "-o", str(out))
    assert code == 0, stderr
    frame = pd.read_csv(out)
    assert list(frame.columns) == [
        "patient_id",
        "time_day",
        "cells_depot",
        "cells_engrafted",
        "cells_total",
    ]
    p = {q.name: q.value for q in DEPOT_PARAMETERS}
    kd, ke = p["depot_death_per_day"], p["engraftment_per_day"]
    kg = math.log(2) / p["engrafted_half_life_days"]
    dose = 2e6 * 70 * 0.90  # cells_per_kg x weight x viability of examples/cli_bm_msc_im.toml
    t = frame["time_day"].to_numpy()
    np.testing.assert_allclose(frame["cells_depot"], dose * np.exp(-(kd + ke) * t), rtol=1e-6)
    np.testing.assert_allclose(
        frame["cells_engrafted"], bateman(t, dose, kd, ke, kg), rtol=1e-6, atol=1e-3
    )
    assert "engrafted" in stdout and "depot" in stdout  # the viable-cell summary names its pools


def test_simulate_summary_without_cell_outputs_says_so(tmp_path: Path) -> None:
    path = tmp_path / "plain.py"
    path.write_text(
        USER_MODEL.read_text()
        + "\n\nclass Plain(LocalDepot):\n"
        + "    output_names = ('depot', 'engrafted')\n\n"
        + "    def outputs(self, y, params):\n"
        + "        return {'depot': y[0], 'engrafted': y[1]}\n"
    )
    out = tmp_path / "out.csv"
    code, stdout, stderr = invoke("simulate", CLI, "--model", f"{path}:Plain", "-o", str(out))
    assert code == 0, stderr
    assert "no cells_* outputs" in stdout
    assert list(pd.read_csv(out).columns) == ["patient_id", "time_day", "depot", "engrafted"]
    code, stdout, _ = invoke("simulate", CLI, "--model", f"{path}:Plain", "-o", str(out), "--json")
    assert code == 0 and json.loads(stdout)["cells"] == []


def test_compare_split_runs_the_user_model(tmp_path: Path, scored: str) -> None:
    table = tmp_path / "cmp.csv"
    code, stdout, stderr = invoke(
        "compare", CLI, "--split", "1,2", "--model", scored, "-o", str(table)
    )
    assert code == 0, stderr
    frame = pd.read_csv(table)
    assert frame["regimen"].tolist()[-1] == "untreated"
    np.testing.assert_allclose(frame["total_viable_cells"].iloc[:2], 1.26e8, rtol=1e-12)
    assert (frame["effect_auc"].iloc[:2] > 0).all() and frame["effect_auc"].iloc[-1] == 0
    assert "outcome score" in stdout


def test_withdrawal_and_plot_run_the_user_model(tmp_path: Path, scored: str) -> None:
    scenario = tmp_path / "weekly.toml"
    scenario.write_text(WEEKLY)
    code, stdout, stderr = invoke(
        "withdrawal", str(scenario), "--model", scored, "--follow-up-days", "30", "--json"
    )
    assert code == 0, stderr
    assert json.loads(stdout)["msc"]["outcome"] == "score"
    figure = tmp_path / "depot.svg"
    code, _, stderr = invoke("plot", str(scenario), "--model", DEPOT, "-o", str(figure))
    assert code == 0, stderr
    assert figure.read_text().startswith("<?xml")


def _refusal(tmp_path: Path, *args: str) -> str:
    """Run a command that must be refused: one line, exit 2, no file left behind."""
    code, stdout, stderr = invoke(*args)
    assert code == 2, stdout + stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --model = "), stderr
    assert "Traceback" not in stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix not in (".py", ".txt")) == []
    return lines[0]


def _write(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: f"{d}/nowhere.py:LocalDepot", "file not found"),
        (lambda d: f"{_write(d, 'model.txt', 'x = 1')}:LocalDepot", "is not a Python (.py) file"),
        (lambda d: str(USER_MODEL), "no colon between the file and the class"),
        (lambda d: f"{USER_MODEL}:Nope", "no class 'Nope' in user_model.py; classes there: "),
        (lambda d: f"{USER_MODEL}:bateman", "not a class: 'bateman'"),
        (
            lambda d: f"{_write(d, 'broken.py', 'raise RuntimeError(chr(98) * 2)')}:M",
            "running broken.py raised RuntimeError (bb); fix the file",
        ),
        (
            lambda d: f"{_write(d, 'syntax.py', 'class M(:')}:M",
            "running syntax.py raised SyntaxError",
        ),
        (
            lambda d: (
                _write(d, "needy.py", "class M:\n    def __init__(self, x):\n        pass\n") + ":M"
            ),
            "M() raised TypeError (",
        ),
        (
            lambda d: _write(d, "empty.py", "class M:\n    name = 1\n") + ":M",
            "not a model, it lacks ",
        ),
    ],
    ids=[
        "missing-file",
        "not-py",
        "no-colon",
        "no-class",
        "not-a-class",
        "import-raises",
        "syntax-error",
        "construction-raises",
        "not-a-model",
    ],
)
def test_simulate_refuses_a_bad_model_in_one_line(
    tmp_path: Path, make: object, expected: str
) -> None:
    assert callable(make)
    spec = make(tmp_path)
    line = _refusal(tmp_path, "simulate", CLI, "--model", spec, "-o", str(tmp_path / "out.csv"))
    assert f"--model = {spec!r}: " in line and expected in line


def test_each_command_refuses_a_model_without_the_outputs_it_needs(tmp_path: Path) -> None:
    line = _refusal(
        tmp_path, "withdrawal", SCA, "--model", DEPOT, "--plot", str(tmp_path / "w.svg")
    )
    assert "withdrawal needs the output effect and an outcome" in line
    assert "LocalDepot has outputs cells_depot, cells_engrafted, cells_total" in line
    line = _refusal(tmp_path, "compare", CLI, "--split", "1,2", "--model", DEPOT)
    assert "compare needs the output effect and the output cells_target or " in line
    line = _refusal(
        tmp_path, "simulate", CLI, "--model", DEPOT, "-o", str(tmp_path / "o.csv"),
        "--doses-out", str(tmp_path / "d.csv"),
    )  # fmt: skip
    assert "--doses-out needs the output total_exposure_cell_days" in line


def test_plot_of_a_table_refuses_model(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    assert invoke("simulate", CLI, "-o", str(table))[0] == 0
    code, _, stderr = invoke("plot", str(table), "--model", DEPOT, "-o", str(tmp_path / "f.png"))
    assert code == 2 and stderr.strip() == "error: --model: only used with a scenario file (.toml)"
    assert not (tmp_path / "f.png").exists()


def test_help_says_the_file_is_executed() -> None:
    for command in ("simulate", "plot", "compare", "withdrawal", "trial"):
        code, stdout, _ = invoke(command, "--help")
        assert code == 0 and "--model" in stdout
        assert "executed as Python" in " ".join(stdout.split())


def test_load_model_resolves_a_relative_file_and_checks_the_protocol(tmp_path: Path) -> None:
    model = load_model("user_model.py:LocalDepot", base_dir=EXAMPLES)
    assert isinstance(model, Model) and model.name == "local_depot"
    assert {"name", "states", "outputs", "linear_system", "dose_split"} <= set(model_members())


TRIAL = """
[trial]
replicates = 10
seed = 1

[endpoint]
output = "score"
day = 14

[measurement]
additive_sd = 0.1

[[arm]]
name = "treated"
n = 6
scenario = "weekly.toml"

[[arm]]
name = "control"
n = 6
placebo = true
scenario = "weekly.toml"
"""


def test_trial_runs_every_arm_on_the_user_model(tmp_path: Path, scored: str) -> None:
    (tmp_path / "weekly.toml").write_text(WEEKLY + "\n[population]\nseed = 2\n")
    (tmp_path / "trial.toml").write_text(TRIAL)
    folder = tmp_path / "out"
    code, stdout, stderr = invoke(
        "trial", str(tmp_path / "trial.toml"), "--model", scored, "-o", str(folder), "--json"
    )
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["true_effect"] < -0.3 and summary["power"] == 1.0
    code, _, stderr = invoke(
        "trial", str(tmp_path / "trial.toml"), "--model", DEPOT, "-o", str(tmp_path / "no")
    )
    assert code == 2 and "endpoint.output = 'score' needs the output score" in stderr
    assert not (tmp_path / "no").exists()
