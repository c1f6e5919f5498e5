"""``mscsim dose`` and ``mscsim params``: what the evidence says."""

from __future__ import annotations

import math
import re
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from mscsim.cli.common import out_console, user_errors
from mscsim.cli.display import cell_count, print_json, print_table
from mscsim.cli.limits import check_weight, typed
from mscsim.errors import SpecError
from mscsim.evidence.doses import DoseAssessment, assess_dose
from mscsim.spec.route import Route

__all__ = ["dose", "params"]


def cells_text(x: float) -> str:
    """Write a cell count for people: ``6.5×10^7 (65 million)``.

    Examples
    --------
    >>> cells_text(6.5e7)
    '6.5×10^7 (65 million)'
    >>> cells_text(1.5e9)
    '1.5×10^9 (1.5 billion)'
    >>> cells_text(2500)
    '2.5×10^3 (2.5 thousand)'
    """
    if not (math.isfinite(x) and x >= 1e3):
        return cell_count(x)
    exponent = math.floor(math.log10(x))
    mantissa = f"{x / 10**exponent:.3g}"
    for scale, word in ((1e9, "billion"), (1e6, "million"), (1e3, "thousand")):
        if x >= scale:
            return f"{mantissa}×10^{exponent} ({x / scale:.3g} {word})"
    return cell_count(x)  # pragma: no cover - x >= 1e3 above


def _fmt_range(r: tuple[float, float] | None, unit: str) -> str:
    if r is None:
        return ""
    return f"{r[0]:.3g}" + (f"-{r[1]:.3g}" if r[1] != r[0] else "") + f" {unit}"


@user_errors
def dose(
    route: Annotated[Route, typer.Option("--route", help="Route of administration.")],
    weight_kg: Annotated[float, typer.Option("--weight-kg", help="Body weight in kg.")],
    cells: Annotated[float | None, typer.Option("--cells", help="Total cells.")] = None,
    cells_per_kg: Annotated[
        float | None, typer.Option("--cells-per-kg", help="Cells per kg of body weight.")
    ] = None,
    allow_beyond_evidence: Annotated[
        bool, typer.Option("--allow-beyond-evidence", help="Exit 0 even beyond evidence.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the assessment as JSON instead of a table.")
    ] = False,
) -> None:
    """Resolve a dose to total cells and compare it with the route's evidence."""
    if (cells is None) == (cells_per_kg is None):
        raise SpecError("--cells / --cells-per-kg: give exactly one (e.g. --cells-per-kg 1e6)")
    check_weight("--weight-kg", weight_kg)
    flag = "--cells" if cells is not None else "--cells-per-kg"
    amount = cells if cells is not None else cells_per_kg
    assert amount is not None  # noqa: S101 - exactly one is set, checked above
    total = amount if cells is not None else amount * weight_kg
    if not (math.isfinite(amount) and amount > 0):
        raise SpecError(f"{flag} = {typed(amount)}: must be a positive number of cells")
    if not (math.isfinite(total) and math.isfinite(total / weight_kg)):
        raise SpecError(f"{flag} = {typed(amount)}: too large a number of cells to compute with")
    if total < 1:
        raise SpecError(
            f"{flag} = {typed(amount)}: gives {total:.3g} cells; a dose is at least 1 cell"
        )
    a = assess_dose(route, cells=total, weight_kg=weight_kg)
    if as_json:
        print_json(a.to_record())
        if a.is_beyond_evidence and not allow_beyond_evidence:
            raise SpecError(_beyond(a, route))
        return
    ev = a.evidence
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("route", route.value)
    table.add_row("total cells", cells_text(a.cells))
    table.add_row("cells per kg", f"{cells_text(a.cells_per_kg)} at {weight_kg:g} kg")
    table.add_row("verdict", f"{a.verdict.value}: {a.reason}")
    typical = " or ".join(
        x
        for x in (
            _fmt_range(ev.typical_cells, "cells"),
            _fmt_range(ev.typical_cells_per_kg, "cells/kg"),
        )
        if x
    )
    table.add_row("typical", typical or "not established")
    highest = " / ".join(
        f"{v:.3g} {u}"
        for v, u in ((ev.highest_cells, "cells"), (ev.highest_cells_per_kg, "cells/kg"))
        if v is not None
    )
    table.add_row("highest studied", highest or "no human dose found")
    table.add_row("evidence", ev.source)
    table.add_row("rule of thumb", f"{ev.rule_of_thumb} ({ev.rule_source})")
    print_table(table)
    if a.is_beyond_evidence and not allow_beyond_evidence:
        raise SpecError(_beyond(a, route))


def _beyond(a: DoseAssessment, route: Route) -> str:
    return (
        f"dose = {a.cells:.3g} cells ({a.cells_per_kg:.3g} cells/kg) {route.value}: "
        f"{a.verdict.value} ({a.reason}); pass --allow-beyond-evidence to accept it"
    )


@user_errors
def params(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Print descriptions and full source texts.")
    ] = False,
    model: Annotated[str | None, typer.Option("--model", help="Only this model.")] = None,
) -> None:
    """List every default parameter with its unit, plausible range and source."""
    from mscsim.evidence.library import load_library

    frame = load_library().to_frame()
    if model is not None:
        known = sorted(frame["model"].unique())
        if model not in known:
            raise SpecError(f"--model = {model!r}: must be one of {', '.join(known)}")
        frame = frame[frame["model"] == model]
    records = frame.to_dict(orient="records")
    if as_json:
        print_json(records)
        return
    if full:
        for r in records:
            out_console.print(
                f"[bold]{r['name']}[/bold] ({r['site']}) = {r['value']:g} {r['unit']}  "
                f"plausible {r['plausible_low']:g}-{r['plausible_high']:g}  "
                f"evidence {r['evidence']}\n  {r['description']}\n  source: {r['source']}\n"
            )
        return
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        title="mscsim default parameters",
        caption="evidence: S seen in source, S2 secondary, I inferred, G modelling guess "
        "(I and G are provisional). References R# are in docs/MSC_EVIDENCE.md; "
        "--full prints the sources.",
    )
    for col in ("name (site)", "value", "plausible", "ev.", "refs"):
        table.add_column(col, no_wrap=col not in ("value", "refs"))
    for r in records:
        refs = ", ".join(dict.fromkeys(re.findall(r"\bR\d+\b", str(r["source"])))) or "-"
        site = str(r["site"])
        label = str(r["name"]) if site in ("all", "systemic") else f"  at {site}"
        table.add_row(
            label,
            f"{r['value']:g} {r['unit']}",
            f"{r['plausible_low']:g}-{r['plausible_high']:g}",
            str(r["evidence"]),
            refs,
        )
    print_table(table)
