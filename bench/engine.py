"""Benchmark: fast engine vs the scipy backend on the same model and patients.

Not a test: it measures, checks agreement and prints. Run ``make bench`` or
``python bench/engine.py [--n-patients 10000] [--n-scipy 100] [--n-reference 20]``.

For each example scenario it draws per-patient parameters (log-normal spread,
30% CV, on the lung, target and homing parameters and the capacity) so the fast
engine handles one matrix set per patient, then measures

- the fast engine on all patients and the scipy backend (LSODA, rtol 1e-6) on a
  subset, as patients per second and their ratio, in one process;
- the error of both against a tight solve (LSODA, rtol 1e-12, atol 1e-10; see
  ``--reference-rtol``) on a
  subset: the largest error relative to each value, or to 1e-6 of that output's
  peak for that patient, whichever is larger.

Targets: >= 100x per-patient throughput at >= 1e4 patients and error <= 1e-5
against a solve at rtol 1e-10 or tighter. The default reference is rtol 1e-12
because at 1e-10 LSODA's own error reaches ~1e-5 on the linear example (measured),
which would make the verdict depend on the reference. The exit status is 1 when a
target is missed.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

from mscsim.engine import FastSolver, ScipySolver, SimulationResult, Solver, simulate
from mscsim.io import load_scenario
from mscsim.models import CellKinetics
from mscsim.models.base import take_rows
from mscsim.problem import Problem, problem_from_scenario

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# label: (scenario file, donor or None to keep the file's)
SCENARIOS: dict[str, tuple[Path, str | None]] = {
    "SCA, UC-MSC IV x4, 365 d, autologous (linear)": (
        EXAMPLES / "sca_uc_msc_iv.toml",
        "autologous",
    ),
    "SCA, UC-MSC IV x4, 365 d, allogeneic (immune memory: nonlinear)": (
        EXAMPLES / "sca_uc_msc_iv.toml",
        None,
    ),
    "CLI, BM-MSC IM 1.4e8 > capacity, 42 d (nonlinear)": (EXAMPLES / "cli_bm_msc_im.toml", None),
}
VARIED = ("lung_half_life_days", "target_half_life_days", "homing_fraction")


def patient_params(base: dict[str, np.ndarray], n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = dict(base)
    for name in VARIED:
        params[name] = base[name] * np.exp(0.3 * rng.standard_normal(n) - 0.045)
    capacity = base["target_capacity_cells"]
    if np.all(np.isfinite(capacity)):
        params["target_capacity_cells"] = capacity * np.exp(0.3 * rng.standard_normal(n))
    return params


def subset(params: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return take_rows(params, idx)


def run(
    problem: Problem, params: dict[str, np.ndarray], n_first: int, solver: Solver
) -> tuple[SimulationResult, float]:
    """Simulate the first ``n_first`` patients; return the result and the seconds taken."""
    idx = np.arange(n_first)
    start = time.perf_counter()
    result = simulate(
        problem.model,
        problem.doses,
        times_day=problem.times_day,
        params=subset(params, idx),
        n_patients=n_first,
        solver=solver,
    )
    return result, time.perf_counter() - start


def relative_error(a: SimulationResult, ref: SimulationResult) -> float:
    worst = 0.0
    for name, values in ref.outputs.items():
        peak = np.max(np.abs(values), axis=1, keepdims=True)
        scale = np.maximum(np.abs(values), 1e-6 * peak)
        scale[scale == 0] = 1.0
        worst = max(worst, float(np.max(np.abs(a.output(name) - values) / scale)))
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-patients", type=int, default=10_000)
    parser.add_argument("--n-scipy", type=int, default=100)
    parser.add_argument("--n-reference", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--reference-rtol", type=float, default=1e-12)
    args = parser.parse_args()
    n = args.n_patients
    ok = True
    print(
        f"fast engine on {n} patients; scipy backend on {args.n_scipy}; "
        f"tight reference on {args.n_reference}"
    )
    for label, (path, donor) in SCENARIOS.items():
        scenario = load_scenario(path)
        if donor is not None:
            product = scenario.product.model_copy(update={"donor": donor})
            scenario = scenario.model_copy(update={"product": product})
        # The engine benchmark measures cell kinetics alone (the disease adds nonlinear PD).
        problem = problem_from_scenario(scenario, model=CellKinetics())
        params = patient_params(dict(problem.params), n, args.seed)

        fast, fast_s = run(problem, params, n, FastSolver())
        _, scipy_s = run(problem, params, args.n_scipy, ScipySolver())
        m = args.n_reference
        rtol = args.reference_rtol
        tight, _ = run(problem, params, m, ScipySolver(rtol=rtol, atol=rtol * 1e2))
        fast_ref, _ = run(problem, params, m, FastSolver())
        lsoda_ref, _ = run(problem, params, m, ScipySolver())
        ref_idx = np.arange(m)
        # The fast engine's result for a patient does not depend on its batch.
        np.testing.assert_allclose(fast_ref.states, fast.states[:, ref_idx], rtol=1e-12)

        fast_rate = n / fast_s
        scipy_rate = args.n_scipy / scipy_s
        ratio = fast_rate / scipy_rate
        err_fast = relative_error(fast_ref, tight)
        err_lsoda = relative_error(lsoda_ref, tight)
        met = ratio >= 100 and err_fast <= 1e-5 and n >= 10_000
        ok &= met
        print(f"\n{label}")
        print(
            f"  fast : {fast_rate:12,.0f} patients/s  ({fast_s / n * 1e3:.4f} ms/patient, "
            f"{fast.n_steps} steps)"
        )
        print(
            f"  scipy: {scipy_rate:12,.0f} patients/s  "
            f"({scipy_s / args.n_scipy * 1e3:.2f} ms/patient)"
        )
        print(f"  ratio: {ratio:,.0f}x")
        print(
            f"  max relative error vs rtol {args.reference_rtol:g} solve: fast {err_fast:.1e}, "
            f"scipy (rtol 1e-6) {err_lsoda:.1e}"
        )
        print(
            f"  targets (>= 100x at >= 1e4 patients, error <= 1e-5): {'met' if met else 'MISSED'}"
        )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory: {peak_mib:,.0f} MiB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
