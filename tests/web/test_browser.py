"""The page in headless Chromium: load, switch to Chinese, set a dose and schedule, run.

Uses the system Chromium (``/usr/bin/chromium``; Playwright downloads no browser)
and saves the screenshots the README shows: ``docs/figures/page_zh.png`` and
``docs/figures/page_en.png``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
CHROMIUM = Path("/usr/bin/chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
uvicorn = pytest.importorskip("uvicorn")

from mscsim.web.app import create_app  # noqa: E402 - after the skips above

FIGURES = Path(__file__).resolve().parents[2] / "docs" / "figures"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
WAIT_MS = 240_000  # the first answers of a scenario take seconds on a loaded machine

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    app = create_app(data_dir=tmp_path_factory.mktemp("browser"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_page_in_chinese_and_english(base_url: str) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: make test installs Debian's chromium")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        blocked: list[str] = []
        page.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith(base_url)
                else (blocked.append(route.request.url), route.abort())
            ),
        )
        page.goto(base_url + "/", timeout=WAIT_MS)
        page.wait_for_selector("#answer-cells .main-svg", timeout=WAIT_MS)
        assert page.locator(".answer").count() == 6

        page.click('#lang-switch button[data-lang="zh"]')
        page.wait_for_function(
            "document.querySelector('#answer-withdrawal .reading')?.textContent.includes('依赖性')"
            " || document.querySelector('#answer-withdrawal .reading')?.textContent.includes('反跳')",
            timeout=WAIT_MS,
        )
        assert page.locator("#title").inner_text() == "间充质干细胞治疗在体内的作用"

        page.fill('input[name="dose"]', "2000000")
        page.fill('input[name="count"]', "3")
        page.fill('input[name="every_days"]', "60")
        before = page.locator("#answer-dose .reading").inner_text()
        page.click("#run")
        page.wait_for_function(
            "document.querySelector('#answer-dose .reading') && "
            f"document.querySelector('#answer-dose .reading').textContent !== {before!r}",
            timeout=WAIT_MS,
        )
        assert page.locator("#status").inner_text() == ""
        dose = page.locator("#answer-dose .reading").inner_text()
        assert "1.3亿" in dose and "静脉输注" in dose, dose
        svgs = page.locator(".answer .main-svg")
        assert svgs.count() >= 6
        body = page.locator("#answers").inner_text()
        for term in ("旁分泌", "依赖性", "耐受", "反跳"):
            assert term in body, term
        FIGURES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(FIGURES / "page_zh.png"), full_page=True)

        with page.expect_download(timeout=WAIT_MS) as download:
            page.click('button.download[data-format="pdf"]')
        saved = download.value.path()
        assert download.value.suggested_filename == "mscsim-report-zh.pdf"
        assert saved is not None and saved.read_bytes()[:5] == b"%PDF-"

        page.click('#lang-switch button[data-lang="en"]')
        page.wait_for_function(
            "document.querySelector('#answer-dose .reading').textContent.includes('intravenous')",
            timeout=WAIT_MS,
        )
        assert "Why several infusions?" in page.locator("#answers").inner_text()
        page.screenshot(path=str(FIGURES / "page_en.png"), full_page=True)
        assert blocked == [], f"the page asked for outside addresses: {blocked}"
        browser.close()
