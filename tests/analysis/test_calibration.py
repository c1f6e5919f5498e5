"""The organ model against its animal calibration data, and the fit that produced it."""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mscsim.analysis.calibration import (
    FITTED_PARAMETERS,
    calibrate,
    fold_errors,
    predict,
    residual_table,
)
from mscsim.errors import SpecError
from mscsim.evidence.calibration import calibration_data
from mscsim.evidence.library import load_library

ROOT = Path(__file__).resolve().parents[2]


def test_the_library_reproduces_every_calibration_observation_within_two_fold() -> None:
    data = calibration_data()
    predicted = predict(data)
    table = residual_table(data, predicted)
    assert np.all(np.isfinite(predicted))
    assert table["fold_miss"].max() <= 2.0, table.to_string()


def test_a_fold_error_is_one_exactly_when_an_observation_holds() -> None:
    data = calibration_data()
    at_most = next(o for o in data if o.relation == "<=")
    equal = next(o for o in data if o.relation == "=")
    v = at_most.value
    errors = fold_errors([at_most] * 3, np.array([v / 3, v, 3 * v]))
    np.testing.assert_allclose(errors, [1.0, 1.0, 3.0])
    np.testing.assert_allclose(
        fold_errors([equal] * 2, np.array([equal.value / 2, 2 * equal.value])), 2.0
    )


def test_the_fit_recovers_parameters_that_made_the_data() -> None:
    data = calibration_data()
    truth = {"pbk_lung_half_life_days": 0.8, "indium_111_liver_uptake_fraction": 0.45}
    exact = predict(data, truth)
    synthetic = [replace(o, relation="=", value=float(v)) for o, v in zip(data, exact, strict=True)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = calibrate(synthetic, tuple(truth), prior_weight=0.0)
    assert fit.success
    for name, value in truth.items():
        assert fit.estimates[name] == pytest.approx(value, rel=1e-3)
    assert fit.fold_errors.max() < 1.001
    frame = fit.to_frame()
    assert list(frame["parameter"]) == list(truth)


def test_every_fitted_parameter_is_in_the_library_and_says_it_was_fitted() -> None:
    library = load_library()
    for name in FITTED_PARAMETERS:
        p = library.get(name)
        assert "calibrate_organs" in p.source
        assert p.plausible[0] <= p.value <= p.plausible[1]


def test_an_unknown_parameter_is_refused_by_name() -> None:
    with pytest.raises(SpecError, match=r"parameters\.not_a_parameter"):
        predict(calibration_data(), {"not_a_parameter": 1.0})


def test_the_script_writes_each_value_in_its_own_entry(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("calibrate", ROOT / "scripts/calibrate_organs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path / "parameters.toml"
    path.write_text('[a]\nunit = "day"\nvalue = 1.0\n\n[b]\nvalue = 2.0\nsource = "x"\n')
    module.write_values(path, {"b": 0.123456})
    assert (
        path.read_text() == '[a]\nunit = "day"\nvalue = 1.0\n\n[b]\nvalue = 0.123\nsource = "x"\n'
    )
    with pytest.raises(SystemExit, match="c: no single entry"):
        module.write_values(path, {"c": 1.0})
