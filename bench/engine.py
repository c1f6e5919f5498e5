"""Benchmark: fast engine vs the scipy backend on the same model and patients.

Not a test: it measures, checks agreement and prints. Run ``make bench`` or
``python bench/engine.py [--n-patients 10000] [--n-scipy 100] [--n-reference 20]
[--json PATH]`` (``--json`` keeps the table for the README, as ``make bench`` does).

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
import datetime
import json
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mscsim.analysis.metrics import worst_relative_error
from mscsim.engine import FastSolver, ScipySolver, SimulationResult, Solver, simulate
from mscsim.io import atomic_path, load_scenario
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
OMEGA = 0.3  # SD of the log of each varied parameter (30% CV)
TARGET_RATIO = 100.0
TARGET_ERROR = 1e-5
TARGET_PATIENTS = 10_000
FAST_SOLVER = FastSolver()
SCIPY_SOLVER = ScipySolver()


def reference_solver(rtol: float) -> ScipySolver:
    """Return the tight solve the errors are measured against (atol 100 rtol)."""
    return ScipySolver(rtol=rtol, atol=rtol * 1e2)


def patient_params(base: dict[str, np.ndarray], n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = dict(base)
    for name in VARIED:
        params[name] = base[name] * np.exp(OMEGA * rng.standard_normal(n) - OMEGA**2 / 2)
    capacity = base["target_capacity_cells"]
    if np.all(np.isfinite(capacity)):
        params["target_capacity_cells"] = capacity * np.exp(OMEGA * rng.standard_normal(n))
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
    """Largest ``|a - ref| / max(|ref|, 1e-6 peak)`` over outputs, patients and times."""
    return max(worst_relative_error(a.output(k), v) for k, v in ref.outputs.items())


@dataclass
class Row:
    """Measurements of one scenario."""

    label: str
    scenario: str
    donor: str | None
    n_patients: int
    n_scipy: int
    fast_s: float
    scipy_s: float
    fast_steps: int
    error_fast: float
    error_scipy: float

    @property
    def ratio(self) -> float:
        """Fast throughput over scipy throughput (per patient)."""
        return (self.n_patients / self.fast_s) / (self.n_scipy / self.scipy_s)

    @property
    def met(self) -> bool:
        """Whether the speed and error targets are met, at a large enough run."""
        return (
            self.ratio >= TARGET_RATIO
            and self.error_fast <= TARGET_ERROR
            and self.n_patients >= TARGET_PATIENTS
        )


def measure(label: str, path: Path, donor: str | None, args: argparse.Namespace) -> Row:
    """Run both solvers and the reference on one scenario."""
    n = args.n_patients
    scenario = load_scenario(path)
    if donor is not None:
        product = scenario.product.model_copy(update={"donor": donor})
        scenario = scenario.model_copy(update={"product": product})
    # The engine benchmark measures cell kinetics alone (the disease adds nonlinear PD).
    problem = problem_from_scenario(scenario, model=CellKinetics())
    params = patient_params(dict(problem.params), n, args.seed)

    fast, fast_s = run(problem, params, n, FAST_SOLVER)
    _, scipy_s = run(problem, params, args.n_scipy, SCIPY_SOLVER)
    m = args.n_reference
    tight, _ = run(problem, params, m, reference_solver(args.reference_rtol))
    fast_ref, _ = run(problem, params, m, FAST_SOLVER)
    lsoda_ref, _ = run(problem, params, m, SCIPY_SOLVER)
    ref_idx = np.arange(m)
    # The fast engine's result for a patient does not depend on its batch.
    np.testing.assert_allclose(fast_ref.states, fast.states[:, ref_idx], rtol=1e-12)
    return Row(
        label=label,
        scenario=path.relative_to(EXAMPLES.parent).as_posix(),
        donor=donor,
        n_patients=n,
        n_scipy=args.n_scipy,
        fast_s=fast_s,
        scipy_s=scipy_s,
        fast_steps=fast.n_steps,
        error_fast=relative_error(fast_ref, tight),
        error_scipy=relative_error(lsoda_ref, tight),
    )


def print_row(row: Row, args: argparse.Namespace) -> None:
    """Print one scenario's measurements and verdict."""
    n = row.n_patients
    print(f"\n{row.label}")
    print(
        f"  fast : {n / row.fast_s:12,.0f} patients/s  ({row.fast_s / n * 1e3:.4f} ms/patient, "
        f"{row.fast_steps} steps)"
    )
    print(
        f"  scipy: {row.n_scipy / row.scipy_s:12,.0f} patients/s  "
        f"({row.scipy_s / row.n_scipy * 1e3:.2f} ms/patient)"
    )
    print(f"  ratio: {row.ratio:,.0f}x")
    print(
        f"  max relative error vs rtol {args.reference_rtol:g} solve: fast {row.error_fast:.1e}, "
        f"scipy (rtol 1e-6) {row.error_scipy:.1e}"
    )
    print(
        f"  targets (>= 100x at >= 1e4 patients, error <= 1e-5): {'met' if row.met else 'MISSED'}"
    )


def write_summary(path: Path, rows: Sequence[Row], args: argparse.Namespace, mib: float) -> None:
    """Write the measured table as JSON (atomically), for the README's generated block."""
    summary = {
        "command": " ".join(["python bench/engine.py", *sys.argv[1:]]),
        "date": datetime.date.today().isoformat(),
        "n_patients": args.n_patients,
        "n_scipy": args.n_scipy,
        "n_reference": args.n_reference,
        "seed": args.seed,
        "omega": OMEGA,
        "varied": list(VARIED),
        "fast_solver": repr(FAST_SOLVER),
        "scipy_solver": repr(SCIPY_SOLVER),
        "reference_solver": repr(reference_solver(args.reference_rtol)),
        "target_ratio": TARGET_RATIO,
        "target_error": TARGET_ERROR,
        "target_patients": TARGET_PATIENTS,
        "peak_mib": round(mib),
        "rows": [
            {
                "scenario": r.label,
                "file": r.scenario,
                "donor": r.donor,
                "fast_ms": r.fast_s / r.n_patients * 1e3,
                "scipy_ms": r.scipy_s / r.n_scipy * 1e3,
                "ratio": r.ratio,
                "fast_steps": r.fast_steps,
                "error_fast": r.error_fast,
                "error_scipy": r.error_scipy,
                "met": r.met,
            }
            for r in rows
        ],
    }
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(summary, indent=2) + "\n", "utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n-patients", type=int, default=10_000)
    parser.add_argument("--n-scipy", type=int, default=100)
    parser.add_argument("--n-reference", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--reference-rtol", type=float, default=1e-12)
    parser.add_argument("--json", type=Path, default=None, help="write the table here")
    args = parser.parse_args()
    print(
        f"fast engine on {args.n_patients} patients; scipy backend on {args.n_scipy}; "
        f"tight reference on {args.n_reference}"
    )
    rows = []
    for label, (path, donor) in SCENARIOS.items():
        rows.append(measure(label, path, donor, args))
        print_row(rows[-1], args)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory: {peak_mib:,.0f} MiB")
    if args.json is not None:
        write_summary(args.json, rows, args, peak_mib)
    return 0 if all(r.met for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
