"""The scipy backend: one ``scipy.integrate.solve_ivp`` call per patient and dose segment.

This is the baseline a user would write and the cross-check of the fast backend:
LSODA on the composed right-hand side ``A y + b + R(t, y)``
(:func:`~mscsim.models.base.full_rhs`), integrated between dose events, outputs
taken with ``t_eval``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mscsim.engine.events import Schedule
from mscsim.errors import IntegrationError
from mscsim.models.base import Array, Model, Params, full_rhs, nonnegative_mask

__all__ = ["DEFAULT_ATOL", "DEFAULT_RTOL", "integrate_scipy"]

Rhs = Callable[[float, Array], Array]

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-6


def _at(values: Array, p: int) -> float:
    """Return patient ``p``'s entry of a per-patient array, or the shared value."""
    return float(values[p] if values.shape[0] > 1 else values[0])


def _patient_params(params: Params, p: int) -> Params:
    return {k: (v if v.shape[0] == 1 else v[p : p + 1]) for k, v in params.items()}


def integrate_scipy(
    model: Model,
    params: Params,
    schedule: Schedule,
    y0: Array,
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    method: str = "LSODA",
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Array, np.ndarray, int, int, str]:
    """Integrate each patient separately with ``solve_ivp``.

    Returns
    -------
    states : ndarray, shape (n_states, n_patients, n_times)
    status : ndarray of int8, shape (n_patients,)
    n_calls, n_rhs_evals : int
        Number of ``solve_ivp`` calls and right-hand-side evaluations, summed over
        patients.
    message : str
        First failure message, or ``""``.
    """
    from scipy.integrate import solve_ivp  # loads only for the scipy engine

    n_states, n = y0.shape
    out = np.full((n_states, n, schedule.times_day.size), np.nan)
    status = np.zeros(n, dtype=np.int8)
    keep = nonnegative_mask(model)
    bp = schedule.breakpoints
    seg_starts = sorted({0, bp.size - 1, *np.flatnonzero(schedule.is_event).tolist()})
    routes = {r for step in (*schedule.boluses, *schedule.infusions) for r, _ in step}
    n_calls = n_rhs = 0
    message = ""
    for p in range(n):
        pp = _patient_params(params, p)
        splits = {r: model.dose_split(r, pp)[:, 0] for r in routes}
        rhs = full_rhs(model, pp)
        y = y0[:, p].copy()
        for i, k0 in enumerate(seg_starts):
            for route, cells in schedule.boluses[k0]:
                y = y + splits[route] * _at(cells, p)
            if schedule.output_at[k0] >= 0:
                out[:, p, schedule.output_at[k0]] = y
            if k0 == seg_starts[-1]:
                break
            k1 = seg_starts[i + 1]
            forcing = np.zeros(n_states)
            for route, rate in schedule.infusions[k0]:
                forcing += splits[route] * _at(rate, p)

            def fun(t: float, x: Array, forcing: Array = forcing, rhs: Rhs = rhs) -> Array:
                return rhs(t, x[:, None])[:, 0] + forcing

            inner = np.arange(k0 + 1, k1 + 1)
            sol = solve_ivp(
                fun,
                (float(bp[k0]), float(bp[k1])),
                y,
                method=method,
                rtol=rtol,
                atol=atol,
                t_eval=bp[inner],
            )
            n_calls += 1
            n_rhs += int(sol.nfev)
            if not sol.success:
                status[p] = 1
                message = message or f"patient {p}: {sol.message}"
                break
            ys = sol.y
            ys[keep] = np.maximum(ys[keep], 0.0)
            for j, k in enumerate(inner[:-1]):
                if schedule.output_at[k] >= 0:
                    out[:, p, schedule.output_at[k]] = ys[:, j]
            y = ys[:, -1]
        if progress is not None:
            progress(p + 1, n)
    if not np.all(np.isfinite(out[:, status == 0])):
        raise IntegrationError("scipy backend produced non-finite values; this is a bug")
    return out, status, n_calls, n_rhs, message
