r"""Organ-level (physiologically based) kinetics of viable MSCs and of their label.

A reconstruction of the structure of Wang et al. 2016 (R91, dossier section 11):
the paper's equations and constants were not retrievable, so this follows the
structure its abstract describes (organs in parallel on arterial blood, the lung
in series between venous and arterial blood; arrest, release and depletion of
cells per organ), not a transcription.

Cells in venous blood (``venous_blood``) pass the lung with the whole cardiac
output :math:`Q`; a pass arrests a share :math:`E_\text{lung}` in the lung, the
rest reach arterial blood (``arterial_blood``). Arterial blood feeds every other
organ in parallel with its flow :math:`Q_i`; a pass arrests :math:`E_i`, and the
cells not arrested return to venous blood, except that gut and spleen outflow
passes the liver first (portal vein), so the liver sees its hepatic-artery flow
plus the cells the gut and spleen let through. The arrest probability depends on
the cell's size against the organ's capillaries,

.. math:: E_i = 1 - \exp\bigl(-k_i \max(d_\text{cell} - d_{\text{cap},i}, 0)\bigr),

with :math:`k_\text{lung}` (``lung_arrest_per_um``) for the lung and
:math:`k_\text{organ}` (``organ_arrest_per_um``) elsewhere. The target (the
treated or injured tissue) takes ``target_blood_flow_fraction`` of the cardiac
output from the rest of the body and arrests ``target_arrest_probability`` of
the cells passing it (homing). Arrested cells are released alive (lung: to
arterial blood; elsewhere: to venous blood) or die:

=====================================  =============================================
lung                                   ``pbk_lung_half_life_days``, ``pbk_lung_release_fraction``
liver, spleen                          ``liver_spleen_half_life_days``, no release
kidney, heart, brain, muscle, gut,     ``organ_half_life_days``, ``organ_release_fraction``
marrow, rest
target, target_early                   as :class:`~mscsim.models.CellKinetics`
=====================================  =============================================

Every half-life is multiplied by the ``cell_survival`` covariate. Cells in blood
die only by the innate clearance of allogeneic cells; host immunity (innate
clearance, priming, memory and the sensitised clearance) and the target's
capacity, overflow, leak and early loss are those of
:class:`~mscsim.models.CellKinetics`, with the same parameter names. Flows and
volumes come from :func:`~mscsim.models.physiology.physiology` for the species at
the ``weight_kg`` covariate (the reference weight when absent).

Label (optional). A viable cell carries one unit of label; ``label_injected``
counts the units dosed. When a cell dies in an organ (naturally, by immune
clearance or by overflow) its label goes to ``label_<organ>`` (remnants held by
that organ's macrophages, for lung, liver, spleen, kidney and the target;
``label_other`` elsewhere) with share ``<kind>_remnant_fraction``, the rest to
``label_free`` (free label in plasma; cells dying in blood free all their
label). Remnants are released to plasma with ``<kind>_remnant_half_life_days``;
free label leaves plasma with ``<kind>_free_half_life_days``, taken up by liver,
spleen and kidney (``<kind>_<organ>_uptake_fraction``, radiolabels only) and
otherwise lost (``label_lost``: excreted or degraded). Luciferase signal is in
viable cells only: a dying cell's label goes straight to ``label_lost``. The
label is conserved: viable cells plus every label state except
``label_injected`` equal ``label_injected``. Reported label is decay-corrected,
so physical decay is not modelled.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from mscsim.errors import SpecError
from mscsim.evidence.library import Parameter, load_library
from mscsim.models.base import Array, ModelBase, Params, apply_batch
from mscsim.models.immunity import (
    covariate,
    formula_number,
    immune_rates,
    immunity_parameters,
    sensitisation,
    sensitised_share,
    sensitised_switch,
)
from mscsim.models.kinetics import (
    linear_hosts,
    remainder_death_formulas,
    remainder_deaths,
    target_split,
)
from mscsim.models.physiology import BLOOD, ORGANS, PERFUSED, PORTAL, SPECIES, physiology
from mscsim.spec.route import Route

__all__ = [
    "LABEL_KINDS",
    "LABEL_STATES",
    "ORGAN_CELL_COMPARTMENTS",
    "ORGAN_OUTPUTS",
    "OrganKinetics",
]

ORGAN_CELL_COMPARTMENTS: tuple[str, ...] = (*BLOOD, *ORGANS, "target", "target_early")
"""The organ model's states that hold viable cells."""

_SYSTEMIC: tuple[str, ...] = (*BLOOD, *ORGANS)
_TARGET: tuple[str, ...] = ("target", "target_early")
_TARGET_ROW = ORGAN_CELL_COMPARTMENTS.index("target")

ORGAN_OUTPUTS: tuple[str, ...] = (
    "cells_lung",
    "cells_liver",
    "cells_spleen",
    "cells_kidney",
    "cells_blood",
    "cells_target",
    "cells_total",
    *(f"cells_{o}" for o in ("heart", "brain", "muscle", "gut", "marrow", "rest")),
)

LABEL_KINDS: tuple[str, ...] = ("indium_111", "technetium_99m", "luciferase", "human_dna")

_REMNANTS: tuple[str, ...] = ("lung", "liver", "spleen", "kidney", "target")
"""Organs whose macrophage-held remnants are reported separately (the rest: ``other``)."""

_UPTAKE: tuple[str, ...] = ("liver", "spleen", "kidney")
"""Organs that take up free label (radiolabels)."""

LABEL_STATES: tuple[str, ...] = (
    *(f"label_{o}" for o in _REMNANTS),
    "label_other",
    "label_free",
    "label_lost",
    "label_injected",
)

_LABEL_REPORTED: tuple[str, ...] = ("lung", "liver", "spleen", "kidney", "blood", "target")

_ORGAN_PARAMETERS: tuple[str, ...] = (
    "liver_spleen_half_life_days",
    "target_half_life_days",
    "target_capacity_cells",
    "overflow_half_life_days",
    "local_leak_per_day",
    "early_loss_fraction",
    "early_loss_half_life_days",
    "ia_lung_fraction",
    "ia_microvascular_loss_fraction",
)
"""Parameters shared with :class:`~mscsim.models.CellKinetics` (same meaning)."""

_LN2 = math.log(2.0)


def _label_model(kind: str) -> str:
    return f"msc_label_{kind}"


class OrganKinetics(ModelBase):
    """Viable cells by organ after any route, with host immunity and an optional label.

    See the module docstring for the equations. States: the cell compartments
    :data:`ORGAN_CELL_COMPARTMENTS`, ``immune_primed``, ``immune_memory`` and,
    with a label, :data:`LABEL_STATES`.

    Parameters
    ----------
    species : {"human", "mouse", "rat"}
        Whose physiology (flows, volumes, capillaries) the model uses.
    label : {None, "indium_111", "technetium_99m", "luciferase", "human_dna"}
        How the cells are tracked; ``None`` adds no label states.

    Raises
    ------
    SpecError
        For an unknown species or label kind.
    """

    cell_compartments: tuple[str, ...] = ORGAN_CELL_COMPARTMENTS
    systemic_compartments: tuple[str, ...] = _SYSTEMIC
    target_compartments: tuple[str, ...] = _TARGET
    linear_below_switches = True
    """The remainder is the overflow above capacity (:meth:`switches`) and the
    sensitised clearance (:meth:`activity`)."""

    def __init__(self, species: str = "human", label: str | None = None) -> None:
        if species not in SPECIES:
            raise SpecError(f"species = {species!r}: one of {', '.join(SPECIES)}")
        if label is not None and label not in LABEL_KINDS:
            raise SpecError(f"label.kind = {label!r}: one of {', '.join(LABEL_KINDS)}")
        self.species = species
        self.label = label
        self.name = "msc_organs"
        labelled = LABEL_STATES if label else ()
        cells = ORGAN_CELL_COMPARTMENTS
        self.states: tuple[str, ...] = (*cells, "immune_primed", "immune_memory", *labelled)
        self.nonnegative: tuple[str, ...] = self.states
        label_outputs = (
            tuple(f"label_fraction_{o}" for o in (*_LABEL_REPORTED, "total")) if label else ()
        )
        self.output_names: tuple[str, ...] = (*ORGAN_OUTPUTS, "sensitisation", *label_outputs)
        self.remainder_reads: tuple[str, ...] = (*cells, "immune_memory")
        self.remainder_writes: tuple[str, ...] = (*cells, *labelled[:-1])
        library = load_library()
        self.parameters: tuple[Parameter, ...] = (
            *library.for_model("msc_organs"),
            *(library.get(n) for n in _ORGAN_PARAMETERS),
            *(library.for_model(_label_model(label)) if label else ()),
            *immunity_parameters(),
        )
        self._cells = self.index.rows(cells)
        self._label_rows = self.index.rows(LABEL_STATES[:-1]) if label else slice(0)

    # -- rates ---------------------------------------------------------------

    def _rates(self, p: Params) -> dict[str, Array]:
        """Return every rate (per day) and probability, each broadcastable to ``(P,)``."""
        survival = covariate(p, "cell_survival")
        phys = physiology(self.species, p.get("weight_kg"))

        def half(name: str) -> Array:
            out: Array = _LN2 / (p[name] * survival)
            return out

        def arrest(per_um: Array, organ: str) -> Array:
            excess = np.maximum(p["cell_diameter_um"] - phys.capillary_diameter_um[organ], 0.0)
            out: Array = 1.0 - np.exp(-per_um * excess)
            return out

        q: dict[str, Array] = {
            "Q": phys.cardiac_output_l_per_day,
            "Vv": phys.volume_l["venous_blood"],
            "Va": phys.volume_l["arterial_blood"],
            "fT": p["target_blood_flow_fraction"],
            "ET": p["target_arrest_probability"],
            "kL": half("pbk_lung_half_life_days"),
            "r": p["pbk_lung_release_fraction"],
            "kH": half("liver_spleen_half_life_days"),
            "kO": half("organ_half_life_days"),
            "rO": p["organ_release_fraction"],
            "kT": half("target_half_life_days"),
            "kE": half("early_loss_half_life_days"),
            "kOver": _LN2 / p["overflow_half_life_days"],
            "leak": p["local_leak_per_day"],
            "E_lung": arrest(p["lung_arrest_per_um"], "lung"),
            **immune_rates(p),
        }
        for organ in PERFUSED:
            q[f"E_{organ}"] = arrest(p["organ_arrest_per_um"], organ)
            q[f"f_{organ}"] = np.asarray(phys.flow_fraction[organ])
        if np.any(q["fT"] > phys.flow_fraction["rest"]):
            raise SpecError(
                f"parameters.target_blood_flow_fraction = {np.max(q['fT']):g}: must be <= "
                f"{phys.flow_fraction['rest']:.3g}, the {self.species}'s flow to the rest"
            )
        q["f_rest"] = phys.flow_fraction["rest"] - q["fT"]
        q["excess"] = (p["sensitised_clearance_multiplier"] - 1.0) * sensitised_share(p)
        return q

    @staticmethod
    def _death_and_release(q: dict[str, Array]) -> dict[str, tuple[Array, Array]]:
        """Return (natural death rate, release rate) per cell compartment, per day."""
        zero = np.zeros(1)
        out = dict.fromkeys(BLOOD, (zero, zero))
        out["lung"] = ((1 - q["r"]) * q["kL"], q["r"] * q["kL"])
        out["liver"] = out["spleen"] = (q["kH"], zero)
        for organ in ORGANS[3:]:
            out[organ] = ((1 - q["rO"]) * q["kO"], q["rO"] * q["kO"])
        out["target"] = (q["kT"], q["leak"])
        out["target_early"] = (q["kE"], zero)
        return out

    def _elimination(self, q: dict[str, Array]) -> Array:
        """Return each cell compartment's death rate incl. innate clearance, shape ``(P, 14)``."""
        fates = self._death_and_release(q)
        rates = [fates[c][0] + q["kI"] for c in ORGAN_CELL_COMPARTMENTS]
        return np.stack(np.broadcast_arrays(*rates), axis=1)

    def _label_rates(self, p: Params) -> dict[str, Array]:
        """Return the label's remnant share, remnant and free rates and uptake shares."""
        kind = self.label
        zero = np.zeros(1)
        if kind is None or kind == "luciferase":
            return {"s": zero, "kRem": zero, "kFree": zero, **dict.fromkeys(_UPTAKE, zero)}
        q = {
            "s": p[f"{kind}_remnant_fraction"],
            "kRem": _LN2 / p[f"{kind}_remnant_half_life_days"],
            "kFree": _LN2 / p[f"{kind}_free_half_life_days"],
        }
        for organ in _UPTAKE:
            name = f"{kind}_{organ}_uptake_fraction"
            q[organ] = p[name] if name in p else zero
        taken = sum(q[o] for o in _UPTAKE)
        if np.any(taken > 1.0):
            raise SpecError(
                f"parameters.{kind}_*_uptake_fraction = {np.max(taken):g} in total: must be <= 1"
            )
        return q

    def _death_routing(self, share: Array, size: int) -> Array:
        """Return where a dying cell's label goes: shape ``(P, 8, 14)``, columns sum to 1.

        Rows are :data:`LABEL_STATES` without ``label_injected``; columns the cell
        compartments. ``share`` is the remnant share (``s`` of :meth:`_label_rates`).
        """
        rows = {s: i for i, s in enumerate(LABEL_STATES[:-1])}
        out = np.zeros((size, len(rows), len(ORGAN_CELL_COMPARTMENTS)))
        if self.label == "luciferase":
            out[:, rows["label_lost"], :] = 1.0
            return out
        share = np.broadcast_to(share, (size,))
        for col, c in enumerate(ORGAN_CELL_COMPARTMENTS):
            if c in BLOOD:
                out[:, rows["label_free"], col] = 1.0
                continue
            site = "target" if c in _TARGET else c
            remnant = f"label_{site}" if site in _REMNANTS else "label_other"
            out[:, rows[remnant], col] = share
            out[:, rows["label_free"], col] = 1.0 - share
        return out

    # -- the model contract ----------------------------------------------------

    def prepare(self, params: Params) -> Params:
        """Add the remainder's rates: overflow, memory's excess clearance, eliminations, routing.

        See :meth:`Model.prepare <mscsim.models.Model.prepare>`.
        """
        q = self._rates(params)
        elimination = self._elimination(q)
        out = {
            **params,
            "kinetics_overflow_per_day": q["kOver"],
            "kinetics_memory_excess": q["excess"],
            "kinetics_elimination_per_day": elimination,
        }
        if self.label:
            share = self._label_rates(params)["s"]
            out["kinetics_label_routing"] = self._death_routing(share, elimination.shape[0])
        return out

    def _size(self, q: dict[str, Array], params: Params) -> int:
        shapes = [np.shape(v)[0] for v in (*q.values(), *params.values()) if np.ndim(v)]
        return max(shapes, default=1)

    def linear_system(self, params: Params) -> tuple[Array, Array]:
        """Return ``A`` of shape ``(P, n, n)`` and ``b = 0``; see the module docstring."""
        q = self._rates(params)
        size = self._size(q, params)
        i = self.index
        n = len(self.states)
        a = np.zeros((size, n, n))
        self._circulation(a, q)
        fates = self._death_and_release(q)
        for c in ORGAN_CELL_COMPARTMENTS:
            death, release = fates[c]
            a[:, i[c], i[c]] -= death + release + q["kI"]
            back = "arterial_blood" if c == "lung" else "venous_blood"
            a[:, i[back], i[c]] += release
        primed, memory = i["immune_primed"], i["immune_memory"]
        a[:, primed, self._cells] = np.broadcast_to(q["prime"], (size,))[:, None]
        a[:, primed, primed] = -q["kP"]
        a[:, memory, primed] = q["kP"]
        a[:, memory, memory] = -q["kM"]
        if self.label:
            self._label_system(a, q, params, size)
        return a, np.zeros((size, n))

    def _circulation(self, a: Array, q: dict[str, Array]) -> None:
        """Add blood flow and arrest on each pass to ``a`` (in place)."""
        i = self.index
        ven, art = i["venous_blood"], i["arterial_blood"]
        to_lung = q["Q"] / q["Vv"]
        a[:, ven, ven] -= to_lung
        a[:, i["lung"], ven] += q["E_lung"] * to_lung
        a[:, art, ven] += (1 - q["E_lung"]) * to_lung
        per_art = q["Q"] / q["Va"]
        a[:, art, art] -= per_art
        portal = np.zeros(1)
        for organ in (*PERFUSED[1:], "target"):
            flow = q["fT"] if organ == "target" else q[f"f_{organ}"]
            arrest = q["ET"] if organ == "target" else q[f"E_{organ}"]
            a[:, i[organ], art] += arrest * flow * per_art
            if organ in PORTAL:
                portal = portal + (1 - arrest) * flow
            else:
                a[:, ven, art] += (1 - arrest) * flow * per_art
        liver_in = q["f_liver"] + portal
        a[:, i["liver"], art] += q["E_liver"] * liver_in * per_art
        a[:, ven, art] += (1 - q["E_liver"]) * liver_in * per_art

    def _label_system(self, a: Array, q: dict[str, Array], params: Params, size: int) -> None:
        """Add the label's flows to ``a`` (in place): deaths, remnant release, free label.

        ``q`` are the cell rates (:meth:`_rates`) of ``params``.
        """
        i = self.index
        lq = self._label_rates(params)
        death = self._elimination(q)
        routing = self._death_routing(lq["s"], size)
        a[:, self._label_rows, self._cells] += routing * death[:, None, :]
        free, lost = i["label_free"], i["label_lost"]
        for site in (*_REMNANTS, "other"):
            row = i[f"label_{site}"]
            a[:, row, row] -= lq["kRem"]
            a[:, free, row] += lq["kRem"]
        a[:, free, free] -= lq["kFree"]
        taken = np.zeros(1)
        for organ in _UPTAKE:
            a[:, i[f"label_{organ}"], free] += lq[organ] * lq["kFree"]
            taken = taken + lq[organ]
        a[:, lost, free] += (1 - taken) * lq["kFree"]

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
        r"""Return the overflow above capacity and the sensitised clearance, with their label.

        :math:`-k_O \max(T - C, 0)` on ``target`` and :math:`-\sigma d_i X_i` on
        every cell compartment, as in :class:`~mscsim.models.CellKinetics`; the
        label of those cells goes where a dying cell's label goes. ``params`` come
        from :meth:`prepare`.
        """
        cells = self._cells
        deaths = remainder_deaths(y[cells], y[self.index["immune_memory"]], _TARGET_ROW, params)
        out = np.zeros_like(y)
        out[cells] = -deaths
        if self.label:
            out[self._label_rows] = apply_batch(params["kinetics_label_routing"], deaths)
        return out

    def remainder_formulas(self, params: Params) -> dict[str, str]:
        """Return :meth:`remainder` for one patient as SBML Level 3 formulas.

        Keys that are states give the remainder of their rate: ``-extra_death_<c>``
        on each cell compartment and, with a label, where those cells' label goes;
        the other keys name the quantities those use, each defined before it is
        used (:func:`~mscsim.models.kinetics.remainder_death_formulas`). Empty
        where :meth:`is_linear`.

        Parameters
        ----------
        params : mapping of str to ndarray
            One patient's parameters, prepared (:meth:`prepare`).
        """
        if self.is_linear(params):
            return {}
        q = self._rates(params)
        forms = bool(np.any(q["prime"] * q["excess"] != 0.0))
        out = remainder_death_formulas(ORGAN_CELL_COMPARTMENTS, params, memory_forms=forms)
        dying = [c for c in ORGAN_CELL_COMPARTMENTS if f"extra_death_{c}" in out]
        out.update({c: f"-extra_death_{c}" for c in dying})
        if self.label:
            routing = np.asarray(params["kinetics_label_routing"], dtype=float)[0]
            column = {c: j for j, c in enumerate(ORGAN_CELL_COMPARTMENTS)}
            for row, state in enumerate(LABEL_STATES[:-1]):
                terms = [
                    f"{formula_number(routing[row, column[c]])} * extra_death_{c}"
                    for c in dying
                    if routing[row, column[c]] != 0
                ]
                if terms:
                    out[state] = " + ".join(terms)
        return out

    def dose_split(self, route: Route, params: Params) -> Array:
        """Return the destination of one viable cell dosed by ``route``, shape ``(n, P)``.

        Intravenous cells enter venous blood; intra-arterial cells enter the
        target's arterial inflow, where ``1 - a`` arrest (split by ``m`` into
        ``target`` and ``target_early``) and ``a`` pass on to venous blood; local
        routes put ``1 - e`` in ``target`` and ``e`` in ``target_early``. With a
        label, each viable cell adds one unit to ``label_injected``.
        """
        route = Route(route)
        ones = np.ones(n := np.broadcast(*params.values()).shape[0])
        split = np.zeros((len(self.states), n))
        i = self.index
        if route is Route.INTRAVENOUS:
            split[i["venous_blood"]] = ones
        else:  # cells that pass the target return in venous blood
            split[i["venous_blood"]], split[i["target"]], split[i["target_early"]] = target_split(
                route, params, ones
            )
        if self.label:
            split[i["label_injected"]] = ones
        return split

    def switches(self, y: Array, params: Params) -> Array:
        """Return retained cells minus capacity: the kink of the overflow term, ``(1, n)``."""
        excess: Array = y[self.index["target"]] - params["target_capacity_cells"]
        return np.broadcast_to(excess, y.shape[1:])[None, :]

    def activity(self, y: Array, params: Params) -> Array:
        """Return where immune memory clears cells faster (positive), shape ``(1, n)``."""
        cells = y[self._cells].sum(axis=0)
        memory = y[self.index["immune_memory"]]
        out: Array = np.broadcast_to(sensitised_switch(memory, cells, params), cells.shape)
        return out[None, :]

    def outputs(self, y: Array, params: Params) -> dict[str, Array]:
        """Return viable cells by organ and in total, the sensitisation and label fractions."""
        i = self.index
        blood = y[i.rows(BLOOD)].sum(axis=0)
        target = y[i.rows(_TARGET)].sum(axis=0)
        out = {f"cells_{o}": y[i[o]] for o in ORGANS}
        out.update(
            cells_blood=blood,
            cells_target=target,
            cells_total=y[self._cells].sum(axis=0),
            sensitisation=sensitisation(y[i["immune_memory"]]) * sensitised_share(params),
        )
        out = {name: out[name] for name in self.output_names if name in out}
        if self.label:
            out.update(self._label_outputs(y, blood, target))
        return out

    def _label_outputs(self, y: Array, blood: Array, target: Array) -> dict[str, Array]:
        """Return the fraction of injected label per organ, in blood, at the target and in total."""
        i = self.index
        injected = y[i["label_injected"]]
        amounts = {o: y[i[o]] + y[i[f"label_{o}"]] for o in ("lung", "liver", "spleen", "kidney")}
        amounts["blood"] = blood + y[i["label_free"]]
        amounts["target"] = target + y[i["label_target"]]
        held = (*ORGAN_CELL_COMPARTMENTS, *LABEL_STATES[:-2])
        amounts["total"] = y[i.rows(held)].sum(axis=0)
        positive = injected > 0.0
        safe = np.where(positive, injected, 1.0)
        return {
            f"label_fraction_{o}": np.where(positive, amount / safe, 0.0)
            for o, amount in amounts.items()
        }
