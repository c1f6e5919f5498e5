"""The web service: ``create_app`` builds it, ``mscsim serve`` runs it with uvicorn.

Routes: ``GET /`` the page, ``/static`` its files (from this package, no CDN),
``/vendor/plotly.min.js`` the plotly library's bundled script, ``/openapi.json``
the schema, ``/api/...`` the computations (:mod:`mscsim.web.api`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from mscsim import __version__
from mscsim.web.api import router
from mscsim.web.errors import BodyTooLargeError, install_error_handlers, refusal
from mscsim.web.jobs import JobRunner, JobStore
from mscsim.web.limits import Limits
from mscsim.web.page import router as page_router
from mscsim.web.schemas import merge_definitions

__all__ = ["DATA_DIR_ENV", "create_app", "default_data_dir"]

STATIC = Path(__file__).parent / "static"

DATA_DIR_ENV = "MSCSIM_DATA_DIR"
"""Environment variable naming the data directory (``--data-dir`` overrides it)."""

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def default_data_dir() -> Path:
    """Return where jobs are kept by default.

    ``$MSCSIM_DATA_DIR`` if set, else the user's data directory for ``mscsim``
    (``~/.local/share/mscsim`` on Linux, as :mod:`platformdirs` places it).
    """
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV])
    from platformdirs import user_data_dir

    return Path(user_data_dir("mscsim", appauthor=False))


class BodyLimit:
    """Refuse a request body over ``limit`` bytes with 413, before it is read in full.

    A declared ``Content-Length`` over the limit is refused at once; a body sent
    without one is counted as it arrives.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"").decode("latin-1").strip()
        message = (
            f"body: larger than the {self.limit:,} bytes a request may send (limit max_body_bytes)"
        )
        if declared.isdigit() and int(declared) > self.limit:
            await refusal(413, message)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLargeError(message)
            return msg

        await self.app(scope, counted, send)


def create_app(data_dir: Path | None = None, limits: Limits | None = None) -> FastAPI:
    """Build the service.

    Parameters
    ----------
    data_dir : Path, optional
        Where the job store (``jobs.sqlite``) lives; default :func:`default_data_dir`.
        Jobs left running by a previous server are marked ``interrupted`` here.
    limits : Limits, optional
        What one request may ask for (default :class:`Limits`).
    """
    limits = limits or Limits()
    store = JobStore.open(Path(data_dir) if data_dir is not None else default_data_dir())
    interrupted = store.mark_interrupted()
    runner = JobRunner(store, limits)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runner.start()
        try:
            yield
        finally:
            runner.stop()

    app = FastAPI(
        title="mscsim",
        version=__version__,
        description="Simulate and plan mesenchymal stem/stromal cell (MSC) therapy. "
        "Scenarios are JSON in the shape of scenario files; refusals are 422 with one line "
        "naming the field.",
        lifespan=lifespan,
    )
    app.state.limits = limits
    app.state.jobs = runner
    app.state.interrupted = interrupted
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(page_router)  # GET / (the page) and /api/answers

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        import plotly  # type: ignore[import-untyped]

        script = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        return FileResponse(script, media_type="text/javascript")

    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = merge_definitions(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(BodyLimit, limit=limits.max_body_bytes)
    return app
