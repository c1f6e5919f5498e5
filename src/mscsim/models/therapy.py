"""The full MSC model: cell kinetics, paracrine effect and a disease course."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from mscsim.errors import SpecError
from mscsim.evidence.library import Parameter
from mscsim.models.base import Array, ModelBase, Params, apply_batch
from mscsim.models.diseases import Disease, NoDisease, Outcome
from mscsim.models.immunity import formula_number
from mscsim.models.kernel_layout import Kernel, effect_matrix_columns, kernel_parameters
from mscsim.models.kinetics import CellKinetics

if TYPE_CHECKING:
    from mscsim.models.organs import OrganKinetics
from mscsim.models.paracrine import (
    effect,
    effect_floor,
    effect_formulas,
    factor_rate,
    paracrine_parameters,
    secretion_per_cell,
)
from mscsim.spec.route import Route

__all__ = ["TherapyModel"]


class TherapyModel(ModelBase):
    """Cells by route, the factor they secrete, its effect and the disease it bends.

    States: the :class:`~mscsim.models.CellKinetics` states (cells and host
    immunity), ``factor`` (ng at the target, :mod:`mscsim.models.paracrine`),
    ``exposure`` (cumulative viable cells at the target, cell-days),
    ``exposure_total`` (cumulative viable cells in the whole body, cell-days) and
    the disease's states.

    Outputs: the kinetics outputs, ``factor``, ``effect`` (0-1),
    ``exposure_cell_days`` (at the target, from day 0),
    ``total_exposure_cell_days`` (whole body, from day 0) and the disease's
    outputs.

    The cells drive the factor, the factor drives the effect and the effect drives
    the disease; nothing feeds back on the cells. The affine part holds the
    kinetics' linear part, secretion, the factor's loss, the exposures and the
    disease's natural course (its constant rates in ``b``); the remainder is the
    kinetics' remainder and the effect's action on the disease. Below the effect
    floor and below retention capacity the model is exactly linear
    (``linear_below_switches``).

    On the reduced kinetics (exactly :class:`~mscsim.models.CellKinetics`) the
    model also gives its remainder, switches and activity compiled
    (``remainder_kernel``, ``switch_kernel``, ``remainder_kernel_parameters``;
    :mod:`mscsim.models.kernels`), for a compiled engine; other kinetics have
    another state layout and give none.

    Parameters
    ----------
    disease : Disease, optional
        Default :class:`~mscsim.models.diseases.NoDisease`.
    kinetics : CellKinetics or OrganKinetics, optional
        Default :class:`~mscsim.models.CellKinetics` (the reduced compartments).
        Any kinetics model with the same interface and the tuples
        ``cell_compartments``, ``systemic_compartments`` and
        ``target_compartments``.
    """

    linear_below_switches = True

    def __init__(
        self,
        disease: Disease | None = None,
        kinetics: CellKinetics | OrganKinetics | None = None,
    ):
        self.kinetics: CellKinetics | OrganKinetics = kinetics or CellKinetics()
        self.disease: Disease = disease or NoDisease()
        self.name = f"msc_therapy[{self.disease.key}]"
        k = self.kinetics
        self.states: tuple[str, ...] = (
            *k.states,
            "factor",
            "exposure",
            "exposure_total",
            *self.disease.states,
        )
        self.nonnegative: tuple[str, ...] = (
            *k.nonnegative,
            "factor",
            "exposure",
            "exposure_total",
        )
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
        self._coupled = bool(self.disease.states)
        coupled = ("factor", *self.disease.states) if self._coupled else ()
        self.remainder_reads: tuple[str, ...] = (*k.remainder_reads, *coupled)
        self.remainder_writes: tuple[str, ...] = (*k.remainder_writes, *self.disease.states)
        self.remainder_affine_rows: tuple[str, ...] = self.disease.states
        i = self.index
        self._kinetic_rows = i.rows(k.states)
        self._disease_rows = i.rows(self.disease.states)
        # The kernels and the remainder pattern describe this class's equations and
        # the built-in kinetics': a subclass of either (which may change them), or
        # kinetics of another kind, gets neither.
        from mscsim.models.organs import OrganKinetics

        self._own_equations = type(self) is TherapyModel and type(k) in (
            CellKinetics,
            OrganKinetics,
        )
        if self._own_equations and type(k) is CellKinetics:
            self.remainder_kernel_parameters = kernel_parameters(len(self.disease.states))
            self.remainder_kernel = Kernel("remainder_kernel")
            self.switch_kernel = Kernel("switch_kernel")

    @property
    def outcome(self) -> Outcome | None:
        """The disease's outcome, if any."""
        return self.disease.outcome

    def prepare(self, params: Params) -> Params:
        """Add the kinetics' per-run rates, the effect floor and the disease's effect matrix.

        With compiled kernels, also their parameters of shape ``(1,)`` or
        ``(P,)`` (:func:`mscsim.models.kernel_layout.effect_matrix_columns`; the
        kinetics add theirs). See
        :meth:`Model.prepare <mscsim.models.Model.prepare>`.
        """
        prepared = dict(self.kinetics.prepare(params))
        if self._coupled:
            prepared["effect_floor_ng"] = effect_floor(params)
            prepared["disease_effect_matrix"] = self.disease.course(params)[1]
        if self.remainder_kernel_parameters and self._coupled:
            # the kinetics (the reduced ones, with their kernels) added their columns
            prepared.update(effect_matrix_columns(prepared, len(self.disease.states)))
        return prepared

    def _secretion(self, params: Params) -> Array:
        """Return factor input per cell in each kinetics state, shape ``(P, n_kinetics)``.

        Cells outside the target count with ``systemic_share``, target cells
        fully, immune (and label) states not at all.
        """
        sigma = secretion_per_cell(params)
        share = params["systemic_share"] * sigma
        size = np.broadcast(sigma, share).shape[0]
        k = self.kinetics.index
        out = np.zeros((size, len(k.names)))
        out[:, k.rows(self.kinetics.systemic_compartments)] = np.broadcast_to(share, (size,))[
            :, None
        ]
        out[:, k.rows(self.kinetics.target_compartments)] = np.broadcast_to(sigma, (size,))[:, None]
        return out

    def linear_system(self, params: Params) -> tuple[Array, Array]:
        """Return ``A``, shape ``(P, n_states, n_states)``, and ``b``, ``(P, n_states)``."""
        ak, _ = self.kinetics.linear_system(params)
        sec = self._secretion(params)
        natural, _ = self.disease.course(params)
        kf = factor_rate(params)
        size = max(ak.shape[0], sec.shape[0], natural.shape[0], np.shape(kf)[0])
        i, kin, d = self.index, self._kinetic_rows, self._disease_rows
        f, x, xt = i["factor"], i["exposure"], i["exposure_total"]
        n, nd = len(self.states), len(self.disease.states)
        a = np.zeros((size, n, n))
        a[:, kin, kin] = ak
        a[:, f, kin] = sec
        a[:, f, f] = -kf
        a[:, x, i.rows(self.kinetics.target_compartments)] = 1.0
        a[:, xt, i.rows(self.kinetics.cell_compartments)] = 1.0
        b = np.zeros((size, n))
        if nd:
            a[:, d, d] = natural[:, :, :nd]
            b[:, d] = natural[:, :, nd]
        return a, b

    def remainder_pattern(self, params: Params) -> NDArray[np.bool_] | None:
        """Return, per patient, which states each written row of the remainder depends on.

        None for a subclass, or kinetics other than the built-in ones: they may
        change the remainder this describes.

        Shape ``(P, w, n_states)``, rows in the order of ``remainder_writes``; a
        row that depends on no state is 0 for that patient. The kinetics' rows
        read the cells and memory only where
        :meth:`~mscsim.models.CellKinetics.linear_patients` is False (else they
        are 0 along any run from the initial state: without priming, memory
        stays 0, as :meth:`is_linear` assumes too); a disease row reads the
        factor, itself and the disease states its effect-matrix row couples it
        to. Disease rows are affine in their own
        state (``remainder_affine_rows``), so the fast engine integrates the
        patients whose kinetics are linear by quadrature, one disease state at a
        time.
        """
        if not self._own_equations:
            return None
        nk, nd = len(self.kinetics.remainder_writes), len(self.disease.states)
        i = self.index
        acts = ~np.asarray(self.kinetics.linear_patients(params), dtype=bool)
        size = acts.shape[0]
        if self._coupled:
            matrix = np.asarray(params["disease_effect_matrix"])
            size = max(size, matrix.shape[0])
        out = np.zeros((size, nk + nd, len(self.states)), dtype=bool)
        kinetic_reads = i.rows(self.kinetics.remainder_reads)
        out[:, :nk, kinetic_reads] = acts[:, None, None]
        if self._coupled:
            own = np.arange(nd)
            disease = np.arange(len(self.states))[self._disease_rows]
            out[:, nk + own, i["factor"]] = True
            out[:, nk:, disease] = matrix[:, :, :nd] != 0.0
            out[:, nk + own, disease] = True
        return out

    def is_linear(self, params: Params) -> bool:
        """Whether the kinetics are linear and no disease is driven by the effect."""
        return not self._coupled and self.kinetics.is_linear(params)

    def remainder(self, t_day: float, y: Array, params: Params) -> Array:
        r"""Return the kinetics' remainder and :math:`e(F)\,M [x; 1]` on the disease states.

        ``params`` come from :meth:`prepare`; see :mod:`mscsim.models.diseases.base`.
        """
        kin = self._kinetic_rows
        out = np.zeros_like(y)
        out[kin] = self.kinetics.remainder(t_day, y[kin], params)
        if self._coupled:
            d = self._disease_rows
            x = np.concatenate([y[d], np.ones((1, y.shape[1]))])
            drive = effect(y[self.index["factor"]], params)
            out[d] = drive * apply_batch(params["disease_effect_matrix"], x)
        return out

    def remainder_formulas(self, params: Params) -> dict[str, str]:
        r"""Return :meth:`remainder` for one patient as SBML Level 3 formulas.

        The kinetics' formulas, then ``effect_saturation`` and ``effect``
        (:func:`~mscsim.models.paracrine.effect_formulas` of ``factor``) and
        :math:`e(F)\,M [x; 1]` on each disease state. Keys that are states give
        the remainder of their rate; the other keys name the quantities those use,
        each defined before it is used. Empty where :meth:`is_linear`.

        Parameters
        ----------
        params : mapping of str to ndarray
            One patient's parameters, prepared (:meth:`prepare`).

        Raises
        ------
        SpecError
            If the kinetics are nonlinear and give no ``remainder_formulas``, or
            ``params`` hold more than one patient.
        """
        kinetics = self.kinetics
        out: dict[str, str] = {}
        if not kinetics.is_linear(params):
            describe = getattr(kinetics, "remainder_formulas", None)
            if describe is None:
                raise SpecError(
                    f"model.kinetics = {kinetics.name!r}: nonlinear and gives no remainder_formulas"
                )
            out.update(describe(params))
        if not self._coupled:
            return out
        matrix = np.asarray(params["disease_effect_matrix"], dtype=float)
        if matrix.shape[0] != 1:
            raise SpecError(
                f"params.disease_effect_matrix = {matrix.shape[0]} rows: "
                "remainder formulas are one patient's"
            )
        out.update(effect_formulas("factor", params))
        x = (*self.disease.states, "1")
        for row, state in zip(matrix[0], self.disease.states, strict=True):
            terms = [
                name if c == 1 else f"{formula_number(c)} * {name}"
                for c, name in zip(row, x, strict=True)
                if c != 0
            ]
            if terms:
                out[state] = f"effect * ({' + '.join(terms)})"
        return out

    def dose_split(self, route: Route, params: Params) -> Array:
        """Return where one viable cell goes: the kinetics split, padded with zeros."""
        split = self.kinetics.dose_split(route, params)
        out = np.zeros((len(self.states), split.shape[1]))
        out[self._kinetic_rows] = split
        return out

    def switches(self, y: Array, params: Params) -> Array:
        """Return the kinetics switches and (with a disease) factor minus its floor."""
        kinetic = self.kinetics.switches(y[self._kinetic_rows], params)
        if not self._coupled:
            return kinetic
        above = y[self.index["factor"]] - params["effect_floor_ng"]
        return np.concatenate([kinetic, np.broadcast_to(above, y.shape[1:])[None, :]])

    def activity(self, y: Array, params: Params) -> Array:
        """Return the kinetics' activity (immune memory clearing cells)."""
        return self.kinetics.activity(y[self._kinetic_rows], params)

    def initial_state(self, params: Params) -> Array:
        """Return no cells, no factor and the disease's baseline."""
        x0 = self.disease.initial_state(params)
        out = np.zeros((len(self.states), x0.shape[1]))
        out[self._disease_rows] = x0
        return out

    def outputs(self, y: Array, params: Params) -> dict[str, Array]:
        """Return cells, factor, effect, cumulative exposure and disease outputs."""
        i = self.index
        out = self.kinetics.outputs(y[self._kinetic_rows], params)
        out["factor"] = y[i["factor"]]
        out["effect"] = effect(y[i["factor"]], params)
        out["exposure_cell_days"] = y[i["exposure"]]
        out["total_exposure_cell_days"] = y[i["exposure_total"]]
        out.update(self.disease.outputs(y[self._disease_rows], params))
        return out
