"""Output files, flag ranges and printed output of every command (in process).

Every refusal is one line with exit status 2, given before any work, and leaves no
file behind; piped output keeps every value; JSON is plain.
"""

from __future__ import annotations

import errno
import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from tests.cli.test_cli import CLI, EXAMPLES, SCA, invoke

TRIAL = str(EXAMPLES / "sca_trial.toml")
LOT = str(EXAMPLES / "uc_msc_lot.toml")


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if a command starts reading its inputs (its work) before refusing."""

    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("the command started its work before checking its outputs")

    import mscsim.cli.analysis
    import mscsim.cli.simulate
    import mscsim.cli.trial

    for module in (mscsim.cli.simulate, mscsim.cli.analysis, mscsim.cli.trial):
        for name in ("load_scenario", "load_trial"):
            monkeypatch.setattr(module, name, started, raising=False)
    monkeypatch.setattr("mscsim.io.scenario.load_scenario", started)
    monkeypatch.setattr("mscsim.io.scenario.load_trial", started)


def refused(args: list[str], start: str) -> str:
    code, stdout, stderr = invoke(*args)
    assert code == 2, (stdout, stderr)
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    assert stderr.startswith(f"error: {start}"), stderr
    return stderr


BAD_PATHS = [
    ("afile.txt/r.csv", "'afile.txt' is a file, not a directory"),
    ("adir.csv", "is an existing directory"),
    ("/proc/r.csv", "cannot create a file in '/proc'"),
    ("a" * 300 + ".csv", "the file name is 304 bytes long; at most 255"),
    ("r.txt", "unknown table format '.txt'"),
    (".", "unknown table format '(none)'"),
]


@pytest.mark.usefixtures("no_work")
@pytest.mark.parametrize(("path", "problem"), BAD_PATHS, ids=[p[1][:20] for p in BAD_PATHS])
@pytest.mark.parametrize("flag", ["--output", "--doses-out", "--covariates-out"])
def test_simulate_refuses_a_bad_output_path_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: str, path: str, problem: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("afile.txt").write_text("")
    Path("adir.csv").mkdir()
    args = ["simulate", CLI, "-o", "out/ok.csv"] if flag != "--output" else ["simulate", CLI]
    stderr = refused([*args, flag, path], f"{flag} = {path!r}: ")
    assert problem in stderr
    assert tree(tmp_path) == ["adir.csv", "afile.txt"]


@pytest.mark.usefixtures("no_work")
@pytest.mark.parametrize(
    "args",
    [
        ["withdrawal", SCA, "--plot", "/proc/w.png"],
        ["compare", CLI, "--split", "1,2", "--plot", "/proc/c.png"],
        ["compare", CLI, "--split", "1,2", "--output", "/proc/c.csv"],
        ["compare", CLI, "--split", "1,2", "-o", "ok.csv", "--plot", "/proc/c.png"],
        ["trial", TRIAL, "--output", "/proc/trialout"],
    ],
    ids=["withdrawal plot", "compare plot", "compare table", "compare both", "trial"],
)
def test_other_commands_refuse_a_bad_output_path_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    flag = args[-2]
    refused(args, f"{flag} = {args[-1]!r}: cannot create a file in '/proc'")
    assert tree(tmp_path) == []


@pytest.mark.usefixtures("no_work")
@pytest.mark.parametrize("other", ["--doses-out", "--covariates-out"])
def test_two_outputs_on_one_file_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, other: str
) -> None:
    monkeypatch.chdir(tmp_path)
    refused(
        ["simulate", CLI, "-o", "r.csv", other, "./r.csv"],
        f"{other} = 'r.csv': names the same file as --output",
    )
    assert tree(tmp_path) == []


def test_a_failing_second_output_leaves_the_first_unwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    refused(
        ["simulate", CLI, "-o", "out/ok.csv", "--doses-out", "/proc/r.csv"],
        "--doses-out = '/proc/r.csv': ",
    )
    assert tree(tmp_path) == []


def test_a_full_disk_is_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    real = pd.DataFrame.to_csv

    def full(frame: pd.DataFrame, path: Any, *args: Any, **kwargs: Any) -> Any:
        if "doses" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(frame, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    stderr = refused(
        ["simulate", CLI, "-o", "ok.csv", "--doses-out", "doses.csv"],
        "--doses-out = 'doses.csv': could not be written: no space left",
    )
    assert "Errno" not in stderr
    assert tree(tmp_path) == []


def test_an_interrupted_run_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    real = pd.DataFrame.to_csv

    def interrupted(frame: pd.DataFrame, path: Any, *args: Any, **kwargs: Any) -> Any:
        if "d.csv" in str(path):  # the main table is written, the per-dose one is not
            raise KeyboardInterrupt
        return real(frame, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", interrupted)
    code, _, _ = invoke("simulate", CLI, "-o", "out/ok.csv", "--doses-out", "out/d.csv")
    assert code != 0
    assert tree(tmp_path) == []


def test_trial_writes_its_directory_whole_and_replaces_only_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for _ in range(2):  # the second run replaces the first
        code, _, stderr = invoke("trial", TRIAL, "-o", "t", "--replicates", "2")
        assert code == 0, stderr
    assert tree(tmp_path) == [
        "t",
        "t/patients.parquet",
        "t/replicates.parquet",
        "t/summary.json",
        "t/trial.png",
    ]
    summary = (tmp_path / "t" / "summary.json").read_text()
    json.loads(summary, parse_constant=pytest.fail)
    Path("t/notes.txt").write_text("mine")
    refused(
        ["trial", TRIAL, "-o", "t", "--replicates", "2"],
        "--output = 't': holds files mscsim did not write ('notes.txt')",
    )


LIMITS = [
    (["simulate", CLI, "-o", "r.csv", "--n-patients", "1000000000"], "--n-patients = 1000000000"),
    (["simulate", CLI, "-o", "r.csv", "--n-patients", "-3"], "--n-patients = -3"),
    (["simulate", CLI, "-o", "r.csv", "--chunk-size", "0"], "--chunk-size = 0"),
    (["simulate", CLI, "-o", "r.csv", "--chunk-size", "-5"], "--chunk-size = -5"),
    (["simulate", CLI, "-o", "r.csv", "--dask", "local:100000"], "--dask = 'local:100000'"),
    (["simulate", CLI, "-o", "r.csv", "--dask", "local:0"], "--dask = 'local:0'"),
    (["trial", TRIAL, "-o", "t", "--replicates", "1000000000"], "--replicates = 1000000000"),
    (["trial", TRIAL, "-o", "t", "--dask", "local:100000"], "--dask = 'local:100000'"),
    (["withdrawal", SCA, "--follow-up-days", "1e9"], "--follow-up-days = 1e+09"),
]


@pytest.mark.usefixtures("no_work")
@pytest.mark.parametrize(("args", "start"), LIMITS, ids=[s for _, s in LIMITS])
def test_flags_have_upper_bounds_checked_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], start: str
) -> None:
    monkeypatch.chdir(tmp_path)
    stderr = refused(args, start)
    assert re.search(r"\d", stderr.partition(": ")[2].partition(": ")[2]), "names the limit"
    assert tree(tmp_path) == []


def test_a_stop_day_beyond_the_regimen_is_refused_not_run() -> None:
    stderr = refused(["withdrawal", SCA, "--stop-day", "1e9"], "stop_day = 1e+09: ")
    assert "to the last (day 270)" in stderr


def test_a_trial_too_large_for_memory_is_refused_before_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("the trial ran")

    monkeypatch.setattr("mscsim.analysis.trial.run_trial", started)
    stderr = refused(["trial", TRIAL, "-o", "t", "--replicates", "1000000"], "trial.replicates = ")
    assert "GiB" in stderr and "use fewer replicates" in stderr
    assert tree(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["--weight-kg", "1e-320", "--cells", "1e308"], "--weight-kg = 1e-320: must be"),
        (["--weight-kg", "0.01", "--cells", "1e8"], "--weight-kg = 0.01: must be"),
        (["--weight-kg", "0.3", "--cells", "1e308"], "--cells = 1e+308: too large"),
        (["--weight-kg", "400", "--cells-per-kg", "1e307"], "--cells-per-kg = 1e+307: too"),
        (["--weight-kg", "70", "--cells", "1e-3"], "--cells = 0.001: gives"),
        (["--weight-kg", "nan", "--cells", "1e8"], "--weight-kg = nan: must be"),
    ],
)
def test_dose_refuses_non_physical_weights_and_overflowing_doses(
    args: list[str], start: str
) -> None:
    refused(["dose", "--route", "intra_arterial", *args, "--allow-beyond-evidence"], start)


def test_piped_tables_keep_every_value_whole() -> None:
    from mscsim.evidence.doses import dose_evidence

    code, stdout, _ = invoke(
        "dose", "--route", "intravenous", "--weight-kg", "65", "--cells", "1e8"
    )
    assert code == 0 and "…" not in stdout
    source = dose_evidence("intravenous").source
    assert len(source) > 80
    assert any(line.split(None, 1)[-1].rstrip() == source for line in stdout.splitlines())
    code, stdout, _ = invoke("compare", CLI, "--split", "1,2,4")
    assert code == 0 and "…" not in stdout
    assert re.search(r"^\s*4 x .*", stdout, re.MULTILINE), stdout


def load_plain_json(text: str) -> Any:
    assert not re.search(r"-0\.0\b(?!\d)", text), "JSON holds -0.0"
    return json.loads(text, parse_constant=pytest.fail)


@pytest.mark.parametrize(
    "args",
    [
        ["simulate", SCA, "-o", "r.csv", "--json"],
        ["compare", CLI, "--split", "1,2", "--json"],
        ["dose", "--route", "intravenous", "--weight-kg", "65", "--cells", "1e8", "--json"],
        ["withdrawal", SCA, "--json", "--follow-up-days", "60"],
        ["qc", LOT, "--json"],
        ["sources", "--json"],
        ["params", "--json"],
        ["models", "--json"],
    ],
    ids=lambda a: a[0],
)
def test_every_table_command_prints_plain_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = invoke(*args)
    assert code == 0, stderr
    assert load_plain_json(stdout)


def test_plain_json_has_no_negative_zero_and_no_nan() -> None:
    from mscsim.cli.display import plain

    data = plain({"a": -0.0, "b": [math.nan, -math.inf], "c": 7.16e-15})
    assert json.dumps(data, allow_nan=False) == '{"a": 0.0, "b": [null, "-inf"], "c": 7.16e-15}'


def test_sub_cell_counts_print_as_less_than_one_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, stdout, _ = invoke("simulate", SCA, "-o", "r.csv")
    assert code == 0
    frame = pd.read_csv("r.csv")
    end = frame.iloc[-1]
    assert 0 < end["cells_lung"] < 1  # the course ends below one cell
    rows = {line.split()[0]: line.split() for line in stdout.splitlines() if line.strip()}
    assert rows["lung"][3] == "<1"
    cells = [v for name in ("lung", "blood", "target", "total") for v in rows[name][1:4:2]]
    for value in cells:
        assert value == "<1" or len(re.sub(r"e[+-]\d+$|\.|^0+", "", value)) <= 3, value
    json_out = invoke("simulate", SCA, "-o", "r.csv", "--json")[1]
    lung = next(c for c in load_plain_json(json_out)["cells"] if c["compartment"] == "lung")
    assert lung["end_cells"] == pytest.approx(end["cells_lung"], rel=1e-12)
