"""The base of every specification: frozen, closed to unknown keys, never coercing types."""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Strict
from pydantic_core import PydanticCustomError

__all__ = ["Choice", "Items", "Name", "SpecModel"]

T = TypeVar("T")


class SpecModel(BaseModel):
    """A frozen specification whose values keep the types they were written with.

    A number takes an integer or a float, never a boolean or a string
    (``horizon_days = true`` and ``weight_kg = "65"`` are refused); a whole
    number takes an integer only; ``true``/``false`` takes a boolean only.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


Items = Annotated[tuple[T, ...], Strict(False)]
"""An array (a TOML array or any Python sequence) whose items stay strict."""

Choice = Annotated[T, Strict(False)]
"""One of an enumeration's values, given as its text (``"intravenous"``)."""


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank_name", "must not be empty or only spaces")
    return value


Name = Annotated[str, AfterValidator(_not_blank)]
"""An identifier (a lot id, an arm or output name): non-empty, not only spaces."""
