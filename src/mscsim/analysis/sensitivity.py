"""Global and local sensitivity of a scalar summary, and its uncertainty over guessed parameters.

A :class:`ParameterSpace` says which parameters vary and over what: each
parameter's plausible range from the library, log-uniform for strictly positive
quantities such as rates, half-lives and counts, uniform for fractions and
probabilities. A summary turns a simulated scenario into one number per
parameter set (:data:`SUMMARIES`: ``effect_auc``, ``outcome_change``,
``target_cell_days``, ``trial_power``); many parameter sets are simulated as one
problem, one patient per set, in chunks spread by an executor.

:func:`sobol` and :func:`morris` sample and analyse with SALib; :func:`local_sensitivity`
gives normalised derivatives ``d log y / d log theta`` at the defaults;
:func:`uncertainty` runs a seeded Latin hypercube over the space and reports
5/50/95% intervals. Any callable over a sample (an ``(n, k)`` array of parameter
values, one row per set) can stand in for a summary, which is how the methods are
checked on functions with known indices (Ishigami).

A plausible range that starts at 0 (``immune_clearance_per_day``, ``[0, 0.5]``)
is sampled log-uniformly from :data:`~mscsim.analysis.calibration.LOWEST_SHARE`
of its upper end when the quantity is not a fraction; a fraction starting at 0
is uniform over its whole range. A range without an upper end
(``target_capacity_cells``) cannot be sampled: selected by tag it is left out,
named it is refused.

Examples
--------
>>> space = ParameterSpace(("x",), ((1.0, 100.0),), (True,))
>>> space.values(np.array([[0.0], [0.5], [1.0]])).ravel().tolist()
[1.0, 10.0, 100.0]
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mscsim.analysis.batch import analysis_times
from mscsim.analysis.calibration import LOWEST_SHARE
from mscsim.analysis.metrics import auc
from mscsim.engine.result import SimulationResult
from mscsim.engine.solvers import Solver
from mscsim.errors import MscsimWarning, SpecError
from mscsim.evidence.library import Parameter, load_library
from mscsim.models.base import Model, target_site
from mscsim.problem.build import default_model, problem_from_scenario
from mscsim.problem.events import DoseEvents
from mscsim.problem.executors import Executor, InProcess
from mscsim.problem.policy import EvidencePolicy
from mscsim.problem.problem import Problem, solve
from mscsim.spec.scenario import Scenario
from mscsim.spec.trial import TrialSpec

__all__ = [
    "INTERVAL_PERCENTILES",
    "MAX_VALUES_PER_CHUNK",
    "SUMMARIES",
    "LocalSensitivity",
    "MorrisResult",
    "ParameterSpace",
    "SobolResult",
    "Summary",
    "Uncertainty",
    "check_target",
    "evaluate",
    "evaluate_sample",
    "latin_hypercube",
    "local_sensitivity",
    "morris",
    "scenario_space",
    "sobol",
    "summary_named",
    "uncertainty",
]

Array = NDArray[np.float64]
SampleFunction = Callable[[Array], Array]
"""A summary over a sample: ``(n, k)`` parameter values to ``(n,)`` numbers."""
Target = Scenario | TrialSpec

UNIFORM_UNITS = frozenset({"fraction", "probability"})
"""Units of quantities sampled uniformly (shares of a whole)."""
LOG_DECADES = 1.0
"""A strictly positive range spanning more than this many decades is sampled log-uniformly."""
LOG_UNITS = frozenset({"day", "1/day", "cells", "cells/kg", "cell-days", "ng"})
"""Units of rates, half-lives and amounts: log-uniform whatever their span (when > 0)."""
MAX_VALUES_PER_CHUNK = 1_000_000
"""Patients x output times simulated at once (bounds the memory of a chunk)."""
INTERVAL_PERCENTILES: tuple[float, float, float] = (5.0, 50.0, 95.0)
DEFAULT_TRIAL_REPLICATES = 50
"""Replicates per trial when the summary is ``trial_power`` (each parameter set runs a trial)."""


# --- the parameter space -------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterSpace:
    """Parameters that vary, their ranges and whether each is sampled on a log scale.

    Parameters
    ----------
    names : tuple of str
    bounds : tuple of (low, high)
        Finite, ``low < high``; ``low > 0`` where ``log``.
    log : tuple of bool
        Log-uniform (True) or uniform (False).
    """

    names: tuple[str, ...]
    bounds: tuple[tuple[float, float], ...]
    log: tuple[bool, ...]

    def __post_init__(self) -> None:
        names, bounds, log = tuple(self.names), tuple(map(tuple, self.bounds)), tuple(self.log)
        if not names:
            raise SpecError("parameters = (): name at least one parameter to vary")
        if len(set(names)) != len(names):
            raise SpecError(f"parameters = {','.join(names)}: a parameter is named twice")
        if not len(names) == len(bounds) == len(log):
            raise SpecError("bounds: need one (low, high) and one log flag per parameter")
        for name, (low, high), is_log in zip(names, bounds, log, strict=True):
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise SpecError(f"{name} range = [{low:g}, {high:g}]: need finite low < high")
            if is_log and low <= 0:
                raise SpecError(f"{name} range = [{low:g}, {high:g}]: a log scale needs low > 0")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "bounds", tuple((float(a), float(b)) for a, b in bounds))
        object.__setattr__(self, "log", tuple(bool(x) for x in log))

    @classmethod
    def from_library(
        cls,
        names: Iterable[str] | None = None,
        *,
        model: Model | None = None,
        tags: Iterable[str] | None = ("G",),
        site: str = "systemic",
    ) -> ParameterSpace:
        """Return the space of library parameters over their plausible ranges at ``site``.

        Parameters
        ----------
        names : iterable of str, optional
            Parameters to vary; default every parameter of ``model`` (or of the
            library) whose evidence tag is in ``tags`` and whose range is finite.
        model : Model, optional
            Where the parameters come from (default the built-in library).
        tags : iterable of str or None
            Evidence tags selected when ``names`` is not given (None: all).
        site : str
            Target site whose plausible ranges apply.
        """
        params = model.parameters if model is not None else tuple(load_library())
        by_name = {p.name: p for p in params}
        if names is None:
            keep = None if tags is None else set(tags)
            chosen = [
                p
                for p in params
                if (keep is None or p.default(site).evidence in keep)
                and math.isfinite(p.default(site).plausible[1])
            ]
        else:
            chosen = [_known(by_name, n) for n in names]
        if not chosen:
            raise SpecError(f"parameters: none with evidence tags {sorted(tags or ())} to vary")
        ranges = [_range(p, site) for p in chosen]
        return cls(
            tuple(p.name for p in chosen),
            tuple((lo, hi) for lo, hi, _ in ranges),
            tuple(is_log for _, _, is_log in ranges),
        )

    @property
    def k(self) -> int:
        """Number of parameters."""
        return len(self.names)

    def salib_problem(self) -> dict[str, Any]:
        """Return SALib's problem: bounds in log10 for log-scale parameters."""
        return {
            "num_vars": self.k,
            "names": list(self.names),
            "bounds": [
                [math.log10(lo), math.log10(hi)] if is_log else [lo, hi]
                for (lo, hi), is_log in zip(self.bounds, self.log, strict=True)
            ],
        }

    def from_scaled(self, x: Array) -> Array:
        """Map values on SALib's scale (log10 where ``log``) to parameter values."""
        x = np.asarray(x, dtype=float)
        return np.where(np.array(self.log), 10.0**x, x)

    def values(self, unit: Array) -> Array:
        """Map points of the unit cube (``(n, k)``) to parameter values."""
        unit = np.asarray(unit, dtype=float)
        scaled = np.array(self.salib_problem()["bounds"])
        return self.from_scaled(scaled[:, 0] + unit * (scaled[:, 1] - scaled[:, 0]))

    def to_frame(self) -> pd.DataFrame:
        """Return one row per parameter: ``parameter, low, high, scale``."""
        return pd.DataFrame(
            {
                "parameter": self.names,
                "low": [b[0] for b in self.bounds],
                "high": [b[1] for b in self.bounds],
                "scale": ["log" if g else "linear" for g in self.log],
            }
        )


def _known(by_name: Mapping[str, Parameter], name: str) -> Parameter:
    if name not in by_name:
        raise SpecError(f"parameters = {name}: not a parameter of the model; see `mscsim params`")
    return by_name[name]


def _range(p: Parameter, site: str) -> tuple[float, float, bool]:
    """Return the sampled range of ``p`` and whether it is log-uniform."""
    low, high = p.default(site).plausible
    if not math.isfinite(high):
        raise SpecError(
            f"parameters = {p.name}: its plausible range [{low:g}, inf] has no upper end "
            "and cannot be sampled"
        )
    if p.unit in UNIFORM_UNITS or high <= 0:
        return low, high, False
    if low <= 0:
        return (LOWEST_SHARE * high, high, True) if p.unit in LOG_UNITS else (low, high, False)
    return low, high, p.unit in LOG_UNITS or math.log10(high / low) > LOG_DECADES


def scenario_space(
    scenario: Scenario | TrialSpec,
    names: Iterable[str] | None = None,
    *,
    tags: Iterable[str] | None = ("G",),
) -> ParameterSpace:
    """Return the space of the scenario's model parameters at its target site.

    A trial's space is that of its first arm's scenario.
    """
    base = _first_scenario(scenario)
    site = target_site(base.regimen.routes)
    return ParameterSpace.from_library(names, model=default_model(base), tags=tags, site=site)


def _first_scenario(target: Target) -> Scenario:
    """Return the scenario itself, or a trial's first arm's scenario."""
    return target.arm[0].scenario if isinstance(target, TrialSpec) else target


# --- summaries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """A scalar an analysis produces from a simulated scenario, one per parameter set.

    Attributes
    ----------
    name, unit, description : str
    times : callable
        ``times(scenario)``: the output times the summary reads.
    reduce : callable
        ``reduce(result, model)``: one value per simulated patient.
    needs_outcome : bool
        Whether the scenario needs a disease.
    slow : bool
        Whether each parameter set runs many simulations (``trial_power``).
    """

    name: str
    unit: str
    description: str
    times: Callable[[Scenario], Array] = field(repr=False)
    reduce: Callable[[SimulationResult, Model], Array] = field(repr=False)
    needs_outcome: bool = False
    slow: bool = False


def _horizon(scenario: Scenario) -> float:
    return float(scenario.simulation.horizon_days)


def _effect_times(scenario: Scenario) -> Array:
    days = [e.time_day for e in scenario.regimen.expand() if e.time_day <= _horizon(scenario)]
    return np.union1d(analysis_times(_horizon(scenario)), days)


def _effect_auc(result: SimulationResult, model: Model) -> Array:
    return np.asarray(auc(result.times_day, result.output("effect")), dtype=float)


def _outcome_change(result: SimulationResult, model: Model) -> Array:
    outcome = getattr(model, "outcome", None)
    if outcome is None:
        raise SpecError("disease: outcome_change needs a scenario with a [disease]")
    course = result.output(outcome.name)
    return np.asarray(course[:, -1] - course[:, 0], dtype=float)


def _target_cell_days(result: SimulationResult, model: Model) -> Array:
    return np.asarray(result.output("exposure_cell_days")[:, -1], dtype=float)


def _ends(scenario: Scenario) -> Array:
    return np.array([0.0, _horizon(scenario)])


def _not_batched(
    result: SimulationResult, model: Model
) -> Array:  # pragma: no cover - never simulated
    raise SpecError("summary = trial_power: runs trials, not one simulation")


SUMMARIES: dict[str, Summary] = {
    s.name: s
    for s in (
        Summary(
            "effect_auc",
            "effect-days",
            "area under the effect (0-1) from day 0 to the horizon",
            _effect_times,
            _effect_auc,
        ),
        Summary(
            "outcome_change",
            "outcome units",
            "change of the disease outcome from day 0 to the horizon",
            _ends,
            _outcome_change,
            needs_outcome=True,
        ),
        Summary(
            "target_cell_days",
            "cell-days",
            "viable cells at the target integrated to the horizon (exposure_cell_days)",
            _ends,
            _target_cell_days,
        ),
        Summary(
            "trial_power",
            "share of replicates",
            "power of the trial (each parameter set runs the whole trial: slow)",
            _ends,
            _not_batched,
            slow=True,
        ),
    )
}
"""The built-in summaries by name."""


def summary_named(name: str, *, day: float | None = None) -> Summary:
    """Return the summary called ``name``; ``day`` reads ``outcome_change`` at that day.

    Raises
    ------
    SpecError
        For an unknown name, or ``day`` with another summary or not > 0.
    """
    if name not in SUMMARIES:
        raise SpecError(f"summary = {name!r}: one of {', '.join(SUMMARIES)}")
    summary = SUMMARIES[name]
    if day is None:
        return summary
    if name != "outcome_change" or not day > 0:
        raise SpecError(f"summary day = {day:g}: only for outcome_change, and > 0")
    return replace(
        summary,
        description=f"change of the disease outcome from day 0 to day {day:g}",
        times=lambda scenario: np.array([0.0, min(day, _horizon(scenario))]),
    )


def _outcome_check(summary: Summary, model: Model) -> None:
    if summary.needs_outcome and getattr(model, "outcome", None) is None:
        raise SpecError(f"disease: summary {summary.name} needs a scenario with a [disease]")


def check_target(summary: Summary, target: Target) -> None:
    """Refuse, before any work, a target the summary cannot read.

    Raises
    ------
    SpecError
        ``trial_power`` without a trial, another summary with a trial, or a
        summary of the disease outcome on a scenario without a disease.
    """
    if summary.slow != isinstance(target, TrialSpec):
        need = "a trial file, not a scenario" if summary.slow else "a scenario, not a trial file"
        raise SpecError(f"summary = {summary.name}: needs {need}")
    if isinstance(target, Scenario):
        _outcome_check(summary, default_model(target))


# --- evaluation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _ModelChunk:
    """Simulate a chunk of parameter sets (one patient each) and reduce it: picklable."""

    base: Problem
    names: tuple[str, ...]
    summary: Summary
    solver: Solver | None

    def __call__(self, values: Array) -> Array:
        n = values.shape[0]
        params = dict(self.base.params)
        params.update({name: values[:, j] for j, name in enumerate(self.names)})
        problem = replace(
            self.base,
            params=params,
            events=DoseEvents.shared(self.base.doses, n),
            n_patients=n,
            patient_ids=np.arange(n, dtype=np.int64),
        )
        result = solve(problem, self.solver, on_failure="flag")
        return self.summary.reduce(result, self.base.model)


@dataclass(frozen=True)
class _TrialChunk:
    """Run the trial once per parameter set of a chunk and return its power: picklable."""

    spec: TrialSpec
    names: tuple[str, ...]
    replicates: int
    solver: Solver | None

    def __call__(self, values: Array) -> Array:
        from mscsim.analysis.trial import run_trial

        out = np.empty(values.shape[0])
        for i, row in enumerate(values):
            result = run_trial(
                _trial_with(self.spec, dict(zip(self.names, map(float, row), strict=True))),
                replicates=self.replicates,
                solver=self.solver,
            )
            out[i] = result.summary.power
        return out


def _trial_with(spec: TrialSpec, overrides: Mapping[str, float]) -> TrialSpec:
    arms = tuple(
        arm.model_copy(
            update={
                "scenario": arm.scenario.model_copy(
                    update={"parameters": {**arm.scenario.parameters, **overrides}}
                )
            }
        )
        for arm in spec.arm
    )
    return spec.model_copy(update={"arm": arms})


def _one_patient(scenario: Scenario, names: Sequence[str], model: Model | None = None) -> Problem:
    """Return the scenario's one-patient problem; refuse ``names`` its model does not have."""
    policy = EvidencePolicy(allow_beyond_evidence=True, allow_failed_lot=True)
    problem = problem_from_scenario(scenario, model=model, policy=policy, n_patients=1)
    for name in names:
        if name not in problem.params:
            raise SpecError(f"parameters = {name}: not a parameter of the scenario's model")
    return problem


def _base_problem(summary: Summary, scenario: Scenario, names: Sequence[str]) -> Problem:
    """Return the scenario's one-patient problem at the summary's output times."""
    model = default_model(scenario)
    _outcome_check(summary, model)
    return _one_patient(scenario, names, model).with_times(summary.times(scenario))


def _chunks(values: Array, rows: int) -> list[Array]:
    return [values[i : i + rows] for i in range(0, values.shape[0], rows)]


def evaluate_sample(
    summary: Summary | str,
    target: Target,
    names: Sequence[str],
    values: Array,
    *,
    executor: Executor | None = None,
    solver: Solver | None = None,
    progress: Callable[[int, int], None] | None = None,
    trial_replicates: int = DEFAULT_TRIAL_REPLICATES,
) -> Array:
    """Return the summary of ``target`` for each row of ``values`` (parameters ``names``).

    The rows are simulated as one problem (one patient per row) in chunks of at
    most ``executor.chunk_size`` rows and :data:`MAX_VALUES_PER_CHUNK` patient-times,
    spread by ``executor`` (default in process); ``progress(done, total)`` is called
    after each chunk. ``trial_power`` runs ``trial_replicates`` replicates of the
    trial per row, with the trial's seed (common random numbers across rows).

    Raises
    ------
    SpecError
        For a name that is not a parameter of the model, a summary that needs a
        disease the scenario lacks, or a target of the wrong kind.
    """
    summary = summary_named(summary) if isinstance(summary, str) else summary
    names = tuple(names)
    values = np.atleast_2d(np.asarray(values, dtype=float))
    if values.shape[1] != len(names):
        raise SpecError(f"values: need {len(names)} columns, one per parameter")
    executor = executor or InProcess()
    check_target(summary, target)
    func: Callable[[Array], Array]
    if isinstance(target, TrialSpec):
        func, rows = _TrialChunk(target, names, trial_replicates, solver), 1
    else:
        base = _base_problem(summary, target, names)
        func = _ModelChunk(base, names, summary, solver)
        rows = max(1, min(executor.chunk_size, MAX_VALUES_PER_CHUNK // base.times_day.size))
    parts = list(executor.map(func, _chunks(values, rows), progress=progress))
    return np.concatenate(parts) if parts else np.zeros(0)


def evaluate(summary: Summary | str, target: Target, overrides: Mapping[str, float]) -> float:
    """Return the summary of ``target`` with parameters ``overrides`` (one parameter set)."""
    names = tuple(overrides)
    values = np.array([[float(overrides[n]) for n in names]])
    return float(evaluate_sample(summary, target, names, values)[0])


def _sample_function(
    summary: Summary | str | SampleFunction,
    space: ParameterSpace,
    target: Target | None,
    options: Mapping[str, Any],
) -> SampleFunction:
    """Return the callable over a sample that ``summary`` (on ``target``) stands for."""
    if isinstance(summary, Summary | str):
        if target is None:
            raise SpecError("scenario: a named summary needs a scenario (or trial) to run")
        named = summary_named(summary) if isinstance(summary, str) else summary
        if named.slow:
            warnings.warn(
                f"summary = {named.name}: every parameter set runs the whole trial "
                f"({options.get('trial_replicates', DEFAULT_TRIAL_REPLICATES)} replicates); "
                "expect a long run",
                MscsimWarning,
                stacklevel=3,
            )
        return lambda values: evaluate_sample(named, target, space.names, values, **options)
    if target is not None:
        raise SpecError("scenario: give a scenario with a named summary only")
    return summary


def _checked(y: Array, n: int, what: str) -> Array:
    y = np.asarray(y, dtype=float).reshape(-1)
    if y.shape != (n,):
        raise SpecError(f"summary: returned {y.size} values for {n} parameter sets")
    if not np.all(np.isfinite(y)):
        bad = int(np.sum(~np.isfinite(y)))
        raise SpecError(f"summary: {bad} of {n} {what} values are not finite (a failed solve?)")
    return y


# --- Sobol and Morris ----------------------------------------------------------------------


@dataclass(frozen=True)
class SobolResult:
    """First-order and total Sobol indices with their confidence half-widths (95%).

    Attributes
    ----------
    names : tuple of str
    s1, s1_conf, st, st_conf : ndarray
    n : int
        Base sample size; ``n * (k + 2)`` evaluations.
    seed : int
    """

    names: tuple[str, ...]
    s1: Array
    s1_conf: Array
    st: Array
    st_conf: Array
    n: int
    seed: int

    @property
    def n_evaluations(self) -> int:
        """Summary evaluations the indices rest on."""
        return self.n * (len(self.names) + 2)

    def to_frame(self) -> pd.DataFrame:
        """Return ``parameter, S1, S1_conf, ST, ST_conf``, one row per parameter."""
        return pd.DataFrame(
            {
                "parameter": self.names,
                "S1": self.s1,
                "S1_conf": self.s1_conf,
                "ST": self.st,
                "ST_conf": self.st_conf,
            }
        )


@dataclass(frozen=True)
class MorrisResult:
    """Morris elementary effects: mean, mean of absolute values (with CI) and SD.

    Effects are per unit of each parameter's sampled scale (log10 for log-scale
    parameters), as SALib computes them.
    """

    names: tuple[str, ...]
    mu: Array
    mu_star: Array
    mu_star_conf: Array
    sigma: Array
    n_trajectories: int
    seed: int

    def to_frame(self) -> pd.DataFrame:
        """Return ``parameter, mu, mu_star, mu_star_conf, sigma``, one row per parameter."""
        return pd.DataFrame(
            {
                "parameter": self.names,
                "mu": self.mu,
                "mu_star": self.mu_star,
                "mu_star_conf": self.mu_star_conf,
                "sigma": self.sigma,
            }
        )


_SOBOL_KEYS = ("S1", "S1_conf", "ST", "ST_conf")
_MORRIS_KEYS = ("mu", "mu_star", "mu_star_conf", "sigma")


def _check_whole(what: str, value: int, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise SpecError(f"{what} = {value!r}: must be a whole number >= {low}")


def sobol(
    summary: Summary | str | SampleFunction,
    space: ParameterSpace,
    scenario: Target | None = None,
    *,
    n: int = 64,
    seed: int = 0,
    **options: Any,
) -> SobolResult:
    """Return Sobol indices of ``summary`` over ``space`` (Saltelli sampling, SALib).

    Parameters
    ----------
    summary : Summary, str or callable
        A named summary of ``scenario``, or a callable over a sample
        (``(n, k)`` parameter values to ``(n,)``) with ``scenario`` None.
    space : ParameterSpace
    scenario : Scenario or TrialSpec, optional
    n : int
        Base sample size, a power of 2 (scrambled Sobol sequence); the summary is
        evaluated ``n * (k + 2)`` times.
    seed : int
        Seeds the sequence's scrambling and the bootstrap of the intervals.
    **options
        ``executor``, ``solver``, ``progress``, ``trial_replicates``
        (see :func:`evaluate_sample`).
    """
    from SALib.analyze import sobol as analyze  # type: ignore[import-untyped]
    from SALib.sample import sobol as sample  # type: ignore[import-untyped]

    _check_whole("n", n, 2)
    if n & (n - 1):
        raise SpecError(f"n = {n}: Sobol sampling needs a power of 2 (e.g. 64, 128, 256)")
    _check_whole("seed", seed, 0)
    func = _sample_function(summary, space, scenario, options)
    problem = space.salib_problem()
    x = sample.sample(problem, n, calc_second_order=False, seed=seed)
    y = _checked(func(space.from_scaled(x)), x.shape[0], "Sobol")
    s = analyze.analyze(problem, y, calc_second_order=False, seed=seed)
    s1, s1_conf, st, st_conf = (np.asarray(s[k], dtype=float) for k in _SOBOL_KEYS)
    return SobolResult(space.names, s1, s1_conf, st, st_conf, n=n, seed=seed)


MORRIS_LEVELS = 4
"""Grid levels of Morris trajectories (SALib's default)."""


def morris(
    summary: Summary | str | SampleFunction,
    space: ParameterSpace,
    scenario: Target | None = None,
    *,
    n_trajectories: int = 10,
    seed: int = 0,
    **options: Any,
) -> MorrisResult:
    """Return Morris screening measures of ``summary`` over ``space`` (SALib).

    The summary is evaluated ``n_trajectories * (k + 1)`` times. Arguments as in
    :func:`sobol`.
    """
    from SALib.analyze import morris as analyze
    from SALib.sample import morris as sample

    _check_whole("n_trajectories", n_trajectories, 2)
    _check_whole("seed", seed, 0)
    func = _sample_function(summary, space, scenario, options)
    problem = space.salib_problem()
    x = sample.sample(problem, n_trajectories, num_levels=MORRIS_LEVELS, seed=seed)
    y = _checked(func(space.from_scaled(x)), x.shape[0], "Morris")
    m = analyze.analyze(problem, x, y, num_levels=MORRIS_LEVELS, seed=seed)
    mu, mu_star, mu_star_conf, sigma = (np.asarray(m[k], dtype=float) for k in _MORRIS_KEYS)
    return MorrisResult(
        space.names, mu, mu_star, mu_star_conf, sigma, n_trajectories=n_trajectories, seed=seed
    )


# --- local sensitivity ---------------------------------------------------------------------


@dataclass(frozen=True)
class LocalSensitivity:
    """Normalised derivatives ``d log y / d log theta`` at a point.

    Attributes
    ----------
    names : tuple of str
    at : ndarray
        The parameter values (the defaults).
    value : float
        The summary there.
    elasticity : ndarray
        NaN where the parameter or the summary is 0 there.
    step : float
        Relative step: ``theta * exp(+-step)``.
    """

    names: tuple[str, ...]
    at: Array
    value: float
    elasticity: Array
    step: float

    def to_frame(self) -> pd.DataFrame:
        """Return ``parameter, value, elasticity``, one row per parameter."""
        return pd.DataFrame(
            {"parameter": self.names, "value": self.at, "elasticity": self.elasticity}
        )


def _defaults(scenario: Target, names: Sequence[str]) -> Array:
    problem = _one_patient(_first_scenario(scenario), names)
    return np.array([float(problem.params[n][0]) for n in names])


def local_sensitivity(
    summary: Summary | str | SampleFunction,
    space: ParameterSpace,
    scenario: Target | None = None,
    *,
    at: Mapping[str, float] | None = None,
    step: float = 0.01,
    **options: Any,
) -> LocalSensitivity:
    """Return ``d log y / d log theta`` for each parameter of ``space``, by central differences.

    Each parameter is moved to ``theta * exp(+-step)``, the others held, and
    ``(y+ - y-) / (2 step y)``; where ``theta * exp(step)`` leaves the space's
    range (``effect_emax = 1``), the second-order backward difference
    ``(3 y - 4 y(-step) + y(-2 step)) / (2 step y)``. All ``2k + 1`` points are
    simulated together.

    Parameters
    ----------
    at : mapping, optional
        The point (default: the scenario's parameter values; needed for a callable).
    step : float
        In (0, 0.5].
    """
    if not 0 < step <= 0.5:
        raise SpecError(f"step = {step!r}: must be > 0 and <= 0.5")
    func = _sample_function(summary, space, scenario, options)
    if at is not None:
        theta = np.array([float(at[n]) for n in space.names])
    elif scenario is not None:
        theta = _defaults(scenario, space.names)
    else:
        raise SpecError("at: give the point for a callable summary")
    k = space.k
    inside = theta * math.exp(step) <= np.array([hi for _, hi in space.bounds]) * (1 + 1e-12)
    # per parameter: theta e^h (or e^-2h at the upper end), theta e^-h
    points = np.tile(theta, (2 * k + 1, 1))
    idx = np.arange(k)
    points[1 + idx, idx] = theta * np.exp(np.where(inside, step, -2 * step))
    points[1 + k + idx, idx] = theta * math.exp(-step)
    y = _checked(func(points), 2 * k + 1, "local")
    y0, y_other, y_down = y[0], y[1 : k + 1], y[k + 1 :]
    central = y_other - y_down
    backward = (3 * y0 - 4 * y_down + y_other) / 2  # second order, one-sided
    with np.errstate(divide="ignore", invalid="ignore"):
        elasticity = np.where(inside, central / 2, backward) / (step * y0)
    elasticity = np.where((theta == 0) | (y0 == 0), np.nan, elasticity)
    return LocalSensitivity(space.names, theta, float(y0), elasticity, step)


# --- uncertainty ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Uncertainty:
    """A summary over a Latin hypercube sample of the space.

    Attributes
    ----------
    names : tuple of str
    sample : ndarray, shape (n, k)
        Parameter values, one row per set.
    values : ndarray, shape (n,)
        The summary of each set.
    seed : int
    """

    names: tuple[str, ...]
    sample: Array
    values: Array
    seed: int

    def interval(self, percentiles: Sequence[float] = INTERVAL_PERCENTILES) -> dict[str, float]:
        """Return the summary's percentiles, keyed ``p5``, ``p50``, ``p95``."""
        q = np.percentile(self.values, list(percentiles))
        return {f"p{p:g}": float(v) for p, v in zip(percentiles, q, strict=True)}

    def to_frame(self) -> pd.DataFrame:
        """Return the sample, one row per set, with the summary in column ``summary``."""
        frame = pd.DataFrame(self.sample, columns=list(self.names))
        frame["summary"] = self.values
        return frame


def latin_hypercube(space: ParameterSpace, n: int, seed: int) -> Array:
    """Return ``n`` parameter sets of ``space`` from a seeded Latin hypercube."""
    from scipy.stats import qmc

    _check_whole("n", n, 2)
    _check_whole("seed", seed, 0)
    unit = qmc.LatinHypercube(d=space.k, rng=np.random.default_rng(seed)).random(n)
    return space.values(unit)


def uncertainty(
    summary: Summary | str | SampleFunction,
    space: ParameterSpace,
    scenario: Target | None = None,
    *,
    n: int = 100,
    seed: int = 0,
    **options: Any,
) -> Uncertainty:
    """Run ``summary`` over a seeded Latin hypercube of ``n`` sets of ``space``."""
    sample = latin_hypercube(space, n, seed)
    func = _sample_function(summary, space, scenario, options)
    values = _checked(func(sample), n, "uncertainty")
    return Uncertainty(space.names, sample, values, seed)


Method = Literal["sobol", "morris"]
