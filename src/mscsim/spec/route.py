"""Routes of administration and the tissue site a route delivers to."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["LOCAL_ROUTES", "Route"]


class Route(StrEnum):
    """Route of administration of a cell dose."""

    INTRAVENOUS = "intravenous"
    INTRA_ARTERIAL = "intra_arterial"
    INTRAMUSCULAR = "intramuscular"
    INTRA_ARTICULAR = "intra_articular"
    INTRATHECAL = "intrathecal"
    INTRALESIONAL = "intralesional"

    @property
    def is_local(self) -> bool:
        """Whether cells are deposited at the target rather than infused into blood."""
        return self in LOCAL_ROUTES


LOCAL_ROUTES: frozenset[Route] = frozenset(
    {Route.INTRAMUSCULAR, Route.INTRA_ARTICULAR, Route.INTRATHECAL, Route.INTRALESIONAL}
)
