"""How the service refuses: one line, the field it names, never a traceback.

Every refusal is a JSON body ``{"detail": "<field> = <value>: <what is allowed>",
"field": "<field>"}``, the line the command line prints after ``error:``. Bad
input is 422, a body over the size limit 413, a full job queue 429, an unknown
address 404; anything unexpected is 500 with a fixed sentence and nothing of the
exception in it.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mscsim.errors import MscsimError
from mscsim.io.plain import plain
from mscsim.web.limits import LimitError

__all__ = [
    "BodyTooLargeError",
    "QueueFullError",
    "field_of",
    "in_query",
    "install_error_handlers",
    "json_safe",
    "refusal",
]

logger = logging.getLogger("mscsim.web")

INTERNAL = "internal error: the request could not be answered (see the server log)"


class BodyTooLargeError(LimitError):
    """A request body larger than ``Limits.max_body_bytes`` (answered 413)."""


class QueueFullError(LimitError):
    """More jobs than ``Limits.max_queued_jobs`` waiting or running (answered 429)."""


_FIELD = re.compile(r"^(?P<field>[A-Za-z_][\w.\[\]-]*)(?: = |: |$)")


def field_of(message: str) -> str | None:
    """Return the field a one-line refusal names (the text before `` = `` or ``:``).

    Examples
    --------
    >>> field_of("simulation.horizon_days = 0: must be > 0")
    'simulation.horizon_days'
    >>> field_of("arm[0].scenario: a file cannot be named here") is None
    False
    >>> field_of("every regimen failed") is None
    True
    """
    match = _FIELD.match(message)
    return match["field"] if match and (" = " in message or ": " in message) else None


_QUERY_WORDING = {
    "allow it with EvidencePolicy(allow_beyond_evidence=True)": (
        "add ?allow_beyond_evidence=true to simulate it anyway"
    ),
    "allow it with EvidencePolicy(allow_failed_lot=True)": (
        "add ?allow_failed_lot=true to simulate it"
    ),
    "the policy allows a failed lot": "because of allow_failed_lot",
}
"""How the core's options are spelled for the service (query parameters)."""


def in_query(message: str) -> str:
    """Reword a core message for the service: one line, options as query parameters.

    Examples
    --------
    >>> in_query("x = 1: too high; allow it with EvidencePolicy(allow_failed_lot=True)")
    'x = 1: too high; add ?allow_failed_lot=true to simulate it'
    """
    line = " ".join(message.split())
    for core, query in _QUERY_WORDING.items():
        line = line.replace(core, query)
    return line


def refusal(status: int, message: str) -> JSONResponse:
    """Return the JSON answer of a refusal: the one line and the field it names."""
    line = in_query(message)
    return JSONResponse({"detail": line, "field": field_of(line)}, status_code=status)


json_safe = plain
"""Return a value as plain JSON data, as ``mscsim ... --json`` prints it (:func:`plain`)."""


def _query_refusal(err: RequestValidationError) -> str:
    """One line for a bad query parameter: ``allow_failed_lot = 'x': must be true or false``."""
    first = err.errors()[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body")]
    where = ".".join(loc) or "request"
    allowed = {
        "bool_parsing": "must be true or false",
        "float_parsing": "must be a number",
        "int_parsing": "must be a whole number",
    }.get(str(first.get("type")), str(first.get("msg", "is not allowed")).lower())
    if first.get("type") == "missing":
        return f"{where}: missing; this parameter is required"
    return f"{where} = {first.get('input')!r}: {allowed}"


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with one line and no traceback."""

    async def on_limit(request: Request, err: Exception) -> JSONResponse:
        status = (
            413
            if isinstance(err, BodyTooLargeError)
            else 429
            if isinstance(err, QueueFullError)
            else 422
        )
        return refusal(status, str(err))

    async def on_mscsim(request: Request, err: Exception) -> JSONResponse:
        return refusal(422, str(err))

    async def on_validation(request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, RequestValidationError)  # noqa: S101 - registered for it
        return refusal(422, _query_refusal(err))

    async def on_http(request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, StarletteHTTPException)  # noqa: S101 - registered for it
        detail = err.detail if isinstance(err.detail, str) else "refused"
        response = refusal(err.status_code, detail[:1].lower() + detail[1:])
        response.headers.update(err.headers or {})
        return response

    async def on_anything(request: Request, err: Exception) -> JSONResponse:
        logger.exception("unexpected error answering %s %s", request.method, request.url.path)
        return JSONResponse({"detail": INTERNAL, "field": None}, status_code=500)

    app.add_exception_handler(LimitError, on_limit)
    app.add_exception_handler(MscsimError, on_mscsim)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_anything)
