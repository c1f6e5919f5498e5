"""The clinician page: ``GET /`` and ``POST /api/answers``.

``GET /`` returns the page with the default preset's answers embedded in its
language, so its figures show on load, before any click; ``?lang=zh`` opens it
in Chinese. Its script and style are this package's ``static/page.js`` and
``static/page.css``, and plotly is the installed library's bundled script
(``/vendor/plotly.min.js``): the page needs no network.
``POST /api/answers`` takes ``{"scenario": {...}, "lang": "en" | "zh"}`` and
returns :func:`mscsim.web.answers.answers`; bad input is 422 with the field named.
``GET /api/report?lang=zh&format=pdf`` downloads the default preset's report
(:mod:`mscsim.web.report`) and ``POST /api/report`` (the body of ``/api/answers``
and ``"format": "html" | "pdf"``) a scenario's, with the page's numbers.
"""

from __future__ import annotations

import html
import json
from functools import cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field

from mscsim.spec.base import SpecModel
from mscsim.spec.scenario import Scenario
from mscsim.web.api import computing, json_body
from mscsim.web.errors import json_safe
from mscsim.web.i18n import LANGS, Lang, text, ui_strings
from mscsim.web.presets import DEFAULT_PRESET, DISEASE_DEFAULTS, PRESET_ORDER, PRESETS
from mscsim.web.schemas import request_body_schema, validated

__all__ = ["AnswersRequest", "ReportRequest", "render_page", "router"]

router = APIRouter()


class AnswersRequest(SpecModel):
    """``POST /api/answers``: a scenario (as a scenario file, lot inline) and the language."""

    scenario: Scenario
    lang: Literal["en", "zh"] = Field(default="en")


def _answers(scenario: Scenario, lang: Lang) -> dict[str, Any]:
    from mscsim.web.answers import answers

    with computing():
        result: dict[str, Any] = json_safe(answers(scenario, lang))
    return result


@router.post(
    "/api/answers",
    summary="Every answer of the page for a scenario, in English or Chinese",
    openapi_extra={"requestBody": request_body_schema(AnswersRequest)},
)
def post_answers(body: Annotated[Any, Depends(json_body)], request: Request) -> dict[str, Any]:
    """Return the page's six answers: each a figure's data and a one-sentence reading.

    Sections: where the living cells are, the effect and disease course beside the
    untreated course, the same cells as one dose and as several, stopping vs never
    treating vs continuing beside a drug with tolerance and rebound, the dose
    against the evidence with sources, and what is a guess.
    """
    req = validated(AnswersRequest, body)
    request.app.state.limits.check_scenario(req.scenario, where="scenario.")
    return _answers(req.scenario, req.lang)


class ReportRequest(AnswersRequest):
    """``POST /api/report``: as ``POST /api/answers``, and the report's file format."""

    format: Literal["html", "pdf"] = Field(default="html")


ReportFormat = Literal["html", "pdf"]

_MEDIA = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


def _report(scenario: Scenario, lang: Lang, fmt: ReportFormat, name: str) -> bytes:
    """Return the report of ``scenario`` on the page's grid (its numbers are the page's)."""
    from mscsim.web import report as rendering
    from mscsim.web.answers import PAGE_RESOLUTION_DAY

    with computing():  # also keeps matplotlib's font list to one report at a time
        content = rendering.report_text(scenario, lang, name, resolution_day=PAGE_RESOLUTION_DAY)
        if fmt == "pdf":
            return rendering.pdf_bytes(content)
        return rendering.render_html(content).encode("utf-8")


def _download(data: bytes, lang: Lang, fmt: ReportFormat) -> Response:
    disposition = f'attachment; filename="mscsim-report-{lang}.{fmt}"'
    return Response(data, media_type=_MEDIA[fmt], headers={"Content-Disposition": disposition})


@cache
def _default_scenario() -> Scenario:
    """Return the default preset as a scenario (what the page shows on load)."""
    return Scenario.model_validate(PRESETS[DEFAULT_PRESET])


@cache
def _default_report(lang: Lang, fmt: ReportFormat) -> bytes:
    return _report(_default_scenario(), lang, fmt, text(f"preset_{DEFAULT_PRESET}", lang))


@router.get(
    "/api/report",
    summary="The default preset's printable report, HTML or PDF",
    response_class=Response,
    responses={200: {"content": {m.split(";")[0]: {} for m in _MEDIA.values()}}},
)
def get_report(
    lang: Annotated[Literal["en", "zh"], Query()] = "en",
    format: Annotated[ReportFormat, Query()] = "html",
) -> Response:
    """Download the report of the page's default preset (what the page shows on load)."""
    return _download(_default_report(lang, format), lang, format)


@router.post(
    "/api/report",
    summary="A scenario's printable report, HTML or PDF",
    response_class=Response,
    responses={200: {"content": {m.split(";")[0]: {} for m in _MEDIA.values()}}},
    openapi_extra={"requestBody": request_body_schema(ReportRequest)},
)
def post_report(body: Annotated[Any, Depends(json_body)], request: Request) -> Response:
    """Download a scenario's report: the page's answers, figures, guesses and sources.

    One self-contained file: HTML with its figures and their script inside, or PDF
    with its fonts embedded. Bad input is 422 with the field named.
    """
    req = validated(ReportRequest, body)
    request.app.state.limits.check_scenario(req.scenario, where="scenario.")
    return _download(_report(req.scenario, req.lang, req.format, ""), req.lang, req.format)


def render_page(lang: Lang, initial: dict[Lang, dict[str, Any]]) -> str:
    """Return the page's HTML with ``initial`` answers (by language) embedded."""
    config = {
        "lang": lang,
        "langs": list(LANGS),
        "ui": {code: ui_strings(code) for code in LANGS},
        "presets": {name: PRESETS[name] for name in PRESET_ORDER},
        "presetOrder": list(PRESET_ORDER),
        "defaultPreset": DEFAULT_PRESET,
        "diseaseDefaults": DISEASE_DEFAULTS,
        "initial": initial,
    }
    data = json.dumps(json_safe(config), ensure_ascii=False).replace("</", "<\\/")
    title = html.escape(text("title", lang))
    return f"""<!doctype html>
<html lang="{"zh-CN" if lang == "zh" else "en"}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/static/page.css">
<script src="/vendor/plotly.min.js"></script>
</head>
<body>
<header>
  <h1 id="title">{title}</h1>
  <div id="lang-switch" role="group">
    <button type="button" data-lang="en" lang="en">English</button>
    <button type="button" data-lang="zh" lang="zh">中文</button>
  </div>
</header>
<p id="subtitle" class="muted">{html.escape(text("subtitle", lang))}</p>
<main>
  <form id="form" autocomplete="off"></form>
  <div id="answers"></div>
</main>
<footer><p id="offline" class="muted">{html.escape(text("offline", lang))}</p></footer>
<script id="config" type="application/json">{data}</script>
<script src="/static/page.js"></script>
</body>
</html>
"""


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def page(lang: Annotated[Literal["en", "zh"], Query()] = "en") -> HTMLResponse:
    """Return the page, with the default preset's answers in its language embedded.

    The other language is fetched when the switch is used (the numbers are cached).
    """
    return HTMLResponse(_page_html(lang))


@cache
def _page_html(lang: Lang) -> str:
    """Return the page in ``lang``, made once: the default preset's answers never change."""
    initial: dict[Lang, dict[str, Any]] = {lang: _answers(_default_scenario(), lang)}
    return render_page(lang, initial)
