"""``mscsim qc`` (release criteria of a lot) and ``mscsim sources`` (cell-source profiles)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from mscsim.cli.common import out_console, user_errors
from mscsim.cli.display import print_json, print_table
from mscsim.cli.limits import check_weight
from mscsim.errors import SpecError

__all__ = ["qc", "sources"]

_STYLE = {"pass": "green", "fail": "bold red", "info": "dim", "not assessed": "yellow"}
"""Colour of each release :class:`~mscsim.evidence.release.Status`."""


def _positive(value: float | None, flag: str) -> None:
    if value is not None and not value > 0:
        raise SpecError(f"{flag} = {value:g}: must be > 0")


@user_errors
def qc(
    lot_file: Annotated[Path, typer.Argument(help="Lot file (TOML) with release results.")],
    cells: Annotated[
        float | None, typer.Option("--cells", help="Cells in the planned administration.")
    ] = None,
    weight_kg: Annotated[
        float | None, typer.Option("--weight-kg", help="Patient weight, for endotoxin per kg.")
    ] = None,
    infusion_hours: Annotated[
        float | None, typer.Option("--infusion-hours", help="Infusion length (default 1 h).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the criteria as JSON.")] = False,
) -> None:
    """Check a lot against release criteria; exit 0 if all pass, 1 if any fails."""
    from mscsim.evidence.release import assess_lot
    from mscsim.io.scenario import load_lot

    _positive(cells, "--cells")
    check_weight("--weight-kg", weight_kg)
    _positive(infusion_hours, "--infusion-hours")
    lot = load_lot(lot_file)
    result = assess_lot(lot, cells=cells, weight_kg=weight_kg, infusion_hours=infusion_hours)
    if as_json:
        print_json(
            {
                "lot": str(lot_file),
                "passed": result.passed,
                "criteria": result.to_frame().to_dict(orient="records"),
            }
        )
    else:
        table = Table(title=f"release criteria: {lot_file.name}", box=box.SIMPLE_HEAD)
        for col in ("criterion", "result", "requirement", "verdict", "source"):
            table.add_column(col)
        for c in result.criteria:
            style = _STYLE[c.status]
            table.add_row(
                c.name, c.result, c.requirement, f"[{style}]{c.status.value}[/]", c.source
            )
        print_table(table)
        for c in result.failures:
            out_console.print(c.line, markup=False)
        out_console.print(result.summary(), markup=False)
    if not result.passed:
        raise typer.Exit(code=1)


@user_errors
def sources(
    as_json: Annotated[bool, typer.Option("--json", help="Print the profiles as JSON.")] = False,
) -> None:
    """Show the cell-source profiles (bone marrow, umbilical cord, adipose) with sources."""
    from mscsim.evidence.sources import source_profiles

    frames = [p.to_frame() for p in source_profiles().values()]
    if as_json:
        print_json([r for f in frames for r in f.to_dict(orient="records")])
        return
    for frame in frames:
        table = Table(title=f"{frame['source_type'].iloc[0]} MSCs", box=box.SIMPLE_HEAD)
        for col in ("field", "value", "plausible", "ev."):
            table.add_column(col, no_wrap=True)
        table.add_column("evidence", overflow="fold", ratio=1)
        for row in frame.itertuples():
            table.add_row(
                str(row.field),
                f"{row.value:g} {row.unit}",
                f"{row.plausible_low:g}-{row.plausible_high:g}",
                str(row.evidence),
                str(row.source),
            )
        print_table(table)
