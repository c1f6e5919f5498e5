"""Fixtures of the web service's tests: an app on a fresh data directory, small scenarios."""

from __future__ import annotations

import copy
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from mscsim.web.app import create_app
from mscsim.web.limits import Limits

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

SMALL: dict[str, Any] = {
    "patient": {"weight_kg": 65, "age_years": 40},
    "product": {
        "source": "umbilical_cord",
        "donor": "allogeneic",
        "lot": tomllib.loads((EXAMPLES / "uc_msc_lot.toml").read_text(encoding="utf-8")),
    },
    "dose": [{"route": "intravenous", "cells_per_kg": 1e6, "day": 0, "every_days": 30, "count": 2}],
    "disease": {"model": "sca", "genotype": "SCA3", "baseline_score": 13},
    "simulation": {"horizon_days": 60, "output_every_days": 1},
}
"""A scenario of the SCA example's kind, short enough to answer in about a second."""

POPULATION: dict[str, Any] = {
    **SMALL,
    "product": {"source": "umbilical_cord", "donor": "allogeneic"},
    "simulation": {"horizon_days": 60, "output_every_days": 10, "n_patients": 400},
    "population": {
        "seed": 1,
        "baseline": {"dist": "normal", "mean": 13, "sd": 4, "min": 3, "max": 30},
        "age_years": {"dist": "normal", "mean": 45, "sd": 10, "min": 18, "max": 75},
    },
}


@pytest.fixture
def scenario() -> dict[str, Any]:
    return copy.deepcopy(SMALL)


@pytest.fixture
def population() -> dict[str, Any]:
    return copy.deepcopy(POPULATION)


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """Return a factory of test clients, each a started app (lifespan run) on ``tmp_path``."""
    opened: list[TestClient] = []

    def make(data_dir: Path | None = None, **limits: Any) -> TestClient:
        app = create_app(data_dir or tmp_path / "data", Limits(**limits))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in reversed(opened):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(job_chunk_size=100)


@pytest.fixture
def wait_for() -> Callable[..., dict[str, Any]]:
    """Return ``wait_for(client, job_id, states)``: poll a job until one of ``states``."""

    def wait(client: TestClient, job_id: str, states: set[str], timeout: float = 120) -> Any:
        end = time.monotonic() + timeout
        while True:
            job = client.get(f"/api/jobs/{job_id}").json()
            if job["state"] in states or time.monotonic() > end:
                return job
            time.sleep(0.1)

    return wait
