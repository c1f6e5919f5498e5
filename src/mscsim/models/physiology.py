r"""Per-species physiology of the organ model: body weight, cardiac output, organ volumes and flows.

The values live in ``evidence/data/physiology.toml``, each with its evidence tag
and source (dossier section 13: Brown 1997 via public PBPK code, R99-R103). A
species is given at its reference weight (mouse 25 g, rat 250 g, human 70 kg);
another weight ``W`` scales flows by :math:`(W/W_\text{ref})^{0.75}` and
volumes by :math:`W/W_\text{ref}`, the standard allometric assumption.

Flows are fractions of the cardiac output, which the lung receives whole. The
liver's fraction is its hepatic artery only; it also receives the outflow of gut
and spleen (portal vein). ``rest`` holds the remaining flow and body weight
(1 L per kg assumed).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from mscsim.errors import EvidenceError, SpecError
from mscsim.models.base import Array

__all__ = [
    "BLOOD",
    "ORGANS",
    "PERFUSED",
    "PORTAL",
    "SPECIES",
    "Physiology",
    "SourcedValue",
    "SpeciesData",
    "physiology",
    "species_data",
]

SPECIES: tuple[str, ...] = ("mouse", "rat", "human")

BLOOD: tuple[str, ...] = ("venous_blood", "arterial_blood")
"""The two blood pools: venous blood feeds the lung, arterial blood every other organ."""

ORGANS: tuple[str, ...] = (
    "lung",
    "liver",
    "spleen",
    "kidney",
    "heart",
    "brain",
    "muscle",
    "gut",
    "marrow",
    "rest",
)
"""Organs in which cells can arrest."""

PERFUSED: tuple[str, ...] = ORGANS[1:]
"""Organs fed by arterial blood (the liver by its hepatic artery), in parallel."""

PORTAL: tuple[str, ...] = ("gut", "spleen")
"""Organs whose outflow passes the liver before it reaches venous blood."""

_LISTED: tuple[str, ...] = tuple(o for o in PERFUSED if o != "rest")
_MINUTES_PER_DAY = 1440.0
_LITRES_PER_KG = 1.0


@dataclass(frozen=True, slots=True)
class SourcedValue:
    """One physiological value with its evidence tag (S, S2, I, G) and source."""

    value: float
    evidence: str
    source: str


@dataclass(frozen=True, slots=True)
class SpeciesData:
    """The tabulated physiology of one species at its reference weight.

    Attributes
    ----------
    species : str
    weight_kg : SourcedValue
    cardiac_output_l_per_min : SourcedValue
    flow : mapping of str to SourcedValue
        Fraction of cardiac output per organ of :data:`PERFUSED` except ``rest``.
    volume_l : mapping of str to SourcedValue
        Volume per blood pool and organ except ``rest``.
    capillary_diameter_um : mapping of str to SourcedValue
        Capillary (or sinusoid) diameter per organ of :data:`ORGANS`.
    """

    species: str
    weight_kg: SourcedValue
    cardiac_output_l_per_min: SourcedValue
    flow: Mapping[str, SourcedValue]
    volume_l: Mapping[str, SourcedValue]
    capillary_diameter_um: Mapping[str, SourcedValue]


@dataclass(frozen=True, slots=True)
class Physiology:
    """Flows and volumes of one species at given body weights (one per patient).

    Attributes
    ----------
    species : str
    weight_kg : ndarray, shape (P,)
    cardiac_output_l_per_day : ndarray, shape (P,)
    flow_fraction : mapping of str to float
        Fraction of cardiac output per organ of :data:`PERFUSED` (sums to 1).
    volume_l : mapping of str to ndarray
        Volume per blood pool and organ, each shape ``(P,)``.
    capillary_diameter_um : mapping of str to float
        Per organ of :data:`ORGANS`.
    """

    species: str
    weight_kg: Array
    cardiac_output_l_per_day: Array
    flow_fraction: Mapping[str, float]
    volume_l: Mapping[str, Array]
    capillary_diameter_um: Mapping[str, float]

    def flow_l_per_day(self, organ: str) -> Array:
        """Return the arterial blood flow of ``organ`` (L/day), shape ``(P,)``."""
        flow: Array = self.flow_fraction[organ] * self.cardiac_output_l_per_day
        return flow


def _sourced(raw: Any, where: str) -> SourcedValue:
    try:
        return SourcedValue(float(raw["value"]), str(raw["evidence"]), str(raw["source"]))
    except (KeyError, TypeError, ValueError) as err:
        raise EvidenceError(f"physiology table: {where} needs value, evidence, source") from err


def _species(name: str, raw: Mapping[str, Any], capillary: dict[str, SourcedValue]) -> SpeciesData:
    flow = {o: _sourced(raw["flow"][o], f"{name}.flow.{o}") for o in _LISTED}
    volume = {
        o: _sourced(raw["volume_l"][o], f"{name}.volume_l.{o}") for o in (*BLOOD, *ORGANS[:-1])
    }
    if sum(v.value for v in flow.values()) >= 1.0:
        raise EvidenceError(f"physiology table: {name} flows leave nothing for the rest")
    return SpeciesData(
        species=name,
        weight_kg=_sourced(raw["weight_kg"], f"{name}.weight_kg"),
        cardiac_output_l_per_min=_sourced(raw["cardiac_output_l_per_min"], f"{name}.cardiac"),
        flow=flow,
        volume_l=volume,
        capillary_diameter_um=capillary,
    )


@cache
def species_data() -> dict[str, SpeciesData]:
    """Return the tabulated physiology of every species (read once, then cached)."""
    text = resources.files("mscsim.evidence").joinpath("data/physiology.toml").read_text("utf-8")
    raw = tomllib.loads(text)
    capillary = {
        o: _sourced(raw["capillary_diameter_um"][o], f"capillary_diameter_um.{o}") for o in ORGANS
    }
    return {s: _species(s, raw[s], capillary) for s in SPECIES}


def physiology(species: str, weight_kg: ArrayLike | None = None) -> Physiology:
    """Return the physiology of ``species`` at ``weight_kg`` (default: its reference weight).

    Parameters
    ----------
    species : {"mouse", "rat", "human"}
    weight_kg : float or array of float, optional
        Body weight per patient, > 0.

    Raises
    ------
    SpecError
        For an unknown species or a weight that is not positive.

    Examples
    --------
    >>> human = physiology("human")
    >>> round(float(human.cardiac_output_l_per_day[0]))
    9360
    >>> heavy = physiology("human", 140.0)
    >>> round(float(heavy.volume_l["liver"][0] / human.volume_l["liver"][0]), 3)
    2.0
    >>> round(float(heavy.cardiac_output_l_per_day[0] / human.cardiac_output_l_per_day[0]), 3)
    1.682
    """
    data = species_data()
    if species not in data:
        raise SpecError(f"species = {species!r}: one of {', '.join(SPECIES)}")
    ref = data[species]
    w_ref = ref.weight_kg.value
    weight = np.atleast_1d(np.asarray(w_ref if weight_kg is None else weight_kg, dtype=float))
    if not np.all(weight > 0.0):
        raise SpecError(f"weight_kg = {weight.tolist()}: must be > 0 kg")
    ratio = weight / w_ref
    output = ref.cardiac_output_l_per_min.value * _MINUTES_PER_DAY * ratio**0.75
    flow = {o: v.value for o, v in ref.flow.items()}
    flow["rest"] = 1.0 - sum(flow.values())
    volume = {o: v.value * ratio for o, v in ref.volume_l.items()}
    listed = sum(v.value for v in ref.volume_l.values())
    volume["rest"] = (w_ref * _LITRES_PER_KG - listed) * ratio
    return Physiology(
        species=species,
        weight_kg=weight,
        cardiac_output_l_per_day=output,
        flow_fraction=flow,
        volume_l=volume,
        capillary_diameter_um={o: v.value for o, v in ref.capillary_diameter_um.items()},
    )
