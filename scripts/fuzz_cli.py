"""Fuzz the ``mscsim`` command line with thousands of mutated inputs.

Each case is a mutated copy of an example file or command line (see
``tests/fuzz/generate.py``); it must end in a clean result or a one-line refusal,
never a traceback, a hang or a file left behind (``tests/fuzz/oracle.py``).
Failing cases are written to ``--out`` with their files and a ``run.sh``.

Usage::

    python scripts/fuzz_cli.py --n 2000 --seed 0 --jobs 2
    python scripts/fuzz_cli.py --seed 0 --case 17 --case 402   # reproduce cases

Exits 1 when any case fails.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz.generate import Case, generate_case, generate_cases
from tests.fuzz.oracle import (
    PROBLEMS,
    Outcome,
    failure_class,
    run_cases,
    save_case,
    unnamed,
)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="number of cases (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="sequence of cases (default 0)")
    parser.add_argument("--start", type=int, default=0, help="first case index (default 0)")
    parser.add_argument("--case", type=int, action="append", help="run only this case")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per case")
    parser.add_argument("--memory-gib", type=float, default=3.0, help="memory per worker")
    parser.add_argument(
        "--out", type=Path, default=Path("fuzz-failures"), help="where failing cases go"
    )
    return parser.parse_args(argv)


def _summary(outcomes: list[Outcome], seconds: float) -> str:
    counts = collections.Counter(o.status for o in outcomes)
    problems = collections.Counter(p for o in outcomes for p in o.problems)
    rows = [("cases", len(outcomes)), ("ok", counts["ok"]), ("refused", counts["refused"])]
    rows += [("failed", counts["failed"])] + [(p, problems[p]) for p in PROBLEMS]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v:>6}" for k, v in rows]
    lines.append(f"{'seconds':<{width}}  {seconds:>6.0f}")
    return "\n".join(lines)


def _classes(pairs: list[tuple[Case, Outcome]]) -> str:
    groups: dict[tuple[str, str, str], list[tuple[Case, Outcome]]] = {}
    for case, outcome in pairs:
        groups.setdefault(failure_class(case, outcome), []).append((case, outcome))
    lines = []
    for (command, problem, key), members in sorted(groups.items(), key=lambda g: -len(g[1])):
        case, _ = members[0]
        lines.append(f"{len(members):>5}  {command:<11} {problem:<9} {key}")
        lines.append(f"       e.g. case {case.ident}: {case.command_line[:110]}")
        lines.append(f"            {'; '.join(case.mutations)[:120]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the cases, print a summary and the failure classes; 1 if any case failed."""
    args = _arguments(argv)
    if args.case:
        cases = [generate_case(i, args.seed) for i in args.case]
    else:
        cases = generate_cases(args.n, args.seed, start=args.start)
    out = args.out / f"seed-{args.seed}"
    if not args.case:
        for stale in out.glob("case-*"):
            shutil.rmtree(stale)
    done = 0
    start = time.perf_counter()

    def report(case: Case, outcome: Outcome) -> None:
        nonlocal done
        done += 1
        if outcome.status == "failed":
            folder = save_case(case, outcome, out)
            sys.stderr.write(f"FAIL {', '.join(outcome.problems)}: {folder}\n")
        if done % 100 == 0:
            sys.stderr.write(f"{done}/{len(cases)} cases\n")

    outcomes = run_cases(
        cases,
        jobs=args.jobs,
        timeout=args.timeout,
        memory_gib=args.memory_gib,
        on_outcome=report,
    )
    sys.stdout.write(_summary(outcomes, time.perf_counter() - start) + "\n")
    failed = [(c, o) for c, o in zip(cases, outcomes, strict=True) if o.status == "failed"]
    if failed:
        sys.stdout.write(
            f"\nfailure classes (cases in {out}; run.sh in the venv reproduces one):\n"
        )
        sys.stdout.write(_classes(failed) + "\n")
    vague = [(c, o) for c, o in zip(cases, outcomes, strict=True) if unnamed(c, o)]
    if vague:
        sys.stdout.write(
            f"\n{len(vague)} refusal(s) of one bad value do not name the field and the value "
            "as written (for review; not counted as failures):\n"
        )
        for case, outcome in vague[:40]:
            sys.stdout.write(
                f"  case {case.ident}: {unnamed(case, outcome)}: {outcome.detail[:120]}\n"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
