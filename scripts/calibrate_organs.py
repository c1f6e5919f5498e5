"""Refit the organ model's cell and label parameters on the animal biodistribution data.

The data are ``src/mscsim/evidence/data/calibration/animal_biodistribution.csv``
(one row per observation, with its source and what was assumed); the fitted
parameters are :data:`mscsim.analysis.calibration.FITTED_PARAMETERS`. The script
prints the estimates and each observation's fold miss; ``--write`` puts the
estimates (3 significant digits) into the library's ``parameters.toml``.

Usage::

    python scripts/calibrate_organs.py            # fit and print
    python scripts/calibrate_organs.py --write    # fit and update the library
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import warnings
from pathlib import Path

import pandas as pd

from mscsim.analysis.calibration import FITTED_PARAMETERS, calibrate, residual_table
from mscsim.evidence.calibration import calibration_data

LIBRARY = Path(__file__).resolve().parents[1] / "src/mscsim/evidence/data/parameters.toml"


def _say(text: str = "") -> None:
    sys.stdout.write(f"{text}\n")


def write_values(path: Path, values: dict[str, float]) -> None:
    """Replace each entry's ``value = ...`` line in ``path``, atomically."""
    text = path.read_text("utf-8")
    for name, value in values.items():
        pattern = re.compile(rf"(^\[{re.escape(name)}\]\n(?:(?!^\[).*\n)*?value = )[^\n]*", re.M)
        text, n = pattern.subn(lambda m, v=value: f"{m.group(1)}{v:.3g}", text)
        if n != 1:
            raise SystemExit(f"error: {name}: no single entry with a value line in {path}")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """Fit, print the estimates and fold misses, and with ``--write`` update the library."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="update parameters.toml")
    args = parser.parse_args(argv)
    data = calibration_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # plausible-range notes of the trial values
        fit = calibrate(data, FITTED_PARAMETERS)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        _say(fit.to_frame().to_string(index=False))
        _say()
        _say(residual_table(data, fit.predicted).to_string(index=False))
    _say(f"\nconverged: {fit.success} ({fit.message}); worst fold miss {fit.fold_errors.max():.2f}")
    if args.write:
        write_values(LIBRARY, fit.estimates)
        _say(f"wrote {len(fit.estimates)} values to {LIBRARY}")
    return 0 if fit.success else 1


if __name__ == "__main__":
    sys.exit(main())
