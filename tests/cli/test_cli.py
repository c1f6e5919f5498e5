"""The command line: outputs, exit codes and one-line errors (in process)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mscsim.cli.main import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCA = str(EXAMPLES / "sca_uc_msc_iv.toml")
CLI = str(EXAMPLES / "cli_bm_msc_im.toml")
COLUMNS = [
    "patient_id",
    "time_day",
    "cells_lung",
    "cells_blood",
    "cells_liver_spleen",
    "cells_target",
    "cells_total",
    "sensitisation",
    "factor",
    "effect",
    "exposure_cell_days",
    "total_exposure_cell_days",
    "sara_score",
]

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_simulate_writes_the_wide_table_in_the_format_of_the_extension(
    tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"sca{suffix}"
    code, stdout, _ = invoke("simulate", SCA, "-o", str(out), "--n-patients", "3")
    assert code == 0
    frame = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert list(frame.columns) == COLUMNS
    assert frame["patient_id"].nunique() == 3
    assert len(frame) == 3 * 366
    assert "wrote" in stdout
    assert not list(tmp_path.glob(".*.mscsim-partial-*"))


def test_simulate_engines_agree_from_the_command_line(tmp_path: Path) -> None:
    fast, slow = tmp_path / "fast.csv", tmp_path / "scipy.csv"
    assert invoke("simulate", CLI, "-o", str(fast))[0] == 0
    assert invoke("simulate", CLI, "-o", str(slow), "--engine", "scipy")[0] == 0
    a, b = pd.read_csv(fast), pd.read_csv(slow)
    peak = b["cells_total"].max()
    assert ((a["cells_total"] - b["cells_total"]).abs() <= 1e-4 * peak).all()


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return str(path)


# The example names its lot relative to itself; copies elsewhere name it absolutely.
SCA_TEXT = (
    (EXAMPLES / "sca_uc_msc_iv.toml")
    .read_text()
    .replace('lot = "uc_msc_lot.toml"', f"lot = {str(EXAMPLES / 'uc_msc_lot.toml')!r}")
)

USER_ERRORS = [
    (
        "unknown key",
        SCA_TEXT.replace("[simulation]", "[simulation]\nhorizon = 3"),
        ["-o", "x.csv"],
        "simulation.horizon = 3: unknown key",
    ),
    (
        "bad route",
        SCA_TEXT.replace('"intravenous"', '"oral"'),
        ["-o", "x.csv"],
        "dose[0].route = 'oral': must be",
    ),
    (
        "bad value",
        SCA_TEXT.replace("[product]", "[product]\nhla_match = 1.5"),
        ["-o", "x.csv"],
        "product.hla_match = 1.5: must be less than or equal to 1",
    ),
    (
        "bad parameter",
        SCA_TEXT + "\n[parameters]\nlung_trap_fraction = -1\n",
        ["-o", "x.csv"],
        "parameters.lung_trap_fraction = -1.0: must be >= 0 and <= 1",
    ),
    (
        "bad extension",
        SCA_TEXT,
        ["-o", "x.xlsx"],
        "output = 'x.xlsx': unknown table format '.xlsx'; use a .csv or .parquet",
    ),
    (
        "beyond evidence",
        SCA_TEXT.replace("cells_per_kg = 1e6", "cells_per_kg = 5e7"),
        ["-o", "x.csv"],
        "beyond the highest studied",
    ),
    (
        "bad n",
        SCA_TEXT,
        ["-o", "x.csv", "--n-patients", "0"],
        "--n-patients = 0: must be a whole number from 1",
    ),
]


@pytest.mark.parametrize(
    ("case", "text", "args", "message"), USER_ERRORS, ids=[u[0] for u in USER_ERRORS]
)
def test_user_errors_exit_2_with_one_line_and_no_output_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    text: str,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, stderr = invoke("simulate", write(tmp_path, text), *args)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in stderr
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "x.xlsx").exists()


def test_missing_scenario_file_exits_2(tmp_path: Path) -> None:
    code, _, stderr = invoke("simulate", str(tmp_path / "none.toml"), "-o", str(tmp_path / "o.csv"))
    assert code == 2
    assert stderr.strip().endswith("none.toml': file not found")


def test_malformed_scenario_file_exits_2(tmp_path: Path) -> None:
    code, _, stderr = invoke("simulate", write(tmp_path, "[patient"), "-o", str(tmp_path / "o.csv"))
    assert code == 2
    assert "not valid TOML" in stderr and len(stderr.strip().splitlines()) == 1


def test_allow_beyond_evidence_simulates_with_a_warning(tmp_path: Path) -> None:
    # Without the lot: 5e7/kg would take 32 of its bags, too much endotoxin to release.
    text = SCA_TEXT.replace("cells_per_kg = 1e6", "cells_per_kg = 5e7")
    text = re.sub(r"lot = .*", "viability = 0.9", text)
    out = tmp_path / "o.csv"
    code, _, stderr = invoke(
        "simulate", write(tmp_path, text), "-o", str(out), "--allow-beyond-evidence"
    )
    assert code == 0 and out.exists()
    assert stderr.startswith("warning: dose[0]")


def test_an_implausible_override_warns_on_stderr_and_runs(tmp_path: Path) -> None:
    out = tmp_path / "o.csv"
    text = SCA_TEXT + "\n[parameters]\nlung_half_life_days = 10\n"
    code, _, stderr = invoke("simulate", write(tmp_path, text), "-o", str(out))
    assert code == 0 and out.exists()
    assert "warning: parameters.lung_half_life_days = 10 is outside the plausible range" in stderr


DOSE_CASES = [
    (["--route", "intravenous", "--weight-kg", "65", "--cells-per-kg", "1e6"], 0, "typical"),
    (["--route", "intramuscular", "--weight-kg", "70", "--cells", "1.6e8"], 0, "unusual"),
    (
        ["--route", "intra_articular", "--weight-kg", "70", "--cells", "2e8"],
        2,
        "beyond the highest studied",
    ),
    (
        [
            "--route",
            "intra_articular",
            "--weight-kg",
            "70",
            "--cells",
            "2e8",
            "--allow-beyond-evidence",
        ],
        0,
        "beyond the highest studied",
    ),
    (
        ["--route", "intra_arterial", "--weight-kg", "70", "--cells", "1e8"],
        0,
        "no human dose evidence",
    ),
]


@pytest.mark.parametrize(("args", "code", "verdict"), DOSE_CASES)
def test_dose_prints_total_verdict_sources_and_rule_of_thumb(
    args: list[str], code: int, verdict: str
) -> None:
    exit_code, stdout, _ = invoke("dose", *args)
    assert exit_code == code
    assert f"verdict          {verdict}" in stdout
    assert "rule of thumb" in stdout and "R" in stdout


def test_dose_resolves_per_kg_doses() -> None:
    _, stdout, _ = invoke(
        "dose", "--route", "intravenous", "--weight-kg", "65", "--cells-per-kg", "1e6"
    )
    assert "total cells      6.5×10^7 (65 million)" in stdout
    assert "cells per kg     1×10^6 (1 million) at 65 kg" in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--route", "intravenous", "--weight-kg", "65"],
            "--cells / --cells-per-kg: give exactly one",
        ),
        (
            ["--route", "intravenous", "--weight-kg", "-3", "--cells", "1e8"],
            "--weight-kg = -3: must be",
        ),
        (
            ["--route", "intravenous", "--weight-kg", "65", "--cells", "-1"],
            "--cells = -1: must be a positive",
        ),
    ],
)
def test_dose_refuses_bad_input_with_exit_2(args: list[str], message: str) -> None:
    code, _, stderr = invoke("dose", *args)
    assert code == 2 and message in stderr


def test_dose_refuses_an_unknown_route_with_exit_2() -> None:
    code, _, stderr = invoke("dose", "--route", "oral", "--weight-kg", "65", "--cells", "1e8")
    assert code == 2
    assert stderr.startswith("error: --route = 'oral': must be one of intravenous, ")
    assert len(stderr.splitlines()) == 1


def test_params_json_lists_every_parameter_with_unit_range_and_source() -> None:
    code, stdout, _ = invoke("params", "--json")
    assert code == 0
    rows = json.loads(stdout)
    names = {r["name"] for r in rows}
    assert {"lung_trap_fraction", "target_half_life_days", "target_capacity_cells"} <= names
    for r in rows:
        assert r["unit"] and r["source"] and r["evidence"] in {"S", "S2", "I", "G"}
    capacity = [r for r in rows if r["name"] == "target_capacity_cells" and r["site"] == "systemic"]
    assert capacity[0]["value"] == "inf"


def test_params_table_shows_reference_ids_and_full_shows_sources() -> None:
    code, stdout, _ = invoke("params")
    assert code == 0 and "lung_trap_fraction" in stdout and "R25" in stdout
    code, stdout, _ = invoke("params", "--full", "--model", "msc_kinetics")
    assert code == 0 and "R31 Toma" in stdout


def test_params_refuses_an_unknown_model() -> None:
    code, _, stderr = invoke("params", "--model", "nope")
    assert code == 2 and "--model = 'nope': must be one of disease_inflammation" in stderr


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plot_writes_a_figure(tmp_path: Path, suffix: str) -> None:
    table = tmp_path / "t.csv"
    assert invoke("simulate", CLI, "-o", str(table))[0] == 0
    fig = tmp_path / f"f{suffix}"
    code, _, _ = invoke("plot", str(table), "-o", str(fig), "--log")
    assert code == 0
    head = fig.read_bytes()[:64]
    assert head.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in fig.read_bytes()[:2000]


def test_plot_refuses_an_unknown_figure_format(tmp_path: Path) -> None:
    code, _, stderr = invoke("plot", "t.csv", "-o", str(tmp_path / "f.gif"))
    assert code == 2 and "unknown figure format '.gif'" in stderr


def test_plot_refuses_a_missing_table(tmp_path: Path) -> None:
    code, _, stderr = invoke("plot", str(tmp_path / "t.csv"), "-o", str(tmp_path / "f.png"))
    assert code == 2 and "file not found" in stderr


def test_simulate_prints_a_summary_of_peaks_and_persistence(tmp_path: Path) -> None:
    code, stdout, _ = invoke("simulate", CLI, "-o", str(tmp_path / "o.csv"))
    assert code == 0
    assert "last day with a cell" in stdout
    frame = pd.read_csv(tmp_path / "o.csv")
    peak = frame["cells_total"].max()
    assert f"{peak:.3g}" in stdout


def test_an_intra_arterial_dose_warns_that_no_human_dose_evidence_exists(tmp_path: Path) -> None:
    text = SCA_TEXT.replace('"intravenous"', '"intra_arterial"').replace("infusion_hours = 1", "")
    code, _, stderr = invoke("simulate", write(tmp_path, text), "-o", str(tmp_path / "o.csv"))
    assert code == 0
    assert stderr.startswith(
        "warning: dose[0] = 6.5e+07 cells intra_arterial: no human dose evidence"
    )


def test_an_in_memory_run_too_large_for_the_machine_is_refused_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without a [population] every patient's table is held at once: on a machine
    # of 1 GiB, 2,000 patients x 366 times (about 0.6 GiB) is more than half of it.
    import mscsim.cli.simulate as simulate_cli

    monkeypatch.setattr(simulate_cli, "_memory_bytes", lambda: float(2**30))
    monkeypatch.chdir(tmp_path)
    code, _, stderr = invoke("simulate", SCA, "-o", "x.csv", "--n-patients", "2000")
    assert code == 2
    assert stderr.strip().splitlines() == [stderr.strip()]
    assert "n_patients = 2000: 2000 patients x 366 output times need about" in stderr
    assert "[population]" in stderr
    assert not list(tmp_path.iterdir())
    assert invoke("simulate", SCA, "-o", "y.csv", "--n-patients", "100")[0] == 0
