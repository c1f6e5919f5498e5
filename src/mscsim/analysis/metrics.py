"""Summaries of simulated courses: areas under curves, time above a threshold, errors."""

from __future__ import annotations

import numpy as np

from mscsim.models.base import Array

__all__ = ["auc", "first_time_at_or_below", "time_above", "worst_relative_error"]


def auc(times_day: Array, values: Array) -> Array:
    """Return the trapezoid area of ``values`` over ``times_day`` along the last axis.

    Examples
    --------
    >>> float(auc(np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 1.0])))
    1.5
    """
    out: Array = np.asarray(np.trapezoid(values, times_day, axis=-1))
    return out


def time_above(times_day: Array, values: Array, threshold: float) -> Array:
    """Return the time ``values`` spend above ``threshold``, interpolating linearly.

    Examples
    --------
    >>> float(time_above(np.array([0.0, 2.0]), np.array([0.0, 1.0]), 0.5))
    1.0
    """
    a, b = values[..., :-1], values[..., 1:]
    dt = np.diff(times_day)
    hi, lo = np.maximum(a, b), np.minimum(a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        part = np.where(hi > lo, (hi - threshold) / (hi - lo), 0.0)
    share = np.where(lo > threshold, 1.0, np.where(hi > threshold, np.clip(part, 0.0, 1.0), 0.0))
    out: Array = np.sum(share * dt, axis=-1)
    return out


def first_time_at_or_below(times_day: Array, values: Array, level: float) -> float | None:
    """Return the first time a 1-D course falls to ``level`` (linear interpolation).

    Returns ``None`` if it never does.

    Examples
    --------
    >>> first_time_at_or_below(np.array([0.0, 1.0, 2.0]), np.array([4.0, 2.0, 0.0]), 1.0)
    1.5
    """
    below = np.flatnonzero(values <= level)
    if below.size == 0:
        return None
    k = int(below[0])
    if k == 0:
        return float(times_day[0])
    t0, t1, v0, v1 = times_day[k - 1], times_day[k], values[k - 1], values[k]
    return float(t0 + (v0 - level) / (v0 - v1) * (t1 - t0))


def worst_relative_error(values: Array, reference: Array, floor: float = 1e-6) -> float:
    """Return the largest ``|values - reference| / max(|reference|, floor * peak)``.

    ``peak`` is the largest ``|reference|`` along the last axis (a course's
    peak): a value far below its peak is judged against that share of it, as
    the accuracy figures of the engine are.

    Examples
    --------
    >>> ref = np.array([[1.0, 1e-9, 0.0]])
    >>> f"{worst_relative_error(ref + np.array([[1e-7, 1e-13, 0.0]]), ref):.1e}"
    '1.0e-07'
    >>> f"{worst_relative_error(ref + np.array([[0.0, 1e-12, 0.0]]), ref):.1e}"
    '1.0e-06'
    """
    peak = np.max(np.abs(reference), axis=-1, keepdims=True)
    scale = np.maximum(np.abs(reference), floor * peak)
    scale[scale == 0.0] = 1.0
    return float(np.max(np.abs(values - reference) / scale))
