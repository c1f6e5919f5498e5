"""Calibrate the organ model on animal biodistribution data, and check the fit.

:func:`predict` simulates every observation of
:func:`mscsim.evidence.calibration.calibration_data` (one dose in one animal,
autologous cells, so no immune response) and :func:`fold_errors` says how far
each prediction is from its observation: 1 when an equality holds exactly or a
bound holds, otherwise the factor by which it is missed. :func:`calibrate`
fits chosen parameters in log space (scipy's ``least_squares``), within each
parameter's plausible range, with a weak pull towards the library value so that
parameters the data cannot see stay where the library puts them.

Examples
--------
>>> from mscsim.evidence.calibration import calibration_data
>>> data = calibration_data()
>>> errors = fold_errors(data, predict(data))
>>> bool(errors.min() >= 1.0)
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from mscsim.engine.solvers import FastSolver
from mscsim.errors import SpecError
from mscsim.evidence.calibration import Observation
from mscsim.evidence.library import load_library
from mscsim.models.base import Array
from mscsim.problem.build import problem_from_scenario
from mscsim.problem.problem import Problem, solve
from mscsim.spec.scenario import Scenario

__all__ = [
    "FITTED_PARAMETERS",
    "CalibrationFit",
    "calibrate",
    "fold_errors",
    "predict",
    "residual_table",
]

FITTED_PARAMETERS: tuple[str, ...] = (
    "pbk_lung_half_life_days",
    "pbk_lung_release_fraction",
    "indium_111_remnant_fraction",
    "indium_111_liver_uptake_fraction",
    "indium_111_free_half_life_days",
)
"""The organ-model parameters fitted on the animal data (``scripts/calibrate_organs.py``);
every other organ and label parameter is guessed, and flows and volumes are scaled."""

PRIOR_WEIGHT = 0.05
"""Weight of the pull towards the library value, per log-range of the parameter."""

LOWEST_SHARE = 1e-3
"""A plausible range that starts at 0 is searched from this share of its upper end."""

_Group = tuple[str, float, str, float, str | None]


def _group_key(o: Observation) -> _Group:
    return (o.species, o.weight_kg, o.route, o.dose_cells, o.label)


def _problem(key: _Group, times: Sequence[float]) -> Problem:
    """Return the one-animal problem of an observation group at ``times``."""
    species, weight, route, cells, label = key
    raw: dict[str, Any] = {
        "patient": {"species": species, "weight_kg": weight},
        "product": {"source": "bone_marrow", "donor": "autologous", "viability": 1.0},
        "dose": [{"route": route, "cells": cells, "day": 0.0}],
        "simulation": {"horizon_days": max(times), "output_every_days": max(times)},
        "model": {"kinetics": "organs"},
    }
    if label is not None:
        raw["label"] = {"kind": label}
    problem = problem_from_scenario(Scenario.model_validate(raw))
    return problem.with_times(np.array(sorted(set(times))))


def _times(observations: Sequence[Observation]) -> list[float]:
    times = [o.time_day for o in observations]
    return times + [o.ref_day for o in observations if o.ref_day is not None]


@dataclass(frozen=True)
class _Plan:
    """Observation groups, each with its problem (built once per fit)."""

    groups: tuple[tuple[Problem, tuple[int, ...]], ...]

    @classmethod
    def of(cls, observations: Sequence[Observation]) -> _Plan:
        keys: dict[_Group, list[int]] = {}
        for i, o in enumerate(observations):
            keys.setdefault(_group_key(o), []).append(i)
        groups = tuple(
            (_problem(key, _times([observations[i] for i in rows])), tuple(rows))
            for key, rows in keys.items()
        )
        return cls(groups)


def _value(
    o: Observation, times: Array, outputs: Mapping[str, Array], name: str, t: float
) -> float:
    if name not in outputs:
        raise SpecError(f"{o.id}: quantity = {name!r} is not an output of the organ model")
    value = float(outputs[name][0, int(np.searchsorted(times, t))])
    return value / o.dose_cells if name.startswith("cells_") else value


def _observe(o: Observation, times: Array, outputs: Mapping[str, Array]) -> float:
    value = _value(o, times, outputs, o.quantity, o.time_day)
    if o.over is not None:
        value /= _value(o, times, outputs, o.over, o.time_day)
    if o.ref_day is not None:
        value /= _value(o, times, outputs, o.quantity, o.ref_day)
    return value


def predict(
    observations: Sequence[Observation],
    parameters: Mapping[str, float] | None = None,
    *,
    plan: _Plan | None = None,
) -> Array:
    """Return the organ model's value of each observation; ``parameters`` override defaults."""
    plan = plan or _Plan.of(observations)
    parameters = dict(parameters or {})
    known = set().union(*(problem.params for problem, _ in plan.groups))
    for name in parameters.keys() - known:
        raise SpecError(f"parameters.{name}: not a parameter of the organ model")
    out = np.full(len(observations), np.nan)
    solver = FastSolver()
    for problem, rows in plan.groups:
        params = dict(problem.params)  # a label's parameters only where it is used
        params.update({k: np.array([float(v)]) for k, v in parameters.items() if k in params})
        result = solve(replace(problem, params=params), solver)
        for i in rows:
            out[i] = _observe(observations[i], result.times_day, result.outputs)
    return out


def _log_misses(observations: Sequence[Observation], predicted: Array) -> Array:
    """Return ``log(predicted / value)``, 0 where a bound holds (signed)."""
    miss = np.log(np.maximum(predicted, 1e-300)) - np.log([o.value for o in observations])
    for i, o in enumerate(observations):
        if (o.relation == "<=" and miss[i] <= 0) or (o.relation == ">=" and miss[i] >= 0):
            miss[i] = 0.0
    return miss


def fold_errors(observations: Sequence[Observation], predicted: Array) -> Array:
    """Return the factor by which each observation is missed (1 when met)."""
    return np.exp(np.abs(_log_misses(observations, predicted)))


@dataclass(frozen=True)
class CalibrationFit:
    """The result of :func:`calibrate`.

    Attributes
    ----------
    names : tuple of str
    initial, estimates : dict of str to float
    predicted : ndarray
        Each observation's value at the estimates.
    fold_errors : ndarray
    success : bool
    message : str
    """

    names: tuple[str, ...]
    initial: dict[str, float]
    estimates: dict[str, float]
    observations: tuple[Observation, ...]
    predicted: Array
    fold_errors: Array
    success: bool
    message: str

    def to_frame(self) -> pd.DataFrame:
        """Return one row per fitted parameter: library value, estimate, plausible range."""
        library = load_library()
        return pd.DataFrame(
            {
                "parameter": list(self.names),
                "library": [self.initial[n] for n in self.names],
                "estimate": [self.estimates[n] for n in self.names],
                "plausible_low": [library.get(n).plausible[0] for n in self.names],
                "plausible_high": [library.get(n).plausible[1] for n in self.names],
            }
        )


def calibrate(
    observations: Sequence[Observation],
    names: Sequence[str],
    *,
    start: Mapping[str, float] | None = None,
    prior_weight: float = PRIOR_WEIGHT,
) -> CalibrationFit:
    """Fit ``names`` to ``observations`` in log space within their plausible ranges.

    Parameters
    ----------
    observations : sequence of Observation
    names : sequence of str
        Library parameters of the organ model with a plausible range > 0.
    start : mapping, optional
        Starting values (default: the library's).
    prior_weight : float
        Pull towards the library value per log-range (0: none).

    Returns
    -------
    CalibrationFit
    """
    from scipy.optimize import least_squares

    library = load_library()
    initial = {n: float((start or {}).get(n, library.get(n).value)) for n in names}
    ranges = np.array([library.get(n).plausible for n in names], dtype=float)
    # A range from 0 (a share that may be nothing) is searched from a thousandth of its top.
    low = np.log(np.maximum(ranges[:, 0], LOWEST_SHARE * ranges[:, 1]))
    high = np.log(ranges[:, 1])
    if np.any(~np.isfinite(low)) or np.any(high <= low):
        raise SpecError(f"names = {list(names)}: each needs a finite plausible range above 0")
    centre = np.log([library.get(n).value for n in names])
    x0 = np.clip(np.log(list(initial.values())), low + 1e-9, high - 1e-9)
    plan = _Plan.of(observations)

    def residuals(x: Array) -> Array:
        values = dict(zip(names, np.exp(x), strict=True))
        misses = _log_misses(observations, predict(observations, values, plan=plan))
        prior = prior_weight * (x - centre) / (high - low)
        return np.concatenate([misses, prior])

    fit = least_squares(residuals, x0, bounds=(low, high), x_scale=high - low, diff_step=1e-4)
    estimates = dict(zip(names, (float(v) for v in np.exp(fit.x)), strict=True))
    predicted = predict(observations, estimates, plan=plan)
    return CalibrationFit(
        names=tuple(names),
        initial=initial,
        estimates=estimates,
        observations=tuple(observations),
        predicted=predicted,
        fold_errors=fold_errors(observations, predicted),
        success=bool(fit.success),
        message=str(fit.message),
    )


def residual_table(observations: Sequence[Observation], predicted: Array) -> pd.DataFrame:
    """Return one row per observation: what was seen, what the model gives, the fold miss."""
    errors = fold_errors(observations, predicted)

    def quantity(o: Observation) -> str:
        text = o.quantity if o.over is None else f"{o.quantity} / {o.over}"
        return text if o.ref_day is None else f"{text} (vs day {o.ref_day:g})"

    return pd.DataFrame(
        {
            "observation": [o.id for o in observations],
            "species": [o.species for o in observations],
            "label": [o.label or "viable" for o in observations],
            "day": [o.time_day for o in observations],
            "quantity": [quantity(o) for o in observations],
            "observed": [f"{o.relation} {o.value:g}" for o in observations],
            "model": predicted,
            "fold_miss": errors,
            "source": [o.source for o in observations],
        }
    )
