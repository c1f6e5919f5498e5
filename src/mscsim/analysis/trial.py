"""Virtual clinical trials: replicate a two-arm trial many times and count rejections.

For each arm, ``replicates x n`` virtual patients are drawn from the arm
scenario's population (its seed replaced by one derived from the trial seed and
the arm), simulated in chunks, and observed at the visit days with rating error.
Every patient's endpoint is its change from baseline at ``endpoint.day``, plus a
placebo response shared by both arms (a blinded trial). Patients drop out
completely at random. Each replicate is analysed by ANCOVA (change ~ arm +
observed baseline, OLS) or Welch's t-test, treated minus control; power is the
share of replicates that reject at ``alpha``.

All draws are keyed by patient id, so a replicate's numbers do not depend on
chunking or on Dask. Nothing here knows whether the treatment works: a placebo
against placebo trial rejects at about ``alpha`` (tested).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from mscsim.engine.solvers import FastSolver, Solver
from mscsim.errors import SpecError
from mscsim.models.base import Model
from mscsim.population.run import simulate_population
from mscsim.population.sample import deviates
from mscsim.problem.build import default_model
from mscsim.problem.executors import Executor
from mscsim.spec.population import PopulationSpec
from mscsim.spec.scenario import Scenario
from mscsim.spec.trial import Arm, TrialSpec

__all__ = [
    "MAX_TRIAL_BYTES",
    "TrialResult",
    "TrialSummary",
    "analyse_replicate",
    "check_trial_size",
    "power_curve",
    "run_trial",
]

MAX_TRIAL_BYTES = 4 * 2**30
"""Largest in-memory size of a trial's patients (4 GiB); larger trials are refused."""


@dataclass(frozen=True)
class TrialSummary:
    """The figures of a simulated trial (what ``summary.json`` holds, same keys).

    Attributes
    ----------
    power : float
        Share of replicates that reject at ``alpha``.
    effect_estimate, ci_low, ci_high : float
        Mean over replicates of the estimate (treated - control) and its CI.
    true_effect : float
        Mean of each patient's endpoint against its own untreated course, treated
        arm minus control arm.
    replicates : int
    n_per_arm : dict of str to int
    treated, control : str
        Arm names.
    alpha : float
    analysis : str
        ``"ancova"`` or ``"welch"``.
    endpoint : str
        The endpoint in words.
    seed : int
    dropout : float
    safety_per_replicate : dict
        Per arm: ``infusions``, ``fevers``, ``serious_events`` per replicate.
    n_treated_for_80_percent_power : float or None
        A t-test calculation from the simulated effect and SD.
    """

    power: float
    effect_estimate: float
    ci_low: float
    ci_high: float
    true_effect: float
    replicates: int
    n_per_arm: dict[str, int]
    treated: str
    control: str
    alpha: float
    analysis: str
    endpoint: str
    seed: int
    dropout: float
    safety_per_replicate: dict[str, dict[str, float]]
    n_treated_for_80_percent_power: float | None

    def to_dict(self) -> dict[str, Any]:
        """Return the figures as a dict (the keys of ``summary.json``)."""
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        """Return one row per figure (``name``, ``value``), safety counts flattened."""
        rows = [(k, v) for k, v in self.to_dict().items() if not isinstance(v, dict)]
        rows += [(f"n_per_arm.{k}", v) for k, v in self.n_per_arm.items()]
        rows += [
            (f"safety_per_replicate.{arm}.{k}", v)
            for arm, counts in self.safety_per_replicate.items()
            for k, v in counts.items()
        ]
        return pd.DataFrame(rows, columns=["name", "value"])


@dataclass(frozen=True)
class TrialResult:
    """Patients, replicates and the summary of a simulated trial.

    Attributes
    ----------
    patients : DataFrame
        One row per patient per replicate: ``replicate, arm, patient, infusions,
        fevers, serious_events, dropped, baseline_true, endpoint_true,
        baseline_observed, endpoint_observed, change``.
    replicates : DataFrame
        One row per replicate: ``replicate, estimate, ci_low, ci_high, p_value,
        rejected, n_treated, n_control``.
    summary : TrialSummary
    """

    patients: pd.DataFrame
    replicates: pd.DataFrame
    summary: TrialSummary

    def to_frame(self) -> pd.DataFrame:
        """Return the replicates table (:attr:`replicates`)."""
        return self.replicates


def check_trial_size(
    spec: TrialSpec, *, replicates: int | None = None, n_per_arm: int | None = None
) -> None:
    """Refuse, before any work, a trial whose patients would not fit in memory.

    Every replicate's patients are held at once: their true and observed courses at
    the visits, the random deviates of ratings and safety events, and one table row,
    about ``8 * (5 * visits + 2 * infusions + 24)`` bytes per patient.

    Raises
    ------
    SpecError
        Naming ``trial.replicates``, with the memory needed and the limit.
    """
    r = spec.trial.replicates if replicates is None else replicates
    if r < 1:
        raise SpecError(f"trial.replicates = {r}: must be >= 1")
    visits = _visits(spec).size
    need = 0
    for arm in spec.arm:
        n = arm.n if n_per_arm is None else n_per_arm
        infusions = len(arm.scenario.regimen.expand())
        need += 8 * r * n * (5 * visits + 2 * infusions + 24)
    if need > MAX_TRIAL_BYTES:
        patients = sum(arm.n if n_per_arm is None else n_per_arm for arm in spec.arm)
        raise SpecError(
            f"trial.replicates = {r}: {r:,} replicates of {patients:,} patients need about "
            f"{need / 2**30:.1f} GiB, more than the {MAX_TRIAL_BYTES / 2**30:.0f} GiB a trial "
            "may hold; use fewer replicates or patients"
        )


def _check_endpoint(spec: TrialSpec, model: Model | None) -> None:
    """Refuse an endpoint output that an arm's model does not have, before any work."""
    output = spec.endpoint.output
    for i, arm in enumerate(spec.arm):
        names = (model or default_model(arm.scenario)).output_names
        if output not in names:
            raise SpecError(
                f"endpoint.output = {output!r}: not an output of arm[{i}]'s model; "
                f"one of {', '.join(names)}"
            )


def _arm_seed(seed: int, arm: int, stream: int) -> int:
    """Return a seed for one arm and purpose, derived from the trial seed."""
    state = np.random.SeedSequence([seed, arm, stream]).generate_state(1, dtype=np.uint64)[0]
    return int(state >> np.uint64(1))


def _arm_scenario(
    arm: Arm, seed: int, n_patients: int, *, untreated: bool = False
) -> tuple[Scenario, int]:
    """Return the arm's scenario for ``n_patients`` with its population seeded, and infusions.

    ``untreated``: the same patients without any dose (their counterfactual course).
    """
    scenario = arm.scenario
    infusions = len(scenario.regimen.expand())
    population = scenario.population or PopulationSpec(seed=seed)
    simulation = scenario.simulation.model_copy(update={"n_patients": n_patients})
    update: dict[str, object] = {
        "population": population.model_copy(update={"seed": seed}),
        "simulation": simulation,
    }
    if arm.placebo or untreated:
        update["dose"] = ()
    return scenario.model_copy(update=update), infusions


@dataclass(frozen=True)
class _Run:
    """How a trial's patients are simulated: model, solver, executor and progress."""

    model: Model | None
    solver: Solver
    executor: Executor | None
    progress: Callable[[int, int], None] | None


def _visits(spec: TrialSpec) -> NDArray[np.float64]:
    days = {0.0, float(spec.endpoint.day), *spec.trial.visit_days}
    return np.array(sorted(days))


def _true_courses(
    spec: TrialSpec,
    index: int,
    n_patients: int,
    visits: NDArray[np.float64],
    *,
    untreated: bool = False,
    run: _Run,
) -> tuple[NDArray[np.float64], int]:
    """Return the arm's true endpoint output at the visits, ``(n_patients, n_visits)``."""
    arm = spec.arm[index]
    seed = _arm_seed(spec.trial.seed, index, 0)
    scenario, infusions = _arm_scenario(arm, seed, n_patients, untreated=untreated)
    # Simulate to the scenario's horizon too, so that every dose lies within the run.
    times = np.union1d(visits, [scenario.simulation.horizon_days])
    at_visits = np.searchsorted(times, visits)
    true = [  # only the visits of each chunk are kept (a copy), not the chunk
        chunk.result.output(spec.endpoint.output)[:, at_visits]
        for chunk in simulate_population(
            scenario,
            model=run.model,
            solver=run.solver,
            executor=run.executor,
            times_day=times,
            progress=run.progress,
        )
    ]
    return np.concatenate(true), infusions


def _simulate_arm(
    spec: TrialSpec,
    index: int,
    replicates: int,
    n: int,
    run: _Run,
) -> pd.DataFrame:
    arm = spec.arm[index]
    seed = spec.trial.seed
    visits = _visits(spec)

    def courses(untreated: bool) -> tuple[NDArray[np.float64], int]:
        return _true_courses(
            spec,
            index,
            replicates * n,
            visits,
            untreated=untreated,
            run=run,
        )

    values, infusions = courses(untreated=False)
    untreated = values if arm.placebo else courses(untreated=True)[0]
    ids = np.arange(replicates * n, dtype=np.int64)
    v = visits.size
    z = deviates(_arm_seed(seed, index, 1), ids, 2 * v + 2 + 2 * infusions)
    m = spec.measurement
    observed = values * (1 + m.proportional_cv * z[:, :v]) + m.additive_sd * z[:, v : 2 * v]
    end = int(np.searchsorted(visits, spec.endpoint.day))
    u = stats.norm.cdf(z[:, 2 * v + 1 :])
    dropped = u[:, 0] < spec.trial.dropout
    placebo = spec.placebo.mean + spec.placebo.sd * z[:, 2 * v]
    safety = spec.safety
    fever_p = safety.fever_per_infusion / (safety.fever_relative_risk if arm.placebo else 1.0)
    events = u[:, 1:]
    frame = pd.DataFrame(
        {
            "replicate": ids // n,
            "arm": arm.name,
            "patient": ids % n,
            "infusions": infusions,
            "fevers": (events[:, :infusions] < fever_p).sum(axis=1),
            "serious_events": (events[:, infusions:] < safety.sae_per_infusion).sum(axis=1),
            "dropped": dropped,
            "baseline_true": values[:, 0],
            "endpoint_true": values[:, end],
            "endpoint_untreated": untreated[:, end],
            "baseline_observed": observed[:, 0],
            "endpoint_observed": observed[:, end] + placebo,
        }
    )
    frame["change"] = frame["endpoint_observed"] - frame["baseline_observed"]
    return frame


def analyse_replicate(
    change_treated: NDArray[np.float64],
    change_control: NDArray[np.float64],
    baseline_treated: NDArray[np.float64],
    baseline_control: NDArray[np.float64],
    *,
    analysis: str,
    alpha: float,
) -> dict[str, float]:
    """Return estimate (treated - control), its CI at ``1 - alpha`` and the p-value.

    ``ancova``: OLS of change on arm and baseline (statsmodels); ``welch``: Welch's
    t-test on the changes (scipy). NaN when an arm has fewer than two patients.
    """
    nt, nc = change_treated.size, change_control.size
    out = {"estimate": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p_value": math.nan}
    if nt < 2 or nc < 2:
        return out
    if analysis == "welch":
        res = stats.ttest_ind(change_treated, change_control, equal_var=False)
        ci = res.confidence_interval(1 - alpha)
        estimate = float(change_treated.mean() - change_control.mean())
        return {
            "estimate": estimate,
            "ci_low": float(ci.low),
            "ci_high": float(ci.high),
            "p_value": float(res.pvalue),
        }
    import statsmodels.api as sm  # type: ignore[import-untyped]

    y = np.concatenate([change_treated, change_control])
    arm = np.concatenate([np.ones(nt), np.zeros(nc)])
    base = np.concatenate([baseline_treated, baseline_control])
    x = sm.add_constant(np.column_stack([arm, base]), has_constant="add")
    fit = sm.OLS(y, x).fit()
    low, high = fit.conf_int(alpha)[1]
    return {
        "estimate": float(fit.params[1]),
        "ci_low": float(low),
        "ci_high": float(high),
        "p_value": float(fit.pvalues[1]),
    }


def run_trial(
    spec: TrialSpec,
    *,
    replicates: int | None = None,
    seed: int | None = None,
    n_per_arm: int | None = None,
    model: Model | None = None,
    solver: Solver | None = None,
    executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TrialResult:
    """Simulate ``spec``'s trial ``replicates`` times and analyse every replicate.

    Parameters
    ----------
    spec : TrialSpec
    replicates, seed, n_per_arm : int, optional
        Override the file (``n_per_arm``: every arm's size).
    model : Model, optional
        Any model with the endpoint output (default: each arm scenario's
        :class:`~mscsim.models.TherapyModel`).
    solver : Solver, optional
        Default :class:`~mscsim.engine.FastSolver` with ``trial.max_step_day``.
    executor : Executor, optional
        Where the arms' population chunks run (default in process).
    progress : callable, optional
        Called as ``progress(done, total)`` after each chunk.
    """
    settings = spec.trial.model_copy(
        update={k: v for k, v in (("replicates", replicates), ("seed", seed)) if v is not None}
    )
    if n_per_arm is not None:
        if n_per_arm < 2:
            raise SpecError(f"n per arm = {n_per_arm}: must be >= 2")
        arms = tuple(a.model_copy(update={"n": n_per_arm}) for a in spec.arm)
        spec = spec.model_copy(update={"arm": arms})
    spec = spec.model_copy(update={"trial": settings})
    _check_endpoint(spec, model)
    check_trial_size(spec)
    r = settings.replicates
    solver = FastSolver(max_step_day=settings.max_step_day) if solver is None else solver
    run = _Run(model, solver, executor, progress)
    frames = [_simulate_arm(spec, i, r, arm.n, run) for i, arm in enumerate(spec.arm)]
    patients = pd.concat(frames, ignore_index=True)
    treated, control = spec.treated.name, spec.control.name
    kept = patients[~patients["dropped"]]
    groups = dict(list(kept.groupby(["replicate", "arm"], sort=False)))
    rows = []
    empty = kept.iloc[:0]
    for rep in range(r):
        t = groups.get((rep, treated), empty)
        c = groups.get((rep, control), empty)
        result = analyse_replicate(
            t["change"].to_numpy(),
            c["change"].to_numpy(),
            t["baseline_observed"].to_numpy(),
            c["baseline_observed"].to_numpy(),
            analysis=settings.analysis,
            alpha=settings.alpha,
        )
        rows.append(
            {
                "replicate": rep,
                **result,
                "rejected": bool(result["p_value"] < settings.alpha),
                "n_treated": len(t),
                "n_control": len(c),
            }
        )
    table = pd.DataFrame(rows)
    # Each patient's effect against its own untreated course: no between-patient noise.
    own_effect = patients["endpoint_true"] - patients["endpoint_untreated"]
    by_arm = own_effect.groupby(patients["arm"]).mean()
    counts = patients.groupby("arm")[["infusions", "fevers", "serious_events"]].sum() / r
    safety = {
        str(arm): {str(k): float(v) for k, v in row.items()} for arm, row in counts.iterrows()
    }
    n80 = _n_for_power(kept, treated, control, float(by_arm[treated] - by_arm[control]), spec)
    summary = TrialSummary(
        power=float(table["rejected"].mean()),
        effect_estimate=float(table["estimate"].mean()),
        ci_low=float(table["ci_low"].mean()),
        ci_high=float(table["ci_high"].mean()),
        true_effect=float(by_arm[treated] - by_arm[control]),
        replicates=r,
        n_per_arm={a.name: a.n for a in spec.arm},
        treated=treated,
        control=control,
        alpha=settings.alpha,
        analysis=settings.analysis,
        endpoint=f"change in {spec.endpoint.output} from day 0 to day {spec.endpoint.day:g}",
        seed=settings.seed,
        dropout=settings.dropout,
        safety_per_replicate=safety,
        n_treated_for_80_percent_power=n80,
    )
    return TrialResult(patients, table, summary)


def _n_for_power(
    kept: pd.DataFrame, treated: str, control: str, effect: float, spec: TrialSpec
) -> float | None:
    """Return the treated-arm size for 80% power (control in the same ratio), or None.

    None when there is no effect or spread, or when no size reaches 80% power.

    A normal-approximation t-test power calculation (statsmodels ``TTestIndPower``)
    with the simulated true effect and the pooled SD of the observed change; it
    ignores ANCOVA's baseline adjustment, so it is conservative for ``ancova``.
    """
    from statsmodels.stats.power import TTestIndPower  # type: ignore[import-untyped]

    sd = float(np.sqrt(kept.groupby("arm")["change"].var().mean()))
    if not (sd > 0 and abs(effect) > 0):
        return None
    from statsmodels.tools.sm_exceptions import ConvergenceWarning  # type: ignore[import-untyped]

    ratio = spec.control.n / spec.treated.n
    with warnings.catch_warnings():
        # No size reaches 80% power for a tiny effect: the root finder gives up (NaN).
        warnings.simplefilter("ignore", ConvergenceWarning)
        n = TTestIndPower().solve_power(
            effect_size=abs(effect) / sd, alpha=spec.trial.alpha, power=0.8, ratio=ratio
        )
    n = float(np.ravel(n)[0])
    return float(np.ceil(n)) if math.isfinite(n) else None


def power_curve(
    spec: TrialSpec,
    n_per_arm: Sequence[int],
    *,
    replicates: int | None = None,
    seed: int | None = None,
    model: Model | None = None,
    solver: Solver | None = None,
    executor: Executor | None = None,
) -> pd.DataFrame:
    """Return power (with its binomial standard error) against the size of every arm.

    ``model``, ``solver`` and ``executor`` are as in :func:`run_trial`.
    """
    check_trial_size(spec, replicates=replicates, n_per_arm=max(n_per_arm, default=2))
    rows = []
    for n in n_per_arm:
        result = run_trial(
            spec,
            replicates=replicates,
            seed=seed,
            n_per_arm=int(n),
            model=model,
            solver=solver,
            executor=executor,
        )
        power = result.summary.power
        reps = result.summary.replicates
        rows.append(
            {
                "n_per_arm": int(n),
                "power": power,
                "power_se": math.sqrt(power * (1 - power) / reps),
                "effect_estimate": result.summary.effect_estimate,
            }
        )
    return pd.DataFrame(rows)
