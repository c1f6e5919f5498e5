"""What one request may ask of the service, checked before any work.

Every limit has a name; a refusal names it and the field that crossed it, so a
client knows what to change (or that the work belongs in a job).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from mscsim.errors import SpecError

if TYPE_CHECKING:
    from mscsim.spec.scenario import Scenario
    from mscsim.spec.trial import TrialSpec

__all__ = ["LimitError", "Limits"]


class LimitError(SpecError):
    """A request beyond one of the service's :class:`Limits` (one line naming the limit)."""


@dataclass(frozen=True)
class Limits:
    """How much one request may ask for.

    Attributes
    ----------
    max_body_bytes : int
        Largest request body (answered 413 beyond it). A scenario is about 1 kB.
    max_points : int
        Patients x output times that one ``/api/simulate`` request may return.
    max_horizon_days : float
        Longest simulated span: a scenario's ``horizon_days`` and a withdrawal's
        ``follow_up_days``.
    max_splits : int
        Regimens one ``/api/compare`` request may compare.
    max_replicates : int
        Replicates of a trial job.
    max_trial_patients : int
        Replicates x patients of every arm in a trial job.
    max_job_points : int
        Patients x output times of a population job.
    max_queued_jobs : int
        Jobs waiting or running at once (answered 429 beyond it).
    job_chunk_size : int
        Patients simulated together in a job: progress is reported, and a
        cancellation seen, after each chunk.
    """

    max_body_bytes: int = 256 * 2**10
    max_points: int = 200_000
    max_horizon_days: float = 3650.0
    max_splits: int = 8
    max_replicates: int = 2000
    max_trial_patients: int = 400_000
    max_job_points: int = 5_000_000
    max_queued_jobs: int = 16
    job_chunk_size: int = 500

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not value > 0:
                raise ValueError(f"Limits.{f.name} = {value!r}: must be > 0")

    def check_scenario(self, scenario: Scenario, *, where: str = "") -> None:
        """Refuse a scenario simulated longer than ``max_horizon_days``."""
        self.check_days(f"{where}simulation.horizon_days", scenario.simulation.horizon_days)

    def check_points(self, scenario: Scenario) -> None:
        """Refuse a ``/api/simulate`` answer of more than ``max_points`` records."""
        points, counted = _points(scenario)
        if points > self.max_points:
            raise LimitError(
                f"{counted} records, more than the {self.max_points:,} one request returns "
                "(limit max_points); use fewer patients, a coarser output_every_days, or a "
                "population job (POST /api/jobs)"
            )

    def check_days(self, field: str, days: float) -> None:
        """Refuse a simulated span ``field`` longer than ``max_horizon_days``."""
        if days > self.max_horizon_days:
            raise LimitError(
                f"{field} = {days:g}: longer than the {self.max_horizon_days:g} days "
                "this service simulates (limit max_horizon_days)"
            )

    def check_splits(self, splits: tuple[int, ...]) -> None:
        """Refuse more than ``max_splits`` regimens in one comparison."""
        if len(splits) > self.max_splits:
            raise LimitError(
                f"splits = {list(splits)}: {len(splits)} regimens, more than the "
                f"{self.max_splits} one request compares (limit max_splits)"
            )

    def check_population_job(self, scenario: Scenario) -> None:
        """Refuse a population job of more than ``max_job_points`` patients x times."""
        self.check_scenario(scenario)
        points, counted = _points(scenario)
        if points > self.max_job_points:
            raise LimitError(
                f"{counted}, more than the {self.max_job_points:,} a job simulates "
                "(limit max_job_points)"
            )

    def check_trial_job(self, spec: TrialSpec) -> None:
        """Refuse a trial job beyond ``max_replicates`` or ``max_trial_patients``."""
        r = spec.trial.replicates
        if r > self.max_replicates:
            raise LimitError(
                f"trial.replicates = {r}: more than the {self.max_replicates:,} a job runs "
                "(limit max_replicates)"
            )
        for i, arm in enumerate(spec.arm):
            self.check_scenario(arm.scenario, where=f"arm[{i}].scenario.")
        patients = r * sum(arm.n for arm in spec.arm)
        if patients > self.max_trial_patients:
            raise LimitError(
                f"trial.replicates = {r}: {r:,} replicates x {patients // r:,} patients = "
                f"{patients:,} virtual patients, more than the {self.max_trial_patients:,} a "
                "job simulates (limit max_trial_patients)"
            )


def _points(scenario: Scenario) -> tuple[int, str]:
    """Return a scenario's patients x output times, and that product in words."""
    sim = scenario.simulation
    points = sim.n_patients * sim.n_times
    counted = (
        f"simulation.n_patients = {sim.n_patients}: {sim.n_patients:,} patients x "
        f"{sim.n_times:,} output times = {points:,}"
    )
    return points, counted
