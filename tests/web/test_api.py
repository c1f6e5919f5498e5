"""The service's endpoints through its test client: answers, refusals and limits."""

from __future__ import annotations

import copy
import importlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from mscsim.web.limits import Limits

MSCSIM = [sys.executable, "-m", "mscsim"]
AMOUNT = ["--cells-per-kg", "1e6"]


def refused(response: Any, status: int, field: str) -> str:
    """Assert a one-line refusal naming ``field``; return its line."""
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert body["field"] == field, body
    assert field in body["detail"] and "\n" not in body["detail"]
    assert "Traceback" not in response.text
    return str(body["detail"])


def test_the_page_and_the_schema_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    schema = client.get("/openapi.json").json()
    for path in ("/api/dose", "/api/simulate", "/api/compare", "/api/withdrawal", "/api/jobs"):
        assert "post" in schema["paths"][path]
        body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"]
    assert "Scenario" in json.dumps(schema["paths"]["/api/simulate"])
    assert "Lot" in schema["components"]["schemas"]
    assert {"/api/parameters", "/api/jobs/{job_id}"} <= set(schema["paths"])


def test_plotly_is_served_from_the_installed_package(client: TestClient) -> None:
    script = client.get("/vendor/plotly.min.js")
    assert script.status_code == 200 and len(script.content) > 1_000_000


def test_the_dose_verdict_is_that_of_mscsim_dose_json(client: TestClient) -> None:
    answer = client.post(
        "/api/dose", json={"route": "intravenous", "weight_kg": 65, "cells_per_kg": 1e6}
    )
    assert answer.status_code == 200
    cli = subprocess.run(
        [*MSCSIM, "dose", "--route", "intravenous", "--weight-kg", "65", *AMOUNT, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert answer.json() == json.loads(cli.stdout)


def test_a_dose_beyond_the_evidence_is_a_verdict_not_a_refusal(client: TestClient) -> None:
    answer = client.post("/api/dose", json={"route": "intravenous", "weight_kg": 65, "cells": 5e9})
    assert answer.status_code == 200 and answer.json()["beyond_evidence"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"route": "intravenous", "weight_kg": "65", "cells": 1e8}, "weight_kg"),  # wrong type
        ({"route": "iv", "weight_kg": 65, "cells": 1e8}, "route"),  # not a route
        ({"route": "intravenous", "weight_kg": 65, "cells": 1e8, "dose": 1}, "dose"),  # unknown
        ({"route": "intravenous", "weight_kg": 4000, "cells": 1e8}, "weight_kg"),  # range
        ({"route": "intravenous", "weight_kg": 65, "cells": -1}, "cells"),
        ({"route": "intravenous", "weight_kg": 65, "cells": 0.5}, "cells"),
        ({"route": "intravenous", "cells": 1e8}, "weight_kg"),  # missing
        ({"route": "intravenous", "weight_kg": 65}, "cells"),  # neither amount
        ({"route": "intravenous", "weight_kg": 65, "cells": 1, "cells_per_kg": 1}, "cells"),
        ([1, 2], "body"),
    ],
)
def test_a_bad_dose_is_refused_with_its_field(client: TestClient, body: Any, field: str) -> None:
    refused(client.post("/api/dose", json=body), 422, field)


def test_simulate_answers_the_table_of_mscsim_simulate(
    client: TestClient, scenario: dict[str, Any], tmp_path: Path
) -> None:
    answer = client.post("/api/simulate", json=scenario)
    assert answer.status_code == 200, answer.text[:500]
    records = pd.DataFrame(answer.json()["records"])
    lot = scenario["product"].pop("lot")
    (tmp_path / "lot.toml").write_text(_toml(lot))
    scenario["product"]["lot"] = "lot.toml"
    (tmp_path / "s.toml").write_text(_toml(scenario))
    subprocess.run(
        [*MSCSIM, "simulate", str(tmp_path / "s.toml"), "-o", str(tmp_path / "s.csv")],
        check=True,
        capture_output=True,
    )
    table = pd.read_csv(tmp_path / "s.csv")
    assert list(records.columns) == list(table.columns)
    assert len(records) == len(table) == 61
    np.testing.assert_allclose(records.to_numpy(float), table.to_numpy(float), rtol=1e-9)


def _toml(data: dict[str, Any]) -> str:
    """Write the small subset of TOML the test scenarios use."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    arrays: list[tuple[str, list[dict[str, Any]]]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            arrays.append((key, value))
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    for key, table in tables:
        lines += [f"[{key}]", *(f"{k} = {json.dumps(v)}" for k, v in table.items())]
    for key, items in arrays:
        for item in items:
            lines += [f"[[{key}]]", *(f"{k} = {json.dumps(v)}" for k, v in item.items())]
    return "\n".join(lines).replace("= true", "= true").replace("True", "true") + "\n"


def _set(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    node[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("simulation.horizon_days", "60", "simulation.horizon_days"),  # wrong type
        ("patient.weight_kg", 0, "patient.weight_kg"),  # out of range
        ("patient.height_cm", 170, "patient.height_cm"),  # unknown key
        ("product.lot", "uc_msc_lot.toml", "product.lot"),  # a file
        ("product.lot", "/etc/passwd", "product.lot"),
        ("disease.model", "flu", "disease.model"),
        ("simulation.horizon_days", 36_500, "simulation.horizon_days"),  # too long (limit)
        ("simulation.n_patients", 10_000, "simulation.n_patients"),  # too many (limit)
    ],
)
def test_a_bad_scenario_is_refused_with_its_field(
    client: TestClient, scenario: dict[str, Any], path: str, value: Any, field: str
) -> None:
    line = refused(client.post("/api/simulate", json=_set(scenario, path, value)), 422, field)
    if field == "product.lot":
        assert "reads no file" in line


def test_limits_are_named_in_the_refusal(client: TestClient, scenario: dict[str, Any]) -> None:
    long = client.post("/api/simulate", json=_set(scenario, "simulation.horizon_days", 36_500))
    assert "max_horizon_days" in long.json()["detail"]
    many = client.post("/api/simulate", json=_set(scenario, "simulation.n_patients", 10_000))
    assert "max_points" in many.json()["detail"]


def test_a_body_too_big_is_refused_before_it_is_read(make_client: Any) -> None:
    client = make_client(max_body_bytes=1000)
    big = json.dumps({"patient": {"weight_kg": 65}, "pad": "x" * 2000})
    line = refused(client.post("/api/simulate", content=big), 413, "body")
    assert "max_body_bytes" in line


def test_a_body_without_length_is_counted_as_it_arrives(make_client: Any) -> None:
    client = make_client(max_body_bytes=1000)

    def chunks() -> Any:
        for _ in range(10):
            yield b" " * 500

    answer = client.post("/api/simulate", content=chunks())
    refused(answer, 413, "body")


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"", "empty"),
        (b"{not json", "not valid JSON"),
        (b'{"patient": NaN}', "NaN"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[" * 100_000, "body"),
    ],
)
def test_a_body_that_is_not_json_is_refused(
    client: TestClient, content: bytes, detail: str
) -> None:
    line = refused(client.post("/api/simulate", content=content), 422, "body")
    assert detail in line


def test_limits_are_refused_before_any_work(
    client: TestClient, scenario: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_work(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("simulated despite a limit")

    for module, name in [
        ("mscsim.analysis.doses", "simulate_course"),
        ("mscsim.population.run", "simulate_scenario"),
        ("mscsim.analysis.compare", "compare_splits"),
        ("mscsim.analysis.withdrawal", "withdrawal"),
    ]:
        monkeypatch.setattr(importlib.import_module(module), name, no_work)
    long = _set(scenario, "simulation.horizon_days", 36_500)
    start = time.perf_counter()
    refused(client.post("/api/simulate", json=long), 422, "simulation.horizon_days")
    refused(
        client.post("/api/simulate", json=_set(scenario, "simulation.n_patients", 10_000)),
        422,
        "simulation.n_patients",
    )
    refused(
        client.post("/api/compare", json={"scenario": scenario, "splits": list(range(1, 10))}),
        422,
        "splits",
    )
    refused(
        client.post("/api/withdrawal", json={"scenario": scenario, "follow_up_days": 10_000}),
        422,
        "follow_up_days",
    )
    refused(
        client.post("/api/compare", json={"scenario": scenario, "window_days": 10_000}),
        422,
        "window_days",
    )
    refused(
        client.post("/api/withdrawal", json={"scenario": long}),
        422,
        "scenario.simulation.horizon_days",
    )
    assert time.perf_counter() - start < 5


def test_compare_gives_one_row_per_split_and_the_untreated_course(
    client: TestClient, scenario: dict[str, Any]
) -> None:
    answer = client.post("/api/compare", json={"scenario": scenario, "splits": [1, 2]})
    assert answer.status_code == 200, answer.text[:500]
    body = answer.json()
    assert [r["n_doses"] for r in body["regimens"]][:2] == [1, 2]
    assert body["regimens"][-1]["regimen"] == "untreated"
    assert body["attrs"]["outcome"] == "sara_score"
    assert {"day", "regimen", "effect", "outcome", "dose"} <= set(body["courses"][0])
    json.dumps(body, allow_nan=False)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scenario": None}, "scenario"),
        ({"splits": [1, 1]}, "splits"),
        ({"splits": [0]}, "splits"),
        ({"splits": "1,2"}, "splits"),
        ({"effect_threshold": 2}, "effect_threshold"),
        ({"window": 3}, "window"),
    ],
)
def test_a_bad_comparison_is_refused_with_its_field(
    client: TestClient, scenario: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    refused(client.post("/api/compare", json={"scenario": scenario, **body}), 422, field)


def test_withdrawal_gives_the_figures_of_the_cli_and_the_courses(
    client: TestClient, scenario: dict[str, Any]
) -> None:
    answer = client.post("/api/withdrawal", json={"scenario": scenario, "follow_up_days": 30})
    assert answer.status_code == 200, answer.text[:500]
    body = answer.json()
    for key in ("rebound", "tolerance_index", "fade_days", "stop_day"):
        assert key in body["msc"] and key in body["reference_drug"]
    courses = {r["course"] for r in body["courses"]["msc"]}
    assert courses == {"stopped", "untreated", "continued"}


def test_withdrawal_needs_a_disease(client: TestClient, scenario: dict[str, Any]) -> None:
    no_disease = {k: v for k, v in scenario.items() if k != "disease"}
    answer = client.post("/api/withdrawal", json={"scenario": no_disease, "follow_up_days": 30})
    assert answer.status_code == 422 and answer.json()["detail"]


def test_a_bad_option_is_refused_with_its_name(
    client: TestClient, scenario: dict[str, Any]
) -> None:
    answer = client.post("/api/simulate?allow_beyond_evidence=maybe", json=scenario)
    refused(answer, 422, "allow_beyond_evidence")


def test_a_dose_beyond_the_evidence_is_refused_unless_allowed(
    client: TestClient, scenario: dict[str, Any]
) -> None:
    high = _set(scenario, "dose", [{"route": "intravenous", "cells_per_kg": 5e7, "day": 0}])
    del high["product"]["lot"]  # its endotoxin limit would refuse such a dose first
    refused(client.post("/api/simulate", json=high), 422, "dose[0]")
    allowed = client.post("/api/simulate?allow_beyond_evidence=true", json=high)
    assert allowed.status_code == 200 and allowed.json()["warnings"]


def test_parameters_come_with_their_sources(client: TestClient) -> None:
    rows = client.get("/api/parameters").json()["parameters"]
    assert rows and all(r["source"] and r["evidence"] for r in rows)
    assert {"name", "value", "unit", "plausible_low", "plausible_high"} <= set(rows[0])


def test_an_unknown_address_or_job_is_404_in_one_line(client: TestClient) -> None:
    assert client.get("/api/nothing").status_code == 404
    refused(client.get("/api/jobs/nope"), 404, "job")
    refused(client.delete("/api/jobs/nope"), 404, "job")


def test_an_unexpected_error_is_500_without_its_text(
    client: TestClient, scenario: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret /home/path detail")

    monkeypatch.setattr(importlib.import_module("mscsim.analysis.doses"), "simulate_course", broken)
    answer = client.post("/api/simulate", json=scenario)
    assert answer.status_code == 500
    assert "secret" not in answer.text and "Traceback" not in answer.text


def test_the_limits_themselves_are_checked() -> None:
    with pytest.raises(ValueError, match="max_points"):
        Limits(max_points=0)
