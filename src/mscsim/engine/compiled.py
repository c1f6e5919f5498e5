r"""The driven backend compiled: patients side by side in fused loops, over the cores.

:mod:`mscsim.engine.driven` integrates a one-way model whose remainder is affine
in the one state it writes with whole-array NumPy over patients; each Gauss node
costs calls through the Python contract and passes over memory. When a model
also gives its remainder compiled (``remainder_kernel``, see
:class:`mscsim.Model`), :func:`run_patients` runs the same method — the same
panels, quadrature, error test and halving of a failing panel — as compiled
loops over blocks of :data:`LANES` patients side by side (lanes), ranges of
blocks run by one thread per core (:func:`mscsim.engine.driven.run_compiled`).
A patient that fails a panel's error test halves it alone, in a block of
copies of itself, through the same code.
Every lane of a block runs the same IEEE operations, so a patient's result
does not depend on the batch, on its lane or on the threads: the one
``fastmath`` freedom taken, in the helpers, is to fuse a multiply and an add
into one rounding (``contract``), which the vector and the scalar loops do
alike (tested bit for bit).

The kernel has the signature :data:`KERNEL_SIGNATURE`,
``remainder_kernel(t, y, p, out)``, and works like the NumPy ``remainder`` with
one patient per column: column ``j`` is one patient at time ``t[j]``, with
states ``y[:, j]`` (states the remainder does not read are 0) and the prepared
parameters named by ``remainder_kernel_parameters`` in ``p[:, j]``; it writes
the driven state's remainder into ``out[row, j]``. It is called through a
function pointer, so :func:`run_patients` is compiled once and cached on disk
for every model.

Two things keep the loops fast, both found with ``perf`` on the 6-state
benchmark (``bench/nonlinear.py``):

- The helpers called per panel, per output or per lane take arrays but never
  allocate or return one, so they are compiled without reference counting
  (``_nrt=False``). Counted, every array argument and every row view costs an
  atomic increment and decrement; with two cores on the same arrays they took
  a fifth of the run.
- A row of an array is taken as a slice before the loop over lanes
  (``a[g, i, lo:hi]``, then ``row[b]``), never indexed as ``a[g, i, lo + b]``:
  the compiler cannot prove such an index non-negative, so it gathers and
  scatters element by element instead of loading and storing a vector.

Each patient's states go straight to its own column ``dest[p]`` of the
caller's array ``out[time, state, patient]`` (all patients of a run), which
spares copying every state into place afterwards (a tenth of the SCA
population's time). A block whose patients take consecutive columns (every
run but a group of a population's patients) writes each row of outputs as one
slice (:func:`_put`); the others scatter lane by lane. A run's own array is
patient-major underneath (``(n_states, N, T)`` in memory, which is the
states' layout), so a block's writes stay within its own patients' rows
instead of touching every time's row of the whole run. On the 6-state
benchmark (10^4 patients, alternating in one window) the slices took 10% off
the CPU time of a run and the patient-major array 8% off what was left.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit, types

__all__ = ["KERNEL_CONTRACT", "KERNEL_SIGNATURE", "LANES", "run_patients"]

LANES = 128
"""Patients per block. Loops over fewer than 64 did not vectorise (no packed
multiplies in the assembly); 128 ran the 6-state benchmark about 5% faster
than 64, which costs at most 127 padded lanes on a small run."""

_FAILED = 1

_f1 = types.float64[::1]
_f2 = types.float64[:, ::1]
_f3 = types.float64[:, :, ::1]
_i1 = types.int64[::1]
_i2 = types.int64[:, ::1]
_b1 = types.boolean[::1]

KERNEL_SIGNATURE = types.void(_f1, _f2, _f2, _f2)
"""``remainder_kernel(t, y, p, out)``: C-contiguous float64, shapes (k,), (n, k), (q, k), (n, k)."""

KERNEL_CONTRACT = (
    "a numba-compiled function (@numba.njit) kernel(t, y, p, out) of float64 C-contiguous "
    "arrays t (k,), y (n_states, k), p (n_parameters, k), out (n_states, k), returning None"
)
""":data:`KERNEL_SIGNATURE` in words, for messages."""

_KERNEL = types.FunctionType(KERNEL_SIGNATURE)


def _helper(function: Callable[..., Any]) -> Any:
    """Compile a helper that takes arrays but never allocates or returns one.

    Cached, without reference counting (numba's ``_nrt`` option; see the module
    docstring), multiplies and adds fused where the processor can (``contract``).
    """
    compile_ = njit(  # type: ignore[call-overload]
        cache=True, error_model="numpy", _nrt=False, fastmath={"contract"}
    )
    return compile_(function)


# --------------------------------------------------------------------------- small pieces


@_helper
def _legendre_rows(theta: float, anti: np.ndarray, row: np.ndarray) -> None:  # pragma: no cover
    """Write into ``row`` the integrals from 0 to ``theta`` of the Lagrange basis."""
    s = 2.0 * theta - 1.0
    p_prev = 1.0
    p_cur = s
    for j in range(row.size):
        row[j] = anti[0, j] + p_cur * anti[1, j]
    for i in range(2, anti.shape[0]):
        p_next = ((2 * i - 1) * s * p_cur - (i - 1) * p_prev) / i
        p_prev = p_cur
        p_cur = p_next
        for j in range(row.size):
            row[j] += p_cur * anti[i, j]


@_helper
def _phi(lt: float, tau: float, lam: float) -> float:  # pragma: no cover
    """Return ``tau phi_1(lam tau) = (e^{lam tau} - 1) / lam``, ``lt = lam tau``."""
    return tau * (1.0 + 0.5 * lt) if abs(lt) < 1e-8 else math.expm1(lt) / lam


_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
"""``ln 2`` in two parts (fdlibm's): ``k ln2_hi`` is exact for the ``k`` that occur."""
_SHIFT = 6755399441055744.0
"""``1.5 * 2**52``: adding it rounds a float to an integer held in its low bits."""
_EXP_TAYLOR = tuple(1.0 / math.factorial(k) for k in range(14))
"""``1 / k!`` for ``k <= 13``: the series of ``e^r`` to 4e-18 of it for ``|r| <= ln 2 / 2``."""
_EXP_HI = 709.8
"""Above it ``e^u`` overflows (``e^709.79`` is the largest double's order)."""
_EXP_LO = -708.0
"""Below it ``e^u`` is subnormal or 0; the lane exponential gives 0."""


@_helper
def _exp_lanes(u: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """Write ``e^{u}`` into ``out``, lane by lane, as the compiler can vectorise it.

    ``e^u = 2^k e^r`` with ``k`` the integer nearest ``u / ln 2`` and
    ``|r| <= ln 2 / 2``: ``e^r`` by its Taylor series in Horner form, ``2^(k-1)``
    built in the exponent bits of a float (so ``k = 1024`` stays finite).
    Within 1.1 ulp of ``math.exp`` from ``e^-707`` to overflow (2 ulp just
    above ``e^-708``, where ``2^(k-1)`` is subnormal); 0 at and below
    ``e^-708`` (3e-308), ``inf`` above and NaN for NaN. Every step is a
    lane-wise IEEE operation without branches, so the same lane gives the same
    bits whatever its neighbours.
    """
    c = _EXP_TAYLOR
    for b in range(u.size):
        x = u[b]
        y = x if x > _EXP_LO else _EXP_LO
        y = y if y < _EXP_HI else _EXP_HI
        kd = y * _LOG2E + _SHIFT
        scale = np.int64((np.float64(kd).view(np.int64) + 1022) << 52).view(np.float64)
        kd -= _SHIFT
        r = (y - kd * _LN2_HI) - kd * _LN2_LO
        p = c[13]
        p = p * r + c[12]
        p = p * r + c[11]
        p = p * r + c[10]
        p = p * r + c[9]
        p = p * r + c[8]
        p = p * r + c[7]
        p = p * r + c[6]
        p = p * r + c[5]
        p = p * r + c[4]
        p = p * r + c[3]
        p = p * r + c[2]
        p = p * r + c[1]
        p = p * r + c[0]
        p = p if x < _EXP_HI else math.inf
        p = p if x > _EXP_LO else 0.0
        p = p if x == x else x
        out[b] = p * scale * 2.0


@_helper
def _tails(
    coef3: np.ndarray, values: np.ndarray, tail: np.ndarray, ratio: np.ndarray, acc: np.ndarray
) -> None:  # pragma: no cover
    """Write each lane's extrapolated next Legendre coefficient of ``values`` and its ratio.

    ``values`` is ``(>= m, lanes)``; the first ``m`` rows are the node values.
    ``acc`` is ``(3, >= lanes)`` scratch. Lanes are the inner loop throughout,
    so the compiler vectorises it.
    """
    m = coef3.shape[1]
    nl = values.shape[1]
    for i in range(3):
        for b in range(nl):
            acc[i, b] = 0.0
    for j in range(m):
        c0 = coef3[0, j]
        c1 = coef3[1, j]
        c2 = coef3[2, j]
        for b in range(nl):
            v = values[j, b]
            acc[0, b] += c0 * v
            acc[1, b] += c1 * v
            acc[2, b] += c2 * v
    for b in range(nl):
        a0 = abs(acc[0, b])
        a1 = abs(acc[1, b])
        a2 = abs(acc[2, b])
        r1 = a2 / a1 if a1 > 0.0 else (math.nan if a2 == 0.0 else math.inf)
        r0 = a1 / a0 if a0 > 0.0 else (math.nan if a1 == 0.0 else math.inf)
        both = r1 if r1 > r0 else r0
        rr = r0 if r1 != r1 else (r1 if r0 != r0 else both)
        rr = 1.0 if (rr != rr or rr > 1.0) else rr
        tail[b] = (a1 if a1 > a2 else a2) * rr
        ratio[b] = rr


@_helper
def _factors(
    lam: np.ndarray,
    w: float,
    theta: np.ndarray,
    e: np.ndarray,
    f: np.ndarray,
    slot: int,
    inputs: bool,
    u: np.ndarray,
) -> None:  # pragma: no cover
    """Write ``e^{lam w theta_j}`` (and ``tau phi_1``) at the nodes, then at 1, into ``slot``.

    ``u`` is scratch of at least as many lanes.
    """
    m = theta.size
    nl = lam.shape[1]
    u = u[:nl]
    for k in range(lam.shape[0]):
        for j in range(m + 1):
            tau = w * theta[j] if j < m else w
            for b in range(nl):
                u[b] = lam[k, b] * tau
            _exp_lanes(u, e[slot, k, j])
            if inputs:
                for b in range(nl):
                    f[slot, k, j, b] = _phi(u[b], tau, lam[k, b])


@_helper
def _doubled(e: np.ndarray, f: np.ndarray, slot: int, inputs: bool) -> None:  # pragma: no cover
    """Write the factors of twice the width of ``slot - 1`` into ``slot``, exactly.

    ``e^{2x} = (e^x)^2`` and ``expm1(2x) = expm1(x) (e^x + 1)``.
    """
    for k in range(e.shape[1]):
        for j in range(e.shape[2]):
            for b in range(e.shape[3]):
                e1 = e[slot - 1, k, j, b]
                e[slot, k, j, b] = e1 * e1
                if inputs:
                    f[slot, k, j, b] = f[slot - 1, k, j, b] * (e1 + 1.0)


@_helper
def _accept(block, b, e, f, slot, lane, has_c, x_end):  # pragma: no cover
    """Move lane ``b`` of ``block`` to the end of a panel it passed.

    The drivers by the panel's exact factors (``e``, ``f`` at ``slot``, column of
    ``lane`` there), the driven state to ``x_end``, its peak with it.
    """
    z, c, _g0, x, peak = block
    m = e.shape[2] - 1
    for k in range(z.shape[0]):
        zk = e[slot, k, m, lane] * z[k, b]
        if has_c:
            zk += f[slot, k, m, lane] * c[k, b]
        z[k, b] = zk
    x[b] = x_end
    peak[b] = max(peak[b], abs(x_end))


@_helper
def _accept_lanes(block, move, e, f, slot, has_c, x_end):  # pragma: no cover
    """Move the lanes of ``block`` where ``move`` holds to the end of a panel they passed.

    :func:`_accept` for a whole block, lane by lane without branches, so the
    compiler vectorises it; other lanes keep their state.
    """
    z, c, _g0, x, peak = block
    m = e.shape[2] - 1
    nl = x.size
    for k in range(z.shape[0]):
        if has_c:
            for b in range(nl):
                zk = e[slot, k, m, b] * z[k, b] + f[slot, k, m, b] * c[k, b]
                z[k, b] = zk if move[b] else z[k, b]
        else:
            for b in range(nl):
                zk = e[slot, k, m, b] * z[k, b]
                z[k, b] = zk if move[b] else z[k, b]
    for b in range(nl):
        xe = x_end[b]
        x[b] = xe if move[b] else x[b]
        top = max(peak[b], abs(xe))
        peak[b] = top if move[b] else peak[b]


@_helper
def _put(row, cols, contiguous, values, move, every):  # pragma: no cover
    """Write ``values[b]`` into ``row[cols[b]]`` for every lane (``every``) or where ``move`` holds.

    With ``contiguous`` (``cols`` is ``cols[0], cols[0] + 1, ...``) as one
    slice, without an index per lane; otherwise lane by lane.
    """
    nl = values.size
    if contiguous:
        dst = row[cols[0] : cols[0] + nl]
        for b in range(nl):
            if every or move[b]:
                dst[b] = values[b]
    else:
        for b in range(nl):
            if every or move[b]:
                row[cols[b]] = values[b]


# --------------------------------------------------------------------------- a panel


@_helper
def _panel(
    remainder,
    a,
    w,
    start,
    ei,
    has_c,
    block,
    lane,
    e_all,
    f_all,
    reads,
    x_row,
    rule,
    tol,
    work,
):  # pragma: no cover
    """Cross ``[a, a + w]`` in every lane of a block; write the outcome into ``work``.

    ``block`` holds the lanes' state at ``a`` (``z``, ``c``, ``g0``, ``x``,
    ``peak``); ``lane`` their patients: ``lam`` ``(nu, L)``, ``v_reads``
    ``(r, nu, L)``, ``a_xx`` ``(L,)``, ``a_xu`` ``(nu, L)``, ``kp`` ``(q, cols L)``.
    ``work`` holds the scratch and the results (``x_end``, ``ok``, ``near``,
    the tails, ``grow``, ``cc``, ``hh`` for dense output).
    """
    z, c, g0, x, peak = block
    _lam, v_reads, a_xx, a_xu, kp, has_xu = lane
    zc, tt, y, r, cc, gg, hh, lam_nodes, csum, res = work
    theta, weight, at_start, q, coef3 = rule
    rtol, atol, peak_share, unit_day = tol[0], tol[1], tol[2], tol[3]
    nu = z.shape[0]
    nl = x.size
    m = theta.size
    n_r = reads.size
    # the drivers at the nodes (column m: at the start a)
    for k in range(nu):
        for col in range(m):
            for b in range(nl):
                zc[k, col, b] = e_all[ei, k, col, b] * z[k, b]
        if has_c:
            for col in range(m):
                for b in range(nl):
                    zc[k, col, b] += f_all[ei, k, col, b] * c[k, b]
        for b in range(nl):
            zc[k, m, b] = z[k, b]
    # kernel columns: the nodes and the start with x = 0, then again with x = 1
    # (slices, not index arithmetic: the compiler then loads and stores, not gathers)
    half = (m + 1) * nl
    for col in range(m + 1):
        t = a + w * theta[col] if col < m else a
        lo = tt[col * nl : (col + 1) * nl]
        hi = tt[half + col * nl : half + (col + 1) * nl]
        for b in range(nl):
            lo[b] = t
            hi[b] = t
    for i in range(n_r):
        row = y[reads[i]]
        for col in range(m + 1):
            lo = row[col * nl : (col + 1) * nl]
            hi = row[half + col * nl : half + (col + 1) * nl]
            for b in range(nl):
                lo[b] = 0.0
            for k in range(nu):
                for b in range(nl):
                    lo[b] += v_reads[i, k, b] * zc[k, col, b]
            for b in range(nl):
                hi[b] = lo[b]
    row = y[x_row]
    rx = r[x_row]
    for j in range(half):
        row[j] = 0.0
        row[half + j] = 1.0
        rx[j] = 0.0
        rx[half + j] = 0.0
    remainder(tt, y, kp, r)
    for col in range(m + 1):
        r0s = rx[col * nl : (col + 1) * nl]
        r1s = rx[half + col * nl : half + (col + 1) * nl]
        for b in range(nl):
            r0 = r0s[b]
            gg[col, b] = r0 + g0[b]
            cc[col, b] = a_xx[b] + (r1s[b] - r0)
        if has_xu:
            for k in range(nu):
                for b in range(nl):
                    gg[col, b] += a_xu[k, b] * zc[k, col, b]
    # Lambda at the nodes, h = e^{-Lambda} g, the Gauss sums
    for i in range(m):
        for b in range(nl):
            lam_nodes[i, b] = 0.0
    for b in range(nl):
        csum[b] = 0.0
    for col in range(m):
        for i in range(m):
            qi = q[i, col]
            for b in range(nl):
                lam_nodes[i, b] += qi * cc[col, b]
        wc = weight[col]
        for b in range(nl):
            csum[b] += wc * cc[col, b]
    x_end, ok, near, tail_c, tail_h, ratio_h, grow, integral, hmax = (
        res[0],
        res[1],
        res[2],
        res[3],
        res[4],
        res[5],
        res[6],
        res[7],
        res[8],
    )
    acc3 = res[9:12]
    for b in range(nl):
        integral[b] = 0.0
        hmax[b] = 0.0
    for i in range(m):
        wi = weight[i]
        row_i = lam_nodes[i]
        for b in range(nl):
            row_i[b] = -w * row_i[b]
        _exp_lanes(row_i, hh[i])
        for b in range(nl):
            h = hh[i, b] * gg[i, b]
            hh[i, b] = h
            integral[b] += wi * h
            hmax[b] = max(hmax[b], abs(h))
    _tails(coef3, cc, tail_c, ratio_h, acc3)  # ratio_h is overwritten next
    _tails(coef3, hh, tail_h, ratio_h, acc3)
    partial = 1.0 / (2 * m + 1)
    share = min(1.0, w / unit_day)
    for b in range(nl):
        csum[b] *= w
    _exp_lanes(csum, grow)
    s_c = acc3[0]  # free once the tails are known
    s_h = acc3[1]
    for b in range(nl):
        s_c[b] = 0.0
        s_h[b] = 0.0
    if start:
        for i in range(m):
            wi = at_start[i]
            for b in range(nl):
                s_c[b] += wi * cc[i, b]
                s_h[b] += wi * hh[i, b]
    w_near = w * theta[0] if start else 0.0
    for b in range(nl):
        g = grow[b]
        xe = g * (x[b] + integral[b] * w)
        x_end[b] = xe
        est = tail_c[b] * (w * partial) * hmax[b] + tail_h[b] * ratio_h[b] * ratio_h[b]
        est *= w * g
        nb = w_near * (abs(s_c[b] - cc[m, b]) * abs(xe) + g * abs(s_h[b] - gg[m, b]))
        nb = nb if start else 0.0
        est += nb
        near[b] = nb
        size = max(abs(xe), peak_share * max(peak[b], abs(xe)))
        ok[b] = 1.0 if (est <= rtol * share * size + atol and math.isfinite(xe)) else 0.0


@_helper
def _dense(
    a, w, bound, nominal, o, hi, times, out_rows, anti, x, peak, work, rule, tol, x_out, row
):  # pragma: no cover
    """Write the driven state at the outputs in ``[a, bound)`` into ``x_out``; return their count.

    Lanes whose interpolants miss an output's tolerance get ``ok = 0``.
    """
    cc, hh, res = work[4], work[6], work[9]
    ok, near, tail_c, tail_h = res[1], res[2], res[3], res[4]
    rtol, atol, peak_share, unit_day = tol[0], tol[1], tol[2], tol[3]
    m = anti.shape[1]
    nl = x.size
    partial = 1.0 / (2 * m + 1)
    share = min(1.0, w / unit_day)
    n_o = 0
    while o + n_o < hi and times[o + n_o] < bound:
        oo = o + n_o
        if times[oo] <= a:
            for b in range(nl):
                x_out[n_o, b] = x[b]
        else:
            if nominal:
                for col in range(m):
                    row[col] = out_rows[oo, col]
            else:
                _legendre_rows(min((times[oo] - a) / w, 1.0), anti, row)
            sc = work[7][0]  # lam_nodes' rows are free once h is known
            sh = work[7][1]
            for b in range(nl):
                sc[b] = 0.0
                sh[b] = 0.0
            for col in range(m):
                rc = row[col]
                for b in range(nl):
                    sc[b] += rc * cc[col, b]
                    sh[b] += rc * hh[col, b]
            gro = work[7][2]
            for b in range(nl):
                sc[b] *= w
            _exp_lanes(sc, gro)
            for b in range(nl):
                grow_o = gro[b]
                xo = grow_o * (x[b] + w * sh[b])
                size_o = max(abs(xo), peak_share * peak[b])
                est_o = w * partial * (abs(xo) * tail_c[b] + grow_o * tail_h[b]) + near[b]
                if not est_o <= rtol * share * size_o + atol:
                    ok[b] = 0.0
                x_out[n_o, b] = xo
        n_o += 1
    return n_o


@njit(cache=True, error_model="numpy")
def _new_buffers(n_states, nu, m, n_out):  # pragma: no cover
    """Return flat scratch for :func:`_work` views of up to :data:`LANES` lanes."""
    cols = 2 * (m + 1)
    return (
        np.zeros(nu * (m + 1) * LANES),  # zc
        np.zeros(cols * LANES),  # tt
        np.zeros(n_states * cols * LANES),  # y
        np.zeros(n_states * cols * LANES),  # r
        np.zeros((m + 1) * LANES),  # cc
        np.zeros((m + 1) * LANES),  # gg
        np.zeros(m * LANES),  # hh
        np.zeros(m * LANES),  # lam_nodes
        np.zeros(LANES),  # csum
        np.zeros(12 * LANES),  # x_end, ok, near, tails, ratio, grow, integral, hmax; tails' sums
        np.zeros(n_out * LANES),  # the driven state at the outputs
    )


@njit(cache=True, error_model="numpy")
def _work(buf, n_states, nu, m, nl):  # pragma: no cover
    """Return the scratch of :func:`_panel` for ``nl`` lanes, as views of ``buf``."""
    cols = 2 * (m + 1)
    work = (
        buf[0][: nu * (m + 1) * nl].reshape((nu, m + 1, nl)),
        buf[1][: cols * nl],
        buf[2][: n_states * cols * nl].reshape((n_states, cols * nl)),
        buf[3][: n_states * cols * nl].reshape((n_states, cols * nl)),
        buf[4][: (m + 1) * nl].reshape((m + 1, nl)),
        buf[5][: (m + 1) * nl].reshape((m + 1, nl)),
        buf[6][: m * nl].reshape((m, nl)),
        buf[7][: m * nl].reshape((m, nl)),
        buf[8][:nl],
        buf[9][: 12 * nl].reshape((12, nl)),
    )
    n_out = buf[10].size // LANES
    return work, buf[10][: n_out * nl].reshape((n_out, nl))


@_helper
def _refine(
    remainder,
    need,
    a0,
    w0,
    bound0,
    start0,
    o0,
    hi,
    has_c,
    block,
    lane,
    kp_raw,
    failed,
    n_acc,
    n_cols,
    out,
    dest,
    p0,
    times,
    anti,
    rule,
    tol,
    reads,
    x_row,
    clip_x,
    max_depth,
    buf,
    stack,
    lanes,
    row,
    fscratch,
):  # pragma: no cover
    """Halve the panel ``[a0, a0 + w0]`` for the lanes ``need``, depth first, until each passes.

    Each node of the tree is computed for the lanes that need it only, gathered
    side by side, so a lane's panels and results are its own whatever the others
    do. ``block`` holds the block's state (``z``, ``c``, ``g0``, ``x``, ``peak``),
    updated in place; outputs go straight to ``out`` (column ``dest[p0 + lane]``),
    the driven state's at least 0 when ``clip_x``; a lane whose output is not
    finite fails.
    """
    z, c, g0, x, peak = block
    lam_g, vr_g, a_xx, a_xu, _kp, has_xu = lane
    st_a, st_w, st_b, st_d, st_s, st_o, st_l, st_n, flat = stack
    theta = rule[0]
    nu = z.shape[0]
    m = theta.size
    n_r = reads.size
    n_q = kp_raw.shape[0]
    n_states = out.shape[1]
    cols = 2 * (m + 1)
    half = 0.5 * w0
    mid = a0 + half
    o_mid = o0
    while o_mid < hi and times[o_mid] < mid:
        o_mid += 1
    n_need = need.size
    for i in range(n_need):
        st_l[0, i] = need[i]
        st_l[1, i] = need[i]
    st_a[0], st_w[0], st_b[0], st_d[0], st_s[0], st_o[0], st_n[0] = (
        mid,
        w0 - half,
        bound0,
        1,
        False,
        o_mid,
        n_need,
    )
    st_a[1], st_w[1], st_b[1], st_d[1], st_s[1], st_o[1], st_n[1] = (
        a0,
        half,
        mid,
        1,
        start0,
        o0,
        n_need,
    )
    top = 2
    n_out = buf[10].size // LANES
    while top > 0:
        top -= 1
        a = st_a[top]
        w = st_w[top]
        bound = st_b[top]
        depth = st_d[top]
        start = st_s[top]
        o_a = st_o[top]
        nl = 0
        for i in range(st_n[top]):
            b = st_l[top, i]
            if failed[b]:
                continue
            if not math.isfinite(x[b]):
                failed[b] = True
                continue
            lanes[nl] = b
            nl += 1
        if nl == 0:
            continue
        # gather the lanes side by side
        at = 0
        zc_ = flat[at : at + nu * nl].reshape((nu, nl))
        at += nu * nl
        cc_ = flat[at : at + nu * nl].reshape((nu, nl))
        at += nu * nl
        lam_ = flat[at : at + nu * nl].reshape((nu, nl))
        at += nu * nl
        axu_ = flat[at : at + nu * nl].reshape((nu, nl))
        at += nu * nl
        vr_ = flat[at : at + n_r * nu * nl].reshape((n_r, nu, nl))
        at += n_r * nu * nl
        g0_ = flat[at : at + nl]
        at += nl
        x_ = flat[at : at + nl]
        at += nl
        peak_ = flat[at : at + nl]
        at += nl
        axx_ = flat[at : at + nl]
        at += nl
        kp_ = flat[at : at + n_q * cols * nl].reshape((n_q, cols * nl))
        at += n_q * cols * nl
        e_ = flat[at : at + nu * (m + 1) * nl].reshape((1, nu, m + 1, nl))
        at += nu * (m + 1) * nl
        f_ = flat[at : at + nu * (m + 1) * nl].reshape((1, nu, m + 1, nl))
        for i in range(nl):
            b = lanes[i]
            for k in range(nu):
                zc_[k, i] = z[k, b]
                cc_[k, i] = c[k, b]
                lam_[k, i] = lam_g[k, b]
                axu_[k, i] = a_xu[k, b]
                for j in range(n_r):
                    vr_[j, k, i] = vr_g[j, k, b]
            g0_[i] = g0[b]
            x_[i] = x[b]
            peak_[i] = peak[b]
            axx_[i] = a_xx[b]
            for j in range(n_q):
                for col in range(cols):
                    kp_[j, col * nl + i] = kp_raw[j, b]
        work = (  # as _work gives them (no call: no references are counted here)
            buf[0][: nu * (m + 1) * nl].reshape((nu, m + 1, nl)),
            buf[1][: cols * nl],
            buf[2][: n_states * cols * nl].reshape((n_states, cols * nl)),
            buf[3][: n_states * cols * nl].reshape((n_states, cols * nl)),
            buf[4][: (m + 1) * nl].reshape((m + 1, nl)),
            buf[5][: (m + 1) * nl].reshape((m + 1, nl)),
            buf[6][: m * nl].reshape((m, nl)),
            buf[7][: m * nl].reshape((m, nl)),
            buf[8][:nl],
            buf[9][: 12 * nl].reshape((12, nl)),
        )
        x_out = buf[10][: n_out * nl].reshape((n_out, nl))
        _factors(lam_, w, theta, e_, f_, 0, has_c, fscratch)
        _panel(
            remainder,
            a,
            w,
            start,
            0,
            has_c,
            (zc_, cc_, g0_, x_, peak_),
            (lam_, vr_, axx_, axu_, kp_, has_xu),
            e_,
            f_,
            reads,
            x_row,
            rule,
            tol,
            work,
        )
        y_ = work[2]  # back to all zeros: the next node lays its lanes out afresh
        for i in range(n_r):
            y_[reads[i]] = 0.0
        y_[x_row] = 0.0
        n_o = _dense(
            a, w, bound, False, o_a, hi, times, anti, anti, x_, peak_, work, rule, tol, x_out, row
        )
        ok = work[9][1]
        x_end = work[9][0]
        n_child = 0
        for i in range(nl):
            b = lanes[i]
            n_cols[b] += cols
            if ok[i] > 0.0:
                for j in range(n_o):
                    v = x_out[j, i]
                    v = 0.0 if (clip_x and v <= 0.0) else v
                    out[o_a + j, x_row, dest[p0 + b]] = v
                    if not math.isfinite(v):
                        failed[b] = True
                _accept(block, b, e_, f_, 0, i, has_c, x_end[i])
                n_acc[b] += 1
            elif depth >= max_depth:
                failed[b] = True
            else:
                lanes[n_child] = b  # lanes[:i] are no longer read
                n_child += 1
        if n_child:
            rh = 0.5 * w
            rmid = a + rh
            o_rmid = o_a
            while o_rmid < hi and times[o_rmid] < rmid:
                o_rmid += 1
            for i in range(n_child):
                st_l[top, i] = lanes[i]
                st_l[top + 1, i] = lanes[i]
            st_a[top], st_w[top], st_b[top], st_d[top], st_s[top], st_o[top], st_n[top] = (
                rmid,
                w - rh,
                bound,
                depth + 1,
                False,
                o_rmid,
                n_child,
            )
            st_a[top + 1], st_w[top + 1], st_b[top + 1] = a, rh, rmid
            st_d[top + 1], st_s[top + 1], st_o[top + 1], st_n[top + 1] = (
                depth + 1,
                start,
                o_a,
                n_child,
            )
            top += 2


@_helper
def _probe(remainder, work, kp, x, reads, x_row, m, probes, p0, scratch):  # pragma: no cover
    """Record, per lane, the kernel where the drivers it reads are largest in this panel.

    A lane keeps one probe, where they were largest over all the panels probed
    (the first such panel of each stretch). After :func:`_panel` the buffers
    hold the kernel at ``x = 0`` and ``x = 1`` at the nodes and the start; one
    more call, on that column of each lane only, at ``x = 2 |x| + 1`` tests
    affinity. ``probes[p0 + b]`` gets the time, the read states, that ``x``,
    the three values and the drivers' size, for
    :meth:`~mscsim.engine.driven._Setup.check`. ``scratch`` holds the call's
    columns (``t``, states, remainder: one per lane), the sizes and the columns chosen.
    """
    tt, y, r = work[1], work[2], work[3]
    pt, py, pr, size, best = scratch
    nl = x.size
    n_r = reads.size
    half = (m + 1) * nl
    for b in range(nl):
        size[b] = -1.0
        best[b] = 0
    for col in range(m + 1):
        for b in range(nl):
            v = 0.0
            for i in range(n_r):
                v += abs(y[reads[i], col * nl + b])
            if v > size[b]:
                size[b] = v
                best[b] = col
    for b in range(nl):
        j = best[b] * nl + b
        pt[b] = tt[j]
        for i in range(n_r):
            py[reads[i], b] = y[reads[i], j]
        py[x_row, b] = 2.0 * abs(x[b]) + 1.0 if math.isfinite(x[b]) else 1.0
        pr[x_row, b] = 0.0
    remainder(pt, py, kp, pr)
    for b in range(nl):
        row = probes[p0 + b]
        if size[b] >= 0.0 and not size[b] <= row[5 + n_r]:  # the first probe: NaN there
            j = best[b] * nl + b
            row[0] = pt[b]
            for i in range(n_r):
                row[1 + i] = py[reads[i], b]
            row[1 + n_r] = py[x_row, b]
            row[2 + n_r] = r[x_row, j]
            row[3 + n_r] = r[x_row, half + j]
            row[4 + n_r] = pr[x_row, b]
            row[5 + n_r] = size[b]


# --------------------------------------------------------------------------- the run

_RUN_SIGNATURE = types.void(
    _KERNEL,  # remainder
    _f3,  # lam (G, nu, L): G blocks of L lanes
    _f3,  # v_reads (G, r * nu, L)
    _f3,  # v_all (G, nu * nu, L)
    _f2,  # a_xx (G, L)
    _f3,  # a_xu (G, nu, L), modal
    types.boolean,  # has_xu
    _f3,  # kp (G, q, L)
    _f2,  # seg_t (S, 2)
    _f3,  # seg_dz (S, G * nu, L)
    _f3,  # seg_dx (S, G, L)
    _f3,  # seg_c (S, G * nu, L)
    _b1,  # seg_has_c (S,)
    _f3,  # seg_g0 (S, G, L)
    _i2,  # seg_out (S, 2)
    _i2,  # seg_panels (S, 2)
    _f2,  # panel_aw (n_panels, 3): start, width, end
    _i1,  # panel_wi (n_panels,)
    _f1,  # nominal_w (W,)
    _f2,  # out_rows (T, m)
    _f3,  # z0 (G, nu, L)
    _f2,  # x0 (G, L)
    _f1,  # times (T,)
    _i1,  # u_rows (nu,)
    _i1,  # reads (r,)
    types.int64,  # x_row
    _b1,  # clip_u (nu,)
    types.boolean,  # clip_x
    _f2,  # rule (m + 6, m): theta, weight, at_start, q (m rows), coef3 (3 rows)
    _f2,  # anti (m + 1, m)
    _f1,  # tol: rtol, atol, peak share, unit day
    types.int64,  # max_depth
    types.boolean,  # drivers_out: write the drivers at the outputs (else only the driven state)
    _i1,  # dest (G * L,): the column of ``out`` each patient writes
    types.int64,  # first: the blocks run are first to stop - 1 (a range; see run_compiled)
    types.int64,  # stop
    types.float64[:, :, :],  # out (T, n_states, N): any strides (a run's own: patient-major)
    types.int8[::1],  # status (G * L,)
    _i2,  # counts (G * L, 2)
    _f2,  # probes (G * L, r + 6)
)


@njit(_RUN_SIGNATURE, nogil=True, cache=True, error_model="numpy")
def run_patients(
    remainder,
    lam,
    v_reads,
    v_all,
    a_xx,
    a_xu,
    has_xu,
    kp,
    seg_t,
    seg_dz,
    seg_dx,
    seg_c,
    seg_has_c,
    seg_g0,
    seg_out,
    seg_panels,
    panel_aw,
    panel_wi,
    nominal_w,
    out_rows,
    z0,
    x0,
    times,
    u_rows,
    reads,
    x_row,
    clip_u,
    clip_x,
    rule_rows,
    anti,
    tol,
    max_depth,
    drivers_out,
    dest,
    first,
    stop,
    out,
    status,
    counts,
    probes,
):  # pragma: no cover
    """Integrate blocks ``first`` to ``stop - 1``; see the module docstring.

    The caller runs one range of blocks per thread (the GIL is released), each
    with its scratch allocated once. Patient ``g * LANES + b`` is lane
    ``b`` of block ``g``; it writes column ``dest[g * LANES + b]`` of ``out``
    (padding lanes repeat a patient: the same numbers again). Writes ``out``
    (the drivers' rows only with
    ``drivers_out``)
    (states at ``times``, time-major; states in ``u_rows`` where ``clip_u``, and
    the driven state when ``clip_x``, at least 0), ``status`` (1: failed or an
    output not finite; the patient's states NaN; every other output is finite),
    ``counts`` (panels accepted, kernel columns evaluated) and ``probes`` (per
    patient, where the drivers the kernel reads were largest at a stretch's
    start: time, read states, the probe value of the driven state, the kernel's
    remainder at 0, 1 and there, and the drivers' size; :func:`_probe`).
    """
    nu = lam.shape[1]
    m = anti.shape[1]
    n_r = reads.size
    n_q = kp.shape[1]
    n_states = out.shape[1]
    n_seg = seg_t.shape[0]
    n_w = nominal_w.size
    cols = 2 * (m + 1)
    rule = (
        rule_rows[0],
        rule_rows[1],
        rule_rows[2],
        rule_rows[3 : 3 + m],
        rule_rows[3 + m : 6 + m],
    )
    theta = rule_rows[0]
    stack_size = 2 * max_depth + 4
    any_c = False
    for s in range(n_seg):
        any_c = any_c or seg_has_c[s]
    # scratch for this thread's blocks, allocated once
    buf = _new_buffers(n_states, nu, m, times.size)
    buf_r = _new_buffers(n_states, nu, m, times.size)
    work, x_out = _work(buf, n_states, nu, m, LANES)
    row = np.empty(m)
    need = np.empty(LANES, dtype=np.int64)
    move = np.zeros(LANES, dtype=np.bool_)
    put = np.empty(LANES)  # a row of outputs on its way to ``out`` (_put)
    probing = (  # one kernel column per lane (_probe)
        np.empty(LANES),
        np.zeros((n_states, LANES)),
        np.zeros((n_states, LANES)),
        np.empty(LANES),
        np.empty(LANES, dtype=np.int64),
    )
    lanes_r = np.empty(LANES, dtype=np.int64)
    row_r = np.empty(m)
    fscratch = np.empty(LANES)
    e_all = np.empty((n_w + 1, nu, m + 1, LANES))
    f_all = np.zeros((n_w + 1, nu, m + 1, LANES))
    kp_g = np.empty((n_q, cols * LANES))
    st_a = np.empty(stack_size)
    st_w = np.empty(stack_size)
    st_b = np.empty(stack_size)
    st_d = np.empty(stack_size, dtype=np.int64)
    st_s = np.empty(stack_size, dtype=np.bool_)
    st_o = np.empty(stack_size, dtype=np.int64)
    st_l = np.empty((stack_size, LANES), dtype=np.int64)
    st_n = np.empty(stack_size, dtype=np.int64)
    # the gathered lanes of a halving (see _refine)
    flat = np.zeros(((4 + n_r) * nu + 4 + n_q * cols + 2 * nu * (m + 1)) * LANES)
    stack = (st_a, st_w, st_b, st_d, st_s, st_o, st_l, st_n, flat)
    z = np.empty((nu, LANES))
    x = np.empty(LANES)
    peak = np.empty(LANES)
    failed = np.empty(LANES, dtype=np.bool_)
    bad = np.empty(LANES, dtype=np.bool_)
    n_acc = np.empty(LANES, dtype=np.int64)
    n_cols = np.empty(LANES, dtype=np.int64)
    zz = np.empty((nu, LANES))
    ze = np.empty((nu, LANES))
    fe = np.zeros((nu, LANES))
    acc = np.empty((nu, LANES))
    for g in range(first, stop):
        lam_g = lam[g]
        col_g = dest[g * LANES : (g + 1) * LANES]
        contiguous = True
        for b in range(LANES):
            contiguous = contiguous and col_g[b] == col_g[0] + b
        vr_g = v_reads[g].reshape((n_r, nu, LANES))
        for i in range(n_q):
            for col in range(cols):
                for b in range(LANES):
                    kp_g[i, col * LANES + b] = kp[g, i, b]
        lane = (lam_g, vr_g, a_xx[g], a_xu[g], kp_g, has_xu)
        for i in range(n_w):
            if i > 0 and nominal_w[i] == 2.0 * nominal_w[i - 1]:
                _doubled(e_all, f_all, i, any_c)
            else:
                _factors(lam_g, nominal_w[i], theta, e_all, f_all, i, any_c, fscratch)
        for b in range(LANES):
            for k in range(nu):
                z[k, b] = z0[g, k, b]
            x[b] = x0[g, b]
            peak[b] = abs(x[b])
            failed[b] = False
            bad[b] = False
            n_acc[b] = 0
            n_cols[b] = 0
        v_g = v_all[g].reshape((nu, nu, LANES))
        for s in range(n_seg):
            t0 = seg_t[s, 0]
            has_c = seg_has_c[s]
            c = seg_c[s, g * nu : (g + 1) * nu]
            g0 = seg_g0[s, g]
            block = (z, c, g0, x, peak)
            for k in range(nu):
                for b in range(LANES):
                    z[k, b] += seg_dz[s, g * nu + k, b]
            for b in range(LANES):
                x[b] += seg_dx[s, g, b]
                peak[b] = max(peak[b], abs(x[b]))
            lo = seg_out[s, 0]
            hi = seg_out[s, 1]
            # the drivers at this stretch's outputs, by the exact recurrence
            for k in range(nu):
                for b in range(LANES):
                    zz[k, b] = z[k, b]
            prev = t0
            last = math.nan
            for o in range(lo, hi if drivers_out else lo):
                d = times[o] - prev
                if d != last:
                    for k in range(nu):
                        for b in range(LANES):
                            lt = lam_g[k, b] * d
                            ze[k, b] = math.exp(lt)
                            if has_c:
                                fe[k, b] = _phi(lt, d, lam_g[k, b]) * c[k, b]
                    last = d
                for k in range(nu):
                    for b in range(LANES):
                        zz[k, b] = zz[k, b] * ze[k, b] + fe[k, b] if has_c else zz[k, b] * ze[k, b]
                prev = times[o]
                for i in range(nu):
                    for b in range(LANES):
                        acc[i, b] = 0.0
                    for k in range(nu):
                        for b in range(LANES):
                            acc[i, b] += v_g[i, k, b] * zz[k, b]
                for i in range(nu):
                    floor = 0.0 if clip_u[i] else -math.inf
                    for b in range(LANES):
                        value = acc[i, b]
                        value = 0.0 if value < floor else value
                        put[b] = value
                        bad[b] = bad[b] | (not math.isfinite(value))
                    _put(out[o, u_rows[i]], col_g, contiguous, put, move, True)
            o = lo  # the next output of the driven state
            for j in range(seg_panels[s, 0], seg_panels[s, 1]):
                a = panel_aw[j, 0]
                w = panel_aw[j, 1]
                bound = panel_aw[j, 2]
                start = j == seg_panels[s, 0]
                nominal = panel_wi[j] >= 0
                ei = panel_wi[j] if nominal else n_w
                if not nominal:
                    _factors(lam_g, w, theta, e_all, f_all, ei, has_c, fscratch)
                _panel(
                    remainder,
                    a,
                    w,
                    start,
                    ei,
                    has_c,
                    block,
                    lane,
                    e_all,
                    f_all,
                    reads,
                    x_row,
                    rule,
                    tol,
                    work,
                )
                if start:
                    _probe(remainder, work, kp[g], x, reads, x_row, m, probes, g * LANES, probing)
                n_o = _dense(
                    a,
                    w,
                    bound,
                    nominal,
                    o,
                    hi,
                    times,
                    out_rows,
                    anti,
                    x,
                    peak,
                    work,
                    rule,
                    tol,
                    x_out,
                    row,
                )
                ok = work[9][1]
                x_end = work[9][0]
                n_need = 0
                for b in range(LANES):
                    move[b] = False
                    if failed[b]:
                        continue
                    n_cols[b] += cols
                    if not math.isfinite(x[b]):
                        failed[b] = True
                    elif ok[b] > 0.0:
                        move[b] = True
                        n_acc[b] += 1
                    else:  # including an end that overflowed: a shorter panel may not
                        need[n_need] = b
                        n_need += 1
                _accept_lanes(block, move, e_all, f_all, ei, has_c, x_end)
                for i in range(n_o):
                    for b in range(LANES):
                        v = x_out[i, b]
                        v = 0.0 if (clip_x and v <= 0.0) else v
                        put[b] = v
                        bad[b] = bad[b] | (move[b] and not math.isfinite(v))
                    _put(out[o + i, x_row], col_g, contiguous, put, move, False)
                if n_need:
                    # those lanes halve the panel alone (max_depth 0: they fail)
                    if max_depth == 0:
                        for i in range(n_need):
                            failed[need[i]] = True
                    else:
                        _refine(
                            remainder,
                            need[:n_need],
                            a,
                            w,
                            bound,
                            start,
                            o,
                            hi,
                            has_c,
                            block,
                            lane,
                            kp[g],
                            failed,
                            n_acc,
                            n_cols,
                            out,
                            dest,
                            g * LANES,
                            times,
                            anti,
                            rule,
                            tol,
                            reads,
                            x_row,
                            clip_x,
                            max_depth,
                            buf_r,
                            stack,
                            lanes_r,
                            row_r,
                            fscratch,
                        )
                while o < hi and times[o] < panel_aw[j, 2]:
                    o += 1
            if s == n_seg - 1:
                for oo in range(lo, hi):  # outputs at the very end: the state there
                    if times[oo] >= seg_t[s, 1]:
                        for b in range(LANES):
                            v = x[b]
                            v = 0.0 if (clip_x and v <= 0.0) else v
                            put[b] = v
                            bad[b] = bad[b] | (not math.isfinite(v))
                        _put(out[oo, x_row], col_g, contiguous, put, move, True)
        for b in range(LANES):
            p = g * LANES + b
            counts[p, 0] = n_acc[b]
            counts[p, 1] = n_cols[b]
            failed[b] = failed[b] or bad[b]  # an output that is not finite flags it too
            status[p] = _FAILED if failed[b] else 0
            if failed[b]:
                for oo in range(times.size):
                    for i in range(n_states):
                        out[oo, i, dest[p]] = math.nan
