"""`mscsim simulate` with the organ kinetics: every species, every route, label outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mscsim.cli.main import app
from mscsim.spec.route import Route

runner = CliRunner()

CELLS = ["cells_lung", "cells_liver", "cells_spleen", "cells_kidney", "cells_blood"]
CELLS += ["cells_target", "cells_total"]
LABELS = [f"label_fraction_{o}" for o in ("lung", "liver", "spleen", "kidney", "blood", "target")]
DOSE = {"mouse": 2e6, "rat": 4e6, "human": 5e7}


def scenario(
    tmp_path: Path,
    species: str,
    route: str = "intravenous",
    *,
    label: str | None = "indium_111",
    donor: str = "allogeneic",
    doses: int = 1,
    extra: str = "",
) -> Path:
    path = tmp_path / f"{species}_{route}.toml"
    label_table = f'[label]\nkind = "{label}"\n' if label else ""
    dose_table = (
        f'[[dose]]\nroute = "{route}"\ncells = {DOSE[species]:g}\nday = 0\n'
        f"count = {doses}\nevery_days = 7\n"
        if doses
        else ""
    )
    path.write_text(
        f'[model]\nkinetics = "organs"\n{label_table}'
        f'[patient]\nspecies = "{species}"\n{extra}'
        f'[product]\nsource = "bone_marrow"\ndonor = "{donor}"\nviability = 0.9\n'
        f"{dose_table}"
        "[simulation]\nhorizon_days = 14\noutput_every_days = 0.5\n"
    )
    return path


def simulate(path: Path, out: Path, *args: str) -> pd.DataFrame:
    result = runner.invoke(app, ["simulate", str(path), "-o", str(out), *args])
    assert result.exit_code == 0, result.stderr
    return pd.read_csv(out)


@pytest.mark.parametrize("species", ["mouse", "rat", "human"])
@pytest.mark.parametrize("route", [r.value for r in Route])
def test_every_species_and_route_writes_cells_and_label_by_organ(
    tmp_path: Path, species: str, route: str
) -> None:
    frame = simulate(scenario(tmp_path, species, route), tmp_path / "out.csv")
    assert set(CELLS + LABELS) <= set(frame.columns)
    labels = frame[LABELS].to_numpy()
    assert np.all((labels >= 0) & (labels <= 1 + 1e-9))
    assert frame["cells_total"].iloc[0] > 0
    assert frame["label_fraction_total"].iloc[-1] <= 1 + 1e-9
    if Route(route).is_local:  # cells stay at the site, nothing reaches the lung at once
        assert frame["cells_target"].iloc[1] > frame["cells_lung"].iloc[1]
    elif route == "intravenous":
        assert frame["cells_lung"].iloc[1] > 0.5 * frame["cells_total"].iloc[1]


def test_the_untreated_animal_has_no_cells_and_no_label(tmp_path: Path) -> None:
    frame = simulate(scenario(tmp_path, "mouse", doses=0), tmp_path / "out.csv")
    assert (frame[CELLS + LABELS].to_numpy() == 0).all()


def test_many_patients_and_a_weight_at_the_species_bounds(tmp_path: Path) -> None:
    small = scenario(tmp_path, "mouse", extra="weight_kg = 0.005\n")
    frame = simulate(small, tmp_path / "small.csv", "--n-patients", "3")
    assert frame["patient_id"].nunique() == 3
    large = scenario(tmp_path, "rat", extra="weight_kg = 1.0\n")
    assert len(simulate(large, tmp_path / "large.csv")) == 29


def test_the_reduced_kinetics_stay_the_default(tmp_path: Path) -> None:
    path = tmp_path / "reduced.toml"
    path.write_text(
        '[patient]\nweight_kg = 70\n[product]\nsource = "bone_marrow"\ndonor = "autologous"\n'
        '[[dose]]\nroute = "intravenous"\ncells = 1e8\nday = 0\n'
        "[simulation]\nhorizon_days = 3\n"
    )
    frame = simulate(path, tmp_path / "out.csv")
    assert "cells_liver_spleen" in frame.columns
    assert "cells_liver" not in frame.columns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[patient]\nspecies = "dog"\n', "species"),
        ('[patient]\nspecies = "mouse"\nweight_kg = 70\n', "weight_kg = 70: a mouse weighs"),
        ('[label]\nkind = "indium_111"\n[patient]\nweight_kg = 70\n', "label.kind"),
        ('[patient]\nspecies = "rat"\n', "patient.species = 'rat': needs"),
        ('[model]\nkinetics = "pbpk"\n[patient]\nweight_kg = 70\n', "kinetics"),
        ('[model]\nkinetics = "organs"\n[label]\nkind = "gold"\n[patient]\n', "kind"),
    ],
)
def test_bad_model_tables_exit_2_with_one_line_naming_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        text + '[product]\nsource = "bone_marrow"\ndonor = "autologous"\n'
        "[simulation]\nhorizon_days = 3\n"
    )
    result = runner.invoke(app, ["simulate", str(path), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "o.csv").exists()


def test_an_animal_dose_gets_no_human_verdict(tmp_path: Path) -> None:
    huge = tmp_path / "huge.toml"
    text = scenario(tmp_path, "mouse").read_text().replace("cells = 2e+06", "cells = 5e9")
    huge.write_text(text.replace("cells = 2e6", "cells = 5e9"))
    result = runner.invoke(app, ["simulate", str(huge), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 0, result.stderr
    assert "beyond" not in result.stderr
