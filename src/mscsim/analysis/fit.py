r"""Fit a problem's parameters to observations: maximum likelihood or MAP, profile intervals.

:func:`fit_individual` estimates chosen model parameters, one value shared by
every patient of the problem, and the parameters of the residual error, by
minimising

.. math::

    -2 \log L(\theta, \sigma) + \sum_j \left(\frac{z_j - \mu_j}{s_j}\right)^2

where :math:`-2 \log L` is :func:`~mscsim.analysis.observation.minus_two_log_likelihood`
(censored values by Beal's M3) and the second term is present only with
``prior="library"``. Each parameter is searched on an unbounded scale
:math:`z`: the log of its distance from its lower allowed limit, or the logit
of its place within its allowed range when both limits are finite (fractions).
The library prior is normal on that scale, centred on the library default with
a standard deviation of a quarter of the plausible range, so the plausible
range is about a 95% prior interval.

The error parameters (:attr:`ResidualError.names`) need no simulation, so for
every structural value the error is optimised exactly (closed form for a
single additive or proportional error without censored values) and the outer
search runs over the structural parameters only: the objective it sees is the
likelihood profiled over the error, whose minimum is the joint one.

Intervals are profile-likelihood intervals (Venzon & Moolgavkar 1988, Appl
Stat 37:87-94): the set of values where the objective, re-minimised over every
other parameter, rises by at most :data:`CHI2_95_1DF` above its minimum. A
bound that is not reached within the search range (:data:`SEARCH_WIDTH` beyond
the plausible range, within the allowed range) is reported as the allowed
limit (``0`` or ``inf``) and flagged.

Examples
--------
>>> scale = ParameterScale(0.0, float("inf"))
>>> round(scale.value(scale.internal(2.0)), 12)
2.0
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize

from mscsim.analysis.observation import (
    ErrorKind,
    ResidualError,
    minus_two_log_likelihood,
)
from mscsim.engine.solvers import Solver
from mscsim.errors import SpecError
from mscsim.evidence.library import Parameter, load_library
from mscsim.models.base import Array
from mscsim.problem.data import Observations
from mscsim.problem.problem import Problem, solve

__all__ = [
    "CHI2_95_1DF",
    "INITIAL_ADDITIVE_SHARE",
    "INITIAL_PROPORTIONAL",
    "SEARCH_WIDTH",
    "FitResult",
    "ParameterScale",
    "fit_individual",
    "initial_error",
    "predict_observations",
    "simulate_observations",
    "weighted_residuals",
]

CHI2_95_1DF = 3.841458820694124
"""95% quantile of the chi-square distribution with 1 degree of freedom."""

SEARCH_WIDTH = math.log(100.0)
"""How far beyond the plausible range a parameter is searched, on its internal scale
(a factor of 100 for a log-scaled parameter)."""

LOWEST_SHARE = 1e-3
"""A plausible range starting at the allowed lower limit starts at this share of its
width instead (the limit itself is not on the internal scale)."""

_ERROR_SEARCH = (-30.0, 30.0)
"""Search range of a log error parameter around the log of the observations' scale."""

_PROFILE_STEPS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
"""Offsets from the estimate (internal scale) tried to bracket an interval bound."""

_FD_STEP = 1e-4
"""Step of the outer search's central differences on the internal scale: well above the
noise of an adaptive solve (relative tolerance 1e-7), well below a parameter's precision."""

_XTOL = 1e-3
"""Accuracy of an interval bound on the internal scale (0.1% for a log-scaled one)."""

Prior = Literal["none", "library"]


@dataclass(frozen=True)
class ParameterScale:
    """The unbounded scale a parameter is searched on.

    ``log(x - low)`` when only the lower allowed limit is finite, the logit of
    ``(x - low) / (high - low)`` when both are, ``x`` itself when neither is.

    Attributes
    ----------
    low, high : float
        Allowed range of the parameter.
    """

    low: float
    high: float

    def internal(self, value: float) -> float:
        """Return ``value`` on the internal scale (``-inf``/``inf`` at a finite limit)."""
        with np.errstate(divide="ignore"):
            if math.isinf(self.low) and math.isinf(self.high):
                return float(value)
            if math.isinf(self.high):
                return float(np.log(value - self.low))
            if math.isinf(self.low):
                return float(-np.log(self.high - value))
            share = (value - self.low) / (self.high - self.low)
            return float(np.log(share) - np.log1p(-share))

    def value(self, z: float) -> float:
        """Return the parameter value of internal ``z``."""
        if math.isinf(self.low) and math.isinf(self.high):
            return float(z)
        if math.isinf(self.high):
            return self.low + math.exp(min(z, 700.0))
        if math.isinf(self.low):
            return self.high - math.exp(-max(z, -700.0))
        share = 0.5 * (1.0 + math.tanh(0.5 * z))  # the logistic, without overflow
        return self.low + (self.high - self.low) * share


@dataclass(frozen=True)
class _Estimated:
    """A structural parameter to estimate: its scale, search range and prior."""

    name: str
    scale: ParameterScale
    start: float
    search: tuple[float, float]
    prior_mean: float
    prior_sd: float


def _plausible_internal(p: Parameter, site: str, scale: ParameterScale) -> tuple[float, float]:
    low, high = p.default(site).plausible
    if low <= scale.low:
        low = scale.low + LOWEST_SHARE * (high - scale.low)
    return scale.internal(low), scale.internal(high)


def _estimated(problem: Problem, names: Sequence[str]) -> tuple[_Estimated, ...]:
    """Check the names to estimate and return their scales, ranges and priors."""
    if not names:
        raise SpecError("estimate = []: name at least one parameter to estimate")
    if len(set(names)) != len(names):
        raise SpecError(f"estimate = {list(names)}: each parameter once")
    library = {p.name: p for p in getattr(problem.model, "parameters", ())}
    shared = load_library()
    site = problem.provenance.site if problem.provenance is not None else "systemic"
    out = []
    for name in names:
        if name not in problem.params:
            raise SpecError(
                f"estimate = {name!r}: not a parameter of the model (see `mscsim params`)"
            )
        current = problem.params[name]
        if np.unique(current).size > 1:
            raise SpecError(
                f"estimate = {name!r}: differs between patients (a covariate); "
                "estimate a parameter all patients share"
            )
        p = library.get(name) or (shared.get(name) if name in shared else None)
        if p is None or p.default(site).plausible[0] >= p.default(site).plausible[1]:
            raise SpecError(
                f"estimate = {name!r}: has no plausible range in the parameter library; "
                "estimate a model parameter with one"
            )
        scale = ParameterScale(float(p.allowed[0]), float(p.allowed[1]))
        low, high = _plausible_internal(p, site, scale)
        default = float(np.clip(scale.internal(p.default(site).value), low, high))
        start = scale.internal(float(current[0]))
        # A current value at an allowed limit (a fraction of 0) is no place to start.
        start = start if math.isfinite(start) else 0.5 * (low + high)
        search = (low - SEARCH_WIDTH, high + SEARCH_WIDTH)
        out.append(
            _Estimated(
                name,
                scale,
                float(np.clip(start, *search)),
                search,
                prior_mean=default,
                prior_sd=(high - low) / 4.0,
            )
        )
    return tuple(out)


@dataclass(frozen=True, eq=False)
class FitResult:
    """The result of :func:`fit_individual`.

    Attributes
    ----------
    names : tuple of str
        Every estimated parameter: the model's, then the error's (``sigma_add``,
        ``sigma_prop``) when they were estimated.
    estimates, ci_low, ci_high : dict of str to float
        Estimate and 95% profile-likelihood interval of each (NaN without profiles).
    bound_reached : dict of str to (bool, bool)
        Whether each interval's lower and upper bound was found within the search
        range; where not, the bound is the allowed limit (e.g. 0 or inf).
    error : ResidualError
        The residual error at the estimates.
    objective : float
        -2 log-likelihood at the estimates (without the prior's term).
    penalized_objective : float
        What was minimised: ``objective`` plus the prior's term (equal without a prior).
    converged : bool
        Whether the optimiser reported success and no profile found a lower objective.
    message : str
    n_observations, n_subjects : int
    prior : {"none", "library"}
    predicted : ndarray, shape (n_observations,)
        Model value of each observation at the estimates.
    weighted_residuals : ndarray, shape (n_observations,)
        ``(value - predicted) / sd`` (NaN for censored rows).
    n_simulations : int
        Simulations run, the fit and the profiles together.
    elapsed_s : float
        Wall-clock time of the fit and the profiles (seconds).
    """

    names: tuple[str, ...]
    estimates: dict[str, float]
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    bound_reached: dict[str, tuple[bool, bool]]
    error: ResidualError
    objective: float
    penalized_objective: float
    converged: bool
    message: str
    n_observations: int
    n_subjects: int
    prior: str
    predicted: Array = field(repr=False)
    weighted_residuals: Array = field(repr=False)
    n_simulations: int = 0
    elapsed_s: float = 0.0

    def covers(self, name: str, value: float) -> bool:
        """Whether ``value`` lies inside the interval of ``name``."""
        return bool(self.ci_low[name] <= value <= self.ci_high[name])

    def to_frame(self) -> pd.DataFrame:
        """Return one row per estimated parameter.

        Columns ``parameter, estimate, ci_low, ci_high, low_reached, high_reached``.
        """
        return pd.DataFrame(
            {
                "parameter": list(self.names),
                "estimate": [self.estimates[n] for n in self.names],
                "ci_low": [self.ci_low[n] for n in self.names],
                "ci_high": [self.ci_high[n] for n in self.names],
                "low_reached": [self.bound_reached[n][0] for n in self.names],
                "high_reached": [self.bound_reached[n][1] for n in self.names],
            }
        )

    def to_json_dict(self) -> dict[str, Any]:
        """Return the summary written as ``fit.json`` (plain values; infinities as strings)."""

        def plain(x: float) -> float | str | None:
            if math.isnan(x):
                return None
            return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")

        return {
            "objective": self.objective,
            "penalized_objective": self.penalized_objective,
            "converged": self.converged,
            "message": self.message,
            "n_observations": self.n_observations,
            "n_subjects": self.n_subjects,
            "prior": self.prior,
            "error_model": self.error.kind.value,
            "estimates": {n: plain(self.estimates[n]) for n in self.names},
            "ci_low": {n: plain(self.ci_low[n]) for n in self.names},
            "ci_high": {n: plain(self.ci_high[n]) for n in self.names},
            "interval": "95% profile likelihood",
            "n_simulations": self.n_simulations,
            "elapsed_s": self.elapsed_s,
        }


@dataclass
class _Objective:
    """The objective of a fit, with the error optimised for every structural value."""

    problem: Problem
    observations: Observations
    estimated: tuple[_Estimated, ...]
    error: ResidualError
    estimate_error: bool
    prior: bool
    solver: Solver | None
    n_simulations: int = 0
    scale: float = 1.0

    def __post_init__(self) -> None:
        finite = np.concatenate([self.observations.value, self.observations.lloq])
        finite = np.abs(finite[np.isfinite(finite)])
        self.scale = float(finite.max()) if finite.size and finite.max() > 0 else 1.0

    @property
    def n_error(self) -> int:
        return len(self.error.names) if self.estimate_error else 0

    def predict(self, theta: Array) -> Array:
        """Return each observation's model value at internal structural values ``theta``."""
        params = dict(self.problem.params)
        for e, z in zip(self.estimated, theta, strict=True):
            params[e.name] = np.array([e.scale.value(float(z))])
        result = solve(replace(self.problem, params=params), self.solver, on_failure="flag")
        self.n_simulations += 1
        if np.any(result.status != 0):  # values the solver cannot follow: no fit there
            return np.full(len(self.observations), np.nan)
        return self.observations.predicted(result.times_day, result.outputs)

    def penalty(self, theta: Array) -> float:
        if not self.prior:
            return 0.0
        return float(
            sum(
                ((z - e.prior_mean) / e.prior_sd) ** 2
                for e, z in zip(self.estimated, theta, strict=True)
            )
        )

    def best_error(
        self, predicted: Array, fixed: Mapping[int, float], start: Array
    ) -> tuple[float, Array]:
        """Return the lowest -2LL over the free log error parameters and those parameters."""
        if self.n_error == 0:
            return self._m2ll(predicted, np.log(self.error.values)), np.log(self.error.values)
        free = [i for i in range(self.n_error) if i not in fixed]
        eta = np.array(start, dtype=float)
        for i, v in fixed.items():
            eta[i] = v
        if not free:
            return self._m2ll(predicted, eta), eta
        closed = self._closed_form(predicted)
        if closed is not None:
            eta[0] = closed
            return self._m2ll(predicted, eta), eta
        bounds = [self.error_search(i) for i in free]
        if len(free) == 1:
            # Tight: the outer search differentiates this minimum by finite differences.
            i = free[0]

            def f1(x: float) -> float:
                full = eta.copy()
                full[i] = x
                return self._m2ll(predicted, full)

            x, value = _scalar_minimum(f1, float(eta[i]), bounds[0], 1e-9)
            eta[i] = x
            return value, eta

        def f(x: Array) -> float:
            full = eta.copy()
            full[free] = x
            return self._m2ll(predicted, full)

        # Nelder-Mead: two cheap dimensions, no gradient noise to feed the outer search.
        best = optimize.minimize(
            f,
            eta[free],
            method="Nelder-Mead",
            bounds=bounds,
            options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 2000},
        )
        eta[free] = best.x
        return float(best.fun), eta

    def error_search(self, i: int) -> tuple[float, float]:
        """Return the search range of log error parameter ``i`` (additive: around the data)."""
        offset = math.log(self.scale) if self.error.names[i] == "sigma_add" else 0.0
        return _ERROR_SEARCH[0] + offset, _ERROR_SEARCH[1] + offset

    def _closed_form(self, predicted: Array) -> float | None:
        """Return the log error parameter's maximum-likelihood value when it has a formula."""
        if self.n_error != 1 or np.any(self.observations.blq):
            return None
        y = self.observations.value
        if self.error.kind is ErrorKind.ADDITIVE:
            ratio = y - predicted
        elif np.all(np.abs(predicted) > 0):
            ratio = (y - predicted) / np.abs(predicted)
        else:
            return None
        mean_square = float(np.mean(ratio * ratio))
        return 0.5 * math.log(mean_square) if mean_square > 0 else None

    def _m2ll(self, predicted: Array, log_error: Array) -> float:
        values = tuple(float(np.exp(np.clip(v, -700.0, 700.0))) for v in log_error)
        return minus_two_log_likelihood(
            self.observations, predicted, self.error.with_values(values)
        )

    def evaluate(
        self, theta: Array, fixed_error: Mapping[int, float], error_start: Array
    ) -> tuple[float, float, Array]:
        """Return ``(penalized objective, -2LL, log error)`` at structural ``theta``."""
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            predicted = self.predict(theta)
            if not np.all(np.isfinite(predicted)):
                return math.inf, math.inf, error_start
            m2ll, eta = self.best_error(predicted, fixed_error, error_start)
        return m2ll + self.penalty(theta), m2ll, eta


@dataclass
class _Point:
    """A minimum of the objective with some internal values held fixed."""

    z: Array  # structural internal values, then log error values
    penalized: float
    m2ll: float
    success: bool
    message: str


def _scalar_minimum(
    f: Callable[[float], float], start: float, bounds: tuple[float, float], xtol: float
) -> tuple[float, float]:
    """Return ``(x, f(x))`` at the minimum of ``f`` within ``bounds``, searched near ``start``.

    The search starts in a window of 1 on each side of ``start`` and widens to
    ``bounds`` only if the minimum is at the window's edge.
    """
    low, high = max(bounds[0], start - 1.0), min(bounds[1], start + 1.0)
    found = optimize.minimize_scalar(
        f, bounds=(low, high), method="bounded", options={"xatol": xtol}
    )
    x = float(found.x)
    near = 1e-3  # bounded Brent stops a few xtol inside an edge it runs into
    at_edge = (x - low < near and low > bounds[0]) or (high - x < near and high < bounds[1])
    if at_edge:
        found = optimize.minimize_scalar(
            f, bounds=bounds, method="bounded", options={"xatol": xtol}
        )
        x = float(found.x)
    return x, float(found.fun)


def _minimize(objective: _Objective, fixed: Mapping[int, float], start: Array) -> _Point:
    """Minimise over every internal value not in ``fixed`` (index into the full vector)."""
    n_theta = len(objective.estimated)
    fixed_theta = {i: v for i, v in fixed.items() if i < n_theta}
    fixed_error = {i - n_theta: v for i, v in fixed.items() if i >= n_theta}
    free = [i for i in range(n_theta) if i not in fixed_theta]
    theta = np.array(start[:n_theta], dtype=float)
    for i, v in fixed_theta.items():
        theta[i] = v
    eta_start = np.array(start[n_theta:], dtype=float) if objective.n_error else np.zeros(0)
    state = {"eta": eta_start}

    def f(x: Array) -> float:
        full = theta.copy()
        full[free] = x
        value, _, eta = objective.evaluate(full, fixed_error, state["eta"])
        if math.isfinite(value):
            state["eta"] = eta
        return value if math.isfinite(value) else 1e300

    success, message = True, "no free model parameter"
    if len(free) == 1 and fixed:  # a profile point: one parameter, started close by
        (j,) = free
        x, _ = _scalar_minimum(
            lambda v: f(np.array([v])), float(theta[j]), objective.estimated[j].search, 1e-6
        )
        theta[j] = x
    elif free:
        found = optimize.minimize(
            f,
            theta[free],
            method="L-BFGS-B",
            jac="3-point",
            bounds=[objective.estimated[i].search for i in free],
            options={"maxiter": 500, "finite_diff_rel_step": _FD_STEP},
        )
        theta[free] = found.x
        success, message = bool(found.success), str(found.message)
    penalized, m2ll, eta = objective.evaluate(theta, fixed_error, state["eta"])
    z = np.concatenate([theta, eta]) if objective.n_error else theta
    return _Point(z, penalized, m2ll, success, message)


def _profile_bound(
    objective: _Objective,
    best: _Point,
    index: int,
    direction: int,
    limit: float,
    on_step: Callable[[], None],
) -> tuple[float, bool, float]:
    """Return the internal bound on one side, whether it was reached, and the lowest objective."""
    target = best.penalized + CHI2_95_1DF
    lowest = best.penalized
    previous = float(best.z[index])
    cache: dict[float, _Point] = {previous: best}

    def rise(x: float) -> float:
        nonlocal lowest
        if x in cache:  # brentq re-evaluates the bracket's ends: keep their values
            return cache[x].penalized - target
        nearest = min(cache, key=lambda c: abs(c - x))
        point = _minimize(objective, {index: x}, cache[nearest].z)
        cache[x] = point
        lowest = min(lowest, point.penalized)
        on_step()
        return point.penalized - target

    for step in _PROFILE_STEPS:
        x = best.z[index] + direction * step
        if direction * (x - limit) >= 0:
            x = limit
        if rise(x) > 0:
            bound = optimize.brentq(rise, previous, x, xtol=_XTOL) if x != previous else x
            return float(bound), True, lowest
        if x == limit:
            return limit, False, lowest
        previous = x
    if rise(limit) > 0:
        return float(optimize.brentq(rise, previous, limit, xtol=_XTOL)), True, lowest
    return limit, False, lowest


def _profiled(profile: bool | Sequence[str], names: Sequence[str]) -> tuple[str, ...]:
    """Return the names whose intervals are computed."""
    if isinstance(profile, bool):
        return tuple(names) if profile else ()
    unknown = [n for n in profile if n not in names]
    if unknown:
        raise SpecError(f"profile = {unknown[0]!r}: not one of the estimated {list(names)}")
    return tuple(profile)


def _interval(
    objective: _Objective, best: _Point, index: int, on_step: Callable[[], None]
) -> tuple[float, float, tuple[bool, bool], float]:
    """Return the 95% interval of parameter ``index`` and whether each end was reached.

    Also returns the lowest objective seen along the profile.
    """
    n_theta = len(objective.estimated)
    if index < n_theta:
        search, scale = objective.estimated[index].search, objective.estimated[index].scale
    else:  # a log error parameter
        search = objective.error_search(index - n_theta)
        scale = ParameterScale(0.0, math.inf)
    ends, flags, lowest = [], [], best.penalized
    for direction, limit in ((-1, search[0]), (1, search[1])):
        z, ok, seen = _profile_bound(objective, best, index, direction, limit, on_step)
        lowest = min(lowest, seen)
        ends.append(scale.value(z) if ok else (scale.low if direction < 0 else scale.high))
        flags.append(ok)
    return ends[0], ends[1], (flags[0], flags[1]), lowest


def fit_individual(
    problem: Problem,
    observations: Observations,
    estimate: Sequence[str],
    *,
    error: ResidualError = ResidualError(),  # noqa: B008 - a frozen value
    estimate_error: bool = True,
    prior: Prior = "none",
    start: Mapping[str, float] | None = None,
    profile: bool | Sequence[str] = True,
    solver: Solver | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FitResult:
    """Estimate parameters shared by every patient of ``problem`` from ``observations``.

    Parameters
    ----------
    problem : Problem
        Model, doses and the other parameters (its output times are replaced by the
        observation times and 0).
    observations : Observations
        Measured outputs; ``patient`` indexes the problem's rows.
    estimate : sequence of str
        Model parameters to estimate, each with a plausible range in the library.
    error : ResidualError
        Residual error model, and the starting (or fixed) values of its parameters.
    estimate_error : bool
        Estimate the error parameters too (default) or keep those of ``error``.
    prior : {"none", "library"}
        ``"none"``: maximum likelihood. ``"library"``: MAP with a normal prior on
        each parameter's internal scale, centred on the library default with a
        quarter of the plausible range as its standard deviation.
    start : mapping of str to float, optional
        Starting values (default: the problem's values).
    profile : bool or sequence of str
        Compute 95% profile-likelihood intervals of every estimated parameter
        (default), of none (NaN), or of those named (error parameters included).
    solver : Solver, optional
        Passed to :func:`~mscsim.problem.solve`.
    progress : callable, optional
        Called as ``progress(done, total)`` after the fit and each profile step.

    Returns
    -------
    FitResult

    Raises
    ------
    SpecError
        For no observations, an unknown parameter, one without a plausible range, a
        covariate, or an observation of a patient the problem does not have.
    """
    clock = time.perf_counter()
    if len(observations) == 0:
        raise SpecError("observations: none given; a fit needs at least one observation")
    if prior not in ("none", "library"):
        raise SpecError(f"prior = {prior!r}: must be 'none' or 'library'")
    if int(observations.patient.max()) >= problem.n_patients:
        raise SpecError(
            f"observations.patient = {int(observations.patient.max())}: the problem has "
            f"{problem.n_patients} patients"
        )
    estimated = _estimated(problem, estimate)
    start = dict(start or {})
    for name in start.keys() - set(estimate):
        raise SpecError(f"start.{name}: not one of the estimated parameters {list(estimate)}")
    estimated = tuple(
        replace(e, start=float(np.clip(e.scale.internal(float(start[e.name])), *e.search)))
        if e.name in start
        else e
        for e in estimated
    )
    times = np.union1d(observations.times, [0.0])
    objective = _Objective(
        problem.with_times(times),
        observations,
        estimated,
        error,
        estimate_error,
        prior == "library",
        solver,
    )
    z0 = np.array(
        [e.start for e in estimated]
        + ([math.log(v) for v in error.values] if estimate_error else [])
    )
    names = [e.name for e in estimated] + (list(error.names) if estimate_error else [])
    profiled = _profiled(profile, names)
    n_steps = 1 + 2 * len(profiled) * 8
    best = _minimize(objective, {}, z0)
    done = 1
    if progress is not None:
        progress(done, n_steps)
    low = dict.fromkeys(names, math.nan)
    high = dict.fromkeys(names, math.nan)
    reached = dict.fromkeys(names, (False, False))
    lowest = best.penalized

    def step() -> None:
        nonlocal done
        done = min(done + 1, n_steps - 1)
        if progress is not None:
            progress(done, n_steps)

    n_theta = len(estimated)
    for i, name in enumerate(names):
        if name in profiled:
            low[name], high[name], reached[name], seen = _interval(objective, best, i, step)
            lowest = min(lowest, seen)
    if progress is not None:
        progress(n_steps, n_steps)
    estimates = {
        e.name: e.scale.value(float(z)) for e, z in zip(estimated, best.z[:n_theta], strict=True)
    }
    fitted_error = error
    if estimate_error:
        fitted_error = error.with_values(np.exp(best.z[n_theta:]))
        estimates.update(zip(error.names, fitted_error.values, strict=True))
    predicted = objective.predict(best.z[:n_theta])
    better = lowest < best.penalized - 1e-3
    message = best.message + ("; a profile found a lower objective" if better else "")
    return FitResult(
        names=tuple(names),
        estimates=estimates,
        ci_low=low,
        ci_high=high,
        bound_reached=reached,
        error=fitted_error,
        objective=best.m2ll,
        penalized_objective=best.penalized,
        converged=best.success and not better,
        message=message,
        n_observations=len(observations),
        n_subjects=int(np.unique(observations.patient).size),
        prior=prior,
        predicted=predicted,
        weighted_residuals=weighted_residuals(observations, predicted, fitted_error),
        n_simulations=objective.n_simulations,
        elapsed_s=time.perf_counter() - clock,
    )


def _as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def simulate_observations(
    problem: Problem,
    design: Observations,
    values: Mapping[str, float],
    error: ResidualError,
    *,
    n_replicates: int = 1,
    omega: Mapping[str, float] | None = None,
    rng: np.random.Generator | int | None = None,
    solver: Solver | None = None,
) -> Array:
    """Simulate measurements of ``design``'s rows: model values with residual error.

    Parameters
    ----------
    problem : Problem
    design : Observations
        Which patient, time and output each measurement is (values are ignored).
    values : mapping of str to float
        Model parameters set for every patient (e.g. a fit's estimates; names of
        error parameters are ignored).
    error : ResidualError
    n_replicates : int
    omega : mapping of str to float, optional
        Between-patient SD of the log of named parameters; each replicate draws
        each patient's value as ``value * exp(omega * N(0, 1))``.
    rng : numpy Generator, int or None
    solver : Solver, optional

    Returns
    -------
    ndarray, shape (n_replicates, n_observations)
        Simulated values, uncensored (compare with ``design.lloq`` to censor).
    """
    if n_replicates < 1:
        raise SpecError(f"n_replicates = {n_replicates}: must be >= 1")
    generator = _as_rng(rng)
    omega = dict(omega or {})
    for name in [*values, *omega]:
        if name not in problem.params and name not in ("sigma_add", "sigma_prop"):
            raise SpecError(f"values.{name}: not a parameter of the model")
    times = np.union1d(design.times, [0.0])
    base = dict(problem.params)
    base.update({k: np.array([float(v)]) for k, v in values.items() if k in problem.params})
    n = problem.n_patients
    out = np.empty((n_replicates, len(design)))
    typical = None
    for r in range(n_replicates):
        params = dict(base)
        for name, sd in omega.items():
            centre = np.broadcast_to(params[name], (n,))
            params[name] = centre * np.exp(sd * generator.standard_normal(n))
        if omega or typical is None:
            result = solve(replace(problem, params=params).with_times(times), solver)
            predicted = design.predicted(result.times_day, result.outputs)
            typical = predicted
        else:
            predicted = typical
        out[r] = predicted + error.sd(predicted) * generator.standard_normal(len(design))
    return out


def predict_observations(
    problem: Problem,
    observations: Observations,
    values: Mapping[str, float | Array],
    *,
    solver: Solver | None = None,
) -> Array:
    """Return each observation's model value with ``values`` set.

    ``values`` maps parameter names to one value or one per patient (shape
    ``(n_patients,)``, e.g. a population fit's individual values); names of error
    parameters are ignored.
    """
    params = dict(problem.params)
    for name, value in values.items():
        if name in ("sigma_add", "sigma_prop"):
            continue
        if name not in params:
            raise SpecError(f"values.{name}: not a parameter of the model")
        params[name] = np.atleast_1d(np.asarray(value, dtype=float))
    times = np.union1d(observations.times, [0.0])
    result = solve(replace(problem, params=params).with_times(times), solver)
    return observations.predicted(result.times_day, result.outputs)


def weighted_residuals(observations: Observations, predicted: Array, error: ResidualError) -> Array:
    """Return ``(value - predicted) / sd(predicted)`` per observation (NaN where censored)."""
    sd = error.sd(np.asarray(predicted, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        out: Array = np.where(observations.blq, np.nan, (observations.value - predicted) / sd)
    return out


INITIAL_PROPORTIONAL = 0.2
"""Starting proportional error (20% CV) of a fit that estimates it."""

INITIAL_ADDITIVE_SHARE = 0.1
"""Starting additive error as a share of the median measured value (of its size)."""


def initial_error(kind: ErrorKind | str, observations: Observations) -> ResidualError:
    """Return a starting residual error of ``kind`` on the scale of ``observations``.

    Examples
    --------
    >>> obs = Observations.of([0, 0], [1.0, 2.0], "cells_target", [100.0, 300.0])
    >>> initial_error("combined", obs)
    ResidualError(kind=<ErrorKind.COMBINED: 'combined'>, additive=20.0, proportional=0.2)
    """
    measured = np.abs(observations.value[~observations.blq])
    typical = float(np.median(measured)) if measured.size else 0.0
    if not typical > 0:
        limits = observations.lloq[np.isfinite(observations.lloq)]
        typical = float(np.median(limits)) if limits.size else 1.0
    return ResidualError(
        ErrorKind(kind),
        additive=INITIAL_ADDITIVE_SHARE * typical,
        proportional=INITIAL_PROPORTIONAL,
    )
