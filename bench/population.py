"""Benchmark: virtual populations and trial replicates (not a test; it measures and prints).

Run ``python bench/population.py [--n-patients 100000] [--n-scipy 20] [--replicates 1000]
[--chunk-size 5000] [--parts speed,stream,trial]``.

- ``speed``: a population of the SCA example (``examples/sca_uc_msc_iv.toml``
  with a ``[population]`` of seed 1: default variability, lots, weights) over
  365 days with daily outputs, in chunks, with the fast engine (at its default
  and at the 0.5-d step virtual trials use) and with the scipy backend on a
  subset: per-patient time and their ratio.
- ``stream``: the same population written by ``mscsim simulate ... -o
  out.parquet`` (a child process): its time and peak resident memory.
- ``trial``: ``examples/sca_trial.toml`` (10 treated + 5 placebo) replicated
  ``--replicates`` times, and its time per trial patient against that of
  simulating its arm scenario (``examples/sca_trial_arm.toml``, default solver)
  for as many patients.

Targets (issue): 1e5 patients in <= 5 s and >= 300x the scipy backend's
per-patient throughput; 1,000 trial replicates in <= 10 s; the population
streamed to Parquet with peak resident memory <= 2 GiB; the trial's time per
patient within 2x of simulate's. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mscsim.analysis.trial import run_trial
from mscsim.engine import FastSolver, ScipySolver, Solver
from mscsim.io import load_scenario, load_trial
from mscsim.population import simulate_population
from mscsim.problem import InProcess
from mscsim.spec.population import PopulationSpec
from mscsim.spec.scenario import Scenario

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PARTS = ("speed", "stream", "trial")
MAX_STREAM_RSS_BYTES = 2 * 2**30
TRIAL_RATIO = 2.0


def sca_population() -> Scenario:
    scenario = load_scenario(EXAMPLES / "sca_uc_msc_iv.toml")
    return scenario.model_copy(update={"population": PopulationSpec(seed=1)})


def time_population(
    scenario: Scenario, n: int, solver: Solver, executor: InProcess | None = None
) -> float:
    start = time.perf_counter()
    for _ in simulate_population(scenario, n_patients=n, solver=solver, executor=executor):
        pass  # each chunk is dropped once simulated: memory stays bounded
    return time.perf_counter() - start


def speed(n: int, n_scipy: int) -> bool:
    """Print the fast engine's per-patient time against the scipy backend's."""
    print(f"SCA example population, 365 daily outputs: fast on {n}, scipy on {n_scipy}")
    scenario = sca_population()
    default = FastSolver()
    fast_default = time_population(scenario, n, default)
    fast_trial_step = time_population(scenario, n, FastSolver(max_step_day=0.5))
    scipy_s = time_population(scenario, n_scipy, ScipySolver(), InProcess(chunk_size=n_scipy))
    per_scipy = scipy_s / n_scipy
    step = "" if default.max_step_day is None else f", step {default.max_step_day * 24:g} h"
    ok = True
    for label, seconds in (
        (f"fast{step} (default)", fast_default),
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
    return ok


def run_cli(args: list[str]) -> tuple[float, int]:
    """Run ``mscsim ARGS`` in a child process; return its wall time and peak RSS (bytes)."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        child = subprocess.Popen(  # noqa: S603 - this interpreter, mscsim, our arguments
            [sys.executable, "-m", "mscsim", *args], stdout=subprocess.DEVNULL, stderr=errors
        )
        _, status, usage = os.wait4(child.pid, 0)  # this child's own resource usage
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"mscsim {' '.join(args)} failed:\n{errors.read().decode()}")
    return seconds, usage.ru_maxrss * 1024  # kilobytes on Linux


def stream(n: int, chunk_size: int) -> bool:
    """Print the time and peak memory of ``mscsim simulate`` writing ``n`` patients to Parquet."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        shutil.copy(EXAMPLES / "uc_msc_lot.toml", work)  # the scenario names its lot file
        text = (EXAMPLES / "sca_uc_msc_iv.toml").read_text(encoding="utf-8")
        (work / "sca.toml").write_text(text + "\n[population]\nseed = 1\n", encoding="utf-8")
        out = work / "out.parquet"
        command = ["simulate", str(work / "sca.toml"), "-o", str(out)]
        seconds, peak = run_cli([*command, "--n-patients", str(n), "--chunk-size", str(chunk_size)])
        size = out.stat().st_size
    met = peak <= MAX_STREAM_RSS_BYTES
    print(
        f"\nmscsim simulate (SCA example, [population] seed 1) --n-patients {n} "
        f"--chunk-size {chunk_size} -o out.parquet: {seconds:.1f} s "
        f"({seconds / n * 1e3:.2f} ms/patient), {size / 2**20:,.0f} MiB written, "
        f"peak resident memory {peak / 2**20:,.0f} MiB - {'met' if met else 'MISSED'} (<= 2 GiB)"
    )
    return met


def trial(replicates: int) -> bool:
    """Print the trial's time (target per 1,000 replicates) and per patient against simulate's."""
    spec = load_trial(EXAMPLES / "sca_trial.toml")
    start = time.perf_counter()
    result = run_trial(spec, replicates=replicates)
    trial_s = time.perf_counter() - start
    met = trial_s <= 10 * replicates / 1000
    print(
        f"\nsca_trial.toml x {replicates} replicates: {trial_s:.1f} s, "
        f"power {result.summary.power:.3f} - {'met' if met else 'MISSED'} (<= 10 s per 1,000)"
    )
    patients = replicates * sum(arm.n for arm in spec.arm)
    arm = load_scenario(EXAMPLES / "sca_trial_arm.toml")
    simulate_s = time_population(arm, patients, FastSolver())
    per_trial, per_simulate = trial_s / patients, simulate_s / patients
    ratio = per_trial / per_simulate
    close = ratio <= TRIAL_RATIO
    print(
        f"  per trial patient {per_trial * 1e3:.2f} ms ({replicates} x {patients // replicates} "
        f"patients); simulate sca_trial_arm.toml ({patients} patients, default solver) "
        f"{per_simulate * 1e3:.2f} ms/patient: ratio {ratio:.2f} - "
        f"{'met' if close else 'MISSED'} (<= {TRIAL_RATIO:g}x)"
    )
    return met and close


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-patients", type=int, default=100_000)
    parser.add_argument("--n-scipy", type=int, default=20)
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--chunk-size", type=int, default=5000, help="of the streamed run")
    parser.add_argument("--parts", default=",".join(PARTS), help="any of speed,stream,trial")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if not parts <= set(PARTS):
        parser.error(f"--parts: one or more of {','.join(PARTS)}")
    ok = True
    if "speed" in parts:
        ok &= speed(args.n_patients, args.n_scipy)
    if "stream" in parts:
        ok &= stream(args.n_patients, args.chunk_size)
    if "trial" in parts:
        ok &= trial(args.replicates)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory: {peak_mib:,.0f} MiB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
