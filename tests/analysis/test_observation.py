"""Residual error models and the M3 likelihood of censored values, against scipy.stats."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mscsim.analysis.observation import (
    ResidualError,
    log_likelihood_terms,
    minus_two_log_likelihood,
)
from mscsim.errors import SpecError
from mscsim.problem.data import Observations


@pytest.mark.parametrize(
    ("error", "sd"),
    [
        (ResidualError("additive", additive=2.0), lambda f: np.full_like(f, 2.0)),
        (ResidualError("proportional", proportional=0.3), lambda f: 0.3 * f),
        (
            ResidualError("combined", additive=2.0, proportional=0.3),
            lambda f: np.hypot(2.0, 0.3 * f),
        ),
    ],
)
def test_measured_values_have_the_normal_density_of_their_error_model(error, sd) -> None:
    predicted = np.array([5.0, 50.0, 500.0])
    obs = Observations.of([0, 0, 0], [1.0, 2.0, 3.0], "cells_target", [4.0, 61.0, 450.0])
    expected = stats.norm.logpdf(obs.value, loc=predicted, scale=sd(predicted))
    np.testing.assert_allclose(log_likelihood_terms(obs, predicted, error), expected, rtol=1e-12)
    assert minus_two_log_likelihood(obs, predicted, error) == pytest.approx(-2 * expected.sum())


def test_a_value_below_the_limit_counts_as_the_probability_of_being_below_it() -> None:
    obs = Observations.of([0, 0], [1.0, 2.0], "cells_target", [500.0, 3.0], lloq=10.0)
    assert obs.blq.tolist() == [False, True]
    error = ResidualError("additive", additive=4.0)
    terms = log_likelihood_terms(obs, np.array([480.0, 6.0]), error)
    assert terms[1] == pytest.approx(stats.norm.logcdf(10.0, loc=6.0, scale=4.0), rel=1e-12)
    far = log_likelihood_terms(obs, np.array([480.0, 60.0]), error)[1]
    assert far < terms[1] < 0.0  # the further the model is above the limit, the less likely


def test_the_maximum_likelihood_sd_of_normal_data_is_their_rms_residual() -> None:
    rng = np.random.default_rng(3)
    predicted = np.full(400, 100.0)
    obs = Observations.of(np.zeros(400), np.arange(400.0), "x", predicted + rng.normal(0, 5, 400))
    grid = np.linspace(3, 7, 401)
    best = grid[
        np.argmax(
            [
                log_likelihood_terms(obs, predicted, ResidualError("additive", additive=s)).sum()
                for s in grid
            ]
        )
    ]
    assert best == pytest.approx(np.sqrt(np.mean((obs.value - predicted) ** 2)), abs=0.01)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "additive", "additive": 0.0}, "needs additive > 0"),
        ({"kind": "proportional", "proportional": -1.0}, "error.proportional = -1.0"),
        ({"kind": "quadratic"}, "quadratic"),
    ],
)
def test_bad_error_models_are_refused(kwargs, message) -> None:
    with pytest.raises((SpecError, ValueError), match=message):
        ResidualError(**kwargs)


def test_observations_sort_and_compare_by_value_and_check_their_columns() -> None:
    a = Observations.of([1, 0], [2.0, 1.0], ["cells_lung", "cells_target"], [3.0, 4.0])
    assert a.patient.tolist() == [0, 1] and a.output == ("cells_target", "cells_lung")
    assert a == Observations.of([0, 1], [1.0, 2.0], ["cells_target", "cells_lung"], [4.0, 3.0])
    with pytest.raises(SpecError, match=r"observations\.time_day"):
        Observations.of([0], [-1.0], "x", [1.0])
    with pytest.raises(SpecError, match="not among the simulated times"):
        a.predicted(np.array([0.0, 1.0]), {"cells_target": np.ones((2, 2))})
