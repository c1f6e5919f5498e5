"""A virtual population: covariate distributions, between-patient variability, seed."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Literal, Self

import numpy as np
from pydantic import Field, model_validator

from mscsim.errors import SpecError
from mscsim.spec.base import Choice, Items, Name, SpecModel
from mscsim.spec.disease import Genotype

__all__ = ["Correlation", "Distribution", "PopulationSpec", "lognormal_sigma"]


def lognormal_sigma(cv: float) -> float:
    """Return the SD of log values of a log-normal with coefficient of variation ``cv``.

    Examples
    --------
    >>> round(lognormal_sigma(0.3), 4)
    0.2936
    """
    return math.sqrt(math.log1p(cv**2))


class Distribution(SpecModel):
    """A distribution of one covariate.

    ``normal`` (``mean``, ``sd``), ``lognormal`` (``median``, ``cv``: the
    coefficient of variation) or ``uniform`` (``low``, ``high``). Draws are
    clipped to ``[min, max]`` when given.
    """

    dist: Literal["normal", "lognormal", "uniform"]
    mean: float | None = Field(default=None, allow_inf_nan=False)
    sd: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    median: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    cv: float | None = Field(default=None, ge=0, le=10, allow_inf_nan=False)
    low: float | None = Field(default=None, allow_inf_nan=False)
    high: float | None = Field(default=None, allow_inf_nan=False)
    min: float | None = Field(default=None, allow_inf_nan=False)
    max: float | None = Field(default=None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _check(self) -> Self:
        need = {"normal": ("mean", "sd"), "lognormal": ("median", "cv"), "uniform": ("low", "high")}
        wanted = need[self.dist]
        given = {
            k for k in ("mean", "sd", "median", "cv", "low", "high") if getattr(self, k) is not None
        }
        if given != set(wanted):
            raise ValueError(
                f"dist = {self.dist!r}: give exactly {' and '.join(wanted)} "
                f"(given: {', '.join(sorted(given)) or 'none'})"
            )
        if self.dist == "uniform" and not float(self.low or 0) < float(self.high or 0):
            raise ValueError(f"high = {self.high}: must be greater than low = {self.low}")
        if self.min is not None and self.max is not None and not self.min < self.max:
            raise ValueError(f"max = {self.max}: must be greater than min = {self.min}")
        return self

    def from_normal(self, z: np.ndarray) -> np.ndarray:
        """Return values from standard normal deviates ``z`` (uniform via its CDF)."""
        v = {
            k: float(getattr(self, k) or 0.0) for k in ("mean", "sd", "median", "cv", "low", "high")
        }
        if self.dist == "normal":
            out = v["mean"] + v["sd"] * z
        elif self.dist == "lognormal":
            out = v["median"] * np.exp(lognormal_sigma(v["cv"]) * z)
        else:
            from scipy.special import ndtr  # loaded only for a uniform draw

            out = v["low"] + (v["high"] - v["low"]) * ndtr(z)
        low = -np.inf if self.min is None else self.min
        high = np.inf if self.max is None else self.max
        return np.clip(out, low, high)


class Correlation(SpecModel):
    """Correlation between the log-normal random effects of named parameters."""

    names: Items[Name] = Field(min_length=2)
    matrix: Items[Items[float]]

    @model_validator(mode="after")
    def _check(self) -> Self:
        n = len(self.names)
        m = np.array(self.matrix, dtype=float)
        if len(set(self.names)) != n:
            raise ValueError(f"names = {list(self.names)}: repeated name")
        if m.shape != (n, n):
            raise ValueError(f"matrix: must be {n} x {n} for {n} names, got {m.shape}")
        if not np.allclose(m, m.T) or not np.allclose(np.diag(m), 1.0) or np.abs(m).max() > 1:
            raise ValueError("matrix: must be symmetric with 1 on the diagonal and |r| <= 1")
        if np.linalg.eigvalsh(m).min() < -1e-12:
            raise ValueError("matrix: must be positive semi-definite")
        return self


class PopulationSpec(SpecModel):
    """How virtual patients differ (the ``[population]`` table).

    Parameters
    ----------
    seed : int
        Draws for patient ``i`` come from ``SeedSequence(seed, spawn_key=(i,))``:
        a patient's draws never depend on chunking or workers.
    weight_kg, age_years, baseline : Distribution, optional
        Covariates; ``baseline`` is the disease's baseline outcome. Without them
        the patient's (or disease's) value is used for everyone, except weight,
        which has a default spread (see ``mscsim.population``).
    female_fraction : float, optional
        Share of female patients (recorded as a covariate; no built-in model reads it).
    genotype_mix : dict, optional
        SCA genotype shares (sum 1); each patient gets one genotype's progression rate.
    omega : dict of str to float
        Between-patient SD of log parameter values, by parameter name; added to
        (and overriding) the built-in defaults.
    correlation : Correlation, optional
    lot_variability : bool
        Give each patient a lot drawn from the source's lot-to-lot variability of
        potency and viability (default true).
    """

    seed: int = Field(ge=0, le=2**63 - 1)
    weight_kg: Distribution | None = None
    age_years: Distribution | None = None
    baseline: Distribution | None = None
    female_fraction: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    genotype_mix: dict[Choice[Genotype], float] | None = None
    omega: dict[str, float] = Field(default_factory=dict)
    correlation: Correlation | None = None
    lot_variability: bool = True

    @model_validator(mode="after")
    def _check(self) -> Self:
        for name, value in self.omega.items():
            if not (math.isfinite(value) and 0 <= value <= 3):
                raise ValueError(f"omega.{name} = {value!r}: must be from 0 to 3")
        if self.genotype_mix is not None:
            shares = list(self.genotype_mix.values())
            if any(s < 0 for s in shares) or not math.isclose(sum(shares), 1.0, abs_tol=1e-9):
                raise ValueError(
                    f"genotype_mix = {dict(self.genotype_mix)}: shares must be >= 0 and sum to 1"
                )
        return self

    def omegas(self, defaults: Mapping[str, float]) -> dict[str, float]:
        """Return the between-patient SD of every parameter that varies.

        Parameters
        ----------
        defaults : mapping of str to float
            Every parameter of the model with its default omega (0: it does not vary).

        Raises
        ------
        SpecError
            If ``omega`` or ``correlation`` names a parameter the model does not
            have, or ``correlation`` names one that does not vary.
        """
        for name, value in self.omega.items():
            if name not in defaults:
                raise SpecError(
                    f"population.omega.{name} = {value:g}: not a parameter of this model"
                    + _did_you_mean(name, defaults)
                )
        omegas = {n: w for n, w in {**defaults, **self.omega}.items() if w > 0}
        if self.correlation is not None:
            names = list(self.correlation.names)
            for name in names:
                if name not in defaults:
                    raise SpecError(
                        f"population.correlation.names = {names}: {name!r} is not a parameter "
                        "of this model" + _did_you_mean(name, defaults)
                    )
                if name not in omegas:
                    raise SpecError(
                        f"population.correlation.names = {names}: {name!r} does not vary; "
                        "give it an omega > 0 in population.omega"
                    )
        return omegas


def _did_you_mean(name: str, known: Mapping[str, float]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]}?" if close else ""
