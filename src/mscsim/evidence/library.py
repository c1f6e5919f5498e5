"""The parameter library: every default value with its unit, range and source.

Defaults live in ``data/parameters.toml``; each names the reference IDs of the
project's evidence dossier (``R#``) and an evidence tag: ``S`` seen in the source,
``S2`` seen in a secondary source, ``I`` inferred from seen numbers, ``G`` a
modelling guess. ``I`` and ``G`` values are provisional.
"""

from __future__ import annotations

import difflib
import math
import tomllib
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import pandas as pd

from mscsim.errors import EvidenceError, MscsimWarning, SpecError

__all__ = [
    "SITES",
    "Parameter",
    "ParameterLibrary",
    "SiteDefault",
    "load_library",
]

SITES: tuple[str, ...] = (
    "systemic",
    "intramuscular",
    "intra_articular",
    "intrathecal",
    "intralesional",
)


@dataclass(frozen=True, slots=True)
class SiteDefault:
    """A site-specific default of a parameter."""

    value: float
    plausible: tuple[float, float]
    evidence: str
    source: str


@dataclass(frozen=True, slots=True)
class Parameter:
    """One model parameter with its default, ranges and source.

    Attributes
    ----------
    name : str
        Name used in scenario ``[parameters]`` tables.
    model : str
        Name of the model the parameter belongs to.
    unit : str
        Unit of the value.
    description : str
        What the parameter means.
    value : float
        Default (for the ``systemic`` site when site defaults exist).
    plausible : tuple of float
        Range supported by the evidence; outside it an override warns.
    allowed : tuple of float
        Physically possible range; outside it an override is refused.
    min_exclusive : bool
        Whether ``allowed[0]`` itself is excluded (e.g. a half-life of 0).
    evidence : str
        ``S``, ``S2``, ``I`` or ``G`` (see module docstring).
    source : str
        Reference IDs and what they show.
    sites : mapping
        Site-specific defaults, keyed by site name.
    omega : float
        Default between-patient variability: SD of the log value in virtual
        populations (0: the same for everyone).
    omega_source : str
        Where that variability comes from.
    """

    name: str
    model: str
    unit: str
    description: str
    value: float
    plausible: tuple[float, float]
    allowed: tuple[float, float]
    min_exclusive: bool
    evidence: str
    source: str
    sites: Mapping[str, SiteDefault] = field(default_factory=dict)
    omega: float = 0.0
    omega_source: str = ""

    @property
    def is_provisional(self) -> bool:
        """Whether the default is inferred or guessed rather than seen in a source."""
        return self.evidence in {"I", "G"}

    def default(self, site: str = "systemic") -> SiteDefault:
        """Return the default for ``site`` (the general default if the site has none)."""
        if site in self.sites:
            return self.sites[site]
        return SiteDefault(self.value, self.plausible, self.evidence, self.source)

    def allowed_text(self) -> str:
        """Describe the physically allowed range in words."""
        low, high = self.allowed
        op = ">" if self.min_exclusive else ">="
        if math.isinf(high):
            return f"must be {op} {low:g}"
        return f"must be {op} {low:g} and <= {high:g}"

    def check(self, value: float, *, site: str = "systemic", what: str | None = None) -> float:
        """Validate an override; refuse impossible values, warn on implausible ones.

        Raises
        ------
        SpecError
            If ``value`` is NaN or outside the physically allowed range.
        """
        label = what or f"parameters.{self.name}"
        low, high = self.allowed
        bad_low = value <= low if self.min_exclusive else value < low
        if math.isnan(value) or bad_low or value > high:
            raise SpecError(f"{label} = {value!r}: {self.allowed_text()} ({self.unit})")
        p_low, p_high = self.default(site).plausible
        if not p_low <= value <= p_high:
            warnings.warn(
                f"{label} = {value:g} is outside the plausible range "
                f"[{p_low:g}, {p_high:g}] {self.unit} supported by the evidence",
                MscsimWarning,
                stacklevel=3,
            )
        return float(value)


def _pair(raw: Any, name: str, key: str) -> tuple[float, float]:
    try:
        low, high = (float(x) for x in raw)
    except (TypeError, ValueError) as err:
        raise EvidenceError(f"parameter library: {name}.{key} must be [low, high]") from err
    return low, high


def _parse(name: str, raw: Mapping[str, Any]) -> Parameter:
    sites = {
        site: SiteDefault(
            value=float(s["value"]),
            plausible=_pair(s["plausible"], name, f"sites.{site}.plausible"),
            evidence=str(s["evidence"]),
            source=str(s["source"]),
        )
        for site, s in raw.get("sites", {}).items()
    }
    unknown = set(sites) - set(SITES)
    if unknown:
        raise EvidenceError(f"parameter library: {name} has unknown sites {sorted(unknown)}")
    return Parameter(
        name=name,
        model=str(raw["model"]),
        unit=str(raw["unit"]),
        description=str(raw["description"]),
        value=float(raw["value"]),
        plausible=_pair(raw["plausible"], name, "plausible"),
        allowed=_pair(raw["allowed"], name, "allowed"),
        min_exclusive=bool(raw.get("min_exclusive", False)),
        evidence=str(raw["evidence"]),
        source=str(raw["source"]),
        sites=sites,
        omega=float(raw.get("omega", 0.0)),
        omega_source=str(raw.get("omega_source", "")),
    )


class ParameterLibrary:
    """A collection of :class:`Parameter` records, looked up by name.

    Models register their own parameters by passing them in; the built-in set is
    returned by :func:`load_library`.
    """

    def __init__(self, parameters: Iterable[Parameter]) -> None:
        self._by_name: dict[str, Parameter] = {}
        for p in parameters:
            if p.name in self._by_name:
                raise EvidenceError(f"parameter library: {p.name} is defined twice")
            self._by_name[p.name] = p

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, name: str) -> Parameter:
        """Return the parameter called ``name``.

        Raises
        ------
        EvidenceError
            If there is no such parameter; the message suggests close names.
        """
        try:
            return self._by_name[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._by_name, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise EvidenceError(f"no parameter named {name!r}{hint}") from None

    def for_model(self, model: str) -> tuple[Parameter, ...]:
        """Return the parameters of ``model`` in library order."""
        return tuple(p for p in self._by_name.values() if p.model == model)

    def merged(self, other: Iterable[Parameter]) -> ParameterLibrary:
        """Return a library holding these parameters and ``other``."""
        return ParameterLibrary([*self._by_name.values(), *other])

    def resolve(
        self,
        names: Iterable[str],
        *,
        site: str = "systemic",
        overrides: Mapping[str, float] | None = None,
    ) -> dict[str, float]:
        """Return values for ``names``: site defaults, then checked overrides.

        Parameters
        ----------
        names : iterable of str
            Parameters the model needs.
        site : str
            Target site whose defaults apply (one of :data:`SITES`).
        overrides : mapping, optional
            User values by name. A name the model does not use is refused.

        Raises
        ------
        SpecError
            For an unknown override name or an impossible value.
        """
        names = tuple(names)
        overrides = dict(overrides or {})
        unknown = [n for n in overrides if n not in names]
        if unknown:
            name = unknown[0]
            close = difflib.get_close_matches(name, names, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "see `mscsim params`"
            raise SpecError(
                f"parameters.{name} = {overrides[name]!r}: not a parameter of this model; {hint}"
            )
        values = {n: self.get(n).default(site).value for n in names}
        for n, v in overrides.items():
            values[n] = self.get(n).check(float(v), site=site)
        return values

    def to_frame(self) -> pd.DataFrame:
        """Return one row per parameter and site default (a tidy table)."""
        rows = []
        for p in self._by_name.values():
            for site in ("systemic", *p.sites):
                d = p.default(site)
                rows.append(
                    {
                        "name": p.name,
                        "model": p.model,
                        "site": site if p.sites else "all",
                        "value": d.value,
                        "unit": p.unit,
                        "plausible_low": d.plausible[0],
                        "plausible_high": d.plausible[1],
                        "evidence": d.evidence,
                        "provisional": d.evidence in {"I", "G"},
                        "description": p.description,
                        "source": d.source,
                        "omega": p.omega,
                    }
                )
        return pd.DataFrame(rows)


@cache
def load_library() -> ParameterLibrary:
    """Return the built-in parameter library (read once, then cached)."""
    text = resources.files("mscsim.evidence").joinpath("data/parameters.toml").read_text("utf-8")
    raw = tomllib.loads(text)
    return ParameterLibrary(_parse(name, entry) for name, entry in raw.items())
