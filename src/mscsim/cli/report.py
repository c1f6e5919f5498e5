"""``mscsim report``: the page's answers as one printable file, in Chinese or English."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mscsim.cli.common import out_console, user_errors
from mscsim.errors import SpecError
from mscsim.io.outputs import OutputSet

__all__ = ["REPORT_FILE_FORMATS", "Language", "report"]

REPORT_FILE_FORMATS: tuple[str, ...] = (".html", ".pdf")
"""File names ``mscsim report`` writes (as :data:`mscsim.web.report.REPORT_FORMATS`)."""


class Language(StrEnum):
    """Languages of the report."""

    EN = "en"
    ZH = "zh"


@user_errors
def report(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (TOML).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Report to write: .html or .pdf.")],
    lang: Annotated[
        Language, typer.Option("--lang", help="Language: zh (Chinese) or en (English).")
    ] = Language.EN,
) -> None:
    """Write a report for a patient: the treatment, the answers, figures and sources.

    The answers to "will I become dependent?" and "why several infusions?", with the
    figures of the web page (mscsim serve), what is a guess, and every source cited.
    HTML embeds its figures and their script; PDF embeds its fonts (Chinese needs
    the fonts-noto-cjk package).
    """
    with OutputSet() as outputs:
        target = outputs.add_file(
            output, flag="--output", formats=REPORT_FILE_FORMATS, kind="report"
        )
        try:
            from mscsim.web import report as rendering
        except ImportError as err:
            raise SpecError(
                f"report: needs the web extra ({err.name} is missing); "
                "install it with pip install 'mscsim[web,report]'"
            ) from None
        from mscsim.io.scenario import load_scenario

        spec = load_scenario(scenario)
        if output.suffix.lower() == ".pdf" and lang is Language.ZH and not rendering.cjk_font():
            raise SpecError(rendering.missing_font_message())
        content = rendering.report_text(spec, lang.value, scenario.name)
        with outputs.writing(target) as tmp:
            if output.suffix.lower() == ".pdf":
                rendering.write_pdf(content, tmp)
            else:
                tmp.write_text(rendering.render_html(content), encoding="utf-8")
    out_console.print(f"wrote {output}: report of {scenario.name} ({lang.value})")
