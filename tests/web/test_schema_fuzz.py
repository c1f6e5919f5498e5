"""Schemathesis against the service's own OpenAPI schema: no input gives a 5xx."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from mscsim.web.app import create_app  # noqa: E402
from mscsim.web.limits import Limits  # noqa: E402

# Tight limits: a valid scenario drawn at random is answered in well under a second.
APP = create_app(
    Path(tempfile.mkdtemp(prefix="mscsim-fuzz-")),
    Limits(max_horizon_days=20, max_points=2000, max_job_points=2000, max_replicates=2),
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_input_gives_a_server_error(case: schemathesis.Case) -> None:
    response = case.call()
    text = response.content.decode("utf-8", "replace")  # a report download is a PDF
    assert response.status_code < 500, (case.path, case.body, text[:300])
    assert "Traceback" not in text
