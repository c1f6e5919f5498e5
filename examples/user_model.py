r"""A user-defined model: a local depot that releases cells into an engrafted pool.

This is the public model API (:class:`mscsim.Model`) used by the built-in models.
A linear model only gives its linear system ``A``, ``b`` (here ``b = 0``), its
dose split and its outputs; :class:`mscsim.models.ModelBase` supplies the rest
(no remainder, every state starting at 0). Cells injected into muscle first sit
in a *depot* (the injection bolus), from which they either die (early loss,
anoikis) or engraft; engrafted cells die more slowly:

.. math::

    \dot D = -(k_d + k_e) D, \qquad \dot G = k_e D - k_g G

so after a dose :math:`D_0` the engrafted pool is the Bateman function
:math:`G(t) = D_0 k_e (e^{-(k_d + k_e) t} - e^{-k_g t}) / (k_g - k_d - k_e)`.

Run ``python examples/user_model.py`` to print a week of the course.
"""

from __future__ import annotations

import math

import numpy as np

from mscsim import Parameter, ResolvedDose, Route, SpecError, simulate
from mscsim.models.base import Array, ModelBase, Params


def _rate_or_time(
    name: str,
    unit: str,
    description: str,
    value: float,
    plausible: tuple[float, float],
    *,
    evidence: str,
    source: str,
) -> Parameter:
    """Declare a nonnegative parameter of this model (a rate, or a half-life if unit is day)."""
    return Parameter(
        name=name,
        model="local_depot",
        unit=unit,
        description=description,
        value=value,
        plausible=plausible,
        allowed=(0.0, math.inf),
        min_exclusive=unit == "day",
        evidence=evidence,
        source=source,
    )


DEPOT_PARAMETERS = (
    _rate_or_time(
        "depot_death_per_day",
        "1/day",
        "Death of cells still in the injection bolus",
        math.log(2) / 0.5,
        (0.5, 10.0),
        evidence="G",
        source="Illustration; early loss within hours of injection (evidence R34).",
    ),
    _rate_or_time(
        "engraftment_per_day",
        "1/day",
        "Rate at which depot cells engraft in the tissue",
        0.7,
        (0.1, 5.0),
        evidence="G",
        source="Illustration only.",
    ),
    _rate_or_time(
        "engrafted_half_life_days",
        "day",
        "Half-life of engrafted cells",
        4.0,
        (1.0, 7.0),
        evidence="I",
        source="Intramuscular survival (evidence R35, R39), as target_half_life_days.",
    ),
)


class LocalDepot(ModelBase):
    """Two-pool local kinetics; implements :class:`mscsim.Model`."""

    name = "local_depot"
    states = ("depot", "engrafted")
    nonnegative = ("depot", "engrafted")
    parameters = DEPOT_PARAMETERS
    output_names = ("cells_depot", "cells_engrafted", "cells_total")

    def linear_system(self, params: Params) -> tuple[Array, Array]:
        """Return the (exact) linear system: ``A`` of shape (P, 2, 2) and ``b = 0``."""
        kd, ke = params["depot_death_per_day"], params["engraftment_per_day"]
        kg = math.log(2) / params["engrafted_half_life_days"]
        size = np.broadcast(kd, ke, kg).shape[0]
        depot, engrafted = self.index["depot"], self.index["engrafted"]
        a = np.zeros((size, 2, 2))
        a[:, depot, depot] = -(kd + ke)
        a[:, engrafted, depot] = ke
        a[:, engrafted, engrafted] = -kg
        return a, np.zeros((size, 2))

    def dose_split(self, route: Route, params: Params) -> Array:
        """Local injections go to the depot; other routes are refused."""
        if not Route(route).is_local:
            raise SpecError(f"route = {route}: {self.name} takes local routes only")
        split = np.zeros((2, 1))
        split[self.index["depot"]] = 1.0
        return split

    def outputs(self, y: Array, params: Params) -> dict[str, Array]:
        """Return cells per pool and in total."""
        depot, engrafted = y[self.index["depot"]], y[self.index["engrafted"]]
        total = depot + engrafted
        return {"cells_depot": depot, "cells_engrafted": engrafted, "cells_total": total}


def bateman(t_day: Array, dose: float, kd: float, ke: float, kg: float) -> Array:
    """Return engrafted cells after one depot dose (closed form)."""
    k1 = kd + ke
    return dose * ke * (np.exp(-k1 * t_day) - np.exp(-kg * t_day)) / (kg - k1)


def main() -> None:
    """Simulate one intramuscular dose of 5e7 viable cells and print the first week."""
    model = LocalDepot()
    params = {p.name: p.value for p in model.parameters}
    result = simulate(
        model,
        [ResolvedDose(0.0, Route.INTRAMUSCULAR, np.array([5e7]))],
        times_day=np.arange(0.0, 8.0),
        params=params,
    )
    print(result.to_frame().round(0).to_string(index=False))


if __name__ == "__main__":
    main()
