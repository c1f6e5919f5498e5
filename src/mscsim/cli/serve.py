"""``mscsim serve``: the web page and its API on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mscsim.cli.common import err_console, user_errors
from mscsim.errors import SpecError

__all__ = ["serve"]


@user_errors
def serve(
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to listen on. The default serves this machine only; anything else "
            "exposes an unauthenticated service to the network.",
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Where jobs and their results are kept (default: $MSCSIM_DATA_DIR, else the "
            "user's data directory, ~/.local/share/mscsim on Linux).",
        ),
    ] = None,
) -> None:
    """Serve the web page and its API (FastAPI, uvicorn) until interrupted."""
    if not 1 <= port <= 65_535:
        raise SpecError(f"--port = {port}: must be a port number from 1 to 65535")
    if not host.strip():
        raise SpecError(f"--host = {host!r}: must name an address, e.g. 127.0.0.1")
    if data_dir is not None and data_dir.exists() and not data_dir.is_dir():
        raise SpecError(f"--data-dir = {str(data_dir)!r}: is a file, not a directory")
    try:
        import uvicorn

        from mscsim.web.app import create_app
    except ImportError as err:
        raise SpecError(
            f"serve: needs the web extra ({err.name} is missing); "
            "install it with pip install 'mscsim[web]'"
        ) from None
    try:
        app = create_app(data_dir)
    except OSError as err:
        raise SpecError(
            f"--data-dir = {str(data_dir)!r}: cannot be used ({err.strerror or err})"
        ) from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(
            f"warning: serving on {host}: anyone who reaches this address can run simulations; "
            "the service has no login"
        )
    uvicorn.run(app, host=host, port=port, log_level="info")
