"""Simulate a virtual population in chunks, in process or on a Dask cluster.

A chunk is a range of patient ids. Each patient's draws are keyed by its id
(:mod:`mscsim.population.sample`) and the fast engine's result for a patient does
not depend on its batch, so any chunk size and any executor give the same
numbers. Chunks come back in order; only one chunk's states are held at a time
in process (a Dask cluster may hold several while it works ahead).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mscsim.engine.fast import DEFAULT_MAX_STEP_DAY
from mscsim.engine.integrate import EngineName, simulate
from mscsim.engine.result import SimulationResult
from mscsim.engine.scenario import ScenarioInputs, prepare_scenario
from mscsim.engine.scenario import simulate_scenario as engine_simulate_scenario
from mscsim.errors import MscsimWarning, SpecError
from mscsim.models.base import Model
from mscsim.population.defaults import DEFAULT_CHUNK_SIZE
from mscsim.population.sample import sample_patients
from mscsim.spec.scenario import Scenario

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "PERCENTILES",
    "PercentileSummary",
    "PopulationChunk",
    "map_chunks",
    "patient_chunks",
    "simulate_chunk",
    "simulate_population",
    "simulate_scenario",
]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class PopulationChunk:
    """The simulated patients of one chunk and their sampled covariates."""

    result: SimulationResult
    covariates: pd.DataFrame


def patient_chunks(
    n_patients: int, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> list[NDArray[np.int64]]:
    """Split patient ids ``0 .. n_patients - 1`` into consecutive chunks."""
    if chunk_size < 1:
        raise SpecError(f"chunk_size = {chunk_size}: must be >= 1")
    ids = np.arange(n_patients, dtype=np.int64)
    return [ids[i : i + chunk_size] for i in range(0, n_patients, chunk_size)]


def simulate_chunk(
    scenario: Scenario,
    patient_ids: NDArray[np.int64],
    *,
    engine: EngineName = "fast",
    allow_beyond_evidence: bool = False,
    allow_failed_lot: bool = False,
    times_day: NDArray[np.float64] | None = None,
    max_step_day: float = DEFAULT_MAX_STEP_DAY,
) -> PopulationChunk:
    """Sample and simulate the patients ``patient_ids`` of ``scenario``'s population.

    ``times_day`` replaces the scenario's output grid. Warnings about the scenario
    itself (dose evidence, lot) are not repeated per chunk: check them once with
    :func:`~mscsim.engine.prepare_scenario`.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MscsimWarning)
        inputs = prepare_scenario(
            scenario,
            allow_beyond_evidence=allow_beyond_evidence,
            allow_failed_lot=allow_failed_lot,
        )
    return _simulate_patients(
        scenario,
        inputs,
        patient_ids,
        engine=engine,
        times_day=inputs.times_day if times_day is None else times_day,
        max_step_day=max_step_day,
    )


def _simulate_patients(
    scenario: Scenario,
    inputs: ScenarioInputs,
    patient_ids: NDArray[np.int64],
    *,
    engine: EngineName,
    times_day: NDArray[np.float64],
    max_step_day: float,
    on_failure: Literal["raise", "flag"] = "raise",
    progress: Callable[[int, int], None] | None = None,
) -> PopulationChunk:
    """Sample the patients ``patient_ids`` from the prepared scenario and simulate them."""
    patients = sample_patients(
        scenario,
        inputs.params,
        inputs.doses,
        patient_ids,
        viability=inputs.product.viability,
    )
    result = simulate(
        inputs.model,
        patients.doses,
        times_day=times_day,
        params=patients.params,
        n_patients=int(patient_ids.size),
        engine=engine,
        max_step_day=max_step_day,
        on_failure=on_failure,
        progress=progress,
    )
    return PopulationChunk(replace(result, patient_ids=patients.patient_ids), patients.covariates)


def simulate_scenario(
    scenario: Scenario,
    *,
    model: Model | None = None,
    n_patients: int | None = None,
    engine: EngineName = "fast",
    allow_beyond_evidence: bool = False,
    allow_failed_lot: bool = False,
    max_step_day: float = DEFAULT_MAX_STEP_DAY,
    on_failure: Literal["raise", "flag"] = "raise",
    progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Simulate ``scenario``: the patients of its ``[population]``, else its patient.

    With a ``[population]``, patient ``i`` is drawn as :func:`simulate_population`
    draws it (the same numbers), and all ``n_patients`` come back in one result;
    :func:`simulate_population` streams large populations in chunks and returns
    their sampled covariates. Without one, every patient is the scenario's patient
    (:func:`mscsim.engine.simulate_scenario`).

    Parameters
    ----------
    scenario : Scenario
    model : Model, optional
        Default: the scenario's :class:`~mscsim.models.TherapyModel`.
    n_patients : int, optional
        Overrides ``scenario.simulation.n_patients``.
    engine, allow_beyond_evidence, allow_failed_lot, max_step_day, on_failure, progress
        As in :func:`mscsim.engine.simulate_scenario`.

    Raises
    ------
    SpecError
        As :func:`~mscsim.engine.prepare_scenario`, or for ``n_patients`` < 1.

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
    if n_patients is not None and (
        isinstance(n_patients, bool) or not isinstance(n_patients, int) or n_patients < 1
    ):
        raise SpecError(f"n_patients = {n_patients!r}: must be a whole number >= 1")
    options: dict[str, Any] = {
        "engine": engine,
        "max_step_day": max_step_day,
        "on_failure": on_failure,
        "progress": progress,
    }
    if scenario.population is None:
        return engine_simulate_scenario(
            scenario,
            model=model,
            n_patients=n_patients,
            allow_beyond_evidence=allow_beyond_evidence,
            allow_failed_lot=allow_failed_lot,
            **options,
        )
    inputs = prepare_scenario(
        scenario,
        model=model,
        allow_beyond_evidence=allow_beyond_evidence,
        allow_failed_lot=allow_failed_lot,
    )
    ids = np.arange(n_patients or scenario.simulation.n_patients, dtype=np.int64)
    return _simulate_patients(scenario, inputs, ids, times_day=inputs.times_day, **options).result


def _client(address: str) -> Any:
    """Return a Dask client: ``local[:N]`` starts a LocalCluster, else connect to ``address``."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - a dependency of mscsim
        raise SpecError(f"--dask = {address!r}: dask.distributed is not installed") from err
    if address == "local" or address.startswith("local:"):
        workers = address.partition(":")[2]
        if workers and (not workers.isdigit() or int(workers) < 1):
            raise SpecError(f"--dask = {address!r}: local:N needs a whole number N >= 1")
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=int(workers) if workers else None,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        return Client(cluster)  # type: ignore[no-untyped-call]
    if not address.startswith("tcp://"):
        raise SpecError(f"--dask = {address!r}: use tcp://HOST:PORT, local or local:N")
    try:
        return Client(address, timeout="10s")  # type: ignore[no-untyped-call]
    except OSError as err:
        raise SpecError(f"--dask = {address!r}: cannot connect ({err})") from err


def map_chunks(
    func: Callable[[T], R],
    items: Sequence[T],
    *,
    dask: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[R]:
    """Yield ``func(item)`` for every item, in order, in process or on Dask.

    ``dask``: ``None`` (in process), ``"local"`` / ``"local:N"`` (a LocalCluster
    with N worker processes) or ``"tcp://HOST:PORT"`` (an existing scheduler).
    """
    total = len(items)
    if dask is None:
        for done, item in enumerate(items, start=1):
            yield func(item)
            if progress is not None:
                progress(done, total)
        return
    client = _client(dask)
    try:
        futures = client.map(func, list(items), pure=False)
        for done, future in enumerate(futures, start=1):
            yield future.result()
            future.release()
            if progress is not None:
                progress(done, total)
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None and dask.startswith("local"):
            cluster.close()


def simulate_population(
    scenario: Scenario,
    *,
    n_patients: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    engine: EngineName = "fast",
    dask: str | None = None,
    allow_beyond_evidence: bool = False,
    allow_failed_lot: bool = False,
    times_day: NDArray[np.float64] | None = None,
    max_step_day: float = DEFAULT_MAX_STEP_DAY,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[PopulationChunk]:
    """Yield the population's chunks in patient order (``times_day``: other output times).

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
    >>> chunks = list(simulate_population(s, n_patients=5, chunk_size=2))
    >>> [c.result.patient_ids.tolist() for c in chunks]
    [[0, 1], [2, 3], [4]]
    """
    if scenario.population is None:
        raise SpecError("population: the scenario has no [population] table")
    n = n_patients or scenario.simulation.n_patients
    prepare_scenario(  # refuse bad input (and warn once) before any chunk runs
        scenario, allow_beyond_evidence=allow_beyond_evidence, allow_failed_lot=allow_failed_lot
    )
    run = _ChunkRunner(
        scenario, engine, allow_beyond_evidence, allow_failed_lot, times_day, max_step_day
    )
    yield from map_chunks(run, patient_chunks(n, chunk_size), dask=dask, progress=progress)


@dataclass(frozen=True)
class _ChunkRunner:
    """A picklable ``simulate_chunk`` with its options bound (for Dask workers)."""

    scenario: Scenario
    engine: EngineName
    allow_beyond_evidence: bool
    allow_failed_lot: bool
    times_day: NDArray[np.float64] | None = None
    max_step_day: float = DEFAULT_MAX_STEP_DAY

    def __call__(self, ids: NDArray[np.int64]) -> PopulationChunk:
        return simulate_chunk(
            self.scenario,
            ids,
            engine=self.engine,
            allow_beyond_evidence=self.allow_beyond_evidence,
            allow_failed_lot=self.allow_failed_lot,
            times_day=self.times_day,
            max_step_day=self.max_step_day,
        )


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
                f"--summary: {n_patients} patients x {times_day.size} times x {len(outputs)} "
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
