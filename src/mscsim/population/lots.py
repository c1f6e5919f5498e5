"""Lot-to-lot variability of potency and viability, as distributions to sample.

Potency is log-normal around a median with the source's coefficient of variation
(``lot_potency_cv``); post-thaw viability is normal with the source's SD
(``lot_viability_sd``, measured in R79), truncated to (0, 1]. Both come from the
cell-source profiles (``mscsim sources``), where their evidence is stated.

:meth:`LotVariability.from_deviates` maps standard deviates to lots, so a
population can key the deviates to patients or lots (results then do not depend
on how draws are chunked); :meth:`LotVariability.sample` draws them itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from mscsim.errors import SpecError
from mscsim.evidence.sources import source_profile
from mscsim.spec.population import lognormal_sigma
from mscsim.spec.source import CellSource

__all__ = ["LotVariability", "lot_variability"]


@dataclass(frozen=True)
class LotVariability:
    """Distributions of potency and viability across lots of one product.

    Attributes
    ----------
    potency_median : float
        Median potency (log-normal), > 0.
    potency_cv : float
        Coefficient of variation of potency, >= 0.
    viability_mean : float
        Mean post-thaw viability before truncation, in (0, 1].
    viability_sd : float
        SD of viability (fraction), >= 0.
    """

    potency_median: float
    potency_cv: float
    viability_mean: float
    viability_sd: float

    def __post_init__(self) -> None:
        checks = {
            "potency_median": self.potency_median > 0,
            "potency_cv": self.potency_cv >= 0,
            "viability_mean": 0 < self.viability_mean <= 1,
            "viability_sd": self.viability_sd >= 0,
        }
        for name, ok in checks.items():
            if not ok or not math.isfinite(getattr(self, name)):
                raise SpecError(f"lot variability: {name} = {getattr(self, name)!r} is not allowed")

    @property
    def potency_sigma(self) -> float:
        """SD of log potency: ``sqrt(log(1 + cv^2))``."""
        return lognormal_sigma(self.potency_cv)

    def from_deviates(self, z_potency: ArrayLike, u_viability: ArrayLike) -> pd.DataFrame:
        """Return lots from standard normal ``z_potency`` and uniform (0, 1) ``u_viability``.

        Columns ``potency`` and ``viability``; one row per deviate.
        """
        z = np.asarray(z_potency, dtype=float)
        u = np.asarray(u_viability, dtype=float)
        if z.shape != u.shape:
            raise SpecError(f"deviates: shapes {z.shape} and {u.shape} differ")
        potency = self.potency_median * np.exp(self.potency_sigma * z)
        if self.viability_sd == 0:
            viability = np.full(u.shape, self.viability_mean)
        else:
            from scipy import stats  # the heaviest part of scipy: load it only here

            low = (0.0 - self.viability_mean) / self.viability_sd
            high = (1.0 - self.viability_mean) / self.viability_sd
            viability = stats.truncnorm.ppf(
                u, low, high, loc=self.viability_mean, scale=self.viability_sd
            )
        return pd.DataFrame({"potency": potency, "viability": np.clip(viability, 1e-12, 1.0)})

    def sample(self, n: int, rng: np.random.Generator | int | None = None) -> pd.DataFrame:
        """Draw ``n`` lots (columns ``potency`` and ``viability``).

        Examples
        --------
        >>> lots = lot_variability("umbilical_cord").sample(20_000, rng=1)
        >>> round(float(lots["potency"].median()), 1), round(float(lots["viability"].mean()), 2)
        (1.0, 0.94)
        """
        if n < 0:
            raise SpecError(f"n = {n}: must be >= 0")
        gen = np.random.default_rng(rng)
        return self.from_deviates(gen.standard_normal(n), gen.uniform(size=n))


def lot_variability(
    source: CellSource | str, *, potency: float = 1.0, viability: float | None = None
) -> LotVariability:
    """Return the source's lot-to-lot variability around ``potency`` and ``viability``.

    ``potency`` is the median lot's potency relative to the reference (times the
    source's potency factor); ``viability`` defaults to the source's typical
    post-thaw viability.
    """
    profile = source_profile(source)
    return LotVariability(
        potency_median=potency * profile.potency,
        potency_cv=profile.values["lot_potency_cv"].value,
        viability_mean=profile.post_thaw_viability if viability is None else viability,
        viability_sd=profile.values["lot_viability_sd"].value,
    )
