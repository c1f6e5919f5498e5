"""The command line in a shell: refusals of the command line, help, interrupts, pipes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mscsim.cli.main import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCA = str(EXAMPLES / "sca_uc_msc_iv.toml")
LOT = str(EXAMPLES / "uc_msc_lot.toml")
COMMANDS = (
    "simulate, dose, params, plot, compare, withdrawal, models, qc, sources, trial, export-sbml, "
    "fit, sensitivity, claims, report, serve"
)

runner = CliRunner()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mscsim ARGS`` with stdout and stderr piped."""
    return subprocess.run(
        [sys.executable, "-m", "mscsim", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["simulate", SCA, "-o", "{out}", "--n-patients", "abc"],
            "error: --n-patients = 'abc': must be a whole number",
        ),
        (
            ["simulate", SCA, "-o", "{out}", "--n-patients", "2.5"],
            "error: --n-patients = '2.5': must be a whole number",
        ),
        (
            ["simulate", SCA, "-o", "{out}", "--engine", "lsoda"],
            "error: --engine = 'lsoda': must be one of fast, scipy",
        ),
        (
            ["dose", "--route", "intravenous", "--cells", "1e8", "--weight-kg", "heavy"],
            "error: --weight-kg = 'heavy': must be a number",
        ),
        (
            ["simulate", SCA, "-o", "{out}", "--foo"],
            "error: no such option --foo for 'mscsim simulate'",
        ),
        (
            ["simulate", SCA, "-o", "{out}", "--n-pat", "3"],
            "error: no such option --n-pat for 'mscsim simulate' (did you mean --n-patients?)",
        ),
        (["simulate"], "error: missing SCENARIO for 'mscsim simulate'"),
        (["simulate", SCA], "error: missing --output for 'mscsim simulate'"),
        (["simulate", SCA, "-o"], "error: option '-o' requires an argument"),
        (
            ["simulate", SCA, "extra.toml", "-o", "{out}"],
            "error: got unexpected extra argument(s) (extra.toml) for 'mscsim simulate'",
        ),
        (["simulat", SCA], f"error: no such command 'simulat' (commands: {COMMANDS})"),
        (["--foo"], "error: no such option --foo for 'mscsim'"),
    ],
)
def test_a_refused_command_line_is_one_line_on_stderr_with_status_2(
    tmp_path: Path, args: list[str], line: str
) -> None:
    out = tmp_path / "r.csv"
    result = runner.invoke(app, [a.format(out=out) for a in args], prog_name="mscsim")
    assert result.exit_code == 2
    assert result.stderr == line + "\n"
    assert result.stdout == ""
    assert not out.exists()


def test_the_installed_command_refuses_an_unknown_command_in_one_line() -> None:
    result = run("simulat")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: no such command 'simulat' (commands: {COMMANDS})"
    ]
    assert "Traceback" not in result.stderr


def test_the_installed_command_refuses_a_bad_value_in_one_line(tmp_path: Path) -> None:
    result = run("simulate", SCA, "-o", str(tmp_path / "r.csv"), "--chunk-size", "many")
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["error: --chunk-size = 'many': must be a whole number"]
    assert list(tmp_path.iterdir()) == []


def test_piped_help_keeps_the_toml_table_names() -> None:
    result = run("simulate", "--help")
    assert result.returncode == 0
    assert "[population]" in result.stdout
    assert "[simulation]" in result.stdout
    withdrawal = run("withdrawal", "--help")
    assert "[disease]" in withdrawal.stdout


def test_every_bracketed_name_in_a_help_text_is_printed() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    for name, command in group.commands.items():
        texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        bracketed = {m for text in texts for m in re.findall(r"\[[a-z_.]+\]", text)}
        printed = runner.invoke(app, [name, "--help"], prog_name="mscsim").stdout
        assert {b for b in bracketed if b not in printed} == set(), name


def test_an_interrupt_prints_one_line_and_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("mscsim.evidence.library.load_library", interrupted)
    result = runner.invoke(app, ["params"], prog_name="mscsim")
    assert result.exit_code == 130
    assert result.stderr == "interrupted\n"


def test_ctrl_c_in_a_real_process_prints_one_line_and_exits_130() -> None:
    code = (
        "import os, signal\n"
        "import mscsim.evidence.library as library\n"
        "from mscsim.cli.main import app\n"
        "library.load_library = lambda: os.kill(os.getpid(), signal.SIGINT)\n"
        "app(['params'], prog_name='mscsim')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 130
    assert result.stderr == "interrupted\n"


@pytest.mark.parametrize(
    "args",
    [
        ["params"],
        ["--help"],
        ["qc", LOT, "--json"],
        ["dose", "--route", "intravenous", "--cells", "1e8", "--weight-kg", "70", "--json"],
    ],
)
def test_a_reader_that_leaves_early_ends_the_command_quietly(args: list[str]) -> None:
    read, write = os.pipe()
    os.close(read)  # like `| head -1` that has already exited
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as users run it
    try:
        result = subprocess.run(
            [sys.executable, "-m", "mscsim", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            check=False,
        )
    finally:
        os.close(write)
    assert result.stderr == ""
    assert result.returncode == 1


def test_warnings_come_before_the_refusal_which_is_the_last_line(tmp_path: Path) -> None:
    scenario = tmp_path / "late.toml"
    scenario.write_text(
        Path(SCA)
        .read_text()
        .replace("day = 0", "day = 400")
        .replace('lot = "uc_msc_lot.toml"', f"lot = {LOT!r}")
    )
    result = runner.invoke(app, ["withdrawal", str(scenario)])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2
    assert lines[-1].startswith("error: dose")
    assert any(line.startswith("warning:") and "not simulated" in line for line in lines[:-1])


def test_each_distinct_warning_is_shown_once_after_the_command(tmp_path: Path) -> None:
    script = tmp_path / "warns.py"
    script.write_text(
        "import warnings\n"
        "import typer\n"
        "from mscsim.cli.common import user_errors\n"
        "from mscsim.errors import MscsimWarning\n"
        "app = typer.Typer()\n"
        "@app.command()\n"
        "@user_errors\n"
        "def run() -> None:\n"
        "    for _ in range(3):\n"
        "        warnings.warn('doses dropped', MscsimWarning, stacklevel=1)\n"
        "        warnings.warn('overflow in a library', RuntimeWarning, stacklevel=1)\n"
        "app()\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("warning: doses dropped (3 times)") == 1
    assert done.stderr.count("RuntimeWarning: overflow in a library") == 1
