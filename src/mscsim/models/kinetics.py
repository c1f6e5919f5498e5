"""Route-specific kinetics of viable MSCs (lung, blood, liver/spleen, target) and host immunity."""

from __future__ import annotations

import math

import numpy as np

from mscsim.errors import SpecError
from mscsim.evidence.library import Parameter, load_library
from mscsim.models.base import Array, Params
from mscsim.models.immunity import (
    covariate,
    immune_rates,
    immunity_parameters,
    sensitisation,
    sensitised_switch,
    sensitised_weight,
)
from mscsim.spec.route import Route

__all__ = ["CELL_OUTPUTS", "CELL_STATES", "CellKinetics"]

CELL_OUTPUTS: tuple[str, ...] = (
    "cells_lung",
    "cells_blood",
    "cells_liver_spleen",
    "cells_target",
    "cells_total",
)

CELL_STATES = 5
"""The first five kinetics states hold viable cells; the immune states follow."""

_LN2 = math.log(2.0)


class CellKinetics:
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
    :math:`1 + \sigma`, with :math:`\sigma = (m - 1)\,s(M)\,w(C)` (0 for
    autologous cells; P, M, s and the fade-out w at the last viable cell in
    :mod:`mscsim.models.immunity`).

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
    Covariates: ``is_allogeneic`` (required) and the optional
    :data:`~mscsim.models.immunity.IMMUNE_COVARIATES`.

    Without immune clearance, with :math:`C=\infty`, :math:`\ell=0` and
    :math:`e=0`, a local dose decays exactly as :math:`D\,2^{-t/t_{1/2}}`
    (``models.reference.local_first_order_cells``).
    """

    name = "msc_kinetics"
    states: tuple[str, ...] = (
        "lung",
        "blood",
        "liver_spleen",
        "target",
        "target_early",
        "immune_primed",
        "immune_memory",
    )
    nonnegative: tuple[str, ...] = states
    output_names: tuple[str, ...] = (*CELL_OUTPUTS, "sensitisation")
    linear_below_switches = True
    """The nonlinear terms are the overflow above capacity (:meth:`switches`) and the
    sensitised clearance (:meth:`activity`)."""

    def __init__(self) -> None:
        self.parameters: tuple[Parameter, ...] = (
            *load_library().for_model(self.name),
            *immunity_parameters(),
        )

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
        q["excess"] = p["sensitised_clearance_multiplier"] - 1.0
        return q

    @staticmethod
    def _elimination(q: dict[str, Array]) -> list[Array]:
        """Return each cell compartment's elimination rate (death + innate clearance)."""
        ki = q["kI"]
        return [(1 - q["r"]) * q["kL"] + ki, ki, q["kH"] + ki, q["kT"] + ki, q["kE"] + ki]

    def linear_part(self, params: Params) -> Array:
        """Return the linear kinetics matrix, shape ``(P, 7, 7)``; see class docstring."""
        q = self._rates(params)
        size = np.broadcast(*q.values()).shape[0]
        a = np.zeros((size, 7, 7))
        L, B, H, T, E, P, M = range(7)  # noqa: N806 - state symbols as in the equations
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
        a[:, P, :CELL_STATES] = q["prime"][:, None]
        a[:, P, P] = -q["kP"]
        a[:, M, P] = q["kP"]
        a[:, M, M] = -q["kM"]
        return a

    def is_linear(self, params: Params) -> bool:
        """Whether retention never saturates and no host can be sensitised."""
        q = self._rates(params)
        no_memory = bool(np.all(q["prime"] * q["excess"] == 0.0))
        return no_memory and bool(np.all(np.isinf(params["target_capacity_cells"])))

    def rhs(self, t_day: float, y: Array, params: Params) -> Array:
        """Return dy/dt, shape ``(7, n)``; see class docstring."""
        q = self._rates(params)
        lung, blood, liver, target, early, primed, memory = y
        cells = lung + blood + liver + target + early
        arrest = q["kB"] * blood
        overflow = q["kO"] * np.maximum(target - params["target_capacity_cells"], 0.0)
        boost = q["excess"] * sensitisation(memory) * sensitised_weight(cells)
        d = self._elimination(q)
        return np.stack(
            [
                q["f"] * (1 - q["h"]) * arrest - (q["kL"] + q["kI"] + boost * d[0]) * lung,
                q["r"] * q["kL"] * lung
                + q["leak"] * target
                - (q["kB"] + q["kI"] + boost * d[1]) * blood,
                (1 - q["f"]) * (1 - q["h"]) * arrest - (q["kH"] + q["kI"] + boost * d[2]) * liver,
                q["h"] * arrest
                - (q["kT"] + q["leak"] + q["kI"] + boost * d[3]) * target
                - overflow,
                -(q["kE"] + q["kI"] + boost * d[4]) * early,
                q["prime"] * cells - q["kP"] * primed,
                q["kP"] * primed - q["kM"] * memory,
            ]
        )

    def dose_split(self, route: Route, params: Params) -> Array:
        """Return the destination of one viable cell dosed by ``route``, shape ``(7, P)``."""
        route = Route(route)
        ones = np.ones(n := np.broadcast(*params.values()).shape[0])
        split = np.zeros((7, n))
        if route is Route.INTRAVENOUS:
            f = params["lung_trap_fraction"] * ones
            split[0], split[1] = f, 1 - f
        elif route is Route.INTRA_ARTERIAL:
            a = params["ia_lung_fraction"] * ones
            m = params["ia_microvascular_loss_fraction"] * ones
            split[0], split[3], split[4] = a, (1 - a) * (1 - m), (1 - a) * m
        elif route.is_local:
            e = params["early_loss_fraction"] * ones
            split[3], split[4] = 1 - e, e
        else:  # pragma: no cover - every Route member is handled above
            raise SpecError(f"route = {route.value}: not supported by {self.name}")
        return split

    def switches(self, y: Array, params: Params) -> Array:
        """Return retained cells minus capacity: the kink of the overflow term.

        Optional in the :class:`~mscsim.models.Model` contract: the fast engine
        refines a step in which a switch changes sign.
        """
        excess: Array = y[3] - params["target_capacity_cells"]
        return excess[None, :]

    def activity(self, y: Array, params: Params) -> Array:
        """Return where immune memory clears cells faster (positive), shape ``(1, n)``.

        Optional in the :class:`~mscsim.models.Model` contract: where this and
        every switch are negative the kinetics are exactly linear
        (:func:`~mscsim.models.immunity.sensitised_switch`). The term fades out
        continuously, so crossing zero needs no refinement.
        """
        cells = y[:CELL_STATES].sum(axis=0)
        out: Array = np.broadcast_to(sensitised_switch(y[6], cells, params), cells.shape)
        return out[None, :]

    def outputs(self, y: Array, params: Params) -> dict[str, Array]:
        """Return cells by compartment and in total, and the sensitisation (0-1)."""
        lung, blood, liver, target, early, _, memory = y
        return {
            "cells_lung": lung,
            "cells_blood": blood,
            "cells_liver_spleen": liver,
            "cells_target": target + early,
            "cells_total": lung + blood + liver + target + early,
            "sensitisation": sensitisation(memory),
        }
