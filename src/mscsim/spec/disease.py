"""The ``[disease]`` table: which disease course to simulate and its baseline."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from mscsim.spec.base import Choice, SpecModel

__all__ = [
    "DiseaseSpec",
    "Genotype",
    "InflammationSpec",
    "LimbIschemiaSpec",
    "NoDiseaseSpec",
    "ScaSpec",
]


class Genotype(StrEnum):
    """Spinocerebellar ataxia genotype (``pooled`` when unknown or mixed)."""

    SCA1 = "SCA1"
    SCA2 = "SCA2"
    SCA3 = "SCA3"
    SCA6 = "SCA6"
    POOLED = "pooled"


class NoDiseaseSpec(SpecModel):
    """Kinetics and paracrine effect only; no disease course."""

    model: Literal["none"] = "none"


class ScaSpec(SpecModel):
    """Hereditary spinocerebellar ataxia rated on SARA (0-40, higher is worse).

    Parameters
    ----------
    genotype : Genotype
        Selects the untreated progression rate (``pooled`` by default).
    baseline_score : float
        SARA score at day 0, 0-40.
    """

    model: Literal["sca"]
    genotype: Choice[Genotype] = Genotype.POOLED
    baseline_score: float = Field(ge=0, le=40, allow_inf_nan=False)


class LimbIschemiaSpec(SpecModel):
    """Limb ischemia: perfusion of the ischemic over the normal limb (0-1, higher is better).

    Parameters
    ----------
    baseline_perfusion_ratio : float
        Ratio at day 0, in (0, 1]; default 0.29 (mouse after femoral ligation, R67).
    """

    model: Literal["limb_ischemia"]
    baseline_perfusion_ratio: float = Field(default=0.29, gt=0, le=1, allow_inf_nan=False)


class InflammationSpec(SpecModel):
    """A generic inflammatory index, 1 = the untreated steady state (higher is worse).

    Parameters
    ----------
    baseline_index : float
        Index at day 0, > 0; default 1 (the untreated steady state).
    """

    model: Literal["inflammation"]
    baseline_index: float = Field(default=1.0, gt=0, le=100, allow_inf_nan=False)


DiseaseSpec = Annotated[
    NoDiseaseSpec | ScaSpec | LimbIschemiaSpec | InflammationSpec,
    Field(discriminator="model"),
]
"""One of the built-in disease courses, chosen by ``model``."""
