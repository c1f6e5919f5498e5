"""The full MSC model: cell kinetics, paracrine effect and a disease course."""

from __future__ import annotations

import numpy as np

from mscsim.evidence.library import Parameter
from mscsim.models.base import Array, Params
from mscsim.models.disease import Disease, NoDisease, Outcome
from mscsim.models.kinetics import CELL_STATES, CellKinetics
from mscsim.models.paracrine import (
    effect,
    factor_rate,
    factor_switch,
    paracrine_parameters,
    secretion_per_cell,
)
from mscsim.spec.route import Route

__all__ = ["TherapyModel"]


def _apply(m: Array, z: Array) -> Array:
    """Return ``m[p] @ z[:, p]`` for every patient; ``m`` is ``(P, r, c)``, ``z`` ``(c, n)``."""
    n = z.shape[1]
    out: Array = np.einsum("pij,jp->ip", np.broadcast_to(m, (n, *m.shape[1:])), z)
    return out


class TherapyModel:
    """Cells by route, the factor they secrete, its effect and the disease it bends.

    States: the :class:`~mscsim.models.CellKinetics` states (cells and host
    immunity), ``factor`` (ng at the target, :mod:`mscsim.models.paracrine`),
    ``exposure`` (cumulative viable cells at the target, cell-days),
    ``exposure_total`` (cumulative viable cells in the whole body, cell-days), the
    disease's states and ``unit`` (a constant 1 that carries the disease's constant
    rates into the exact linear part).

    Outputs: the kinetics outputs, ``factor``, ``effect`` (0-1),
    ``exposure_cell_days`` (at the target, from day 0),
    ``total_exposure_cell_days`` (whole body, from day 0) and the disease's
    outputs.

    The cells drive the factor, the factor drives the effect and the effect drives
    the disease; nothing feeds back on the cells. Below the effect floor and below
    retention capacity the model is exactly linear (``linear_below_switches``).

    Parameters
    ----------
    disease : Disease, optional
        Default :class:`~mscsim.models.disease.NoDisease`.
    kinetics : CellKinetics, optional
    """

    nonnegative: tuple[str, ...]
    linear_below_switches = True

    def __init__(self, disease: Disease | None = None, kinetics: CellKinetics | None = None):
        self.kinetics = kinetics or CellKinetics()
        self.disease: Disease = disease or NoDisease()
        self.name = f"msc_therapy[{self.disease.key}]"
        k = self.kinetics
        self.states: tuple[str, ...] = (
            *k.states,
            "factor",
            "exposure",
            "exposure_total",
            *self.disease.states,
            "unit",
        )
        self.nonnegative = (*k.nonnegative, "factor", "exposure", "exposure_total")
        seen: dict[str, Parameter] = {}
        for p in (*k.parameters, *paracrine_parameters(), *self.disease.parameters):
            seen.setdefault(p.name, p)
        self.parameters: tuple[Parameter, ...] = tuple(seen.values())
        self.output_names: tuple[str, ...] = (
            *k.output_names,
            "factor",
            "effect",
            "exposure_cell_days",
            "total_exposure_cell_days",
            *self.disease.output_names,
        )
        self._nk = len(k.states)
        self._f = self._nk
        self._x = self._nk + 1
        self._xt = self._nk + 2
        self._d = slice(self._nk + 3, len(self.states) - 1)
        self._coupled = bool(self.disease.states)

    @property
    def outcome(self) -> Outcome | None:
        """The disease's outcome, if any."""
        return self.disease.outcome

    def _secretion(self, params: Params) -> Array:
        """Return factor input per cell in each kinetics state, shape ``(P, n_kinetics)``.

        Lung, blood and liver/spleen cells count with ``systemic_share``, target
        cells fully, immune states not at all.
        """
        sigma = secretion_per_cell(params)
        share = params["systemic_share"] * sigma
        size = np.broadcast(sigma, share).shape[0]
        out = np.zeros((size, self._nk))
        out[:, :3] = np.broadcast_to(share, (size,))[:, None]
        out[:, 3:CELL_STATES] = np.broadcast_to(sigma, (size,))[:, None]
        return out

    def linear_part(self, params: Params) -> Array:
        """Return ``A`` of shape ``(P, n_states, n_states)``: all but overflow and effect."""
        ak = self.kinetics.linear_part(params)
        sec = self._secretion(params)
        natural, _ = self.disease.course(params)
        kf = factor_rate(params)
        size = max(ak.shape[0], sec.shape[0], natural.shape[0], kf.shape[0])
        n, nk, f, x, d = len(self.states), self._nk, self._f, self._x, self._d
        a = np.zeros((size, n, n))
        a[:, :nk, :nk] = ak
        a[:, f, :nk] = sec
        a[:, f, f] = -kf
        a[:, x, 3:CELL_STATES] = 1.0
        a[:, self._xt, :CELL_STATES] = 1.0
        nd = len(self.disease.states)
        a[:, d, d] = natural[:, :, :nd]
        a[:, d, -1] = natural[:, :, nd]
        return a

    def is_linear(self, params: Params) -> bool:
        """Whether the kinetics are linear and no disease is driven by the effect."""
        return not self._coupled and self.kinetics.is_linear(params)

    def rhs(self, t_day: float, y: Array, params: Params) -> Array:
        """Return dy/dt, shape ``(n_states, n)``."""
        nk, f, d = self._nk, self._f, self._d
        out = np.zeros_like(y)
        out[:nk] = self.kinetics.rhs(t_day, y[:nk], params)
        sec = self._secretion(params)
        out[f] = _apply(sec[:, None, :], y[:nk])[0] - factor_rate(params) * y[f]
        out[self._x] = y[3] + y[4]
        out[self._xt] = y[:CELL_STATES].sum(axis=0)
        if self._coupled:
            natural, full = self.disease.course(params)
            z = np.concatenate([y[d], y[-1:]])
            out[d] = _apply(natural, z) + effect(y[f], params) * _apply(full, z)
        return out

    def dose_split(self, route: Route, params: Params) -> Array:
        """Return where one viable cell goes: the kinetics split, padded with zeros."""
        split = self.kinetics.dose_split(route, params)
        out = np.zeros((len(self.states), split.shape[1]))
        out[: self._nk] = split
        return out

    def switches(self, y: Array, params: Params) -> Array:
        """Return the kinetics switches and (with a disease) factor minus its floor."""
        kinetic = self.kinetics.switches(y[: self._nk], params)
        if not self._coupled:
            return kinetic
        return np.concatenate([kinetic, factor_switch(y[self._f], params)[None, :]])

    def activity(self, y: Array, params: Params) -> Array:
        """Return the kinetics' activity (immune memory clearing cells)."""
        return self.kinetics.activity(y[: self._nk], params)

    def initial_state(self, params: Params) -> Array:
        """Return no cells, no factor, the disease's baseline and ``unit = 1``."""
        x0 = self.disease.initial_state(params)
        out = np.zeros((len(self.states), x0.shape[1]))
        out[self._d] = x0
        out[-1] = 1.0
        return out

    def outputs(self, y: Array, params: Params) -> dict[str, Array]:
        """Return cells, factor, effect, cumulative exposure and disease outputs."""
        out = self.kinetics.outputs(y[: self._nk], params)
        out["factor"] = y[self._f]
        out["effect"] = effect(y[self._f], params)
        out["exposure_cell_days"] = y[self._x]
        out["total_exposure_cell_days"] = y[self._xt]
        out.update(self.disease.outputs(y[self._d], params))
        return out
