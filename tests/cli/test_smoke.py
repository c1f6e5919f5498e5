"""One end-to-end run of the installed command in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sca_uc_msc_iv.toml"


def test_mscsim_runs_as_a_program_and_exits_2_on_a_user_error(tmp_path: Path) -> None:
    out = tmp_path / "o.csv"
    ok = subprocess.run(
        [sys.executable, "-m", "mscsim", "simulate", str(EXAMPLE), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert out.read_text().startswith("patient_id,time_day,cells_lung")
    bad = subprocess.run(
        [sys.executable, "-m", "mscsim", "simulate", str(tmp_path / "no.toml"), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
