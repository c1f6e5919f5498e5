"""Fuzzed command lines: a clean result or one-line refusal, never a traceback or leftover.

The fast subset of ``scripts/fuzz_cli.py`` (which runs thousands of cases); the
other tests check that the fuzzing itself can find what it looks for.
"""

from __future__ import annotations

import json
import math
import time
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from tests.fuzz.generate import Case, _load_bases, generate_case, generate_cases
from tests.fuzz.oracle import _deadline, _judge, _Timeout, describe, run_cases
from tests.fuzz.toml_text import dumps

N_CASES = 150
SEED = 12


@pytest.mark.slow
def test_fuzzed_command_lines_exit_cleanly() -> None:
    cases = generate_cases(N_CASES, seed=SEED)
    outcomes = run_cases(cases, jobs=1, timeout=20.0)
    failures = [
        f"{describe(case)}\n    {', '.join(out.problems)}: {out.detail}"
        for case, out in zip(cases, outcomes, strict=True)
        if out.status == "failed"
    ]
    assert not failures, (
        f"{len(failures)} of {N_CASES} fuzzed command lines failed "
        f"(reproduce: python scripts/fuzz_cli.py --seed {SEED} --case N):\n" + "\n".join(failures)
    )


def test_the_fuzz_cases_cover_every_command_and_kind_of_mutation() -> None:
    cases = generate_cases(N_CASES, seed=SEED)
    assert {c.command for c in cases} >= {
        "simulate",
        "compare",
        "withdrawal",
        "trial",
        "qc",
        "export-sbml",
    }
    words = " ".join(m for c in cases for m in c.mutations)
    for kind in ("deleted", "unknown key", "= nan", "--", "/proc/", "a directory", "none"):
        assert kind in words


def test_a_case_depends_on_its_seed_and_index_only() -> None:
    assert generate_cases(5, seed=3, start=10)[2] == generate_case(12, seed=3)
    assert generate_case(12, seed=3) != generate_case(12, seed=4)


def test_the_example_files_survive_writing_them_back_as_toml() -> None:
    bases = _load_bases()
    docs = [*bases.scenarios.values(), *bases.lots.values(), *bases.trials.values()]
    assert len(docs) >= 8
    for doc in docs:
        assert tomllib.loads(dumps(doc)) == doc


def test_the_bases_are_cheap() -> None:
    for doc in _load_bases().scenarios.values():
        assert doc["simulation"]["horizon_days"] <= 30
        assert doc["simulation"].get("n_patients", 1) <= 3


def _result(
    code: int, stdout: str = "", stderr: str = "", exc: BaseException | None = None
) -> object:
    if exc is None and code != 0:
        exc = SystemExit(code)
    info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return SimpleNamespace(
        exit_code=code, stdout=stdout, stderr=stderr, exception=exc, exc_info=info
    )


CASE = Case(0, "simulate", ("simulate", "s.toml", "-o", "out.csv"), (), ("none",))


def _raised() -> BaseException:
    try:
        math.log(-1)
    except ValueError as err:
        return err
    raise AssertionError


@pytest.mark.parametrize(
    ("result", "new", "problem"),
    [
        (_result(1, exc=_raised()), set(), "traceback"),
        (_result(2, stderr="error: x = 1: must be > 0\n"), {"out.csv"}, "leftover"),
        (_result(2, stderr="error: x\n"), {"sub", "sub/.out.csv.1.part"}, "leftover"),
        (_result(0), {".out.csv.x.part"}, "leftover"),
        (_result(2, stderr="Usage: mscsim [OPTIONS]\n\nerror: No such option\n"), set(), "refusal"),
        (_result(2, stderr="error: a\nerror: b\n"), set(), "refusal"),
        (_result(2), set(), "refusal"),
        (_result(1), set(), "exit"),
        (_result(0, stderr="RuntimeWarning: overflow\n"), set(), "stderr"),
        (_result(0, stdout="Traceback (most recent call last):\n"), set(), "traceback"),
    ],
)
def test_the_oracle_finds_each_problem(
    tmp_path: Path, result: object, new: set[str], problem: str
) -> None:
    out = _judge(CASE, result, new, tmp_path, 0.0)
    assert out.status == "failed"
    assert problem in out.problems


@pytest.mark.parametrize(
    ("cells", "ok"),
    [([1e7, 0.0, 3.0], True), ([1e7, -1.0, 3.0], False), ([1e7, math.nan, 1], False),
     ([math.inf, 1, 1], False)],
)  # fmt: skip
def test_the_oracle_checks_every_cell_count_written(
    tmp_path: Path, cells: list[float], ok: bool
) -> None:
    pd.DataFrame({"time_day": [0, 1, 2], "cells_total": cells}).to_csv(tmp_path / "out.csv")
    out = _judge(CASE, _result(0), {"out.csv"}, tmp_path, 0.0)
    assert (out.status == "ok") is ok
    assert ok or out.problems == ("values",)


def test_the_oracle_wants_strict_json_from_json_flags(tmp_path: Path) -> None:
    case = Case(0, "models", ("models", "--json"), (), ("none",))
    assert _judge(case, _result(0, stdout=json.dumps({"a": 1})), set(), tmp_path, 0).status == "ok"
    bad = _judge(case, _result(0, stdout='{"a": NaN}'), set(), tmp_path, 0)
    assert bad.problems == ("values",)


def test_a_clean_refusal_and_a_failed_lot_pass(tmp_path: Path) -> None:
    refusal = _result(2, stderr="warning: w\nerror: x = 'a': must be a number\n")
    assert _judge(CASE, refusal, set(), tmp_path, 0).status == "refused"
    qc = Case(0, "qc", ("qc", "lot.toml"), (), ("none",))
    assert _judge(qc, _result(1), set(), tmp_path, 0).status == "refused"


def test_a_case_past_its_time_limit_is_stopped() -> None:
    start = time.monotonic()
    with pytest.raises(_Timeout), _deadline(0.05):
        while time.monotonic() - start < 30:
            pass
