"""Route-specific kinetics of viable MSCs: lung, blood, liver/spleen and target."""

from __future__ import annotations

import math

import numpy as np

from mscsim.errors import SpecError
from mscsim.evidence.library import Parameter, load_library
from mscsim.models.base import Array, Params
from mscsim.spec.route import Route

__all__ = ["CELL_OUTPUTS", "CellKinetics"]

CELL_OUTPUTS: tuple[str, ...] = (
    "cells_lung",
    "cells_blood",
    "cells_liver_spleen",
    "cells_target",
    "cells_total",
)

_LN2 = math.log(2.0)


class CellKinetics:
    r"""Viable-cell kinetics by route of administration.

    States (viable cells): ``lung`` (L), ``blood`` (B, free circulating cells),
    ``liver_spleen`` (H), ``target`` (T, cells retained at the treated tissue or
    injection site) and ``target_early`` (E, cells at the target in an early-loss
    phase). ``cells_target`` reports ``T + E``.

    .. math::

        \dot L &= f(1-h)\,k_B B - (k_L + k_I) L \\
        \dot B &= r\,k_L L + \ell\,T - (k_B + k_I) B \\
        \dot H &= (1-f)(1-h)\,k_B B - (k_H + k_I) H \\
        \dot T &= h\,k_B B - (k_T + \ell + k_I) T - k_O \max(T - C, 0) \\
        \dot E &= -(k_E + k_I) E

    with :math:`k_X = \ln 2 / t_{1/2,X}` and

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
    ``immune_clearance_per_day``                :math:`k_I` if allogeneic, else 0
    ==========================================  ==================================

    Doses (one viable cell): intravenous puts :math:`f` in L and :math:`1-f` in B
    (first pass through the lung); intra-arterial puts :math:`a` in L,
    :math:`(1-a)(1-m)` in T and :math:`(1-a)m` in E; local routes put
    :math:`1-e` in T and :math:`e` in E. All parameters are in the library with
    their sources (``mscsim params``); target parameters have site defaults.

    Without immune clearance, with :math:`C=\infty`, :math:`\ell=0` and
    :math:`e=0`, a local dose decays exactly as :math:`D\,2^{-t/t_{1/2}}`
    (``models.reference.local_first_order_cells``).
    """

    name = "msc_kinetics"
    states: tuple[str, ...] = ("lung", "blood", "liver_spleen", "target", "target_early")
    nonnegative: tuple[str, ...] = states
    output_names: tuple[str, ...] = CELL_OUTPUTS
    linear_below_switches = True
    """The only nonlinear term is the overflow above capacity (see :meth:`switches`)."""

    def __init__(self) -> None:
        self.parameters: tuple[Parameter, ...] = load_library().for_model(self.name)

    @staticmethod
    def _rates(p: Params) -> dict[str, Array]:
        allo = p["is_allogeneic"]
        return {
            "f": p["lung_trap_fraction"],
            "h": p["homing_fraction"],
            "r": p["lung_release_fraction"],
            "kL": _LN2 / p["lung_half_life_days"],
            "kB": _LN2 / p["blood_half_life_days"],
            "kH": _LN2 / p["liver_spleen_half_life_days"],
            "kT": _LN2 / p["target_half_life_days"],
            "kE": _LN2 / p["early_loss_half_life_days"],
            "kO": _LN2 / p["overflow_half_life_days"],
            "leak": p["local_leak_per_day"],
            "kI": p["immune_clearance_per_day"] * allo,
        }

    def linear_part(self, params: Params) -> Array:
        """Return the linear kinetics matrix, shape ``(P, 5, 5)``; see class docstring."""
        q = self._rates(params)
        size = np.broadcast(*q.values()).shape[0]
        a = np.zeros((size, 5, 5))
        L, B, H, T, E = range(5)  # noqa: N806 - state symbols as in the equations
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
        return a

    def is_linear(self, params: Params) -> bool:
        """Whether retention never saturates (every capacity is infinite)."""
        return bool(np.all(np.isinf(params["target_capacity_cells"])))

    def rhs(self, t_day: float, y: Array, params: Params) -> Array:
        """Return dy/dt, shape ``(5, n)``; see class docstring."""
        q = self._rates(params)
        lung, blood, liver, target, early = y
        arrest = q["kB"] * blood
        overflow = q["kO"] * np.maximum(target - params["target_capacity_cells"], 0.0)
        return np.stack(
            [
                q["f"] * (1 - q["h"]) * arrest - (q["kL"] + q["kI"]) * lung,
                q["r"] * q["kL"] * lung + q["leak"] * target - (q["kB"] + q["kI"]) * blood,
                (1 - q["f"]) * (1 - q["h"]) * arrest - (q["kH"] + q["kI"]) * liver,
                q["h"] * arrest - (q["kT"] + q["leak"] + q["kI"]) * target - overflow,
                -(q["kE"] + q["kI"]) * early,
            ]
        )

    def dose_split(self, route: Route, params: Params) -> Array:
        """Return the destination of one viable cell dosed by ``route``, shape ``(5, P)``."""
        route = Route(route)
        ones = np.ones(n := np.broadcast(*params.values()).shape[0])
        split = np.zeros((5, n))
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
        """Return where the right-hand side has a kink: retained cells minus capacity.

        Optional in the :class:`~mscsim.models.Model` contract: the fast engine
        refines a step in which any switch changes sign.
        """
        excess: Array = y[3] - params["target_capacity_cells"]
        return excess[None, :]

    def outputs(self, y: Array, params: Params) -> dict[str, Array]:
        """Return cells by compartment and in total, each ``(n, n_times)``."""
        lung, blood, liver, target, early = y
        return {
            "cells_lung": lung,
            "cells_blood": blood,
            "cells_liver_spleen": liver,
            "cells_target": target + early,
            "cells_total": lung + blood + liver + target + early,
        }
