"""The clinician page: GET / shows the default preset's answers, POST /api/answers in en and zh."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from mscsim.spec.scenario import Scenario
from mscsim.web.answers import SECTIONS, answers
from mscsim.web.app import create_app
from mscsim.web.i18n import cells
from mscsim.web.presets import DEFAULT_PRESET, PRESETS, preset

ZH_TERMS = ("间充质干细胞", "静脉输注", "旁分泌", "依赖性", "耐受", "反跳")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(data_dir=Path(tmp_path_factory.mktemp("page")))
    with TestClient(app) as c:
        yield c


def _config(html: str) -> dict[str, Any]:
    match = re.search(r'<script id="config" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the page embeds its configuration"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


@pytest.mark.slow
def test_page_embeds_the_default_preset_figures_and_both_languages(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    config = _config(page.text)
    assert config["defaultPreset"] == DEFAULT_PRESET
    assert set(config["ui"]) == {"en", "zh"}
    assert 'data-lang="zh"' in page.text and 'data-lang="en"' in page.text
    assert "/vendor/plotly.min.js" in page.text and "cdn" not in page.text.lower()
    shown = config["initial"]["en"]
    assert [s["id"] for s in shown["sections"]] == list(SECTIONS)
    expected = answers(Scenario.model_validate(PRESETS[DEFAULT_PRESET]), "en")
    assert shown["sections"][0]["figure"]["data"] == json.loads(
        json.dumps(expected["sections"][0]["figure"]["data"])
    )
    assert client.get("/?lang=zh").text.count("间充质干细胞") >= 1


def test_static_files_and_plotly_are_served(client: TestClient) -> None:
    assert "Plotly.newPlot" in client.get("/static/page.js").text
    assert client.get("/static/page.css").status_code == 200
    assert client.get("/vendor/plotly.min.js").status_code == 200


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_reading_is_a_sentence(client: TestClient, lang: str) -> None:
    body = client.post("/api/answers", json={"scenario": PRESETS[DEFAULT_PRESET], "lang": lang})
    assert body.status_code == 200, body.text
    result = body.json()
    assert result["lang"] == lang
    for section in result["sections"]:
        reading = section["reading"]
        assert len(reading) > 20 and reading.rstrip()[-1] in ".。", (section["id"], reading)
        assert "_" not in reading, f"a variable name shows in {section['id']}: {reading}"
        if section["figure"] is not None:
            assert section["figure"]["data"], section["id"]
    if lang == "zh":
        text = json.dumps(result, ensure_ascii=False)
        for term in ZH_TERMS:
            assert term in text, term
        readings = "".join(s["reading"] for s in result["sections"])
        assert not re.search(r"[A-Za-z]{4,}", readings.replace("SARA", "")), readings


def _reading(client: TestClient, scenario: dict[str, Any], section: str, lang: str) -> str:
    body = client.post("/api/answers", json={"scenario": scenario, "lang": lang})
    assert body.status_code == 200, body.text
    return next(s["reading"] for s in body.json()["sections"] if s["id"] == section)


@pytest.mark.slow
def test_readings_carry_the_model_numbers(client: TestClient) -> None:
    small = preset("none_uc_iv")
    big = preset("none_uc_iv")
    big["dose"][0]["cells_per_kg"] = 2e6
    one, two = _reading(client, small, "dose", "zh"), _reading(client, big, "dose", "zh")
    assert cells(65 * 1e6, "zh") in one and cells(65 * 2e6, "zh") in two
    cells_one = _reading(client, small, "cells", "en")
    cells_two = _reading(client, big, "cells", "en")
    assert cells_one != cells_two
    result = client.post("/api/answers", json={"scenario": big, "lang": "en"}).json()
    peak = result["sections"][0]["numbers"]["peaks"]
    where = result["sections"][0]["numbers"]["where"]
    assert cells(peak[where]["peak"], "en") in cells_two


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda s: s["patient"].update(weight_kg=-1), "scenario.patient.weight_kg"),
        (lambda s: s["dose"][0].update(route="intravenus"), "scenario.dose[0].route"),
        (lambda s: s["product"].update(viability=1.5), "scenario.product.viability"),
        (lambda s: s["simulation"].update(horizon_days=0), "scenario.simulation.horizon_days"),
    ],
)
def test_bad_scenario_is_422_naming_the_field(client: TestClient, change: Any, field: str) -> None:
    scenario = preset("none_uc_iv")
    change(scenario)
    body = client.post("/api/answers", json={"scenario": scenario, "lang": "zh"})
    assert body.status_code == 422
    assert body.json()["field"] == field, body.json()


def test_bad_language_and_file_names_are_422(client: TestClient) -> None:
    body = client.post("/api/answers", json={"scenario": preset("none_uc_iv"), "lang": "fr"})
    assert (body.status_code, body.json()["field"]) == (422, "lang")
    named = preset("none_uc_iv")
    del named["product"]["viability"]
    named["product"]["lot"] = "lot.toml"
    body = client.post("/api/answers", json={"scenario": named})
    assert (body.status_code, body.json()["field"]) == (422, "scenario.product.lot")
    body = client.post("/api/answers", content=b"{", headers={"content-type": "application/json"})
    assert (body.status_code, body.json()["field"]) == (422, "body")


def test_every_preset_is_a_valid_scenario() -> None:
    for name in PRESETS:
        Scenario.model_validate(preset(name))
