"""What a problem builder lets through: doses beyond the evidence, lots that fail release."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EvidencePolicy"]


@dataclass(frozen=True)
class EvidencePolicy:
    """How a problem builder treats a dose beyond the evidence or a failed lot.

    Both are refused by default (with a :class:`~mscsim.SpecError` naming the
    scenario field); allowed, they are simulated with a warning.

    Parameters
    ----------
    allow_beyond_evidence : bool
        Simulate doses above the highest studied for their route.
    allow_failed_lot : bool
        Simulate a lot that fails release.

    Examples
    --------
    >>> EvidencePolicy(allow_failed_lot=True)
    EvidencePolicy(allow_beyond_evidence=False, allow_failed_lot=True)
    """

    allow_beyond_evidence: bool = False
    allow_failed_lot: bool = False
