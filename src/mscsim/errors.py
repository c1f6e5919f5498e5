"""Exceptions and warnings raised by mscsim.

Every error a user can cause derives from :class:`SpecError` and carries a single
line naming the field, the bad value, what is allowed and, where it helps, the fix.
Front ends (CLI, service) print that line and exit with status 2 (or answer 422).
"""

from __future__ import annotations

__all__ = [
    "ConvergenceError",
    "EvidenceError",
    "IntegrationError",
    "MscsimError",
    "MscsimWarning",
    "SpecError",
    "UnitError",
]


class MscsimError(Exception):
    """Base class of every error mscsim raises on purpose."""


class SpecError(MscsimError, ValueError):
    """Bad user input: a scenario, a parameter override, an option or a file.

    The message is one line: ``field = value: what is allowed (fix)``.
    """


class UnitError(SpecError):
    """A quantity given in the wrong unit or with an impossible magnitude."""


class EvidenceError(MscsimError, LookupError):
    """A parameter or evidence record that the library does not hold."""


class IntegrationError(MscsimError, RuntimeError):
    """The numerical integration of a model failed."""


class ConvergenceError(MscsimError, RuntimeError):
    """An iterative method (estimation, optimization) did not converge."""


class MscsimWarning(UserWarning):
    """Base class of mscsim warnings (e.g. a parameter outside its plausible range)."""
