"""Population fits: fixed effects, between-patient variability and residual error by SAEM.

Each estimated parameter is log-normal between patients, ``θ_i = θ · exp(η_i)``
with ``η_i ~ Normal(0, ω²)`` (independent components), and each observation has
the residual error of :mod:`mscsim.analysis.observation` (values below the limit
of quantification by M3). :func:`fit_population` maximises the likelihood of the
population parameters ``(θ, ω, sigma)`` with the stochastic approximation version of
EM (SAEM) of Delyon, Lavielle & Moulines (1999, Ann Stat 27:94-128) coupled with
Markov chain Monte Carlo as in Kuhn & Lavielle (2004, ESAIM Probab Stat 8:115-131)
and Kuhn & Lavielle (2005, Comput Stat Data Anal 49:1020-1038), the algorithm of
Monolix and of the R package saemix (Comets, Lavenu & Lavielle 2017, J Stat Softw
80(3), doi:10.18637/jss.v080.i03):

1. *Simulation*: a few Metropolis-Hastings sweeps draw every patient's log
   parameters from their conditional distribution given the data, a proposal from
   the population distribution and a random walk (its scale tuned towards 40%
   acceptance during the first phase). A sweep is one :func:`mscsim.problem.solve`
   of a problem whose rows are all patients of all chains at once.
2. *Stochastic approximation* of the sufficient statistics, with step 1 for the
   first ``K1`` iterations (exploration) and ``1/(k - K1)`` for the next ``K2``
   (smoothing).
3. *Maximisation* in closed form: ``log θ`` is the mean and ``ω²`` the variance of
   the log parameters, ``sigma²`` the mean squared (relative) residual for an additive
   (proportional) error. A combined error, or censored values, have no closed
   form: ``sigma`` then maximises the likelihood of the current predictions
   (Nelder-Mead on ``log sigma``) and that estimate is averaged instead. During the
   first half of the exploration phase ``ω²`` and ``sigma²`` shrink by at most 5%
   per iteration (simulated annealing), so that the chains keep exploring.

After the iterations, the chains run on at the estimates: their mean is each
patient's conditional mean of ``η`` (:attr:`PopulationFit.eta`), and the Fisher
information is estimated from those samples by Louis's missing-information formula
(Louis 1982, J R Stat Soc B 44:226-233). Intervals are Wald intervals on the log
scale of ``θ``, ``ω`` and ``sigma``. The objective, -2 log-likelihood, is estimated by
importance sampling (as Monolix documents it,
https://monolix.lixoft.com/tasks/log-likelihood-estimation/) with Student-t
proposals (5 degrees of freedom) centred on each patient's conditional mean and
scaled by its conditional standard deviation; it is not a linearisation.

Individual values outside a parameter's physically allowed range (the library's
``allowed``) have likelihood zero: the population distribution is truncated there.
The closed-form maximisation ignores that truncation, which is exact only while a
negligible share of the distribution lies outside the range (a fraction near 1
with a large ``ω``, for instance, would be biased).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import optimize, stats
from scipy.special import logsumexp

from mscsim.analysis.observation import ErrorKind, ResidualError, log_likelihood_terms
from mscsim.engine.solvers import Solver
from mscsim.errors import SpecError
from mscsim.models.base import Array
from mscsim.problem.data import Observations
from mscsim.problem.events import DoseEvents
from mscsim.problem.problem import Problem, solve

__all__ = ["PopulationFit", "fit_population"]

TARGET_ACCEPTANCE = 0.4
"""Acceptance rate the random-walk proposal is tuned towards (Monolix's default)."""

ANNEALING = 0.95
"""In the first half of the exploration ``ω²`` and ``sigma²`` fall by at most this factor
per iteration."""

MIN_SUBJECT_ROWS = 50
"""Chains per patient are chosen so that patients times chains reach this many."""

STUDENT_DF = 5
"""Degrees of freedom of the importance-sampling proposal."""

CONVERGENCE_TOLERANCE = 0.1
"""Largest change, on the log scale, between the means of the last two quarters of
the exploration phase for a fit to count as converged."""

_MIN_VARIANCE = 1e-10
_LOG_LIMIT = 700.0
_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True, eq=False)
class PopulationFit:
    """The result of :func:`fit_population` (immutable).

    Attributes
    ----------
    parameters : tuple of str
        The estimated parameters, in the order of ``estimate``.
    theta : mapping of str to float
        Typical value (median of the log-normal) of each parameter.
    omega : mapping of str to float
        Between-patient SD of each parameter's log.
    error : ResidualError
        The fitted residual error.
    objective : float
        -2 log-likelihood, estimated by importance sampling (:attr:`objective_method`).
    objective_sd : float
        Monte-Carlo standard deviation of :attr:`objective`.
    converged : bool
        Whether the exploration phase had settled (the means of its last two
        quarters within :data:`CONVERGENCE_TOLERANCE` on the log scale), every
        estimate is finite and the Fisher information is positive definite.
    eta : ndarray, shape (n_subjects, n_parameters)
        Each patient's conditional mean of ``η`` at the estimates (problem rows).
    covariance : ndarray
        Covariance of the estimates of ``(log θ, log ω, log sigma)`` in the order of
        :attr:`names`; NaN where the information is not invertible.
    n_observations, n_subjects : int
    n_iterations : tuple of int
        ``(K1, K2)``.
    n_chains : int
        Markov chains per patient.
    acceptance : float
        Mean acceptance rate of the random-walk proposal at the estimates.
    trajectory : ndarray, shape (K1 + K2 + 1, n_names)
        Estimates after each iteration (the first row: the initial values).
    level : float
        Confidence level of the intervals.
    objective_method, interval_method : str
        How the objective and the intervals were computed.
    """

    parameters: tuple[str, ...]
    theta: Mapping[str, float]
    omega: Mapping[str, float]
    error: ResidualError
    objective: float
    objective_sd: float
    converged: bool
    eta: Array
    covariance: Array
    n_observations: int
    n_subjects: int
    n_iterations: tuple[int, int]
    n_chains: int
    acceptance: float
    trajectory: Array = field(repr=False)
    level: float = 0.95
    objective_method: str = "importance sampling"
    interval_method: str = "Wald on the log scale; Fisher information by Louis's formula"

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the estimates: parameters, ``omega_<parameter>``, error parameters."""
        return (*self.parameters, *(f"omega_{p}" for p in self.parameters), *self.error.names)

    @property
    def estimates(self) -> Array:
        """The estimates in the order of :attr:`names`."""
        return np.array(
            [
                *(self.theta[p] for p in self.parameters),
                *(self.omega[p] for p in self.parameters),
                *self.error.values,
            ]
        )

    @property
    def standard_errors(self) -> Array:
        """Standard errors of the log estimates, in the order of :attr:`names`."""
        out: Array = np.sqrt(np.diag(self.covariance))
        return out

    @property
    def individual(self) -> dict[str, Array]:
        """Each patient's value of each parameter, ``θ · exp(E[η | data])``."""
        return {p: self.theta[p] * np.exp(self.eta[:, j]) for j, p in enumerate(self.parameters)}

    def intervals(self) -> tuple[Array, Array]:
        """Return the lower and upper ends of the :attr:`level` intervals."""
        z = stats.norm.ppf(0.5 + self.level / 2)
        log_estimate = np.log(self.estimates)
        return (
            np.exp(log_estimate - z * self.standard_errors),
            np.exp(log_estimate + z * self.standard_errors),
        )

    def to_frame(self) -> pd.DataFrame:
        """Return one row per estimate: ``parameter, estimate, ci_low, ci_high``."""
        low, high = self.intervals()
        return pd.DataFrame(
            {"parameter": self.names, "estimate": self.estimates, "ci_low": low, "ci_high": high}
        )


@dataclass(frozen=True)
class _Model:
    """The data, the problem at the observation times and the parameter bounds."""

    problem: Problem
    observations: Observations
    names: tuple[str, ...]
    low: Array
    high: Array
    chains: int
    solver: Solver | None
    gather: tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]
    tiled: dict[int, Problem] = field(default_factory=dict, repr=False)
    """The problem with its patients repeated, by number of copies (built once each)."""

    @property
    def n(self) -> int:
        return self.problem.n_patients

    def copies_of(self, copies: int) -> Problem:
        """Return the problem with ``copies`` copies of every patient (one: itself)."""
        if copies == 1:
            return self.problem
        if copies not in self.tiled:
            self.tiled[copies] = _tile(self.problem, copies)
        return self.tiled[copies]

    def predict(self, phi: Array) -> Array:
        """Return predictions of shape ``(copies, n_obs)`` for log parameters ``(copies, n, d)``.

        Rows with a value outside the allowed range, or whose solve fails, are NaN.
        """
        copies = phi.shape[0]
        inside = np.all((phi >= self.low) & (phi <= self.high), axis=2).reshape(-1)
        values = np.exp(np.clip(phi, self.low, np.minimum(self.high, _LOG_LIMIT)))
        problem = self.copies_of(copies)
        params = dict(problem.params)
        for j, name in enumerate(self.names):
            params[name] = values[:, :, j].reshape(-1)
        result = solve(replace(problem, params=params), self.solver, on_failure="flag")
        output, patient, column = self.gather
        table = np.stack([result.outputs[k] for k in self.observations.outputs])
        bad = ~inside | (result.status != 0)
        rows = np.arange(copies)[:, None] * self.n + patient[None, :]
        f = table[output[None, :], rows, column[None, :]]
        f[bad[rows]] = np.nan
        out: Array = f
        return out

    def subject_ll(self, f: Array, error: ResidualError) -> Array:
        """Return each patient's log-likelihood, shape ``(copies, n)`` (-inf where NaN)."""
        copies = f.shape[0]
        terms = log_likelihood_terms(self.observations, np.nan_to_num(f), error)
        terms[np.isnan(f)] = np.nan
        index = np.arange(copies)[:, None] * self.n + self.observations.patient[None, :]
        ll = np.bincount(index.reshape(-1), terms.reshape(-1), minlength=copies * self.n)
        out: Array = np.where(np.isnan(ll), -np.inf, ll).reshape(copies, self.n)
        return out


@dataclass
class _Population:
    """Current population parameters: log θ, ω² and the error."""

    mu: Array
    omega2: Array
    error: ResidualError

    def log_prior(self, phi: Array) -> Array:
        """Return the log density of log parameters ``(..., n, d)``, summed over ``d``."""
        z2 = (phi - self.mu) ** 2 / self.omega2
        out: Array = -0.5 * (z2 + _LOG_2PI + np.log(self.omega2)).sum(axis=-1)
        return out

    def vector(self) -> Array:
        """Return the estimates on the natural scale: θ, ω, error values."""
        return np.array([*np.exp(self.mu), *np.sqrt(self.omega2), *self.error.values])


@dataclass
class _Chains:
    """The Markov chains: log parameters, predictions and log-likelihood of each patient."""

    phi: Array
    f: Array
    ll: Array
    scale: float = 0.5
    accepted: float = 0.0


def fit_population(
    problem: Problem,
    observations: Observations,
    estimate: Sequence[str],
    *,
    error: ResidualError = ResidualError(),  # noqa: B008 - a frozen value
    seed: int = 0,
    n_iterations: tuple[int, int] = (300, 100),
    n_chains: int | None = None,
    n_posterior: int = 100,
    n_importance: int = 500,
    initial_omega: float = 0.5,
    solver: Solver | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PopulationFit:
    """Fit typical values, between-patient SDs and the residual error by SAEM.

    Parameters
    ----------
    problem : Problem
        One row per patient (the ``patient`` of ``observations``); its values of the
        estimated parameters are the initial typical values (geometric mean over
        patients), every other parameter and covariate stays as it is.
    observations : Observations
    estimate : sequence of str
        Parameters with a typical value and a between-patient SD to estimate.
    error : ResidualError
        Kind of residual error and initial values of its parameters.
    seed : int
        Seed of the random numbers (the fit is reproducible).
    n_iterations : tuple of int
        ``(K1, K2)``: exploration and smoothing iterations.
    n_chains : int, optional
        Markov chains per patient; default enough for 50 patient-chains.
    n_posterior : int
        Iterations at the estimates for conditional means and the information.
    n_importance : int
        Importance samples per patient for the objective.
    initial_omega : float
        Initial between-patient SD of every estimated parameter.
    solver : Solver, optional
        Default :class:`~mscsim.engine.FastSolver`.
    progress : callable, optional
        Called as ``progress(done, total)`` after each iteration.

    Returns
    -------
    PopulationFit

    Raises
    ------
    SpecError
        For unknown or repeated parameters, a non-positive initial value, too few
        iterations, observations of patients the problem does not have, or a model
        that cannot be solved at the initial values.
    """
    k1, k2 = _check_iterations(n_iterations, n_posterior, n_importance, initial_omega)
    model = _model(problem, observations, tuple(estimate), n_chains, solver)
    rng = np.random.default_rng(seed)
    mu0 = np.array([np.log(problem.params[p]).mean() for p in model.names])
    population = _Population(mu0, np.full(len(mu0), initial_omega**2), error)
    chains = _start(model, population)
    total = k1 + k2 + n_posterior + math.ceil(n_importance / _draws_per_solve(model))
    tick = _Ticker(progress, total)
    trajectory = [population.vector()]
    statistics: Array | None = None
    for k in range(k1 + k2):
        _sweep(model, population, chains, rng, adapt=k < k1)
        gamma = 1.0 if k < k1 else 1.0 / (k - k1 + 1)
        new = _statistics(model, population, chains)
        statistics = new if statistics is None else statistics + gamma * (new - statistics)
        population = _maximise(model, population, statistics, anneal=k < k1 // 2)
        chains.ll = model.subject_ll(chains.f, population.error)
        trajectory.append(population.vector())
        tick()
    samples, information, acceptance = _posterior(model, population, chains, rng, n_posterior, tick)
    objective, objective_sd = _importance(model, population, samples, rng, n_importance, tick)
    return _result(
        model,
        population,
        samples,
        information,
        np.array(trajectory),
        objective=(objective, objective_sd),
        iterations=(k1, k2),
        acceptance=acceptance,
    )


class _Ticker:
    def __init__(self, progress: Callable[[int, int], None] | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(min(self.done, self.total), self.total)


def _check_iterations(
    n_iterations: tuple[int, int], n_posterior: int, n_importance: int, initial_omega: float
) -> tuple[int, int]:
    counts = tuple(n_iterations) if isinstance(n_iterations, tuple | list) else ()
    if len(counts) != 2 or not all(_whole(c) and c >= 1 for c in counts):
        raise SpecError(f"n_iterations = {n_iterations!r}: need (K1, K2), two whole numbers >= 1")
    for name, value in (("n_posterior", n_posterior), ("n_importance", n_importance)):
        if not _whole(value) or value < 2:
            raise SpecError(f"{name} = {value!r}: must be a whole number >= 2")
    if not (math.isfinite(initial_omega) and initial_omega > 0):
        raise SpecError(f"initial_omega = {initial_omega!r}: must be a finite number > 0")
    return int(counts[0]), int(counts[1])


def _whole(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _model(
    problem: Problem,
    observations: Observations,
    names: tuple[str, ...],
    n_chains: int | None,
    solver: Solver | None,
) -> _Model:
    """Check the inputs; return the problem at the observation times with its bounds."""
    if not names:
        raise SpecError("estimate = []: name at least one parameter")
    for name in names:
        if names.count(name) > 1:
            raise SpecError(f"estimate = {name!r}: named twice")
        if name not in problem.params:
            raise SpecError(f"estimate = {name!r}: not a parameter of the model")
        values = problem.params[name]
        if not np.all(np.isfinite(values) & (values > 0)):
            raise SpecError(
                f"parameters.{name} = {float(values.min()):g}: a log-normal parameter needs "
                "finite values > 0"
            )
    if len(observations) == 0:
        raise SpecError("observations: none given; a fit needs data")
    last = int(observations.patient.max())
    if last >= problem.n_patients:
        raise SpecError(
            f"observations.patient = {last}: not one of the {problem.n_patients} patients"
        )
    if n_chains is not None and (not _whole(n_chains) or n_chains < 1):
        raise SpecError(f"n_chains = {n_chains!r}: must be a whole number >= 1")
    chains = n_chains or math.ceil(MIN_SUBJECT_ROWS / problem.n_patients)
    at_data = problem.with_times(observations.times)
    low, high = _log_bounds(problem, names)
    return _Model(
        at_data, observations, names, low, high, int(chains), solver, _gather(observations)
    )


def _log_bounds(problem: Problem, names: tuple[str, ...]) -> tuple[Array, Array]:
    """Return the log of each parameter's allowed range (no bound for covariates)."""
    library = {p.name: p for p in problem.model.parameters}
    low, high = np.full(len(names), -np.inf), np.full(len(names), np.inf)
    for j, name in enumerate(names):
        if name in library:
            a, b = library[name].allowed
            low[j] = math.log(a) if a > 0 else -np.inf
            high[j] = math.log(b) if math.isfinite(b) else np.inf
    return low, high


def _gather(
    observations: Observations,
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """Return each observation's output index, patient row and time column."""
    outputs = observations.outputs
    output = np.array([outputs.index(o) for o in observations.output], dtype=np.intp)
    column = np.searchsorted(observations.times, observations.time_day).astype(np.intp)
    return output, observations.patient.astype(np.intp), column


def _tile(problem: Problem, copies: int) -> Problem:
    """Return ``copies`` copies of every patient (copy ``c`` at rows ``c * n ...``)."""
    n, ev = problem.n_patients, problem.events
    events = DoseEvents(
        np.concatenate([ev.patient + c * n for c in range(copies)]),
        np.tile(ev.time_day, copies),
        np.tile(ev.amount_cells, copies),
        ev.route * copies,
        np.tile(ev.duration_day, copies),
    )
    params = {k: v if v.size == 1 else np.tile(v, copies) for k, v in problem.params.items()}
    return replace(
        problem,
        params=params,
        events=events,
        n_patients=n * copies,
        patient_ids=np.arange(n * copies, dtype=np.int64),
    )


def _start(model: _Model, population: _Population) -> _Chains:
    """Start every chain at the typical values; refuse a model that cannot be solved there."""
    phi = np.broadcast_to(population.mu, (model.chains, model.n, len(population.mu))).copy()
    f = model.predict(phi)
    if np.isnan(f).any():
        raise SpecError(
            "parameters: the model cannot be solved at the initial values of "
            f"{', '.join(model.names)}; give other values"
        )
    return _Chains(phi, f, model.subject_ll(f, population.error))


def _sweep(
    model: _Model,
    population: _Population,
    chains: _Chains,
    rng: np.random.Generator,
    *,
    adapt: bool,
) -> None:
    """Run two sweeps from the population distribution and two random-walk sweeps."""
    omega = np.sqrt(population.omega2)
    for _ in range(2):
        proposal = population.mu + omega * rng.standard_normal(chains.phi.shape)
        _metropolis(model, population, chains, proposal, rng, prior_proposal=True)
    for _ in range(2):
        step = chains.scale * omega * rng.standard_normal(chains.phi.shape)
        rate = _metropolis(model, population, chains, chains.phi + step, rng)
        if adapt:
            chains.scale *= 1.0 + 0.4 * (rate - TARGET_ACCEPTANCE)
        chains.accepted = rate


def _metropolis(
    model: _Model,
    population: _Population,
    chains: _Chains,
    proposal: Array,
    rng: np.random.Generator,
    *,
    prior_proposal: bool = False,
) -> float:
    """Accept or reject ``proposal`` for every patient and chain; return the acceptance rate."""
    f = model.predict(proposal)
    ll = model.subject_ll(f, population.error)
    log_ratio = ll - chains.ll
    if not prior_proposal:
        log_ratio += population.log_prior(proposal) - population.log_prior(chains.phi)
    accept = np.log(rng.uniform(size=log_ratio.shape)) < log_ratio
    chains.phi[accept] = proposal[accept]
    chains.ll[accept] = ll[accept]
    observed = accept[:, model.observations.patient]
    chains.f[observed] = f[observed]
    return float(accept.mean())


def _closed_form_error(model: _Model, error: ResidualError) -> bool:
    return error.kind is not ErrorKind.COMBINED and not model.observations.blq.any()


def _statistics(model: _Model, population: _Population, chains: _Chains) -> Array:
    """Return the sufficient statistics of the chains (averaged over chains)."""
    phi = chains.phi
    s1 = phi.sum(axis=1).mean(axis=0)
    s2 = (phi**2).sum(axis=1).mean(axis=0)
    if _closed_form_error(model, population.error):
        residual = _residuals(model, population.error, chains.f)
        s3 = np.array([np.mean((residual**2).sum(axis=1))])
    else:
        s3 = np.log(_best_error(model, population.error, chains.f))
    return np.concatenate([s1, s2, s3])


def _residuals(model: _Model, error: ResidualError, f: Array) -> Array:
    """Return the (relative, for a proportional error) residuals of measured values."""
    measured = ~model.observations.blq
    y = model.observations.value[measured]
    pred = f[:, measured]
    if error.kind is ErrorKind.ADDITIVE:
        out: Array = y - pred
        return out
    out = (y - pred) / np.maximum(np.abs(pred), 1e-300)
    return out


def _best_error(model: _Model, error: ResidualError, f: Array) -> Array:
    """Return the error values that maximise the likelihood of predictions ``f``."""

    def cost(log_values: Array) -> float:
        candidate = error.with_values(np.exp(np.clip(log_values, -_LOG_LIMIT, _LOG_LIMIT)))
        ll = model.subject_ll(f, candidate)
        return float(-ll.sum()) if np.all(np.isfinite(ll)) else math.inf

    start = np.log(np.maximum(np.array(error.values), 1e-12))
    found = optimize.minimize(cost, start, method="Nelder-Mead", options={"xatol": 1e-4})
    out: Array = np.exp(found.x)
    return out


def _maximise(
    model: _Model, population: _Population, statistics: Array, *, anneal: bool
) -> _Population:
    """Return the population parameters maximising the expected complete likelihood."""
    d, n = len(population.mu), model.n
    mu = statistics[:d] / n
    omega2 = np.maximum(statistics[d : 2 * d] / n - mu**2, _MIN_VARIANCE)
    s3 = statistics[2 * d :]
    if _closed_form_error(model, population.error):
        values = np.sqrt(s3 / np.count_nonzero(~model.observations.blq))
    else:
        values = np.exp(s3)
    if anneal:
        omega2 = np.maximum(omega2, ANNEALING * population.omega2)
        values = np.maximum(values, math.sqrt(ANNEALING) * np.array(population.error.values))
    values = np.maximum(values, 1e-12)
    return _Population(mu, omega2, population.error.with_values(values))


def _draws_per_solve(model: _Model) -> int:
    return max(1, 2000 // model.n)


def _posterior(
    model: _Model,
    population: _Population,
    chains: _Chains,
    rng: np.random.Generator,
    n_iterations: int,
    tick: Callable[[], None],
) -> tuple[Array, Array, float]:
    """Run the chains at the estimates; return samples, Louis's information and acceptance.

    Samples have shape ``(n_iterations * chains, n, d)``.
    """
    samples, rates = [], []
    louis = _Louis(model, population)
    for _ in range(n_iterations):
        _sweep(model, population, chains, rng, adapt=False)
        samples.append(chains.phi.copy())
        rates.append(chains.accepted)
        louis.add(chains)
        tick()
    return np.concatenate(samples), louis.information(), float(np.mean(rates))


class _Louis:
    """Louis's formula per patient, accumulated over posterior samples.

    The parameters are ``(log θ, log ω, log sigma)``; the information is
    ``-Σ_i (E[H_i] + E[g_i g_iᵀ] - E[g_i] E[g_i]ᵀ)`` with ``g_i`` and ``H_i`` the
    gradient and Hessian of patient ``i``'s complete-data log-likelihood.
    """

    def __init__(self, model: _Model, population: _Population) -> None:
        self.model, self.population = model, population
        d, e = len(population.mu), len(population.error.values)
        self.size = 2 * d + e
        n = model.n
        self.count = 0
        self.g = np.zeros((n, self.size))
        self.gg = np.zeros((n, self.size, self.size))
        self.h = np.zeros((n, self.size, self.size))

    def add(self, chains: _Chains) -> None:
        for phi, f in zip(chains.phi, chains.f, strict=True):
            g, h = self._derivatives(phi, f)
            self.g += g
            self.gg += g[:, :, None] * g[:, None, :]
            self.h += h
            self.count += 1

    def _derivatives(self, phi: Array, f: Array) -> tuple[Array, Array]:
        p, d = self.population, len(self.population.mu)
        n = phi.shape[0]
        r = (phi - p.mu) / np.sqrt(p.omega2)
        g = np.zeros((n, self.size))
        h = np.zeros((n, self.size, self.size))
        diag = np.arange(d)
        g[:, :d] = r / np.sqrt(p.omega2)
        g[:, d : 2 * d] = r**2 - 1.0
        h[:, diag, diag] = -1.0 / p.omega2
        h[:, diag, diag + d] = h[:, diag + d, diag] = -2.0 * r / np.sqrt(p.omega2)
        h[:, diag + d, diag + d] = -2.0 * r**2
        g_err, h_err = _error_derivatives(self.model, p.error, f)
        g[:, 2 * d :] = g_err
        h[:, 2 * d :, 2 * d :] = h_err
        return g, h

    def information(self) -> Array:
        mean_g = self.g / self.count
        variance = self.gg / self.count - mean_g[:, :, None] * mean_g[:, None, :]
        out: Array = -(self.h / self.count + variance).sum(axis=0)
        return out


def _error_derivatives(
    model: _Model, error: ResidualError, f: Array, step: float = 1e-4
) -> tuple[Array, Array]:
    """Return each patient's gradient and Hessian in ``log sigma`` by central differences."""
    base = np.log(np.array(error.values))
    e = len(base)

    def ll(shift: Array) -> Array:
        out: Array = model.subject_ll(f[None, :], error.with_values(np.exp(base + shift)))[0]
        return out

    centre = ll(np.zeros(e))
    unit = np.eye(e) * step
    plus = [ll(unit[a]) for a in range(e)]
    minus = [ll(-unit[a]) for a in range(e)]
    g = np.stack([(plus[a] - minus[a]) / (2 * step) for a in range(e)], axis=1)
    h = np.empty((len(centre), e, e))
    for a in range(e):
        h[:, a, a] = (plus[a] - 2 * centre + minus[a]) / step**2
        for b in range(a + 1, e):
            both = ll(unit[a] + unit[b]) - plus[a] - plus[b] + centre
            h[:, a, b] = h[:, b, a] = both / step**2
    return g, h


def _importance(
    model: _Model,
    population: _Population,
    samples: Array,
    rng: np.random.Generator,
    n_draws: int,
    tick: Callable[[], None],
) -> tuple[float, float]:
    """Return -2 log-likelihood by importance sampling and its Monte-Carlo SD."""
    centre = samples.mean(axis=0)
    omega = np.sqrt(population.omega2)
    spread = np.maximum(samples.std(axis=0), 0.05 * omega)
    weights = []
    per_solve = _draws_per_solve(model)
    for start in range(0, n_draws, per_solve):
        copies = min(per_solve, n_draws - start)
        z = rng.standard_t(STUDENT_DF, size=(copies, *centre.shape))
        phi = centre + spread * z
        log_q = (stats.t.logpdf(z, STUDENT_DF) - np.log(spread)).sum(axis=-1)
        ll = model.subject_ll(model.predict(phi), population.error)
        weights.append(ll + population.log_prior(phi) - log_q)
        tick()
    w = np.concatenate(weights)
    per_subject = logsumexp(w, axis=0) - math.log(n_draws)
    ratio = np.exp(w - per_subject)
    variance = (ratio.var(axis=0) / n_draws).sum()
    return float(-2.0 * per_subject.sum()), float(2.0 * math.sqrt(variance))


def _converged(trajectory: Array, k1: int, information: Array) -> bool:
    """Whether the exploration phase had settled and the information is positive definite.

    Fewer than 8 exploration iterations are too few to tell: not converged.
    """
    finite = np.all(np.isfinite(trajectory) & (trajectory > 0)) and np.all(np.isfinite(information))
    if k1 < 8 or not finite:
        return False
    quarter = k1 // 4
    logs = np.log(trajectory[1 : k1 + 1])
    change = logs[-quarter:].mean(axis=0) - logs[-2 * quarter : -quarter].mean(axis=0)
    try:
        np.linalg.cholesky(information)
    except np.linalg.LinAlgError:
        return False
    return bool(np.all(np.abs(change) <= CONVERGENCE_TOLERANCE))


def _result(
    model: _Model,
    population: _Population,
    samples: Array,
    information: Array,
    trajectory: Array,
    *,
    objective: tuple[float, float],
    iterations: tuple[int, int],
    acceptance: float,
) -> PopulationFit:
    try:
        covariance: Array = np.asarray(np.linalg.inv(information), dtype=float)
        if np.any(np.diag(covariance) < 0):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        covariance = np.full_like(information, np.nan)
    theta = np.exp(population.mu)
    omega = np.sqrt(population.omega2)
    return PopulationFit(
        parameters=model.names,
        theta={p: float(v) for p, v in zip(model.names, theta, strict=True)},
        omega={p: float(v) for p, v in zip(model.names, omega, strict=True)},
        error=population.error,
        objective=objective[0],
        objective_sd=objective[1],
        converged=_converged(trajectory, iterations[0], information),
        eta=samples.mean(axis=0) - population.mu,
        covariance=covariance,
        n_observations=len(model.observations),
        n_subjects=model.n,
        n_iterations=iterations,
        n_chains=model.chains,
        acceptance=acceptance,
        trajectory=trajectory,
    )
