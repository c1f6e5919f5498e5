"""The immutable result of a simulation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mscsim.models.base import Array

__all__ = ["SimulationResult"]


@dataclass(frozen=True)
class SimulationResult:
    """States and outputs of ``n_patients`` simulated patients.

    Attributes
    ----------
    model : str
        Name of the simulated model.
    engine : str
        ``"fast"`` or ``"scipy"``.
    times_day : ndarray, shape (n_times,)
        Output times; a value at a dose time is taken just after the dose.
    state_names : tuple of str
    states : ndarray, shape (n_states, n_patients, n_times)
    outputs : mapping of str to ndarray, each shape (n_patients, n_times)
    status : ndarray of int8, shape (n_patients,)
        0 where the patient was integrated, 1 where it failed (``on_failure="flag"``).
    message : str
        Summary of the run.
    n_steps : int
        Integration steps taken (fast: steps over all patients at once; scipy:
        summed over patients).
    n_rhs_evals : int
        Right-hand-side evaluations, counted like ``n_steps``.
    """

    model: str
    engine: str
    times_day: Array
    state_names: tuple[str, ...]
    states: Array
    outputs: Mapping[str, Array]
    status: np.ndarray
    message: str
    n_steps: int
    n_rhs_evals: int
    patient_ids: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        for array in (self.times_day, self.states, self.status, self.patient_ids):
            array.flags.writeable = False
        for values in self.outputs.values():
            if values.flags.writeable:
                values.flags.writeable = False

    @property
    def n_patients(self) -> int:
        """Number of simulated patients."""
        return int(self.states.shape[1])

    @property
    def success(self) -> bool:
        """Whether every patient was integrated."""
        return bool(np.all(self.status == 0))

    def output(self, name: str) -> Array:
        """Return output ``name``, shape ``(n_patients, n_times)``."""
        return self.outputs[name]

    def take_times(self, index: NDArray[np.intp]) -> SimulationResult:
        """Return the result at output times ``index`` only (positions in ``times_day``)."""
        return replace(
            self,
            times_day=self.times_day[index],
            states=self.states[:, :, index],
            outputs={k: v[:, index] for k, v in self.outputs.items()},
        )

    def to_frame(self) -> pd.DataFrame:
        """Return a wide tidy table: one row per patient and time.

        Columns are ``patient_id``, ``time_day`` and then every output in the
        model's order.
        """
        n_p, n_t = self.n_patients, self.times_day.size
        ids = self.patient_ids if self.patient_ids.size == n_p else np.arange(n_p)
        data: dict[str, Array | np.ndarray] = {
            "patient_id": np.repeat(ids, n_t),
            "time_day": np.tile(self.times_day, n_p),
        }
        for name, values in self.outputs.items():
            data[name] = np.asarray(values).reshape(-1)
        return pd.DataFrame(data)
