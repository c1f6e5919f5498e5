"""Simulate a virtual population in chunks, in process or on a Dask cluster.

A chunk is a range of patient ids. Each patient's draws are keyed by its id
(:mod:`mscsim.population.sample`) and the fast engine's result for a patient does
not depend on its batch, so any chunk size and any executor give the same
numbers. Chunks come back in order; only one chunk's states are held at a time
in process (a Dask cluster may hold several while it works ahead).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mscsim.engine.result import SimulationResult
from mscsim.engine.solvers import FastSolver, Solver
from mscsim.errors import SpecError
from mscsim.models.base import Model
from mscsim.population.build import sample_problem
from mscsim.problem.build import problem_from_scenario
from mscsim.problem.executors import Executor, InProcess, patient_chunks
from mscsim.problem.policy import EvidencePolicy
from mscsim.problem.problem import Problem, solve
from mscsim.spec.scenario import Scenario

__all__ = [
    "PERCENTILES",
    "PercentileSummary",
    "PopulationChunk",
    "simulate_population",
    "simulate_scenario",
]


@dataclass(frozen=True)
class PopulationChunk:
    """The simulated patients of one chunk and their sampled covariates."""

    result: SimulationResult
    covariates: pd.DataFrame
    problem: Problem


def _check_n_patients(n_patients: int | None) -> None:
    if n_patients is not None and (
        isinstance(n_patients, bool) or not isinstance(n_patients, int) or n_patients < 1
    ):
        raise SpecError(f"n_patients = {n_patients!r}: must be a whole number >= 1")


def simulate_scenario(
    scenario: Scenario,
    *,
    model: Model | None = None,
    n_patients: int | None = None,
    solver: Solver | None = None,
    policy: EvidencePolicy = EvidencePolicy(),  # noqa: B008 - a frozen value
    on_failure: Literal["raise", "flag"] = "raise",
    progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Simulate ``scenario``: the patients of its ``[population]``, else its patient.

    With a ``[population]``, patient ``i`` is drawn as :func:`simulate_population`
    draws it (the same numbers), and all ``n_patients`` come back in one result;
    :func:`simulate_population` streams large populations in chunks and returns
    their sampled covariates. Without one, every patient is the scenario's patient.

    Parameters
    ----------
    scenario : Scenario
    model : Model, optional
        Default: the scenario's :class:`~mscsim.models.TherapyModel`.
    n_patients : int, optional
        Overrides ``scenario.simulation.n_patients``.
    solver : Solver, optional
        Default :class:`~mscsim.engine.FastSolver`.
    policy : EvidencePolicy
        Doses beyond the evidence and failed lots (refused by default).
    on_failure, progress
        As in :func:`mscsim.problem.solve`.

    Raises
    ------
    SpecError
        As :func:`~mscsim.problem.problem_from_scenario`, or for ``n_patients`` < 1.

    Examples
    --------
    >>> from mscsim.spec import Scenario
    >>> s = Scenario.model_validate({
    ...     "patient": {"weight_kg": 70},
    ...     "product": {"source": "bone_marrow", "donor": "autologous"},
    ...     "dose": [{"route": "intramuscular", "cells": 5e7}],
    ...     "simulation": {"horizon_days": 7},
    ...     "population": {"seed": 1},
    ... })
    >>> r = simulate_scenario(s, n_patients=4)
    >>> r.patient_ids.tolist(), len(set(r.output("cells_target")[:, -1].tolist()))
    ([0, 1, 2, 3], 4)
    """
    _check_n_patients(n_patients)
    n = n_patients or scenario.simulation.n_patients
    problem = problem_from_scenario(
        scenario, model=model, policy=policy, n_patients=1 if scenario.population else n
    )
    if scenario.population is not None:
        problem = sample_problem(problem, scenario, np.arange(n, dtype=np.int64))[0]
    return solve(problem, solver, on_failure=on_failure, progress=progress)


@dataclass(frozen=True)
class _ChunkRunner:
    """Draw and simulate one chunk of patients around the typical problem (picklable)."""

    typical: Problem
    scenario: Scenario
    solver: Solver

    def __call__(self, ids: NDArray[np.int64]) -> PopulationChunk:
        problem, patients = sample_problem(self.typical, self.scenario, ids)
        return PopulationChunk(solve(problem, self.solver), patients.covariates, problem)


def simulate_population(
    scenario: Scenario,
    *,
    n_patients: int | None = None,
    model: Model | None = None,
    solver: Solver | None = None,
    executor: Executor | None = None,
    policy: EvidencePolicy = EvidencePolicy(),  # noqa: B008 - a frozen value
    times_day: NDArray[np.float64] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[PopulationChunk]:
    """Yield the population's chunks in patient order.

    The scenario is checked once (:func:`~mscsim.problem.problem_from_scenario`),
    before any chunk runs. Each chunk of ``executor.chunk_size`` patients is
    drawn and simulated where the executor runs it; any chunk size and any
    executor give the same numbers.

    Parameters
    ----------
    scenario : Scenario
        A scenario with a ``[population]`` table.
    n_patients : int, optional
        Overrides ``scenario.simulation.n_patients``.
    model : Model, optional
    solver : Solver, optional
        Default :class:`~mscsim.engine.FastSolver`.
    executor : Executor, optional
        Default :class:`~mscsim.problem.InProcess` (chunks of 5000 patients).
    policy : EvidencePolicy
    times_day : ndarray, optional
        Output times replacing the scenario's grid.
    progress : callable, optional
        Called as ``progress(done, total)`` after each chunk.

    Examples
    --------
    >>> from mscsim.problem import InProcess
    >>> from mscsim.spec import Scenario
    >>> s = Scenario.model_validate({
    ...     "patient": {"weight_kg": 70},
    ...     "product": {"source": "bone_marrow", "donor": "autologous"},
    ...     "dose": [{"route": "intramuscular", "cells": 5e7}],
    ...     "simulation": {"horizon_days": 7},
    ...     "population": {"seed": 1},
    ... })
    >>> chunks = list(simulate_population(s, n_patients=5, executor=InProcess(chunk_size=2)))
    >>> [c.result.patient_ids.tolist() for c in chunks]
    [[0, 1], [2, 3], [4]]
    """
    if scenario.population is None:
        raise SpecError("population: the scenario has no [population] table")
    _check_n_patients(n_patients)
    executor = InProcess() if executor is None else executor
    typical = problem_from_scenario(scenario, model=model, policy=policy, n_patients=1)
    if times_day is not None:
        typical = typical.with_times(times_day)
    run = _ChunkRunner(typical, scenario, FastSolver() if solver is None else solver)
    n = n_patients or scenario.simulation.n_patients
    chunks = patient_chunks(n, executor.chunk_size)
    yield from executor.map(run, chunks, progress=progress)


PERCENTILES: tuple[float, ...] = (5.0, 50.0, 95.0)
"""Percentiles of a population summary."""

MAX_SUMMARY_BYTES = 4 * 2**30
"""Largest store of outputs a summary may hold (float32, every patient and time)."""


class PercentileSummary:
    """Collect chunks' outputs and return percentiles over patients at every time.

    Percentiles are exact, so every patient's outputs are kept (as float32):
    ``n_patients x n_times x n_outputs x 4`` bytes, refused above
    :data:`MAX_SUMMARY_BYTES` before any work.
    """

    def __init__(self, n_patients: int, times_day: NDArray[np.float64], outputs: Sequence[str]):
        need = 4 * n_patients * times_day.size * len(outputs)
        if need > MAX_SUMMARY_BYTES:
            raise SpecError(
                f"percentile summary: {n_patients} patients x {times_day.size} times x "
                f"{len(outputs)} "
                f"outputs need {need / 2**30:.1f} GiB; use fewer patients or a coarser "
                "output_every_days"
            )
        self.times_day = times_day
        self.store = {k: np.empty((n_patients, times_day.size), dtype=np.float32) for k in outputs}
        self.filled = 0

    def add(self, result: SimulationResult) -> None:
        """Store one chunk's outputs (chunks in patient order)."""
        rows = slice(self.filled, self.filled + result.n_patients)
        for name, values in self.store.items():
            values[rows] = result.output(name)
        self.filled += result.n_patients

    def frame(self) -> pd.DataFrame:
        """Return ``time_day``, ``output``, ``p5``, ``p50``, ``p95``, ``mean`` (long form)."""
        parts = []
        for name, values in self.store.items():
            data = values[: self.filled].astype(np.float64)
            pct = np.percentile(data, PERCENTILES, axis=0)
            part = pd.DataFrame({"time_day": self.times_day, "output": name})
            for q, row in zip(PERCENTILES, pct, strict=True):
                part[f"p{q:g}"] = row
            part["mean"] = data.mean(axis=0)
            parts.append(part)
        return pd.concat(parts, ignore_index=True)
