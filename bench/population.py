"""Benchmark: virtual populations and trial replicates (not a test; it measures and prints).

Run ``python bench/population.py [--n-patients 100000] [--n-scipy 20] [--replicates 1000]``.

- A population of the SCA example (``examples/sca_uc_msc_iv.toml`` with a
  ``[population]`` of seed 1: default variability, lots, weights) over 365 days
  with daily outputs, in chunks, with the fast engine (at its default step and at
  the 0.5-d step virtual trials use) and with the scipy backend on a subset:
  per-patient time and their ratio.
- ``examples/sca_trial.toml`` (10 treated + 5 placebo) replicated ``--replicates``
  times.

Targets (issue): 1e5 patients in <= 5 s and >= 300x the scipy backend's
per-patient throughput; 1,000 trial replicates in <= 10 s. Exit status 1 when a
target is missed. Peak resident memory is printed (chunks of 5,000 patients keep
it bounded: only one chunk's states are held at a time).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

from mscsim.analysis.trial import run_trial
from mscsim.engine import FastSolver, ScipySolver, Solver
from mscsim.engine.fast import DEFAULT_MAX_STEP_DAY
from mscsim.io import load_scenario, load_trial
from mscsim.population import simulate_population
from mscsim.problem import InProcess
from mscsim.spec.population import PopulationSpec

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def time_population(n: int, solver: Solver, executor: InProcess | None = None) -> float:
    scenario = load_scenario(EXAMPLES / "sca_uc_msc_iv.toml")
    scenario = scenario.model_copy(update={"population": PopulationSpec(seed=1)})
    start = time.perf_counter()
    for _ in simulate_population(scenario, n_patients=n, solver=solver, executor=executor):
        pass  # each chunk is dropped once simulated: memory stays bounded
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-patients", type=int, default=100_000)
    parser.add_argument("--n-scipy", type=int, default=20)
    parser.add_argument("--replicates", type=int, default=1000)
    args = parser.parse_args()
    n = args.n_patients
    print(f"SCA example population, 365 daily outputs: fast on {n}, scipy on {args.n_scipy}")
    fast_default = time_population(n, FastSolver())
    fast_trial_step = time_population(n, FastSolver(max_step_day=0.5))
    scipy_s = time_population(args.n_scipy, ScipySolver(), InProcess(chunk_size=args.n_scipy))
    per_scipy = scipy_s / args.n_scipy
    ok = True
    for label, seconds in (
        (f"fast, step {DEFAULT_MAX_STEP_DAY * 24:g} h (default)", fast_default),
        ("fast, step 0.5 d (virtual trials)", fast_trial_step),
    ):
        ratio = per_scipy / (seconds / n)
        met = seconds <= 5 * n / 100_000 and ratio >= 300
        ok &= met
        print(
            f"  {label}: {seconds:.1f} s ({seconds / n * 1e3:.2f} ms/patient), "
            f"{ratio:,.0f}x scipy - {'met' if met else 'MISSED'}"
        )
    print(f"  scipy: {per_scipy * 1e3:.0f} ms/patient")

    spec = load_trial(EXAMPLES / "sca_trial.toml")
    start = time.perf_counter()
    result = run_trial(spec, replicates=args.replicates)
    trial_s = time.perf_counter() - start
    met = trial_s <= 10 * args.replicates / 1000
    ok &= met
    print(
        f"\nsca_trial.toml x {args.replicates} replicates: {trial_s:.1f} s, "
        f"power {result.summary.power:.3f} - {'met' if met else 'MISSED'} (<= 10 s per 1,000)"
    )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory: {peak_mib:,.0f} MiB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
