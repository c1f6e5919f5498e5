"""A problem: a model, per-patient parameters, per-patient dose events and output times."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mscsim.engine.events import ResolvedDose, build_schedule
from mscsim.engine.integrate import param_table, simulate
from mscsim.engine.result import SimulationResult
from mscsim.engine.solvers import FastSolver, Solver
from mscsim.errors import SpecError
from mscsim.evidence.doses import DoseAssessment
from mscsim.evidence.release import LotAssessment
from mscsim.evidence.sources import ResolvedProduct
from mscsim.models.base import Array, Model
from mscsim.problem.events import DoseEvents, ScheduleKey

__all__ = ["Problem", "Provenance", "solve"]


@dataclass(frozen=True)
class Provenance:
    """Where a problem built from a scenario came from, for reports.

    Attributes
    ----------
    site : str
        Target site whose parameter defaults apply.
    assessments : tuple of DoseAssessment
        Verdict on every distinct administration.
    product : ResolvedProduct
        Viability, potency and source factors used, with their origin.
    lot : LotAssessment or None
        The named lot's release assessment at the largest planned administration.
    species : str
        The scenario's species; dose verdicts are human evidence and are made for
        ``"human"`` only.
    """

    site: str
    assessments: tuple[DoseAssessment, ...]
    product: ResolvedProduct
    lot: LotAssessment | None = None
    species: str = "human"


@dataclass(frozen=True, eq=False)
class Problem:
    """A forward problem: what :func:`solve` simulates.

    Parameters
    ----------
    model : Model
    params : mapping of str to array_like
        Parameters and covariates, each of shape (1,) (shared) or (n_patients,).
    events : DoseEvents
        Per-patient dose events (``patient`` is the row, 0-based).
    times_day : array_like, shape (n_times,)
        Increasing output times (days, >= 0).
    n_patients : int, optional
        Default: the longest parameter column, or one more than the last patient
        row of ``events``.
    patient_ids : ndarray of int64, optional
        Labels of the patients in results (default ``0 .. n_patients - 1``).
    provenance : Provenance, optional
        Dose verdicts, product and lot assessment of a problem built from a scenario.

    Two problems are equal when their model, parameters, events, output times
    and patient ids are (provenance left out).
    """

    model: Model
    params: Mapping[str, Array]
    events: DoseEvents
    times_day: Array
    n_patients: int = 0
    patient_ids: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    provenance: Provenance | None = None

    def __post_init__(self) -> None:
        rows = [np.size(v) for v in self.params.values()]
        n = self.n_patients or max([1, *rows, int(self.events.patient.max(initial=-1)) + 1])
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise SpecError(f"n_patients = {n!r}: must be a whole number >= 1")
        if len(self.events) and self.events.patient.max() >= n:
            raise SpecError(
                f"events.patient: {int(self.events.patient.max())} is not one of the {n} patients"
            )
        times = np.array(self.times_day, dtype=float)
        build_schedule((), times)  # checks the output times
        times.flags.writeable = False
        ids = np.asarray(self.patient_ids, dtype=np.int64)
        if ids.size == 0:
            ids = np.arange(n, dtype=np.int64)
        if ids.shape != (n,):
            raise SpecError(f"patient_ids: need one id per patient ({n})")
        ids.flags.writeable = False
        object.__setattr__(self, "n_patients", int(n))
        params = {k: v.copy() for k, v in param_table(self.params, int(n)).items()}
        for values in params.values():
            values.flags.writeable = False
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "times_day", times)
        object.__setattr__(self, "patient_ids", ids)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Problem):
            return NotImplemented
        return (
            self.model == other.model
            and self.n_patients == other.n_patients
            and self.params.keys() == other.params.keys()
            and all(
                np.array_equal(v, other.params[k], equal_nan=True) for k, v in self.params.items()
            )
            and self.events == other.events
            and np.array_equal(self.times_day, other.times_day)
            and np.array_equal(self.patient_ids, other.patient_ids)
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def doses(self) -> tuple[ResolvedDose, ...]:
        """Return the doses when every patient shares one schedule (amounts may differ).

        Raises
        ------
        SpecError
            If patients have different dose times, routes or durations.
        """
        groups = self.schedule_groups()
        if len(groups) > 1:
            raise SpecError("events: patients have different schedules; use problem.events")
        return self.events.doses_for(next(iter(groups.values())))

    def schedule_groups(self) -> dict[ScheduleKey, NDArray[np.intp]]:
        """Group patient rows by identical dose schedule (times, routes, durations)."""
        return self.events.schedule_groups(self.n_patients)

    def take(self, rows: NDArray[np.intp]) -> Problem:
        """Return the problem of the patients at ``rows`` (their events renumbered).

        Raises
        ------
        SpecError
            If a row is repeated or not a patient row.
        """
        rows = np.asarray(rows, dtype=np.intp)
        if np.unique(rows).size != rows.size or np.any((rows < 0) | (rows >= self.n_patients)):
            raise SpecError(
                f"rows = {rows.tolist()}: give distinct patient rows from 0 to "
                f"{self.n_patients - 1}"
            )
        keep = np.isin(self.events.patient, rows)
        renumber = np.full(self.n_patients, -1, dtype=np.int64)
        renumber[rows] = np.arange(len(rows))
        events = DoseEvents(
            renumber[self.events.patient[keep]],
            self.events.time_day[keep],
            self.events.amount_cells[keep],
            tuple(r for r, k in zip(self.events.route, keep, strict=True) if k),
            self.events.duration_day[keep],
        )
        return replace(
            self,
            params={k: v if v.size == 1 else v[rows] for k, v in self.params.items()},
            events=events,
            n_patients=len(rows),
            patient_ids=self.patient_ids[rows],
        )

    def with_times(self, times_day: ArrayLike) -> Problem:
        """Return the problem with other output times."""
        return replace(self, times_day=np.asarray(times_day, dtype=float))

    # Compatibility with ``ScenarioInputs`` (the problem's provenance, flattened).
    @property
    def site(self) -> str:
        """Target site of a problem built from a scenario."""
        return self._provenance.site

    @property
    def assessments(self) -> tuple[DoseAssessment, ...]:
        """Dose verdicts of a problem built from a scenario."""
        return self._provenance.assessments

    @property
    def product(self) -> ResolvedProduct:
        """Resolved product of a problem built from a scenario."""
        return self._provenance.product

    @property
    def lot(self) -> LotAssessment | None:
        """Lot assessment of a problem built from a scenario."""
        return self._provenance.lot

    @property
    def _provenance(self) -> Provenance:
        if self.provenance is None:
            raise SpecError("problem: built in code, it has no scenario provenance")
        return self.provenance


def solve(
    problem: Problem,
    solver: Solver | None = None,
    *,
    on_failure: Literal["raise", "flag"] = "raise",
    progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Simulate every patient of ``problem`` under its own dose events.

    Patients sharing a dose schedule (times, routes, durations; amounts may
    differ) are simulated together, each group on its own, and the results are
    put back in patient order. A patient's result therefore does not depend on the
    other patients' doses.

    Parameters
    ----------
    problem : Problem
    solver : Solver, optional
        Default :class:`~mscsim.engine.FastSolver`.
    on_failure : {"raise", "flag"}
        As in :func:`mscsim.engine.simulate`.
    progress : callable, optional
        Called as ``progress(done, total)``; with several schedule groups, once
        per group.

    Returns
    -------
    SimulationResult
        Patients in problem order, labelled with ``problem.patient_ids``.
    """
    solver = FastSolver() if solver is None else solver
    groups = list(problem.schedule_groups().values())
    if len(groups) == 1:
        result = _solve_group(problem, groups[0], solver, on_failure, progress)
        return replace(result, patient_ids=problem.patient_ids)
    parts = []
    for done, rows in enumerate(groups, start=1):
        parts.append(_solve_group(problem, rows, solver, on_failure, None))
        if progress is not None:
            progress(done, len(groups))
    return _scatter(problem, groups, parts)


def _solve_group(
    problem: Problem,
    rows: NDArray[np.intp],
    solver: Solver,
    on_failure: Literal["raise", "flag"],
    progress: Callable[[int, int], None] | None,
) -> SimulationResult:
    params = {k: v if v.size == 1 else v[rows] for k, v in problem.params.items()}
    return simulate(
        problem.model,
        problem.events.doses_for(rows),
        times_day=problem.times_day,
        params=params,
        n_patients=len(rows),
        solver=solver,
        on_failure=on_failure,
        progress=progress,
    )


def _scatter(
    problem: Problem, groups: list[NDArray[np.intp]], parts: list[SimulationResult]
) -> SimulationResult:
    """Put the groups' results back in patient order."""
    first = parts[0]
    n = problem.n_patients
    states = np.empty((first.states.shape[0], n, first.states.shape[2]))
    status = np.empty(n, dtype=np.int8)
    outputs = {k: np.empty((n, first.times_day.size)) for k in first.outputs}
    for rows, part in zip(groups, parts, strict=True):
        states[:, rows] = part.states
        status[rows] = part.status
        for k, v in outputs.items():
            v[rows] = part.output(k)
    failed = [p.message for p in parts if p.message != "ok"]
    return replace(
        first,
        states=states,
        outputs=outputs,
        status=status,
        message="; ".join(failed) or "ok",
        n_steps=sum(p.n_steps for p in parts),
        n_rhs_evals=sum(p.n_rhs_evals for p in parts),
        patient_ids=problem.patient_ids,
    )
