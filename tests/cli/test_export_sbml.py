"""``mscsim export-sbml``: writes SBML atomically, refuses in one line with exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli.test_cli import SCA
from tests.cli.test_cli import invoke as invoke_cli

from mscsim.models import TherapyModel

libsbml = pytest.importorskip("libsbml")

LINEAR = """
[patient]
weight_kg = 70

[product]
source = "bone_marrow"
donor = "autologous"
viability = 0.9

[simulation]
horizon_days = 14
"""
DOSE = """
[[dose]]
route = "intravenous"
cells_per_kg = 1e6
day = 0
infusion_hours = 1
"""


def invoke(*args: str | Path) -> tuple[int, str, str]:
    return invoke_cli(*(str(a) for a in args))


def scenario(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "events"), [(LINEAR + DOSE, 2), (LINEAR, 0)])
def test_a_linear_scenario_is_written_as_valid_sbml(tmp_path: Path, text: str, events: int) -> None:
    out = tmp_path / "model.xml"
    code, stdout, stderr = invoke("export-sbml", scenario(tmp_path, text), "-o", out)
    assert (code, stderr) == (0, "")
    assert f"wrote {out}" in stdout
    doc = libsbml.readSBMLFromString(out.read_text())
    assert doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) == 0
    assert doc.getModel().getNumEvents() == events
    assert doc.getModel().getParameter("cells_total") is not None
    assert {p.name for p in tmp_path.iterdir()} == {"model.xml", "scenario.toml"}


def test_a_nonlinear_scenario_is_written_with_its_remainder(tmp_path: Path) -> None:
    out = tmp_path / "model.xml"
    code, stdout, stderr = invoke("export-sbml", SCA, "-o", out)
    assert (code, stderr) == (0, "")
    assert f"wrote {out}" in stdout
    model = libsbml.readSBMLFromString(out.read_text()).getModel()
    assert model.getNumEvents() == 8  # four one-hour infusions: starts and ends
    rules = {model.getRule(i).getVariable() for i in range(model.getNumRules())}
    assert {"effect", "sensitised_boost", "sara_underlying", "sara_improvement"} <= rules


def test_a_nonlinear_model_without_formulas_is_refused_in_one_line_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(TherapyModel, "remainder_formulas")
    out = tmp_path / "model.xml"
    code, _, stderr = invoke("export-sbml", SCA, "-o", out)
    assert code == 2
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert stderr.startswith("error: disease.model = 'sca': ")
    assert "product.donor = 'allogeneic'" in stderr
    assert stderr.rstrip().endswith("export-sbml writes it only when linear")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("scenario_path", "output", "message"),
    [
        ("missing.toml", "model.xml", "file not found"),
        (None, "model.csv", "unknown SBML format '.csv'"),
        (None, "file.txt/model.xml", "file.txt"),
    ],
)
def test_a_bad_path_is_refused_in_one_line(
    tmp_path: Path, scenario_path: str | None, output: str, message: str
) -> None:
    (tmp_path / "file.txt").write_text("not a directory")
    source = tmp_path / scenario_path if scenario_path else scenario(tmp_path, LINEAR + DOSE)
    code, _, stderr = invoke("export-sbml", source, "-o", tmp_path / output)
    assert code == 2
    assert stderr.count("\n") == 1 and stderr.startswith("error: ")
    assert message in stderr
    assert not list(tmp_path.glob("*.xml")) and not list(tmp_path.glob(".*partial*"))
