r"""The adaptive backend: exact linear modes and error-controlled exponential RK steps per patient.

A model's right-hand side is ``f(t, y) = A y + b + R(t, y)``
(:meth:`Model.linear_system`, :meth:`Model.remainder`). Each patient's ``A`` is
diagonalised once per run, ``A = V diag(lambda) V^-1`` (LAPACK ``geev`` through
:func:`numpy.linalg.eig`, batched). In modal coordinates ``z = V^-1 y`` the
linear part is diagonal, so the functions an exponential integrator needs,
:math:`e^{h\lambda}` and :math:`\varphi_k(h\lambda)`, are scalars per mode: a step of
any length costs a few element-wise operations instead of a matrix
exponential, and every patient takes its own steps.

The remainder (with ``b`` and infusion inputs) is integrated with Krogstad's
exponential Runge-Kutta method of order 4 (:mod:`mscsim.engine.fast` explains
why this one). Modes the remainder cannot move (their row of ``V^-1`` is 0 in
every column it writes: the cells and factor of a model whose remainder only
acts on a disease score) follow their exact exponential; only the others take
Runge-Kutta stages.

Error control is per interval between breakpoints. A patient crosses an
interval in ``n`` equal steps and again in ``2n``; Richardson's difference
``(y_2n - y_n) / 15`` estimates the error of the finer result. The interval
is accepted when, for every state,

``|err| <= rtol * max(|y|, 1e-6 * peak) * min(1, span / 1 day) + atol``

(``peak``: the patient's largest ``|y|`` of that state so far; ``atol`` in the
state's own unit; a term for rounding in ``V z`` is added), and the result
kept is the extrapolated ``y_2n + (y_2n - y_n) / 15``, of order 5 (local
extrapolation, as Dormand and Prince's pair keeps its higher order). A
sensitised patient crosses hundreds of intervals while its cells clear; kept
so, their errors stay small: the SCA population's sensitised patients end
within 2.3e-7 of a tight reference at the default ``rtol``
(``bench/population.py``; 7.8e-7 keeping the finer result). Otherwise the
interval is repeated with shorter steps; the next interval's ``n`` follows from
the error (``h * 0.9 * err^(-1/4)``, between 0.2 and 5 times the last). The
difference sees every source of error, including a remainder that changes fast
along an exactly known input (an effect driven by the factor), which the
embedded estimate of an ETD(3,4) pair misses. Intervals shorter than a day get
a proportional share of ``rtol``, so the short pieces after a dose (the
interval is cut into pieces doubling from :data:`FIRST_STEP_DAY`) add up to no
more error than a day's worth. Every choice is made per patient: a patient's
result does not depend on the batch it is in.

Where the model declares ``linear_below_switches`` and a patient's switches and
activity are negative at both ends of an interval between breakpoints, the
interval is one exact step (the remainder is 0 there). Patients whose ``A`` has
complex eigenvalues or an eigenvector matrix with condition number above
:data:`MAX_CONDITION` (nearly repeated, coupled rates) are integrated by the
fixed-step backend (:func:`mscsim.engine.fast.integrate_fast`), which needs no
diagonalisation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mscsim.engine.events import Schedule
from mscsim.errors import SpecError
from mscsim.models.base import Array, Model, Params, StateIndex, nonnegative_mask, take_rows
from mscsim.spec.route import Route

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_RTOL",
    "FIRST_STEP_DAY",
    "MAX_CONDITION",
    "AdaptiveRun",
    "fixed_steps",
    "integrate_adaptive",
    "phi_scalars",
]

DEFAULT_RTOL = 1e-7
"""Default relative tolerance of the adaptive backend."""

DEFAULT_ATOL = 1e-12
"""Default absolute tolerance, in each state's own unit."""

PEAK_SHARE = 1e-6
"""A value below this share of its state's largest value so far is held to ``rtol``
of that share instead (what the accuracy figures measure)."""

MAX_CONDITION = 1e8
"""Largest eigenvector condition number integrated in modal coordinates."""

FIRST_STEP_DAY = 1e-3
"""First step after the start, a dose or a change of infusion (days, 1.4 min)."""

MIN_STEP_DAY = 1e-12
"""A patient whose error test fails at a step this short is flagged as failed."""

SUBSTEPS: tuple[int, ...] = tuple(sorted({round(2 ** (k / 4)) for k in range(49)}))
"""Numbers of equal steps an interval may be cut into (ratio about 2^(1/4), up to 4,096);
a patient needing more (a solution blowing up) is flagged as failed. An interval
takes the first count at least as fine as its error asks: on the SCA population's
sensitised patients this ladder took 5% fewer remainder calls than one of ratio
sqrt 2, for the same error."""

ROUNDING = 1e-12
"""Relative size of the rounding errors the error test allows for (see ``_interval``)."""

UNIT_STEP_DAY = 1.0
"""Steps shorter than this get a proportionally smaller share of the tolerance."""

MAX_GROWTH, MIN_SHRINK, SAFETY = 5.0, 0.2, 0.9

_SERIES_BELOW = 0.5
_SERIES_TERMS = 16

ProgressCallback = Callable[[int, int], None]


def phi_scalars(z: Array) -> tuple[Array, Array, Array, Array]:
    r"""Return :math:`e^z, \varphi_1(z), \varphi_2(z), \varphi_3(z)` element-wise.

    :math:`\varphi_k(z) = \sum_{j \ge 0} z^j / (j + k)!`. Small ``|z|`` use this
    series (no cancellation), the rest :math:`\varphi_1 = (e^z - 1)/z` and
    :math:`\varphi_{k+1} = (\varphi_k - 1/k!)/z`.

    Examples
    --------
    >>> [round(float(f[0]), 10) for f in phi_scalars(np.array([-2.0]))]
    [0.1353352832, 0.4323323584, 0.2838338208, 0.1080830896]
    >>> [round(float(f[0]), 10) for f in phi_scalars(np.array([0.0]))]
    [1.0, 1.0, 0.5, 0.1666666667]
    """
    e = np.exp(z)
    small = np.abs(z) < _SERIES_BELOW
    zs = np.where(small, z, 0.0)
    p3 = np.full_like(z, 1.0 / math.factorial(_SERIES_TERMS + 2))
    for j in range(_SERIES_TERMS - 2, -1, -1):
        p3 = p3 * zs + 1.0 / math.factorial(j + 3)
    zl = np.where(small, 1.0, z)
    p1l = np.expm1(zl) / zl
    p2l = (p1l - 1.0) / zl
    p3l = (p2l - 0.5) / zl
    p2 = np.where(small, zs * p3 + 0.5, p2l)
    p1 = np.where(small, zs * (zs * p3 + 0.5) + 1.0, p1l)
    return e, p1, p2, np.where(small, p3, p3l)


@dataclass(frozen=True)
class AdaptiveRun:
    """What :func:`integrate_adaptive` returns.

    Attributes
    ----------
    states : ndarray, shape (n_states, n_patients, n_times)
    n_steps : int
        Accepted steps summed over patients (exact interval steps included).
    n_rejected : int
        Rejected steps summed over patients.
    n_rhs : int
        Remainder evaluations (calls, each on a batch of patients).
    n_fallback : int
        Patients integrated by the fixed-step backend (module docstring).
    """

    states: Array
    n_steps: int
    n_rejected: int
    n_rhs: int
    n_fallback: int


def _apply(m: Array, x: Array) -> Array:
    """Return ``m[p] @ x[:, p]`` for every patient ``p``: ``m`` is ``(P, r, c)``, ``x`` ``(c, P)``.

    ``P = 1`` applies one shared matrix to every column.
    """
    if m.shape[0] == 1:
        shared: Array = m[0] @ x
        return shared
    out: Array = np.matmul(m, x.T[:, :, None])[:, :, 0].T
    return out


@dataclass(frozen=True)
class _Modes:
    """Per-patient ``A = V diag(lam) V^-1``, modes ordered driven first (``P`` may be 1).

    A mode is *driven* when the remainder can move it (its row of ``V^-1`` has a
    nonzero entry in a column the remainder writes); the others follow their
    exact exponential. ``reads`` and ``writes`` are the rows the remainder reads
    and writes; only those rows of ``V`` and columns of ``V^-1`` are used in the
    Runge-Kutta stages.
    """

    lam: Array  # (n, P)
    v: Array  # (P, n, n)
    vinv: Array  # (P, n, n)
    inputs: Array  # (P, n, m): V^-1 S
    n_driven: int
    reads: NDArray[np.intp]
    writes: NDArray[np.intp]
    v_reads: Array  # (P, r, n)
    vinv_driven: Array  # (P, d, w)
    v_abs: Array  # (P, n, n): |V|, the size of the terms summed in V z

    def take(self, idx: NDArray[np.intp]) -> _Modes:
        """Return the modes of patients ``idx`` (shared modes stay shared)."""
        if self.v.shape[0] == 1:
            return self
        return _Modes(
            self.lam[:, idx],
            self.v[idx],
            self.vinv[idx],
            self.inputs[idx],
            self.n_driven,
            self.reads,
            self.writes,
            self.v_reads[idx],
            self.vinv_driven[idx],
            self.v_abs[idx],
        )

    def eigenvalues(self, n: int) -> Array:
        """Return the eigenvalues for ``n`` patients, shape ``(n_states, n)``."""
        return np.broadcast_to(self.lam, (self.lam.shape[0], n))


REPEATED_TOLERANCE = 1e-9
"""Eigenvalues within this share of the largest are one repeated eigenvalue."""


def _real_where_rounding(
    a: Array, lam: NDArray[np.complex128], v: NDArray[np.complex128]
) -> tuple[NDArray[np.complex128], NDArray[np.complex128]]:
    """Return real eigenpairs for matrices whose complex eigenvalues are only rounding.

    A real eigenvalue repeated in several compartments with the same rates (organs
    with equal death and release) comes back from LAPACK as conjugate pairs with
    imaginary parts at rounding level and complex eigenvectors. For such a matrix
    each group of equal eigenvalues gets a real basis of its eigenspace (the null
    space of ``A - lambda I``, from the SVD); a defective group gets too few
    independent vectors, and the condition test then sends the patient to the
    fixed-step backend as before.
    """
    scale = np.abs(lam).max(axis=1, initial=0.0)
    complex_ = np.any(lam.imag != 0.0, axis=1) | np.any(v.imag != 0.0, axis=(1, 2))
    tiny = np.abs(lam.imag).max(axis=1, initial=0.0) <= REPEATED_TOLERANCE * scale
    fix = np.flatnonzero(complex_ & tiny)
    if fix.size == 0:
        return lam, v
    lam, v = lam.copy(), v.copy()
    eye = np.eye(a.shape[1])
    for k in fix:
        values = lam[k].real
        basis = np.zeros((a.shape[1], a.shape[1]))
        done = np.zeros(values.size, dtype=bool)
        for j in range(values.size):
            if done[j]:
                continue
            group = np.flatnonzero(
                ~done & (np.abs(values - values[j]) <= REPEATED_TOLERANCE * scale[k])
            )
            mean = values[group].mean()
            _, _, vh = np.linalg.svd(a[k] - mean * eye)
            basis[:, group] = vh[-group.size :].T
            values[group] = mean
            done[group] = True
        lam[k], v[k] = values, basis
    return lam, v


def real_modes(a: Array) -> tuple[Array, Array, Array, NDArray[np.bool_]]:
    """Diagonalise each ``A = V diag(lam) V^-1`` (``(P, n, n)``) where that is safe.

    Returns ``lam`` ``(P, n)``, ``V`` (unit columns), ``V^-1`` and, per matrix,
    whether its eigenpairs are real and ``V``'s condition number (Frobenius) is
    below :data:`MAX_CONDITION`. Other matrices get ``lam = 0`` and ``V = I``;
    their patients go to another backend. Modes come in no particular order.

    A matrix whose compartments feed each other one way except for pairs (block
    triangular with blocks of 1 or 2 states, well separated real eigenvalues) is
    diagonalised in closed form (:func:`_structured_modes`); the others by
    LAPACK (:func:`_lapack_modes`). Which one depends on the matrix only, not on
    the batch it is in.
    """
    size, n = a.shape[:2]
    lam, v, vinv = np.zeros((size, n)), np.zeros((size, n, n)), np.zeros((size, n, n))
    cond = np.full(size, np.inf)
    rest = np.ones(size, dtype=bool)
    for idx in _pattern_groups(a) if n else []:
        blocks = _triangular_blocks(a[idx[0]] != 0.0)
        if blocks is None:
            continue
        whole = idx.size == size
        modes = _structured_modes(a if whole else a[idx], blocks)
        if whole:
            lam, v, vinv, cond, done = modes
            rest = ~done
        else:
            done = modes[-1]
            mine = idx[done]
            lam[mine], v[mine], vinv[mine], cond[mine] = (f[done] for f in modes[:-1])
            rest[mine] = False
    ok = ~rest & (cond < MAX_CONDITION)
    if rest.any():
        idx = np.flatnonzero(rest)
        lam[idx], v[idx], vinv[idx], ok[idx] = _lapack_modes(a[idx])
    off = ~ok
    if off.any():
        lam[off], v[off], vinv[off] = 0.0, np.eye(n), np.eye(n)
    return lam, v, vinv, ok


def _lapack_modes(a: Array) -> tuple[Array, Array, Array, NDArray[np.bool_]]:
    """Return :func:`real_modes` from :func:`numpy.linalg.eig` (any matrix)."""
    n = a.shape[1]
    with np.errstate(all="ignore"):
        lam, v = np.linalg.eig(a)
        lam, v = _real_where_rounding(a, lam, v)
        real = np.all(lam.imag == 0.0, axis=1) & np.all(v.imag == 0.0, axis=(1, 2))
        v = np.ascontiguousarray(v.real)
        cond, vinv = _condition(v)
    ok = real & np.isfinite(cond) & (cond < MAX_CONDITION)
    eye = np.eye(n)
    v = np.where(ok[:, None, None], v, eye)
    lam = np.where(ok[:, None], lam.real, 0.0)
    return lam, v, np.where(ok[:, None, None], vinv, eye), ok


SEPARATION = 1e-6
"""Eigenvalues closer than this share of the largest send a matrix from the closed form
(:func:`_structured_modes`) to LAPACK."""


def _pattern_groups(a: Array) -> list[NDArray[np.intp]]:
    """Return the indices of the matrices of ``a`` grouped by their pattern of nonzero entries."""
    size = a.shape[0]
    if size == 0:
        return []
    nonzero = (a != 0.0).reshape(size, -1)
    if (nonzero == nonzero[0]).all():
        return [np.arange(size)]
    _, inverse = np.unique(np.packbits(nonzero, axis=1), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(inverse[order])) + 1)


def _triangular_blocks(pattern: NDArray[np.bool_]) -> list[NDArray[np.intp]] | None:
    """Return the strongly connected blocks of a matrix's pattern, upstream first.

    ``pattern[r, c]`` says state ``c`` feeds state ``r``. In the returned order the
    matrix is block lower triangular. None when a block has more than 2 states.
    """
    n = pattern.shape[0]
    reach = pattern | np.eye(n, dtype=bool)  # reach[r, c]: c feeds r along some path
    while True:
        wider = (reach.astype(np.int64) @ reach.astype(np.int64)) > 0
        if np.array_equal(wider, reach):
            break
        reach = wider
    mutual = reach & reach.T
    first = mutual.argmax(axis=1)  # each state's block, named by its first state
    # A block feeding another has fewer states upstream of it (itself included).
    order = np.lexsort((first, reach.sum(axis=1)))
    blocks = [np.flatnonzero(mutual[i]) for i in order if first[i] == i]
    return blocks if all(b.size <= 2 for b in blocks) else None


def _structured_modes(
    a: Array, blocks: list[NDArray[np.intp]]
) -> tuple[Array, Array, Array, Array, NDArray[np.bool_]]:
    """Diagonalise block lower triangular matrices (``blocks`` of 1 or 2 states, upstream first).

    Eigenvalues of each block in closed form; eigenvectors by forward
    substitution down the blocks, with unit length as LAPACK's; ``V^-1`` by
    block forward substitution, not from the left eigenvectors: those are each
    right to rounding, but not orthogonal to the other modes' right vectors to
    rounding (for close eigenvalues in a pair, V times them strayed from I by up
    to 2e-3). Compiled, a matrix at a time
    (:func:`mscsim.engine.compiled_modes.structured_modes`). Returns ``lam``,
    ``V``, ``V^-1``, the Frobenius condition number and which matrices this
    served: not those with complex or non-finite entries, or eigenvalues closer
    than :data:`SEPARATION` of the largest (a division would be ill-conditioned;
    LAPACK takes them).
    """
    from mscsim.engine.compiled_modes import structured_modes

    states = np.concatenate(blocks).astype(np.int64)
    starts = np.cumsum([0] + [b.size for b in blocks]).astype(np.int64)
    with np.errstate(all="ignore"):  # the matrices a division would not serve are left out
        lam, v, vinv, cond, ok = structured_modes(
            np.ascontiguousarray(a, dtype=float), states, starts, SEPARATION
        )
    return lam, v, vinv, cond, ok


def _condition(v: Array) -> tuple[Array, Array]:
    """Return each ``V``'s Frobenius condition number and its inverse (``(P, n, n)``).

    The Frobenius condition number bounds the 2-norm one from above and costs an
    inverse, not an SVD (a fifth of the cost; within ``n`` of the 2-norm one); it
    is :func:`numpy.linalg.cond` with ``p = "fro"``, ``|V|_F |V^-1|_F``, from the
    one inverse the caller keeps. A batch holding a singular ``V`` takes
    :func:`numpy.linalg.cond` (``inf`` there) and then inverts the others.
    """
    if v.shape[1] == 0:
        return np.ones(v.shape[0]), v.copy()
    try:
        vinv: Array = np.linalg.inv(v).astype(float, copy=False)
    except np.linalg.LinAlgError:
        cond: Array = np.linalg.cond(v, "fro")
        safe = np.isfinite(cond)
        vinv = np.full_like(v, np.nan)
        vinv[safe] = np.linalg.inv(v[safe])
        return cond, vinv
    cond = np.linalg.norm(v, "fro", axis=(1, 2)) * np.linalg.norm(vinv, "fro", axis=(1, 2))
    return cond, vinv


def _diagonalise(
    a: Array, s: Array, reads: NDArray[np.intp], writes: NDArray[np.intp]
) -> tuple[_Modes, NDArray[np.bool_]]:
    """Diagonalise each ``A``; return the modes and which matrices are safely diagonalisable."""
    lam, v, vinv, ok = real_modes(a)
    # Driven modes first, in each patient's own order (eig orders modes arbitrarily).
    rows = np.abs(vinv)
    coupling = rows[:, :, writes].max(axis=2, initial=0.0)
    driven = coupling > 1e-12 * rows.max(axis=2)
    order = np.argsort(~driven, axis=1, kind="stable")
    n_driven = int(driven.sum(axis=1).max(initial=0))
    lam = np.take_along_axis(lam, order, axis=1)
    v = np.take_along_axis(v, order[:, None, :], axis=2)
    vinv = np.take_along_axis(vinv, order[:, :, None], axis=1)
    # A batch takes as many driven modes as its most coupled patient; a patient's
    # extra ones get no coupling at all, so they follow their exact exponential as
    # they would in any other batch.
    is_driven = np.take_along_axis(driven, order, axis=1)[:, :n_driven]
    coupled = np.where(is_driven[:, :, None], vinv[:, :n_driven][:, :, writes], 0.0)
    return (
        _Modes(
            np.ascontiguousarray(lam.T),
            v,
            vinv,
            vinv @ s,
            n_driven,
            reads,
            writes,
            np.ascontiguousarray(v[:, reads, :]),
            np.ascontiguousarray(coupled),
            np.abs(v),
        ),
        ok,
    )


@dataclass(frozen=True)
class _StepCoefficients:
    r"""Krogstad's weights of one step length for a set of patients, shape ``(n_modes, n)``.

    ``e``/``eh`` are the exponentials over the step and half of it, ``p1`` is
    :math:`\varphi_1` over the step, and every other weight already includes ``h``.
    """

    eh: Array
    e: Array
    p1: Array
    a21: Array
    a31: Array
    a32: Array
    a41: Array
    a43: Array
    b1: Array
    b23: Array
    b4: Array

    @classmethod
    def of(cls, lam: Array, h: float) -> _StepCoefficients:
        """Compute the weights of steps ``h`` for eigenvalues ``lam``."""
        eh, p1h, p2h, _ = phi_scalars(lam * (0.5 * h))
        e, p1, p2, p3 = phi_scalars(lam * h)
        return cls(
            eh,
            e,
            p1,
            (0.5 * h) * p1h,
            h * (0.5 * p1h - p2h),
            h * p2h,
            h * (p1 - 2.0 * p2),
            2.0 * h * p2,
            h * (p1 - 3.0 * p2 + 4.0 * p3),
            h * (2.0 * p2 - 4.0 * p3),
            h * (4.0 * p3 - p2),
        )

    def take(self, idx: NDArray[np.intp]) -> _StepCoefficients:
        """Return the weights of patients ``idx`` (shared weights stay shared)."""
        if self.e.shape[1] == 1:
            return self
        return _StepCoefficients(*(getattr(self, f)[:, idx] for f in _WEIGHTS))


_SUBSTEPS = np.array(SUBSTEPS, dtype=float)

_WEIGHTS = ("eh", "e", "p1", "a21", "a31", "a32", "a41", "a43", "b1", "b23", "b4")


class _Stepper:
    """Error-controlled exponential RK steps for a set of patients (module docstring).

    Within an interval between breakpoints a patient takes ``2**level`` equal
    steps; patients at the same level step together, so the weights of a step
    length are computed once per run and the stages are whole-array operations.
    Each patient's level comes from its own error estimates: a patient whose
    largest error over the interval exceeds the tolerance repeats the interval
    with shorter steps, and the next interval's steps follow from the last error
    (``h * 0.9 * err^(-1/4)``, between 0.2 and 5 times the last).
    """

    def __init__(
        self,
        model: Model,
        params: Params,
        modes: _Modes,
        *,
        rtol: float,
        atol: float,
        max_step: float,
    ) -> None:
        self.model = model
        self.params = params
        self.modes = modes
        self.rtol = rtol
        self.atol = atol
        self.max_step = max_step
        self.linear_below = bool(getattr(model, "linear_below_switches", False))
        self.n_steps = 0
        self.n_rejected = 0
        self.n_rhs = 0
        self._weights: dict[tuple[float, int], _StepCoefficients] = {}

    def advance(
        self, t0: float, span: float, y: Array, u: Array, peak: Array, h_target: Array
    ) -> Array:
        """Integrate every patient over ``[t0, t0 + span]`` from ``y``; return the end states.

        ``u`` holds the inputs (infusion rates, then 1 for ``b``), shape ``(m, n)``;
        ``peak`` (updated in place) each state's largest ``|y|`` so far; ``h_target``
        (updated in place) each patient's next step length.
        """
        n = y.shape[1]
        modes = self.modes
        c = _apply(modes.inputs, u)
        z = _apply(modes.vinv, y)
        y = y.copy()
        pending = np.ones(n, dtype=bool)
        if self.linear_below:
            w = self._weights_for(span, 1)
            y_lin = _apply(modes.v, w.e * z + span * w.p1 * c)
            exact = self._below(y, self.params) & self._below(y_lin, self.params)
            y[:, exact] = y_lin[:, exact]
            pending &= ~exact
            self.n_steps += int(exact.sum())
        while pending.any():
            idx = np.flatnonzero(pending)
            h = np.minimum(h_target[idx], self.max_step)
            with np.errstate(divide="ignore", invalid="ignore"):
                wanted = span / (2.0 * h) * (1.0 - 1e-9)
            levels = np.searchsorted(_SUBSTEPS, np.nan_to_num(wanted, nan=np.inf))
            levels = np.minimum(levels, len(SUBSTEPS) - 1)
            for level in np.unique(levels):
                group = idx[levels == level]
                steps = SUBSTEPS[level]
                y_end, worst = self._interval(t0, span, steps, group, z, c, y, peak)
                accept = worst <= 1.0
                grow = _growth(worst, accept)
                h_used = span / (2 * steps)
                h_target[group] = h_used * grow
                done = group[accept]
                y[:, done] = y_end[:, accept]
                peak[:, done] = np.maximum(peak[:, done], np.abs(y_end[:, accept]))
                pending[done] = False
                self.n_steps += 2 * steps * int(accept.sum())
                self.n_rejected += 2 * steps * int((~accept).sum())
                last = level == len(SUBSTEPS) - 1
                failed = group[~accept & ((h_used * grow < MIN_STEP_DAY) | last)]
                y[:, failed] = np.nan
                pending[failed] = False
        return y

    def _interval(
        self,
        t0: float,
        span: float,
        steps: int,
        group: NDArray[np.intp],
        z: Array,
        c: Array,
        y: Array,
        peak: Array,
    ) -> tuple[Array, Array]:
        """Cross the interval in ``steps`` and ``2 * steps`` steps; return the result and its error.

        The error of the finer result is estimated by Richardson's difference
        ``(y_2n - y_n) / 15`` (both of order 4): it sees every source of error,
        including how fast the remainder changes along an exactly known input.
        The result is the finer one plus that difference (extrapolated).
        Short intervals get a proportional share of the tolerance (``span`` over
        :data:`UNIT_STEP_DAY`), so many short intervals after a dose add up to no
        more error than a day's worth.
        """
        params: Params = self.params
        modes = self.modes
        if group.size < y.shape[1]:
            z, c, y, peak = z[:, group], c[:, group], y[:, group], peak[:, group]
            params, modes = take_rows(params, group), modes.take(group)
        n1 = self._nonlinear(t0, y, params, modes, c[: modes.n_driven])
        coarse, _ = self._steps(t0, span, steps, group, z, c, y, params, modes, n1)
        fine, z_fine = self._steps(t0, span, 2 * steps, group, z, c, y, params, modes, n1)
        share = min(1.0, span / UNIT_STEP_DAY)
        size = np.maximum(np.abs(fine), PEAK_SHARE * np.maximum(peak, np.abs(fine)))
        scale = share * self.rtol * size + self.atol
        # Rounding: y = V z sums terms that may cancel; no test asks for less than
        # ROUNDING times their size.
        scale += ROUNDING * _apply(modes.v_abs, np.abs(z_fine))
        correction = (fine - coarse) / 15.0  # Richardson: the finer result's error
        est = np.abs(correction)
        with np.errstate(invalid="ignore"):
            ratio = np.divide(est, scale, out=np.zeros_like(est), where=scale > 0)
            ratio[(scale == 0) & (est > 0)] = np.inf
        worst = ratio.max(axis=0, initial=0.0)
        worst[~np.isfinite(fine).all(axis=0)] = np.inf
        return fine + correction, worst  # extrapolated (module docstring)

    def _weights_for(self, span: float, steps: int) -> _StepCoefficients:
        """Return (and keep) the weights of ``steps`` equal steps over ``span``, every patient."""
        key = (round(span, 12), steps)
        if key not in self._weights:
            self._weights[key] = _StepCoefficients.of(self.modes.lam, span / steps)
        return self._weights[key]

    def _below(self, y: Array, params: Params) -> NDArray[np.bool_]:
        """Return, per patient, whether every switch and activity function is negative."""
        below: NDArray[np.bool_] = np.all(self.model.switches(y, params) < 0, axis=0)
        below &= np.all(self.model.activity(y, params) < 0, axis=0)
        return below

    def _steps(
        self,
        t0: float,
        span: float,
        steps: int,
        group: NDArray[np.intp] | None,
        z: Array,
        c: Array,
        y: Array,
        params: Params,
        modes: _Modes,
        n1: Array,
    ) -> tuple[Array, Array]:
        """Take ``steps`` equal steps over the interval; return the end states and modal states.

        ``z``, ``c``, ``y``, ``params`` and ``modes`` are already the group's;
        ``n1`` is the remainder at the start.
        """
        w = self._weights_for(span, steps)
        if group is not None and group.size < self.modes.lam.shape[1]:
            w = w.take(group)
        h = span / steps
        for j in range(steps):
            z, n1 = self._step(t0 + j * h, h, w, z, c, n1, params, modes)
        return _apply(modes.v, z), z

    def _nonlinear(
        self, t: Array | float, y: Array, params: Params, modes: _Modes, c: Array
    ) -> Array:
        """Return the driven modes' non-linear part ``c + V^-1 R(t, y)``."""
        self.n_rhs += 1
        r = self.model.remainder(t, y, params)  # type: ignore[arg-type]
        out: Array = c + _apply(modes.vinv_driven, r[modes.writes])
        return out

    @staticmethod
    def _state(rows: NDArray[np.intp], values: Array, n_states: int) -> Array:
        """Return a state array with ``values`` in ``rows`` and 0 elsewhere."""
        y = np.zeros((n_states, values.shape[1]))
        y[rows] = values
        return y

    def _step(
        self,
        t: float,
        h: float,
        w: _StepCoefficients,
        z: Array,
        c: Array,
        n1: Array,
        params: Params,
        modes: _Modes,
    ) -> tuple[Array, Array]:
        """One Krogstad step: the new modal state and the remainder there (the next ``N1``).

        Free modes (after the first ``d``) take their exact exponential step.
        """
        d = modes.n_driven
        n_states = z.shape[0]
        zd, cd = z[:d], c[:d]
        half_free = w.eh[d:] * z[d:] + w.a21[d:] * c[d:]
        full_free = w.e[d:] * z[d:] + h * w.p1[d:] * c[d:]

        def stage(time: float, driven: Array, free: Array) -> Array:
            u = np.concatenate([driven, free])
            y = self._state(modes.reads, _apply(modes.v_reads, u), n_states)
            return self._nonlinear(time, y, params, modes, cd)

        eh, e = w.eh[:d], w.e[:d]
        n2 = stage(t + 0.5 * h, eh * zd + w.a21[:d] * n1, half_free)
        n3 = stage(t + 0.5 * h, eh * zd + w.a31[:d] * n1 + w.a32[:d] * n2, half_free)
        n4 = stage(t + h, e * zd + w.a41[:d] * n1 + w.a43[:d] * n3, full_free)
        zd_new = e * zd + w.b1[:d] * n1 + w.b23[:d] * (n2 + n3) + w.b4[:d] * n4
        return np.concatenate([zd_new, full_free]), stage(t + h, zd_new, full_free)


def _growth(worst: Array, accept: NDArray[np.bool_]) -> Array:
    """Return the factor on the step length after an interval with error norm ``worst``."""
    with np.errstate(divide="ignore", over="ignore"):
        grow = SAFETY * worst**-0.25
    grow = np.nan_to_num(grow, nan=MIN_SHRINK, posinf=MAX_GROWTH)
    out: Array = np.clip(grow, MIN_SHRINK, np.where(accept, MAX_GROWTH, SAFETY))
    return out


def _modes_of(model: Model, a: Array, inputs: Array) -> tuple[_Modes, NDArray[np.bool_]]:
    """Diagonalise the model's ``A``; ``inputs`` are the input columns ``S``, ``(P, n, m)``."""
    index = StateIndex(tuple(model.states))
    reads = np.array([index[r] for r in model.remainder_reads], dtype=np.intp)
    writes = np.array([index[w] for w in model.remainder_writes], dtype=np.intp)
    size, n_states = inputs.shape[:2]
    return _diagonalise(np.broadcast_to(a, (size, n_states, n_states)), inputs, reads, writes)


def _input_columns(
    model: Model, params: Params, routes: tuple[Route, ...], system: tuple[Array, Array]
) -> Array:
    """Return ``S``: one column per infused route (one viable cell per day), then ``b``.

    ``system`` is the model's ``linear_system`` (``A``, ``b``).
    """
    a, b = system
    size, n_states = max(a.shape[0], b.shape[0]), a.shape[1]
    s = np.zeros((size, n_states, len(routes) + 1))
    for j, route in enumerate(routes):
        s[:, :, j] = np.broadcast_to(model.dose_split(route, params).T, (size, n_states))
    s[:, :, -1] = np.broadcast_to(b, (size, n_states))
    return s


def fixed_steps(model: Model, params: Params, y0: Array, span_day: float, n_steps: int) -> Array:
    """Return the states after ``n_steps`` equal steps over ``span_day``, without error control.

    The method of :func:`integrate_adaptive` with its step length fixed, from
    ``y0`` (shape ``(n_states, n)``), with no dose or infusion: what tests use to
    measure its order.
    """
    prepared = model.prepare(params)
    system = model.linear_system(prepared)
    modes, _ = _modes_of(model, system[0], _input_columns(model, params, (), system))
    stepper = _Stepper(model, prepared, modes, rtol=1.0, atol=1.0, max_step=math.inf)
    c = _apply(modes.inputs, np.ones((1, y0.shape[1])))
    z = _apply(modes.vinv, y0)
    n1 = stepper._nonlinear(0.0, y0, prepared, modes, c[: modes.n_driven])
    return stepper._steps(0.0, span_day, n_steps, None, z, c, y0, prepared, modes, n1)[0]


def integrate_adaptive(
    model: Model,
    params: Params,
    schedule: Schedule,
    y0: Array,
    *,
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    max_step_day: float | None = None,
    progress: ProgressCallback | None = None,
    prepared: Params | None = None,
) -> AdaptiveRun:
    """Integrate every patient along ``schedule``, each with its own error-controlled steps.

    Parameters
    ----------
    model : Model
    params : mapping of str to ndarray, each (1,) or (n_patients,)
    schedule : Schedule
    y0 : ndarray, shape (n_states, n_patients)
        State at ``schedule.breakpoints[0]`` before any dose.
    rtol, atol : float
        Relative tolerance, and absolute tolerance in each state's own unit
        (module docstring).
    max_step_day : float, optional
        Longest step (days); default: the interval between breakpoints.
    progress : callable, optional
        Called as ``progress(done, total)`` after each breakpoint.
    prepared : mapping, optional
        ``model.prepare(params)``, when the caller has it already.

    Returns
    -------
    AdaptiveRun
    """
    from mscsim.engine.fast import integrate_fast

    n_states, n = y0.shape
    if prepared is None:
        prepared = model.prepare(params)
    system = model.linear_system(prepared)
    s = _input_columns(model, params, schedule.infusion_routes, system)
    modes, ok = _modes_of(model, system[0], s)
    size = s.shape[0]
    modal = np.broadcast_to(ok, (n,)) if size == 1 else ok
    out = np.empty((n_states, n, schedule.times_day.size))
    steps = rhs = rejected = 0
    fallback = np.flatnonzero(~modal)
    if fallback.size:
        states, steps, rhs = integrate_fast(
            model, take_rows(params, fallback), schedule.take(fallback), y0[:, fallback]
        )
        out[:, fallback] = states
    idx = np.flatnonzero(modal)
    if idx.size and getattr(model, "remainder_kernel", None) is not None:
        mine = take_rows(prepared, idx)
        part = schedule if idx.size == n else schedule.take(idx)
        states, counts = _compiled_run(
            model,
            take_rows(params, idx),
            mine,
            modes.take(idx),
            part,
            y0[:, idx],
            (rtol, atol, math.inf if max_step_day is None else max_step_day),
            progress,
        )
        out[:, idx] = states
        rhs += counts[0]
        steps += counts[1]
        rejected = counts[2]
    elif idx.size:
        stepper = _Stepper(
            model,
            take_rows(prepared, idx),
            modes.take(idx),
            rtol=rtol,
            atol=atol,
            max_step=math.inf if max_step_day is None else max_step_day,
        )
        part = schedule if idx.size == n else schedule.take(idx)
        out[:, idx] = _run(stepper, take_rows(params, idx), part, y0[:, idx], progress)
        steps += stepper.n_steps
        rhs += stepper.n_rhs
        rejected = stepper.n_rejected
    return AdaptiveRun(out, steps, rejected, rhs, int(fallback.size))


def _compiled_run(
    model: Model,
    params: Params,
    prepared: Params,
    modes: _Modes,
    schedule: Schedule,
    y0: Array,
    tolerances: tuple[float, float, float],
    progress: ProgressCallback | None,
) -> tuple[Array, tuple[int, int, int]]:
    """Run :func:`mscsim.engine.compiled_adaptive.run_patients`: ``_run`` compiled, per patient.

    ``tolerances`` are ``rtol``, ``atol`` and the longest step; ``progress`` is
    told after each slice of patients. Returns the
    states ``(n_states, n, n_times)`` (a patient that failed or gave a state
    that is not finite is NaN throughout) and the kernel calls, accepted and
    rejected steps summed over patients. The kernels are compared with the
    model's NumPy ``remainder`` and switches at the outputs after each dose
    (:func:`_check_kernels`).
    """
    from mscsim.engine.compiled_adaptive import run_patients
    from mscsim.engine.driven import compiled_kernel, kernel_parameters, run_compiled

    n_states, n = y0.shape
    rtol, atol, max_step = tolerances
    kernel = compiled_kernel(model, "remainder_kernel")
    linear_below = bool(getattr(model, "linear_below_switches", False))
    has_switches = linear_below and getattr(model, "switch_kernel", None) is not None
    switches = compiled_kernel(model, "switch_kernel") if has_switches else kernel
    n_switches = _switch_rows(model, prepared, y0) if has_switches else 0

    def each(a: Array) -> Array:
        """Return ``a`` with one row per patient (a shared first row repeated), C-contiguous."""
        return np.require(np.broadcast_to(a, (n, *a.shape[1:])), float, ["C", "W"])

    bp = schedule.breakpoints
    graded = np.array([k == 0 or schedule.starts_transient(k) for k in range(bp.size)])
    c_of = np.cumsum(graded) - 1
    c_tab = np.empty((int(graded.sum()), n, n_states))
    jump_of = np.full(bp.size, -1, dtype=np.int64)
    jumps: list[Array] = []
    splits: dict[object, Array] = {}
    for k in map(int, np.flatnonzero(graded)):
        u = np.vstack([schedule.infusion_rates(k, n), np.ones((1, n))])
        c_tab[c_of[k]] = _apply(modes.inputs, u).T
        if schedule.boluses[k]:
            jump = np.zeros((n_states, n))
            for route, cells in schedule.boluses[k]:
                if route not in splits:
                    splits[route] = model.dose_split(route, params)
                jump = jump + splits[route] * cells
            jump_of[k] = len(jumps)
            jumps.append(jump.T)
    v_reads, vinv_driven = each(modes.v_reads), each(modes.vinv_driven)
    vr_nz, vr_len = _nonzero_columns(v_reads)
    vw_nz, vw_len = _nonzero_columns(vinv_driven)
    n_driven = (vw_len > 0).sum(axis=1)  # a patient's driven modes: those the remainder moves
    times = schedule.times_day.size
    out = np.empty((n, times, n_states))
    status = np.zeros(n, dtype=np.int8)
    counts = np.zeros((n, 3), dtype=np.int64)
    probes = np.zeros((n, 1 + n_states))
    probe_size = np.zeros(n)
    limits = (MIN_STEP_DAY, 0.0, MAX_GROWTH, MIN_SHRINK, SAFETY)
    tol = np.array(
        [rtol, atol, PEAK_SHARE, ROUNDING, UNIT_STEP_DAY, max_step, FIRST_STEP_DAY, *limits]
    )
    arguments = (
        kernel,
        switches,
        has_switches,
        each(modes.lam.T),
        each(modes.v),
        each(modes.vinv),
        v_reads,
        vinv_driven,
        vr_nz,
        vr_len,
        vw_nz,
        vw_len,
        n_driven,
        np.ascontiguousarray(modes.reads, dtype=np.int64),
        np.ascontiguousarray(modes.writes, dtype=np.int64),
        kernel_parameters(model, prepared, n),
        np.ascontiguousarray(y0.T, dtype=float),
        np.ascontiguousarray(bp, dtype=float),
        graded,
        np.ascontiguousarray(schedule.output_at, dtype=np.int64),
        np.ascontiguousarray(c_of, dtype=np.int64),
        c_tab,
        jump_of,
        np.ascontiguousarray(np.array(jumps) if jumps else np.zeros((1, n, n_states))),
        nonnegative_mask(model),
        np.array(SUBSTEPS, dtype=np.int64),
        tol,
        n_switches,
    )
    results = (out, status, counts, probes, probe_size)
    # Patients in slices when someone watches progress (a patient's steps are its own).
    slices = min(n, PROGRESS_SLICES) if progress is not None else 1
    total = schedule.breakpoints.size
    for i in range(slices):
        span = (i * n // slices, (i + 1) * n // slices)
        run_compiled(model, run_patients, arguments, span, results)
        if progress is not None:
            progress(round(total * (i + 1) / slices), total)
    states = out.transpose(2, 0, 1)
    probed = np.flatnonzero((probe_size > 0) & (status == 0))
    after = np.searchsorted(schedule.times_day, bp[graded], side="right")  # first outputs after
    where = (after, probes[probed], probed)
    _check_kernels(model, prepared, schedule, states, status, n_switches, where)
    total = counts.sum(axis=0)
    return states, (int(total[0]), int(total[1]), int(total[2]))


def _nonzero_columns(m: Array) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Return, per matrix and row, the columns that are not 0 (first) and how many.

    ``m`` is ``(P, r, c)``; the compiled loops skip the zeros (a model's modes
    touch few of its states).
    """
    nonzero = m != 0.0
    order = np.argsort(~nonzero, axis=2, kind="stable")
    return np.ascontiguousarray(order, dtype=np.int64), nonzero.sum(axis=2).astype(np.int64)


def _switch_rows(model: Model, prepared: Params, y0: Array) -> int:
    """Return how many switch and activity functions the model has."""
    y = y0[:, :1]
    one = take_rows(prepared, np.zeros(1, dtype=np.intp))
    return int(model.switches(y, one).shape[0] + model.activity(y, one).shape[0])


PROGRESS_SLICES = 20
"""Slices of patients a compiled run is cut into when progress is reported."""

CHECKED_THROUGHOUT = 8
"""Patients of a compiled run whose kernels are checked at every output."""


def _check_kernels(
    model: Model,
    prepared: Params,
    schedule: Schedule,
    states: Array,
    status: NDArray[np.int8],
    n_switches: int,
    where: tuple[NDArray[np.intp], Array, NDArray[np.intp]],
) -> None:
    """Compare the kernels with ``remainder`` (and the switches) where the run tested them.

    ``where`` holds the outputs just after each dose or change of infusion,
    and each patient's probe (time and state where its remainder was largest)
    with the patients probed. The kernels are compared there, at the last
    output, for every patient that did not fail, and at every output of
    :data:`CHECKED_THROUGHOUT` of them.

    Raises
    ------
    SpecError
        If the remainder differs beyond :data:`KERNEL_CHECK_RTOL`, or a switch
        differs in sign.
    """
    from mscsim.engine.driven import compiled_kernel, kernel_parameters, refuse_unless_same

    after, probes, probed = where
    times = schedule.times_day
    at = [i for i in sorted({*after.tolist(), times.size - 1}) if i < times.size]
    ok = np.flatnonzero(status == 0)
    if not at or not ok.size:
        return
    n_states = states.shape[0]
    few = ok[np.linspace(0, ok.size - 1, min(ok.size, CHECKED_THROUGHOUT)).astype(np.intp)]
    y = np.hstack(
        [
            states[:, :, at][:, ok].reshape(n_states, -1),  # times first: a small copy
            states[:, few].reshape(n_states, -1),
            probes[:, 1:].T,
        ]
    )
    y = np.ascontiguousarray(y)
    rows = np.concatenate([np.repeat(ok, len(at)), np.repeat(few, times.size), probed])
    params = take_rows(prepared, rows)
    t = np.concatenate([np.tile(times[at], ok.size), np.tile(times, few.size), probes[:, 0]])
    t = np.ascontiguousarray(t)
    p = np.ascontiguousarray(kernel_parameters(model, prepared, states.shape[1])[rows].T)
    index = StateIndex(tuple(model.states))
    reads = [index[r] for r in model.remainder_reads]
    writes = [index[w] for w in model.remainder_writes]
    seen = np.zeros_like(y)
    seen[reads] = y[reads]
    got = np.zeros_like(y)
    compiled_kernel(model, "remainder_kernel")(t, seen, p, got)
    want = model.remainder(t, seen, params)  # type: ignore[arg-type]
    refuse_unless_same(model, want[writes], got[writes])
    if not n_switches:
        return
    sw = np.zeros((n_switches, y.shape[1]))
    compiled_kernel(model, "switch_kernel")(t, y, p, sw)
    numpy_sw = np.concatenate([model.switches(y, params), model.activity(y, params)])
    if np.any((sw < 0) != (numpy_sw < 0)):
        raise SpecError(
            f"switch_kernel: {model.name}'s kernel differs in sign from its switches and activity"
        )


def _run(
    stepper: _Stepper,
    params: Params,
    schedule: Schedule,
    y0: Array,
    progress: ProgressCallback | None,
) -> Array:
    """Walk the breakpoints: doses, outputs, then each interval's steps.

    After a dose or a change of infusion the interval is cut into pieces that
    double in length from :data:`FIRST_STEP_DAY`, so the fast rise is resolved
    with short steps and the rest of the interval with long ones.
    """
    model = stepper.model
    n_states, n = y0.shape
    keep = nonnegative_mask(model)
    splits: dict[object, Array] = {}
    out = np.empty((schedule.times_day.size, n_states, n))  # time-major: contiguous writes
    y = y0.copy()
    peak = np.abs(y)
    h_target = np.full(n, FIRST_STEP_DAY)
    bp = schedule.breakpoints
    for k, t in enumerate(bp):
        for route, cells in schedule.boluses[k]:
            if route not in splits:
                splits[route] = model.dose_split(route, params)
            y = y + splits[route] * cells
        np.maximum(peak, np.abs(y), out=peak)
        if schedule.output_at[k] >= 0:
            out[schedule.output_at[k]] = y
        if progress is not None:
            progress(k + 1, bp.size)
        if k + 1 == bp.size:
            break
        u = np.vstack([schedule.infusion_rates(k, n), np.ones((1, n))])
        span = float(bp[k + 1] - t)
        pieces = [span]
        if k == 0 or schedule.starts_transient(k):
            h_target[:] = FIRST_STEP_DAY
            pieces = _graded(span)
        start = float(t)
        for piece in pieces:
            y = stepper.advance(start, piece, y, u, peak, h_target)
            start += piece
        y[keep] = np.maximum(y[keep], 0.0)
    return np.moveaxis(out, 0, -1)


def _graded(span: float) -> list[float]:
    """Return pieces of ``span`` doubling in length from about :data:`FIRST_STEP_DAY`.

    Examples
    --------
    >>> _graded(0.004)
    [0.001, 0.001, 0.002]
    """
    k = int(min(12, max(0, math.ceil(math.log2(span / FIRST_STEP_DAY)))))
    return [span / 2.0**k] + [span / 2.0 ** (k - j + 1) for j in range(1, k + 1)]
