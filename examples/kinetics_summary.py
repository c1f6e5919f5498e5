"""Print what the default kinetics predict for the two example scenarios.

The README's table "What the default kinetics mean" is this script's output:
``python examples/kinetics_summary.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mscsim import load_scenario, simulate_scenario

HERE = Path(__file__).resolve().parent


def at(result_times: np.ndarray, values: np.ndarray, day: float) -> float:
    """Return the value at ``day`` (an output time)."""
    return float(values[int(np.argmin(np.abs(result_times - day)))])


def main() -> None:
    """Print fractions of viable cells remaining, by compartment and day."""
    im = load_scenario(HERE / "cli_bm_msc_im.toml")
    r = simulate_scenario(im)
    target = r.output("cells_target")[0]
    deposited = target[0]
    print(f"Intramuscular, {deposited:.3g} viable cells deposited (2e6/kg x 70 kg x 0.9):")
    print("  day  share of deposited cells at the site (default, capacity 1e8 | no saturation)")
    flat = im.model_copy(update={"parameters": {"target_capacity_cells": float("inf")}})
    r_flat = simulate_scenario(flat)
    target_flat = r_flat.output("cells_target")[0]
    for day in (1, 7, 14, 28):
        print(
            f"  {day:>3}  {at(r.times_day, target, day) / deposited:8.1%}"
            f"  | {at(r.times_day, target_flat, day) / deposited:8.1%}"
        )

    iv = load_scenario(HERE / "sca_uc_msc_iv.toml")
    r = simulate_scenario(iv)
    t = r.times_day
    viable = 1e6 * 65 * 0.9
    lung, total = r.output("cells_lung")[0], r.output("cells_total")[0]
    homed = r.output("cells_target")[0]
    print(f"\nIntravenous, {viable:.3g} viable cells per infusion (1e6/kg x 65 kg x 0.9):")
    print("  day after infusion  lung          total         target (homed)")
    for day in (1, 3, 7, 14, 28):
        print(
            f"  {day:>18}  {at(t, lung, day) / viable:10.2%}  {at(t, total, day) / viable:10.2%}"
            f"  {at(t, homed, day):10.3g} cells"
        )
    below_one = t[(t < 90) & (total < 1) & (t > 1)]
    print(f"  fewer than one viable cell left from day {below_one[0]:.0f} after each infusion")


if __name__ == "__main__":
    main()
