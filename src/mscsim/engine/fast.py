r"""The fast backend: all patients at once, exact linear part, exponential RK4 for the rest.

A model gives its right-hand side as ``f(t, y) = A y + b + R(t, y)``
(:meth:`Model.linear_system` and :meth:`Model.remainder`); the engine adds the
infusion inputs ``S u`` (constant between breakpoints) to ``b`` and calls
``N = b + S u + R`` the part it does not take exactly. Linear flow is taken
exactly with matrix exponentials (:mod:`mscsim.engine.exact`):

- a linear model (``R == 0``) takes one exact step per interval between
  breakpoints;
- otherwise Krogstad's exponential Runge-Kutta method of order 4 integrates
  ``N``. Stiffness in ``A`` (free cells arresting within minutes) never limits the
  step, which only has to resolve ``N``. Where ``N`` feeds a stiff mode (retained
  cells leaking into blood) an integrating-factor (Lawson) RK4 scheme dropped to
  first order in our tests; this method kept 4th order (observed 4.1, see
  ``tests/engine/test_accuracy.py``).

Three members of the model contract make nonlinear models cheap and
accurate. ``switches(y, params)`` returns functions whose sign change marks a
kink of ``R`` (retention reaching capacity): a step across a kink is redone with
:data:`SWITCH_REFINEMENT` substeps, since a 4th-order step across a kink is only
2nd-order accurate. ``activity(y, params)`` returns functions that are positive
where a smooth part of ``R`` may be nonzero (immune memory clearing cells); a
step across one is not refined. ``linear_below_switches = True`` declares
``R == 0`` wherever every switch and activity is negative: an interval between
breakpoints that starts and ends that way is taken in one exact step, and the
Runge-Kutta stages run only while some patient is above a switch or active. A
switch that goes positive and back within one interval between breakpoints (at
most the output interval) is not seen (in the built-in kinetics only slow homing
can raise the target between doses, and doses are breakpoints).

Step lengths are shared by all patients and coefficient matrices are cached per
step length, but every choice between an exact step, a Runge-Kutta step and a
refined step is made per patient: a patient's result does not depend on which
other patients share its batch. Everything that depends only on parameters
(:meth:`Model.prepare`, ``A``, ``b``, the dose splits) is computed once per run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from mscsim.engine.events import Schedule
from mscsim.engine.exact import EtdStep, LinearStep, MatrixBatch, etd_step, linear_step
from mscsim.models.base import Array, Model, Params, nonnegative_mask, take_rows

__all__ = ["DEFAULT_MAX_STEP_DAY", "SWITCH_REFINEMENT", "integrate_fast"]

DEFAULT_MAX_STEP_DAY = 0.0625
"""Default largest step while a nonlinear part is active (1.5 h)."""

SWITCH_REFINEMENT = 16
"""Substeps taken in a step where a model's switch function changes sign."""

GRADED_FIRST_STEP: tuple[float, ...] = (1 / 16, 1 / 16, 1 / 8, 1 / 4, 1 / 2)
"""Shares of the first nonlinear step after a dose, taken as growing substeps."""

ProgressCallback = Callable[[int, int], None]


T = TypeVar("T")


def _memo(cache: dict[float, T], h: float, make: Callable[[], T]) -> T:
    """Return ``cache[h]``, computing it with ``make()`` the first time."""
    key = round(h, 12)
    if key not in cache:
        cache[key] = make()
    return cache[key]


@dataclass(frozen=True)
class _Part:
    """Patients a step runs on, with their parameters, matrices and infusion inputs.

    ``index`` holds absolute patient indices (``None``: all patients). Coefficient
    matrices are cut to the part once per step length and kept in the caches.
    """

    index: NDArray[np.intp] | None
    params: Params
    a: MatrixBatch
    u: Array | None
    su: Array | None
    linear_steps: dict[float, LinearStep] = field(default_factory=dict)
    etd_steps: dict[float, EtdStep] = field(default_factory=dict)

    def take(self, index: NDArray[np.intp], n: int) -> _Part:
        """Return the sub-part of patients ``index`` (sorted positions within this part).

        ``n`` is the part's size: taking every patient returns the part itself, with
        its cached coefficient matrices, instead of copying them.
        """
        if index.size == n:
            return self
        return _Part(
            index if self.index is None else self.index[index],
            take_rows(self.params, index),
            self.a.take(index),
            None if self.u is None else self.u[:, index],
            None if self.su is None else self.su[:, index],
        )


class _Integrator:
    """Advance ``(n_states, n_patients)`` states between breakpoints.

    The constant input ``b`` is one more column of the input matrix ``S``, with
    input 1, after one column per infusion route.
    """

    def __init__(
        self,
        model: Model,
        params: Params,
        schedule: Schedule,
        max_step_day: float,
        prepared: Params | None = None,
    ) -> None:
        self.model = model
        self.params = model.prepare(params) if prepared is None else prepared
        self.linear = model.is_linear(self.params)
        a, b = model.linear_system(self.params)
        size = max(a.shape[0], b.shape[0])
        n_states = a.shape[1]
        self.a_raw = np.broadcast_to(a, (size, n_states, n_states))
        self.a = MatrixBatch.of(self.a_raw)
        self.routes = schedule.infusion_routes
        self.has_b = bool(np.any(b))
        s = np.zeros((size, n_states, len(self.routes) + self.has_b))
        for j, route in enumerate(self.routes):
            s[:, :, j] = np.broadcast_to(model.dose_split(route, params).T, (size, n_states))
        if self.has_b:
            s[:, :, -1] = np.broadcast_to(b, (size, n_states))
        self.s_raw = s
        self.s = MatrixBatch.of(s)
        self.max_step = max_step_day
        self.linear_below = bool(model.linear_below_switches)
        self._linear_cache: dict[float, LinearStep] = {}
        self._etd_cache: dict[float, EtdStep] = {}
        self.n_steps = 0
        self.n_rhs = 0

    def inputs(self, rates: Array | None, n: int) -> Array | None:
        """Return the input vector ``u`` of ``S``: infusion rates ``(m, n)``, then 1 for ``b``."""
        if not self.has_b:
            return rates
        infused = np.zeros((len(self.routes), n)) if rates is None else rates
        return np.concatenate([infused, np.ones((1, n))])

    def _linear(self, part: _Part, h: float) -> LinearStep:
        full = _memo(self._linear_cache, h, lambda: linear_step(self.a_raw, self.s_raw, h))
        index = part.index
        if index is None:
            return full
        return _memo(part.linear_steps, h, lambda: full.take(index))

    def _etd(self, part: _Part, h: float) -> EtdStep:
        full = _memo(self._etd_cache, h, lambda: etd_step(self.a_raw, h))
        index = part.index
        if index is None:
            return full
        return _memo(part.etd_steps, h, lambda: full.take(index))

    def _exact(self, part: _Part, h: float, y: Array) -> Array:
        self.n_steps += 1
        step = self._linear(part, h)
        y = step.phi.apply(y)
        return y if part.u is None else y + step.g.apply(part.u)

    def _below(self, part: _Part, y: Array) -> NDArray[np.bool_]:
        """Return, per patient, whether every switch and every activity is negative."""
        below: NDArray[np.bool_] = np.all(self.model.switches(y, part.params) < 0, axis=0)
        below &= np.all(self.model.activity(y, part.params) < 0, axis=0)
        return below

    def _crossed(self, part: _Part, y0: Array, y1: Array) -> NDArray[np.bool_]:
        """Return, per patient, whether any switch changed sign."""
        g0 = self.model.switches(y0, part.params)
        g1 = self.model.switches(y1, part.params)
        crossed: NDArray[np.bool_] = np.any(np.signbit(g0) != np.signbit(g1), axis=0)
        return crossed

    def _exact_where_linear(
        self, part: _Part, h: float, y: Array
    ) -> tuple[Array, NDArray[np.intp]]:
        """Take the exact step; also return the positions of patients it is not valid for.

        The step is valid for a patient whose switches are all negative at both ends.
        """
        y_lin = self._exact(part, h, y)
        return y_lin, np.flatnonzero(~(self._below(part, y) & self._below(part, y_lin)))

    def advance(
        self, t0: float, t1: float, y: Array, u: Array | None, *, after_dose: bool = False
    ) -> Array:
        """Integrate from ``t0`` to ``t1``; ``u`` holds infusion rates, shape (m, n).

        Every choice (exact linear step, Runge-Kutta step, refinement at a kink) is
        made per patient, and later work runs only on the patients that need it, so
        a patient's result never depends on the others in the batch.
        """
        span = t1 - t0
        whole = _Part(None, self.params, self.a, u, None if u is None else self.s.apply(u))
        if self.linear:
            return self._exact(whole, span, y)
        part, rest, out = whole, None, None
        if self.linear_below:
            y_lin, rest = self._exact_where_linear(whole, span, y)
            if rest.size == 0:
                return y_lin
            part, y, out = whole.take(rest, y.shape[1]), y[:, rest], y_lin
        n_sub = max(1, math.ceil(span / self.max_step - 1e-9))
        h = span / n_sub
        steps = [h] * n_sub
        if after_dose:
            # A dose starts fast transients (secreted factor within hours): grade the first step.
            steps[:1] = [h * f for f in GRADED_FIRST_STEP]
        t = t0
        for step in steps:
            y = self._substep(part, t, step, y)
            t += step
        if out is None:
            return y
        out[:, rest] = y
        return out

    def _substep(self, part: _Part, t: float, h: float, y: Array) -> Array:
        """One step of length ``h``: exact where possible, Runge-Kutta where needed."""
        rk, active, out = part, None, None
        if self.linear_below:
            y_lin, active = self._exact_where_linear(part, h, y)
            if active.size == 0:
                return y_lin
            rk, y, out = part.take(active, y.shape[1]), y[:, active], y_lin
        y_rk = self._etd_step(rk, t, h, y)
        crossed = np.flatnonzero(self._crossed(rk, y, y_rk))
        if crossed.size:
            fine_part = rk.take(crossed, y.shape[1])
            fine = h / SWITCH_REFINEMENT
            y_fine = y[:, crossed]
            for j in range(SWITCH_REFINEMENT):
                y_fine = self._etd_step(fine_part, t + j * fine, fine, y_fine)
            y_rk[:, crossed] = y_fine
        if out is None:
            return y_rk
        out[:, active] = y_rk
        return out

    def _etd_step(self, part: _Part, t: float, h: float, y: Array) -> Array:
        c = self._etd(part, h)
        self.n_steps += 1
        half = c.e_half.apply(y)
        full = c.e_full.apply(y)
        n1 = self._nonlinear(part, t, y)
        u2 = half + c.w21.apply(n1)
        n2 = self._nonlinear(part, t + 0.5 * h, u2)
        u3 = half + c.w31.apply(n1) + c.w32.apply(n2)
        n3 = self._nonlinear(part, t + 0.5 * h, u3)
        u4 = full + c.w41.apply(n1) + c.w43.apply(n3)
        n4 = self._nonlinear(part, t + h, u4)
        return full + c.b1.apply(n1) + c.b23.apply(n2 + n3) + c.b4.apply(n4)

    def _nonlinear(self, part: _Part, t: float, y: Array) -> Array:
        self.n_rhs += 1
        n = self.model.remainder(t, y, part.params)
        return n if part.su is None else n + part.su


def integrate_fast(
    model: Model,
    params: Params,
    schedule: Schedule,
    y0: Array,
    *,
    max_step_day: float = DEFAULT_MAX_STEP_DAY,
    progress: ProgressCallback | None = None,
    prepared: Params | None = None,
) -> tuple[Array, int, int]:
    """Integrate every patient at once along ``schedule``.

    Parameters
    ----------
    model : Model
    params : mapping of str to ndarray, each (1,) or (n_patients,)
    schedule : Schedule
    y0 : ndarray, shape (n_states, n_patients)
        State at ``schedule.breakpoints[0]`` before any dose.
    max_step_day : float
        Largest step while a nonlinear part is active (ignored for linear models).
    progress : callable, optional
        Called as ``progress(done, total)`` after each breakpoint.
    prepared : mapping, optional
        ``model.prepare(params)``, when the caller has it already.

    Returns
    -------
    states : ndarray, shape (n_states, n_patients, n_times)
        A view of a time-major array (not C-contiguous): stored one output time
        after another, so each output is written in one contiguous block.
    n_steps, n_rhs_evals : int
    """
    n_states, n = y0.shape
    it = _Integrator(model, params, schedule, max_step_day, prepared)
    keep = nonnegative_mask(model)
    splits: dict[object, Array] = {}
    # Time-major: each output is one contiguous write; the caller sees a view.
    out = np.empty((schedule.times_day.size, n_states, n))
    y = y0.copy()
    bp = schedule.breakpoints
    for k, t in enumerate(bp):
        for route, cells in schedule.boluses[k]:
            if route not in splits:
                splits[route] = model.dose_split(route, params)
            y = y + splits[route] * cells
        if schedule.output_at[k] >= 0:
            out[schedule.output_at[k]] = y
        if progress is not None:
            progress(k + 1, bp.size)
        if k + 1 == bp.size:
            break
        rates = schedule.infusion_rates(k, n) if schedule.infusions[k] else None
        u = it.inputs(rates, n)
        # A bolus, or an infusion starting or stopping, starts fast transients.
        changed = schedule.starts_transient(k)
        y = it.advance(float(t), float(bp[k + 1]), y, u, after_dose=changed)
        y[keep] = np.maximum(y[keep], 0.0)
    return np.moveaxis(out, 0, -1), it.n_steps, it.n_rhs
