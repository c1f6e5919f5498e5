"""Print what the default kinetics predict for the two example scenarios.

``python examples/kinetics_summary.py`` prints, as Markdown, the tables of the
README's section "What the default kinetics mean"; ``make docs`` copies them in.
Viable cells come from each scenario through the package (the product's or its
lot's viability), never from numbers written here.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mscsim import Scenario, SimulationResult, load_scenario, prepare_scenario, simulate_scenario

HERE = Path(__file__).resolve().parent
IM_DAYS = (1, 7, 14, 28)
"""Days after the intramuscular injection shown."""
IV_DAYS = (1, 3, 7, 14)
"""Days after each intravenous infusion shown."""


@dataclass(frozen=True)
class KineticsSummary:
    """What the default kinetics predict for the two example scenarios.

    Attributes
    ----------
    im_viable_cells : float
        Viable cells injected into the muscle (``cli_bm_msc_im.toml``).
    im_capacity_cells : float
        The muscle's retention capacity (``target_capacity_cells``).
    im_share, im_share_unsaturated : dict of int to float
        Share of the injected viable cells at the site on each day of
        :data:`IM_DAYS`, with the default capacity and without saturation.
    iv_viable_cells : float
        Viable cells per infusion (``sca_uc_msc_iv.toml``).
    iv_lung_share, iv_total_share : dict of int to float
        Share of the infused viable cells in the lung and in the whole body on
        each day of :data:`IV_DAYS` after the first infusion.
    iv_homed_cells : dict of int to float
        Viable cells at the target on the same days.
    iv_interval_days : float
        Days between infusions.
    iv_days_to_last_cell : int
        The first whole day after an infusion from which fewer than one viable
        cell is left, the largest over the infusions (the next dose day if cells
        remain until then).
    """

    im_viable_cells: float
    im_capacity_cells: float
    im_share: dict[int, float]
    im_share_unsaturated: dict[int, float]
    iv_viable_cells: float
    iv_lung_share: dict[int, float]
    iv_total_share: dict[int, float]
    iv_homed_cells: dict[int, float]
    iv_interval_days: float
    iv_days_to_last_cell: int


def _at(result: SimulationResult, output: str, day: float) -> float:
    """Return the first patient's ``output`` at the output time nearest ``day``."""
    index = int(np.argmin(np.abs(result.times_day - day)))
    return float(result.output(output)[0, index])


def _daily(scenario: Scenario) -> Scenario:
    """Return ``scenario`` with an output at every whole day."""
    settings = scenario.simulation.model_copy(update={"output_every_days": 1.0})
    return scenario.model_copy(update={"simulation": settings})


def _days_to_last_cell(result: SimulationResult, dose_days: list[float]) -> int:
    """Return the first whole day after any dose from which fewer than one of its cells is left.

    Cells only decline between doses, so the whole-day outputs decide it exactly.
    """
    t, total = result.times_day, result.output("cells_total")[0]
    whole = np.isclose(t, np.round(t))
    ends = [*dose_days[1:], float(t[-1])]
    worst = 0
    for start, end in zip(dose_days, ends, strict=True):
        below = t[whole & (t > start) & (t <= end) & (total < 1.0)]
        day = float(below[0]) if below.size else end
        worst = max(worst, round(day - start))
    return worst


def summarise() -> KineticsSummary:
    """Simulate both examples and return what their kinetics predict."""
    im = load_scenario(HERE / "cli_bm_msc_im.toml")
    im_inputs = prepare_scenario(im)
    im_viable = float(im_inputs.doses[0].viable_cells[0])
    unsaturated = im.model_copy(
        update={"parameters": {**im.parameters, "target_capacity_cells": math.inf}}
    )
    im_result, flat_result = simulate_scenario(im), simulate_scenario(unsaturated)

    iv = _daily(load_scenario(HERE / "sca_uc_msc_iv.toml"))
    iv_inputs = prepare_scenario(iv)
    iv_viable = float(iv_inputs.doses[0].viable_cells[0])
    dose_days = sorted({d.time_day for d in iv_inputs.doses})
    iv_result = simulate_scenario(iv)
    return KineticsSummary(
        im_viable_cells=im_viable,
        im_capacity_cells=float(im_inputs.params["target_capacity_cells"][0]),
        im_share={d: _at(im_result, "cells_target", d) / im_viable for d in IM_DAYS},
        im_share_unsaturated={d: _at(flat_result, "cells_target", d) / im_viable for d in IM_DAYS},
        iv_viable_cells=iv_viable,
        iv_lung_share={d: _at(iv_result, "cells_lung", d) / iv_viable for d in IV_DAYS},
        iv_total_share={d: _at(iv_result, "cells_total", d) / iv_viable for d in IV_DAYS},
        iv_homed_cells={d: _at(iv_result, "cells_target", d) for d in IV_DAYS},
        iv_interval_days=dose_days[1] - dose_days[0] if len(dose_days) > 1 else math.inf,
        iv_days_to_last_cell=_days_to_last_cell(iv_result, dose_days),
    )


def cells_text(cells: float) -> str:
    """Return a cell count as people write it: ``1.26×10^8``, ``690``."""
    if cells < 1e3:
        return f"{cells:.3g}"
    mantissa, exponent = f"{cells:.3g}".split("e")
    return f"{mantissa}×10^{int(exponent)}"


def share_text(share: float) -> str:
    """Return a share with two significant digits: ``73%``, ``6.8%``, ``0.41%``."""
    percent = 100.0 * share
    if percent >= 10:
        return f"{percent:.0f}%"
    return f"{float(f'{percent:.2g}'):g}%"


def markdown(summary: KineticsSummary) -> str:
    """Return the summary as the README's Markdown tables and sentence."""
    s = summary
    im_head = " | ".join(f"day {d}" for d in IM_DAYS)
    iv_head = " | ".join(f"day {d}" for d in IV_DAYS)
    lines = [
        f"| intramuscular, {cells_text(s.im_viable_cells)} viable cells | {im_head} |",
        "|---" * (len(IM_DAYS) + 1) + "|",
        f"| share of deposited cells at the site (capacity {cells_text(s.im_capacity_cells)}) | "
        + " | ".join(share_text(s.im_share[d]) for d in IM_DAYS)
        + " |",
        "| same without saturation (`target_capacity_cells = inf`) | "
        + " | ".join(share_text(s.im_share_unsaturated[d]) for d in IM_DAYS)
        + " |",
        "",
        f"| intravenous, {cells_text(s.iv_viable_cells)} viable cells per infusion | {iv_head} |",
        "|---" * (len(IV_DAYS) + 1) + "|",
        "| in the lung | " + " | ".join(share_text(s.iv_lung_share[d]) for d in IV_DAYS) + " |",
        "| all viable cells | "
        + " | ".join(share_text(s.iv_total_share[d]) for d in IV_DAYS)
        + " |",
        "| homed to the target | "
        + " | ".join(cells_text(s.iv_homed_cells[d]) for d in IV_DAYS)
        + " |",
        "",
        textwrap.fill(
            f"Fewer than one viable cell of an infusion is left from day {s.iv_days_to_last_cell} "
            "after it, so cells from one infusion "
            + (
                f"never meet the next one given {s.iv_interval_days:g} days later."
                if s.iv_days_to_last_cell < s.iv_interval_days
                else f"are still there when the next one comes {s.iv_interval_days:g} days later."
            ),
            width=80,
        ),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Print the summary as Markdown."""
    print(markdown(summarise()), end="")


if __name__ == "__main__":
    main()
