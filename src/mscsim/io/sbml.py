r"""A scenario's model and dosing as SBML Level 3 Version 2 (``mscsim export-sbml``).

The document holds one patient: the scenario's, with its per-patient numbers.
Time is in days and cell states are amounts in cells.

- Every model state is a species (an amount: ``hasOnlySubstanceUnits``) in one
  compartment, ``body``, with a rate rule
  :math:`\dot y_i = \sum_j A_{ij} y_j + b_i + \sum_r s_{r,i}\,u_r(t)`: ``A`` and
  ``b`` from :meth:`Model.linear_system <mscsim.models.Model.linear_system>` as
  parameters ``k_<to>_from_<from>``, ``loss_<state>`` (:math:`-A_{ii}`) and
  ``input_<state>``; :math:`s_r` the dose split of route ``r`` (parameters
  ``split_<route>_<state>``) and :math:`u_r` the rate infused by route ``r`` (cells
  per day, parameter ``infusion_<route>``).
- Every output that is an affine function of the states (found numerically from
  :meth:`Model.outputs <mscsim.models.Model.outputs>`) is a parameter with an
  assignment rule, named as the model names it (``cells_lung``, ...). Outputs that
  are not affine (an effect that saturates, say) are listed in the model's notes.
- Every dose time is an event: a bolus adds ``dose_<k>_cells`` (viable cells
  delivered, less any loss on administration the engine applies) times
  its route's split to the states; an infusion adds ``dose_<k>_cells / dose_<k>_days``
  to its route's infusion rate while it runs.

A model whose remainder is not zero for the scenario writes it with
``remainder_formulas(params)`` (``params`` prepared, one patient): a mapping of
names to infix formulas (SBML Level 3 syntax) in state names, earlier names and
numbers. A key that is a state adds its formula to that state's rate rule; any
other key is a named quantity, written as a parameter with an assignment rule
(``sensitised_boost``, ``target_overflow``, ``effect``, ...). A named quantity
that is also a model output not otherwise written (``effect``) is that output.
The built-in models give their remainder this way (immune memory, retention
capacity, a disease driven by the effect); a model that is nonlinear and gives
no ``remainder_formulas`` is refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mscsim.errors import SpecError

if TYPE_CHECKING:
    from mscsim.engine.events import ResolvedDose
    from mscsim.models.base import Array, Model, Params
    from mscsim.problem.policy import EvidencePolicy
    from mscsim.problem.problem import Problem
    from mscsim.spec.scenario import Scenario

__all__ = [
    "LinearOutput",
    "RatioOutput",
    "affine_outputs",
    "nonlinear_fields",
    "problem_to_sbml",
    "ratio_outputs",
    "scenario_to_sbml",
]

SBML_LEVEL, SBML_VERSION = 3, 2
TIME_TOL_DAY = 1e-9
"""Dose times closer than this (days) are one event, as in the engine."""
_RESERVED = frozenset(
    {"time", "avogadro", "pi", "exponentiale", "true", "false", "inf", "infinity"}
    | {"nan", "notanumber", "e", "rateOf", "delay"}
)
_LINEAR_RTOL = 1e-9


@dataclass(frozen=True)
class LinearOutput:
    """An output equal to ``offset + sum(coefficients[i] * y[i])``.

    Attributes
    ----------
    name : str
    offset : float
    coefficients : ndarray, shape (n_states,)
    """

    name: str
    offset: float
    coefficients: Array


@dataclass(frozen=True)
class RatioOutput:
    """An output equal to ``numerator(y) / y[denominator]``, and ``at_zero`` where that is 0.

    Attributes
    ----------
    name : str
    numerator : LinearOutput
        Named ``label_<organ>`` for ``label_fraction_<organ>`` (the label amount),
        else ``<name>_numerator``.
    denominator : int
        Row of the state that divides.
    at_zero : float
        The output where the denominator is 0.
    """

    name: str
    numerator: LinearOutput
    denominator: int
    at_zero: float


def affine_outputs(
    model: Model, params: Params, *, scale: float = 1e8
) -> tuple[list[LinearOutput], list[str]]:
    """Split ``model``'s outputs into affine functions of the states and the others.

    Each output is evaluated at 0, at every unit state and at ``scale`` times
    every unit state and at two random positive states; it is affine when these
    agree with its offset and coefficients to a relative 1e-9.

    Parameters
    ----------
    model : Model
    params : mapping of str to ndarray
        One patient's parameters, as :meth:`Model.outputs` takes them (not prepared).
    scale : float
        Size of the larger test states (cells are counted in millions).

    Returns
    -------
    affine : list of LinearOutput
        In the order of ``model.output_names``.
    other : list of str
        Names of the outputs that are not affine in the states.
    """
    n = len(model.states)
    rng = np.random.default_rng(0)
    probes = np.concatenate(
        [np.zeros((n, 1)), np.eye(n), scale * np.eye(n), scale * rng.random((n, 2))], axis=1
    )
    values = model.outputs(probes[:, None, :], {k: v[:, None] for k, v in params.items()})
    affine, other = [], []
    for name in model.output_names:
        v = np.broadcast_to(np.asarray(values[name], dtype=float), (1, probes.shape[1]))[0]
        found = _affine_fit(name, probes, v, n)
        if found is None:
            other.append(name)
        else:
            affine.append(found)
    return affine, other


def ratio_outputs(
    model: Model, params: Params, names: Sequence[str]
) -> tuple[list[RatioOutput], list[str]]:
    """Find which of the outputs ``names`` are an affine function divided by one state.

    An output ``r`` is such a ratio with state ``j`` when ``r * y[j]`` is affine
    at positive states: fitted from the all-ones state and its unit shifts, and
    checked at random positive states of sizes 1, 1e4 and 1e8. Its value where
    ``y[j] = 0`` is taken at the zero state.

    Returns
    -------
    ratios : list of RatioOutput
    other : list of str
        The outputs of ``names`` that are not such ratios.
    """
    n = len(model.states)
    rng = np.random.default_rng(1)
    base = np.ones((n, 1))
    checks = [size * (0.5 + rng.random((n, 2))) for size in (1.0, 1e4, 1e8)]
    probes = np.concatenate([np.zeros((n, 1)), base, base + np.eye(n), *checks], axis=1)
    values = model.outputs(probes[:, None, :], {k: v[:, None] for k, v in params.items()})
    ratios, other = [], []
    for name in names:
        v = np.broadcast_to(np.asarray(values[name], dtype=float), (1, probes.shape[1]))[0]
        found = None
        for j in range(n):
            fit = _shifted_affine_fit(_numerator_name(name), probes[:, 1:], v[1:] * probes[j, 1:])
            if fit is not None and np.isfinite(v[0]):
                found = RatioOutput(name, fit, j, float(v[0]))
                break
        if found is None:
            other.append(name)
        else:
            ratios.append(found)
    return ratios, other


def _numerator_name(name: str) -> str:
    """``label_fraction_lung`` -> ``label_lung`` (the label amount); else ``<name>_numerator``."""
    if name.startswith("label_fraction_"):
        return "label_" + name.removeprefix("label_fraction_")
    return f"{name}_numerator"


def _affine_fit(name: str, probes: Array, v: Array, n: int) -> LinearOutput | None:
    """Fit ``v = offset + c @ probes`` from the zero and unit probes; None if it does not hold."""
    offset, coefficients = v[0], v[1 : n + 1] - v[0]
    return _checked_fit(name, probes, v, float(offset), coefficients)


def _shifted_affine_fit(name: str, probes: Array, v: Array) -> LinearOutput | None:
    """Fit ``v`` affine from a base probe and the base shifted by one along each state.

    Coefficients below 1e-9 of the largest are rounding and set to 0.
    """
    n = probes.shape[0]
    coefficients = v[1 : n + 1] - v[0]
    largest = np.abs(coefficients).max(initial=0.0)
    coefficients = np.where(np.abs(coefficients) <= _LINEAR_RTOL * largest, 0.0, coefficients)
    offset = float(v[0] - coefficients @ probes[:, 0])
    if abs(offset) <= _LINEAR_RTOL * largest * n:
        offset = 0.0
    return _checked_fit(name, probes, v, offset, coefficients)


def _checked_fit(
    name: str, probes: Array, v: Array, offset: float, coefficients: Array
) -> LinearOutput | None:
    """Return the fit if it predicts every probe to a relative 1e-9 of its terms, else None."""
    predicted = offset + coefficients @ probes
    size = abs(offset) + np.abs(coefficients) @ np.abs(probes) + np.abs(v)
    if not (np.all(np.isfinite(v)) and np.all(np.abs(v - predicted) <= _LINEAR_RTOL * size)):
        return None
    return LinearOutput(name, offset, coefficients)


def problem_to_sbml(problem: Problem, *, notes: Sequence[str] = ()) -> str:
    """Return the SBML document of ``problem``'s first patient.

    Parameters
    ----------
    problem : Problem
        A model, its parameters, dose events and output times (only the first
        patient is written).
    notes : sequence of str
        Paragraphs added to the model's notes (where the problem came from).

    Raises
    ------
    SpecError
        If the model is not linear for these parameters and gives no
        ``remainder_formulas``, a formula does not parse, a named quantity
        takes an identifier already used, or libsbml finds the document invalid.
    """
    import libsbml  # type: ignore[import-untyped]

    model = problem.model
    one = problem.take(np.array([0], dtype=np.intp)) if problem.n_patients > 1 else problem
    params = one.params
    prepared = model.prepare(params)
    formulas = _remainder_formulas(model, prepared)
    remainder = {k: v for k, v in formulas.items() if k in model.states}
    named = {k: v for k, v in formulas.items() if k not in model.states}
    a, b = model.linear_system(prepared)
    outputs, nonaffine = affine_outputs(model, params)
    ratios, skipped = ratio_outputs(model, params, nonaffine)
    skipped = [name for name in skipped if name not in named]
    doc = libsbml.SBMLDocument(SBML_LEVEL, SBML_VERSION)
    writer = _Writer(
        doc.createModel(),
        model.states,
        [*outputs, *(r.numerator for r in ratios)],
        _cell_states(outputs, model),
    )
    writer.header(model.name, [*notes, *_skipped_note(skipped)])
    y0 = np.broadcast_to(np.asarray(model.initial_state(params), float), (len(model.states), 1))
    for i, state in enumerate(model.states):
        writer.species(state, float(y0[i, 0]))
    for name, formula in named.items():
        writer.named(name, formula)
    given = one.doses
    doses = _delivered(given, params)
    routes = sorted({d.route.value: d.route for d in doses}.values(), key=lambda r: r.value)
    splits = {r.value: np.asarray(model.dose_split(r, params), float)[:, 0] for r in routes}
    infused = {d.route.value for d in doses if d.duration_day > 0}
    for route, split in splits.items():
        writer.route(route, split, infused=route in infused)
    for i, state in enumerate(model.states):
        writer.rate_rule(i, a[0, i], float(b[0, i]), splits, infused, remainder.get(state))
    for output in outputs:
        writer.output(output, cells=output.name.startswith("cells_"))
    for ratio in ratios:
        writer.ratio(ratio)
    writer.doses(doses, splits, given)
    return _checked(libsbml, doc)


def scenario_to_sbml(
    scenario: Scenario, *, source: str = "", policy: EvidencePolicy | None = None
) -> str:
    """Return the SBML document of ``scenario``'s patient, model and doses.

    Parameters
    ----------
    scenario : Scenario
    source : str
        Where the scenario was read from, for the notes.
    policy : EvidencePolicy, optional
        Whether doses beyond the evidence and failed lots are allowed.

    Raises
    ------
    SpecError
        In one line: what stops the export; for a nonlinear model that gives no
        ``remainder_formulas``, the scenario fields that make it nonlinear.
    """
    from mscsim import __version__
    from mscsim.problem.build import problem_from_scenario
    from mscsim.problem.policy import EvidencePolicy

    policy = policy or EvidencePolicy()
    problem = problem_from_scenario(scenario, policy=policy, n_patients=1)
    model = problem.model
    if not model.is_linear(model.prepare(problem.params)) and not hasattr(
        model, "remainder_formulas"
    ):
        raise SpecError(_nonlinear_message(scenario, policy, model.name))
    sim = scenario.simulation
    notes = [
        f"Written by mscsim {__version__} from the scenario {source or '(in memory)'}: "
        f"one patient of {scenario.patient.weight_kg:g} kg, model {model.name}.",
        f"Time in days, cell amounts in viable cells. The scenario simulates "
        f"{sim.horizon_days:g} days with an output every {sim.output_every_days:g} days; "
        "an output at a dose time is the value just after the dose.",
    ]
    if scenario.population is not None:
        notes.append("The scenario's [population] is not exported: this is its typical patient.")
    return problem_to_sbml(problem, notes=notes)


_NONLINEAR_REASONS: dict[str, str] = {
    "disease.model": "the cells' effect on the disease course saturates (nonlinear); "
    "leave out [disease] to export the cell kinetics",
    "product.donor": "a sensitised host clears the donor's cells at a rate set by its "
    "immune memory (nonlinear); autologous cells export",
    "parameters.target_capacity_cells": "cells above the target's retention capacity are "
    "lost faster (nonlinear); set target_capacity_cells = inf under [parameters] to export",
}
"""Why each scenario field that :func:`nonlinear_fields` can name makes a model nonlinear."""


def nonlinear_fields(
    scenario: Scenario, policy: EvidencePolicy | None = None
) -> list[tuple[str, str]]:
    """Return the scenario fields (name, value as written) that make its model nonlinear.

    A field is named when the model is linear with every candidate field set to its
    linear value (no disease, autologous cells, no retention capacity) but not once
    that field takes the scenario's value again. Empty if the model is linear, or
    if it stays nonlinear with every candidate set to its linear value.
    """
    from mscsim.problem.build import problem_from_scenario
    from mscsim.problem.policy import EvidencePolicy

    policy = policy or EvidencePolicy(allow_beyond_evidence=True, allow_failed_lot=True)
    variants = _linear_variants(scenario)
    problem = problem_from_scenario(scenario, policy=policy, n_patients=1)

    def linear(changes: Mapping[str, Callable[[Scenario], Scenario]]) -> bool | None:
        changed = scenario
        for change in changes.values():
            changed = change(changed)
        try:
            problem = problem_from_scenario(changed, policy=policy, n_patients=1)
        except SpecError:
            return None
        return bool(problem.model.is_linear(problem.model.prepare(problem.params)))

    if linear({}) or not linear(variants):
        return []
    found = []
    for name in variants:
        others = {k: v for k, v in variants.items() if k != name}
        if linear(others) is False:
            found.append((name, _field_value(scenario, name, problem)))
    return found


def _linear_variants(scenario: Scenario) -> dict[str, Callable[[Scenario], Scenario]]:
    """Per candidate field, how to set it to its linear value (fields already linear left out)."""
    from mscsim.spec.disease import NoDiseaseSpec
    from mscsim.spec.source import Donor

    out: dict[str, Callable[[Scenario], Scenario]] = {}
    if scenario.disease.model != "none":
        out["disease.model"] = lambda s: s.model_copy(update={"disease": NoDiseaseSpec()})
    if scenario.product.is_allogeneic:
        out["product.donor"] = lambda s: s.model_copy(
            update={"product": s.product.model_copy(update={"donor": Donor.AUTOLOGOUS})}
        )
    capacity = scenario.parameters.get("target_capacity_cells")
    if capacity is None or math.isfinite(capacity):
        out["parameters.target_capacity_cells"] = lambda s: s.model_copy(
            update={"parameters": {**s.parameters, "target_capacity_cells": math.inf}}
        )
    return out


def _field_value(scenario: Scenario, name: str, problem: Problem) -> str:
    """Return field ``name``'s value as the scenario sets it (or the default it takes)."""
    if name == "disease.model":
        return repr(scenario.disease.model)
    if name == "product.donor":
        return repr(scenario.product.donor.value)
    capacity = float(problem.params["target_capacity_cells"][0])
    given = "target_capacity_cells" in scenario.parameters
    return f"{capacity:g}" + ("" if given else f" (the {problem.site} default)")


def _nonlinear_message(scenario: Scenario, policy: EvidencePolicy, model_name: str) -> str:
    """One line naming what makes the scenario's model nonlinear."""
    fields = nonlinear_fields(scenario, policy)
    tail = "the model gives no remainder_formulas, so export-sbml writes it only when linear"
    if not fields:
        return f"model {model_name!r}: its kinetics are nonlinear for this scenario; {tail}"
    said = "; ".join(f"{name} = {value}: {_NONLINEAR_REASONS[name]}" for name, value in fields)
    return f"{said}; {tail}"


def _remainder_formulas(model: Model, prepared: Params) -> dict[str, str]:
    """Return the model's remainder formulas (by state, and named quantities), {} if linear.

    Raises
    ------
    SpecError
        If the model is nonlinear and cannot write its remainder as formulas.
    """
    if model.is_linear(prepared):
        return {}
    describe = getattr(model, "remainder_formulas", None)
    if describe is None:
        raise SpecError(
            f"model {model.name!r}: its remainder is not zero for these parameters and it "
            "gives no remainder_formulas; export-sbml writes linear models only"
        )
    formulas: dict[str, str] = dict(describe(prepared))
    bad = sorted(k for k in set(formulas) - set(model.states) if sid(k) != k)
    if bad:
        raise SpecError(
            f"model {model.name!r}: remainder_formulas names {', '.join(bad)}, "
            "which are neither states nor SBML identifiers"
        )
    return formulas


def _delivered(doses: Sequence[ResolvedDose], params: Params) -> tuple[ResolvedDose, ...]:
    """Return the doses less the cells lost on administration, as the engine applies them."""
    from mscsim.engine.integrate import delivered_doses

    return delivered_doses(doses, params)


def _cell_states(outputs: Sequence[LinearOutput], model: Model) -> Array:
    """Which states count in some ``cells_*`` output (their amounts are in cells)."""
    used = [o.coefficients != 0 for o in outputs if o.name.startswith("cells_")]
    out: Array = np.any(used, axis=0) if used else np.zeros(len(model.states), dtype=bool)
    return out


def _skipped_note(skipped: Sequence[str]) -> list[str]:
    if not skipped:
        return []
    return [
        "Outputs of the model that are not affine in its states, so not written here: "
        + ", ".join(skipped)
        + "."
    ]


def sid(name: str) -> str:
    """Return ``name`` as an SBML identifier: letters, digits and ``_``, not a reserved word.

    Examples
    --------
    >>> sid("liver_spleen"), sid("time"), sid("cells-lung"), sid("2x")
    ('liver_spleen', 'time_', 'cells_lung', '_2x')
    """
    out = re.sub(r"\W", "_", name, flags=re.ASCII)
    if out[:1].isdigit():
        out = "_" + out
    return out + "_" if out in _RESERVED else out


def _number(x: float) -> str:
    """Write a float as the formula parser reads it back exactly."""
    return repr(float(x))


class _Writer:
    """Builds the libsbml model: ids of states, routes and doses, and their rules."""

    def __init__(
        self, m: Any, states: Sequence[str], outputs: Sequence[LinearOutput], cells: Array
    ) -> None:
        self.m = m
        self._states = tuple(states)
        self._cells = cells
        taken = {sid(o.name) for o in outputs if not self._is_state(o)}
        self._outputs = taken
        self.ids = [("state_" if sid(s) in taken else "") + sid(s) for s in states]
        if len(set(self.ids)) != len(self.ids):
            raise SpecError(f"model states {tuple(states)}: two give the same SBML identifier")

    def _is_state(self, output: LinearOutput) -> bool:
        """Whether ``output`` is the state of the same name, so the species is the output."""
        if output.name not in self._states or output.offset != 0:
            return False
        unit = np.zeros(len(self._states))
        unit[self._states.index(output.name)] = 1.0
        return bool(np.array_equal(output.coefficients, unit))

    def header(self, name: str, notes: Sequence[str]) -> None:
        m = self.m
        m.setId(sid(name))
        m.setName(name)
        _unit(m, "day", [("second", 1.0, 86400.0)])
        _unit(m, "cell", [("item", 1.0, 1.0)])
        _unit(m, "per_day", [("second", -1.0, 86400.0)])
        _unit(m, "cell_per_day", [("item", 1.0, 1.0), ("second", -1.0, 86400.0)])
        m.setTimeUnits("day")
        body = m.createCompartment()
        body.setId("body")
        body.setName("the patient (species are amounts)")
        body.setConstant(True)
        body.setSize(1.0)
        body.setSpatialDimensions(3)
        if notes:
            paragraphs = "".join(f"<p>{_escape(n)}</p>" for n in notes)
            m.setNotes(f'<body xmlns="http://www.w3.org/1999/xhtml">{paragraphs}</body>')

    def parameter(self, pid: str, value: float, units: str = "", *, constant: bool = True) -> None:
        p = self.m.createParameter()
        _ok(p.setId(pid), pid)
        p.setValue(value)
        p.setConstant(constant)
        if units:
            p.setUnits(units)

    def named(self, name: str, formula: str) -> None:
        """Write a named quantity of the remainder: a parameter with an assignment rule."""
        if name in {*self.ids, *self._outputs} or self.m.getParameter(name) is not None:
            raise SpecError(f"remainder_formulas name {name!r}: already an SBML identifier")
        self.parameter(name, 0.0, constant=False)
        rule = self.m.createAssignmentRule()
        rule.setVariable(name)
        rule.setMath(self._parse(self._in_ids(formula)))

    def species(self, state: str, amount: float) -> None:
        s = self.m.createSpecies()
        _ok(s.setId(self.ids[self._states.index(state)]), state)
        s.setName(state)
        s.setCompartment("body")
        s.setInitialAmount(amount)
        s.setHasOnlySubstanceUnits(True)
        s.setBoundaryCondition(False)
        s.setConstant(False)
        if self._cells[self._states.index(state)]:
            s.setSubstanceUnits("cell")

    def route(self, route: str, split: Array, *, infused: bool) -> None:
        for i, share in enumerate(split):
            if share != 0:
                self.parameter(f"split_{sid(route)}_{self.ids[i]}", float(share))
        if infused:
            self.parameter(f"infusion_{sid(route)}", 0.0, "cell_per_day", constant=False)

    def rate_rule(
        self,
        i: int,
        row: Array,
        b: float,
        splits: Mapping[str, Array],
        infused: set[str],
        remainder: str | None,
    ) -> None:
        ids = self.ids
        terms = []
        for j, coefficient in enumerate(row):
            if coefficient == 0:
                continue
            same = i == j or self._cells[i] == self._cells[j] == True  # noqa: E712
            units = "per_day" if same else ""
            if i == j:
                self.parameter(f"loss_{ids[i]}", -float(coefficient), units)
                terms.append(f"- loss_{ids[i]} * {ids[i]}")
            else:
                self.parameter(f"k_{ids[i]}_from_{ids[j]}", float(coefficient), units)
                terms.append(f"+ k_{ids[i]}_from_{ids[j]} * {ids[j]}")
        if b != 0:
            self.parameter(f"input_{ids[i]}", b, "cell_per_day" if self._cells[i] else "")
            terms.append(f"+ input_{ids[i]}")
        for route, split in splits.items():
            if route in infused and split[i] != 0:
                terms.append(f"+ split_{sid(route)}_{ids[i]} * infusion_{sid(route)}")
        if remainder is not None:
            terms.append(f"+ ({self._in_ids(remainder)})")
        formula = " ".join(terms).removeprefix("+ ") or "0"
        rule = self.m.createRateRule()
        rule.setVariable(ids[i])
        rule.setMath(self._parse(formula))

    def output(self, output: LinearOutput, *, cells: bool) -> None:
        terms = [
            ids if c == 1 else f"{_number(c)} * {ids}"
            for ids, c in zip(self.ids, output.coefficients, strict=True)
            if c != 0
        ]
        if output.offset != 0 or not terms:
            terms.append(_number(output.offset))
        if self._is_state(output):
            return
        pid = sid(output.name)
        self.parameter(pid, 0.0, "cell" if cells else "", constant=False)
        rule = self.m.createAssignmentRule()
        rule.setVariable(pid)
        rule.setMath(self._parse(" + ".join(terms)))

    def ratio(self, ratio: RatioOutput) -> None:
        """Write the numerator's assignment rule, then the ratio's (``at_zero`` below 0)."""
        self.output(ratio.numerator, cells=ratio.numerator.name.startswith("label_"))
        top, bottom = sid(ratio.numerator.name), self.ids[ratio.denominator]
        pid = sid(ratio.name)
        self.parameter(pid, 0.0, "dimensionless", constant=False)
        rule = self.m.createAssignmentRule()
        rule.setVariable(pid)
        formula = f"piecewise({top} / {bottom}, {bottom} > 0, {_number(ratio.at_zero)})"
        rule.setMath(self._parse(formula))

    def doses(
        self,
        doses: Sequence[ResolvedDose],
        splits: Mapping[str, Array],
        given: Sequence[ResolvedDose],
    ) -> None:
        """Write each dose's cells (and duration) and one event per dose time.

        ``doses`` are the viable cells delivered, ``given`` those administered
        (named in each dose's ``name``).
        """
        changes: list[tuple[float, str, str]] = []  # (time, variable, added term)
        for k, (dose, administered) in enumerate(zip(doses, given, strict=True), start=1):
            cells = f"dose_{k}_cells"
            delivered = float(dose.viable_cells[0])
            self.parameter(cells, delivered, "cell")
            before = float(administered.viable_cells[0])
            lost = f", {1 - delivered / before:.3g} lost on administration" if before else ""
            self.m.getParameter(cells).setName(
                f"dose {k}: {dose.route.value} on day {dose.time_day:g}, viable cells "
                f"delivered ({before:.6g} given{lost if delivered != before else ''})"
            )
            route = sid(dose.route.value)
            if dose.duration_day > 0:
                days = f"dose_{k}_days"
                self.parameter(days, float(dose.duration_day), "day")
                rate = f"infusion_{route}"
                changes.append((dose.time_day, rate, f"{cells} / {days}"))
                changes.append((dose.time_day + dose.duration_day, rate, f"-{cells} / {days}"))
                continue
            for i, share in enumerate(splits[dose.route.value]):
                if share != 0:
                    term = f"{cells} * split_{route}_{self.ids[i]}"
                    changes.append((dose.time_day, self.ids[i], term))
        for n, (time, group) in enumerate(_by_time(changes), start=1):
            self._event(f"dose_event_{n}", time, group)

    def _event(self, eid: str, time: float, changes: Sequence[tuple[str, str]]) -> None:
        event = self.m.createEvent()
        event.setId(eid)
        event.setUseValuesFromTriggerTime(False)
        trigger = event.createTrigger()
        trigger.setInitialValue(False)
        trigger.setPersistent(True)
        trigger.setMath(self._parse(f"time >= {_number(time)}"))
        added: dict[str, list[str]] = {}
        for variable, term in changes:
            added.setdefault(variable, []).append(term)
        for variable, terms in added.items():
            assignment = event.createEventAssignment()
            assignment.setVariable(variable)
            total = " + ".join(terms).replace("+ -", "- ")
            assignment.setMath(self._parse(f"{variable} + {total}"))

    def _in_ids(self, formula: str) -> str:
        """Return a remainder formula with its state names replaced by their SBML ids."""
        names = dict(zip(self._states, self.ids, strict=True))
        return re.sub(r"[A-Za-z_]\w*", lambda m: names.get(m.group(0), m.group(0)), formula)

    def _parse(self, formula: str) -> Any:
        import libsbml

        math_ = libsbml.parseL3FormulaWithModel(formula, self.m)
        if math_ is None:
            raise SpecError(f"formula {formula!r}: {libsbml.getLastParseL3Error().strip()}")
        return math_


def _unit(m: Any, uid: str, parts: Sequence[tuple[str, float, float]]) -> None:
    """Define unit ``uid`` as the product of ``(multiplier * kind) ** exponent`` parts."""
    import libsbml

    definition = m.createUnitDefinition()
    definition.setId(uid)
    for kind, exponent, multiplier in parts:
        unit = definition.createUnit()
        unit.setKind(libsbml.UnitKind_forName(kind))
        unit.setExponent(exponent)
        unit.setScale(0)
        unit.setMultiplier(multiplier)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _ok(status: int, name: str) -> None:
    """Refuse a name libsbml did not take as an identifier."""
    import libsbml

    if status != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise SpecError(f"{name!r}: not usable as an SBML identifier")


def _by_time(
    changes: Sequence[tuple[float, str, str]],
) -> list[tuple[float, list[tuple[str, str]]]]:
    """Group (time, variable, term) changes by time; times within TIME_TOL_DAY are one."""
    groups: list[tuple[float, list[tuple[str, str]]]] = []
    for time, variable, term in sorted(changes, key=lambda c: c[0]):
        if groups and time - groups[-1][0] <= TIME_TOL_DAY:
            groups[-1][1].append((variable, term))
        else:
            groups.append((time, [(variable, term)]))
    return groups


def _checked(libsbml: Any, doc: Any) -> str:
    """Return the document as XML, or refuse it when libsbml finds an error in it."""
    doc.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, False)
    doc.checkConsistency()
    errors = [
        doc.getError(i)
        for i in range(doc.getNumErrors())
        if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR
    ]
    if errors:
        first = errors[0].getMessage().strip().splitlines()[0]
        raise SpecError(f"SBML document: {len(errors)} error(s), first: {first}")
    text: str = libsbml.writeSBMLToString(doc)
    return text
