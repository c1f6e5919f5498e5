"""Run fuzz cases in worker processes and judge what the command did.

A case passes when the command either

* exits 0, prints nothing but ``warning:`` lines on stderr, leaves no temporary
  file, and every cell count in the tables it wrote is finite and >= 0 (a table
  without ``time_day`` may leave a count empty where it does not apply), and any
  JSON it wrote or printed is strict JSON, or
* refuses: exits 2 with ``warning:`` lines and then exactly one ``error:`` line on
  stderr, and leaves no file or directory behind (``qc`` may exit 1 for a lot
  that fails release, also leaving nothing).

It fails on a traceback, a hang (no answer within the time limit), a crash of the
worker, any other exit status or stderr, a bad value, or a leftover file.

Each worker process runs one case at a time in a fresh temporary directory,
under an address-space limit (an absurd request fails fast instead of swapping)
and a timer; a worker that does not answer is killed and replaced.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import multiprocessing as mp
import os
import re
import resource
import shlex
import shutil
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from types import FrameType
from typing import Any

from tests.fuzz.generate import Case

__all__ = [
    "PROBLEMS",
    "Outcome",
    "describe",
    "execute",
    "failure_class",
    "run_cases",
    "save_case",
    "unnamed",
]

# Every way a case can fail, in the order the summary reports them.
PROBLEMS = ("traceback", "hang", "crash", "leftover", "refusal", "exit", "stderr", "values")

_TEMPORARY = re.compile(r"(^\.|\.part$|\.tmp$)")
_HEAVY_MODULES = (
    "pandas",
    "pyarrow.parquet",
    "scipy.integrate",
    "scipy.stats",
    "matplotlib.pyplot",
    "statsmodels.api",
)


@dataclass(frozen=True)
class Outcome:
    """What one case did and which checks it failed.

    Attributes
    ----------
    ident : int
        The case's ``ident``.
    status : str
        ``ok`` (exit 0), ``refused`` (exit 2, or ``qc`` exit 1) or ``failed``.
    problems : tuple of str
        Names from :data:`PROBLEMS` for a failed case.
    exit_code : int or None
        ``None`` for a hang or crash.
    detail : str
        The first problem explained, or the error line of a refusal.
    stdout, stderr, traceback : str
        What the command printed; the traceback of an uncaught exception.
    seconds : float
        Wall time of the command.
    """

    ident: int
    status: str
    problems: tuple[str, ...] = ()
    exit_code: int | None = None
    detail: str = ""
    stdout: str = ""
    stderr: str = ""
    traceback: str = ""
    seconds: float = 0.0


class _Timeout(BaseException):
    """Raised in a worker when its case runs past the time limit (escapes CliRunner)."""


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _materialise(case: Case, root: Path) -> None:
    for name, content in case.files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            path.mkdir(exist_ok=True)
        else:
            path.write_bytes(content)


def _tree(root: Path) -> set[str]:
    """Every file and directory below ``root``, hidden ones included."""
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(folder, name), root))
    return found


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _strict_json(text: str) -> str | None:
    """Return why ``text`` is not strict JSON (NaN and Infinity are not), else None."""
    try:
        json.loads(text, parse_constant=_reject_constant)
    except ValueError as err:
        return str(err)
    return None


def _bad_cells(path: Path) -> str | None:
    """Return the first cell count in a written table that is not finite and >= 0.

    Cell counts are the numeric columns named ``*cells*``, and the rows of a long
    table (``--summary``) whose ``output`` names cells.
    """
    import numpy as np
    import pandas as pd

    try:
        frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    except Exception as err:
        return f"{path.name}: cannot be read back ({type(err).__name__}: {err})"
    blocks = [frame[[c for c in frame.columns if "cells" in str(c)]]]
    if "output" in frame.columns:
        rows = frame[frame["output"].astype(str).str.contains("cells")]
        blocks.append(rows.drop(columns=["output", "time_day"], errors="ignore"))
    # A time course has a count at every time; a per-regimen or per-dose table
    # leaves a cell empty (NaN) where a figure does not apply (an untreated arm).
    course = "time_day" in frame.columns
    for block in blocks:
        numbers = block.select_dtypes("number").to_numpy(dtype=float)
        bad = (~np.isfinite(numbers) if course else np.isinf(numbers)) | (numbers < -1e-9)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            name = block.select_dtypes("number").columns[j]
            return f"{path.name}: {name} = {numbers[i, j]!r} in row {i}"
    return None


def _stderr_problem(lines: list[str], *, refusal: bool) -> str | None:
    """Check stderr: ``warning:`` lines, then (for a refusal) exactly one ``error:`` line."""
    body = lines[:-1] if refusal else lines
    stray = [ln for ln in body if not ln.startswith("warning:")]
    if stray:
        return f"{len(lines)} stderr line(s), not a warning: {stray[0][:200]!r}"
    if refusal and (not lines or not lines[-1].startswith("error: ")):
        return f"no 'error: ' line last on stderr: {lines[-1][:200]!r}" if lines else "no stderr"
    return None


def _judge(case: Case, result: Any, new: set[str], root: Path, seconds: float) -> Outcome:
    """Apply the checks to a finished command."""
    code = int(result.exit_code)
    stdout, stderr = result.stdout, result.stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    found: list[tuple[str, str]] = []
    trace = ""
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        trace = "".join(traceback.format_exception(*result.exc_info))
        found.append(("traceback", f"{type(exc).__name__}: {str(exc)[:300]}"))
    elif "Traceback (most recent call last)" in stdout + stderr:
        found.append(("traceback", "a traceback was printed"))
    qc_failed_lot = code == 1 and case.args[:1] == ("qc",)
    if code == 0:
        temporary = sorted(p for p in new if _TEMPORARY.search(Path(p).name))
        if temporary:
            found.append(("leftover", f"temporary file(s) after success: {temporary[:5]}"))
        if (why := _stderr_problem(lines, refusal=False)) is not None:
            found.append(("stderr", why))
        for rel in sorted(new):
            path = root / rel
            if path.is_file() and path.suffix.lower() in (".csv", ".parquet"):
                why = _bad_cells(path)
            elif path.is_file() and path.suffix.lower() == ".json":
                why = _strict_json(path.read_text(encoding="utf-8", errors="replace"))
            else:
                continue
            if why is not None:
                found.append(("values", why))
        json_out = "--json" in case.args and "--help" not in case.args
        if json_out and (why := _strict_json(stdout)) is not None:
            found.append(("values", f"--json output: {why}"))
    elif code == 2 or qc_failed_lot:
        if new:
            found.append(("leftover", f"left after exit {code}: {sorted(new)[:5]}"))
        if (why := _stderr_problem(lines, refusal=code == 2)) is not None:
            found.append(("refusal", why))
    elif not found:
        found.append(("exit", f"exit status {code}"))
    if found:
        status, detail = "failed", found[0][1]
    else:
        status = "ok" if code == 0 else "refused"
        detail = lines[-1] if code == 2 else ""
    return Outcome(
        ident=case.ident,
        status=status,
        problems=tuple(dict.fromkeys(p for p, _ in found)),
        exit_code=code,
        detail=detail,
        stdout=stdout[-20_000:],
        stderr=stderr[-20_000:],
        traceback=trace[-20_000:],
        seconds=seconds,
    )


def execute(case: Case, timeout: float) -> Outcome:
    """Run one case in a fresh temporary directory (the working directory) and judge it."""
    from typer.testing import CliRunner

    from mscsim.cli.main import app

    root = Path(tempfile.mkdtemp(prefix=f"mscsim-fuzz-{case.ident}-"))
    cwd = os.getcwd()
    start = time.perf_counter()
    try:
        _materialise(case, root)
        before = _tree(root)
        os.chdir(root)
        start = time.perf_counter()
        with _deadline(timeout):
            result = CliRunner().invoke(app, list(case.args))
        seconds = time.perf_counter() - start
        return _judge(case, result, _tree(root) - before, root, seconds)
    except _Timeout:
        return Outcome(
            ident=case.ident,
            status="failed",
            problems=("hang",),
            detail=f"still running after {timeout:g} s",
            seconds=time.perf_counter() - start,
        )
    finally:
        os.chdir(cwd)
        shutil.rmtree(root, ignore_errors=True)


def _isolate(memory_bytes: int) -> None:
    """Make a forked worker look like a fresh interpreter, with a memory limit."""
    os.environ["MPLBACKEND"] = "Agg"
    warnings.resetwarnings()
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning):
        warnings.simplefilter("ignore", category)
    warnings.simplefilter("ignore", ResourceWarning)
    if "numpy" in sys.modules:
        sys.modules["numpy"].seterr(all="warn", under="ignore")
    for name in _HEAVY_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    with open("/proc/self/status", encoding="ascii") as status:
        used = next(int(ln.split()[1]) * 1024 for ln in status if ln.startswith("VmSize:"))
    limit = used + memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _serve(conn: Connection, timeout: float, memory_bytes: int) -> None:
    _isolate(memory_bytes)
    conn.send("ready")
    while (case := conn.recv()) is not None:
        conn.send(execute(case, timeout))


@dataclass
class _Worker:
    conn: Connection
    process: Any
    case: Case | None = None
    deadline: float = 0.0
    ready: bool = False

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


@dataclass
class _Pool:
    jobs: int
    timeout: float
    memory_bytes: int
    workers: list[_Worker] = field(default_factory=list)

    def spawn(self) -> _Worker:
        ctx = mp.get_context("fork")
        parent, child = ctx.Pipe()
        process = ctx.Process(
            target=_serve, args=(child, self.timeout, self.memory_bytes), daemon=True
        )
        process.start()
        child.close()
        worker = _Worker(parent, process)
        self.workers.append(worker)
        return worker

    def replace(self, worker: _Worker) -> None:
        worker.process.kill()
        worker.process.join()
        worker.conn.close()
        self.workers.remove(worker)
        self.spawn()


def run_cases(
    cases: list[Case],
    *,
    jobs: int = 1,
    timeout: float = 20.0,
    memory_gib: float = 3.0,
    grace: float = 30.0,
    on_outcome: Callable[[Case, Outcome], None] | None = None,
) -> list[Outcome]:
    """Run ``cases`` on ``jobs`` worker processes; return their outcomes in case order.

    Parameters
    ----------
    cases : list of Case
    jobs : int
        Worker processes.
    timeout : float
        Seconds a case may run; past it the case is a hang.
    memory_gib : float
        Address space a worker may add to what it holds after start-up.
    grace : float
        Seconds past ``timeout`` after which a worker that does not answer (stuck
        outside Python, where the timer cannot stop it) is killed.
    on_outcome : callable, optional
        Called with each case and its outcome as it finishes.
    """
    pool = _Pool(jobs, timeout, int(memory_gib * 2**30))
    pending = list(reversed(cases))
    outcomes: dict[int, Outcome] = {}

    def finish(case: Case, outcome: Outcome) -> None:
        outcomes[case.ident] = outcome
        if on_outcome is not None:
            on_outcome(case, outcome)

    for _ in range(max(1, min(jobs, len(cases)))):
        pool.spawn()
    try:
        while pending or any(w.case is not None for w in pool.workers):
            for worker in pool.workers:
                if worker.ready and worker.case is None and pending:
                    worker.case = pending.pop()
                    worker.deadline = time.monotonic() + timeout + grace
                    worker.conn.send(worker.case)
            for conn in wait([w.conn for w in pool.workers], timeout=1.0):
                worker = next(w for w in pool.workers if w.conn is conn)
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    if worker.case is not None:
                        worker.process.join(5)
                        code = worker.process.exitcode
                        died = f"worker died (exit {code})"
                        finish(
                            worker.case,
                            Outcome(worker.case.ident, "failed", ("crash",), detail=died),
                        )
                    pool.replace(worker)
                    continue
                if message == "ready":
                    worker.ready = True
                elif worker.case is not None:
                    finish(worker.case, message)
                    worker.case = None
            now = time.monotonic()
            for worker in list(pool.workers):
                if worker.case is not None and now > worker.deadline:
                    killed = f"killed after {timeout + grace:g} s"
                    finish(
                        worker.case, Outcome(worker.case.ident, "failed", ("hang",), detail=killed)
                    )
                    pool.replace(worker)
    finally:
        for worker in pool.workers:
            worker.stop()
    return [outcomes[c.ident] for c in cases]


def _normalise(text: str) -> str:
    """Strip what varies between cases of one defect: quoted values and numbers."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", text)
    text = re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "N", text)
    return text[:160]


def unnamed(case: Case, outcome: Outcome) -> str | None:
    """Why a refusal of a one-value mutation does not name the field and the value.

    The error line should hold the key or flag, and the value as written (up to
    40 characters; a number may also appear as Python writes it). Returns None
    when it does, or when the case is not such a refusal. A refusal may have a
    good reason to name another field, so this is for review, not a failure.
    """
    if case.target is None or outcome.status != "refused" or outcome.exit_code != 2:
        return None
    key, typed = case.target
    line = outcome.detail
    if key not in line:
        return f"does not name {key}"
    if len(typed) > 40:
        return None
    forms = {typed, repr(typed), typed.strip('"'), repr(typed.strip('"'))}
    with contextlib.suppress(ValueError):
        forms.add(repr(float(typed)))
    if not any(form and form in line for form in forms):
        return f"does not show {key} = {typed} as written"
    return None


def failure_class(case: Case, outcome: Outcome) -> tuple[str, str, str]:
    """A key grouping failures of one defect: command, problem and where or what.

    A traceback is keyed by its exception type and innermost mscsim frame, other
    problems by their normalised detail.
    """
    problem = outcome.problems[0] if outcome.problems else outcome.status
    command = case.args[0] if case.args else ""
    if problem == "traceback" and outcome.traceback:
        frames = re.findall(r'File "([^"]*mscsim[^"]*)", line \d+, in (\w+)', outcome.traceback)
        where = f"{Path(frames[-1][0]).name}:{frames[-1][1]}" if frames else "?"
        kind = outcome.detail.split(":", 1)[0]
        return command, problem, f"{kind} at {where}"
    return command, problem, _normalise(outcome.detail)


def save_case(case: Case, outcome: Outcome, directory: Path) -> Path:
    """Write a case's files, its command (``run.sh``) and what happened, to reproduce it."""
    folder = directory / f"case-{case.ident:05d}"
    files = folder / "files"
    files.mkdir(parents=True, exist_ok=True)
    _materialise(case, files)
    run = folder / "run.sh"
    run.write_text(f'#!/bin/sh\ncd "$(dirname "$0")/files" && {case.command_line}\n')
    run.chmod(0o755)
    report = [
        f"command: {case.command_line}",
        f"mutations: {'; '.join(case.mutations)}",
        f"problems: {', '.join(outcome.problems)}",
        f"exit: {outcome.exit_code}",
        f"detail: {outcome.detail}",
        "--- stderr",
        outcome.stderr,
        "--- traceback",
        outcome.traceback,
        "--- stdout",
        outcome.stdout,
    ]
    (folder / "outcome.txt").write_text("\n".join(report), encoding="utf-8")
    return folder


def describe(case: Case) -> str:
    """The case's command with its mutations, for a failure message."""
    args = [a if len(a) <= 60 else a[:20] + "..." for a in case.args]
    return f"case {case.ident}: {shlex.join(args)}  [{'; '.join(case.mutations)}]"
