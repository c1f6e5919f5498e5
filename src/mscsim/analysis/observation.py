"""Residual error of an observation: additive, proportional or combined, with censoring.

A measured value ``y`` of a model prediction ``f`` is ``y = f + e`` with
``e ~ Normal(0, sd(f))``:

- additive: ``sd = a``;
- proportional: ``sd = b |f|``;
- combined: ``sd = sqrt(a^2 + (b f)^2)``.

A value below the lower limit of quantification (``blq``) contributes the
probability of being below it, ``Phi((lloq - f) / sd)`` (Beal's M3), not a
density, and is never dropped (Beal 2001, J Pharmacokinet Pharmacodyn 28:481).
A proportional error needs ``f > 0``; where the model predicts 0 the standard
deviation falls back to :data:`SD_FLOOR` of the observation's scale, so an
observation of a value where the model predicts none is very unlikely, not
impossible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy.special import log_ndtr

from mscsim.errors import SpecError
from mscsim.models.base import Array
from mscsim.problem.data import Observations

__all__ = ["ErrorKind", "ResidualError", "log_likelihood_terms", "minus_two_log_likelihood"]

SD_FLOOR = 1e-9
"""Smallest standard deviation, relative to the largest observed value (or 1)."""

_LOG_2PI = math.log(2.0 * math.pi)


class ErrorKind(StrEnum):
    """Form of the residual error."""

    ADDITIVE = "additive"
    PROPORTIONAL = "proportional"
    COMBINED = "combined"


@dataclass(frozen=True)
class ResidualError:
    """A residual error model.

    Parameters
    ----------
    kind : ErrorKind
    additive : float
        ``a``, in the unit of the observation (additive and combined).
    proportional : float
        ``b``, a fraction (proportional and combined; 0.2 = 20% CV).

    Examples
    --------
    >>> ResidualError("combined", additive=3.0, proportional=0.1).sd(np.array([40.0]))
    array([5.])
    """

    kind: ErrorKind = ErrorKind.PROPORTIONAL
    additive: float = 0.0
    proportional: float = 0.2

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ErrorKind(self.kind))
        for name in ("additive", "proportional"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise SpecError(f"error.{name} = {value!r}: must be a finite number >= 0")
        needs = {
            ErrorKind.ADDITIVE: ("additive",),
            ErrorKind.PROPORTIONAL: ("proportional",),
            ErrorKind.COMBINED: ("additive", "proportional"),
        }[self.kind]
        if not any(getattr(self, n) > 0 for n in needs):
            raise SpecError(f"error = {self.kind.value}: needs {' or '.join(needs)} > 0")

    @property
    def names(self) -> tuple[str, ...]:
        """The error parameters this kind estimates (``sigma_add``, ``sigma_prop``)."""
        return {
            ErrorKind.ADDITIVE: ("sigma_add",),
            ErrorKind.PROPORTIONAL: ("sigma_prop",),
            ErrorKind.COMBINED: ("sigma_add", "sigma_prop"),
        }[self.kind]

    @property
    def values(self) -> tuple[float, ...]:
        """The values of :attr:`names`."""
        table = {"sigma_add": self.additive, "sigma_prop": self.proportional}
        return tuple(table[n] for n in self.names)

    def with_values(self, values: tuple[float, ...] | Array) -> ResidualError:
        """Return this kind of error with :attr:`names` set to ``values``."""
        table = dict(zip(self.names, (float(v) for v in values), strict=True))
        return ResidualError(
            self.kind,
            additive=table.get("sigma_add", self.additive),
            proportional=table.get("sigma_prop", self.proportional),
        )

    def sd(self, predicted: Array, *, floor: float = 0.0) -> Array:
        """Return the standard deviation at each prediction (at least ``floor``)."""
        f = np.abs(predicted)
        if self.kind is ErrorKind.ADDITIVE:
            sd = np.full_like(f, self.additive)
        elif self.kind is ErrorKind.PROPORTIONAL:
            sd = self.proportional * f
        else:
            sd = np.hypot(self.additive, self.proportional * f)
        out: Array = np.maximum(sd, floor)
        return out


def log_likelihood_terms(
    observations: Observations, predicted: Array, error: ResidualError
) -> Array:
    """Return each observation's log-likelihood: a Normal density, or M3 below the limit.

    ``predicted`` has one value per observation (:meth:`Observations.predicted`),
    along its last axis: several sets of predictions, shape ``(..., n_observations)``,
    give the terms of each set.
    """
    predicted = np.asarray(predicted, dtype=float)
    if predicted.shape[-1:] != (len(observations),):
        raise SpecError(f"predicted: need {len(observations)} values, one per observation")
    scale = np.nanmax(np.abs(np.concatenate([observations.value, observations.lloq, [1.0]])))
    sd = error.sd(predicted, floor=SD_FLOOR * scale)
    censored = observations.blq
    if not censored.any():
        return _log_density(observations.value, predicted, sd)
    out = np.empty_like(predicted)
    measured, below = np.flatnonzero(~censored), np.flatnonzero(censored)
    out[..., measured] = _log_density(
        observations.value[measured], predicted[..., measured], sd[..., measured]
    )
    z = (observations.lloq[below] - predicted[..., below]) / sd[..., below]
    out[..., below] = log_ndtr(z)
    return out


def _log_density(value: Array, predicted: Array, sd: Array) -> Array:
    """Return the Normal log density of ``value`` around ``predicted``."""
    z = (value - predicted) / sd
    out: Array = -0.5 * (z * z + _LOG_2PI) - np.log(sd)
    return out


def minus_two_log_likelihood(
    observations: Observations, predicted: Array, error: ResidualError
) -> float:
    """Return -2 log-likelihood of the observations (NONMEM's objective function value)."""
    return float(-2.0 * log_likelihood_terms(observations, predicted, error).sum())
