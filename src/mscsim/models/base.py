"""The model contract shared by built-in and user-defined models.

Conventions
-----------
- Time ``t_day`` is in days; cell states are counts of viable cells.
- A state array ``y`` has shape ``(n_states, n_patients)``.
- A parameter set maps each name to an array whose first axis has length ``P``,
  1 (shared by all patients) or ``n_patients``; it broadcasts against ``y[i]``.
- A model writes its equations once: an affine linear part ``A y + b``
  (:meth:`Model.linear_system`) and a nonlinear remainder
  (:meth:`Model.remainder`); :func:`full_rhs` composes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
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
    "ModelBase",
    "Params",
    "StateIndex",
    "apply_batch",
    "full_rhs",
    "n_param_rows",
    "nonnegative_mask",
    "take_rows",
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


@dataclass(frozen=True)
class StateIndex:
    """Rows of a state array addressed by state name.

    Examples
    --------
    >>> index = StateIndex(("lung", "blood", "target"))
    >>> index["blood"]
    1
    >>> index.rows(("lung", "blood"))
    slice(0, 2, None)
    >>> index.rows(("lung", "target")).tolist()
    [0, 2]
    """

    names: tuple[str, ...]
    _position: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Map each name to its row, refusing duplicates."""
        if len(set(self.names)) != len(self.names):
            raise SpecError(f"states = {self.names}: state names must be unique")
        object.__setattr__(self, "_position", {n: i for i, n in enumerate(self.names)})

    def __getitem__(self, name: str) -> int:
        """Return the row of state ``name``."""
        try:
            return self._position[name]
        except KeyError:
            raise SpecError(f"state {name!r}: not one of {', '.join(self.names)}") from None

    def rows(self, names: Sequence[str]) -> slice | NDArray[np.intp]:
        """Return the rows of ``names``: a slice when they are consecutive, else an index array."""
        rows = [self[n] for n in names]
        if rows and rows == list(range(rows[0], rows[0] + len(rows))):
            return slice(rows[0], rows[0] + len(rows))
        return np.array(rows, dtype=np.intp)


@runtime_checkable
class Model(Protocol):
    r"""What a model provides to the engine.

    A model's right-hand side is

    .. math:: \dot y = A\,y + b + R(t, y)

    where ``A`` and ``b`` (:meth:`linear_system`) depend only on parameters and
    ``R`` (:meth:`remainder`) is everything else. An implementer writes each term
    once; :class:`ModelBase` gives defaults for every member below a fully linear
    model does not need. Every method is a pure function of its arguments (no
    I/O, no hidden state, no randomness).

    The engine guarantees that:

    - it calls :meth:`prepare` once per run and passes its result, as ``params``,
      to :meth:`linear_system`, :meth:`is_linear`, :meth:`remainder`,
      :meth:`switches` and :meth:`activity`; :meth:`dose_split`,
      :meth:`initial_state` and :meth:`outputs` get the parameters as given;
    - ``remainder``, ``switches`` and ``activity`` see ``y`` of shape
      ``(n_states, n)`` and parameter arrays whose first axis is 1 or ``n``;
    - doses are applied as ``y += viable_cells * dose_split(route, params)``
      (boluses) or as a constant input of ``rate * dose_split(...)`` (infusions);
    - states listed in ``nonnegative`` never leave the engine negative;
    - an output at a dose time is the value just after the dose.

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
    remainder_reads, remainder_writes : tuple of str
        The states :meth:`remainder` depends on and the rows it may make nonzero;
        both empty for a linear model.
    linear_below_switches : bool
        Whether ``remainder == 0`` wherever every :meth:`switches` and every
        :meth:`activity` function is negative. The fast engine then takes exact
        steps there and runs its Runge-Kutta stages only while some patient is
        above a switch or active.

    Optional attributes, read with a default when absent (a model need not
    declare them):

    remainder_affine : bool, default False
        Whether the remainder is affine in the one state it writes
        (``alpha + beta * x``, with ``alpha`` and ``beta`` depending on the other
        states and time). When nothing else's rate reads that state, the fast
        engine then integrates the other states exactly and that state by
        quadrature (:mod:`mscsim.engine.driven`); it checks affinity per patient
        and refuses a false declaration.
    remainder_kernel : callable or None, default None
        The remainder compiled with numba (``@numba.njit``), signature
        :data:`mscsim.engine.compiled.KERNEL_SIGNATURE`: ``kernel(t, y, p, out)``
        writes the remainder of every state in ``remainder_writes`` into
        ``out[row, j]`` for column ``j``, one patient at time ``t[j]`` with
        states ``y[:, j]`` and parameters ``p[:, j]``. The fast engine then runs
        compiled, on every core: the quadrature of a one-way affine model
        (:mod:`mscsim.engine.compiled`) or the adaptive steps of any other
        (:mod:`mscsim.engine.compiled_adaptive`). It compares the kernel with
        :meth:`remainder` where it ran: a kernel that disagrees is refused.
    remainder_kernel_parameters : tuple of str, default ()
        The prepared parameters (:meth:`prepare`) the kernels read, in the
        order of ``p``'s rows.
    remainder_pattern : callable, optional
        ``remainder_pattern(prepared)``: per patient, which states each row of
        ``remainder_writes`` depends on, boolean ``(P, n_writes, n_states)``; a
        row that depends on none is 0 for that patient (or None: no claim).
        With
        ``remainder_affine_rows`` (the written states whose rows are affine in
        themselves) the fast engine groups patients by it: where the rows that
        act are affine in their own state and read no other written state, it
        integrates them by quadrature, one state at a time
        (:func:`mscsim.engine.driven.driven_groups`); the others adaptively.
    switch_kernel : callable or None, default None
        With ``linear_below_switches`` and ``remainder_kernel``:
        :meth:`switches` then :meth:`activity` compiled, the same signature,
        writing one row of ``out`` per function. The compiled adaptive steps
        then cross an interval where all are negative at both ends in one
        exact step (without it, they take Runge-Kutta steps there). Its signs
        are compared with the NumPy functions'.
    """

    name: str
    states: tuple[str, ...]
    nonnegative: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    output_names: tuple[str, ...]
    remainder_reads: tuple[str, ...]
    remainder_writes: tuple[str, ...]
    linear_below_switches: bool

    def prepare(self, params: Params) -> Params:
        """Return ``params`` with every per-run constant the equations need added.

        Everything that depends only on parameters (rates, matrices) is computed
        here once per run, not on every right-hand-side call. The result must
        hold every entry of ``params``; its arrays have first axis 1 or ``P``.
        """
        ...

    def linear_system(self, params: Params) -> tuple[Array, Array]:
        """Return ``(A, b)``: shapes ``(P, n_states, n_states)`` and ``(P, n_states)``.

        ``A @ y + b`` is the affine part of the right-hand side, integrated
        exactly by the fast engine; it should hold every stiff linear term.
        """
        ...

    def remainder(self, t_day: float, y: Array, params: Params) -> Array:
        """Return the nonlinear remainder ``R(t, y)``, shape ``(n_states, n)`` (per day).

        Rows outside ``remainder_writes`` are 0, and it depends on no state
        outside ``remainder_reads`` (the fast engine passes 0 in the other rows).
        ``t_day`` is a float, or one time per patient (shape ``(n,)``) when
        patients take their own steps.
        """
        ...

    def is_linear(self, params: Params) -> bool:
        """Whether the remainder is exactly 0 for these parameters."""
        ...

    def switches(self, y: Array, params: Params) -> Array:
        """Return functions whose sign change marks a kink of the remainder, ``(n_switches, n)``.

        The fast engine refines a step across a sign change (e.g. retention
        reaching capacity).
        """
        ...

    def activity(self, y: Array, params: Params) -> Array:
        """Return functions positive where a smooth remainder may be nonzero, ``(n_terms, n)``.

        Crossing zero needs no refinement (the term fades in and out smoothly).
        """
        ...

    def initial_state(self, params: Params) -> Array:
        """Return the states at the start of a simulation, shape ``(n_states, P)``."""
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


class ModelBase:
    """Defaults of the :class:`Model` contract for a model to inherit.

    A subclass sets ``name``, ``states``, ``nonnegative``, ``parameters`` and
    ``output_names`` and provides :meth:`linear_system`, :meth:`dose_split` and
    :meth:`outputs`. The defaults describe a linear model starting from 0: no
    per-run constants, no remainder, no switches and no activity. A nonlinear
    model overrides :meth:`remainder` and declares ``remainder_reads`` and
    ``remainder_writes``.
    """

    name: str
    states: tuple[str, ...]
    remainder_reads: tuple[str, ...] = ()
    remainder_writes: tuple[str, ...] = ()
    linear_below_switches: bool = False
    remainder_affine: bool = False
    remainder_kernel: Callable[..., None] | None = None
    remainder_kernel_parameters: tuple[str, ...] = ()
    switch_kernel: Callable[..., None] | None = None

    @cached_property
    def index(self) -> StateIndex:
        """The rows of :attr:`states` by name."""
        return StateIndex(self.states)

    def prepare(self, params: Params) -> Params:
        """Return ``params`` unchanged; see :meth:`Model.prepare`."""
        return params

    def remainder(self, t_day: float, y: Array, params: Params) -> Array:
        """Return zeros: a linear model has no remainder; see :meth:`Model.remainder`."""
        return np.zeros_like(y)

    def is_linear(self, params: Params) -> bool:
        """Whether the model declares no remainder; see :meth:`Model.is_linear`."""
        return not self.remainder_writes

    def switches(self, y: Array, params: Params) -> Array:
        """Return no switches, shape ``(0, n)``; see :meth:`Model.switches`."""
        return np.empty((0, y.shape[1]))

    def activity(self, y: Array, params: Params) -> Array:
        """Return no activity, shape ``(0, n)``; see :meth:`Model.activity`."""
        return np.empty((0, y.shape[1]))

    def initial_state(self, params: Params) -> Array:
        """Return every state at 0, shape ``(n_states, 1)``; see :meth:`Model.initial_state`."""
        return np.zeros((len(self.states), 1))


def apply_batch(m: Array, y: Array) -> Array:
    """Return ``m[p] @ y[:, p]`` for every patient ``p``.

    Parameters
    ----------
    m : ndarray, shape (P, r, c)
        One matrix per patient, or one shared (P = 1).
    y : ndarray, shape (c, n)

    Returns
    -------
    ndarray, shape (r, n)
    """
    if m.shape[0] == 1:
        shared: Array = m[0] @ y
        return shared
    out: Array = np.einsum("pij,jp->ip", m, y)
    return out


def full_rhs(model: Model, params: Params) -> Callable[[float, Array], Array]:
    """Return the composed right-hand side ``f(t_day, y) = A y + b + R(t_day, y)``.

    The per-run constants (:meth:`Model.prepare`, ``A`` and ``b``) are computed
    once, here. ``y`` has shape ``(n_states, n)`` with ``n`` equal to the
    parameters' ``P`` (or any ``n`` when every parameter is shared).

    Parameters
    ----------
    model : Model
    params : mapping of str to ndarray
        Parameters as :func:`mscsim.simulate` takes them.

    Returns
    -------
    callable
        ``f(t_day, y) -> dy/dt``, shape ``(n_states, n)`` (per day).
    """
    prepared = model.prepare(params)
    a, b = model.linear_system(prepared)
    constant = b.T
    linear = model.is_linear(prepared)

    def rhs(t_day: float, y: Array) -> Array:
        out = apply_batch(a, y) + constant
        return out if linear else out + model.remainder(t_day, y, prepared)

    return rhs


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


def take_rows(params: Params, rows: NDArray[np.intp]) -> dict[str, Array]:
    """Return the parameter rows of patients ``rows``; shared (length-1) rows stay shared.

    Examples
    --------
    >>> take_rows({"a": np.array([1.0, 2.0, 3.0]), "b": np.array([9.0])}, np.array([2, 0]))
    {'a': array([3., 1.]), 'b': array([9.])}
    """
    return {k: (v[rows] if v.shape[0] > 1 else v) for k, v in params.items()}


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
