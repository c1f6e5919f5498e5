"""Regenerate the numbers and figures the README shows from the code.

Every table and number-quoting sentence of ``README.md`` that the code produces
sits between ``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->``. This
script renders each block with the package's Python API and rewrites it, and
copies the figures ``make demo`` writes into ``docs/figures/``::

    python docs/make_readme.py            # rewrite README.md, copy figures (make docs)
    python docs/make_readme.py --check    # exit 1, naming the blocks, if README.md is stale

The virtual trial takes minutes, so its block is rendered from the summary of
the demo's run (``out/trial/summary.json``), kept beside its figure as
``docs/figures/sca_trial.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import re
import shutil
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
EXAMPLES = ROOT / "examples"
FIGURES: dict[str, str] = {
    "out/sca_uc_msc_iv.png": "docs/figures/sca_uc_msc_iv.png",
    "out/cli_bm_msc_im.png": "docs/figures/cli_bm_msc_im.png",
    "out/compare_cli.png": "docs/figures/compare_cli.png",
    "out/withdrawal_sca.png": "docs/figures/withdrawal_sca.png",
    "out/products.png": "docs/figures/products.png",
    "out/trial/trial.png": "docs/figures/sca_trial.png",
    "out/organs_human.png": "docs/figures/organs_human.png",
    "out/organs_mouse.png": "docs/figures/organs_mouse.png",
    "out/organs_rat.png": "docs/figures/organs_rat.png",
    "out/claims.json": "docs/figures/claims.json",
    "out/trial/summary.json": "docs/figures/sca_trial.json",
}
"""What ``make demo`` writes (relative to the repository) and where the README shows it."""
SCREENSHOTS: dict[str, str] = {
    "docs/figures/page_zh.png": "tests/web/test_browser.py",
    "docs/figures/page_en.png": "tests/web/test_browser.py",
}
"""Figures the README shows that a test writes (the page in a headless browser)."""
TRIAL_SUMMARY = "docs/figures/sca_trial.json"
CLAIMS_SUMMARY = "docs/figures/claims.json"
FIT_COVERAGE = "docs/figures/fit_coverage.json"
"""Written by ``python scripts/fit_coverage.py --json docs/figures/fit_coverage.json``
(100 fits, several minutes: not part of ``make demo``)."""
BENCH_NONLINEAR = "docs/figures/bench_nonlinear.json"
"""Written by ``make bench`` (``python bench/nonlinear.py --json ...``; about 2 minutes)."""
BENCH_ENGINE = "docs/figures/bench_engine.json"
"""Written by ``make bench`` (``python bench/engine.py --json ...``; about 1 minute)."""
BENCH_POPULATION = "docs/figures/bench_population.json"
"""Written by ``make bench`` (``python bench/population.py --json ...``; several minutes)."""
TRIAL_FILE = "examples/sca_trial.toml"
SPLITS = (1, 2, 4)
"""The ``compare --split`` regimens the README shows."""
SPACING_DAYS = (30.0, 365.0)
"""Intervals between two doses of the same product in the spacing sentence."""

_BLOCK = re.compile(
    r"<!-- generated:(?P<name>[a-z_]+) -->\n(?P<body>.*?)<!-- /generated:(?P=name) -->",
    re.DOTALL,
)
EN_DASH = "\u2013"
_OUTCOME_WORDS = {"perfusion_ratio": "perfusion", "sara_score": "SARA"}
_ROUTE_WORDS = {"intravenous": "IV", "intramuscular": "into the muscle"}
_SOURCE_WORDS = {"bone_marrow": "BM", "umbilical_cord": "UC", "adipose": "AD"}


# ---------------------------------------------------------------- formatting


def sci(x: float) -> str:
    """Return a count as ``6.07e8`` (three significant digits), ``0`` for zero."""
    if x == 0:
        return "0"
    mantissa, exponent = f"{x:.3g}e0".split("e")[:2]
    return f"{x:.3g}" if abs(x) < 1e4 else f"{float(mantissa):g}e{int(exponent)}"


def power10(x: float) -> str:
    """Return ``x`` as people write it: ``1.26×10^8``."""
    exponent = math.floor(math.log10(x))
    return f"{x / 10**exponent:.3g}×10^{exponent}"


def range10(low: float, high: float) -> str:
    """Return a range on the high end's power of ten, joined by an en dash: 0.7 to 1.9×10^8."""
    if low == high:
        return power10(high)
    exponent = math.floor(math.log10(high))
    scale = 10.0**exponent
    return f"{low / scale:.3g}{EN_DASH}{high / scale:.3g}×10^{exponent}"


def percent(x: float) -> str:
    """Return a share as a whole percentage: ``78%``."""
    return f"{100 * x:.0f}%"


def prose(text: str) -> str:
    """Return a paragraph wrapped at 80 columns, ending in a newline."""
    return textwrap.fill(text, width=80, break_long_words=False, break_on_hyphens=False) + "\n"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Return a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- scenarios


def _scenario(name: str) -> Any:
    from mscsim import load_scenario

    return load_scenario(EXAMPLES / name)


def _products() -> list[tuple[str, Any]]:
    """Return the product examples (file stem, scenario) in file-name order."""
    from mscsim import load_scenario

    return [(p.stem, load_scenario(p)) for p in sorted((EXAMPLES / "products").glob("*.toml"))]


def _product_label(scenario: Any) -> str:
    """Return e.g. ``allogeneic UC, HLA 50% matched, 80% immunosuppressed``."""
    from mscsim import prepare_scenario

    product, patient = scenario.product, scenario.patient
    resolved = prepare_scenario(scenario).product
    source = _SOURCE_WORDS.get(str(product.source.value), str(product.source.value))
    label = f"{product.donor.value} {source}"
    if product.donor.value == "autologous":
        return f"{label}, patient {patient.age_years:g} y"
    details = []
    if resolved.hla_match > 0:
        details.append(f"HLA {percent(resolved.hla_match)} matched")
    if patient.immunosuppression > 0:
        details.append(f"{percent(patient.immunosuppression)} immunosuppressed")
    if product.lot is not None and resolved.viability_from == "lot":
        details.append(
            f"lot viability {percent(resolved.viability)}, potency {resolved.potency:.2g}"
        )
    return ", ".join([label, *(details or ["unrelated donor"])])


def _regimen_text(scenario: Any) -> str:
    """Return e.g. ``SCA3, SARA 13, allogeneic UC-MSC 1×10^6/kg IV every 90 days ×4``."""
    product, dose = scenario.product, scenario.dose[0]
    source = _SOURCE_WORDS.get(str(product.source.value), str(product.source.value))
    amount = (
        f"{power10(dose.cells_per_kg)}/kg" if dose.cells_per_kg else f"{power10(dose.cells)} cells"
    )
    route = _ROUTE_WORDS.get(str(dose.route.value), str(dose.route.value))
    text = f"{product.donor.value} {source}-MSC {amount} {route}"
    if dose.count > 1:
        text += f" every {dose.every_days:g} days ×{dose.count}"
    disease = scenario.disease
    if getattr(disease, "genotype", None) is not None:
        text = f"{disease.genotype.value}, SARA {disease.baseline_score:g}, {text}"
    return text


def _outcome_header(frame: pd.DataFrame, horizon_days: float) -> str:
    name = str(frame.attrs["outcome"])
    return f"{_OUTCOME_WORDS.get(name, name)} day {horizon_days:g}"


def _row_cells(row: Mapping[Any, Any]) -> tuple[str, str, str]:
    """Return the cell-days, effect AUC and days above threshold of a comparison row."""
    auc, days = float(row["effect_auc"]), float(row["days_above_threshold"])
    return (
        sci(float(row["exposure_cell_days"])),
        "0" if auc == 0 else f"{auc:.2f}",
        "0" if days == 0 else f"{days:.1f}",
    )


def _split_rows(frame: pd.DataFrame, outcome_digits: int | None) -> list[list[str]]:
    rows = []
    for row in frame.to_dict(orient="records"):
        cells = [str(row["regimen"]), str(row["n_doses"]), *_row_cells(row)]
        if outcome_digits is not None:
            cells.append(f"{float(row['outcome_end']):.{outcome_digits}f}")
        rows.append(cells)
    return rows


# ---------------------------------------------------------------- blocks


def block_kinetics() -> str:
    """Render what ``python examples/kinetics_summary.py`` prints."""
    sys.path.insert(0, str(ROOT))
    try:
        from examples.kinetics_summary import main
    finally:
        sys.path.remove(str(ROOT))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        main()
    return printed.getvalue()


def block_split() -> str:
    """``mscsim compare examples/cli_bm_msc_im.toml --split 1,2,4`` and what it shows."""
    from mscsim import compare_splits, prepare_scenario

    scenario = _scenario("cli_bm_msc_im.toml")
    frame = compare_splits(scenario, SPLITS).table
    header = [
        "regimen (viable cells)",
        "doses",
        "cell-days at target",
        "effect AUC (d)",
        f"days effect > {frame.attrs['effect_threshold']:g}",
        _outcome_header(frame, scenario.simulation.horizon_days),
    ]
    treated = frame[frame["n_doses"] > 0]
    single, most = treated.iloc[0], treated.iloc[-1]
    capacity = float(prepare_scenario(scenario).params["target_capacity_cells"][0])
    loss = 1.0 - float(single.exposure_cell_days) / float(treated["exposure_cell_days"].max())
    viable = float(treated["total_viable_cells"].iloc[0])
    intro = (
        f"From `mscsim compare examples/cli_bm_msc_im.toml --split {','.join(map(str, SPLITS))}` "
        f"({_regimen_text(scenario)}, {power10(viable)} viable cells):"
    )
    figure = "\n![Same cells, different schedules](docs/figures/compare_cli.png)\n\n"
    text = (
        f"The same cells given as {most.n_doses:d} doses every {most.interval_days:g} days keep "
        f"the effect above half-maximum for {most.days_above_threshold:.0f} days instead of "
        f"{single.days_above_threshold:.0f}. Two mechanisms in the model produce this, neither "
        "of them a rule about frequency: retention is saturable (cells above the muscle's "
        f"assumed capacity of {power10(capacity)} are lost within hours, so the single dose "
        f"delivers {percent(loss)} fewer cell-days), and the effect saturates (Emax), so a "
        "large dose spends its cells where extra factor adds little."
    )
    return prose(intro) + "\n" + table(header, _split_rows(frame, 3)) + figure + prose(text)


def block_steep() -> str:
    """``mscsim compare examples/steep_response_single_dose.toml --split 1,2,4``."""
    from mscsim import compare_splits

    frame = compare_splits(_scenario("steep_response_single_dose.toml"), SPLITS).table
    treated = frame[frame["n_doses"] > 0]
    rows = [[r[0], r[2], r[3], r[4]] for r in _split_rows(treated, None)]
    header = [
        "regimen (viable cells)",
        "cell-days",
        "effect AUC (d)",
        f"days effect > {frame.attrs['effect_threshold']:g}",
    ]
    return table(header, rows)


def _withdrawal_value(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    return "0" if value == 0 else f"{value:.{digits}g}"


def block_withdrawal() -> str:
    """``mscsim withdrawal examples/sca_uc_msc_iv.toml`` and the figures it quotes."""
    from mscsim.analysis import simulate_with_dose_exposures, withdrawal
    from mscsim.analysis.withdrawal import DEFAULT_FOLLOW_UP_DAYS
    from mscsim.evidence import load_library

    scenario = _scenario("sca_uc_msc_iv.toml")
    result = withdrawal(scenario)
    msc, drug = result.msc, result.reference_drug
    follow = DEFAULT_FOLLOW_UP_DAYS

    def fade(w: Any) -> str:
        return f"not within {follow:g} d" if w.fade_days is None else f"{w.fade_days:.2g}"

    rows = [
        ["outcome", msc.outcome_unit, drug.outcome_unit],
        [
            "rebound below untreated",
            _withdrawal_value(msc.rebound),
            _withdrawal_value(drug.rebound),
        ],
        ["days until benefit < 10%", fade(msc), fade(drug)],
        [
            f"benefit kept {follow:g} d after the stop",
            _withdrawal_value(msc.benefit_at_end),
            _withdrawal_value(drug.benefit_at_end),
        ],
        ["tolerance index", f"{msc.tolerance_index:.3f}", f"{drug.tolerance_index:.3f}"],
    ]
    _, doses = simulate_with_dose_exposures(scenario)
    exposure = doses["exposure_cell_days"].to_numpy()
    n = len(exposure)
    ordinal = {2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth"}.get(n, f"{n}th")
    half_life = load_library().get("sara_benefit_half_life_days").value
    intro = (
        f"From `mscsim withdrawal examples/sca_uc_msc_iv.toml --json` ({_regimen_text(scenario)}, "
        f"stopped after day {msc.stop_day:g}, followed for {follow:g} days):"
    )
    figure = "\n![Stopping: MSC vs a drug with tolerance](docs/figures/withdrawal_sca.png)\n\n"
    text = (
        "Stopping MSCs removes the benefit but never puts the course below the untreated "
        "one: the model has no counter-regulating state, so the effect only ever pushes "
        "the disease towards better outcomes. That is an assumption of the disease "
        "models, supported by the only human data found (patients returned to their "
        "pre-treatment level, not below, R13). The drug's moderator builds up under "
        f"treatment (tolerance: {percent(1 - drug.tolerance_index)} less effect per dose after "
        f"{drug.stop_day:g} days) and drives the response below baseline when it stops. The "
        "MSC's tolerance index is not 1 either: these cells are allogeneic, the host's "
        "donor-specific memory clears later infusions faster, and the "
        f"{ordinal} delivers {percent(exposure[-1] / exposure[0])} of the first one's "
        f"exposure ({percent(1 - msc.tolerance_index)} less effect). That is a loss of "
        "*delivered cells*, not a counter-regulation: it leaves no rebound, and autologous "
        "cells, an HLA-matched donor or immunosuppression remove it (next section). The SCA "
        f"benefit is small at these defaults (about {msc.benefit_at_stop:.2g} SARA points at "
        "the last infusion): IV cells act only in the days after each infusion, and every "
        f"{np.diff(doses['day'].to_numpy())[0]:g} days leaves most of the "
        "interval uncovered. Part of it is kept after stopping because the model lets the "
        "effect slow progression (`sara_max_slowing`), which is not undone; the "
        f"symptomatic part fades with `sara_benefit_half_life_days` ({half_life:g} d, from "
        "the mean 3-month return to baseline in R13). A model with real counter-regulation "
        "would show rebound here: the analysis takes any model with an outcome and an "
        "`effect` output."
    )
    return prose(intro) + "\n" + table(["", "MSC", "reference drug"], rows) + figure + prose(text)


def _forms_dsa(scenario: Any) -> Any:
    """Return ``scenario`` for a patient known to form donor-specific antibodies."""
    patient = scenario.patient.model_copy(update={"forms_dsa": True})
    return scenario.model_copy(update={"patient": patient})


def block_per_dose() -> str:
    """Per-dose exposure of each product relative to its first dose."""
    from mscsim.analysis import simulate_with_dose_exposures

    rows, n_doses = [], 0
    for name, scenario in sorted(_products(), key=lambda p: p[1].product.donor.value):
        cases = [(_product_label(scenario), scenario)]
        if name == "allo_uc":  # the same product in a patient known to form antibodies
            sensitised = _forms_dsa(scenario)
            cases.append((f"{cases[0][0]}, patient forms DSA", sensitised))
        for label, case in cases:
            _, doses = simulate_with_dose_exposures(case)
            x = doses["exposure_cell_days"].to_numpy()
            n_doses = max(n_doses, x.size)
            rows.append([label, "1", *(f"{v:.2f}" for v in x[1:] / x[0])])
    header = ["product", "dose 1", *(str(i) for i in range(2, n_doses + 1))]
    return table(header, rows)


def block_spacing() -> str:
    """Render how much the second of two doses delivers, by the interval between them."""
    from mscsim import Dose
    from mscsim.analysis import simulate_with_dose_exposures

    scenario = _forms_dsa(_scenario("products/allo_uc.toml"))
    ratios = []
    for every in SPACING_DAYS:
        dose = Dose.model_validate(
            {**scenario.dose[0].model_dump(), "every_days": every, "count": 2}
        )
        settings = scenario.simulation.model_copy(update={"horizon_days": 2 * every})
        spaced = scenario.model_copy(update={"dose": (dose,), "simulation": settings})
        _, doses = simulate_with_dose_exposures(spaced)
        x = doses["exposure_cell_days"].to_numpy()
        ratios.append(float(x[1] / x[0]))

    def share(r: float) -> str:
        return "more than 99.9%" if r > 0.999 else percent(r)

    return prose(
        "Spacing doses lets memory fade: in a patient who forms donor-specific antibodies, "
        "the second of two doses of the unrelated-donor UC "
        f"product (`examples/products/allo_uc.toml`) delivers {share(ratios[0])} of the first "
        f"at {SPACING_DAYS[0]:g} days apart and {share(ratios[1])} at {SPACING_DAYS[1]:g} "
        "days."
    )


def block_donor_age() -> str:
    """Render what an older autologous donor's cells secrete."""
    from mscsim import prepare_scenario

    scenario = _scenario("products/auto_bm.toml")
    product = prepare_scenario(scenario).product
    return prose(
        f"An autologous donor is as old as the patient: the {scenario.patient.age_years:g}-year-"
        f"old's own marrow cells secrete {product.potency:.2f}× the reference."
    )


def block_products() -> str:
    """``mscsim compare examples/products/*.toml``."""
    from mscsim import compare_scenarios

    products = _products()
    names = [_product_label(s) for _, s in products]
    frame = compare_scenarios([s for _, s in products], names).table
    horizon = max(s.simulation.horizon_days for _, s in products)
    header = [
        "product",
        "cell-days at target",
        "last/1st",
        "effect AUC (d)",
        f"days effect > {frame.attrs['effect_threshold']:g}",
        _outcome_header(frame, horizon),
    ]
    rows = []
    for r in frame.to_dict(orient="records"):
        ratio = float(r["last_dose_exposure_ratio"])
        exposure, auc, days = _row_cells(r)
        last = "—" if math.isnan(ratio) else f"{ratio:.2f}"
        rows.append([str(r["regimen"]), exposure, last, auc, days, f"{r['outcome_end']:.3f}"])
    return table(header, rows)


def block_dose_evidence() -> str:
    """Render the dose evidence by route (``evidence/data/doses.toml``)."""
    from mscsim import Route
    from mscsim.evidence.doses import dose_evidence

    rows = []
    for route in Route:
        ev = dose_evidence(route)
        typical = []
        if ev.typical_cells_per_kg is not None:
            typical.append(f"{range10(*ev.typical_cells_per_kg)}/kg")
        if ev.typical_cells is not None:
            typical.append(f"{range10(*ev.typical_cells)} cells")
        highest = []
        if ev.highest_cells_per_kg is not None:
            highest.append(f"{power10(ev.highest_cells_per_kg)}/kg")
        if ev.highest_cells is not None:
            highest.append(f"{power10(ev.highest_cells)} cells")
        refs = sorted(set(re.findall(r"R(\d+)", ev.source)), key=int)
        rows.append(
            [
                route.value,
                " or ".join(typical) or "no human dose found",
                " and ".join(highest) or "—",
                ", ".join(f"R{r}" for r in refs),
            ]
        )
    systemic = dose_evidence("intravenous").rule_of_thumb
    local = dose_evidence("intramuscular").rule_of_thumb
    return (
        table(["route", "typical", "highest studied", "sources"], rows)
        + "\n"
        + prose(
            "“Beyond” means above every highest-studied bound the evidence gives for the "
            f"route (per kg and absolute). The rule of thumb patients hear: {systemic}; {local}."
        )
    )


def block_release() -> str:
    """Render the release criteria and ``mscsim qc examples/failing_lot.toml --weight-kg 50``."""
    from mscsim.evidence.release import Status, assess_lot
    from mscsim.io.scenario import load_lot

    good = assess_lot(load_lot(EXAMPLES / "uc_msc_lot.toml"), cells=6.5e7, weight_kg=65)
    rows = [[c.name, c.requirement, c.source] for c in good.criteria]
    failing = assess_lot(load_lot(EXAMPLES / "failing_lot.toml"), weight_kg=50)
    lines = [c.line for c in failing.criteria if c.status is Status.FAIL]
    return (
        table(["criterion", "requirement", "source"], rows)
        + "\n```\n$ mscsim qc examples/failing_lot.toml --weight-kg 50\n...\n"
        + "\n".join([*lines, failing.summary()])
        + "\n```\n"
    )


def block_trial(summary: Mapping[str, Any]) -> str:
    """Render the virtual trial from the ``summary.json`` that ``mscsim trial`` writes."""
    alpha, power, reps = float(summary["alpha"]), float(summary["power"]), summary["replicates"]
    se = math.sqrt(alpha * (1 - alpha) / reps)
    chance = abs(power - alpha) <= 2 * se
    verdict = "indistinguishable from alpha (chance)" if chance else f"{power:.0%} of trials"
    arms = summary["n_per_arm"]
    treated, control = summary["treated"], summary["control"]
    safety = summary["safety_per_replicate"]
    curve = summary.get("power_curve") or []
    command = "mscsim trial examples/sca_trial.toml -o out/trial"
    if curve:
        command += " --power-curve " + ",".join(str(p["n_per_arm"]) for p in curve)
    rows = [
        [f"power (alpha {alpha:g})", f"**{power:.3f}**, {verdict}"],
        [
            f"true effect, {treated} - {control}",
            f"{summary['true_effect']:+.3f} ({summary['endpoint']})",
        ],
        [
            "mean estimate (mean 95% CI)",
            f"{summary['effect_estimate']:+.2f} "
            f"({summary['ci_low']:+.2f} to {summary['ci_high']:+.2f})",
        ],
    ]
    if curve:
        ns = " / ".join(str(p["n_per_arm"]) for p in curve)
        powers = " / ".join(f"{p['power']:.3f}" for p in curve)
        worst = max(p["power_se"] for p in curve)
        rows.append([f"power at {ns} per arm", f"{powers} (SE up to {worst:.2f})"])
    n80 = summary.get("n_treated_for_80_percent_power")
    ratio = f"{arms[treated]}:{arms[control]}"
    rows.append(
        [
            f"treated patients for 80% power ({ratio}, t-test from the simulated effect and SD)",
            "not computable" if n80 is None else f"about {float(f'{n80:.2g}'):,.0f}",
        ]
    )
    s_t, s_c = safety[treated], safety[control]
    rows.append(
        [
            "safety per replicate",
            f"{s_t['fevers']:.1f} fevers in {s_t['infusions']:g} {treated} infusions, "
            f"{s_c['fevers']:.1f} in {s_c['infusions']:g} {control}; "
            f"{s_t['serious_events']:.2f} and {s_c['serious_events']:.2f} serious events",
        ]
    )
    intro = (
        f"From `{command}` ({reps} replicates, {summary['analysis']}, seed {summary['seed']}; "
        "the summary is `docs/figures/sca_trial.json`):"
    )
    figure = "\n![The SCA trial replayed](docs/figures/sca_trial.png)\n\n"
    if chance:
        text = (
            "Under the default assumptions the design cannot detect the effect, because the "
            "modelled effect is tiny: IV cells act only in the days after each quarterly "
            "infusion, and how much that slows SARA has no controlled human estimate."
        )
    else:
        text = (
            f"Under the default assumptions the design detects the effect in {power:.0%} of trials."
        )
    text += " The result is only as good as these assumptions:"
    return prose(intro) + "\n" + table(["", ""], rows) + figure + prose(text)


ORGAN_EXAMPLE = "organs_human_iv_indium.toml"
ORGAN_DAYS = (1 / 24, 1.0, 3.0, 10.0)
"""Times of the human 111In prediction (1 h, 1, 3 and 10 days)."""
ORGAN_ROWS = ("lung", "liver", "spleen", "kidney", "blood")
DRIVEN = (("label_fraction_lung", 1.0), ("label_fraction_liver", 10.0))
"""Readings whose drivers the README names: lung label at day 1, liver label at day 10."""
N_DRIVERS = 4


def _organ_problem() -> Any:
    import warnings

    from mscsim import prepare_scenario
    from mscsim.errors import MscsimWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MscsimWarning)
        return prepare_scenario(_scenario(ORGAN_EXAMPLE)).with_times(np.array([0.0, *ORGAN_DAYS]))


def _day_text(day: float) -> str:
    return "1 h" if day < 0.5 else f"day {day:g}"


def _drivers(problem: Any, output: str, day: float) -> list[tuple[str, float]]:
    """Return the organ and label parameters with the largest normalised local sensitivity.

    ``d log(output) / d log(parameter)`` at the defaults, by a central difference
    of ±1% (one solve per side and parameter).
    """
    from dataclasses import replace

    from mscsim import solve

    column = int(np.searchsorted(problem.times_day, day))
    base = float(solve(problem).outputs[output][0, column])
    names = [
        p.name
        for p in problem.model.parameters
        if p.model.startswith(("msc_organs", "msc_label")) and p.value > 0
    ]
    out = []
    for name in names:
        values = []
        for factor in (1.01, 1 / 1.01):
            params = {**problem.params, name: problem.params[name] * factor}
            values.append(float(solve(replace(problem, params=params)).outputs[output][0, column]))
        out.append((name, (math.log(values[0]) - math.log(values[1])) / (2 * math.log(1.01))))
    if base <= 0:
        return []
    return sorted(out, key=lambda item: -abs(item[1]))[:N_DRIVERS]


def block_organs() -> str:
    """Render the organ model's human 111In prediction after 3e8 IV BM-MSCs, and its drivers."""
    from mscsim import solve

    problem = _organ_problem()
    result = solve(problem)
    dose = problem.doses[0]
    header = ["label, % of injected", *(_day_text(d) for d in ORGAN_DAYS)]
    rows = []
    for organ in ORGAN_ROWS:
        values = result.outputs[f"label_fraction_{organ}"][0, 1:]
        rows.append([organ, *(f"{100 * v:.3g}%" for v in values)])
    lung = result.outputs["cells_lung"][0, 1:] / float(dose.viable_cells[0])
    rows.append(["viable cells in lung, % of dose", *(f"{100 * v:.2g}%" for v in lung)])
    drivers = []
    for output, day in DRIVEN:
        organ = output.removeprefix("label_fraction_")
        named = ", ".join(f"`{n}` ({s:+.2f})" for n, s in _drivers(problem, output, day))
        drivers.append(f"{organ} label at {_day_text(day)}: {named}")
    return (
        table(header, rows)
        + "\n"
        + prose(
            f"`{ORGAN_EXAMPLE}` gives {power10(float(dose.viable_cells[0]))} viable cells "
            "(before the early loss in blood). What moves these numbers most (normalised local "
            "sensitivity, d log output / d log parameter, at the defaults): "
            + "; ".join(drivers)
            + "."
        )
    )


def block_calibration() -> str:
    """Render each calibration observation beside the model, and what is fitted or guessed."""
    from mscsim.analysis.calibration import FITTED_PARAMETERS, predict, residual_table
    from mscsim.evidence import load_library
    from mscsim.evidence.calibration import calibration_data
    from mscsim.models.physiology import species_data

    data = calibration_data()
    frame = residual_table(data, predict(data))
    rows = [
        [
            str(r["observation"]),
            f"{r['species']}, {r['label']}, day {r['day']:.3g}",
            f"`{r['quantity']}`",
            str(r["observed"]),
            f"{r['model']:.3g}",
            f"{r['fold_miss']:.2f}",
            str(r["source"]),
        ]
        for r in frame.to_dict(orient="records")
    ]
    library = load_library()
    organ = [
        p
        for p in library
        if p.model.startswith(("msc_organs", "msc_label")) and p.name not in FITTED_PARAMETERS
    ]
    guessed = [p.name for p in organ if p.evidence == "G"]
    other = [p.name for p in organ if p.evidence != "G"]
    n_species = len(species_data())
    fitted = ", ".join(f"`{n}` = {library.get(n).value:.3g}" for n in FITTED_PARAMETERS)
    text = (
        f"**Fitted on animals** ({len(FITTED_PARAMETERS)}): {fitted}. "
        f"**Scaled** (not fitted): cardiac output, organ volumes and blood-flow fractions "
        f"of the {n_species} species (`src/mscsim/evidence/data/physiology.toml`, from "
        f"R99{EN_DASH}R103), carried to other weights by flow × W^0.75 and volume × W; the fitted "
        "cell and label parameters are the same in every species. "
        f"**Guessed** ({len(guessed)} organ and label parameters, tag G): "
        + ", ".join(f"`{n}`" for n in guessed)
        + (f". Inferred from seen numbers: {', '.join(f'`{n}`' for n in other)}" if other else "")
        + f". The worst miss is {frame['fold_miss'].max():.2f}-fold."
    )
    return (
        table(
            [
                "observation",
                "animal, label, time",
                "quantity",
                "observed",
                "model",
                "miss",
                "source",
            ],
            rows,
        )
        + "\n"
        + prose(text)
    )


_VERDICT_WORDS = {"holds": "holds", "does_not_hold": "does not hold", "cannot_tell": "cannot tell"}


def block_claims(claims: Sequence[Mapping[str, Any]]) -> str:
    """Render ``mscsim claims --json`` (the demo's run) as a table and what it means."""
    rows = []
    for c in claims:
        deciding = ", ".join(f"`{p}`" for p in c["deciding_parameters"]) or "none above noise"
        rows.append(
            [
                f"`{c['id']}`",
                str(c["claim"]),
                f"**{_VERDICT_WORDS[c['verdict']]}**",
                f"{c['robustness']:.2f}",
                deciding,
                "yes" if c["emergent"] else "no (restates an input)",
            ]
        )
    by_id = {c["id"]: c for c in claims}
    samples = claims[0].get("samples", 0) if claims else 0
    meaning = [
        f"From `mscsim claims --json` ({samples} samples per claim over the plausible "
        "ranges; robustness is the share of them in which the claim holds):"
    ]
    notes = []
    for cid, holds_text, fails_text in _PATIENT_MEANING:
        c = by_id.get(cid)
        if c is None:
            continue
        text = holds_text if c["verdict"] == "holds" else fails_text
        notes.append(text.format(robustness=c["robustness"], statement=c.get("statement", "")))
    return (
        prose(" ".join(meaning))
        + "\n"
        + table(["id", "claim", "verdict", "robustness", "decided by", "emergent"], rows)
        + "\n"
        + prose("What it means for a patient: " + " ".join(notes))
    )


_PATIENT_MEANING: tuple[tuple[str, str, str], ...] = (
    (
        "no_dependence",
        "Stopping leaves the course where it would have been without treatment, not "
        "worse, and repeated infusions keep their effect (robustness {robustness:.0%}).",
        "The strict check of *no dependence* fails at these defaults. The withdrawal "
        "table above shows which part: a course below the untreated one would be a "
        "rebound; a tolerance index below 1 means later infusions do a little less. In "
        "this model nothing adapts to the cells the way the body adapts to a drug (it has "
        "no counter-regulation); a lower index comes from the immune system clearing "
        "donor cells faster after earlier infusions.",
    ),
    (
        "repeated_dosing",
        "Repeated infusions keep living cells present between doses.",
        "At the usual spacing the cells of one infusion are gone long before the next: "
        "repeat infusions renew the effect while cells live; they do not build up cells.",
    ),
    (
        "frequency_over_dose",
        "For the same number of cells, more frequent doses give more effect than one "
        "larger dose in {robustness:.0%} of the plausible models: one reason several "
        "infusions are given.",
        "More frequent doses do not beat one larger dose at these defaults "
        "(they do in {robustness:.0%} of the plausible models).",
    ),
    (
        "sca_trial",
        "A 10 vs 5 trial would show the SCA benefit.",
        "A 10 vs 5 trial could not show an SCA benefit of the size these defaults give, "
        "so a small trial's result says little either way.",
    ),
)


def block_fit_coverage(summary: Mapping[str, Any]) -> str:
    """Render the coverage of profile-likelihood intervals from ``scripts/fit_coverage.py``."""
    rows = [
        [f"`{name}`", f"{summary['truth'][name]:g}", f"{cover:.2f}"]
        for name, cover in summary["coverage"].items()
    ]
    intro = (
        f"`python scripts/fit_coverage.py` ({summary['replicates']} simulated datasets of "
        f"{summary['patients']} patients × {summary['samples_per_patient']} samples, "
        f"{summary['proportional_error']:.0%} proportional error, "
        f"{summary['censored_per_replicate']:.1f} values per dataset below the limit of "
        f"quantification; {summary['converged']} of {summary['replicates']} fits converged, "
        f"median {summary['median_seconds_per_fit']:.1f} s per fit with intervals): how often "
        "each 95% profile-likelihood interval holds the value the data were simulated from."
    )
    return prose(intro) + "\n" + table(["parameter", "truth", "coverage"], rows)


def _power(x: float) -> str:
    """Return ``x`` as ``a.b×10^k`` (one decimal)."""
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa}×10^{int(exponent)}"


def block_bench_nonlinear(summary: Mapping[str, Any]) -> str:
    """Render the 6-state benchmark table from ``bench/nonlinear.py --json``."""
    rows = [
        [
            f"{r['patients']:,}",
            f"{r['mscsim_ms']:.4f}",
            f"{r['baseline_ms']:.4f}",
            f"{r['ratio']:.2f}×",
            _power(r["error_mscsim"]),
            _power(r["error_baseline"]),
            f"{r['mscsim_steps_per_patient']:.0f}",
            "met" if r["met"] else "**missed**",
            f"{r['numpy_ms']:.4f} ({r['numpy_ratio']:.2f}×)" if "numpy_ms" in r else "not run",
        ]
        for r in summary["rows"]
    ]
    intro = (
        f"`{summary['command']}` ({summary['date']}; {summary['solver']}; baseline RK4 at "
        f"{summary['baseline_step_day']:g} d with graded steps after each of the "
        f"{summary['doses']} doses, {summary['baseline_steps_per_patient']} steps per patient; "
        f"{summary['outputs']} daily outputs; reference "
        f"{summary['reference']}; peak resident memory {summary['peak_mib']:,} MiB). "
        f"Target: mscsim ≥ {summary['target_ratio']:g}× faster per patient than the "
        f"baseline, both within {summary['target_error']:g} of the reference."
    )
    header = [
        "patients",
        "mscsim ms/patient",
        "baseline ms/patient",
        "baseline ÷ mscsim",
        "error mscsim",
        "error baseline",
        "mscsim panels/patient",
        "target",
        "mscsim without the kernel ms/patient (baseline ÷ it)",
    ]
    return prose(intro) + "\n" + table(header, rows)


def block_bench_engine(summary: Mapping[str, Any]) -> str:
    """Render the fast-vs-scipy engine benchmark table from ``bench/engine.py --json``."""
    rows = [
        [
            r["scenario"],
            f"{r['fast_ms']:.4f}",
            f"{r['scipy_ms']:.2f}",
            f"{r['ratio']:,.0f}×",
            _power(r["error_fast"]),
            _power(r["error_scipy"]),
            "met" if r["met"] else "**missed**",
        ]
        for r in summary["rows"]
    ]
    varied = ", ".join(f"`{name}`" for name in summary["varied"])
    intro = (
        f"`{summary['command']}` ({summary['date']}; `{summary['fast_solver']}` on "
        f"{summary['n_patients']:,} patients, `{summary['scipy_solver']}` on "
        f"{summary['n_scipy']:,}, errors against `{summary['reference_solver']}` on "
        f"{summary['n_reference']:,}; per-patient log-normal spread, SD of the log "
        f"{summary['omega']:g}, on {varied} and the target capacity where it is finite; "
        f"peak resident memory {summary['peak_mib']:,} MiB). Target: fast ≥ "
        f"{summary['target_ratio']:g}× "
        f"the scipy throughput per patient at ≥ {summary['target_patients']:,} patients, "
        f"with error ≤ {_power(summary['target_error'])} against the reference."
    )
    header = [
        "scenario",
        "fast ms/patient",
        "scipy ms/patient",
        "scipy ÷ fast",
        "error fast",
        "error scipy",
        "target",
    ]
    return prose(intro) + "\n" + table(header, rows)


def _bench_verdict(verdict: Mapping[str, Any]) -> str:
    """Return a population benchmark verdict: met, missed, or within at a smaller size."""
    if verdict["met"]:
        return "met"
    if not verdict["within"]:
        return "**missed**"
    return f"within at {verdict['size']:,} {verdict['size_of']}; {verdict['target_size']:,} not run"


def _population_rows(summary: Mapping[str, Any]) -> list[list[str]]:
    """Return one row per verdict of ``bench/population.py --json`` (its parts in order)."""
    parts, targets = summary["parts"], summary["targets"]
    quantity: dict[str, tuple[str, Callable[[Mapping[str, Any]], str], str]] = {
        "fast_ratio": (
            "scipy ÷ fast engine (default step), time per patient",
            lambda p: f"{p['fast_ratio']:,.0f}× ({p['fast_ms']:.2f} vs {p['scipy_ms']:.0f} ms)",
            f"≥ {targets['speed_ratio']:,.0f}× at ≥ {targets['speed_patients']:,} patients",
        ),
        "trial_step_ratio": (
            "scipy ÷ fast engine (0.5-d step of trials), time per patient",
            lambda p: (
                f"{p['trial_step_ratio']:,.0f}× ({p['trial_step_ms']:.2f} vs "
                f"{p['scipy_ms']:.0f} ms)"
            ),
            f"≥ {targets['speed_ratio']:,.0f}× at ≥ {targets['speed_patients']:,} patients",
        ),
        "fast_error": (
            "fast engine (default step), largest error against a tight scipy solve",
            lambda p: (
                f"{p['fast_error']:.1e} ({p['error_patients']} patients, "
                f"{p['error_sensitised']} sensitised; 0.5-d step {p['trial_step_error']:.1e})"
            ),
            f"≤ {targets['error']:g} of the value (or of 10^-6 of its peak)",
        ),
        "fast_seconds_per_1e5": (
            "fast engine (default step), time per 10^5 patients",
            lambda p: f"{p['fast_seconds_per_1e5']:,.1f} s",
            f"≤ {targets['seconds_per_1e5']:g} s (script)",
        ),
        "trial_step_seconds_per_1e5": (
            "fast engine (0.5-d step), time per 10^5 patients",
            lambda p: f"{p['trial_step_seconds_per_1e5']:,.1f} s",
            f"≤ {targets['seconds_per_1e5']:g} s (script)",
        ),
        "peak_mib": (
            "`mscsim simulate -o out.parquet`, peak resident memory",
            lambda p: (
                f"{p['peak_mib']:,.0f} MiB ({p['patients']:,} patients, {p['seconds']:.0f} s)"
            ),
            f"≤ {targets['stream_peak_mib']:,.0f} MiB at {targets['stream_patients']:,} patients",
        ),
        "seconds_per_1000": (
            "`mscsim trial`, time per 1,000 replicates",
            lambda p: f"{p['seconds_per_1000']:,.0f} s",
            f"≤ {targets['trial_seconds_per_1000']:g} s (script)",
        ),
        "ratio": (
            "trial ÷ simulate, time per patient",
            lambda p: (
                f"{p['ratio']:.2f}× ({p['ms_per_patient']:.1f} vs "
                f"{p['simulate_ms_per_patient']:.1f} ms)"
            ),
            f"≤ {targets['trial_ratio']:g}× at {targets['trial_replicates']:,} replicates",
        ),
    }
    rows = []
    for part in parts.values():
        for verdict in part["verdicts"]:
            label, measured, target = quantity[verdict["measured"]]
            rows.append([label, measured(part), target, _bench_verdict(verdict)])
    return rows


def block_bench_population(summary: Mapping[str, Any]) -> str:
    """Render the population, streaming and trial benchmark from ``bench/population.py --json``."""
    speed = summary["parts"]["speed"]
    intro = (
        f"`{summary['command']}` ({summary['date']}; `{summary['scenario']}` with a "
        f"`[population]` of seed {summary['population_seed']}, 365 daily outputs, chunks of "
        f"{summary['chunk_size']:,} patients: the fast engine on {summary['n_patients']:,} "
        f"patients, the scipy backend (`{speed['scipy_solver']}`) on {summary['n_scipy']:,}, "
        "a few between each two fast chunks; "
        f"the same population streamed to Parquet by `mscsim simulate` in a child process; "
        f"`{summary['trial']}` × {summary['replicates']:,} replicates against simulating "
        f"`{summary['arm']}` for as many patients; peak resident memory of the script "
        f"{summary['peak_mib']:,} MiB). Fast times follow a first call on "
        f"{speed['warm_up_patients']} patients ({speed['first_call_s']:.1f} s: it loads the "
        "compiled code from numba's cache, or compiles it on a fresh checkout), the error is "
        f"measured against `{speed['reference_solver']}`. Targets are the issue's, except "
        "those marked (script), the script's own, scaled to the size run; met means the "
        "bound holds at the target's size."
    )
    header = ["quantity", "measured", "target", "verdict"]
    return prose(intro) + "\n" + table(header, _population_rows(summary))


BLOCKS: dict[str, Callable[[], str]] = {
    "kinetics": block_kinetics,
    "split": block_split,
    "steep": block_steep,
    "withdrawal": block_withdrawal,
    "per_dose": block_per_dose,
    "spacing": block_spacing,
    "donor_age": block_donor_age,
    "products": block_products,
    "dose_evidence": block_dose_evidence,
    "release": block_release,
    "organs": block_organs,
    "calibration": block_calibration,
}
"""Blocks computed from the code in seconds; ``trial`` is rendered from a run's summary."""


def read_trial_summary(path: Path | None = None) -> dict[str, Any]:
    """Return the trial summary the README quotes (:data:`TRIAL_SUMMARY` by default)."""
    data: dict[str, Any] = json.loads((path or ROOT / TRIAL_SUMMARY).read_text("utf-8"))
    return data


RUN_BLOCKS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "trial": (TRIAL_SUMMARY, block_trial),
    "claims": (CLAIMS_SUMMARY, block_claims),
    "fit_coverage": (FIT_COVERAGE, block_fit_coverage),
    "bench_nonlinear": (BENCH_NONLINEAR, block_bench_nonlinear),
    "bench_engine": (BENCH_ENGINE, block_bench_engine),
    "bench_population": (BENCH_POPULATION, block_bench_population),
}
"""Blocks rendered from a run's JSON kept in ``docs/figures/`` (the runs take minutes)."""


def render_run_block(name: str) -> str:
    """Return run block ``name`` rendered from its JSON (:data:`RUN_BLOCKS`)."""
    path, renderer = RUN_BLOCKS[name]
    return renderer(json.loads((ROOT / path).read_text("utf-8")))


# ---------------------------------------------------------------- README


def blocks_in(text: str) -> dict[str, str]:
    """Return the body of every generated block of ``text`` by name."""
    return {m["name"]: m["body"] for m in _BLOCK.finditer(text)}


def replace_blocks(text: str, bodies: Mapping[str, str]) -> str:
    """Return ``text`` with the named blocks' bodies replaced.

    Raises
    ------
    KeyError
        If a name in ``bodies`` has no block in ``text``.
    """
    missing = set(bodies) - set(blocks_in(text))
    if missing:
        raise KeyError(f"README has no generated block {sorted(missing)}")

    def body(match: re.Match[str]) -> str:
        name = match["name"]
        new = bodies.get(name, match["body"])
        return f"<!-- generated:{name} -->\n{new}<!-- /generated:{name} -->"

    return _BLOCK.sub(body, text)


def render(names: Sequence[str] | None = None) -> dict[str, str]:
    """Return the rendered blocks (all by default), the trial's from its summary."""
    wanted = list(names) if names is not None else [*BLOCKS, *RUN_BLOCKS]
    return {
        name: render_run_block(name) if name in RUN_BLOCKS else BLOCKS[name]() for name in wanted
    }


def copy_figures() -> list[str]:
    """Copy what ``make demo`` wrote into ``docs/figures/``; if any is missing, copy none.

    Returns what is missing.
    """
    missing = [source for source in FIGURES if not (ROOT / source).is_file()]
    if not missing:
        for source, target in FIGURES.items():
            shutil.copyfile(ROOT / source, ROOT / target)
    return missing


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the README's generated blocks (or ``--check`` them); return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale blocks")
    args = parser.parse_args(argv)
    if not args.check:
        missing = copy_figures()
        if missing:
            sys.stderr.write(f"error: not found (run make demo first): {', '.join(missing)}\n")
            return 2
    text = README.read_text("utf-8")
    bodies = render()
    if args.check:
        stale = [name for name, body in bodies.items() if blocks_in(text).get(name) != body]
        if stale:
            sys.stderr.write(f"README.md is stale: {', '.join(stale)} (run make docs)\n")
        return 1 if stale else 0
    README.write_text(replace_blocks(text, bodies), "utf-8")
    sys.stdout.write(f"README.md: {len(bodies)} generated blocks; figures in docs/figures/\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
