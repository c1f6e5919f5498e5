"""The one registry of diseases: scenario table, course and listing.

A disease is registered once, with :func:`register_disease`: its ``[disease]``
table joins the scenario schema (:func:`mscsim.spec.disease.register_disease_spec`),
:func:`disease_from_spec` builds its course from a table, and ``mscsim models``
lists it. A new disease is one module (its table, its course, one call to
:func:`register_disease`) plus its parameter rows in the library.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

from mscsim.errors import SpecError
from mscsim.models.diseases.base import Disease
from mscsim.spec.disease import (
    DiseaseSpecBase,
    disease_key,
    disease_spec_types,
    register_disease_spec,
)

__all__ = ["DISEASES", "DiseaseEntry", "disease_entries", "disease_from_spec", "register_disease"]

S = TypeVar("S", bound=DiseaseSpecBase)


@dataclass(frozen=True)
class DiseaseEntry:
    """A registered disease.

    Attributes
    ----------
    key : str
        Its ``[disease] model`` key.
    disease : type
        Its course; called with no arguments it gives the default course (listings).
    spec : type of DiseaseSpecBase
        Its ``[disease]`` table.
    build : callable
        Builds the course from a validated table.
    """

    key: str
    disease: Callable[[], Disease]
    spec: type[DiseaseSpecBase]
    build: Callable[[Any], Disease]

    @property
    def description(self) -> str:
        """The first line of the course's docstring."""
        return ((self.disease.__doc__ or "").strip().splitlines() or [""])[0]


_ENTRIES: dict[str, DiseaseEntry] = {}
_DISEASES: dict[str, Callable[[], Disease]] = {}

DISEASES: Mapping[str, Callable[[], Disease]] = MappingProxyType(_DISEASES)
"""Registered disease courses by their scenario key (a read-only view of the registry)."""


def register_disease(
    disease: Callable[[], Disease],
    spec: type[S],
    build: Callable[[S], Disease] | None = None,
) -> None:
    """Register a disease course with its ``[disease]`` table.

    Parameters
    ----------
    disease : type
        The course; ``disease()`` must give its default (used in listings).
    spec : type of DiseaseSpecBase
        The table, with ``model: Literal["<key>"]``; it joins the scenario schema.
    build : callable, optional
        ``build(table) -> Disease``; default ``disease()``, for a table with no
        other keys.

    Raises
    ------
    SpecError
        If the key is taken by another disease.
    """
    key = disease_key(spec)
    taken = _ENTRIES.get(key)
    if taken is not None and taken.disease is not disease:
        raise SpecError(f"disease.model = {key!r}: already registered by {taken.disease}")
    register_disease_spec(spec)

    def default(_: S) -> Disease:
        return disease()

    _ENTRIES[key] = DiseaseEntry(key, disease, spec, build or default)
    _DISEASES[key] = disease


def disease_entries() -> tuple[DiseaseEntry, ...]:
    """Return every registered disease, in registration order."""
    return tuple(_ENTRIES.values())


def disease_from_spec(spec: DiseaseSpecBase) -> Disease:
    """Return the disease course a ``[disease]`` table describes.

    Raises
    ------
    SpecError
        If no course is registered for the table's ``model``.
    """
    entry = _ENTRIES.get(spec.model)
    if entry is None:
        known = ", ".join(repr(k) for k in disease_spec_types() if k in _ENTRIES)
        raise SpecError(f"disease.model = {spec.model!r}: no course registered; one of {known}")
    return entry.build(spec)
