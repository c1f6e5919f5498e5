"""bench/web_load.py runs on the current service (a smoke run, not a measurement)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "web_load.py"


@pytest.mark.slow
def test_the_load_test_runs_to_its_report_with_no_server_error() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    assert "p99 ms" in done.stdout and "/api/simulate" in done.stdout
