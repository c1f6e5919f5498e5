"""Jobs: populations and trials in the background, progress, cancellation, restarts."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from mscsim.web.jobs import JobStore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _trial(arm: dict[str, Any], replicates: int = 4) -> dict[str, Any]:
    import tomllib

    trial = tomllib.loads((EXAMPLES / "sca_trial.toml").read_text(encoding="utf-8"))
    trial["trial"]["replicates"] = replicates
    trial["endpoint"]["day"] = 60
    trial["trial"]["visit_days"] = [0, 30, 60]
    for a in trial["arm"]:
        a["scenario"] = copy.deepcopy(arm)
    return {"kind": "trial", **trial}


def test_a_population_job_runs_to_done_with_progress_rising(
    client: TestClient, population: dict[str, Any]
) -> None:
    started = client.post("/api/jobs", json={"kind": "population", **population})
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    seen = []
    end = time.monotonic() + 120
    while time.monotonic() < end:
        job = client.get(f"/api/jobs/{job_id}").json()
        seen.append(job["progress"])
        if job["state"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert job["state"] == "done", job
    assert seen == sorted(seen) and seen[-1] == 1
    assert any(0 < p < 1 for p in seen), seen
    rows = job["result"]["percentiles"]
    assert job["result"]["patients"] == 400
    assert {"time_day", "output", "p5", "p50", "p95", "mean"} <= set(rows[0])


def test_a_trial_job_gives_the_summary_and_the_replicates(
    client: TestClient, population: dict[str, Any], wait_for: Any
) -> None:
    started = client.post("/api/jobs", json=_trial(population))
    assert started.status_code == 202, started.text
    job = wait_for(client, started.json()["id"], {"done", "failed"})
    assert job["state"] == "done", job
    assert 0 <= job["result"]["summary"]["power"] <= 1
    assert len(job["result"]["replicates"]) == 4


def test_a_running_job_is_cancelled_after_its_chunk(
    make_client: Any, population: dict[str, Any], wait_for: Any
) -> None:
    client = make_client(job_chunk_size=20)
    population["simulation"]["n_patients"] = 4000
    job_id = client.post("/api/jobs", json={"kind": "population", **population}).json()["id"]
    end = time.monotonic() + 120
    while client.get(f"/api/jobs/{job_id}").json()["progress"] == 0:
        assert time.monotonic() < end
        time.sleep(0.05)
    assert client.delete(f"/api/jobs/{job_id}").json()["cancel_requested"] is True
    job = wait_for(client, job_id, {"cancelled", "done", "failed"})
    assert job["state"] == "cancelled" and job["progress"] < 1 and "result" not in job


def test_a_queued_job_is_cancelled_at_once(tmp_path: Path, population: dict[str, Any]) -> None:
    from mscsim.web.app import create_app

    client = TestClient(create_app(tmp_path))  # not started: its jobs stay queued
    job_id = client.post("/api/jobs", json={"kind": "population", **population}).json()["id"]
    assert client.get(f"/api/jobs/{job_id}").json()["state"] == "queued"
    assert client.delete(f"/api/jobs/{job_id}").json()["state"] == "cancelled"


def test_finished_results_survive_a_restart_and_cut_off_jobs_say_so(
    make_client: Any, tmp_path: Path, population: dict[str, Any], wait_for: Any
) -> None:
    data = tmp_path / "store"
    first = make_client(data)
    done_id = first.post("/api/jobs", json={"kind": "population", **population}).json()["id"]
    done = wait_for(first, done_id, {"done", "failed"})
    assert done["state"] == "done"
    first.__exit__(None, None, None)
    store = JobStore.open(data)  # a job a server was running when it died
    cut_id = store.add("population", {"kind": "population", **population}, {})
    assert store.claim_next() == cut_id
    second = make_client(data)
    again = second.get(f"/api/jobs/{done_id}").json()
    assert again["state"] == "done" and again["result"] == done["result"]
    cut = second.get(f"/api/jobs/{cut_id}").json()
    assert cut["state"] == "interrupted" and "server stopped" in cut["error"]


def test_a_job_is_checked_before_it_is_queued(
    make_client: Any, population: dict[str, Any], scenario: dict[str, Any]
) -> None:
    client = make_client(max_replicates=10, max_job_points=10_000, max_queued_jobs=1)
    cases = [
        ({"kind": "flu"}, "kind"),
        ({**population}, "kind"),
        ({"kind": "population", **scenario}, "population"),
        ({"kind": "population", **population, "extra": 1}, "extra"),
        (
            {
                "kind": "population",
                **population,
                "simulation": {"horizon_days": 60, "n_patients": 10**6},
            },
            "simulation.n_patients",
        ),
        (_trial(population, replicates=50), "trial.replicates"),
    ]
    for body, field in cases:
        answer = client.post("/api/jobs", json=body)
        assert answer.status_code == 422, (field, answer.text[:300])
        assert answer.json()["field"] == field, answer.json()
    lot_file = _trial(population)
    lot_file["arm"][0]["scenario"] = "sca_trial_arm.toml"
    answer = client.post("/api/jobs", json=lot_file)
    assert answer.status_code == 422 and answer.json()["field"] == "arm[0].scenario"
    assert "reads no file" in answer.json()["detail"]


def test_a_full_queue_is_429(tmp_path: Path, population: dict[str, Any]) -> None:
    from mscsim.web.app import create_app
    from mscsim.web.limits import Limits

    client = TestClient(create_app(tmp_path, Limits(max_queued_jobs=1)))  # not started
    body = {"kind": "population", **population}
    assert client.post("/api/jobs", json=body).status_code == 202
    full = client.post("/api/jobs", json=body)
    assert full.status_code == 429 and "max_queued_jobs" in full.json()["detail"]
