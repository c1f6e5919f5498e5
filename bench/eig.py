"""Benchmark: the drivers' eigendecomposition, in closed form against LAPACK.

Not a test: it measures and prints. Run ``python bench/eig.py [--n-patients 10000]
[--repeats 5]``. On the 6-state benchmark's cell and factor kinetics (one
matrix per patient, drawn as ``bench/nonlinear.py`` draws its patients) it times,
in one process and on the same matrices,

- ``real_modes``: what the engine runs (the closed form for block triangular
  matrices, compiled a matrix at a time, LAPACK for the matrices it leaves);
- the same closed form written by hand in whole-array NumPy over matrices
  (:func:`numpy_closed_form`, what ``real_modes`` ran before it was compiled);
- the LAPACK path alone: batched :func:`numpy.linalg.eig`, then the condition
  number and the inverse of ``V`` (what ``real_modes`` ran before the closed form);
- batched :func:`numpy.linalg.eig` alone, and a plain loop of it, patient by patient;

and prints the best time of ``--repeats`` runs of each, how far the closed
form is from LAPACK (the largest ``|V diag(lam) V^-1 - A|`` over ``|A|`` of
each, the largest difference between their sorted eigenvalues) and from its
NumPy form.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent))

import nonlinear as nl

from mscsim.engine.adaptive import SEPARATION, _lapack_modes, _triangular_blocks, real_modes
from mscsim.models.base import Array


def driver_matrices(n: int, seed: int = 1) -> Array:
    """Return the cell and factor block of ``A`` of ``n`` patients, ``(n, 5, 5)``."""
    model = nl.SixStateModel()
    a, _ = model.linear_system(model.prepare(nl.patient_params(n, seed)))
    return np.ascontiguousarray(a[:, : nl.N_LINEAR, : nl.N_LINEAR])


def best_ms(run: Callable[[], object], repeats: int) -> float:
    """Return the shortest of ``repeats`` runs of ``run``, in ms."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def rebuild_error(a: Array, lam: Array, v: Array, vinv: Array) -> float:
    """Return the largest ``|V diag(lam) V^-1 - A|`` over ``|A|`` (largest entries)."""
    rebuilt = np.einsum("pij,pj,pjk->pik", v, lam, vinv)
    return float((np.abs(rebuilt - a).max(axis=(1, 2)) / np.abs(a).max(axis=(1, 2))).max())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-patients", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    a = driver_matrices(args.n_patients)
    rows = [
        ("real_modes (closed form, LAPACK for the rest)", lambda: real_modes(a)),
        ("LAPACK path (eig, condition number, inverse)", lambda: _lapack_modes(a)),
        ("numpy.linalg.eig, batched", lambda: np.linalg.eig(a)),
        ("numpy.linalg.eig, patient by patient", lambda: [np.linalg.eig(m) for m in a]),
    ]
    print(f"{a.shape[0]} matrices {a.shape[1]}x{a.shape[2]}, best of {args.repeats}")
    for name, run in rows:
        print(f"{best_ms(run, args.repeats):9.2f} ms  {name}")
    lam, v, vinv, ok = real_modes(a)
    lam_ref, v_ref, vinv_ref, ok_ref = _lapack_modes(a)
    both = ok & ok_ref
    print(f"usable modes: {int(ok.sum())} (LAPACK path {int(ok_ref.sum())}) of {ok.size}")
    print(
        f"rebuild error: closed form {rebuild_error(a[both], lam[both], v[both], vinv[both]):.1e}, "
        f"LAPACK {rebuild_error(a[both], lam_ref[both], v_ref[both], vinv_ref[both]):.1e}"
    )
    gap = np.abs(np.sort(lam[both], axis=1) - np.sort(lam_ref[both], axis=1)).max()
    print(f"largest eigenvalue difference: {gap:.1e} (largest |lam| {np.abs(lam_ref).max():.1e})")
    closed_form_rows(a, args.repeats)
    return 0


def closed_form_rows(a: Array, repeats: int) -> None:
    """Time the closed form compiled (``real_modes``) and in NumPy; print how far apart they are."""
    blocks = _triangular_blocks(a[0] != 0.0)
    if blocks is None:
        return
    ms = best_ms(lambda: numpy_closed_form(a, blocks), repeats)
    print(f"{ms:9.2f} ms  the closed form in whole-array NumPy (hand-written baseline)")
    lam, v, vinv, ok = real_modes(a)
    lam_np, v_np, vinv_np, _, served = numpy_closed_form(a, blocks)
    both = ok & served
    gaps = [np.abs(x[both] - y[both]).max() for x, y in ((lam, lam_np), (v, v_np), (vinv, vinv_np))]
    print(
        "compiled vs NumPy closed form, largest difference: "
        f"lam {gaps[0]:.1e}, V {gaps[1]:.1e}, V^-1 {gaps[2]:.1e}"
    )


# --------------------------------------------------------------------------- the NumPy form


def _block_eigenvalues(a: Array, blocks: list[NDArray[np.intp]]) -> tuple[Array, NDArray[np.bool_]]:
    """Return each block's eigenvalues in block order (``(n, G)``), and where a pair is not real.

    ``a`` is ``(n, n, G)``. A pair's roots come from its trace and determinant,
    the larger first: the larger in size from the mean and half the root of the
    discriminant, the other as the determinant over it (no cancellation).
    """
    rows: list[Array] = []
    bad = np.zeros(a.shape[2], dtype=bool)
    for b in blocks:
        if b.size == 1:
            rows.append(a[b[0], b[0]])
            continue
        i, j = b
        p, q, up, down = a[i, i], a[j, j], a[i, j], a[j, i]
        disc = (p - q) ** 2 + 4.0 * up * down
        bad |= ~(disc > 0.0)
        mid = 0.5 * (p + q)
        big = mid + np.copysign(0.5 * np.sqrt(np.maximum(disc, 0.0)), mid)
        other = (p * q - up * down) / big
        rows += [np.maximum(big, other), np.minimum(big, other)]
    return np.stack(rows), bad


def _block_vectors(
    a: Array, blocks: list[NDArray[np.intp]], modes: list[slice], lam: Array
) -> Array:
    """Return the eigenvectors of block lower triangular matrices, ``v[state, mode]`` ``(n, n, G)``.

    ``a`` is ``(n, n, G)``, in the order ``blocks`` (upstream first) with their
    ``modes`` (eigenvalues ``lam``, consecutive). A mode is 0 upstream of its
    block, the null vector of its block's ``A_JJ - lam I`` in it, and follows by
    forward substitution below it: ``(A_JJ - lam I) v_J = -sum_I A_JI v_I``.
    """
    n = a.shape[0]
    v = np.zeros(a.shape)
    above: list[int] = []  # the states of the blocks done
    lo, hi = n, 0  # and their modes
    for b, own in zip(blocks, modes, strict=True):
        if b.size == 1:
            v[b[0], own.start] = 1.0
        else:
            i, j = b
            mu = lam[own]
            row = (np.broadcast_to(a[i, j], mu.shape), mu - a[i, i])  # null vector from row i
            col = (mu - a[j, j], np.broadcast_to(a[j, i], mu.shape))  # from row j
            take = np.abs(row[0]) + np.abs(row[1]) >= np.abs(col[0]) + np.abs(col[1])
            v[i, own] = np.where(take, row[0], col[0])
            v[j, own] = np.where(take, row[1], col[1])
        if above:
            _substitute(a, v, b, lam[own], above, slice(lo, hi), lam)
        above += b.tolist()
        lo, hi = min(lo, own.start), max(hi, own.stop)
    return v


def _substitute(
    a: Array, v: Array, b: NDArray[np.intp], mu: Array, above: list[int], earlier: slice, lam: Array
) -> None:
    """Fill rows ``b`` of the ``earlier`` modes: ``(A_bb - lam I) v_b = -A_b,above v_above``.

    ``mu`` are the block's eigenvalues. The matrices share one pattern: entries 0
    in the first are 0 in all.
    """
    rhs = []
    for r in b:
        acc = np.zeros(v[r, earlier].shape)
        for i in above:
            if a[r, i, 0] != 0.0:
                acc -= a[r, i] * v[i, earlier]
        rhs.append(acc)
    lam_e = lam[earlier]
    if b.size == 1:
        v[b[0], earlier] = rhs[0] / (a[b[0], b[0]] - lam_e)
        return
    i, j = b
    det = (mu[0] - lam_e) * (mu[1] - lam_e)
    v[i, earlier] = ((a[j, j] - lam_e) * rhs[0] - a[i, j] * rhs[1]) / det
    v[j, earlier] = ((a[i, i] - lam_e) * rhs[1] - a[j, i] * rhs[0]) / det


def numpy_closed_form(
    a: Array, blocks: list[NDArray[np.intp]]
) -> tuple[Array, Array, Array, Array, NDArray[np.bool_]]:
    """``_structured_modes`` in whole-array NumPy over matrices (what it ran before).

    The same arithmetic, each operation on every matrix at once (``(n, n, G)``:
    each entry contiguous over matrices). Returns ``lam``, ``V``, ``V^-1``, the
    Frobenius condition number and which matrices it served.
    """
    n = a.shape[1]
    a = np.moveaxis(a, 0, -1).copy()  # (n, n, G): each entry contiguous over matrices
    with np.errstate(all="ignore"):  # the matrices a division would not serve are left out
        lam, bad = _block_eigenvalues(a, blocks)
        bad |= ~np.isfinite(a).all(axis=(0, 1))
        scale = SEPARATION * np.abs(lam).max(axis=0)
        for k in range(n):
            for m in range(k + 1, n):
                bad |= ~(np.abs(lam[k] - lam[m]) > scale)
        stops = np.cumsum([b.size for b in blocks])
        modes = [slice(int(e) - b.size, int(e)) for b, e in zip(blocks, stops, strict=True)]
        v = _block_vectors(a, blocks, modes, lam)
        v /= np.sqrt((v * v).sum(axis=0))
        vinv = _block_inverse(v, blocks, modes)
        cond = np.sqrt((v * v).sum(axis=(0, 1)) * (vinv * vinv).sum(axis=(0, 1)))
        bad |= ~np.isfinite(cond)
    v, vinv = (np.ascontiguousarray(np.moveaxis(f, -1, 0)) for f in (v, vinv))
    return np.ascontiguousarray(lam.T), v, vinv, cond, ~bad


def _block_inverse(v: Array, blocks: list[NDArray[np.intp]], modes: list[slice]) -> Array:
    """Return ``V^-1`` (``[mode, state]``) of :func:`_block_vectors`' ``V`` (``(n, n, G)``).

    With its states in the order of ``blocks`` and its modes in that of
    ``modes``, ``V`` is block lower triangular, and so is its inverse ``W``:
    each diagonal block is the inverse of ``V``'s (closed form, 1 or 2 states),
    the blocks below follow by forward substitution,
    ``W_KJ = -V_KK^-1 sum_{J <= I < K} V_KI W_IJ``.
    """
    w = np.zeros(v.shape)
    for k, (own, mine) in enumerate(zip(blocks, modes, strict=True)):
        d = v[own][:, mine]
        if own.size == 1:
            d_inv = 1.0 / d
        else:
            det = d[0, 0] * d[1, 1] - d[0, 1] * d[1, 0]
            d_inv = np.stack([np.stack([d[1, 1], -d[0, 1]]), np.stack([-d[1, 0], d[0, 0]])]) / det
        w[mine][:, own] = d_inv
        for j in range(k):
            acc = sum(
                np.einsum("abg,bcg->acg", v[own][:, modes[i]], w[modes[i]][:, blocks[j]])
                for i in range(j, k)
            )
            w[mine][:, blocks[j]] = -np.einsum("abg,bcg->acg", d_inv, acc)
    return w


if __name__ == "__main__":
    raise SystemExit(main())
