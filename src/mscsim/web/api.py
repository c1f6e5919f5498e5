"""The ``/api`` routes: thin over mscsim's Python API, one answer per call.

Quick work (a dose verdict, one scenario, a comparison, a withdrawal) is answered
in the request, within :class:`~mscsim.web.limits.Limits`; populations and trials
run as jobs (:mod:`mscsim.web.jobs`). Options that change what the evidence
allows (``allow_beyond_evidence``, ``allow_failed_lot``) are query parameters,
as they are flags on the command line.
"""

from __future__ import annotations

import dataclasses
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request

from mscsim.errors import MscsimWarning
from mscsim.problem.policy import EvidencePolicy
from mscsim.web.errors import json_safe
from mscsim.web.schemas import (
    CompareRequest,
    DoseRequest,
    PopulationJob,
    TrialJob,
    WithdrawalRequest,
    job_request,
    parse_json,
    request_body_schema,
    validated,
)

if TYPE_CHECKING:
    from mscsim.spec.scenario import Scenario
    from mscsim.web.jobs import JobRunner
    from mscsim.web.limits import Limits

__all__ = ["computing", "router"]

T = TypeVar("T")

router = APIRouter(prefix="/api")

_COMPUTE = threading.Lock()
"""Held while a request computes: warnings are caught per call, and their filters are global."""


@contextmanager
def computing() -> Iterator[list[str]]:
    """Compute under the service's lock; yield the list the warnings raised are put in.

    Warnings are process-wide state in Python: catching them for one request while
    another runs would mix them up, so requests compute one at a time (the engine
    holds the interpreter's lock for most of a small solve anyway).
    """
    shown: list[str] = []
    with _COMPUTE, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MscsimWarning)
        yield shown
    for message in dict.fromkeys(str(w.message) for w in caught):
        shown.append(message)


async def json_body(request: Request) -> Any:
    """Return the request's body as parsed JSON (its size was checked on arrival)."""
    return parse_json(await request.body())


Body = Annotated[Any, Depends(json_body)]
AllowBeyond = Annotated[
    bool, Query(description="Simulate doses beyond the highest studied (with a warning).")
]
AllowFailedLot = Annotated[
    bool, Query(description="Simulate a lot that fails release (with a warning).")
]


def _evidence_policy(
    allow_beyond_evidence: AllowBeyond = False, allow_failed_lot: AllowFailedLot = False
) -> EvidencePolicy:
    """Return the policy a request's query parameters set, as the ``--allow-*`` flags do."""
    return EvidencePolicy(allow_beyond_evidence, allow_failed_lot)


Policy = Annotated[EvidencePolicy, Depends(_evidence_policy)]


def _limits(request: Request) -> Limits:
    limits: Limits = request.app.state.limits
    return limits


def _records(frame: Any) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json_safe(frame.to_dict(orient="records"))
    return records


def _answer(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    with computing() as shown:
        answer = run()
    return {**json_safe(answer), "warnings": shown}


@router.get("/parameters", summary="Every default parameter with its unit, range and source")
def parameters() -> dict[str, Any]:
    """Return the parameter library: value, unit, plausible range, evidence grade, source.

    Evidence grades: S seen in a source, S2 secondary, I inferred, G a modelling guess.
    """
    from mscsim.evidence.library import load_library

    return {"parameters": _records(load_library().to_frame())}  # no warning: no lock


@router.post(
    "/dose",
    summary="A dose against the evidence for its route",
    openapi_extra={"requestBody": request_body_schema(DoseRequest)},
)
def dose(body: Body) -> dict[str, Any]:
    """Resolve a dose to total cells and compare it with the doses studied for its route.

    The answer has the keys of ``mscsim dose --json``. A dose beyond the highest
    studied is a verdict here (``beyond_evidence: true``), not a refusal.
    """
    from mscsim.evidence.doses import assess_dose

    request = validated(DoseRequest, body)
    a = assess_dose(request.route, cells=request.total_cells, weight_kg=request.weight_kg)
    record: dict[str, Any] = json_safe(a.to_record())
    return record


def _scenario_schema() -> dict[str, Any]:
    from mscsim.spec.scenario import Scenario

    return request_body_schema(Scenario)


@router.post(
    "/simulate",
    summary="Simulate a scenario: one record per patient and output time",
    openapi_extra={"requestBody": _scenario_schema()},
)
def simulate(body: Body, request: Request, policy: Policy) -> dict[str, Any]:
    """Simulate a scenario given as JSON in the shape of a scenario file.

    ``records`` has the columns of the table ``mscsim simulate`` writes:
    ``patient_id``, ``time_day`` and every output of the model. Populations up to
    ``max_points`` records are answered here; larger ones run as jobs.
    """
    from mscsim.spec.scenario import Scenario

    spec = validated(Scenario, body)
    limits = _limits(request)
    limits.check_scenario(spec)
    limits.check_points(spec)
    return _answer(lambda: {"records": _records(_simulate(spec, policy).to_frame())})


def _simulate(spec: Scenario, policy: EvidencePolicy) -> Any:
    """Simulate as ``mscsim simulate`` does: a population, else the course of its patient."""
    from mscsim.analysis.doses import simulate_course
    from mscsim.population.run import simulate_scenario
    from mscsim.problem.build import problem_from_scenario

    if spec.population is not None:
        return simulate_scenario(spec, policy=policy)
    return simulate_course(problem_from_scenario(spec, policy=policy)).result


@router.post(
    "/compare",
    summary="Why several infusions: the same cells as one dose and as several",
    openapi_extra={"requestBody": request_body_schema(CompareRequest)},
)
def compare(body: Body, request: Request, policy: Policy) -> dict[str, Any]:
    """Compare the scenario's viable cells given as ``k`` equal doses, for each of ``splits``.

    ``regimens`` has the columns of ``mscsim compare --split``'s table (one row per
    ``k``, then the untreated course); ``courses`` one row per regimen and day
    (``day``, ``regimen``, ``cells_total``, ``effect``, ``outcome``, ``dose``);
    ``attrs`` names the outcome, its unit, its direction and the effect threshold.
    """
    from mscsim.analysis.compare import compare_splits

    req = validated(CompareRequest, body)
    limits = _limits(request)
    limits.check_scenario(req.scenario, where="scenario.")
    limits.check_splits(req.splits)
    if req.window_days is not None:
        limits.check_days("window_days", req.window_days)

    def run() -> dict[str, Any]:
        result = compare_splits(
            req.scenario,
            list(req.splits),
            window_days=req.window_days,
            effect_threshold=req.effect_threshold,
            policy=policy,
        )
        return {
            "attrs": dict(result.table.attrs),
            "regimens": _records(result.table),
            "courses": _records(result.courses),
        }

    return _answer(run)


@router.post(
    "/withdrawal",
    summary="Does stopping cause dependence: stopped, never treated, continued",
    openapi_extra={"requestBody": request_body_schema(WithdrawalRequest)},
)
def withdrawal(body: Body, request: Request, policy: Policy) -> dict[str, Any]:
    """Stop treatment: rebound, fading and tolerance, MSC beside a drug with tolerance.

    ``msc`` and ``reference_drug`` hold the figures of ``mscsim withdrawal --json``;
    ``courses`` each one's courses (``day``, ``course`` stopped / untreated /
    continued, ``outcome``, ``effect``).
    """
    from mscsim.analysis.withdrawal import withdrawal as run_withdrawal

    req = validated(WithdrawalRequest, body)
    limits = _limits(request)
    limits.check_scenario(req.scenario, where="scenario.")
    limits.check_days("follow_up_days", req.follow_up_days)

    def run() -> dict[str, Any]:
        result = run_withdrawal(
            req.scenario,
            stop_day=req.stop_day,
            follow_up_days=req.follow_up_days,
            policy=policy,
        )
        return {
            **result.to_dict(),
            "courses": {
                "msc": _records(result.msc.courses),
                "reference_drug": _records(result.reference_drug.courses),
            },
        }

    return _answer(run)


def _jobs(request: Request) -> JobRunner:
    runner: JobRunner = request.app.state.jobs
    return runner


def _job_schema() -> dict[str, Any]:
    from pydantic import Field

    return request_body_schema(Annotated[PopulationJob | TrialJob, Field(discriminator="kind")])


@router.post(
    "/jobs",
    summary="Start a population or trial job",
    status_code=202,
    openapi_extra={"requestBody": _job_schema()},
)
def start_job(body: Body, request: Request, policy: Policy) -> dict[str, Any]:
    """Start a job; answer its ``id`` at once (``GET /api/jobs/{id}`` follows it).

    ``kind = "population"``: the body is a scenario (with a ``[population]``) and
    ``kind``; the result holds percentiles 5/50/95 and the mean of every output
    over patients at each output time. ``kind = "trial"``: the body is a trial
    file's tables (``trial``, ``endpoint``, ``arm`` with each arm's scenario
    inline...) and ``kind``; the result holds the trial's summary and one row per
    replicate.
    """
    job = job_request(body)
    limits = _limits(request)
    if isinstance(job, PopulationJob):
        limits.check_population_job(job)
        _check_population(job, policy)
    else:
        limits.check_trial_job(job)
        _check_trial(job)
    return _jobs(request).submit(job.kind, body, dataclasses.asdict(policy))


def _check_population(job: PopulationJob, policy: EvidencePolicy) -> None:
    """Refuse before queueing what the job would refuse: no population, doses, lot."""
    from mscsim.errors import SpecError
    from mscsim.problem.build import problem_from_scenario

    if job.population is None:
        raise SpecError("population: missing; a population job needs a [population] table")
    with computing():
        problem_from_scenario(job, policy=policy, n_patients=1)


def _check_trial(job: TrialJob) -> None:
    """Refuse before queueing a trial too large for memory."""
    from mscsim.analysis.trial import check_trial_size

    check_trial_size(job)


@router.get("/jobs/{job_id}", summary="A job's state, progress and, when done, result")
def job_state(job_id: str, request: Request) -> dict[str, Any]:
    """Return a job's state, progress and, once done, its result.

    ``state`` is queued, running, done, failed, cancelled or interrupted;
    ``progress`` 0 to 1; ``error`` one line when failed; ``result`` when done.
    """
    return _jobs(request).state(job_id)


@router.delete("/jobs/{job_id}", summary="Cancel a job")
def cancel_job(job_id: str, request: Request) -> dict[str, Any]:
    """Cancel a job: a queued one at once, a running one after its current chunk."""
    return _jobs(request).cancel(job_id)
