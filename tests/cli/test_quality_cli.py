"""``mscsim qc``, ``sources``, lots in scenarios and ``simulate --doses-out``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from tests.cli.test_cli import EXAMPLES, SCA, invoke

from mscsim.analysis import DOSE_COLUMNS

GOOD_LOT = EXAMPLES / "uc_msc_lot.toml"
FAILING_LOT = EXAMPLES / "failing_lot.toml"

SCENARIO = """
[patient]
weight_kg = 70

[product]
source = "bone_marrow"
donor = "allogeneic"
lot = "lot.toml"

[[dose]]
route = "intravenous"
cells_per_kg = 1e6
every_days = 30
count = 3

[simulation]
horizon_days = 120
"""


def scenario_with_lot(tmp_path: Path, lot_text: str) -> str:
    """Write a scenario and, beside it, the lot it names (a relative path)."""
    (tmp_path / "lot.toml").write_text(lot_text)
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO)
    return str(path)


def test_qc_of_a_good_lot_exits_0() -> None:
    code, stdout, _ = invoke("qc", str(GOOD_LOT), "--cells", "7e7", "--weight-kg", "70")
    assert code == 0
    assert "passes all 13 release criteria" in stdout
    assert "FAIL" not in stdout


def test_qc_of_a_failing_lot_exits_1_with_one_line_per_failing_criterion() -> None:
    code, stdout, _ = invoke("qc", str(FAILING_LOT), "--weight-kg", "50")
    assert code == 1
    fails = [line for line in stdout.splitlines() if line.startswith("FAIL ")]
    assert fails == [
        "FAIL viability: 64% (requires >= 70%)",
        "FAIL endotoxin: 8 EU/kg/h = 4 EU/mL x 100 mL (whole product) / 50 kg / 1 h "
        "(requires <= 5 EU/kg/h)",
        "FAIL CD105+: 91% (requires >= 95%)",
        "FAIL HLA-DR-: 3.5% (requires <= 2%)",
    ]
    assert "fails 4 of 13 release criteria: viability, endotoxin, CD105+, HLA-DR-" in stdout


def test_qc_json_lists_every_criterion() -> None:
    code, stdout, _ = invoke("qc", str(FAILING_LOT), "--json")
    assert code == 1
    data = json.loads(stdout)
    assert data["passed"] is False
    status = {c["criterion"]: c["status"] for c in data["criteria"]}
    assert status["viability"] == "fail" and status["endotoxin"] == "not assessed"


BAD_LOTS = [
    (
        "percent above 100",
        ("viability_percent = 92", "viability_percent = 150"),
        "lot '{path}': viability_percent = 150: must be less than or equal to 100",
    ),
    (
        "unknown marker",
        ("CD90 = 98", "CD99 = 98"),
        "lot '{path}': markers_positive_percent.CD99: unknown marker; allowed: CD73, CD90, CD105",
    ),
    (
        "bad sterility",
        ('sterility = "negative"', 'sterility = "clean"'),
        "lot '{path}': sterility = 'clean': must be 'negative' or 'positive'",
    ),
    (
        "missing field",
        ('mycoplasma = "negative"\n', ""),
        "lot '{path}': mycoplasma: missing; this key is required",
    ),
    (
        "typo",
        ("passage = 4", "pasage = 4"),
        "lot '{path}': pasage = 4: unknown key; allowed keys here: lot_id, source, viability_percent",
    ),
]


@pytest.mark.parametrize(("case", "change", "message"), BAD_LOTS, ids=[b[0] for b in BAD_LOTS])
def test_qc_of_a_malformed_lot_exits_2_with_one_line(
    tmp_path: Path, case: str, change: tuple[str, str], message: str
) -> None:
    path = tmp_path / "lot.toml"
    text = GOOD_LOT.read_text()
    assert change[0] in text
    path.write_text(text.replace(*change))
    code, stdout, stderr = invoke("qc", str(path))
    assert code == 2 and stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: " + message.format(path=path))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.toml"], "lot = 'missing.toml': file not found"),
        (
            [str(GOOD_LOT), "--weight-kg", "-3"],
            "--weight-kg = -3: must be a body weight from 0.3 to 400 kg",
        ),
        ([str(GOOD_LOT), "--cells", "0"], "--cells = 0: must be > 0"),
    ],
)
def test_qc_bad_arguments_exit_2(args: list[str], message: str) -> None:
    code, _, stderr = invoke("qc", *args)
    assert code == 2 and stderr == f"error: {message}\n"


def test_a_failing_lot_blocks_simulate(tmp_path: Path) -> None:
    out = tmp_path / "o.csv"
    code, stdout, stderr = invoke(
        "simulate", scenario_with_lot(tmp_path, FAILING_LOT.read_text()), "-o", str(out)
    )
    assert code == 2 and stdout == "" and not out.exists()
    assert stderr.startswith("error: product.lot: lot 'BM-2026-003' fails 4 of 13")
    assert "--allow-failed-lot" in stderr and len(stderr.splitlines()) == 1


def test_allow_failed_lot_simulates_the_lot_with_a_warning(tmp_path: Path) -> None:
    out = tmp_path / "o.csv"
    code, stdout, stderr = invoke(
        "simulate",
        scenario_with_lot(tmp_path, FAILING_LOT.read_text()),
        "-o",
        str(out),
        "--allow-failed-lot",
    )
    assert code == 0 and out.exists()
    assert stderr.startswith("warning: product.lot: lot 'BM-2026-003' fails 4 of 13")
    assert "viability 0.64 (from the lot)" in stdout


def test_a_lot_named_by_a_scenario_is_read_relative_to_it(tmp_path: Path) -> None:
    lot_text = GOOD_LOT.read_text().replace('"umbilical_cord"', '"bone_marrow"')
    code, stdout, _ = invoke(
        "simulate", scenario_with_lot(tmp_path, lot_text), "-o", str(tmp_path / "o.csv")
    )
    assert code == 0
    assert "viability 0.92 (from the lot)" in stdout


def test_a_malformed_lot_in_a_scenario_names_the_scenario_field(tmp_path: Path) -> None:
    lot_text = GOOD_LOT.read_text().replace("viability_percent = 92", "viability_percent = 0")
    code, _, stderr = invoke(
        "simulate", scenario_with_lot(tmp_path, lot_text), "-o", str(tmp_path / "o.csv")
    )
    assert code == 2
    assert stderr == "error: product.lot: viability_percent = 0: must be greater than 0\n"


def test_doses_out_writes_one_row_per_patient_and_dose(tmp_path: Path) -> None:
    out, doses = tmp_path / "o.csv", tmp_path / "doses.parquet"
    code, stdout, _ = invoke(
        "simulate", SCA, "-o", str(out), "--doses-out", str(doses), "--n-patients", "2"
    )
    assert code == 0, stdout
    frame = pd.read_parquet(doses)
    assert list(frame.columns) == list(DOSE_COLUMNS)
    assert len(frame) == 2 * 4
    assert frame["day"].tolist()[:4] == [0, 90, 180, 270]
    # Allogeneic cells: the host's memory makes later doses deliver less.
    first = frame[frame["patient_id"] == 0]["exposure_cell_days"].to_numpy()
    assert (first[1:] < first[0]).all()
    assert "exposure per dose" in stdout
    # The main table keeps the scenario's own output times.
    assert len(pd.read_csv(out)) == 2 * 366


def test_doses_out_with_a_bad_extension_is_refused_before_work(tmp_path: Path) -> None:
    out = tmp_path / "o.csv"
    code, _, stderr = invoke("simulate", SCA, "-o", str(out), "--doses-out", "d.txt")
    assert code == 2 and not out.exists()
    assert stderr.startswith("error: --doses-out = 'd.txt': unknown table format")


def test_sources_lists_every_profile_with_its_evidence() -> None:
    code, stdout, _ = invoke("sources", "--json")
    assert code == 0
    records = json.loads(stdout)
    assert {r["source_type"] for r in records} == {"bone_marrow", "umbilical_cord", "adipose"}
    assert all(r["source"] for r in records)
    code, stdout, _ = invoke("sources")
    assert code == 0 and "post_thaw_viability" in stdout
