"""Ranges of command-line flags, checked before any work.

A flag that overrides a scenario field shares the field's bounds, read from the
field itself so the two cannot drift apart.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

from mscsim.errors import SpecError

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["check_count", "check_dask", "check_weight", "field_bounds", "typed"]


def typed(value: float) -> str:
    """Write a number as short as it reads back, close to how a user typed it.

    Examples
    --------
    >>> typed(-3.0), typed(1e-320), typed(0.1)
    ('-3', '1e-320', '0.1')
    """
    return repr(value).removesuffix(".0")


def field_bounds(model: type[BaseModel], name: str) -> tuple[float, float]:
    """Return the lower and upper bound a scenario field declares (``-inf``/``inf`` if none).

    Examples
    --------
    >>> from mscsim.spec.patient import Patient
    >>> field_bounds(Patient, "immunosuppression")
    (0, 1)
    """
    from annotated_types import Ge, Gt, Le, Lt

    low, high = -math.inf, math.inf
    for m in model.model_fields[name].metadata:
        if isinstance(m, Ge | Gt):
            low = m.ge if isinstance(m, Ge) else m.gt  # type: ignore[assignment]
        elif isinstance(m, Le | Lt):
            high = m.le if isinstance(m, Le) else m.lt  # type: ignore[assignment]
    return low, high


def check_count(flag: str, value: int | None, high: int) -> None:
    """Refuse a whole-number flag outside ``1 .. high``."""
    if value is not None and not 1 <= value <= high:
        raise SpecError(f"{flag} = {value}: must be a whole number from 1 to {high:,}")


def check_weight(flag: str, value: float | None) -> None:
    """Refuse a human body weight outside the bounds of ``patient.weight_kg``."""
    from mscsim.spec.model import Species
    from mscsim.spec.patient import WEIGHT_RANGE_KG

    low, high = WEIGHT_RANGE_KG[Species.HUMAN]
    if value is not None and not low <= value <= high:
        raise SpecError(
            f"{flag} = {typed(value)}: must be a body weight from {low:g} to {high:g} kg"
        )


def check_dask(address: str | None) -> None:
    """Refuse a ``--dask`` address that is malformed or asks for too many local workers.

    ``local:N`` may start up to 4 workers per CPU of this machine.
    """
    if address is None:
        return
    if address.startswith("tcp://"):
        from mscsim.problem.executors import DaskExecutor

        DaskExecutor(address)  # checks the address' form; connecting waits for the work
        return
    if address != "local" and not address.startswith("local:"):
        raise SpecError(f"--dask = {address!r}: use tcp://HOST:PORT, local or local:N")
    workers = address.partition(":")[2]
    high = 4 * (os.cpu_count() or 1)
    if workers and (not workers.isdigit() or not 1 <= int(workers) <= high):
        raise SpecError(
            f"--dask = {address!r}: local:N needs a whole number N from 1 to {high} "
            "(4 per CPU of this machine); use a cluster (tcp://HOST:PORT) for more"
        )
