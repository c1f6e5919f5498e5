# ruff: noqa: RUF001 - the Chinese texts use Chinese (full-width) punctuation
r"""The claims patients hear about MSC therapy, each checked by a computation.

Every claim is a precise statement about what mscsim computes, with a *margin*:
a continuous number whose sign is the verdict (> 0: the claim holds). The margin
is computed from simulations of scenarios built here (the examples' patients,
products and regimens) or from the dose evidence; no function knows what the
answer should be. For each claim:

- ``verdict`` at the library defaults: ``holds``, ``does_not_hold`` or
  ``cannot_tell`` (when the margin is within two standard errors of 0, which only
  a stochastic computation, the virtual trial, has);
- ``robustness``: the share of a seeded Latin hypercube sample over the plausible
  ranges of the claim's provisional parameters (evidence tags G and I, site
  ranges where the library has them) in which the claim holds;
- ``deciding_parameters``: the parameters whose low and high halves of the sample
  differ most in the claim's margin (difference of the mean margin rank, scaled to
  0-1; listed when clearly above sampling noise, at most three). This is the
  cheap "halves" screen on the margin, not Sobol indices: Sobol would need
  ``n (2 d + 2)`` runs of every claim;
- ``emergent``: whether the verdict comes out of the dynamics or restates an input;
- ``references``: the dossier IDs (``R#``) the parameter library and the dose
  evidence cite for the claim's inputs.

Numerical accuracy. Deterministic margins subtract :data:`NUMERICAL_TOLERANCE`
(100 x the engine's relative step tolerance): a difference smaller than that is
not a difference the model can claim.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import norm

from mscsim.analysis.compare import DEFAULT_WINDOW_DAYS, split_problem
from mscsim.analysis.sensitivity import ParameterSpace, latin_hypercube
from mscsim.analysis.trial import run_trial
from mscsim.engine.adaptive import DEFAULT_RTOL
from mscsim.engine.events import ResolvedDose
from mscsim.engine.solvers import FastSolver
from mscsim.errors import SpecError
from mscsim.evidence.doses import dose_evidence
from mscsim.evidence.library import load_library
from mscsim.evidence.sources import source_profile
from mscsim.models.base import Model
from mscsim.problem.build import default_model, problem_from_scenario
from mscsim.problem.events import DoseEvents
from mscsim.problem.problem import Problem, solve
from mscsim.spec.examples import example_scenario
from mscsim.spec.route import Route
from mscsim.spec.scenario import Scenario
from mscsim.spec.trial import TrialSpec

__all__ = [
    "CLAIM_IDS",
    "DEFAULT_SAMPLES",
    "DETECTABLE_SHARE",
    "LANGUAGES",
    "NUMERICAL_TOLERANCE",
    "VERDICTS",
    "Claim",
    "ClaimResult",
    "audit_claims",
    "claim",
    "claims_frame",
]

LANGUAGES: tuple[str, ...] = ("en", "zh")
VERDICTS: tuple[str, ...] = ("holds", "does_not_hold", "cannot_tell")
NUMERICAL_TOLERANCE = 100 * DEFAULT_RTOL
"""Relative differences below this (1e-5) are taken as numerical noise."""
DETECTABLE_SHARE = 0.01
"""Share of a dose still "there": the lowest detection floor in the dossier (1-5% of
the cells injected, evidence section 3, R35; about 4% in R37)."""
DEFAULT_SAMPLES = 16
"""Latin hypercube points per claim by default (about a minute on 2 cores)."""
TARGET_POWER = 0.8
"""Power for a "significant benefit" to be expected from a trial design."""
DEFAULT_TRIAL_REPLICATES = 200
"""Replicates of the virtual trial at the defaults (power SE <= 0.035)."""
SAMPLE_TRIAL_REPLICATES = 20
"""Replicates of the virtual trial at each sample point (small: robustness only)."""
TRIAL_RTOL = 1e-4
"""Step tolerance of the virtual trial's engine: SARA endpoints within about 1e-4 points
of the trial's default (1e-7), far below the rating error (SD 1 point), 5 times faster."""
INFINITE_RANGE_FACTOR = 1e3
"""An infinite upper plausible bound is sampled up to this times the lower bound."""
WEIGHT_RANGE_KG = (40.0, 120.0)
"""Adult body weights over which the per-kg dose evidence is turned into cells."""
PROVISIONAL_TAGS = frozenset({"G", "I"})
"""Evidence tags of the parameters sampled for robustness: guessed and inferred."""
_MAX_DECIDING = 3

Array = NDArray[np.float64]
Values = Mapping[str, Array]
"""Sampled parameter values by name, each of shape (n,)."""


# --- parameter space and Latin hypercube (mscsim.analysis.sensitivity) ---


def _claim_space(names: Sequence[str], model: Model, site: str) -> ParameterSpace:
    """Return the space of ``names`` (parameters of ``model``) at ``site``.

    Ranges and scales are :meth:`ParameterSpace.from_library`'s. A range without an
    upper end (``target_capacity_cells``: no saturation) is sampled log-uniformly up
    to :data:`INFINITE_RANGE_FACTOR` x its lower end, which no studied dose reaches.
    """
    by_name = {p.name: p for p in model.parameters}
    bounded = [n for n in names if math.isfinite(by_name[n].default(site).plausible[1])]
    space = ParameterSpace.from_library(bounded, model=model, site=site)
    unbounded = [n for n in names if n not in bounded]
    lows = [by_name[n].default(site).plausible[0] for n in unbounded]
    return ParameterSpace(
        (*space.names, *unbounded),
        (*space.bounds, *((low, low * INFINITE_RANGE_FACTOR) for low in lows)),
        (*space.log, *(True for _ in unbounded)),
    )


def _sample(space: ParameterSpace, n: int, seed: int, index: int) -> dict[str, Array]:
    """Return claim ``index``'s Latin hypercube of ``n`` points, by parameter name.

    Its seed is drawn from ``SeedSequence([seed, index])``: a claim's sample does not
    depend on which other claims are checked.
    """
    state = np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint64)[0]
    points = latin_hypercube(space, n, int(state >> np.uint64(1)))
    return {name: points[:, j] for j, name in enumerate(space.names)}


def _n_of(values: Values) -> int:
    sizes = {np.size(v) for v in values.values()}
    if len(sizes) > 1:
        raise SpecError(f"parameters: give every parameter the same number of values, not {sizes}")
    return sizes.pop() if sizes else 1


# --- scenarios of the claims (the examples' patients, products and regimens) ---

_SCA_IV = example_scenario("sca_uc_msc_iv")
"""``examples/sca_uc_msc_iv.toml``: SCA3, allogeneic UC-MSC 1e6/kg IV every 90 days x 4
(the lot's viability 0.92 written in)."""

_LIMB_IM = example_scenario("cli_bm_msc_im")
"""``examples/cli_bm_msc_im.toml``: autologous BM-MSC 2e6/kg into the calf muscle, once."""

_SCA_ARM = {
    "patient": {"weight_kg": 65, "age_years": 45},
    "product": {"source": "umbilical_cord", "donor": "allogeneic"},
    "dose": _SCA_IV["dose"],
    "disease": {"model": "sca", "genotype": "pooled", "baseline_score": 13},
    "simulation": {"horizon_days": 365},
    "population": {
        "seed": 1,
        "baseline": {"dist": "normal", "mean": 13, "sd": 4, "min": 3, "max": 30},
        "genotype_mix": {"SCA1": 0.2, "SCA2": 0.2, "SCA3": 0.5, "SCA6": 0.1},
        "age_years": {"dist": "normal", "mean": 45, "sd": 10, "min": 18, "max": 75},
        "female_fraction": 0.5,
    },
}
"""``examples/sca_trial_arm.toml``: the trial's patients."""

_SCA_TRIAL: dict[str, Any] = {
    "trial": {
        "replicates": DEFAULT_TRIAL_REPLICATES,
        "seed": 2026,
        "alpha": 0.05,
        "analysis": "ancova",
        "dropout": 0.05,
        "visit_days": [0, 90, 180, 270, 365],
    },
    "endpoint": {"output": "sara_score", "day": 365},
    "measurement": {"additive_sd": 1.0, "proportional_cv": 0.0},
    "placebo": {"mean": 0.0, "sd": 0.0},
}
"""``examples/sca_trial.toml``: 10 UC-MSC vs 5 placebo, change in SARA at 12 months."""


def _scenario(data: Mapping[str, object], **update: object) -> Scenario:
    return Scenario.model_validate({**data, **update})


@cache
def _problem(name: str, horizon_days: float | None = None) -> Problem:
    """Return the problem of one of the claims' scenarios (``sca_iv`` or ``limb_im``)."""
    data = {"sca_iv": _SCA_IV, "limb_im": _LIMB_IM}[name]
    if horizon_days is not None:
        data = {**data, "simulation": {"horizon_days": horizon_days}}
    return problem_from_scenario(_scenario(data), n_patients=1)


# --- batched runs: one problem, one row per arm and sample ---


@dataclass(frozen=True)
class _Arm:
    """One regimen of a claim: its doses and covariates that differ from the base."""

    doses: tuple[ResolvedDose, ...]
    params: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Runs:
    """Outputs of every arm and sample: ``get(name)`` has shape (n_arms, n, n_times)."""

    outputs: Mapping[str, Array]
    times: Array
    n_arms: int
    n: int

    def get(self, name: str) -> Array:
        return self.outputs[name].reshape(self.n_arms, self.n, -1)

    def at(self, name: str, day: float) -> Array:
        """Return ``name`` at the output time nearest ``day``, shape (n_arms, n)."""
        return self.get(name)[:, :, int(np.argmin(np.abs(self.times - day)))]


def _run_arms(base: Problem, arms: Sequence[_Arm], values: Values, times: Array) -> _Runs:
    """Simulate every arm for every sampled parameter set in one batched solve."""
    n = _n_of(values)
    unknown = sorted(set(values) - set(base.params))
    if unknown:
        raise SpecError(f"parameters.{unknown[0]}: not a parameter of this claim's model")
    params = {}
    for name, column in base.params.items():
        sampled = np.broadcast_to(np.asarray(values.get(name, column), float), (n,))
        params[name] = np.concatenate(
            [np.full(n, arm.params[name]) if name in arm.params else sampled for arm in arms]
        )
    rows = [
        (a * n + i, d.time_day, float(d.viable_cells[0]), d.route, d.duration_day)
        for a, arm in enumerate(arms)
        for d in arm.doses
        for i in range(n)
    ]
    problem = Problem(base.model, params, DoseEvents.from_rows(rows), times, len(arms) * n)
    result = solve(problem, FastSolver())
    return _Runs(result.outputs, result.times_day, len(arms), n)


def _grid(horizon: float, dose_days: Sequence[float]) -> Array:
    """Daily outputs, every 0.05 d for 3 days and every 0.25 d for 30 days after each dose."""
    parts: list[Array] = [np.arange(0.0, horizon + 1e-9, 1.0), np.array([horizon])]
    for d in dose_days:
        parts += [np.arange(d, d + 3, 0.05), np.arange(d + 3, d + 30, 0.25)]
    times = np.unique(np.round(np.concatenate(parts), 6))
    return np.asarray(times[times <= horizon], dtype=float)


def _auc(times: Array, y: Array, start: float, end: float) -> Array:
    """Return the area of ``y`` (..., n_times) between ``start`` and ``end`` (on grid points)."""
    inside = (times >= start - 1e-9) & (times <= end + 1e-9)
    return np.asarray(np.trapezoid(y[..., inside], times[inside], axis=-1))


def _deterministic(margin: Array) -> tuple[Array, Array]:
    return margin, np.zeros_like(margin)


# --- the claims' computations (each returns margins and their standard errors) ---


def _dose_ranges(route: Route, weight_kg: Array) -> tuple[Array, Array]:
    """Return the typical range of ``route`` in cells (absolute or per kg x weight)."""
    ev = dose_evidence(route)
    lows, highs = [], []
    if ev.typical_cells is not None:
        lows.append(np.full(weight_kg.shape, ev.typical_cells[0]))
        highs.append(np.full(weight_kg.shape, ev.typical_cells[1]))
    if ev.typical_cells_per_kg is not None:
        lows.append(ev.typical_cells_per_kg[0] * weight_kg)
        highs.append(ev.typical_cells_per_kg[1] * weight_kg)
    return np.min(lows, axis=0), np.max(highs, axis=0)


_LOCAL_ROUTES = tuple(r for r in Route if r.is_local)


def _dose_by_route(values: Values) -> tuple[Array, Array]:
    weight = np.asarray(values.get("weight_kg", [65.0]), float)
    iv_low, iv_high = _dose_ranges(Route.INTRAVENOUS, weight)
    lows, highs = [], []
    for route in _LOCAL_ROUTES:
        if dose_evidence(route).typical_cells is None and (
            dose_evidence(route).typical_cells_per_kg is None
        ):
            continue
        low, high = _dose_ranges(route, weight)
        lows.append(low)
        highs.append(high)
    middle = np.median(np.sqrt(np.array(lows) * np.array(highs)), axis=0)
    upper = np.median(np.array(highs), axis=0)
    margins = [
        np.log10(iv_low / 1e7),  # tens of millions: from >= 1e7 ...
        np.log10(1e8 / iv_low),  # ... and < 1e8
        np.log10(iv_high / 1.5e8),  # "about 2e8": rounds to 2e8 at one digit
        np.log10(2.5e8 / iv_high),
        np.log10(5e7 / middle),  # local usually <= 5e7
        np.log10(1e8 / upper),  # local above 1e8 rare
    ]
    return _deterministic(np.min(margins, axis=0))


def _survival(values: Values) -> tuple[Array, Array]:
    base = _problem("limb_im", 56.0)
    times = np.arange(0.0, 57.0, 1.0)
    runs = _run_arms(base, [_Arm(base.doses)], values, times)
    dose = float(base.doses[0].viable_cells[0])
    day28 = runs.at("cells_total", 28.0)[0] / dose
    day56 = runs.at("cells_total", 56.0)[0] / dose
    present = np.log10(np.maximum(day28, 1e-300) / DETECTABLE_SHARE)
    declines = np.log10(np.maximum(day28, 1e-300) / np.maximum(2 * day56, 1e-300))
    return _deterministic(np.minimum(present, declines))


def _repeated(values: Values) -> tuple[Array, Array]:
    base = _problem("sca_iv")
    days = sorted({d.time_day for d in base.doses})
    times = np.union1d(np.arange(0.0, 366.0, 1.0), [d - 1e-3 for d in days[1:]])
    runs = _run_arms(base, [_Arm(base.doses)], values, times)
    dose = float(base.doses[0].viable_cells[0])
    troughs = np.min([runs.at("cells_total", d - 1e-3)[0] for d in days[1:]], axis=0)
    return _deterministic(np.log10((troughs + 1.0) / (DETECTABLE_SHARE * dose)))


def _immune(values: Values) -> tuple[Array, Array]:
    base = _problem("sca_iv")
    times = _grid(365.0, [d.time_day for d in base.doses])
    arms = [_Arm(base.doses), _Arm(base.doses, {"is_allogeneic": 0.0})]
    exposure = _run_arms(base, arms, values, times).at("total_exposure_cell_days", 365.0)
    return _deterministic(1 - exposure[0] / exposure[1] - NUMERICAL_TOLERANCE)


def _product_arm(product: Mapping[str, object]) -> _Arm:
    problem = problem_from_scenario(_scenario(_SCA_IV, product=product), n_patients=1)
    covariates = problem.provenance.product.covariates() if problem.provenance else {}
    return _Arm(problem.doses, covariates)


def _source_quality(values: Values) -> tuple[Array, Array]:
    base = _problem("sca_iv")
    reference = {"source": "umbilical_cord", "donor": "allogeneic"}
    arms = [
        _product_arm(reference),
        # the weak lot of examples/weak_uc_lot.toml: passes release, half the potency
        _product_arm({**reference, "viability": 0.75, "potency": 0.5}),
        _product_arm({"source": "bone_marrow", "donor": "allogeneic", "donor_age_years": 30}),
        _product_arm({"source": "adipose", "donor": "allogeneic", "donor_age_years": 30}),
    ]
    times = _grid(365.0, [d.time_day for d in base.doses])
    runs = _run_arms(base, arms, values, times)
    auc = _auc(times, runs.get("effect"), 0.0, 365.0)
    change = np.abs(auc[1:] / auc[0] - 1)
    quality, source = change[0], np.max(change[1:], axis=0)
    return _deterministic(np.minimum(quality, source) - NUMERICAL_TOLERANCE)


def _distribution(values: Values) -> tuple[Array, Array]:
    base = _problem("sca_iv")
    first = base.doses[0]
    times = _grid(90.0, [0.0])
    runs = _run_arms(base, [_Arm((first,))], values, times)
    target = runs.at("exposure_cell_days", 90.0)[0]
    total = runs.at("total_exposure_cell_days", 90.0)[0]
    return _deterministic(np.log10(0.5 * total / np.maximum(target, 1e-300)))


def _paracrine(values: Values) -> tuple[Array, Array]:
    base = _problem("sca_iv")
    times = _grid(365.0, [d.time_day for d in base.doses])
    arms = [_Arm(base.doses), _Arm(base.doses, {"potency": 1e-12})]
    auc = _auc(times, _run_arms(base, arms, values, times).get("effect"), 0.0, 365.0)
    return _deterministic(1 - auc[1] / auc[0] - NUMERICAL_TOLERANCE)


def _frequency(values: Values) -> tuple[Array, Array]:
    base = _problem("limb_im")
    (dose,) = base.doses
    k = 2
    bigger = ResolvedDose(dose.time_day, dose.route, dose.viable_cells * k, dose.duration_day)
    more_often = split_problem(
        Problem(base.model, base.params, DoseEvents.shared([bigger], 1), base.times_day),
        k,
        DEFAULT_WINDOW_DAYS,
    ).doses
    horizon = float(base.times_day[-1])
    times = _grid(horizon, [d.time_day for d in more_often])
    runs = _run_arms(base, [_Arm((bigger,)), _Arm(more_often)], values, times)
    auc = _auc(times, runs.get("effect"), 0.0, horizon)
    return _deterministic(np.log(auc[1] / auc[0]) - NUMERICAL_TOLERANCE)


def _no_dependence(values: Values) -> tuple[Array, Array]:
    base = _problem("sca_iv")
    days = sorted({d.time_day for d in base.doses})
    interval, stop = days[-1] - days[-2], days[-1]
    horizon = stop + 365.0
    continued = list(base.doses)
    t = stop + interval
    repeat = base.doses[-1]
    while t <= horizon:
        continued.append(ResolvedDose(t, repeat.route, repeat.viable_cells, repeat.duration_day))
        t += interval
    times = _grid(horizon, [d.time_day for d in continued])
    arms = [_Arm(base.doses), _Arm(()), _Arm(tuple(continued))]
    runs = _run_arms(base, arms, values, times)
    outcome = base.model.outcome  # type: ignore[attr-defined]
    course = runs.get(outcome.name)
    sign = 1.0 if outcome.higher_is_worse else -1.0
    after = times >= stop
    benefit = sign * (course[1] - course[0])[:, after]
    scale = np.max(np.abs(course[1]), axis=-1)
    rebound = np.maximum(0.0, -np.min(benefit, axis=-1))
    effect = runs.get("effect")[2]
    first = _auc(times, effect, days[0], days[0] + interval)
    last = _auc(times, effect, stop, stop + interval)
    # No effect at all (it underflows for tiny factor levels): nothing to lose, index 1.
    tolerance = np.divide(last, first, out=np.ones_like(first), where=first > 0)
    margin = np.minimum(
        NUMERICAL_TOLERANCE - rebound / scale, tolerance - (1 - NUMERICAL_TOLERANCE)
    )
    return _deterministic(margin)


def _trial_spec(overrides: Mapping[str, float], replicates: int) -> TrialSpec:
    arm = _scenario(_SCA_ARM, parameters=dict(overrides))
    data = {
        **_SCA_TRIAL,
        "trial": {**_SCA_TRIAL["trial"], "replicates": replicates},
        "arm": [
            {"name": "UC-MSC", "n": 10, "scenario": arm},
            {"name": "placebo", "n": 5, "scenario": arm, "placebo": True},
        ],
    }
    return TrialSpec.model_validate(data)


def _trial(values: Values) -> tuple[Array, Array]:
    n = _n_of(values)
    replicates = DEFAULT_TRIAL_REPLICATES if n == 1 else SAMPLE_TRIAL_REPLICATES
    power = np.empty(n)
    for i in range(n):
        overrides = {k: float(np.asarray(v).reshape(-1)[i]) for k, v in values.items()}
        spec = _trial_spec(overrides, replicates)
        power[i] = run_trial(spec, solver=FastSolver(rtol=TRIAL_RTOL)).summary.power
    se = np.sqrt(power * (1 - power) / replicates)
    return power - TARGET_POWER, se


# --- the claims ---


@dataclass(frozen=True)
class Claim:
    """One claim: what patients hear, the computable statement, and how it is computed.

    Attributes
    ----------
    id : str
    heard, statement, emergent_reason : mapping of language to str
        What patients hear, the precise statement checked, and why the verdict
        does or does not come out of the dynamics (``en``, ``zh``).
    emergent : bool
    space : callable
        Returns the parameters sampled for robustness.
    margins : callable
        ``margins(values)``: margins and their standard errors, shape (n,), for
        ``n`` parameter sets (each value of shape (n,)).
    key_parameters : tuple of str
        Inputs the claim rests on; their library sources give the references.
    site : str
        The site whose parameter defaults and ranges apply.
    extra_sources : tuple of str
        Other source texts cited (the dose evidence, source profiles).
    """

    id: str
    heard: Mapping[str, str]
    statement: Mapping[str, str]
    emergent: bool
    emergent_reason: Mapping[str, str]
    space: Callable[[], ParameterSpace]
    margins: Callable[[Values], tuple[Array, Array]]
    key_parameters: tuple[str, ...] = ()
    site: str = "systemic"
    extra_sources: Callable[[], tuple[str, ...]] = tuple

    def margin(self, overrides: Mapping[str, float] | None = None) -> tuple[float, float]:
        """Return the margin (> 0: holds) and its standard error at ``overrides``.

        Raises
        ------
        SpecError
            For an impossible value or a parameter the claim's model does not use;
            a value outside the plausible range warns (:class:`~mscsim.MscsimWarning`).
        """
        library = load_library()
        values = {
            k: np.array([library.get(k).check(float(v), site=self.site) if k in library else v])
            for k, v in (overrides or {}).items()
        }
        value, se = self.margins(values)
        return float(value[0]), float(se[0])

    def check(self, overrides: Mapping[str, float] | None = None) -> bool | None:
        """Return whether the claim holds with ``overrides`` (``None``: cannot tell)."""
        value, se = self.margin(overrides)
        return _holds(value, se)

    def references(self, extra: Sequence[str] = ()) -> tuple[str, ...]:
        """Return the dossier IDs cited for the claim's inputs (and ``extra`` parameters)."""
        library = load_library()
        texts = [
            library.get(n).default(self.site).source
            for n in (*self.key_parameters, *extra)
            if n in library
        ]
        return _reference_ids([*texts, *self.extra_sources()])


def _holds(value: float, se: float) -> bool | None:
    if not math.isfinite(value) or abs(value) <= 2 * se:
        return None
    return value > 0


def _reference_ids(texts: Sequence[str]) -> tuple[str, ...]:
    ids = {m for text in texts for m in re.findall(r"\bR(\d+)[a-e]?\b", text)}
    return tuple(f"R{i}" for i in sorted(ids, key=int))


_KINETICS = ("msc_kinetics",)
_CELLS = ("msc_kinetics", "msc_immunity")
_EFFECT = ("msc_kinetics", "msc_immunity", "msc_paracrine")


def _space(
    models: Sequence[str], scenario: str = "sca_iv", site: str = "systemic"
) -> Callable[[], ParameterSpace]:
    """Return the claim's space: the provisional (G, I) parameters of ``models`` its model uses."""

    def space() -> ParameterSpace:
        if scenario == "sca_arm":
            model = default_model(_scenario(_SCA_ARM))
        else:
            model = _problem(scenario).model
        names = [
            p.name
            for p in model.parameters
            if p.model in models and p.default(site).evidence in PROVISIONAL_TAGS
        ]
        return _claim_space(names, model, site)

    return space


def _dose_sources() -> tuple[str, ...]:
    return tuple(dose_evidence(r).source for r in Route)


def _source_sources() -> tuple[str, ...]:
    return tuple(
        v.source
        for s in ("umbilical_cord", "bone_marrow", "adipose")
        for k, v in source_profile(s).values.items()
        if k in {"potency", "post_thaw_viability"}
    )


CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="dose_by_route",
        heard={
            "en": "IV doses range from tens of millions to about 2×10^8 cells; local doses are "
            "usually ≤ 5×10^7 cells, and doses above 1×10^8 are rare.",
            "zh": "静脉输注的剂量从几千万到约2亿个细胞；局部注射"
            "通常不超过5000万个细胞，超过1亿个的很少见。",
        },
        statement={
            "en": "In the dossier's dose evidence (typical range per route, absolute or per kg "
            "times a body weight of 40-120 kg): the IV range starts at 1-10×10^7 cells and ends "
            "at a value that rounds to 2×10^8; over the local routes, the median of the ranges' "
            "geometric middles is ≤ 5×10^7 and the median of their upper ends is ≤ 1×10^8.",
            "zh": "按资料中各给药途径的常用剂量范围（绝对数，或每公斤剂量乘以40-120公斤体重）："
            "静脉输注范围的下限在1000万到1亿之间、上限约为"
            "2亿；各局部途径范围中点的中位数不超过5000万，"
            "上限的中位数不超过1亿。",
        },
        emergent=False,
        emergent_reason={
            "en": "Restates the dose evidence table; no simulation is involved.",
            "zh": "只是复述剂量证据表，没有经过模拟。",
        },
        space=lambda: ParameterSpace(("weight_kg",), (WEIGHT_RANGE_KG,), (False,)),
        margins=_dose_by_route,
        extra_sources=_dose_sources,
    ),
    Claim(
        id="survival_four_weeks",
        heard={
            "en": "Cells survive in the body for about four weeks and then decline.",
            "zh": "细胞在体内存活约四周，然后逐渐减少。",
        },
        statement={
            "en": "After one intramuscular dose (autologous BM-MSC 2×10^6/kg, the limb ischemia "
            "example), at least 1% of the viable cells (the lowest detection floor in the "
            "dossier) are alive in the body at day 28, and fewer than half as many at day 56.",
            "zh": "单次肌肉注射（自体骨髓间充质干细胞，每公斤200万个，肢体缺血示例）后，"
            "第28天体内仍有至少1%的活细胞（资料中最低的检测限），到第56天少于第28天的一半。",
        },
        emergent=False,
        emergent_reason={
            "en": "Follows almost directly from the site's cell half-life, an input "
            "(target_half_life_days).",
            "zh": "几乎直接由注射部位细胞半衰期这一输入参数决定。",
        },
        space=_space(_CELLS, "limb_im", "intramuscular"),
        margins=_survival,
        key_parameters=("target_half_life_days", "local_leak_per_day"),
        site="intramuscular",
    ),
    Claim(
        id="repeated_dosing",
        heard={
            "en": "Repeated doses keep the number of cells up.",
            "zh": "重复给药可以维持体内的细胞数量。",
        },
        statement={
            "en": "Under the SCA regimen (UC-MSC 1×10^6/kg IV every 90 days, 4 infusions), just "
            "before each repeat infusion at least 1% of one infusion's viable cells are still "
            "alive in the body.",
            "zh": "在共济失调方案下（脐带间充质干细胞每公斤100万个，每90天静脉输注一次，共4次），"
            "每次再次输注前，体内仍存活的细胞至少为一次输注活细胞数的1%。",
        },
        emergent=True,
        emergent_reason={
            "en": "Comes from the simulated cell courses between infusions (lung, blood, "
            "liver/spleen and target losses, immune clearance), not from one input.",
            "zh": "来自两次输注之间模拟的细胞变化（肺、血液、肝脾和"
            "靶组织的损失，以及免疫清除），不是由单个输入决定。",
        },
        space=_space(_CELLS),
        margins=_repeated,
        key_parameters=("lung_half_life_days", "homing_fraction", "target_half_life_days"),
    ),
    Claim(
        id="immune_attack",
        heard={
            "en": "The host's immune system attacks infused cells.",
            "zh": "人体的免疫系统会攻击输入的细胞。",
        },
        statement={
            "en": "Under the SCA regimen, the allogeneic cells give less whole-body viable "
            "cell-days over the year than the same cells in a host that treats them as its own "
            "(by more than the numerical accuracy).",
            "zh": "在共济失调方案下，异体细胞一年内在体内的活细胞"
            "-天数少于同样的细胞在把它们当作自身细胞的人体内"
            "（差异超过数值精度）。",
        },
        emergent=False,
        emergent_reason={
            "en": "Restates the immune clearance and memory written into the model as inputs.",
            "zh": "复述了模型中作为输入写入的免疫清除和免疫记忆。",
        },
        space=_space(_CELLS),
        margins=_immune,
        key_parameters=(
            "immune_clearance_per_day",
            "sensitised_clearance_multiplier",
            "dsa_probability",
            "ibmir_max_loss",
        ),
    ),
    Claim(
        id="source_quality",
        heard={
            "en": "Cell source and quality change the result.",
            "zh": "细胞来源和质量会影响治疗结果。",
        },
        statement={
            "en": "Under the SCA regimen, the effect over the year (effect AUC) changes by more "
            "than the numerical accuracy both when the UC-MSC lot is weaker (viability 75%, "
            "potency 0.5) and when the cells come from another tissue (allogeneic bone marrow "
            "or adipose, donor 30 y).",
            "zh": "在共济失调方案下，当脐带细胞批次较差（存活率"
            "75%，效力0.5）时，以及细胞来自其他组织"
            "（异体骨髓或脂肪，供者30岁）时，一年内的总"
            "效应（效应曲线下面积）的变化都超过数值精度。",
        },
        emergent=False,
        emergent_reason={
            "en": "Restates inputs: potency and viability scale the cells' secretion and number; "
            "sources differ only by their profiles (post-thaw viability; per-cell factors are 1).",
            "zh": "复述输入：效力和存活率直接决定分泌量和细胞数"
            "；不同来源只在其资料（解冻后存活率）上不同，"
            "每个细胞的因子都设为1。",
        },
        space=_space(_EFFECT),
        margins=_source_quality,
        key_parameters=("secretion_per_million_cells",),
        extra_sources=_source_sources,
    ),
    Claim(
        id="distribution_losses",
        heard={
            "en": "Cells are lost through uneven distribution and absorption, depending on the "
            "route.",
            "zh": "细胞会因分布不均和被吸收而损失，损失程度取决于给药途径。",
        },
        statement={
            "en": "After one IV infusion (SCA regimen), less than half of the dose's viable "
            "cell-days over 90 days are spent at the target tissue.",
            "zh": "单次静脉输注（共济失调方案）后，90天内该"
            "剂量的活细胞-天数中，在靶组织中的不到一半。",
        },
        emergent=False,
        emergent_reason={
            "en": "Follows from the input shares trapped in the lung and homing to the target.",
            "zh": "由输入参数（滞留在肺部的比例和归巢到靶组织的比例）决定。",
        },
        space=_space(_CELLS),
        margins=_distribution,
        key_parameters=("lung_trap_fraction", "homing_fraction"),
    ),
    Claim(
        id="paracrine_action",
        heard={
            "en": "The benefit comes from paracrine action (what the cells secrete).",
            "zh": "疗效来自旁分泌作用（细胞分泌的因子）。",
        },
        statement={
            "en": "Under the SCA regimen, with secretion switched off (potency → 0) the effect "
            "over the year vanishes (falls by more than 1 minus the numerical accuracy).",
            "zh": "在共济失调方案下，如果关闭细胞分泌（效力趋于0），一年内的效应完全消失。",
        },
        emergent=False,
        emergent_reason={
            "en": "Built into the model: its only path from cells to effect is a secreted factor.",
            "zh": "这是模型的结构假设：细胞产生效应的唯一途径是分泌因子。",
        },
        space=_space(_EFFECT),
        margins=_paracrine,
        key_parameters=("secretion_per_million_cells", "factor_half_life_days", "systemic_share"),
    ),
    Claim(
        id="frequency_over_dose",
        heard={
            "en": "Increasing the frequency matters more than increasing the dose.",
            "zh": "增加给药频率比增加剂量更重要。",
        },
        statement={
            "en": "In the limb ischemia example (BM-MSC into the muscle), doubling the frequency "
            "(2 doses 14 days apart) gives a larger effect AUC over 42 days than doubling the "
            "dose (one dose of the same total cells).",
            "zh": "在肢体缺血示例（骨髓间充质干细胞肌肉注射）中，把"
            "给药次数加倍（相隔14天注射2次）比把单次剂量加倍"
            "（细胞总数相同）在42天内产生更大的总效应。",
        },
        emergent=True,
        emergent_reason={
            "en": "Comes out of the dynamics: saturable retention at the site and a saturating "
            "(Emax) effect; no rule about frequency is written in.",
            "zh": "由动力学产生：注射部位的滞留能力有上限，效应也"
            "会饱和；模型中没有写入任何关于给药频率的规则。",
        },
        space=_space(_EFFECT, "limb_im", "intramuscular"),
        margins=_frequency,
        key_parameters=("target_capacity_cells", "effect_ec50_ng", "effect_hill"),
        site="intramuscular",
    ),
    Claim(
        id="no_dependence",
        heard={
            "en": "Stopping causes no dependence, no tolerance and no rebound below the untreated "
            "course.",
            "zh": "停止治疗不会产生依赖性、耐受，也不会出现低于未治疗水平的反跳。",
        },
        statement={
            "en": "Under the SCA regimen stopped after the 4th infusion and followed 365 days: "
            "SARA is never worse than the untreated course by more than the numerical accuracy "
            "(no rebound), and if continued, the effect after the last infusion before the stop "
            "is at least that after the first (tolerance index ≥ 1 within accuracy).",
            "zh": "共济失调方案在第4次输注后停止并随访365天：S"
            "ARA评分从不比未治疗病程差（超过数值精度即算，"
            "即无反跳）；如果继续治疗，停药前最后一次输注后的效"
            "应不低于第一次输注后的效应（耐受指数在精度内≥1）。",
        },
        emergent=True,
        emergent_reason={
            "en": "Read off the simulated courses. No rebound also follows from the model's "
            "structure (no counter-regulating state); a falling effect per infusion comes from "
            "the dynamics of immune memory.",
            "zh": "从模拟病程中读出。无反跳也来自模型结构（没有反向调"
            "节的状态）；每次输注效应下降来自免疫记忆的动力学。",
        },
        space=_space((*_EFFECT, "disease_sca")),
        margins=_no_dependence,
        key_parameters=("sara_benefit_half_life_days", "sara_max_slowing"),
    ),
    Claim(
        id="sca_trial",
        heard={
            "en": "The SCA trial (10 treated vs 5 placebo, 1×10^6 cells/kg IV every 3 months for "
            "12 months) would show a significant benefit.",
            "zh": "共济失调试验（10人治疗对5人安慰剂，每公斤1"
            "00万个细胞，每3个月静脉输注一次，共12个月）"
            "会显示出显著疗效。",
        },
        statement={
            "en": "The virtual trial of that design (change in SARA at 12 months, ANCOVA, "
            "alpha 0.05, rating error SD 1, 5% dropout) rejects no effect with power ≥ 0.8.",
            "zh": "按该设计进行的虚拟试验（12个月时SARA评分的变化"
            "，协方差分析，显著性水平0.05，评分误差标准差1，"
            "脱落5%）检出疗效的把握度（统计功效）≥0.8。",
        },
        emergent=True,
        emergent_reason={
            "en": "Comes out of simulated patients, rating error and the analysis of each "
            "replicate; no power is written in.",
            "zh": "来自模拟的患者、评分误差和每次重复试验的统计分析；模型中没有写入任何把握度。",
        },
        space=_space((*_EFFECT, "disease_sca"), "sca_arm"),
        margins=_trial,
        key_parameters=(
            "sara_progression_sca3_per_year",
            "sara_max_slowing",
            "sara_max_improvement_points",
        ),
    ),
)

CLAIM_IDS: tuple[str, ...] = tuple(c.id for c in CLAIMS)


def claim(claim_id: str) -> Claim:
    """Return the claim called ``claim_id``.

    Raises
    ------
    SpecError
        For an unknown id.
    """
    for c in CLAIMS:
        if c.id == claim_id:
            return c
    raise SpecError(f"claim = {claim_id!r}: must be one of {', '.join(CLAIM_IDS)}")


# --- the audit ---


@dataclass(frozen=True)
class ClaimResult:
    """The audit of one claim (the JSON keys of ``mscsim claims --json``, and more).

    Attributes
    ----------
    id, claim, statement : str
        Id, what patients hear and the statement computed, in the audit's language.
    verdict : str
        One of :data:`VERDICTS`, at the library defaults.
    margin, margin_se : float
        The margin at the defaults (> 0: holds) and its standard error.
    robustness : float or None
        Share of the sample in which the claim holds (``None`` without samples).
    deciding_parameters : tuple of str
    emergent : bool
    emergent_reason : str
    references : tuple of str
    samples : int
    """

    id: str
    claim: str
    statement: str
    verdict: str
    margin: float
    margin_se: float
    robustness: float | None
    deciding_parameters: tuple[str, ...]
    emergent: bool
    emergent_reason: str
    references: tuple[str, ...]
    samples: int

    def to_dict(self) -> dict[str, object]:
        """Return the JSON-ready record (contract keys first)."""
        return {
            "id": self.id,
            "claim": self.claim,
            "verdict": self.verdict,
            "robustness": self.robustness,
            "deciding_parameters": list(self.deciding_parameters),
            "emergent": self.emergent,
            "references": list(self.references),
            "statement": self.statement,
            "margin": self.margin if math.isfinite(self.margin) else None,
            "margin_se": self.margin_se,
            "emergent_reason": self.emergent_reason,
            "samples": self.samples,
            "deciding_method": "halves of the Latin hypercube sample, margin ranks",
        }


def _verdict(value: float, se: float) -> str:
    holds = _holds(value, se)
    return "cannot_tell" if holds is None else ("holds" if holds else "does_not_hold")


def _deciding(sample: Values, margin: Array) -> tuple[str, ...]:
    """Return up to three parameters whose halves differ most in the margin's mean rank.

    The score is the difference of the mean margin rank (scaled to 0-1) between the
    samples above and below the parameter's median; its SD under no influence is
    about ``1 / sqrt(3 n)``, and a parameter is listed when its score exceeds the
    two-sided 5% normal quantile of that SD, Bonferroni-corrected for the number of
    parameters screened (so that one of 30 irrelevant parameters is rarely listed).
    """
    finite = np.isfinite(margin)
    n = int(finite.sum())
    if n < 4 or np.ptp(margin[finite]) == 0:
        return ()
    ranks = pd.Series(margin[finite]).rank().to_numpy()
    ranks = (ranks - 1) / (n - 1)
    scores = {}
    for name, column in sample.items():
        x = np.asarray(column)[finite]
        high = x > np.median(x)
        if high.all() or not high.any():
            continue
        scores[name] = abs(float(ranks[high].mean() - ranks[~high].mean()))
    floor = float(norm.ppf(1 - 0.025 / max(len(scores), 1))) / math.sqrt(3 * n)
    ranked = sorted((s, k) for k, s in scores.items() if s > floor)
    return tuple(k for _, k in reversed(ranked[-_MAX_DECIDING:]))


def audit_claims(
    *,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    lang: str = "en",
    ids: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[ClaimResult, ...]:
    """Check every claim at the defaults and over a Latin hypercube sample of its parameters.

    Parameters
    ----------
    samples : int
        Points of each claim's Latin hypercube (0: verdicts only).
    seed : int
        Seed of the samples; claim ``i`` uses ``SeedSequence([seed, i])``, so a
        claim's sample does not depend on which other claims are checked.
    lang : str
        Language of the texts, one of :data:`LANGUAGES`.
    ids : sequence of str, optional
        Claims to check (default all, in :data:`CLAIM_IDS` order).
    progress : callable, optional
        Called as ``progress(done, total)`` after each claim.

    Raises
    ------
    SpecError
        For an unknown claim id or language, or a negative ``samples`` or ``seed``.
    """
    if lang not in LANGUAGES:
        raise SpecError(f"lang = {lang!r}: must be one of {', '.join(LANGUAGES)}")
    if samples < 0 or samples == 1:
        raise SpecError(f"samples = {samples}: must be 0 (verdicts only) or a whole number >= 2")
    if seed < 0:
        raise SpecError(f"seed = {seed}: must be a whole number >= 0")
    chosen = [claim(i) for i in (CLAIM_IDS if ids is None else ids)]
    results = []
    for done, c in enumerate(chosen):
        value, se = c.margin()
        robustness: float | None = None
        deciding: tuple[str, ...] = ()
        if samples:
            index = CLAIM_IDS.index(c.id)
            sample = _sample(c.space(), samples, seed, index)
            margins, errors = c.margins(sample)
            holds = [_holds(float(m), float(e)) for m, e in zip(margins, errors, strict=True)]
            decided = [h for h in holds if h is not None]
            robustness = statistics.fmean(decided) if decided else None
            deciding = _deciding(sample, margins)
        results.append(
            ClaimResult(
                id=c.id,
                claim=c.heard[lang],
                statement=c.statement[lang],
                verdict=_verdict(value, se),
                margin=value,
                margin_se=se,
                robustness=robustness,
                deciding_parameters=deciding,
                emergent=c.emergent,
                emergent_reason=c.emergent_reason[lang],
                references=c.references(deciding),
                samples=samples,
            )
        )
        if progress is not None:
            progress(done + 1, len(chosen))
    return tuple(results)


def claims_frame(results: Sequence[ClaimResult]) -> pd.DataFrame:
    """Return one row per claim with the JSON record's fields (lists joined by ``", "``)."""
    rows = []
    for r in results:
        row = r.to_dict()
        row["deciding_parameters"] = ", ".join(r.deciding_parameters)
        row["references"] = ", ".join(r.references)
        rows.append(row)
    return pd.DataFrame(rows)
