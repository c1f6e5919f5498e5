"""Population fits by SAEM: recovery of a known population, the objective, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from mscsim.analysis.observation import ResidualError, log_likelihood_terms
from mscsim.analysis.saem import PopulationFit, fit_population
from mscsim.errors import SpecError
from mscsim.problem import Observations, Problem, problem_from_scenario, solve
from mscsim.spec.scenario import Scenario

N_PATIENTS = 40
TIMES = np.array([1.0, 3.0, 7.0, 10.0, 14.0, 21.0])
NAME = "target_half_life_days"
TRUE_THETA = 6.0  # the library default (the initial value) is 4 days
TRUE_OMEGA = 0.3
TRUE_SIGMA = 0.15
FAST = {"n_iterations": (150, 75), "n_chains": 1, "n_posterior": 50, "n_importance": 200}


def base_problem(n_patients: int = N_PATIENTS) -> Problem:
    """Patients given one intramuscular dose (no retention capacity: the linear model)."""
    raw = {
        "patient": {"weight_kg": 70},
        "product": {"source": "bone_marrow", "donor": "autologous", "viability": 0.9},
        "dose": [{"route": "intramuscular", "cells_per_kg": 2e6, "day": 0}],
        "simulation": {"horizon_days": 28, "output_every_days": 28},
        "parameters": {"target_capacity_cells": float("inf")},
    }
    return problem_from_scenario(Scenario.model_validate(raw), n_patients=n_patients)


def simulated(seed: int, *, lloq: float | None = None) -> tuple[Problem, Observations]:
    """Return the base problem and data of 40 patients with log-normal half-lives."""
    problem = base_problem()
    rng = np.random.default_rng(seed)
    half_lives = TRUE_THETA * np.exp(TRUE_OMEGA * rng.standard_normal(N_PATIENTS))
    truth = dataclasses.replace(problem, params={**problem.params, NAME: half_lives})
    f = solve(truth.with_times(TIMES)).outputs["cells_target"]
    y = f * (1.0 + TRUE_SIGMA * rng.standard_normal(f.shape))
    patients = np.repeat(np.arange(N_PATIENTS), TIMES.size)
    return problem, Observations.of(
        patients, np.tile(TIMES, N_PATIENTS), "cells_target", y.reshape(-1), lloq=lloq
    )


@pytest.fixture(scope="module")
def data() -> tuple[Problem, Observations]:
    return simulated(2026)


@pytest.fixture(scope="module")
def fit(data: tuple[Problem, Observations]) -> PopulationFit:
    problem, observations = data
    return fit_population(
        problem,
        observations,
        [NAME],
        error=ResidualError("proportional", proportional=0.3),
        seed=1,
        **FAST,
    )


def test_a_population_fit_recovers_the_between_patient_sd_from_40_patients(fit) -> None:
    assert fit.omega[NAME] == pytest.approx(TRUE_OMEGA, abs=0.1)
    assert fit.theta[NAME] == pytest.approx(TRUE_THETA, rel=0.2)
    assert fit.error.proportional == pytest.approx(TRUE_SIGMA, rel=0.25)
    assert fit.converged


def test_intervals_contain_the_estimate_and_omega_rows_are_named_after_the_parameter(fit) -> None:
    frame = fit.to_frame()
    assert frame.columns.tolist() == ["parameter", "estimate", "ci_low", "ci_high"]
    assert frame.parameter.tolist() == [NAME, f"omega_{NAME}", "sigma_prop"]
    assert np.all(np.isfinite(frame[["ci_low", "ci_high"]].to_numpy()))
    assert np.all((frame.ci_low < frame.estimate) & (frame.estimate < frame.ci_high))


def test_conditional_means_follow_each_patients_true_value(data, fit) -> None:
    rng = np.random.default_rng(2026)
    true_eta = TRUE_OMEGA * rng.standard_normal(N_PATIENTS)  # as simulated() drew them
    assert fit.eta.shape == (N_PATIENTS, 1)
    assert np.corrcoef(fit.eta[:, 0], true_eta)[0, 1] > 0.95
    assert fit.individual[NAME] == pytest.approx(fit.theta[NAME] * np.exp(fit.eta[:, 0]))


def test_the_objective_matches_the_likelihood_integrated_on_a_fine_grid(data, fit) -> None:
    _, observations = data
    omega = fit.omega[NAME]
    eta = np.linspace(-8 * omega, 8 * omega, 2001)
    # every patient has the same dose and covariates: one row per grid value serves all
    grid = base_problem(eta.size).with_times(observations.times)
    values = fit.theta[NAME] * np.exp(eta)
    result = solve(dataclasses.replace(grid, params={**grid.params, NAME: values}))
    column = np.searchsorted(observations.times, observations.time_day)
    terms = np.array(
        [
            np.bincount(
                observations.patient,
                log_likelihood_terms(observations, row[column], fit.error),
                minlength=N_PATIENTS,
            )
            for row in result.outputs["cells_target"]
        ]
    )
    log_prior = stats.norm.logpdf(eta, scale=omega) + np.log(eta[1] - eta[0])
    expected = -2.0 * logsumexp(terms + log_prior[:, None], axis=0).sum()
    assert fit.objective == pytest.approx(expected, abs=max(0.5, 4 * fit.objective_sd))


def test_censored_values_are_fitted_by_their_probability_not_dropped() -> None:
    problem, observations = simulated(7, lloq=1e7)
    assert observations.blq.sum() > 30  # late values of fast-clearing patients
    fit = fit_population(problem, observations, [NAME], seed=3, **FAST)
    assert fit.omega[NAME] == pytest.approx(TRUE_OMEGA, abs=0.1)
    assert fit.theta[NAME] == pytest.approx(TRUE_THETA, rel=0.2)


def test_a_fit_is_reproducible_from_its_seed(data) -> None:
    problem, observations = data
    small = {"n_iterations": (4, 3), "n_chains": 1, "n_posterior": 3, "n_importance": 4}
    first = fit_population(problem, observations, [NAME], seed=5, **small)
    again = fit_population(problem, observations, [NAME], seed=5, **small)
    other = fit_population(problem, observations, [NAME], seed=6, **small)
    np.testing.assert_array_equal(first.trajectory, again.trajectory)
    assert first.objective == again.objective
    assert not np.array_equal(first.trajectory, other.trajectory)
    assert not first.converged  # 4 exploration iterations are too few to tell


def test_progress_is_reported_up_to_its_total(data) -> None:
    problem, observations = data
    calls: list[tuple[int, int]] = []
    fit_population(
        problem,
        observations,
        [NAME],
        n_iterations=(2, 2),
        n_chains=1,
        n_posterior=2,
        n_importance=2,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls[-1][0] == calls[-1][1]
    assert [done for done, _ in calls] == list(range(1, len(calls) + 1))


@pytest.mark.parametrize(
    ("estimate", "options", "message"),
    [
        ([], {}, "estimate = []: name at least one parameter"),
        (["no_such_rate"], {}, "estimate = 'no_such_rate': not a parameter of the model"),
        ([NAME, NAME], {}, f"estimate = '{NAME}': named twice"),
        (["early_loss_fraction"], {}, "parameters.early_loss_fraction = 0: a log-normal"),
        ([NAME], {"n_iterations": (0, 5)}, "n_iterations = (0, 5): need (K1, K2)"),
        ([NAME], {"n_chains": 0}, "n_chains = 0: must be a whole number >= 1"),
        ([NAME], {"n_importance": 1}, "n_importance = 1: must be a whole number >= 2"),
        ([NAME], {"initial_omega": 0.0}, "initial_omega = 0.0: must be a finite number > 0"),
    ],
)
def test_bad_requests_are_refused_with_one_line(data, estimate, options, message) -> None:
    problem, observations = data
    with pytest.raises(SpecError) as caught:
        fit_population(problem, observations, estimate, **options)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_observations_of_patients_the_problem_lacks_are_refused(data) -> None:
    problem, observations = data
    with pytest.raises(SpecError, match=r"observations\.patient = 39: not one of the 10 patients"):
        fit_population(problem.take(np.arange(10)), observations, [NAME])
