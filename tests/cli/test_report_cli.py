"""``mscsim report``: HTML or PDF in Chinese or English; refusals in one line, exit 2."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mscsim.cli.main import app

pytest.importorskip("plotly")
pytest.importorskip("matplotlib")

SCA = Path(__file__).resolve().parents[2] / "examples" / "sca_uc_msc_iv.toml"
runner = CliRunner()


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def one_line_refusal(code: int, stdout: str, stderr: str) -> str:
    assert (code, stdout) == (2, "")
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    return stderr


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.docx", "--output = '.*report.docx': unknown report format '.docx'; use a .html or .pdf"),
        ("report", "unknown report format '\\(none\\)'"),
    ],
)  # fmt: skip
def test_an_unknown_file_type_is_refused_in_one_line(
    tmp_path: Path, name: str, expected: str
) -> None:
    stderr = one_line_refusal(*invoke("report", SCA, "-o", tmp_path / name))
    assert list(tmp_path.iterdir()) == []
    assert re.search(expected, stderr), stderr


def test_a_path_under_a_file_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    stderr = one_line_refusal(*invoke("report", SCA, "-o", tmp_path / "file" / "r.html"))
    assert "--output = " in stderr


def test_a_missing_scenario_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    stderr = one_line_refusal(*invoke("report", tmp_path / "none.toml", "-o", tmp_path / "r.pdf"))
    assert "none.toml" in stderr
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_language_is_refused_with_the_choices(tmp_path: Path) -> None:
    stderr = one_line_refusal(*invoke("report", SCA, "--lang", "fr", "-o", tmp_path / "r.html"))
    assert "--lang = 'fr': must be one of en, zh" in stderr


def test_a_chinese_pdf_without_a_cjk_font_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mscsim.web import report as rendering

    monkeypatch.setattr(rendering, "cjk_font", lambda: None)
    stderr = one_line_refusal(*invoke("report", SCA, "--lang", "zh", "-o", tmp_path / "r.pdf"))
    assert "apt-get install fonts-noto-cjk" in stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("suffix", [".html", ".pdf"])
def test_the_report_is_written_in_both_languages(tmp_path: Path, lang: str, suffix: str) -> None:
    from mscsim.web import report as rendering

    if suffix == ".pdf" and lang == "zh" and rendering.cjk_font() is None:
        pytest.fail(
            "no Chinese font: make test installs fonts-noto-cjk (scripts/install_system_deps.sh)"
        )
    out = tmp_path / f"report{suffix}"
    code, stdout, stderr = invoke("report", SCA, "--lang", lang, "-o", out)
    assert (code, stderr) == (0, ""), stderr
    assert f"wrote {out}" in stdout
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary left
    question = rendering.WORDS[lang]["dependence"]
    if suffix == ".html":
        assert question in out.read_text(encoding="utf-8")
    elif (pdftotext := shutil.which("pdftotext")) is not None:
        text = subprocess.run(
            [pdftotext, str(out), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert "".join(question.split()) in "".join(text.split())
