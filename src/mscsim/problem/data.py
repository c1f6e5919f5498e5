"""Observations of a problem's patients: what was measured, when, and its limit.

An :class:`Observations` table is the data side of a fit: one row per measured
value, keyed by the patient's row in its :class:`~mscsim.problem.Problem`, the
time and the model output observed (NONMEM's ``DVID``). A value below the lower
limit of quantification is kept as a row with ``blq = True`` (its ``value`` is
NaN), so a likelihood can use it (Beal's M3) instead of dropping it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mscsim.errors import SpecError
from mscsim.models.base import Array

__all__ = ["Observations"]


@dataclass(frozen=True, eq=False)
class Observations:
    """Measured outputs of a problem's patients.

    Attributes
    ----------
    patient : ndarray of int64, shape (n,)
        Row of the patient in its problem (0-based).
    time_day : ndarray, shape (n,)
        Time of the measurement (day).
    output : tuple of str, length n
        Name of the model output measured (``cells_target``, ``sara_score`` ...).
    value : ndarray, shape (n,)
        Measured value; NaN where ``blq``.
    lloq : ndarray, shape (n,)
        Lower limit of quantification; NaN where none was given.
    blq : ndarray of bool, shape (n,)
        Whether the value is below ``lloq`` (censored).

    Rows are sorted by patient, then time, then output. Two tables are equal when
    every column is.
    """

    patient: NDArray[np.int64]
    time_day: Array
    output: tuple[str, ...]
    value: Array
    lloq: Array
    blq: NDArray[np.bool_]

    def __post_init__(self) -> None:
        n = len(self.output)
        columns = {
            "patient": np.asarray(self.patient, dtype=np.int64),
            "time_day": np.asarray(self.time_day, dtype=float),
            "value": np.asarray(self.value, dtype=float),
            "lloq": np.asarray(self.lloq, dtype=float),
            "blq": np.asarray(self.blq, dtype=bool),
        }
        for name, column in columns.items():
            if column.shape != (n,):
                raise SpecError(f"observations.{name}: need {n} values, one per observation")
        if np.any(columns["patient"] < 0):
            raise SpecError("observations.patient: rows are 0-based, not negative")
        if not np.all(np.isfinite(columns["time_day"]) & (columns["time_day"] >= 0)):
            raise SpecError("observations.time_day: times must be finite and >= 0")
        measured = ~columns["blq"]
        if not np.all(np.isfinite(columns["value"][measured])):
            raise SpecError("observations.value: a measured value must be finite")
        if np.any(columns["blq"] & ~np.isfinite(columns["lloq"])):
            raise SpecError("observations.lloq: a value below the limit needs the limit")
        order = np.lexsort(
            (np.array(self.output, dtype=object), columns["time_day"], columns["patient"])
        )
        for name, column in columns.items():
            sorted_column = column[order]
            sorted_column.flags.writeable = False
            object.__setattr__(self, name, sorted_column)
        object.__setattr__(self, "output", tuple(self.output[i] for i in order))

    @classmethod
    def of(
        cls,
        patient: ArrayLike,
        time_day: ArrayLike,
        output: Sequence[str] | str,
        value: ArrayLike,
        *,
        lloq: ArrayLike | None = None,
    ) -> Observations:
        """Return observations from columns; values below ``lloq`` become censored rows.

        ``output`` may be one name for every row; ``lloq`` one limit or one per row.

        Examples
        --------
        >>> obs = Observations.of([0, 0], [1.0, 7.0], "cells_target", [5e6, 20.0], lloq=100.0)
        >>> obs.blq.tolist(), float(obs.value[1])
        ([False, True], nan)
        """
        patient = np.atleast_1d(np.asarray(patient, dtype=np.int64))
        n = patient.size
        names = (output,) * n if isinstance(output, str) else tuple(output)
        values = np.broadcast_to(np.asarray(value, dtype=float), (n,)).copy()
        limit = (
            np.full(n, np.nan)
            if lloq is None
            else np.broadcast_to(np.asarray(lloq, dtype=float), (n,))
        )
        blq = np.isfinite(limit) & (values < limit)
        values[blq] = np.nan
        return cls(
            patient,
            np.broadcast_to(np.asarray(time_day, dtype=float), (n,)),
            names,
            values,
            np.array(limit),
            blq,
        )

    def __len__(self) -> int:
        return len(self.output)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Observations):
            return NotImplemented
        return (
            self.output == other.output
            and np.array_equal(self.patient, other.patient)
            and np.array_equal(self.time_day, other.time_day)
            and np.array_equal(self.value, other.value, equal_nan=True)
            and np.array_equal(self.lloq, other.lloq, equal_nan=True)
            and np.array_equal(self.blq, other.blq)
        )

    @property
    def outputs(self) -> tuple[str, ...]:
        """The distinct outputs observed, in order of first appearance."""
        return tuple(dict.fromkeys(self.output))

    @property
    def times(self) -> Array:
        """The distinct observation times, sorted (output times for a simulation)."""
        out: Array = np.unique(self.time_day)
        return out

    def predicted(self, times_day: Array, outputs: dict[str, Array] | object) -> Array:
        """Return each row's model value from simulated ``outputs`` at ``times_day``.

        ``outputs`` maps output names to arrays of shape ``(n_patients, n_times)``
        (``SimulationResult.outputs``); every observation time must be among
        ``times_day``.
        """
        table = outputs if isinstance(outputs, dict) else dict(outputs)  # type: ignore[call-overload]
        column = np.searchsorted(times_day, self.time_day)
        inside = column < len(times_day)
        if not np.all(inside) or not np.allclose(
            times_day[column], self.time_day, rtol=0, atol=1e-12
        ):
            raise SpecError("observations.time_day: a time is not among the simulated times")
        out = np.empty(len(self))
        for name in self.outputs:
            if name not in table:
                raise SpecError(f"observations.output = {name!r}: not an output of the model")
            rows = np.array([o == name for o in self.output])
            out[rows] = table[name][self.patient[rows], column[rows]]
        return out
