r"""The driven backend: exact drivers, and a scalar state affine in itself by quadrature.

Many models are one-way: cells and the factor they secrete follow linear
kinetics that nothing downstream changes, and a disease score responds to the
factor through a nonlinear effect but is *affine* in itself given the factor,

.. math::

    \dot u = A_{uu} u + b_u + S_u\,r(t), \qquad
    \dot x = \bigl(a_{xx} + \beta(t)\bigr)\,x + g(t), \qquad
    g(t) = a_{xu} u + b_x + S_x r(t) + \alpha(t),

where :math:`\alpha(t) + \beta(t)\,x` is the model's remainder at :math:`u(t)`
(``r`` the infusion rates). A model says so by declaring
``remainder_affine = True`` and writing one state only; the engine checks the
rest (nothing upstream reads ``x``; the remainder is affine in ``x``, probed
per patient) and otherwise uses :mod:`mscsim.engine.adaptive`.

The drivers ``u`` are exact at any time: each patient's :math:`A_{uu}` is
diagonalised once per run, so ``u(t)`` between doses is a sum of exponentials.
The score needs no steps in the usual sense. On a panel :math:`[t_a, t_a + w]`

.. math::

    x(t) = e^{\Lambda(t)}\Bigl(x(t_a) + \int_{t_a}^{t} e^{-\Lambda(s)} g(s)\,ds\Bigr),
    \qquad \Lambda(t) = \int_{t_a}^{t} \bigl(a_{xx} + \beta(s)\bigr) ds,

and both integrals are taken from the values at :data:`NODES` Gauss-Legendre
nodes: the interpolating polynomial of the integrand is integrated exactly, to
the panel's end and to every output time inside it (dense output), so outputs
cost no extra remainder calls. :math:`\alpha` and :math:`\beta` come from two
remainder calls per node, made for all patients and nodes of a panel at once.

Panels grow geometrically after each dose or change of infusion
(:data:`FIRST_PANEL_DAY`, ratio :data:`GROWTH`, at most :data:`MAX_PANEL_DAY`),
common to all patients. The error of a panel is estimated from the Legendre
coefficients of the interpolated ``c = a_xx + beta`` and ``h = e^{-Lambda} g``:
``tail(f)``, the next coefficient extrapolated from the last three (with their
ratio ``rho``), is how far an interpolant is from converged, and a partial
integral of a degree-``m`` Legendre term is at most ``1 / (2m + 1)`` of it.
At the panel's end (a Gauss sum, exact to degree ``2m - 1``) the error comes
from ``Lambda`` interpolated at the inner nodes,
``w e^Lambda (tail(c) w max|h| / (2m + 1) + tail(h) rho_h^2)``; at an output
inside the panel, from the interpolants themselves,
``w (tail(c) |x| + e^Lambda tail(h)) / (2m + 1)``. A patient whose estimate
exceeds

``rtol * max(|x|, 1e-6 * peak) * min(1, w / 1 day) + atol``

halves that panel, recursively, for that patient only, so a patient's result
does not depend on the batch it is in. Tests check the error against tight
solves at ``rtol`` 1e-3, 1e-6 and 1e-9, and the order ``2m`` with equal panels.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from numpy.polynomial import legendre as leg
from numpy.typing import ArrayLike, NDArray

from mscsim.engine.events import Schedule
from mscsim.errors import SpecError
from mscsim.models.base import Array, Model, Params, StateIndex, nonnegative_mask, take_rows

__all__ = [
    "FIRST_PANEL_DAY",
    "GROWTH",
    "MAX_PANEL_DAY",
    "NODES",
    "DrivenStructure",
    "driven_structure",
    "integrate_driven",
]

NODES = 8
"""Gauss-Legendre nodes per panel."""

FIRST_PANEL_DAY = 0.005
"""First panel after the start, a dose or a change of infusion (days, 7.2 min)."""

GROWTH = 2.0
"""Each panel after a dose is this many times longer than the last."""

MAX_PANEL_DAY = 32.0
"""Longest panel (days).

A panel too long for a patient is halved for that patient (its error test), so
this sets the cost, not the accuracy: on the SCA population
(``bench/population.py``) 32 days took 16% fewer kernel columns than 8 (fewer
panels in the weeks where nothing changes fast), with the same error against a
tight reference."""

MAX_DEPTH = 40
"""A patient still failing the error test after this many halvings of a panel is flagged."""

PEAK_SHARE = 1e-6
"""Values below this share of their largest so far are held to ``rtol`` of the share."""

UNIT_DAY = 1.0
"""Panels shorter than this get a proportional share of the tolerance."""

ProgressCallback = Callable[[int, int], None]

_KERNEL_TURN = threading.Lock()
"""Compiled runs take turns: each already uses every core."""


# --------------------------------------------------------------------------- quadrature


@dataclass(frozen=True)
class _Rule:
    """Gauss-Legendre on ``[0, 1]`` with its integration matrices.

    ``q[i, j]`` integrates the ``j``-th Lagrange polynomial from 0 to node ``i``;
    ``weight`` to 1; ``coef`` maps node values to Legendre coefficients (on
    ``[0, 1]``); ``antiderivative`` maps them to the coefficients of the integral from 0.
    """

    theta: Array
    weight: Array
    q: Array
    coef: Array
    antiderivative: Array
    at_start: Array  # (m,): the interpolant's value at theta = 0 from the node values

    @classmethod
    def gauss(cls, m: int) -> _Rule:
        x, w = leg.leggauss(m)
        coef: Array = np.linalg.inv(leg.legvander(x, m - 1)).astype(float)  # values -> coefficients
        anti: Array = np.stack([leg.legint(coef[:, j], lbnd=-1.0) for j in range(m)], axis=1) / 2
        theta = (x + 1.0) / 2.0
        q = leg.legvander(x, m) @ anti
        at_start = (leg.legvander(np.array([-1.0]), m - 1) @ coef)[0]
        return cls(theta, w / 2.0, q, coef, anti, at_start)

    @property
    def partial(self) -> float:
        """Bound on ``|int_0^theta P_m(2s - 1) ds|``: ``1 / (2m + 1)``.

        The interpolation error is led by the degree-``m`` Legendre term, and a
        partial integral of it is at most this share of its size.
        """
        return 1.0 / (2 * self.theta.size + 1)

    def rows(self, theta: Array) -> Array:
        """Return ``(len(theta), m)``: integrals from 0 to each ``theta`` of the Lagrange basis."""
        out: Array = (
            leg.legvander(2.0 * np.asarray(theta) - 1.0, self.theta.size) @ self.antiderivative
        )
        return out

    def tail(self, values: Array) -> tuple[Array, Array]:
        """Return the interpolation error of ``values`` (``(m, n)``) and its tail's ratio.

        The next Legendre coefficient is extrapolated from the last three (their
        largest ratio, at most 1): a converged interpolant has a small,
        fast-falling tail. The ratio extrapolates further (a Gauss sum is exact
        well beyond the interpolant's degree).
        """
        a = np.abs(self.coef[-3:] @ values)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.maximum(a[2] / a[1], a[1] / a[0])
        ratio = np.nan_to_num(np.minimum(ratio, 1.0), nan=1.0)
        out: Array = np.maximum(a[1], a[2]) * ratio
        return out, ratio


@cache
def _rule(m: int) -> _Rule:
    return _Rule.gauss(m)


# --------------------------------------------------------------------------- structure


@dataclass(frozen=True)
class DrivenStructure:
    """Rows of the drivers and of the driven state, and the rows the remainder reads."""

    drivers: NDArray[np.intp]
    driven: int
    reads: NDArray[np.intp]  # driver rows the remainder reads


def driven_structure(model: Model, prepared: Params) -> DrivenStructure | None:
    """Return the partition when ``model`` is one-way with one affine driven state, else None.

    ``prepared`` are the model's prepared parameters. The remainder must write
    exactly one state, declared affine (``remainder_affine``), that no other
    state's linear rate reads (``A`` is only built when the declaration holds).
    """
    if not getattr(model, "remainder_affine", False) or len(model.remainder_writes) != 1:
        return None
    a, _ = model.linear_system(prepared)
    index = StateIndex(tuple(model.states))
    x = index[model.remainder_writes[0]]
    drivers = np.array([i for i in range(len(model.states)) if i != x], dtype=np.intp)
    if np.any(a[:, drivers, x] != 0.0):
        return None
    reads = np.array(sorted({index[r] for r in model.remainder_reads} - {x}), dtype=np.intp)
    return DrivenStructure(drivers, x, reads)


class DrivenView:
    """A model seen, for some of its patients, as one-way affine in one written state.

    For patients whose other written rows are 0 (``Model.remainder_pattern``)
    and whose row of ``driven`` reads no other written state, the model is the
    one-way affine model of :func:`driven_structure` in ``driven``: the other
    written states it treats as drivers are wrong (their remainder is left
    out), but nothing reads them. Everything else is the model's own.
    """

    remainder_affine = True

    def __init__(self, model: Model, driven: str, reads: tuple[str, ...]):
        self.model = model
        self.remainder_writes = (driven,)
        self.remainder_reads = reads

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


def driven_groups(
    model: Model, prepared: Params, n: int
) -> list[tuple[NDArray[np.intp], list[tuple[DrivenView, DrivenStructure]]]] | None:
    """Return the patients in groups by the model's remainder pattern, with their driven views.

    ``None`` unless the model gives ``remainder_pattern`` (per patient, the
    states each written row depends on; a row that depends on none is 0). A
    group's views are one per written row that is not 0 for its patients, when
    each such row is declared affine in its state (``remainder_affine_rows``),
    reads no other such state and no other state's linear rate reads it
    (:func:`driven_structure` of the view), reading what the pattern says it
    reads; else the group has no views and takes the adaptive backend.
    """
    describe = getattr(model, "remainder_pattern", None)
    if describe is None or n == 0:
        return None
    described = describe(prepared)
    if described is None:  # the model does not vouch for one here
        return None
    writes, states = model.remainder_writes, model.states
    rows = [states.index(x) for x in writes]
    pattern = np.broadcast_to(described, (n, len(writes), len(states)))
    # Which states' linear rates read each written state: with the pattern, it
    # decides a patient's views, so a patient takes the same path in any batch.
    a, _ = model.linear_system(prepared)
    read_by = np.broadcast_to(a[:, :, rows] != 0.0, (n, len(states), len(rows)))
    key = np.concatenate([pattern.reshape(n, -1), read_by.reshape(n, -1)], axis=1)
    # Each patient's key as one string of bytes (bits packed, first bit highest: the
    # groups keep the order of the boolean rows); one sort of n strings.
    bits = np.ascontiguousarray(np.packbits(key, axis=1))
    packed = bits.view(np.dtype((np.void, bits.shape[1]))).ravel()
    _, first, inverse = np.unique(packed, return_index=True, return_inverse=True)
    affine = set(getattr(model, "remainder_affine_rows", ()))
    groups = []
    for g, one in enumerate(first):
        idx = np.flatnonzero(inverse.ravel() == g)
        m = pattern[one]
        active = [k for k in range(len(writes)) if m[k].any()]
        driven = [rows[k] for k in active]
        # Each acting row: declared affine, reading no other acting state, and no
        # other state's linear rate reading its state (driven_structure's test).
        one_way = all(
            writes[k] in affine
            and not m[k, [x for x in driven if x != rows[k]]].any()
            and not np.delete(read_by[one, :, k], rows[k]).any()
            for k in active
        )
        views: list[tuple[DrivenView, DrivenStructure]] = []
        for k in active if one_way else []:
            # The other driven states are no drivers here: nothing this run
            # integrates reads them, so they are left out.
            x = rows[k]
            drivers = np.array([i for i in range(len(states)) if i not in driven], dtype=np.intp)
            reads = np.flatnonzero(m[k])
            view = DrivenView(model, writes[k], tuple(states[i] for i in reads))
            views.append((view, DrivenStructure(drivers, x, reads[reads != x])))
        groups.append((idx, views))
    return groups


def _check_affine(model: Model, x: int, r0: Array, r1: Array, r2: Array, at: Array) -> None:
    """Raise unless the remainder at ``x = at`` is ``r0 + at (r1 - r0)`` to rounding.

    ``r0``, ``r1``, ``r2`` are the driven state's remainder at 0, 1 and ``at``.

    Raises
    ------
    SpecError
        Naming the model's ``remainder_affine`` declaration and the driven state.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        line = r0 + at * (r1 - r0)
        scale = np.abs(r0) + at * np.abs(r1 - r0) + np.abs(r2)
        off = np.abs(r2 - line) > 1e-9 * scale + 1e-300
    off &= np.isfinite(r2) & np.isfinite(line)
    if off.any():
        raise SpecError(
            f"remainder_affine = True: {model.name}'s remainder is not affine in "
            f"{model.states[x]} (off at {int(off.sum())} of {off.size} probes)"
        )


@dataclass(frozen=True)
class _Stretch:
    """Breakpoints ``k`` to ``k_end``: constant inputs from ``t0`` (after its boluses) to ``t1``."""

    k: int
    k_end: int
    t0: float
    t1: float
    outputs: NDArray[np.intp]  # output indices in [t0, t1); from t0 on for the last


def _stretches(schedule: Schedule) -> list[_Stretch]:
    """Return the stretches between doses and changes of infusion, in order."""
    bp, times = schedule.breakpoints, schedule.times_day
    starts = [k for k in range(bp.size) if k == 0 or schedule.starts_transient(k)]
    out = []
    for si, k in enumerate(starts):
        last = si + 1 == len(starts)
        k_end = bp.size - 1 if last else starts[si + 1]
        t0, t1 = float(bp[k]), float(bp[k_end])
        # The last stretch takes every later output (one within TIME_TOL_DAY of a
        # dose at the last breakpoint too: it reads the state there).
        inside = np.flatnonzero((times >= t0) & ((times < t1) | last))
        out.append(_Stretch(k, k_end, t0, t1, inside))
    return out


def _stretch_inputs(schedule: Schedule, k: int, n: int, s_cols: Array) -> Array:
    """Return ``S u`` (``b`` included), ``(n_states, n)``, on the stretch from breakpoint ``k``."""
    u = np.vstack([schedule.infusion_rates(k, n), np.ones((1, n))])
    out: Array = np.einsum("pjm,mp->jp", s_cols, u)
    return out


def _stretch_terms(
    model: Model,
    params: Params,
    schedule: Schedule,
    st: _Stretch,
    s_cols: Array,
    drivers: _Drivers,
    structure: DrivenStructure,
    splits: dict[object, Array],
) -> tuple[Array, Array, Array, Array]:
    """Return a stretch's boluses and constant inputs: ``(dz, dx, c, g0)``.

    ``dz`` (``(nu, n)``, modal) and ``dx`` (``(n,)``) are its boluses into the
    drivers and the driven state; ``c`` and ``g0`` its constant inputs to them.
    ``splits`` keeps each route's dose split from one stretch to the next.
    """
    n_states, n = len(model.states), drivers.lam.shape[0]
    u_rows, x = structure.drivers, structure.driven
    dz = np.zeros((u_rows.size, n))
    dx = np.zeros(n)
    for route, cells in schedule.boluses[st.k]:
        if route not in splits:
            splits[route] = np.broadcast_to(model.dose_split(route, params), (n_states, n))
        split = splits[route] * cells
        dz += np.einsum("pij,jp->ip", drivers.vinv, split[u_rows])
        dx += split[x]
    inputs = _stretch_inputs(schedule, st.k, n, s_cols)
    drive = inputs[u_rows]
    c = np.einsum("pij,jp->ip", drivers.vinv, drive) if drive.any() else np.zeros(dz.shape)
    return dz, dx, c, inputs[x]


def _positions(spans: list[tuple[float, float]], times: Array) -> tuple[NDArray[np.intp], Array]:
    """Return each output's panel (the one whose [start, next start) holds it) and its place.

    The place is ``(t - start) / width``, at most 1; at most 0 means at the panel's start.
    """
    if not spans:  # a stretch of no length: its outputs are at its start
        return np.full(times.size, -1, dtype=np.intp), np.zeros(times.size)
    starts = np.array([ta for ta, _ in spans])
    widths = np.array([w for _, w in spans])
    owner = np.searchsorted(starts, times, side="right") - 1
    with np.errstate(invalid="ignore"):
        place = np.minimum((times - starts[owner]) / widths[owner], 1.0)
    return owner, place


# --------------------------------------------------------------------------- drivers


@dataclass(frozen=True)
class _Drivers:
    """Each patient's drivers in modal form, ``A_uu = V diag(lam) V^-1`` (shapes patient-first)."""

    lam: Array  # (P, nu)
    v: Array  # (P, nu, nu)
    vinv: Array  # (P, nu, nu)


def _diagonalise(a_uu: Array) -> tuple[_Drivers, NDArray[np.bool_]]:
    """Diagonalise every patient's drivers; return the modes and which are safe to use."""
    from mscsim.engine.adaptive import real_modes

    lam, v, vinv, ok = real_modes(a_uu)
    return _Drivers(np.ascontiguousarray(lam), v, vinv), ok


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class _Segment:
    """A stretch with constant inputs: the modal input of the drivers and the driven state's."""

    c: Array | None  # (nu, n) modal input of the drivers, or None when 0
    g0: Array  # (n,) the driven state's constant input: b_x + S_x r


class _Panels:
    """The driven state across panels: coefficients, error test, refinement, dense output."""

    def __init__(
        self,
        model: Model,
        params: Params,
        structure: DrivenStructure,
        drivers: _Drivers,
        a_xx: Array,
        a_xu: Array | None,
        rtol: float,
        atol: float,
    ) -> None:
        self.model = model
        self.params = params
        self.s = structure
        self.drivers = drivers
        self.lam = np.ascontiguousarray(drivers.lam.T)  # (nu, n)
        self.a_xx = a_xx  # (n,)
        self.a_xu = a_xu  # (n, nu) in modal form (a_xu V), or None
        self.rtol = rtol
        self.atol = atol
        self.rule = _rule(NODES)
        self.n_states = len(model.states)
        self.n = a_xx.shape[0]
        self.n_calls = 0
        self.n_panels = 0
        self.failed = np.zeros(self.n, dtype=bool)
        rows = np.searchsorted(structure.drivers, structure.reads)
        self._v_reads = np.ascontiguousarray(
            np.moveaxis(drivers.v[:, rows, :], 0, -1)
        )  # (r, nu, n)
        self._tiled: Params | None = None
        self._nominal = _nominal_widths()  # the widths panels repeat after every dose
        self._y: Array | None = None
        self._factors: dict[
            tuple[float, bool], tuple[Array, Array | None, Array, Array | None]
        ] = {}
        self._rows: dict[tuple[float, ...], Array] = {}

    # ----------------------------------------------------------------- pieces

    def _params_at(self, idx: NDArray[np.intp] | None, rows: int) -> Params:
        """Parameters of patients ``idx`` (all: None) repeated for ``rows`` node rows."""
        n = self.n
        if idx is None and rows == self.rule.theta.size and self._tiled is not None:
            return self._tiled
        sub = self.params if idx is None else take_rows(self.params, idx)
        size = n if idx is None else idx.size
        tiled = {
            k: (np.concatenate([v] * rows) if v.shape[0] == size and n > 1 else v)
            for k, v in sub.items()
        }
        if idx is None and rows == self.rule.theta.size:
            self._tiled = tiled
        return tiled

    def factors(
        self, idx: NDArray[np.intp] | None, w: float, inputs: bool
    ) -> tuple[Array, Array | None, Array, Array | None]:
        """Return ``e^{lam w theta}``, ``w theta phi_1(lam w theta)`` (``(nu, m, n)``), both at 1.

        The second of each pair only with ``inputs``; full sets are kept per width.
        """
        key = (round(w, 13), inputs)
        if idx is None and key in self._factors:
            return self._factors[key]
        keep = idx is None and key[0] in self._nominal
        lam = self.lam if idx is None else self.lam[:, idx]
        tau = w * np.append(self.rule.theta, 1.0)
        lt = lam[:, None, :] * tau[None, :, None]
        e = np.exp(lt)
        f = None
        if inputs:
            with np.errstate(divide="ignore", invalid="ignore"):
                f = np.where(
                    np.abs(lt) < 1e-8,
                    tau[None, :, None] * (1.0 + 0.5 * lt),
                    np.expm1(lt) / lam[:, None, :],
                )
        out = (
            e[:, :-1],
            None if f is None else f[:, :-1],
            e[:, -1],
            None if f is None else f[:, -1],
        )
        if keep:
            self._factors[key] = out
        return out

    def rows(self, theta: Array) -> Array:
        """Return (and keep) the integration rows to output positions ``theta``."""
        key = tuple(np.round(theta, 12))
        if key not in self._rows:
            self._rows[key] = self.rule.rows(theta)
        return self._rows[key]

    def coefficients(
        self,
        idx: NDArray[np.intp] | None,
        seg: _Segment,
        t_a: float,
        w: float,
        z_a: Array,
        x_a: Array,
        *,
        start: bool = False,
        probe: bool = False,
    ) -> tuple[Array, Array, Array]:
        """Return ``c = a_xx + beta``, ``g`` at the nodes (``(m, n_idx)``) and ``z`` at the end.

        With ``start``, a first row holds ``c`` and ``g`` at ``t_a`` itself
        (``m + 1`` rows). With ``probe``, the remainder's affinity is checked
        (:meth:`_probe`) at the patients' own scale, ``x_a``.
        """
        rule = self.rule
        m = rule.theta.size
        c_in = None if seg.c is None else (seg.c if idx is None else seg.c[:, idx])
        e, f, e1, f1 = self.factors(idx, w, c_in is not None)
        n = z_a.shape[1]
        v_reads = self._v_reads if idx is None else np.ascontiguousarray(self._v_reads[..., idx])
        rows = m + int(start)
        if idx is None and not start:
            if self._y is None:
                self._y = np.zeros((self.n_states, m * n))
            y = self._y
        else:
            y = np.zeros((self.n_states, rows * n))
        x = self.s.driven
        y[x] = 0.0
        first = int(start) * n  # the nodes' columns start here
        for k, row in enumerate(self.s.reads):
            acc = np.zeros((m, n))
            for j in range(z_a.shape[0]):
                acc += e[j] * (v_reads[k, j] * z_a[j])
                if c_in is not None and f is not None:
                    acc += f[j] * (v_reads[k, j] * c_in[j])
            y[row, first:] = acc.reshape(m * n)
            if start:  # at t_a the drivers are z_a exactly
                y[row, :n] = np.einsum("jp,jp->p", v_reads[k], z_a)
        params = self._params_at(idx, rows)
        times = t_a + w * rule.theta
        t = np.repeat(np.r_[t_a, times] if start else times, n)
        r0 = self.model.remainder(t, y, params)[x]  # type: ignore[arg-type]
        y[x] = 1.0
        r1 = self.model.remainder(t, y, params)[x]  # type: ignore[arg-type]
        self.n_calls += 2
        if probe:
            self._probe(t, y, params, r0, r1, np.tile(x_a, rows))
        alpha = r0.reshape(rows, n)
        beta = (r1 - r0).reshape(rows, n)
        a_xx = self.a_xx if idx is None else self.a_xx[idx]
        g0 = seg.g0 if idx is None else seg.g0[idx]
        g = alpha + g0
        if self.a_xu is not None:
            a_xu = self.a_xu if idx is None else self.a_xu[idx]
            for j in range(z_a.shape[0]):
                drive = e[j] * z_a[j]
                if c_in is not None and f is not None:
                    drive = drive + f[j] * c_in[j]
                g[first // n :] += a_xu[:, j] * drive
                if start:
                    g[0] += a_xu[:, j] * z_a[j]
        z_end = e1 * z_a
        if c_in is not None and f1 is not None:
            z_end = z_end + f1 * c_in
        return a_xx + beta, g, z_end

    def _probe(self, t: Array, y: Array, params: Params, r0: Array, r1: Array, x_a: Array) -> None:
        """Check that the remainder is affine in the driven state, at ``x = 2 |x_a| + 1``.

        Run on the first panel of every stretch between doses (where the drivers
        are not all 0), at each patient's own scale.

        Raises
        ------
        SpecError
            If the remainder there is not ``r(0) + x (r(1) - r(0))`` to rounding.
        """
        x = self.s.driven
        at = 2.0 * np.nan_to_num(np.abs(x_a), nan=0.0, posinf=0.0) + 1.0
        y[x] = at
        r2 = self.model.remainder(t, y, params)[x]  # type: ignore[arg-type]
        self.n_calls += 1
        _check_affine(self.model, x, r0, r1, r2, at)

    # ----------------------------------------------------------------- a panel

    def panel(
        self,
        idx: NDArray[np.intp] | None,
        seg: _Segment,
        t_a: float,
        w: float,
        z_a: Array,
        x_a: Array,
        peak: Array,
        outs: tuple[NDArray[np.intp], Array],
        buffer: Array,
        *,
        start: bool = False,
        probe: bool = False,
        depth: int = 0,
    ) -> tuple[Array, Array]:
        """Cross ``[t_a, t_a + w]`` for patients ``idx`` (None: all); return end ``z`` and ``x``.

        Dense outputs ``outs`` (indices into ``buffer``'s first axis, positions in
        the panel) are written for the patients whose panel passes the error
        test; the others halve the panel. A panel that starts a stretch
        (``start``: a dose or a change of infusion just happened) also compares
        the interpolants with the true values at its start, so that a change
        completed before the first node is not missed. A patient whose state is
        not finite fails at once (flagged), without halving.
        """
        rule = self.rule
        c, g, z_end = self.coefficients(idx, seg, t_a, w, z_a, x_a, start=start, probe=probe)
        if start:
            c_start, g_start, c, g = c[0], g[0], c[1:], g[1:]
        out_idx, out_theta = outs
        with np.errstate(over="ignore", invalid="ignore"):
            lam_nodes = rule.q @ c
            lam_nodes *= -w
            h = np.exp(lam_nodes, out=lam_nodes)
            h *= g
            integral = rule.weight @ h
            integral *= w
            grow = np.exp(w * (rule.weight @ c))
            x_end = grow * (x_a + integral)
            tail_c, _ = rule.tail(c)
            tail_h, ratio_h = rule.tail(h)
            # The end is a Gauss sum (exact far beyond the interpolant's degree): its
            # error comes from Lambda at the inner nodes (interpolated) entering h.
            est = tail_c * (w * rule.partial) * np.abs(h).max(axis=0)
            est += tail_h * ratio_h**2
            est *= w * grow
            if start:
                # How far the interpolants are from the truth at the start, over
                # the stretch before the first node that no node sees.
                off_c = np.abs(rule.at_start @ c - c_start)
                off_h = np.abs(rule.at_start @ h - g_start)
                near = (w * rule.theta[0]) * (off_c * np.abs(x_end) + grow * off_h)
                est += near
            size = np.maximum(np.abs(x_end), PEAK_SHARE * np.maximum(peak, np.abs(x_end)))
            share = min(1.0, w / UNIT_DAY)
            ok = est <= self.rtol * share * size + self.atol
            if out_idx.size:
                rows = self.rows(out_theta)  # (k, m)
                grow_o = np.exp(w * (rows @ c))
                x_o = rows @ h
                x_o *= w
                x_o += x_a
                x_o *= grow_o
                # Inside the panel the interpolants themselves count.
                size_o = np.maximum(np.abs(x_o), PEAK_SHARE * peak)
                est_o = np.abs(x_o) * tail_c
                est_o += grow_o * tail_h
                est_o *= w * rule.partial
                if start:
                    est_o += near
                ok &= np.all(est_o <= self.rtol * share * size_o + self.atol, axis=0)
        ok &= np.isfinite(x_end)
        self.n_panels += int(ok.sum())
        cols = np.arange(self.n) if idx is None else idx
        if out_idx.size:
            if idx is None and ok.all():
                buffer[out_idx] = x_o
            elif ok.all():
                buffer[out_idx[:, None], cols[None, :]] = x_o
            else:
                good = np.flatnonzero(ok)
                buffer[out_idx[:, None], cols[good][None, :]] = x_o[:, good]
        if ok.all():
            return z_end, x_end
        dead = ~np.isfinite(x_a) | self.failed[cols]
        if depth >= MAX_DEPTH:
            dead |= ~ok
        if dead.any():
            self.failed[cols[dead]] = True
            x_end[dead] = np.nan
        bad = np.flatnonzero(~ok & ~dead)
        if bad.size == 0:
            return z_end, x_end
        sub = cols[bad]
        half = 0.5 * w
        first = out_theta < 0.5
        left = (out_idx[first], out_theta[first] * 2.0)
        right_idx, right_theta = out_idx[~first], out_theta[~first] * 2.0 - 1.0
        z_mid, x_mid = self.panel(
            sub,
            seg,
            t_a,
            half,
            z_a[:, bad],
            x_a[bad],
            peak[bad],
            left,
            buffer,
            start=start,
            depth=depth + 1,
        )
        at_mid = right_theta <= 0.0
        if at_mid.any():
            buffer[right_idx[at_mid][:, None], sub[None, :]] = x_mid
        right = (right_idx[~at_mid], right_theta[~at_mid])
        alive = np.isfinite(x_mid)  # a patient failed in the first half stays failed
        x_b = np.full(bad.size, np.nan)
        if alive.any():
            _z_b, x_b[alive] = self.panel(
                sub[alive],
                seg,
                t_a + half,
                w - half,
                z_mid[:, alive],
                x_mid[alive],
                np.maximum(peak[bad], np.abs(x_mid))[alive],
                right,
                buffer,
                depth=depth + 1,
            )
        x_end[bad] = x_b
        return z_end, x_end


def _drivers_at_outputs(
    lam: Array,
    v: Array,
    z: Array,
    c: Array | None,
    t0: float,
    times: Array,
    out: Array,
    rows: NDArray[np.intp],
    clip: NDArray[np.bool_],
) -> None:
    r"""Write the drivers ``V z(t)`` at ``times`` (ascending, ``>= t0``) into ``out[k, rows]``.

    ``z(t) = e^{lam (t - t0)} z + (t - t0) phi_1(lam (t - t0)) c``, by the exact
    recurrence from one output to the next, its factors recomputed only when the
    spacing changes. ``lam``, ``z``, ``c`` are ``(nu, n)``, ``v`` is ``(nu, nu, n)``
    (patient last, so every operation runs over contiguous patients); ``out`` is
    time-major, ``(len(times), n_states, n)``. Rows where ``clip`` are kept >= 0.

    (A numba loop over patients was measured against this: 1.1x faster, not
    worth a compiler as a dependency.)
    """
    zz = z.copy()
    last = math.nan
    prev = t0
    e = f = np.empty(0)
    for k, t in enumerate(times):
        d = float(t - prev)
        if d != last:
            lt = lam * d
            e = np.exp(lt)
            if c is not None:
                with np.errstate(divide="ignore", invalid="ignore"):
                    f = np.where(np.abs(lt) < 1e-8, d * (1.0 + 0.5 * lt), np.expm1(lt) / lam) * c
            last = d
        zz *= e
        if c is not None:
            zz += f
        prev = float(t)
        o = out[k]
        for i, row in enumerate(rows):
            target = o[row]
            np.multiply(v[i, 0], zz[0], out=target)
            for j in range(1, zz.shape[0]):
                target += v[i, j] * zz[j]
            if clip[i]:
                np.maximum(target, 0.0, out=target)


@dataclass(frozen=True)
class _Setup:
    """One run's data laid out for :func:`mscsim.engine.compiled.run_patients`."""

    model: Model
    params: Params
    prepared: Params
    schedule: Schedule
    y0: Array
    s: DrivenStructure
    drivers: _Drivers
    a_xx: Array
    a_xu: Array | None
    s_cols: Array

    def compiled(
        self,
        clip: NDArray[np.bool_],
        clip_x: bool,
        rtol: float,
        atol: float,
        drivers_out: bool = True,
        into: tuple[Array, NDArray[np.intp]] | None = None,
    ) -> tuple[Array | None, int, int, NDArray[np.bool_]]:
        """Run the compiled kernel; return the states (a view), panels, kernel calls and flags.

        Without ``drivers_out`` only the driven state's rows are written. With
        ``into`` (an array indexed ``(T, n_states, N)``, any strides, and each
        patient's column of it) the states are written there and None is
        returned in their place.

        A flagged patient failed or gave a state that is not finite (its states
        are NaN); every other patient's states are finite, so the caller need
        not scan them.
        """
        from mscsim.engine.compiled import LANES, run_patients

        model, schedule, structure = self.model, self.schedule, self.s
        n_states, n = self.y0.shape
        u_rows, x = structure.drivers, structure.driven
        nu = u_rows.size
        vinv = self.drivers.vinv
        rule = _rule(NODES)
        times = schedule.times_day
        stretches = _stretches(schedule)
        n_seg = len(stretches)
        seg_t = np.zeros((n_seg, 2))
        seg_dz = np.zeros((n_seg, n, nu))
        seg_dx = np.zeros((n_seg, n))
        seg_c = np.zeros((n_seg, n, nu))
        seg_has_c = np.zeros(n_seg, dtype=np.bool_)
        seg_g0 = np.zeros((n_seg, n))
        seg_out = np.zeros((n_seg, 2), dtype=np.int64)
        seg_panels = np.zeros((n_seg, 2), dtype=np.int64)
        nominal = np.array(sorted(_nominal_widths()))
        panel_rows: list[tuple[float, float, float]] = []
        panel_wi: list[int] = []
        out_rows = np.zeros((times.size, NODES))
        splits: dict[object, Array] = {}
        for si, st in enumerate(stretches):
            t0, t1, in_seg = st.t0, st.t1, st.outputs
            seg_t[si] = t0, t1
            dz, dx, c, g0 = _stretch_terms(
                model, self.params, schedule, st, self.s_cols, self.drivers, structure, splits
            )
            seg_dz[si], seg_dx[si], seg_c[si], seg_g0[si] = dz.T, dx, c.T, g0
            seg_has_c[si] = bool(np.any(c))
            seg_out[si] = (in_seg[0], in_seg[-1] + 1) if in_seg.size else (0, 0)
            spans = _panels(t0, t1)
            first = len(panel_rows)
            for j, (ta, w) in enumerate(spans):
                # The last panel of the run also tests the outputs at its end (as
                # the NumPy path does); an output at t1 belongs to the next stretch.
                end = math.inf if si + 1 == n_seg else t1
                bound = spans[j + 1][0] if j + 1 < len(spans) else end
                panel_rows.append((ta, w, bound))
                hit = np.flatnonzero(nominal == w)
                panel_wi.append(int(hit[0]) if hit.size else -1)
            seg_panels[si] = first, len(panel_rows)
            if in_seg.size:
                _, place = _positions(spans, times[in_seg])
                inside = place > 0.0
                out_rows[in_seg[inside]] = rule.rows(place[inside])
        pad = -n % LANES
        n_blocks = (n + pad) // LANES

        def blocks(a: Array, axis: int = 0) -> NDArray[Any]:
            """Patients on ``axis`` padded with the last one, split in blocks, lanes last."""
            a = np.asarray(a, dtype=float)
            if pad:
                widths = [(0, 0)] * a.ndim
                widths[axis] = (0, pad)
                a = np.pad(a, widths, mode="edge")
            shape = (*a.shape[:axis], n_blocks, LANES, *a.shape[axis + 1 :])
            return _c(np.moveaxis(a.reshape(shape), axis + 1, -1))

        v = self.drivers.v
        rows = np.searchsorted(u_rows, structure.reads)
        n_r = rows.size
        if into is None:
            # Indexed time-major as the NumPy path, patient-major in memory: the
            # states' own layout, and each block writes within its patients' rows.
            out = np.empty((n_states, n + pad, times.size)).transpose(2, 0, 1)
            cols = np.arange(n + pad, dtype=np.int64)
        else:
            out, idx = into
            if out.shape[:2] != (times.size, n_states):
                raise ValueError("into: a (T, n_states, N) array")
            cols = np.asarray(idx, dtype=np.int64)
            cols = np.concatenate([cols, np.repeat(cols[-1:], pad)])  # padding repeats the last
        status = np.zeros(n + pad, dtype=np.int8)
        counts = np.zeros((n + pad, 2), dtype=np.int64)
        probes = np.full((n + pad, n_r + 6), np.nan)
        rule_rows = np.vstack([rule.theta, rule.weight, rule.at_start, rule.q, rule.coef[-3:]])
        a_xu = np.zeros((n, nu)) if self.a_xu is None else self.a_xu
        kernel = compiled_kernel(model, "remainder_kernel")
        arguments = (
            kernel,
            blocks(self.drivers.lam),
            blocks(v[:, rows, :].reshape(n, n_r * nu)),
            blocks(v.reshape(n, nu * nu)),
            blocks(self.a_xx),
            blocks(a_xu),
            self.a_xu is not None,
            blocks(kernel_parameters(self.model, self.prepared, n)),
            seg_t,
            blocks(seg_dz, axis=1).reshape(n_seg, n_blocks * nu, LANES),
            blocks(seg_dx, axis=1),
            (  # without infusions, zeros the run never reads: no pages to copy
                blocks(seg_c, axis=1).reshape(n_seg, n_blocks * nu, LANES)
                if seg_has_c.any()
                else np.zeros((n_seg, n_blocks * nu, LANES))
            ),
            seg_has_c,
            blocks(seg_g0, axis=1),
            seg_out,
            seg_panels,
            np.array(panel_rows, dtype=float).reshape(-1, 3),
            np.array(panel_wi, dtype=np.int64),
            _c(nominal),
            out_rows,
            blocks(np.einsum("pij,jp->pi", vinv, self.y0[u_rows])),
            blocks(self.y0[x]),
            _c(times),
            _c(u_rows, np.int64),
            _c(structure.reads, np.int64),
            int(x),
            _c(clip, np.bool_),
            bool(clip_x),
            _c(rule_rows),
            _c(rule.antiderivative),
            np.array([rtol, atol, PEAK_SHARE, UNIT_DAY]),
            MAX_DEPTH,
            drivers_out,
            cols,
        )
        run_compiled(model, run_patients, arguments, (0, n_blocks), (out, status, counts, probes))
        status, counts, probes = status[:n], counts[:n], probes[:n]
        self.check(probes, status)
        n_panels, n_calls = int(counts[:, 0].sum()), int(counts[:, 1].sum())
        states = None if into is not None else out[:, :, :n].transpose(1, 2, 0)
        return states, n_panels, n_calls, status != 0

    def check(self, probes: Array, status: NDArray[np.int8]) -> None:
        """Compare the kernel with the model's ``remainder`` where the run probed it.

        The run probes each stretch's first panel, where the drivers the kernel
        reads are largest, and keeps each patient's probe where they were
        largest of all (:func:`mscsim.engine.compiled._probe`): each patient is
        judged once. Judging every stretch's probe judged no other patient and
        took 9 ms of a 0.12-s run (10^4 patients of the 6-state benchmark).

        Raises
        ------
        SpecError
            If they differ, or the remainder is not affine in the driven state there.
        """
        model, structure = self.model, self.s
        nr = structure.reads.size
        seen = np.isfinite(probes[:, 0]) & (status == 0)
        if not seen.any():
            return
        pr, params = probes, self.prepared
        if not seen.all():
            pr = pr[seen]
            params = take_rows(params, np.flatnonzero(seen))
        y = np.zeros((len(model.states), pr.shape[0]))
        y[structure.reads] = pr[:, 1 : 1 + nr].T
        x = structure.driven
        got = []
        for value in (0.0, 1.0, None):
            y[x] = pr[:, 1 + nr] if value is None else value
            got.append(model.remainder(pr[:, 0], y, params)[x])  # type: ignore[arg-type]
        refuse_unless_same(model, np.array(got), np.ascontiguousarray(pr[:, 2 + nr : 5 + nr].T))
        _check_affine(model, x, got[0], got[1], got[2], pr[:, 1 + nr])


KERNEL_CHECK_RTOL = 1e-9
"""Largest relative difference allowed between a kernel and the model's NumPy remainder."""

KERNEL_CHECK_FLOOR = 1e-6
"""Share of a row's largest value below which values are judged against that share.

A remainder that is a difference of nearly equal terms (a rate towards a level
it has almost reached, an effect on the ramp just above its floor) turns the
last-bit differences of ``exp`` and ``pow`` between NumPy and compiled code
into large relative ones: 1e-6 relative at 1e-19, where the row reaches 0.05,
on the limb-ischaemia model. A kernel with a wrong formula differs where its
values are large."""


def refuse_unless_same(model: Model, want: Array, got: Array) -> None:
    """Raise unless a kernel's remainder ``got`` is the NumPy ``want`` (rows, probes).

    Relative :data:`KERNEL_CHECK_RTOL`, of at least :data:`KERNEL_CHECK_FLOOR` of
    the row's largest value; probes that are not finite are not judged.

    Raises
    ------
    SpecError
        Naming the model and how many probes (columns) differ.
    """
    with np.errstate(invalid="ignore"):
        size = np.abs(want)
        peak = np.max(size, axis=-1, keepdims=True, where=np.isfinite(size), initial=0.0)
        scale = np.maximum(size + np.abs(got), KERNEL_CHECK_FLOOR * peak)
        differs = np.abs(want - got) > KERNEL_CHECK_RTOL * scale + 1e-300
        differs &= np.isfinite(scale)
    if differs.any():
        raise SpecError(
            f"remainder_kernel: {model.name}'s kernel differs from its remainder "
            f"(at {int(differs.any(axis=0).sum())} of {want.shape[-1]} probes)"
        )


def kernel_parameters(model: Model, prepared: Params, n: int) -> Array:
    """Return ``(n, q)``: the prepared parameters a model's kernels read, patient by patient.

    Raises
    ------
    SpecError
        If ``remainder_kernel_parameters`` names a parameter ``prepared`` lacks.
    """
    names = tuple(getattr(model, "remainder_kernel_parameters", ()))
    missing = [name for name in names if name not in prepared]
    if missing:
        raise SpecError(
            f"remainder_kernel_parameters = {missing[0]!r}: not a prepared parameter of "
            f"{model.name}"
        )
    cols = [np.broadcast_to(np.asarray(prepared[k], dtype=float), (n,)) for k in names]
    return np.ascontiguousarray(np.stack(cols, axis=1) if cols else np.zeros((n, 0)))


def compiled_kernel(model: Model, attribute: str) -> Any:
    """Return the model's numba kernel ``attribute`` (``remainder_kernel``, ``switch_kernel``).

    Raises
    ------
    SpecError
        If it is not a numba-compiled function.
    """
    from numba.core.dispatcher import Dispatcher

    from mscsim.engine.compiled import KERNEL_CONTRACT

    kernel = getattr(model, attribute)
    kernel = getattr(kernel, "__func__", kernel)  # a dispatcher bound as a method
    kernel = getattr(kernel, "dispatcher", kernel)  # one loaded when first asked for
    if not isinstance(kernel, Dispatcher):
        raise SpecError(f"{attribute} = {kernel!r}: must be {KERNEL_CONTRACT}")
    return kernel


def run_compiled(
    model: Model,
    run: Callable[..., None],
    head: tuple[Any, ...],
    span: tuple[int, int],
    tail: tuple[Any, ...],
) -> None:
    """Run a compiled backend over ``span`` of its patients, on every core.

    Calls ``run(*head, first, stop, *tail)`` for consecutive ranges of
    ``span`` (:data:`RANGES_PER_THREAD` per thread of :func:`compiled_threads`),
    each taken by the next free thread: the compiled functions release the
    GIL, and a patient's arithmetic is its own, so the ranges do not change a
    bit. Threads started here, not numba's
    threading layer, keep a process that forks after a run safe (GNU OpenMP
    kills such a child) and let a kernel's exception reach the caller. Runs
    from several threads take turns (``_KERNEL_TURN``): each already uses every
    core.

    Raises
    ------
    SpecError
        If the model's kernel fails to compile or raises (the user's code), named.
    """
    from mscsim.engine.compiled import KERNEL_CONTRACT

    start, stop = span
    n = stop - start
    threads = max(1, min(n, compiled_threads()))
    pieces = min(n, threads * RANGES_PER_THREAD) if threads > 1 else 1
    bounds = iter([(start + i * n // pieces, start + (i + 1) * n // pieces) for i in range(pieces)])
    taking = threading.Lock()

    def work() -> None:
        """Run the next range not yet taken, until none is left."""
        while True:
            with taking:
                got = next(bounds, None)
            if got is None:
                return
            run(*head, *got, *tail)

    try:
        with _KERNEL_TURN:  # this thread works too, beside threads - 1 of the pool's
            futures = [_pool(threads - 1).submit(work) for _ in range(threads - 1)]
            try:
                work()
            finally:
                for future in futures:
                    future.result()
    except MemoryError:
        raise
    except Exception as exc:
        cause = exc.__cause__ or exc
        text = str(cause).strip()
        reason = text.splitlines()[0] if text else ""
        raise SpecError(
            f"remainder_kernel: {model.name}'s kernel failed ({type(cause).__name__}: "
            f"{reason}); it must be {KERNEL_CONTRACT}"
        ) from None


RANGES_PER_THREAD = 16
"""A compiled run is cut into this many ranges per thread, each taken by the next
free thread: patients differ in cost (a sensitised one takes ten times the
steps) and a shared machine slows one core or the other, so equal halves left
one thread waiting for the other. On 10,000 patients of the SCA population
(three runs each, one process) 16 took 2.5-2.9 s, one range per thread
3.0-3.3 s."""

_POOLS: dict[int, Any] = {}


def _after_fork_in_child() -> None:
    """Forget the parent's pools and lock: their threads do not exist in a forked child."""
    global _KERNEL_TURN
    _POOLS.clear()
    _KERNEL_TURN = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _pool(workers: int) -> Any:
    """Return a thread pool of ``workers`` threads, kept for later runs (started once)."""
    from concurrent.futures import ThreadPoolExecutor

    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="mscsim-compiled")
    return _POOLS[workers]


COMPILED_THREADS: int | None = None
"""Threads a compiled run uses; None: numba's ``NUMBA_NUM_THREADS`` (the cores)."""


def compiled_threads() -> int:
    """Return how many threads a compiled run splits its patients over."""
    if COMPILED_THREADS is not None:
        return max(1, COMPILED_THREADS)
    from numba import config

    cores = getattr(config, "NUMBA_NUM_THREADS", None) or os.cpu_count() or 1
    return max(1, int(cores))


def _c(a: ArrayLike, dtype: type = float) -> NDArray[Any]:
    """Return ``a`` as a C-contiguous, writable array of ``dtype`` (what compiled code takes)."""
    return np.require(a, dtype=dtype, requirements=["C", "W"])


def _nominal_widths() -> set[float]:
    """Return the panel widths :func:`_panels` repeats after every dose (rounded)."""
    widths = {round(MAX_PANEL_DAY, 13)}
    w = FIRST_PANEL_DAY
    while w < MAX_PANEL_DAY and GROWTH > 1.0:
        widths.add(round(w, 13))
        w *= GROWTH
    return widths


def _panels(start: float, end: float) -> list[tuple[float, float]]:
    """Return ``(start, width)`` of each panel from ``start`` to ``end``.

    Widths grow geometrically from :data:`FIRST_PANEL_DAY` up to
    :data:`MAX_PANEL_DAY`; the last panel ends at ``end``. Widths are exact
    multiples, so panels of later doses reuse the exponentials of earlier ones.

    Examples
    --------
    >>> [round(w, 4) for _, w in _panels(0.0, 0.2)]
    [0.005, 0.01, 0.02, 0.04, 0.08, 0.045]
    """
    out: list[tuple[float, float]] = []
    offset, w = 0.0, FIRST_PANEL_DAY
    span = end - start
    while offset < span:
        if offset + w >= span - 1e-9 * max(1.0, span):
            w = span - offset
        out.append((start + offset, w))
        offset += w
        w = min(w * GROWTH, MAX_PANEL_DAY)
    return out


def integrate_driven(
    model: Model,
    params: Params,
    schedule: Schedule,
    y0: Array,
    structure: DrivenStructure,
    *,
    rtol: float,
    atol: float,
    progress: ProgressCallback | None = None,
    prepared: Params | None = None,
    drivers_out: bool = True,
    into: tuple[Array, NDArray[np.intp]] | None = None,
    modes: dict[bytes, tuple[_Drivers, NDArray[np.bool_]]] | None = None,
) -> tuple[Array | None, int, int, NDArray[np.bool_], NDArray[np.bool_] | None]:
    """Integrate every patient of a one-way affine model; see the module docstring.

    With ``drivers_out`` False the compiled run writes only the driven state
    (the other rows of the states returned are undefined): a caller that has
    the drivers from another run. With ``into`` (an array indexed
    ``(n_times, n_states, N)``, any strides, and the column of it each patient takes) the
    compiled run writes its states there, for a caller gathering several runs,
    and returns None in their place; the NumPy run returns them as without.
    ``modes``, a dict a caller keeps over runs of the same patients and model,
    holds the drivers' modes by driver rows: runs with the same drivers
    diagonalise them once.

    Returns
    -------
    states : ndarray, shape (n_states, n_patients, n_times), or None
    n_panels, n_remainder_calls : int
        Panels crossed, summed over patients; remainder calls (each on a batch).
    modal : ndarray of bool, shape (n_patients,)
        Patients integrated here; the others (drivers not safely
        diagonalisable) are left for another backend.
    flagged : ndarray of bool, shape (n_patients,), or None
        From the compiled kernel: the modal patients that failed or gave a
        state that is not finite (the other modal patients' states are all
        finite). None when the states were not checked.
    """
    from mscsim.engine.adaptive import _input_columns

    n_states, n = y0.shape
    if n == 0:
        empty = np.zeros(0, dtype=bool)
        return np.empty((n_states, 0, schedule.times_day.size)), 0, 0, empty, empty
    if prepared is None:
        prepared = model.prepare(params)
    system = model.linear_system(prepared)
    a = system[0]
    s_cols = _input_columns(model, params, schedule.infusion_routes, system)
    rows = max(a.shape[0], s_cols.shape[0])
    a = np.broadcast_to(a, (rows, n_states, n_states))
    s_cols = np.broadcast_to(s_cols, (rows, *s_cols.shape[1:]))
    u_rows, x = structure.drivers, structure.driven
    key = u_rows.tobytes()
    if modes is not None and key in modes:
        drivers, ok = modes[key]
    else:
        drivers, ok = _diagonalise(np.ascontiguousarray(a[:, u_rows][:, :, u_rows]))
        if modes is not None:
            modes[key] = drivers, ok
    if rows == 1 and n > 1:
        drivers = _Drivers(
            *(np.repeat(f, n, axis=0) for f in (drivers.lam, drivers.v, drivers.vinv))
        )
        ok = np.repeat(ok, n)
        a = np.broadcast_to(a, (n, *a.shape[1:]))
        s_cols = np.broadcast_to(s_cols, (n, *s_cols.shape[1:]))
    a_xx = np.ascontiguousarray(a[:, x, x])
    a_xu_raw = a[:, x, u_rows]
    a_xu = np.einsum("pi,pij->pj", a_xu_raw, drivers.v) if np.any(a_xu_raw) else None
    keep = nonnegative_mask(model)
    clip = keep[u_rows].astype(np.bool_)
    if getattr(model, "remainder_kernel", None) is not None:
        run = _Setup(model, params, prepared, schedule, y0, structure, drivers, a_xx, a_xu, s_cols)
        states, n_panels, n_calls, flagged = run.compiled(
            clip, bool(keep[x]), rtol, atol, drivers_out, into
        )
        if progress is not None:
            progress(schedule.breakpoints.size, schedule.breakpoints.size)
        return states, n_panels, n_calls, ok, flagged
    splits: dict[object, Array] = {}
    panels = _Panels(model, prepared, structure, drivers, a_xx, a_xu, rtol, atol)

    times = schedule.times_day
    out = np.empty((times.size, n_states, n))  # time-major: every write is contiguous
    x_buf = out[:, x, :]
    lam_t = np.ascontiguousarray(drivers.lam.T)
    v_t = np.ascontiguousarray(np.moveaxis(drivers.v, 0, -1))
    bp = schedule.breakpoints
    y = y0.copy()
    z = np.einsum("pij,jp->ip", drivers.vinv, y[u_rows])
    xv = y[x].copy()
    peak = np.abs(xv)
    for st in _stretches(schedule):
        t0, t1, out_idx = st.t0, st.t1, st.outputs
        dz, dx, c, g0 = _stretch_terms(
            model, params, schedule, st, s_cols, drivers, structure, splits
        )
        z = z + dz
        xv = xv + dx
        seg = _Segment(c if np.any(c) else None, g0)
        if out_idx.size:
            block = out[out_idx[0] : out_idx[-1] + 1]  # outputs of a segment are consecutive
            _drivers_at_outputs(lam_t, v_t, z, seg.c, t0, times[out_idx], block, u_rows, clip)
        np.maximum(peak, np.abs(xv), out=peak)
        spans = _panels(t0, t1)
        owner, place = _positions(spans, times[out_idx])
        for j, (ta, w) in enumerate(spans):
            mine = owner == j
            at_start = mine & (place <= 0.0)
            x_buf[out_idx[at_start]] = xv
            inside = mine & ~at_start
            z, xv = panels.panel(
                None,
                seg,
                ta,
                w,
                z,
                xv,
                peak,
                (out_idx[inside], place[inside]),
                x_buf,
                start=j == 0,
                probe=j == 0,
            )
            np.maximum(peak, np.abs(xv), out=peak, where=np.isfinite(xv))
        x_buf[out_idx[times[out_idx] >= t1]] = xv
        if progress is not None:
            progress(st.k_end + 1, bp.size)
    if keep[x]:
        np.maximum(x_buf, 0.0, out=x_buf)
    if panels.failed.any():
        out[:, :, panels.failed] = np.nan
    return np.moveaxis(out, 0, -1), panels.n_panels, panels.n_calls, ok, None
