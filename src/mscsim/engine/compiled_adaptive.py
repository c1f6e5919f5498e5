r"""The adaptive backend compiled: each patient's error-controlled steps in a loop, on every core.

:mod:`mscsim.engine.adaptive` integrates any nonlinear model in each patient's
linear modes with Krogstad's exponential Runge-Kutta steps and Richardson error
control, with whole-array NumPy over patients. Patients take their own steps,
so the batch splinters: at the SCA example's population most of the time went
to the Python and NumPy overhead of about a hundred thousand small batched
calls. When a model also gives its remainder compiled (``remainder_kernel``,
see :class:`mscsim.Model`), :func:`run_patients` runs the same method — the
same pieces after a dose, step counts, stages, error test, growth and
shrinking of steps, exact steps where the model is linear — as one compiled
loop per patient, ranges of patients run by one thread per core
(:func:`mscsim.engine.driven.run_compiled`). Each
patient's arithmetic is its own, so its result does not depend on the batch
or the threads (tested).

The kernel has the signature :data:`mscsim.engine.compiled.KERNEL_SIGNATURE`
and is called on one column at a time: ``remainder_kernel(t, y, p, out)`` with
``t`` ``(1,)``, the states ``y`` ``(n_states, 1)`` (states the remainder does
not read are 0), the prepared parameters named by
``remainder_kernel_parameters`` in ``p`` ``(q, 1)``; it writes every row of
``remainder_writes`` of ``out``. A model with ``linear_below_switches`` may
give ``switch_kernel(t, y, p, out)`` too, writing its switches and then its
activity (``out`` ``(n_switches, 1)``): an interval where all are negative at
both ends is crossed in one exact step, as the NumPy backend does. Without it
such intervals take Runge-Kutta steps (the remainder is 0 there, so they are
long ones).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types

from mscsim.engine.compiled import KERNEL_SIGNATURE, _helper

__all__ = ["run_patients"]

_SERIES = tuple(1.0 / math.factorial(j + 3) for j in range(17))
"""``1 / (j + 3)!``: the series of :math:`\\varphi_3` (as ``adaptive.phi_scalars``)."""

_FAILED = 1

# The constants of mscsim.engine.adaptive, passed in ``tol`` (see run_patients):
# rtol, atol, peak share, rounding, unit step, max step, first step, min step,
# growth limits and safety.


@_helper
def _phis(z: float) -> tuple[float, float, float, float]:  # pragma: no cover
    r"""Return :math:`e^z, \varphi_1(z), \varphi_2(z), \varphi_3(z)` as ``adaptive.phi_scalars``."""
    e = math.exp(z)
    if abs(z) < 0.5:
        c = _SERIES
        p3 = 1.0 / 6402373705728000.0  # 1 / 18!
        for j in range(14, -1, -1):
            p3 = p3 * z + c[j]
        p2 = z * p3 + 0.5
        p1 = z * (z * p3 + 0.5) + 1.0
        return e, p1, p2, p3
    p1 = math.expm1(z) / z
    p2 = (p1 - 1.0) / z
    p3 = (p2 - 0.5) / z
    return e, p1, p2, p3


@_helper
def _weights(lam: np.ndarray, h: float, w: np.ndarray) -> None:  # pragma: no cover
    """Write Krogstad's weights of steps ``h`` into ``w`` ``(11, n)``.

    Rows: ``eh``, ``e``, ``p1``, ``a21``, ``a31``, ``a32``, ``a41``, ``a43``,
    ``b1``, ``b23``, ``b4`` (``adaptive._StepCoefficients``).
    """
    for i in range(lam.size):
        eh, p1h, p2h, _ = _phis(lam[i] * (0.5 * h))
        e, p1, p2, p3 = _phis(lam[i] * h)
        w[0, i] = eh
        w[1, i] = e
        w[2, i] = p1
        w[3, i] = (0.5 * h) * p1h
        w[4, i] = h * (0.5 * p1h - p2h)
        w[5, i] = h * p2h
        w[6, i] = h * (p1 - 2.0 * p2)
        w[7, i] = 2.0 * h * p2
        w[8, i] = h * (p1 - 3.0 * p2 + 4.0 * p3)
        w[9, i] = h * (2.0 * p2 - 4.0 * p3)
        w[10, i] = h * (4.0 * p3 - p2)


@_helper
def _cached_weights(lam, h, keys, table, used):  # pragma: no cover
    """Return the slot of ``table`` holding the weights of steps ``h`` (computed if new).

    A small cache of one patient's step lengths.

    ``keys`` ``(S,)`` holds the cached ``h`` (NaN: empty), ``table`` ``(S, 11, n)``
    their weights, ``used[0]`` the next slot to replace (round robin).
    """
    for s in range(keys.size):
        if keys[s] == h:
            return s
    s = used[0]
    used[0] = (s + 1) % keys.size
    keys[s] = h
    _weights(lam, h, table[s])
    return s


@_helper
def _project(c, dp, sc, nl):  # pragma: no cover
    """Write ``c + V^-1 r`` of the ``dp`` driven modes into ``nl`` (``r``: the kernel's rows)."""
    _v_reads, vinv_w, _reads, writes, _tb, _yb, _pb, rb, _nl, _probe, _size, sparse = sc
    _vr_nz, _vr_len, vw_nz, vw_len = sparse
    for i in range(dp):
        acc = c[i]
        for q in range(vw_len[i]):  # the written states this mode has a share of
            j = np.uint64(vw_nz[i, q])
            acc += vinv_w[i, j] * rb[np.uint64(writes[j]), 0]
        nl[i] = acc


@_helper
def _steps(kernel, t0, h, n_steps, w, z_in, c, n1_in, dp, sc, st, pt, z_out):  # pragma: no cover
    """Take ``n_steps`` Krogstad steps of ``h`` from modal state ``z_in``; the result in ``z_out``.

    ``n1_in`` is the driven modes' nonlinear part at the start. ``st`` is scratch:
    the stage values and the free modes' half and full steps. The four
    remainder evaluations of a step are one loop with the evaluation written
    once inside it: called as a function, its many array arguments were copied
    onto the stack at every call, which took most of the run.
    """
    v_reads, vinv_w, reads, writes, tb, yb, pb, rb, nl, _probe, _size, sparse = sc
    vr_nz, vr_len, vw_nz, vw_len = sparse
    d = dp
    n = z_in.size
    n1, n2, n3, u, half_free, full_free = st
    for i in range(n):
        z_out[i] = z_in[i]
    for i in range(d):
        n1[i] = n1_in[i]
    eh, e, p1, a21, a31, a32, a41, a43, b1, b23, b4 = (
        w[0],
        w[1],
        w[2],
        w[3],
        w[4],
        w[5],
        w[6],
        w[7],
        w[8],
        w[9],
        w[10],
    )
    for j in range(n_steps):
        t = t0 + j * h
        for i in range(d, n):
            half_free[i] = eh[i] * z_out[i] + a21[i] * c[i]
            full_free[i] = e[i] * z_out[i] + h * p1[i] * c[i]
        last = j + 1 == n_steps
        for stage in range(4):
            # the modal state of this stage in u (stages 2, 3, 4), then the next step's first
            if stage == 0:
                ts = t + 0.5 * h
                for i in range(d):
                    u[i] = eh[i] * z_out[i] + a21[i] * n1[i]
                for i in range(d, n):
                    u[i] = half_free[i]
            elif stage == 1:
                for i in range(d):
                    u[i] = eh[i] * z_out[i] + a31[i] * n1[i] + a32[i] * n2[i]
            elif stage == 2:
                ts = t + h
                for i in range(d):
                    u[i] = e[i] * z_out[i] + a41[i] * n1[i] + a43[i] * n3[i]
                for i in range(d, n):
                    u[i] = full_free[i]
            else:
                for i in range(d):
                    z_out[i] = (
                        e[i] * z_out[i] + b1[i] * n1[i] + b23[i] * (n2[i] + n3[i]) + b4[i] * nl[i]
                    )
                for i in range(d, n):
                    z_out[i] = full_free[i]
                if last:  # no next step: its first stage is not needed
                    break
                for i in range(n):
                    u[i] = z_out[i]
            # the remainder there: c + V^-1 R(ts, V u), V u formed on the read rows only.
            # Indices read from arrays are cast to unsigned: the compiler then knows
            # they are not negative and skips the wrap-around test of each access.
            tb[0] = ts
            for i in range(reads.size):
                acc = 0.0
                for q in range(vr_len[i]):  # the modes this state has a share of
                    k = np.uint64(vr_nz[i, q])
                    acc += v_reads[i, k] * u[k]
                yb[np.uint64(reads[i]), 0] = acc
            for i in range(writes.size):
                rb[np.uint64(writes[i]), 0] = 0.0
            kernel(tb, yb, pb, rb)
            pt[0] += 1
            for i in range(d):
                acc = c[i]
                for q in range(vw_len[i]):  # the written states this mode has a share of
                    k = np.uint64(vw_nz[i, q])
                    acc += vinv_w[i, k] * rb[np.uint64(writes[k]), 0]
                if stage == 0:
                    n2[i] = acc
                elif stage == 1:
                    n3[i] = acc
                elif stage == 2:
                    nl[i] = acc
                else:
                    n1[i] = acc


@_helper
def _below(switches, t, y, pb, tb, yb, sb):  # pragma: no cover
    """Return whether every switch and activity function is negative at ``y``."""
    tb[0] = t
    for i in range(y.size):
        yb[i, 0] = y[i]
    switches(tb, yb, pb, sb)
    for i in range(sb.shape[0]):
        if not sb[i, 0] < 0.0:
            return False
    return True


@_helper
def _interval(
    kernel, t0, span, steps, y, z, c, dp, peak, v, lam, wc, sc, st, pt, tol, fine, zf
):  # pragma: no cover
    """Cross ``[t0, t0 + span]`` in ``steps`` and ``2 steps`` steps; return the error norm.

    The result, the finer one extrapolated, is left in ``fine`` (states); the
    finer one's modes in ``zf``.
    ``adaptive._Stepper._interval`` in one patient's loop.
    """
    keys, table, used = wc
    n1_0, zc = st[6], st[7]
    n = y.size
    # the remainder at the start, from the read rows of the state
    _v_reads, _vinv_w, reads, writes, tb, yb, pb, rb, _nl, probe, probe_size, _sparse = sc
    tb[0] = t0
    for i in range(reads.size):
        yb[reads[i], 0] = y[reads[i]]
    size = 0.0
    for i in range(writes.size):
        rb[writes[i], 0] = 0.0
    kernel(tb, yb, pb, rb)
    pt[0] += 1
    for i in range(writes.size):
        size += abs(rb[writes[i], 0])
    if size > probe_size[0]:  # the state where the remainder is largest: the kernel check's
        probe_size[0] = size
        probe[0] = t0
        for i in range(n):
            probe[1 + i] = y[i]
    _project(c, dp, sc, n1_0)
    st6 = st[:6]
    h = span / steps
    w = table[_cached_weights(lam, h, keys, table, used)]
    _steps(kernel, t0, h, steps, w, z, c, n1_0, dp, sc, st6, pt, zc)
    h2 = span / (2 * steps)
    w2 = table[_cached_weights(lam, h2, keys, table, used)]
    _steps(kernel, t0, h2, 2 * steps, w2, z, c, n1_0, dp, sc, st6, pt, zf)
    rtol, atol, peak_share, rounding, unit = tol[0], tol[1], tol[2], tol[3], tol[4]
    share = min(1.0, span / unit)
    worst = 0.0
    finite = True
    for i in range(n):
        a = 0.0
        b = 0.0
        r = 0.0
        for j in range(n):
            a += v[i, j] * zc[j]
            b += v[i, j] * zf[j]
            r += abs(v[i, j]) * abs(zf[j])  # the size of the terms summed: rounding
        correction = (b - a) / 15.0  # Richardson: the finer result's error
        fine[i] = b + correction
        if not (b - b == 0.0):
            finite = False
        size = max(abs(b), peak_share * max(peak[i], abs(b)))
        scale = share * rtol * size + atol + rounding * r
        est = abs(correction)
        if scale > 0.0:
            ratio = est / scale
        elif est > 0.0:
            ratio = math.inf
        else:
            ratio = 0.0
        if ratio != ratio:
            ratio = math.inf
        worst = max(worst, ratio)
    if not finite:
        return math.inf
    return float(worst)


@_helper
def _growth(worst: float, accept: bool, tol: np.ndarray) -> float:  # pragma: no cover
    """Return the factor on the step length after an interval (``adaptive._growth``)."""
    max_growth, min_shrink, safety = tol[9], tol[10], tol[11]
    if worst == 0.0:
        grow = math.inf
    else:
        grow = safety * worst**-0.25
    if grow != grow:
        grow = min_shrink
    top = max_growth if accept else safety
    return float(min(max(grow, min_shrink), top))


@_helper
def _advance(
    kernel,
    switches,
    has_switches,
    t0,
    span,
    y,
    c,
    dp,
    peak,
    hs,
    modes,
    wc,
    sc,
    st,
    pt,
    tol,
    substeps,
    sw,
):  # pragma: no cover
    """Integrate one patient over ``[t0, t0 + span]``; return False when it failed.

    ``hs[0]`` is the patient's next step length (updated); ``pt`` its counters
    (kernel calls, accepted steps, rejected steps).
    """
    lam, v, vinv = modes
    keys, table, used = wc
    n = y.size
    z, fine, zf, ylin = st[8], st[9], st[10], st[11]
    for i in range(n):
        acc = 0.0
        for j in range(n):
            acc += vinv[i, j] * y[j]
        z[i] = acc
    if has_switches:
        tb, yb, pb, sb = sw
        w = table[_cached_weights(lam, span, keys, table, used)]
        for i in range(n):
            zf[i] = w[1, i] * z[i] + span * w[2, i] * c[i]
        for i in range(n):
            acc = 0.0
            for j in range(n):
                acc += v[i, j] * zf[j]
            ylin[i] = acc
        if _below(switches, t0, y, pb, tb, yb, sb) and _below(
            switches, t0 + span, ylin, pb, tb, yb, sb
        ):
            for i in range(n):
                y[i] = ylin[i]
            pt[1] += 1
            return True
    max_step, min_step = tol[5], tol[7]
    last = substeps.size - 1
    while True:
        h = min(hs[0], max_step)
        wanted = span / (2.0 * h) * (1.0 - 1e-9)
        level = last
        if wanted == wanted:
            for s in range(substeps.size):
                if substeps[s] >= wanted:
                    level = s
                    break
        steps = substeps[level]
        worst = _interval(
            kernel, t0, span, steps, y, z, c, dp, peak, v, lam, wc, sc, st, pt, tol, fine, zf
        )
        accept = worst <= 1.0
        grow = _growth(worst, accept, tol)
        h_used = span / (2 * steps)
        hs[0] = h_used * grow
        if accept:
            for i in range(n):
                y[i] = fine[i]
                peak[i] = max(peak[i], abs(fine[i]))
            pt[1] += 2 * steps
            return True
        pt[2] += 2 * steps
        if h_used * grow < min_step or level == last:
            return False


_f1 = types.float64[::1]
_f2 = types.float64[:, ::1]
_f3 = types.float64[:, :, ::1]
_i1 = types.int64[::1]
_b1 = types.boolean[::1]
_KERNEL = types.FunctionType(KERNEL_SIGNATURE)

_RUN_SIGNATURE = types.void(
    _KERNEL,  # kernel: the remainder
    _KERNEL,  # switches: switches then activity (or the remainder again, unused)
    types.boolean,  # has_switches
    _f2,  # lam (N, n)
    _f3,  # v (N, n, n)
    _f3,  # vinv (N, n, n)
    _f3,  # v_reads (N, r, n)
    _f3,  # vinv_w (N, d, w)
    types.int64[:, :, ::1],  # vr_nz (N, r, n): the columns of v_reads' rows that are not 0
    types.int64[:, ::1],  # vr_len (N, r): how many
    types.int64[:, :, ::1],  # vw_nz (N, d, w): the columns of vinv_w's rows that are not 0
    types.int64[:, ::1],  # vw_len (N, d): how many
    _i1,  # n_driven (N,)
    _i1,  # reads (r,)
    _i1,  # writes (w,)
    _f2,  # kp (N, q)
    _f2,  # y0 (N, n)
    _f1,  # bp (K,)
    _b1,  # graded (K,)
    _i1,  # output_at (K,)
    _i1,  # c_of (K,)
    _f3,  # c_tab (S, N, n)
    _i1,  # jump_of (K,)
    _f3,  # jumps (E, N, n)
    _b1,  # keep (n,)
    _i1,  # substeps
    _f1,  # tol
    types.int64,  # n_switches
    types.int64,  # first: the patients run are first to stop - 1 (a range; see run_compiled)
    types.int64,  # stop
    _f3,  # out (N, T, n)
    types.int8[::1],  # status (N,)
    types.int64[:, ::1],  # counts (N, 3)
    _f2,  # probes (N, 1 + n): time and state where the remainder was largest
    _f1,  # probe_size (N,): that largest sum of |remainder|
)


@njit(_RUN_SIGNATURE, nogil=True, cache=True, error_model="numpy")
def run_patients(
    kernel,
    switches,
    has_switches,
    lam,
    v,
    vinv,
    v_reads,
    vinv_w,
    vr_nz,
    vr_len,
    vw_nz,
    vw_len,
    n_driven,
    reads,
    writes,
    kp,
    y0,
    bp,
    graded,
    output_at,
    c_of,
    c_tab,
    jump_of,
    jumps,
    keep,
    substeps,
    tol,
    n_switches,
    first,
    stop,
    out,
    status,
    counts,
    probes,
    probe_size,
):  # pragma: no cover
    """Integrate patients ``first`` to ``stop - 1``; see the module docstring and ``adaptive._run``.

    The caller runs one range of patients per thread (the GIL is released).

    Per patient ``p``: modes ``lam[p]`` ``(n,)``, ``v[p]``, ``vinv[p]``
    ``(n, n)``, ``v_reads[p]`` ``(r, n)``, ``vinv_w[p]`` ``(d, w)``
    (its ``n_driven[p]`` driven modes first), kernel parameters ``kp[p]`` ``(q,)``, start ``y0[p]``.
    Per breakpoint ``k``: ``bp[k]``, whether its interval is cut in graded
    pieces (``graded``), its output (``output_at``, -1: none), its modal inputs
    ``c_tab[c_of[k], p]`` and its boluses ``jumps[jump_of[k], p]`` (-1: none).
    Writes ``out[p]`` ``(n_times, n)``, ``status[p]`` (1: failed or not finite;
    its states NaN), ``counts[p]`` (kernel calls, accepted steps, rejected) and
    ``probes[p]``: the time and state at the start of the interval where the
    remainder was largest (summed over its rows), for the caller's check of the
    kernels (``probe_size[p]``, 0: never non-zero).
    """
    n = lam.shape[1]
    d = vinv_w.shape[1]
    n_q = kp.shape[1]
    n_k = bp.size
    n_t = out.shape[1]
    first_step = tol[6]
    tb = np.zeros(1)
    yb = np.zeros((n, 1))
    pb = np.zeros((n_q, 1))
    rb = np.zeros((n, 1))
    sb = np.zeros((max(n_switches, 1), 1))
    tsw = np.zeros(1)
    ysw = np.zeros((n, 1))
    nl = np.zeros(d)
    st = (
        np.zeros(d),
        np.zeros(d),
        np.zeros(d),
        np.zeros(n),
        np.zeros(n),
        np.zeros(n),
        np.zeros(d),
        np.zeros(n),
        np.zeros(n),
        np.zeros(n),
        np.zeros(n),
        np.zeros(n),
    )
    keys = np.full(64, np.nan)
    table = np.zeros((64, 11, n))
    used = np.zeros(1, dtype=np.int64)
    y = np.zeros(n)
    peak = np.zeros(n)
    hs = np.zeros(1)
    pt = np.zeros(3, dtype=np.int64)
    for p in range(first, stop):
        for i in range(n_q):
            pb[i, 0] = kp[p, i]
        for i in range(n):
            yb[i, 0] = 0.0
            ysw[i, 0] = 0.0
        for s in range(keys.size):
            keys[s] = np.nan
        used[0] = 0
        dp = n_driven[p]
        probe_size[p] = 0.0
        sparse = (vr_nz[p], vr_len[p], vw_nz[p], vw_len[p])
        sc = (
            v_reads[p],
            vinv_w[p],
            reads,
            writes,
            tb,
            yb,
            pb,
            rb,
            nl,
            probes[p],
            probe_size[p : p + 1],
            sparse,
        )
        modes = (lam[p], v[p], vinv[p])
        wc = (keys, table, used)
        sw = (tsw, ysw, pb, sb)
        for i in range(n):
            y[i] = y0[p, i]
            peak[i] = abs(y[i])
        hs[0] = first_step
        pt[0] = 0
        pt[1] = 0
        pt[2] = 0
        ok = True
        for k in range(n_k):
            j = jump_of[k]
            if j >= 0:
                for i in range(n):
                    y[i] += jumps[j, p, i]
            for i in range(n):
                peak[i] = max(peak[i], abs(y[i]))
            o = output_at[k]
            if o >= 0:
                for i in range(n):
                    out[p, o, i] = y[i]
            if k + 1 == n_k:
                break
            c = c_tab[c_of[k], p]
            t = bp[k]
            span = bp[k + 1] - t
            if graded[k]:
                hs[0] = first_step
                m = int(min(12.0, max(0.0, math.ceil(math.log2(span / first_step)))))
                n_pieces = m + 1
            else:
                m = 0
                n_pieces = 1
            start = t
            for q in range(n_pieces):
                if n_pieces == 1:
                    piece = span
                elif q == 0:
                    piece = span / 2.0**m
                else:
                    piece = span / 2.0 ** (m - q + 1)
                ok = _advance(
                    kernel,
                    switches,
                    has_switches,
                    start,
                    piece,
                    y,
                    c,
                    dp,
                    peak,
                    hs,
                    modes,
                    wc,
                    sc,
                    st,
                    pt,
                    tol,
                    substeps,
                    sw,
                )
                if not ok:
                    break
                start += piece
            if not ok:
                break
            for i in range(n):
                if keep[i] and y[i] < 0.0:
                    y[i] = 0.0
        bad = not ok
        if ok:
            for o in range(n_t):
                for i in range(n):
                    x = out[p, o, i]
                    if not (x - x == 0.0):
                        bad = True
        if bad:
            status[p] = _FAILED
            for o in range(n_t):
                for i in range(n):
                    out[p, o, i] = np.nan
        counts[p, 0] = pt[0]
        counts[p, 1] = pt[1]
        counts[p, 2] = pt[2]


@njit(nogil=True, cache=True)
def place(dst, src, rows, idx):  # pragma: no cover
    """Write ``dst[t, s, idx[j]] = src[t, s, j]`` for every ``t``, ``s`` in ``rows``, ``j``.

    The scatter of a group's time-major states into the whole run's: a
    compiled loop, several times faster than NumPy's fancy assignment.
    """
    for t in range(src.shape[0]):
        for s in rows:
            for j in range(idx.size):
                dst[t, s, idx[j]] = src[t, s, j]
