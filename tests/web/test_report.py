"""The printable report: both languages, HTML self-contained, PDF text and fonts checked."""

# ruff: noqa: RUF001  (Chinese text: full-width punctuation is meant)
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("plotly")
pytest.importorskip("matplotlib")

from mscsim.errors import SpecError
from mscsim.io.scenario import load_scenario
from mscsim.web import report as rendering

ROOT = Path(__file__).resolve().parents[2]
SCA = ROOT / "examples" / "sca_uc_msc_iv.toml"
PDFTOTEXT = shutil.which("pdftotext")


@pytest.fixture
def pdftotext() -> str:
    """The pdftotext command; make test installs poppler-utils, so its absence is a failure."""
    if PDFTOTEXT is None:
        pytest.fail("pdftotext is missing: make test installs poppler-utils")
    return PDFTOTEXT


PDFFONTS = shutil.which("pdffonts")
UNTREATED = """
[patient]
weight_kg = 65

[product]
source = "umbilical_cord"
donor = "allogeneic"

[disease]
model = "sca"
genotype = "SCA3"
baseline_score = 13

[simulation]
horizon_days = 365
"""

FIGURE = {
    "data": [
        {"type": "scatter", "x": [0, 90, 180], "y": [13.0, 13.4, 13.9], "name": "未治疗"},
        {
            "type": "scatter",
            "x": [0, 90, 180],
            "y": [13.0, 13.2, 13.9],
            "name": "停药",
            "line": {"dash": "dash", "color": "rgba(59, 110, 168, 0.9)"},
        },
        {"type": "scatter", "x": [0, 90], "y": [1, 0.9], "xaxis": "x2", "yaxis": "y2"},
    ],
    "layout": {
        "xaxis": {"title": {"text": "天"}, "domain": [0, 0.45]},
        "yaxis": {"title": "评分（越高越差）"},
        "xaxis2": {"domain": [0.55, 1], "type": "log"},
        "shapes": [{"type": "line", "x0": 90, "x1": 90, "xref": "x", "yref": "paper"}],
    },
}
"""A plotly figure with the features the report draws (an input, not a result)."""


def made_up_answers(lang: str) -> dict[str, Any]:
    """Answers in the shape of :func:`mscsim.web.answers.answers`, apart from the model."""
    words = {
        "en": "After stopping the score returns to the untreated course",
        "zh": "停药后评分回到未治疗的病程",
    }

    def section(key: str, reading: str, figure: Any = None, **extra: Any) -> dict[str, Any]:
        return {"id": key, "title": key, "figure": figure, "reading": reading, "numbers": {},
                **extra}  # fmt: skip

    return {
        "lang": lang,
        "title": "title",
        "scenario": {"patient": {"weight_kg": 65}, "disease": {"model": "sca"}},
        "sections": [
            section("withdrawal", f"{words[lang]}.", FIGURE),
            section("compare", f"{words[lang]}, split.", FIGURE),
            section(
                "guesses",
                "guess",
                guesses=[{"name": "x", "value": "1", "references": ["R26"], "text": "R26 says"}],
            ),
            section("dose", "dose", sources=[{"references": ["R1", "R9999"], "text": "R1, R9999"}]),
        ],
        "warnings": ["a warning of the library"],
    }


def reading(answers: dict[str, Any], key: str) -> str:
    return str(next(s["reading"] for s in answers["sections"] if s["id"] == key))


def pdf_text(path: Path) -> str:
    """The PDF's text as pdftotext extracts it, without white space (lines break anywhere)."""
    assert PDFTOTEXT is not None
    out = subprocess.run([PDFTOTEXT, str(path), "-"], capture_output=True, text=True, check=True)
    return squeeze(out.stdout)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def embedded_fonts(path: Path) -> list[str]:
    """The PDF's font rows from pdffonts (type, embedded...)."""
    assert PDFFONTS is not None
    out = subprocess.run([PDFFONTS, str(path)], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[2:]


def script_and_style_links(page: str) -> list[str]:
    """Every src/href of a script, style sheet or link element in ``page``."""
    tags = re.findall(r"<(?:script|link|style|img)\b[^>]*>", page, flags=re.IGNORECASE)
    return [m for t in tags for m in re.findall(r"(?:src|href)\s*=\s*['\"]?([^'\" >]+)", t)]


# --- pieces ------------------------------------------------------------------------------


def test_cited_numbers_are_found_in_every_string_of_the_answers() -> None:
    assert rendering.cited_ids(made_up_answers("en")) == ("R1", "R26", "R9999")


def test_a_reference_line_is_the_dossiers_line_and_an_unknown_number_has_none() -> None:
    lines = rendering.reference_lines(["R26", "R9999"])
    doc = (ROOT / "docs" / "MSC_EVIDENCE.md").read_text(encoding="utf-8")
    entry = next(line for line in doc.splitlines() if line.startswith("- **R26** "))
    assert lines["R9999"] is None
    assert lines["R26"] is not None and squeeze(lines["R26"]) in squeeze(entry.replace("*", ""))


def test_lines_wrap_english_at_spaces_and_chinese_between_characters() -> None:
    assert rendering.wrap("one two three four", 5) == ["one two", "three", "four"]
    lines = rendering.wrap("间充质干细胞的旁分泌作用，停药后没有反跳。", 8)
    assert "".join(lines) == "间充质干细胞的旁分泌作用，停药后没有反跳。"
    assert all(len(line) <= 9 for line in lines) and not any(line[0] in "，。" for line in lines)


def test_an_unknown_language_is_refused_naming_the_option() -> None:
    with pytest.raises(SpecError, match=r"^--lang = 'fr': must be one of en, zh$"):
        rendering.build_report(made_up_answers("en"), "fr", "x.toml")


# --- layout, from answers in the page's shape --------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_html_report_is_self_contained_with_every_reading_and_source(lang: str) -> None:
    answers = made_up_answers(lang)
    page = rendering.render_html(rendering.build_report(answers, lang, "sca.toml"))
    assert script_and_style_links(page) == []
    assert "Plotly.newPlot" in page and page.count('class="figure"') == 2
    assert reading(answers, "withdrawal") in page and reading(answers, "compare") in page
    assert rendering.WORDS[lang]["dependence"] in page
    assert "R26 says" in page and "a warning of the library" in page
    assert "Eggenhofer" in page  # R26's line, read from the dossier
    assert "R9999" in page and rendering.WORDS[lang]["not_listed"] in page


@pytest.mark.usefixtures("pdftotext")
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_pdf_report_holds_the_answer_text_in_embedded_truetype_fonts(
    lang: str, tmp_path: Path
) -> None:
    if lang == "zh" and rendering.cjk_font() is None:
        pytest.fail(
            "no Chinese font: make test installs fonts-noto-cjk (scripts/install_system_deps.sh)"
        )
    answers = made_up_answers(lang)
    out = tmp_path / "report.pdf"
    rendering.write_pdf(rendering.build_report(answers, lang, "sca.toml"), out)
    text = pdf_text(out)
    assert squeeze(reading(answers, "withdrawal")) in text
    assert squeeze(rendering.WORDS[lang]["several"]) in text
    if PDFFONTS is not None:
        fonts = embedded_fonts(out)
        assert fonts and all("TrueType" in row and " yes " in row for row in fonts), fonts


def test_a_chinese_pdf_without_a_cjk_font_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(rendering, "cjk_font", lambda: None)
    report = rendering.build_report(made_up_answers("zh"), "zh", "sca.toml")
    with pytest.raises(SpecError, match="apt-get install fonts-noto-cjk"):
        rendering.write_pdf(report, tmp_path / "r.pdf")


# --- from the model: the page's answers --------------------------------------------------


@pytest.fixture(scope="module")
def answers_of() -> Any:
    import mscsim.web.answers as module

    return module.answers


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_report_of_a_scenario_gives_the_pages_answers(answers_of: Any, lang: str) -> None:
    scenario = load_scenario(SCA)
    report = rendering.report_text(scenario, lang, SCA.name)
    page = rendering.render_html(report)
    assert script_and_style_links(page) == []
    readings = [s.reading for s in report.sections]
    assert readings and all(r.strip() for r in readings)
    for _, answer in report.questions:
        assert answer in readings
        assert answer in page
    assert report.sources and all(line for line in report.sources.values())


@pytest.mark.usefixtures("pdftotext")
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_pdf_of_a_scenario_holds_both_answers(
    answers_of: Any, lang: str, tmp_path: Path
) -> None:
    if lang == "zh" and rendering.cjk_font() is None:
        pytest.fail(
            "no Chinese font: make test installs fonts-noto-cjk (scripts/install_system_deps.sh)"
        )
    report = rendering.report_text(load_scenario(SCA), lang, SCA.name)
    out = tmp_path / "report.pdf"
    rendering.write_pdf(report, out)
    text = pdf_text(out)
    for question, answer in report.questions:
        assert squeeze(question) in text
        assert squeeze(answer) in text


def test_an_untreated_scenario_has_a_report(answers_of: Any, tmp_path: Path) -> None:
    path = tmp_path / "untreated.toml"
    path.write_text(UNTREATED)
    report = rendering.report_text(load_scenario(path), "zh", path.name)
    page = rendering.render_html(report)
    assert all(answer in page for _, answer in report.questions)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_report_shows_every_section_the_guesses_and_the_scenario(
    answers_of: Any, lang: str
) -> None:
    scenario = load_scenario(SCA)
    report = rendering.report_text(scenario, lang, SCA.name)
    found = answers_of(scenario, lang, resolution_day=rendering.REPORT_RESOLUTION_DAY)
    page = rendering.render_html(report)
    assert [s.key for s in report.sections] == [s["id"] for s in found["sections"]]
    for section in found["sections"]:
        assert section["title"] in page and section["reading"] in page
    figures = sum(1 for s in found["sections"] if s["figure"])
    assert page.count('class="figure"') == figures > 0
    guesses = next(s for s in found["sections"] if s["id"] == "guesses")["guesses"]
    assert guesses and all(g["name"] in page and g["text"] in page for g in guesses)
    # the scenario in the page's words, every field of its disease included
    lines = dict(report.scenario)
    assert "SCA3" in lines[rendering.i18n.text("disease", lang)]
    assert lines[rendering.i18n.text("baseline", lang)] == "13"
    assert rendering.i18n.text("route_intravenous", lang) in page


# --- the page's download -----------------------------------------------------------------


def answers_reading(client: Any, scenario: Any, lang: str, key: str) -> str:
    found = client.post("/api/answers", json={"scenario": scenario, "lang": lang}).json()
    return reading(found, key)


def test_the_page_downloads_the_default_report_in_chinese(client: Any, tmp_path: Path) -> None:
    from mscsim.web.presets import DEFAULT_PRESET, PRESETS

    page = client.get("/api/report", params={"lang": "zh", "format": "html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'filename="mscsim-report-zh.html"' in page.headers["content-disposition"]
    assert script_and_style_links(page.text) == []
    answer = answers_reading(client, PRESETS[DEFAULT_PRESET], "zh", "withdrawal")
    assert answer in page.text and rendering.WORDS["zh"]["dependence"] in page.text
    assert PDFTOTEXT is not None and rendering.cjk_font() is not None, (
        "make test installs poppler-utils and fonts-noto-cjk (scripts/install_system_deps.sh)"
    )
    pdf = client.get("/api/report", params={"lang": "zh", "format": "pdf"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    out = tmp_path / "report.pdf"
    out.write_bytes(pdf.content)
    assert squeeze(answer) in pdf_text(out)


@pytest.mark.usefixtures("pdftotext")
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_scenarios_report_is_posted_with_the_pages_answer(
    client: Any, scenario: Any, lang: str, tmp_path: Path
) -> None:
    if lang == "zh" and rendering.cjk_font() is None:
        pytest.fail(
            "no Chinese font: make test installs fonts-noto-cjk (scripts/install_system_deps.sh)"
        )
    body = {"scenario": scenario, "lang": lang, "format": "pdf"}
    pdf = client.post("/api/report", json=body)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    out = tmp_path / "report.pdf"
    out.write_bytes(pdf.content)
    text = pdf_text(out)
    assert squeeze(answers_reading(client, scenario, lang, "withdrawal")) in text
    assert squeeze(answers_reading(client, scenario, lang, "compare")) in text
    page = client.post("/api/report", json={**body, "format": "html"})
    assert page.status_code == 200 and script_and_style_links(page.text) == []


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"params": {"format": "docx"}}, "format"),
        ({"params": {"lang": "fr"}}, "lang"),
        ({"json": {"lang": "fr"}}, "lang"),
        ({"json": {"format": "docx"}}, "format"),
        ({"json": {"lot": "uc_msc_lot.toml"}}, "scenario.product.lot"),
        ({"json": {"horizon_days": -1}}, "scenario.simulation.horizon_days"),
    ],
)
def test_a_bad_report_request_is_422_naming_the_field(
    client: Any, scenario: Any, request_: dict[str, Any], field: str
) -> None:
    if "params" in request_:
        response = client.get("/api/report", params=request_["params"])
    else:
        change = request_["json"]
        body: dict[str, Any] = {"scenario": scenario, "lang": "en", "format": "html"}
        if "lot" in change:
            scenario["product"]["lot"] = change["lot"]
        elif "horizon_days" in change:
            scenario["simulation"]["horizon_days"] = change["horizon_days"]
        else:
            body.update(change)
        response = client.post("/api/report", json=body)
    assert (response.status_code, response.json()["field"]) == (422, field), response.json()


def test_a_report_beyond_the_limits_is_refused_before_work(make_client: Any, scenario: Any) -> None:
    small = make_client(max_horizon_days=30)
    response = small.post("/api/report", json={"scenario": scenario, "format": "pdf"})
    assert 400 <= response.status_code < 500 and "horizon" in response.text
