"""The ``mscsim`` command."""

from __future__ import annotations

from typing import Annotated

import typer

from mscsim import __version__
from mscsim.cli.analysis import compare, models, withdrawal
from mscsim.cli.evidence import dose, params
from mscsim.cli.quality import qc, sources
from mscsim.cli.simulate import plot, simulate
from mscsim.cli.trial import trial

__all__ = ["app", "main"]

app = typer.Typer(
    name="mscsim",
    help="Simulate and plan mesenchymal stem/stromal cell (MSC) therapy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mscsim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """Simulate and plan mesenchymal stem/stromal cell (MSC) therapy."""


app.command()(simulate)
app.command()(dose)
app.command()(params)
app.command()(plot)
app.command()(compare)
app.command()(withdrawal)
app.command()(models)
app.command()(qc)
app.command()(sources)
app.command()(trial)


def main() -> None:
    """Run the command line."""
    app()
