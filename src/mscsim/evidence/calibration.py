"""Animal biodistribution data the organ model is calibrated on (``data/calibration``).

Each row is one observation from a cited study: an output of the organ model
(a label fraction or viable cells as a fraction of the dose) at a time after
one dose, either equal to a value (``=``) or bounded (``<=``, ``>=``). An
observation may be a ratio: to another output at the same time (``over``) or to
the same output at an earlier time (``ref_day``). Notes say what was assumed to
turn a sentence of the paper into a number.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["RELATIONS", "Observation", "calibration_data"]

RELATIONS = ("=", "<=", ">=")
"""How an observation constrains the model: equal to, at most or at least the value."""


@dataclass(frozen=True)
class Observation:
    """One calibration observation (a row of ``animal_biodistribution.csv``).

    Attributes
    ----------
    id : str
    species : str
        ``mouse``, ``rat`` or ``human`` (the physiology simulated).
    weight_kg : float
    route : str
    dose_cells : float
        Viable cells in the one dose.
    label : str or None
        Label kind of the study (None: viable cells only).
    time_day : float
    quantity : str
        Output name; ``cells_*`` outputs are divided by the dose.
    over : str or None
        Divide by this output at the same time.
    ref_day : float or None
        Divide by ``quantity`` at this earlier time.
    relation : str
        One of :data:`RELATIONS`.
    value : float
    source : str
        Reference IDs (R#).
    note : str
    """

    id: str
    species: str
    weight_kg: float
    route: str
    dose_cells: float
    label: str | None
    time_day: float
    quantity: str
    over: str | None
    ref_day: float | None
    relation: str
    value: float
    source: str
    note: str

    def __post_init__(self) -> None:
        if self.relation not in RELATIONS:
            raise ValueError(f"{self.id}: relation = {self.relation!r}; one of {RELATIONS}")
        if not (math.isfinite(self.value) and self.value > 0):
            raise ValueError(f"{self.id}: value = {self.value!r}; must be > 0")


def _optional_float(text: str) -> float | None:
    return float(text) if text.strip() else None


@cache
def calibration_data() -> tuple[Observation, ...]:
    """Return the packaged animal biodistribution observations, in file order."""
    path = resources.files("mscsim.evidence").joinpath(
        "data/calibration/animal_biodistribution.csv"
    )
    rows = csv.DictReader(io.StringIO(path.read_text("utf-8")))
    return tuple(
        Observation(
            id=r["id"],
            species=r["species"],
            weight_kg=float(r["weight_kg"]),
            route=r["route"],
            dose_cells=float(r["dose_cells"]),
            label=r["label"] or None,
            time_day=float(r["time_day"]),
            quantity=r["quantity"],
            over=r["over"] or None,
            ref_day=_optional_float(r["ref_day"]),
            relation=r["relation"],
            value=float(r["value"]),
            source=r["source"],
            note=r["note"],
        )
        for r in rows
    )
