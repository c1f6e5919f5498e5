"""The ``[disease]`` table: which disease course to simulate and its baseline.

Disease tables come from one registry keyed by ``model``: each disease's table
is a subclass of :class:`DiseaseSpecBase` whose ``model`` field is a
``Literal`` of its key, registered with :func:`register_disease_spec`. The
built-in tables are registered here; the model layer
(:func:`mscsim.models.diseases.register_disease`) registers a disease's table
and its course together, so a new disease is one module plus its parameter rows.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Literal, TypeVar, Union

from pydantic import Field, TypeAdapter, WrapValidator

from mscsim.errors import SpecError
from mscsim.spec.base import Choice, SpecModel

__all__ = [
    "DiseaseSpec",
    "DiseaseSpecBase",
    "Genotype",
    "InflammationSpec",
    "LimbIschemiaSpec",
    "NoDiseaseSpec",
    "ScaSpec",
    "disease_key",
    "disease_spec_types",
    "register_disease_spec",
]


class DiseaseSpecBase(SpecModel):
    """A ``[disease]`` table; subclasses fix ``model`` to their key with a ``Literal``."""

    model: str


_SPECS: dict[str, type[DiseaseSpecBase]] = {}

S = TypeVar("S", bound=type[DiseaseSpecBase])


def disease_key(spec: type[DiseaseSpecBase]) -> str:
    """Return the ``model`` key of a ``[disease]`` table (its one-key ``Literal``)."""
    args: tuple[object, ...] = getattr(spec.model_fields["model"].annotation, "__args__", ())
    key = args[0] if len(args) == 1 else None
    if not isinstance(key, str):
        raise SpecError(f"{spec.__name__}.model: must be a Literal of one key, e.g. Literal['sca']")
    return key


def register_disease_spec(spec: S) -> S:
    """Register a ``[disease]`` table under its ``model`` key; return it (usable as a decorator).

    Raises
    ------
    SpecError
        If ``model`` is not a one-key ``Literal`` or the key names another table.
    """
    key = disease_key(spec)
    if _SPECS.get(key, spec) is not spec:
        raise SpecError(f"disease.model = {key!r}: already registered by {_SPECS[key].__name__}")
    _SPECS[key] = spec
    _adapter.cache_clear()
    return spec


def disease_spec_types() -> dict[str, type[DiseaseSpecBase]]:
    """Return the registered ``[disease]`` tables by their ``model`` key."""
    return dict(_SPECS)


@cache
def _adapter() -> TypeAdapter[Any]:
    # The union of the tables registered so far, built at run time (a new
    # registration clears this cache).
    union: Any = Union[tuple(_SPECS.values())]  # noqa: UP007
    return TypeAdapter(Annotated[union, Field(discriminator="model")])


def _validate(value: object, handler: Callable[[object], object]) -> object:
    """Validate a ``[disease]`` table against the table its ``model`` key registered."""
    if isinstance(value, DiseaseSpecBase):
        return value
    return _adapter().validate_python(value)


class Genotype(StrEnum):
    """Spinocerebellar ataxia genotype (``pooled`` when unknown or mixed)."""

    SCA1 = "SCA1"
    SCA2 = "SCA2"
    SCA3 = "SCA3"
    SCA6 = "SCA6"
    POOLED = "pooled"


@register_disease_spec
class NoDiseaseSpec(DiseaseSpecBase):
    """Kinetics and paracrine effect only; no disease course."""

    model: Literal["none"] = "none"


@register_disease_spec
class ScaSpec(DiseaseSpecBase):
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


@register_disease_spec
class LimbIschemiaSpec(DiseaseSpecBase):
    """Limb ischemia: perfusion of the ischemic over the normal limb (0-1, higher is better).

    Parameters
    ----------
    baseline_perfusion_ratio : float
        Ratio at day 0, in (0, 1]; default 0.29 (mouse after femoral ligation, R67).
    """

    model: Literal["limb_ischemia"]
    baseline_perfusion_ratio: float = Field(default=0.29, gt=0, le=1, allow_inf_nan=False)


@register_disease_spec
class InflammationSpec(DiseaseSpecBase):
    """A generic inflammatory index, 1 = the untreated steady state (higher is worse).

    Parameters
    ----------
    baseline_index : float
        Index at day 0, > 0; default 1 (the untreated steady state).
    """

    model: Literal["inflammation"]
    baseline_index: float = Field(default=1.0, gt=0, le=100, allow_inf_nan=False)


DiseaseSpec = Annotated[DiseaseSpecBase, WrapValidator(_validate)]
"""One of the registered disease tables, chosen by ``model``."""
