"""Route-specific kinetics of viable MSCs (lung, blood, liver/spleen, target) and host immunity."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from mscsim.errors import SpecError
from mscsim.evidence.library import Parameter, load_library
from mscsim.models.base import Array, ModelBase, Params
from mscsim.models.immunity import (
    covariate,
    formula_number,
    immune_rates,
    immunity_parameters,
    sensitisation,
    sensitisation_formula,
    sensitised_share,
    sensitised_switch,
    sensitised_weight,
    sensitised_weight_formula,
)
from mscsim.spec.route import Route

__all__ = [
    "CELL_COMPARTMENTS",
    "CELL_OUTPUTS",
    "CellKinetics",
    "remainder_death_formulas",
    "remainder_deaths",
    "target_split",
]

CELL_OUTPUTS: tuple[str, ...] = (
    "cells_lung",
    "cells_blood",
    "cells_liver_spleen",
    "cells_target",
    "cells_total",
)

CELL_COMPARTMENTS: tuple[str, ...] = ("lung", "blood", "liver_spleen", "target", "target_early")
"""The kinetics states that hold viable cells (the immune states follow them)."""

SYSTEMIC_COMPARTMENTS: tuple[str, ...] = ("lung", "blood", "liver_spleen")
"""Cell compartments outside the target."""

TARGET_COMPARTMENTS: tuple[str, ...] = ("target", "target_early")
"""Cell compartments at the target (``cells_target``)."""

_TARGET_ROW = CELL_COMPARTMENTS.index("target")

_LN2 = math.log(2.0)


def target_split(route: Route, params: Params, ones: Array) -> tuple[Array, Array, Array]:
    """Return where one cell of an intra-arterial or local dose goes: passing, target, early.

    An intra-arterial dose passes the target with share ``ia_lung_fraction`` (a);
    of the rest, ``ia_microvascular_loss_fraction`` (m) is in the early-loss
    phase. A local dose is deposited at the target, ``early_loss_fraction`` of it
    in the early-loss phase; none passes.
    """
    if route is Route.INTRA_ARTERIAL:
        a = params["ia_lung_fraction"] * ones
        m = params["ia_microvascular_loss_fraction"] * ones
        return a, (1 - a) * (1 - m), (1 - a) * m
    if route.is_local:
        e = params["early_loss_fraction"] * ones
        return 0.0 * ones, 1 - e, e
    raise SpecError(f"route = {route.value}: neither intra-arterial nor local")


def remainder_deaths(cells: Array, memory: Array, target: int, params: Params) -> Array:
    r"""Return the cells dying per day beyond the linear part, one row per cell compartment.

    :math:`\sigma d_i X_i` on every row and, on row ``target``, also
    :math:`k_O \max(T - C, 0)`: the remainder of :class:`CellKinetics` (and of the
    organ model) with its sign reversed.

    Parameters
    ----------
    cells : ndarray, shape (c, n)
        Viable cells per compartment, in the order of ``kinetics_elimination_per_day``.
    memory : ndarray, shape (n,)
        The host's ``immune_memory``.
    target : int
        The row of ``target`` in ``cells``.
    params : mapping of str to ndarray
        Prepared (:meth:`CellKinetics.prepare`).
    """
    boost = (
        params["kinetics_memory_excess"]
        * sensitisation(memory)
        * sensitised_weight(cells.sum(axis=0))
    )
    deaths: Array = boost * params["kinetics_elimination_per_day"].T * cells
    excess = np.maximum(cells[target] - params["target_capacity_cells"], 0.0)
    deaths[target] = deaths[target] + params["kinetics_overflow_per_day"] * excess
    return deaths


def linear_hosts(rates: dict[str, Array], params: Params) -> NDArray[np.bool_]:
    """Return, per patient, whether the kinetics' remainder is 0 (``linear_patients``).

    ``rates`` are the kinetics' ``_rates`` (``prime``, ``excess``): no priming, or
    memory that does not change clearance, and retention that never saturates.
    """
    no_memory = rates["prime"] * rates["excess"] == 0.0
    out: NDArray[np.bool_] = no_memory & np.isinf(params["target_capacity_cells"])
    return out


class CellKinetics(ModelBase):
    r"""Viable-cell kinetics by route of administration, with host immunity.

    States: viable cells in ``lung`` (L), ``blood`` (B, free circulating cells),
    ``liver_spleen`` (H), ``target`` (T, cells retained at the treated tissue or
    injection site) and ``target_early`` (E, cells at the target in an early-loss
    phase); then the host's ``immune_primed`` (P) and ``immune_memory`` (M)
    against the donor (:mod:`mscsim.models.immunity`). ``cells_target`` reports
    ``T + E``.

    .. math::

        \dot L &= f(1-h)\,k_B B - (k_L + k_I + \sigma d_L) L \\
        \dot B &= r\,k_L L + \ell\,T - (k_B + k_I + \sigma d_B) B \\
        \dot H &= (1-f)(1-h)\,k_B B - (k_H + k_I + \sigma d_H) H \\
        \dot T &= h\,k_B B - (k_T + \ell + k_I + \sigma d_T) T - k_O \max(T - C, 0) \\
        \dot E &= -(k_E + k_I + \sigma d_E) E

    with :math:`k_X = \ln 2 / (t_{1/2,X} \cdot \text{cell\_survival})` for lung,
    liver/spleen, target and early loss (:math:`k_B`, the arrest of free cells, is
    not survival). :math:`k_I` is the innate clearance of allogeneic cells and
    :math:`d_i` each compartment's elimination rate: :math:`d_L = (1-r)k_L + k_I`,
    :math:`d_B = k_I`, :math:`d_H = k_H + k_I`, :math:`d_T = k_T + k_I`,
    :math:`d_E = k_E + k_I`. Donor-specific memory multiplies each by
    :math:`1 + \sigma`, with :math:`\sigma = (m - 1)\,s(M)\,w(C)\,\delta` (0 for
    autologous cells; P, M, s, the fade-out w at the last viable cell and the
    patient's sensitisation :math:`\delta`, ``forms_dsa`` or else
    ``dsa_probability``, in :mod:`mscsim.models.immunity`). Without ``forms_dsa``
    a single scenario gives the expected clearance over allogeneic recipients,
    not one patient's course.

    ==========================================  ==================================
    ``lung_trap_fraction`` (:math:`f`)          fraction trapped on a lung pass
    ``lung_half_life_days``                     :math:`k_L`, death + release
    ``lung_release_fraction`` (:math:`r`)       share of lung loss released alive
    ``blood_half_life_days``                    :math:`k_B`, arrest of free cells
    ``homing_fraction`` (:math:`h`)             share of arrests at the target
    ``liver_spleen_half_life_days``             :math:`k_H`
    ``target_half_life_days``                   :math:`k_T`
    ``target_capacity_cells`` (:math:`C`)       retention capacity (inf: none)
    ``overflow_half_life_days``                 :math:`k_O`, loss above capacity
    ``local_leak_per_day`` (:math:`\ell`)       escape from the target to blood
    ``early_loss_fraction`` (:math:`e`)         share of a local dose in E
    ``early_loss_half_life_days``               :math:`k_E`
    ``ia_lung_fraction`` (:math:`a`)            share of an IA dose reaching lung
    ``ia_microvascular_loss_fraction`` (m)      share of IA target cells in E
    immunity parameters                         see :mod:`mscsim.models.immunity`
    ==========================================  ==================================

    Doses (one viable cell): intravenous puts :math:`f` in L and :math:`1-f` in B
    (first pass through the lung); intra-arterial puts :math:`a` in L,
    :math:`(1-a)(1-m)` in T and :math:`(1-a)m` in E; local routes put
    :math:`1-e` in T and :math:`e` in E. All parameters are in the library with
    their sources (``mscsim params``); target parameters have site defaults.
    Covariates: ``is_allogeneic`` (required), the optional
    :data:`~mscsim.models.immunity.IMMUNE_COVARIATES` and ``forms_dsa``.
    Intravenous and intra-arterial doses lose their IBMIR share before they enter
    (:func:`~mscsim.models.immunity.ibmir_loss`, removed by the engine).

    Without immune clearance, with :math:`C=\infty`, :math:`\ell=0` and
    :math:`e=0`, a local dose decays exactly as :math:`D\,2^{-t/t_{1/2}}`
    (``models.reference.local_first_order_cells``).
    """

    name = "msc_kinetics"
    states: tuple[str, ...] = (*CELL_COMPARTMENTS, "immune_primed", "immune_memory")
    nonnegative: tuple[str, ...] = states
    output_names: tuple[str, ...] = (*CELL_OUTPUTS, "sensitisation")
    remainder_reads: tuple[str, ...] = (*CELL_COMPARTMENTS, "immune_memory")
    remainder_writes: tuple[str, ...] = CELL_COMPARTMENTS
    linear_below_switches = True
    """The remainder is the overflow above capacity (:meth:`switches`) and the
    sensitised clearance (:meth:`activity`)."""
    cell_compartments: tuple[str, ...] = CELL_COMPARTMENTS
    """States holding viable cells (``cells_total``)."""
    systemic_compartments: tuple[str, ...] = SYSTEMIC_COMPARTMENTS
    """Cell states outside the target (they secrete into the circulation)."""
    target_compartments: tuple[str, ...] = TARGET_COMPARTMENTS
    """Cell states at the target (``cells_target``)."""

    def __init__(self) -> None:
        self.parameters: tuple[Parameter, ...] = (
            *load_library().for_model(self.name),
            *immunity_parameters(),
        )
        self._cells = self.index.rows(CELL_COMPARTMENTS)
        if type(self) is CellKinetics:  # a subclass may change the equations
            from mscsim.models.kernel_layout import Kernel, kernel_parameters

            self.remainder_kernel = Kernel("remainder_kernel")
            self.switch_kernel = Kernel("switch_kernel")
            self.remainder_kernel_parameters = kernel_parameters(0)

    @staticmethod
    def _rates(p: Params) -> dict[str, Array]:
        survival = covariate(p, "cell_survival")
        q = {
            "f": p["lung_trap_fraction"],
            "h": p["homing_fraction"],
            "r": p["lung_release_fraction"],
            "kL": _LN2 / (p["lung_half_life_days"] * survival),
            "kB": _LN2 / p["blood_half_life_days"],
            "kH": _LN2 / (p["liver_spleen_half_life_days"] * survival),
            "kT": _LN2 / (p["target_half_life_days"] * survival),
            "kE": _LN2 / (p["early_loss_half_life_days"] * survival),
            "kO": _LN2 / p["overflow_half_life_days"],
            "leak": p["local_leak_per_day"],
            **immune_rates(p),
        }
        q["excess"] = (p["sensitised_clearance_multiplier"] - 1.0) * sensitised_share(p)
        return q

    @staticmethod
    def _elimination(q: dict[str, Array]) -> list[Array]:
        """Return each cell compartment's elimination rate (death + innate clearance)."""
        ki = q["kI"]
        return [(1 - q["r"]) * q["kL"] + ki, ki, q["kH"] + ki, q["kT"] + ki, q["kE"] + ki]

    def prepare(self, params: Params) -> Params:
        """Add the remainder's rates: overflow, memory's excess clearance, eliminations.

        ``kinetics_elimination_per_day`` has shape ``(P, 5)``, one column per cell
        compartment; with the compiled kernels (this class, not a subclass), also
        their parameters (:func:`mscsim.models.kernel_layout.kinetic_columns`,
        the kernels of :mod:`mscsim.models.kernels` take the kinetics alone). See
        :meth:`Model.prepare <mscsim.models.Model.prepare>`.
        """
        q = self._rates(params)
        elimination = np.stack(np.broadcast_arrays(*self._elimination(q)), axis=1)
        prepared = {
            **params,
            "kinetics_overflow_per_day": q["kO"],
            "kinetics_memory_excess": q["excess"],
            "kinetics_elimination_per_day": elimination,
        }
        if self.remainder_kernel_parameters:
            from mscsim.models.kernel_layout import kinetic_columns

            prepared.update(kinetic_columns(prepared))
        return prepared

    def linear_system(self, params: Params) -> tuple[Array, Array]:
        """Return ``A`` of shape ``(P, 7, 7)`` and ``b = 0``; see class docstring."""
        q = self._rates(params)
        size = np.broadcast(*q.values()).shape[0]
        i = self.index
        L, B, H, T, E, P, M = (i[s] for s in self.states)  # noqa: N806 - symbols as in the equations
        a = np.zeros((size, 7, 7))
        a[:, L, L] = -(q["kL"] + q["kI"])
        a[:, L, B] = q["f"] * (1 - q["h"]) * q["kB"]
        a[:, B, L] = q["r"] * q["kL"]
        a[:, B, B] = -(q["kB"] + q["kI"])
        a[:, B, T] = q["leak"]
        a[:, H, B] = (1 - q["f"]) * (1 - q["h"]) * q["kB"]
        a[:, H, H] = -(q["kH"] + q["kI"])
        a[:, T, B] = q["h"] * q["kB"]
        a[:, T, T] = -(q["kT"] + q["leak"] + q["kI"])
        a[:, E, E] = -(q["kE"] + q["kI"])
        a[:, P, self._cells] = q["prime"][:, None]
        a[:, P, P] = -q["kP"]
        a[:, M, P] = q["kP"]
        a[:, M, M] = -q["kM"]
        return a, np.zeros((size, 7))

    def is_linear(self, params: Params) -> bool:
        """Whether retention never saturates and no host can be sensitised."""
        return bool(np.all(self.linear_patients(params)))

    def linear_patients(self, params: Params) -> NDArray[np.bool_]:
        """Return, per patient (``(P,)``), whether the remainder is 0 whatever the state.

        True where retention never saturates and the host cannot be sensitised
        (no priming, or memory that does not change clearance).
        """
        return linear_hosts(self._rates(params), params)

    def remainder(self, t_day: float, y: Array, params: Params) -> Array:
        r"""Return the overflow above capacity and the sensitised clearance, shape ``(7, n)``.

        :math:`-k_O \max(T - C, 0)` on ``target`` and :math:`-\sigma d_i X_i` on
        every cell compartment (class docstring); ``params`` come from
        :meth:`prepare`.
        """
        cells = self._cells
        memory = y[self.index["immune_memory"]]
        out = np.zeros_like(y)
        out[cells] = -remainder_deaths(y[cells], memory, _TARGET_ROW, params)
        return out

    def remainder_formulas(self, params: Params) -> dict[str, str]:
        """Return :meth:`remainder` for one patient as SBML Level 3 formulas.

        Keys that are states give the remainder of their rate (``-extra_death_<c>``);
        the other keys name the quantities those use, each defined before it is
        used (:func:`remainder_death_formulas`). Empty where :meth:`is_linear`.

        Parameters
        ----------
        params : mapping of str to ndarray
            One patient's parameters, prepared (:meth:`prepare`).
        """
        if self.is_linear(params):
            return {}
        q = self._rates(params)
        forms = bool(np.any(q["prime"] * q["excess"] != 0.0))
        out = remainder_death_formulas(CELL_COMPARTMENTS, params, memory_forms=forms)
        for c in CELL_COMPARTMENTS:
            if f"extra_death_{c}" in out:
                out[c] = f"-extra_death_{c}"
        return out

    def dose_split(self, route: Route, params: Params) -> Array:
        """Return the destination of one viable cell dosed by ``route``, shape ``(7, P)``."""
        route = Route(route)
        ones = np.ones(n := np.broadcast(*params.values()).shape[0])
        split = np.zeros((7, n))
        i = self.index
        if route is Route.INTRAVENOUS:
            f = params["lung_trap_fraction"] * ones
            split[i["lung"]], split[i["blood"]] = f, 1 - f
        else:  # cells that pass the target go to the lung
            split[i["lung"]], split[i["target"]], split[i["target_early"]] = target_split(
                route, params, ones
            )
        return split

    def switches(self, y: Array, params: Params) -> Array:
        """Return retained cells minus capacity: the kink of the overflow term, ``(1, n)``."""
        excess: Array = y[self.index["target"]] - params["target_capacity_cells"]
        return np.broadcast_to(excess, y.shape[1:])[None, :]

    def activity(self, y: Array, params: Params) -> Array:
        """Return where immune memory clears cells faster (positive), shape ``(1, n)``.

        Where this and every switch are negative the kinetics are exactly linear
        (:func:`~mscsim.models.immunity.sensitised_switch`). The term fades out
        continuously, so crossing zero needs no refinement.
        """
        cells = y[self._cells].sum(axis=0)
        memory = y[self.index["immune_memory"]]
        out: Array = np.broadcast_to(sensitised_switch(memory, cells, params), cells.shape)
        return out[None, :]

    def outputs(self, y: Array, params: Params) -> dict[str, Array]:
        r"""Return cells by compartment and in total, and the sensitisation (0-1).

        ``sensitisation`` is :math:`s(M)\,\delta`: 0 in a patient who forms no
        donor-specific antibodies, the expected value in a single scenario.
        """
        i = self.index
        return {
            "cells_lung": y[i["lung"]],
            "cells_blood": y[i["blood"]],
            "cells_liver_spleen": y[i["liver_spleen"]],
            "cells_target": y[i.rows(TARGET_COMPARTMENTS)].sum(axis=0),
            "cells_total": y[self._cells].sum(axis=0),
            "sensitisation": sensitisation(y[i["immune_memory"]]) * sensitised_share(params),
        }


def remainder_death_formulas(
    cells: Sequence[str], params: Params, *, memory_forms: bool
) -> dict[str, str]:
    r"""Return the cells dying per day beyond the linear part, as SBML Level 3 formulas.

    The remainder of :class:`CellKinetics` (and of the organ model) written for
    one patient: named quantities ``viable_cells`` (the sum of ``cells``),
    ``sensitised_boost`` (:math:`\sigma`), ``target_overflow``
    (:math:`\max(T - C, 0)`) and ``extra_death_<c>`` for each compartment ``c``
    that has such deaths (:math:`\sigma d_c X_c`, plus :math:`k_O` times the
    overflow at ``target``). Each is defined before it is used.

    Parameters
    ----------
    cells : sequence of str
        The cell compartments, in the order of ``kinetics_elimination_per_day``.
    params : mapping of str to ndarray
        One patient's parameters, prepared (:meth:`CellKinetics.prepare`).
    memory_forms : bool
        Whether memory can form and speed clearance (priming gain times the
        excess clearance not 0). Without it memory stays 0 from day 0, and the
        sensitised terms are left out.

    Raises
    ------
    SpecError
        If ``params`` hold more than one patient.
    """
    excess = _one(params, "kinetics_memory_excess")
    elimination = np.asarray(params["kinetics_elimination_per_day"], dtype=float)
    _one({"kinetics_elimination_per_day": elimination[:, 0]}, "kinetics_elimination_per_day")
    capacity = _one(params, "target_capacity_cells")
    out: dict[str, str] = {}
    deaths: dict[str, list[str]] = {c: [] for c in cells}
    if memory_forms and excess != 0:
        out["viable_cells"] = " + ".join(cells)
        out["sensitised_boost"] = (
            f"{formula_number(excess)} * {sensitisation_formula('immune_memory')}"
            f" * {sensitised_weight_formula('viable_cells')}"
        )
        for c, rate in zip(cells, elimination[0], strict=True):
            if rate != 0:
                deaths[c].append(f"sensitised_boost * {formula_number(rate)} * {c}")
    if math.isfinite(capacity):
        cap = formula_number(capacity)
        out["target_overflow"] = f"piecewise(target - {cap}, target > {cap}, 0)"
        overflow = formula_number(_one(params, "kinetics_overflow_per_day"))
        deaths["target"].append(f"{overflow} * target_overflow")
    out.update({f"extra_death_{c}": " + ".join(t) for c, t in deaths.items() if t})
    return out


def _one(params: Params, name: str) -> float:
    """Return one patient's value of parameter ``name``; refuse several patients."""
    value = np.asarray(params[name], dtype=float)
    if value.shape[:1] != (1,):
        raise SpecError(
            f"params.{name} = {value.shape[0]} rows: remainder formulas are one patient's"
        )
    return float(value.ravel()[0])
