"""Virtual populations: sampled distributions, keyed draws, chunking and Dask invariance."""

from __future__ import annotations

import numpy as np
import pytest

from mscsim.evidence import load_library
from mscsim.population import deviates, sample_patients, simulate_population
from mscsim.population.sample import DEFAULT_WEIGHT_CV
from mscsim.problem import DaskExecutor, InProcess, prepare_scenario
from tests.conftest import build_scenario

N = 40_000

POPULATION = {
    "seed": 11,
    "weight_kg": {"dist": "lognormal", "median": 70, "cv": 0.25},
    "age_years": {"dist": "uniform", "low": 20, "high": 60},
    "baseline": {"dist": "normal", "mean": 15, "sd": 3},
    "genotype_mix": {"SCA1": 0.3, "SCA3": 0.7},
    "omega": {"target_half_life_days": 0.4, "homing_fraction": 0.2},
    "correlation": {
        "names": ["target_half_life_days", "homing_fraction"],
        "matrix": [[1, 0.6], [0.6, 1]],
    },
}


def sca_scenario(population: dict[str, object]) -> object:
    return build_scenario(
        product={"source": "umbilical_cord", "donor": "allogeneic"},
        dose=[{"route": "intravenous", "cells_per_kg": 1e6}],
        disease={"model": "sca", "genotype": "SCA3", "baseline_score": 13},
        simulation={"horizon_days": 10},
        population=population,
    )


def sample(population: dict[str, object], ids: np.ndarray) -> object:
    scenario = sca_scenario(population)
    inputs = prepare_scenario(scenario)
    return sample_patients(
        scenario, inputs.params, inputs.doses, ids, viability=inputs.product.viability
    )


def within(values: np.ndarray, expected: float, se: float) -> bool:
    return bool(abs(values - expected) < 4 * se)


def test_sampled_covariates_and_omegas_are_recovered() -> None:
    patients = sample(POPULATION, np.arange(N))
    c = patients.covariates
    log_w = np.log(c["weight_kg"])
    sigma = np.sqrt(np.log1p(0.25**2))
    assert within(log_w.mean(), np.log(70), sigma / np.sqrt(N))
    assert log_w.std() == pytest.approx(sigma, rel=0.02)
    assert within(c["age_years"].mean(), 40, (40 / np.sqrt(12)) / np.sqrt(N))
    assert within(c["baseline"].mean(), 15, 3 / np.sqrt(N))
    assert c["baseline"].std() == pytest.approx(3, rel=0.02)
    share = (c["genotype"] == "SCA1").mean()
    assert within(share, 0.3, np.sqrt(0.3 * 0.7 / N))
    library = load_library()
    eta = {}
    for name, omega in (("target_half_life_days", 0.4), ("homing_fraction", 0.2)):
        eta[name] = np.log(c[name] / library.get(name).value)
        assert eta[name].std() == pytest.approx(omega, rel=0.02)
        assert within(eta[name].mean(), 0.0, omega / np.sqrt(N))
    r = np.corrcoef(eta["target_half_life_days"], eta["homing_fraction"])[0, 1]
    assert r == pytest.approx(0.6, abs=4 * (1 - 0.36) / np.sqrt(N))


def test_a_seed_alone_gives_the_documented_default_spread() -> None:
    patients = sample({"seed": 5}, np.arange(N))
    c = patients.covariates
    assert np.log(c["weight_kg"]).std() == pytest.approx(
        np.sqrt(np.log1p(DEFAULT_WEIGHT_CV**2)), rel=0.02
    )
    library = load_library()
    for name in ("lung_half_life_days", "sensitising_exposure_cell_days", "effect_ec50_ng"):
        spread = np.log(c[name] / library.get(name).value).std()
        assert spread == pytest.approx(library.get(name).omega, rel=0.02)
    # Each patient receives a lot: potency and viability vary too.
    assert c["lot_potency"].std() > 0.1 and 0 < c["lot_viability"].min() <= 1


def test_draws_are_keyed_by_patient_id() -> None:
    whole = deviates(3, np.arange(100), 5)
    part = deviates(3, np.array([97, 5, 42]), 5)
    np.testing.assert_array_equal(part, whole[[97, 5, 42]])
    assert not np.array_equal(deviates(4, np.arange(3), 5), whole[:3])
    a = sample(POPULATION, np.arange(50)).covariates
    b = sample(POPULATION, np.arange(30, 50)).covariates
    np.testing.assert_array_equal(a.iloc[30:].to_numpy(), b.to_numpy())


def _population_outputs(chunk_size: int, dask: str | None = None) -> dict[str, np.ndarray]:
    scenario = sca_scenario({"seed": 8})
    executor = InProcess(chunk_size) if dask is None else DaskExecutor(dask, chunk_size)
    chunks = list(simulate_population(scenario, n_patients=24, executor=executor))
    ids = np.concatenate([c.result.patient_ids for c in chunks])
    assert ids.tolist() == list(range(24))
    names = chunks[0].result.outputs
    return {k: np.concatenate([c.result.output(k) for c in chunks]) for k in names}


def test_results_do_not_depend_on_chunk_size() -> None:
    whole = _population_outputs(24)
    for size in (1, 5, 11):
        parts = _population_outputs(size)
        for name, values in whole.items():
            np.testing.assert_allclose(parts[name], values, rtol=1e-12, atol=0, err_msg=name)


def test_dask_gives_the_in_process_results() -> None:
    distributed = pytest.importorskip("dask.distributed")
    in_process = _population_outputs(10)
    started = _population_outputs(10, dask="local:2")
    # An existing scheduler, reached by its tcp:// address.
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        remote = _population_outputs(10, dask=cluster.scheduler_address)
    for name, values in in_process.items():
        np.testing.assert_array_equal(started[name], values, err_msg=name)
        np.testing.assert_array_equal(remote[name], values, err_msg=name)
