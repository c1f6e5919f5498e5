"""What the service reads: JSON bodies checked by mscsim's own validators.

A scenario comes in the shape of a scenario file (the same tables and keys, as
JSON), a trial in the shape of a trial file. Values are checked by the same
models with the same one-line messages as the command line
(:func:`mscsim.io.scenario.format_validation_error`). Nothing a request holds is
used as a path: a lot is given inline as a table, a trial arm's scenario too; a
text where a file name would go is refused before anything else.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal, Self, TypeVar

from pydantic import BaseModel, Field, ValidationError, model_validator

from mscsim.errors import SpecError
from mscsim.io.scenario import format_validation_error
from mscsim.spec.base import Choice, Items, SpecModel
from mscsim.spec.model import Species
from mscsim.spec.patient import WEIGHT_RANGE_KG
from mscsim.spec.route import Route
from mscsim.spec.scenario import Scenario
from mscsim.spec.trial import TrialSpec

__all__ = [
    "CompareRequest",
    "DoseRequest",
    "PopulationJob",
    "TrialJob",
    "WithdrawalRequest",
    "job_request",
    "parse_json",
    "refuse_file_names",
    "request_body_schema",
    "validated",
]

M = TypeVar("M", bound=BaseModel)

_HUMAN_WEIGHT = WEIGHT_RANGE_KG[Species.HUMAN]


class DoseRequest(SpecModel):
    """``POST /api/dose``: one administration, as ``mscsim dose`` takes it.

    Give exactly one of ``cells`` (total) and ``cells_per_kg``.
    """

    route: Choice[Route]
    weight_kg: float = Field(ge=_HUMAN_WEIGHT[0], le=_HUMAN_WEIGHT[1], allow_inf_nan=False)
    cells: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    cells_per_kg: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_amount(self) -> Self:
        if (self.cells is None) == (self.cells_per_kg is None):
            raise ValueError(
                "cells: give exactly one of cells and cells_per_kg (e.g. cells_per_kg = 1e6)"
            )
        total = self.total_cells
        if not math.isfinite(total) or total < 1:
            given = self.cells is not None
            name = "cells" if given else "cells_per_kg"
            value = self.cells if given else self.cells_per_kg
            raise ValueError(
                f"{name} = {value!r}: gives {total:.3g} cells at {self.weight_kg:g} kg; "
                "a dose is at least 1 cell and a finite number"
            )
        return self

    @property
    def total_cells(self) -> float:
        """Cells in the administration."""
        if self.cells is not None:
            return self.cells
        return float(self.cells_per_kg or 0.0) * self.weight_kg


class CompareRequest(SpecModel):
    """``POST /api/compare``: the scenario's cells given as ``k`` equal doses, per ``k``.

    Every regimen gives the same viable cells as the scenario, spread over
    ``window_days`` (default: the scenario's own dosing window; 28 days for a
    single dose); the answer has one row per ``k`` and one for the untreated course.
    """

    scenario: Scenario
    splits: Items[int] = Field(default=(1, 2, 4), min_length=1)
    window_days: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    effect_threshold: float = Field(default=0.5, gt=0, lt=1)

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if len(set(self.splits)) != len(self.splits) or not all(1 <= k <= 365 for k in self.splits):
            raise ValueError(
                f"splits = {list(self.splits)}: give distinct whole numbers from 1 to 365 "
                "(e.g. [1, 2, 4])"
            )
        return self


class WithdrawalRequest(SpecModel):
    """``POST /api/withdrawal``: stop treatment and follow the patient.

    ``stop_day`` defaults to the last dose; ``follow_up_days`` counts from the stop.
    """

    scenario: Scenario
    stop_day: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    follow_up_days: float = Field(default=365.0, gt=0, allow_inf_nan=False)


class PopulationJob(Scenario):
    """``POST /api/jobs`` with ``kind = "population"``: a scenario with a ``[population]``."""

    kind: Literal["population"]


class TrialJob(TrialSpec):
    """``POST /api/jobs`` with ``kind = "trial"``: a trial file's tables, arm scenarios inline."""

    kind: Literal["trial"]


JOB_KINDS: dict[str, type[BaseModel]] = {"population": PopulationJob, "trial": TrialJob}


def parse_json(body: bytes) -> Any:
    """Parse a request body as JSON (UTF-8); NaN and infinities are refused.

    Raises
    ------
    SpecError
        In one line naming ``body``, for empty, non-UTF-8 or malformed JSON.
    """
    if not body.strip():
        raise SpecError("body: empty; send a JSON object")

    def no_constant(name: str) -> Any:
        raise SpecError(f"body: {name} is not a number JSON allows; give a finite number")

    try:
        return json.loads(body.decode("utf-8-sig"), parse_constant=no_constant)
    except UnicodeDecodeError as err:
        raise SpecError(f"body: byte {body[err.start]:#04x} at {err.start} is not UTF-8") from None
    except json.JSONDecodeError as err:
        raise SpecError(
            f"body: not valid JSON at line {err.lineno}, column {err.colno}: {err.msg.lower()}"
        ) from None
    except RecursionError:
        raise SpecError("body: nested too deeply to be a scenario") from None


_FILE_FIELDS = (
    (("product", "lot"), "a lot is given inline here, as a table (viability_percent, ...)"),
)


def refuse_file_names(data: Any, *, where: str = "") -> None:
    """Refuse a request that names a file where a scenario or trial file could.

    A scenario file may name its lot file (``[product] lot = "lot.toml"``), a trial
    file its arms' scenario files; the service reads no file, so a text there is
    refused, before any other check.

    Raises
    ------
    SpecError
        ``product.lot = 'lot.toml': the service reads no file; ...``.
    """
    if not isinstance(data, dict):
        return
    for path, instead in _FILE_FIELDS:
        value: Any = data
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str):
            raise SpecError(
                f"{where}{'.'.join(path)} = {value!r}: the service reads no file; {instead}"
            )
    arms = data.get("arm")
    for i, arm in enumerate(arms if isinstance(arms, list) else []):
        scenario = arm.get("scenario") if isinstance(arm, dict) else None
        if isinstance(scenario, str):
            raise SpecError(
                f"{where}arm[{i}].scenario = {scenario!r}: the service reads no file; "
                "give the arm's scenario inline, as a table"
            )
        refuse_file_names(scenario, where=f"{where}arm[{i}].scenario.")
    refuse_file_names(data.get("scenario"), where=f"{where}scenario.")


def validated(model: type[M], data: Any) -> M:
    """Check ``data`` (parsed JSON) against ``model``: files refused, one-line errors.

    Raises
    ------
    SpecError
        Naming the field, the bad value and what is allowed.
    """
    if not isinstance(data, dict):
        raise SpecError(f"body = {_short(data)}: must be a JSON object (a table)")
    refuse_file_names(data)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise SpecError(format_validation_error(err, model)) from None


def job_request(data: Any) -> PopulationJob | TrialJob:
    """Check a ``POST /api/jobs`` body: its ``kind`` chooses a population or a trial.

    Raises
    ------
    SpecError
        For a missing or unknown ``kind``, or as :func:`validated`.
    """
    if not isinstance(data, dict):
        raise SpecError(f"body = {_short(data)}: must be a JSON object (a table)")
    kind = data.get("kind")
    allowed = ", ".join(repr(k) for k in JOB_KINDS)
    if "kind" not in data:
        raise SpecError(f"kind: missing; must be one of {allowed}")
    if not isinstance(kind, str) or kind not in JOB_KINDS:
        raise SpecError(f"kind = {_short(kind)}: must be one of {allowed}")
    job = validated(JOB_KINDS[kind], data)
    assert isinstance(job, PopulationJob | TrialJob)  # noqa: S101 - chosen by kind
    return job


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def request_body_schema(model: type[BaseModel] | Any) -> dict[str, Any]:
    """Return the OpenAPI ``requestBody`` of ``model`` (or a pydantic type), refs inlined.

    The schema's definitions are kept under the body's own ``$defs`` and referred
    to through ``components`` by :func:`merge_definitions`.
    """
    from pydantic import TypeAdapter

    schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
    return {
        "required": True,
        "content": {"application/json": {"schema": schema}},
    }


def merge_definitions(openapi: dict[str, Any]) -> dict[str, Any]:
    """Move every request body's ``$defs`` into ``components.schemas`` (in place)."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    for path in openapi.get("paths", {}).values():
        for operation in path.values():
            body = operation.get("requestBody", {}) if isinstance(operation, dict) else {}
            schema = body.get("content", {}).get("application/json", {}).get("schema", {})
            schemas.update(schema.pop("$defs", {}))
    return openapi
