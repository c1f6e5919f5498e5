"""The model contract shared by built-in and user-defined models.

Conventions
-----------
- Time ``t_day`` is in days; cell states are counts of viable cells.
- A state array ``y`` has shape ``(n_states, n_patients)``.
- A parameter set maps each name to an array of shape ``(P,)``, where ``P`` is 1
  (shared by all patients) or ``n_patients``; it broadcasts against ``y[i]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from mscsim.errors import SpecError
from mscsim.evidence.library import Parameter
from mscsim.spec.route import Route

__all__ = [
    "COVARIATES",
    "Array",
    "Model",
    "Params",
    "n_param_rows",
    "nonnegative_mask",
    "target_site",
]

Array = NDArray[np.float64]
Params = Mapping[str, Array]

COVARIATES: tuple[str, ...] = (
    "weight_kg",
    "age_years",
    "is_allogeneic",
    "potency",
    "immunosuppression",
    "hla_match",
    "immunogenicity",
    "cell_survival",
)
"""Per-patient covariates a scenario adds to every parameter set: age is NaN when
unknown; ``potency`` is the secretory potency relative to the library default
(product or lot, source and donor age); ``immunosuppression`` and ``hla_match``
scale priming against allogeneic cells; ``immunogenicity`` and ``cell_survival``
are the cell source's factors (:mod:`mscsim.models.immunity`)."""


@runtime_checkable
class Model(Protocol):
    """What a model provides to the engine.

    An implementer provides the attributes and methods below; every method is a
    pure function of its arguments (no I/O, no hidden state, no randomness).

    The engine guarantees that:

    - ``rhs`` and ``nonlinear`` see ``y`` of shape ``(n_states, n)`` and parameter
      arrays of shape ``(1,)`` or ``(n,)`` for the same ``n``;
    - doses are applied as ``y += viable_cells * dose_split(route, params)``
      (boluses) or as a constant input of ``rate * dose_split(...)`` (infusions);
    - states listed in ``nonnegative`` never leave the engine negative;
    - an output at a dose time is the value just after the dose.

    Optional members let the fast engine treat kinks and switch off its
    Runge-Kutta stages where the model is linear: ``switches(y, params)``
    returns an array ``(n_switches, n)`` whose sign change marks a kink of the
    right-hand side (a step across one is refined); ``activity(y, params)``
    returns an array ``(n_terms, n)`` that is positive where a smooth nonlinear
    term may be nonzero (no refinement); and ``linear_below_switches = True``
    declares that ``rhs == A @ y`` wherever every switch and every activity is
    negative. :class:`~mscsim.models.CellKinetics` uses switches for saturable
    retention and activity for the immune memory's clearance.

    A third optional member, ``initial_state(params)``, returns the states at the
    start of a simulation, shape ``(n_states, P)`` (a disease's baseline); without
    it every state starts at 0.

    Attributes
    ----------
    name : str
        Model name; parameters in the library carry it.
    states : tuple of str
        State names, in the order of the first axis of ``y``.
    nonnegative : tuple of str
        States that cannot be negative (cell counts).
    parameters : tuple of Parameter
        Every parameter the model reads, with default, unit, ranges and source.
    output_names : tuple of str
        Names of the columns :meth:`outputs` returns, in order.
    """

    name: str
    states: tuple[str, ...]
    nonnegative: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    output_names: tuple[str, ...]

    def rhs(self, t_day: float, y: Array, params: Params) -> Array:
        """Return dy/dt (per day), shape ``(n_states, n)``."""
        ...

    def linear_part(self, params: Params) -> Array:
        """Return ``A`` of shape ``(P, n_states, n_states)``.

        ``A @ y`` is the part of :meth:`rhs` that the fast engine integrates
        exactly (it should hold every stiff linear term). The remainder
        ``rhs - A @ y`` is integrated with Runge-Kutta stages. Returning zeros is
        correct but slow for stiff models.
        """
        ...

    def is_linear(self, params: Params) -> bool:
        """Whether ``rhs(t, y) == A @ y`` exactly for these parameters."""
        ...

    def dose_split(self, route: Route, params: Params) -> Array:
        """Return where one viable cell dosed by ``route`` goes: shape ``(n_states, P)``.

        Raises
        ------
        SpecError
            If the model cannot be dosed by ``route``.
        """
        ...

    def outputs(self, y: Array, params: Params) -> dict[str, Array]:
        """Return named outputs of states ``y`` shaped ``(n_states, n, n_times)``.

        Each output has shape ``(n, n_times)``; parameter arrays broadcast as
        ``p[:, None]``.
        """
        ...


def nonnegative_mask(model: Model) -> NDArray[np.bool_]:
    """Return which of ``model.states`` may not go negative, as a boolean array."""
    keep = set(model.nonnegative)
    return np.array([s in keep for s in model.states], dtype=bool)


def n_param_rows(params: Params) -> int:
    """Return ``P``: 1 if every parameter is shared, else the number of patients.

    Raises
    ------
    SpecError
        If parameter arrays disagree on their length.
    """
    sizes = {np.shape(v)[0] for v in params.values()} - {1}
    if len(sizes) > 1:
        raise SpecError(f"parameters: per-patient arrays have different lengths {sorted(sizes)}")
    return sizes.pop() if sizes else 1


def target_site(routes: Sequence[Route]) -> str:
    """Return the target site whose parameter defaults apply to these routes.

    Local routes deposit cells at their own site; intravenous and intra-arterial
    cells reach the target through blood (site ``systemic``). One scenario has one
    target: two different local routes are refused.

    Examples
    --------
    >>> target_site([Route.INTRAVENOUS])
    'systemic'
    >>> target_site([Route.INTRA_ARTERIAL, Route.INTRAMUSCULAR])
    'intramuscular'
    """
    local = sorted({r.value for r in routes if r.is_local})
    if len(local) > 1:
        raise SpecError(
            f"dose.route = {', '.join(local)}: one scenario has one target site; "
            "use one local route (intravenous and intra_arterial may be combined with it)"
        )
    return local[0] if local else "systemic"
