"""Background jobs: a SQLite store and a runner of one worker process at a time.

A job is a row of ``jobs.sqlite`` in the service's data directory: its request,
state, progress and, once done, its result (JSON). The runner takes queued jobs
in order and runs each in a fresh interpreter (``python -m mscsim.web.worker``),
which reads its request
from the store and writes its progress there after every chunk of patients; a
cancellation is a flag in the row that the worker reads at the same moments.

States: ``queued`` -> ``running`` -> ``done`` | ``failed`` | ``cancelled``. A job
found ``running`` when a server starts was cut off by the previous server's end:
it becomes ``interrupted`` (finished results are kept across restarts).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import HTTPException

from mscsim.errors import MscsimError, MscsimWarning
from mscsim.web.errors import QueueFullError, in_query, json_safe
from mscsim.web.limits import Limits

__all__ = ["JobRunner", "JobStore", "run_job"]

STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
FINAL = frozenset({"done", "failed", "cancelled", "interrupted"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    request TEXT NOT NULL,
    policy TEXT NOT NULL,
    result TEXT,
    error TEXT,
    warnings TEXT,
    cancel INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    started REAL,
    finished REAL
)
"""


class Cancelled(Exception):  # noqa: N818 - a state, not a failure
    """Raised inside a worker when its job's cancellation flag is seen."""


@dataclass(frozen=True)
class JobStore:
    """The jobs of one data directory, in ``DATA_DIR/jobs.sqlite``."""

    path: Path

    @classmethod
    def open(cls, data_dir: Path) -> JobStore:
        """Open (or create) the store of ``data_dir``."""
        data_dir.mkdir(parents=True, exist_ok=True)
        store = cls(data_dir / "jobs.sqlite")
        with store.connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
        return store

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """Yield a connection in a transaction (committed on success)."""
        with closing(sqlite3.connect(self.path, timeout=30)) as db, db:
            db.row_factory = sqlite3.Row
            yield db

    def mark_interrupted(self) -> list[str]:
        """Mark the jobs left ``running`` by a previous server ``interrupted``; return their ids."""
        with self.connect() as db:
            ids = [r["id"] for r in db.execute("SELECT id FROM jobs WHERE state = 'running'")]
            db.execute(
                "UPDATE jobs SET state = 'interrupted', finished = ?, error = ? "
                "WHERE state = 'running'",
                (time.time(), "the server stopped while the job ran; start it again"),
            )
        return ids

    def add(self, kind: str, request: Any, policy: dict[str, bool]) -> str:
        """Queue a job; return its id."""
        job_id = uuid.uuid4().hex
        with self.connect() as db:
            db.execute(
                "INSERT INTO jobs (id, kind, state, request, policy, created) "
                "VALUES (?, ?, 'queued', ?, ?, ?)",
                (job_id, kind, json.dumps(request), json.dumps(policy), time.time()),
            )
        return job_id

    def count_open(self) -> int:
        """Jobs queued or running."""
        with self.connect() as db:
            row = db.execute(
                "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
            ).fetchone()
        return int(row[0])

    def get(self, job_id: str) -> sqlite3.Row | None:
        """Return a job's row, or None."""
        with self.connect() as db:
            row: sqlite3.Row | None = db.execute(
                "SELECT * FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return row

    def claim_next(self) -> str | None:
        """Mark the oldest queued job running; return its id (None if none is queued)."""
        with self.connect() as db:
            row = db.execute(
                "SELECT id FROM jobs WHERE state = 'queued' ORDER BY created LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET state = 'running', started = ? WHERE id = ? AND state = 'queued'",
                (time.time(), row["id"]),
            )
        return str(row["id"])

    def set_progress(self, job_id: str, fraction: float) -> bool:
        """Record a running job's progress; return whether it was asked to stop."""
        with self.connect() as db:
            db.execute(
                "UPDATE jobs SET progress = MAX(progress, ?) WHERE id = ? AND state = 'running'",
                (min(max(fraction, 0.0), 1.0), job_id),
            )
            row = db.execute("SELECT cancel FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row["cancel"])

    def finish(
        self,
        job_id: str,
        state: str,
        *,
        result: Any = None,
        error: str | None = None,
        shown: list[str] | None = None,
    ) -> None:
        """End a running job in ``state`` with its result or error."""
        with self.connect() as db:
            db.execute(
                "UPDATE jobs SET state = ?, result = ?, error = ?, warnings = ?, finished = ?, "
                "progress = CASE WHEN ? = 'done' THEN 1 ELSE progress END "
                "WHERE id = ? AND state = 'running'",
                (
                    state,
                    None if result is None else json.dumps(json_safe(result), allow_nan=False),
                    error,
                    json.dumps(shown or []),
                    time.time(),
                    state,
                    job_id,
                ),
            )

    def cancel(self, job_id: str) -> None:
        """Cancel a queued job at once; ask a running one to stop."""
        with self.connect() as db:
            db.execute(
                "UPDATE jobs SET state = 'cancelled', finished = ? "
                "WHERE id = ? AND state = 'queued'",
                (time.time(), job_id),
            )
            db.execute("UPDATE jobs SET cancel = 1 WHERE id = ? AND state = 'running'", (job_id,))


def _view(row: sqlite3.Row) -> dict[str, Any]:
    """Return a job as ``GET /api/jobs/{id}`` answers it."""
    out: dict[str, Any] = {
        "id": row["id"],
        "kind": row["kind"],
        "state": row["state"],
        "progress": row["progress"],
        "cancel_requested": bool(row["cancel"]),
        "created": row["created"],
        "started": row["started"],
        "finished": row["finished"],
        "error": row["error"],
        "warnings": json.loads(row["warnings"]) if row["warnings"] else [],
    }
    if row["state"] == "done" and row["result"] is not None:
        out["result"] = json.loads(row["result"])
    return out


class JobRunner:
    """Run a store's queued jobs one after another, each in its own process.

    Parameters
    ----------
    store : JobStore
    limits : Limits
        ``max_queued_jobs`` and ``job_chunk_size``.
    poll_seconds : float
        How often a finished worker and new jobs are looked for.
    """

    def __init__(self, store: JobStore, limits: Limits, *, poll_seconds: float = 0.1) -> None:
        self.store = store
        self.limits = limits
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._worker: subprocess.Popen[bytes] | None = None
        self._current: str | None = None

    def submit(self, kind: str, request: Any, policy: dict[str, bool]) -> dict[str, Any]:
        """Queue a job (refused when ``max_queued_jobs`` are open); answer its id and state."""
        if self.store.count_open() >= self.limits.max_queued_jobs:
            raise QueueFullError(
                f"jobs: {self.limits.max_queued_jobs} jobs are queued or running, the most this "
                "service holds (limit max_queued_jobs); wait for one to end or cancel one"
            )
        job_id = self.store.add(kind, request, policy)
        self._wake.set()
        return {"id": job_id, "state": "queued"}

    def state(self, job_id: str) -> dict[str, Any]:
        """Return a job's state (404 for an unknown id)."""
        row = self.store.get(job_id)
        if row is None:
            raise HTTPException(404, f"job = {job_id!r}: no such job")
        return _view(row)

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a job; answer its state (a running job stops after its chunk; 404 if unknown)."""
        self.store.cancel(job_id)  # changes no row of an unknown id
        return self.state(job_id)

    def start(self) -> None:
        """Start taking queued jobs (in a thread of this process)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="mscsim-jobs", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop: a running worker is ended and its job marked ``interrupted``."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self._worker is not None and self._worker.poll() is not None:
                self._reap()
            if self._worker is None:
                job_id = self.store.claim_next()
                if job_id is not None:
                    self._launch(job_id)
                    continue
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
        if self._worker is not None:
            self._worker.terminate()
            try:
                self._worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._worker.kill()
            self.store.mark_interrupted()
            self._worker = None

    def _launch(self, job_id: str) -> None:
        command = [sys.executable, "-m", "mscsim.web.worker", str(self.store.path), job_id]
        worker = subprocess.Popen(  # noqa: S603 - our own module; the id is ours (uuid4)
            [*command, str(self.limits.job_chunk_size)], stdin=subprocess.DEVNULL
        )
        self._worker, self._current = worker, job_id

    def _reap(self) -> None:
        """Mark a worker's job failed if the worker ended without saying how it ended."""
        assert self._worker is not None and self._current is not None  # noqa: S101
        code = self._worker.wait()
        row = self.store.get(self._current)
        if row is not None and row["state"] == "running":
            self.store.finish(
                self._current,
                "failed",
                error=f"job: its worker process stopped unexpectedly (exit code {code})",
            )
        self._worker, self._current = None, None


def run_job(db_path: str, job_id: str, chunk_size: int) -> None:
    """Run one job in this (worker) process and record how it ended."""
    store = JobStore(Path(db_path))
    row = store.get(job_id)
    if row is None or row["state"] != "running":
        return

    def progress(fraction: float) -> None:
        if store.set_progress(job_id, fraction):
            raise Cancelled

    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MscsimWarning)
            result = _run(
                row["kind"],
                json.loads(row["request"]),
                json.loads(row["policy"]),
                chunk_size,
                progress,
            )
    except Cancelled:
        store.finish(job_id, "cancelled", shown=_messages(caught))
    except MscsimError as err:
        store.finish(job_id, "failed", error=in_query(str(err)), shown=_messages(caught))
    except Exception as err:  # a bug: said in one line, no traceback in the store
        store.finish(job_id, "failed", error=f"internal error ({type(err).__name__})")
    else:
        store.finish(job_id, "done", result=result, shown=_messages(caught))


def _messages(caught: list[warnings.WarningMessage]) -> list[str]:
    return list(dict.fromkeys(str(w.message) for w in caught))


def _run(
    kind: str,
    request: Any,
    policy: dict[str, bool],
    chunk_size: int,
    progress: Callable[[float], None],
) -> dict[str, Any]:
    from mscsim.problem.executors import InProcess
    from mscsim.problem.policy import EvidencePolicy
    from mscsim.web.schemas import PopulationJob, job_request

    job = job_request(request)
    executor = InProcess(chunk_size)
    if isinstance(job, PopulationJob):
        return _population(job, EvidencePolicy(**policy), executor, progress)
    return _trial(job, executor, progress)


def _population(
    scenario: Any, policy: Any, executor: Any, progress: Callable[[float], None]
) -> dict[str, Any]:
    """Return percentiles over the population's patients, collected chunk by chunk."""
    from mscsim.population.run import PercentileSummary, simulate_population
    from mscsim.problem.build import problem_from_scenario

    n = scenario.simulation.n_patients
    typical = problem_from_scenario(scenario, policy=policy, n_patients=1)
    summary = PercentileSummary(n, typical.times_day, typical.model.output_names)
    progress(0.0)
    for chunk in simulate_population(scenario, executor=executor, policy=policy):
        summary.add(chunk.result)
        progress(summary.filled / n)
    return {"patients": n, "percentiles": summary.frame().to_dict(orient="records")}


def _trial(spec: Any, executor: Any, progress: Callable[[float], None]) -> dict[str, Any]:
    """Return a trial's summary and replicates; progress counts every population simulated."""
    from mscsim.analysis.trial import run_trial

    r = spec.trial.replicates
    # Each arm's patients are simulated treated and, but for a placebo arm, untreated.
    total = sum(r * arm.n * (1 if arm.placebo else 2) for arm in spec.arm)
    stage = {"offset": 0, "done": 0, "total": 0}

    def patients(done: int, of: int) -> None:
        if stage["done"] == stage["total"] and stage["total"]:
            stage["offset"] += stage["total"]
        stage["done"], stage["total"] = done, of
        progress(min((stage["offset"] + done) / total, 0.99))

    progress(0.0)
    result = run_trial(spec, executor=executor, progress=patients)
    return {
        "summary": result.summary.to_dict(),
        "replicates": result.replicates.to_dict(orient="records"),
    }
