"""Benchmark: the drivers' eigendecomposition, in closed form against LAPACK.

Not a test: it measures and prints. Run ``python bench/eig.py [--n-patients 10000]
[--repeats 5]``. On the 6-state benchmark's cell and factor kinetics (one
matrix per patient, drawn as ``bench/nonlinear.py`` draws its patients) it times,
in one process and on the same matrices,

- ``real_modes``: what the engine runs (the closed form for block triangular
  matrices, LAPACK for the matrices it leaves);
- the LAPACK path alone: batched :func:`numpy.linalg.eig`, then the condition
  number and the inverse of ``V`` (what ``real_modes`` ran before the closed form);
- batched :func:`numpy.linalg.eig` alone, and a plain loop of it, patient by patient;

and prints the best time of ``--repeats`` runs of each, and how far the closed
form is from LAPACK: the largest ``|V diag(lam) V^-1 - A|`` over ``|A|`` of each,
and the largest difference between their sorted eigenvalues.

Then ``V^-1`` alone, on the closed form's ``V``: by block forward substitution
(``_block_inverse``, what ``real_modes`` runs), by batched
:func:`numpy.linalg.inv` (what it ran before) and by a plain loop of it, with
the largest ``|V V^-1 - I|`` of each.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import nonlinear as nl

from mscsim.engine.adaptive import (
    _block_inverse,
    _lapack_modes,
    _structured_modes,
    _triangular_blocks,
    real_modes,
)
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
    inverses(a, args.repeats)
    return 0


def inverses(a: Array, repeats: int) -> None:
    """Time and check ``V^-1`` of the closed form's ``V`` three ways (the matrices it serves)."""
    blocks = _triangular_blocks(a[0] != 0.0)
    if blocks is None:
        return
    _, v, _, _, served = _structured_modes(a, blocks)
    v = v[served]
    stops = np.cumsum([b.size for b in blocks])
    modes = [slice(int(e) - b.size, int(e)) for b, e in zip(blocks, stops, strict=True)]
    by_entry = np.ascontiguousarray(np.moveaxis(v, 0, -1))  # (n, n, P), as real_modes holds it
    rows: list[tuple[str, Callable[[], Array]]] = [
        (
            "V^-1 by block substitution (_block_inverse)",
            lambda: np.moveaxis(_block_inverse(by_entry, blocks, modes), -1, 0),
        ),
        ("numpy.linalg.inv, batched", lambda: np.linalg.inv(v)),
        ("numpy.linalg.inv, patient by patient", lambda: np.stack([np.linalg.inv(m) for m in v])),
    ]
    eye = np.eye(v.shape[1])
    for name, run in rows:
        ms = best_ms(run, repeats)
        residual = np.abs(v @ run() - eye).max()
        print(f"{ms:9.2f} ms  {name}  (largest |V V^-1 - I| {residual:.1e})")


if __name__ == "__main__":
    raise SystemExit(main())
