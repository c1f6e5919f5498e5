"""NONMEM-style datasets (CSV): doses, observations and covariates in, and out again.

A dataset has one line per record and these columns (``.`` or an empty cell
marks a missing value):

==========  =================================================================
``ID``      Patient (a whole number); the rows of one ID stand together.
``TIME``    Day of the record, >= 0, not decreasing within an ID.
``AMT``     Cells administered (before viability, as a scenario's ``cells``);
            ``.`` or 0 on other rows. A NONMEM dose is never per kg.
``CMT``     Route name on dose rows (``intravenous``, ``intramuscular`` ...);
            ``.`` on other rows.
``EVID``    1 dose, 0 observation, 2 output time only (the model is reported
            at that time for every patient); 3 and 4 (resets) are refused.
``MDV``     1 on an observation row: the row is skipped. Optional.
``DV``      Observed value on observation rows.
``II``      Days between the doses of a row with ``ADDL``. Optional.
``ADDL``    *Additional* doses: a dose row gives ``ADDL + 1`` doses at
            ``TIME + k * II`` (a scenario's ``count`` is ``ADDL + 1`` and its
            ``every_days`` is ``II``). Optional.
``RATE``    Infusion rate in cells/day: the infusion lasts ``AMT / RATE`` days;
            ``.`` or 0 is a bolus; -1 and -2 (modelled rate or duration) are
            refused. Optional.
``SS``      ``.`` or 0; steady-state doses (1, 2) are refused: cells are not a
            drug at steady state, give the doses with ``ADDL`` and ``II``.
            Optional.
``DVID``    Name of the model output observed (``cells_target`` ...).
``BLQ``     1 when the value is below the limit of quantification (its ``DV``
            is not used, ``LLOQ`` is needed), else 0. Optional: without it a
            ``DV`` below ``LLOQ`` is taken as below the limit.
``LLOQ``    Lower limit of quantification of the row. Optional.
==========  =================================================================

Every other column is a covariate, constant within an ID. ``WT`` sets the
patient's ``weight_kg``, ``AGE`` its ``age_years``, and a column named as one of
the problem's parameters (``immunosuppression``, ``cell_survival`` ...) sets it for
that patient; the others (``SEX``, ``DONOR`` ...) are kept in
:attr:`NonmemData.covariates` only. A value below the limit is kept as a censored
observation (Beal's M3), not dropped.

Errors name the data row (the first line after the header is row 1), the
column and the value: ``row 4, AMT = '1e6': ...``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from mscsim.errors import SpecError
from mscsim.evidence.library import ParameterLibrary
from mscsim.io.tables import atomic_path
from mscsim.models.base import COVARIATES, Array, Model, target_site
from mscsim.models.diseases import BASELINE_COVARIATE
from mscsim.models.immunity import DSA_COVARIATE
from mscsim.problem.build import problem_from_scenario
from mscsim.problem.data import Observations
from mscsim.problem.events import DoseEvents
from mscsim.problem.policy import EvidencePolicy
from mscsim.problem.problem import Problem
from mscsim.spec.dose import MIN_INFUSION_HOURS
from mscsim.spec.route import Route
from mscsim.spec.scenario import Scenario

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "COLUMNS",
    "REQUIRED",
    "NonmemData",
    "read_nonmem",
    "write_nonmem",
    "write_nonmem_file",
]

COLUMNS: tuple[str, ...] = (
    "ID",
    "TIME",
    "AMT",
    "CMT",
    "EVID",
    "MDV",
    "DV",
    "II",
    "ADDL",
    "RATE",
    "SS",
    "DVID",
    "BLQ",
    "LLOQ",
)
"""The columns with a meaning; every other column is a covariate."""
REQUIRED: tuple[str, ...] = ("ID", "TIME", "AMT", "CMT", "EVID")
"""Columns every dataset has (``DV`` and ``DVID`` too when it has observations)."""
KNOWN_COVARIATES: frozenset[str] = frozenset({*COVARIATES, BASELINE_COVARIATE, DSA_COVARIATE})
"""Covariates a model reads besides its parameters; a column of one of these names sets it."""
NAMED_COVARIATES: dict[str, str] = {"WT": "weight_kg", "AGE": "age_years"}
"""Covariate columns that set a patient parameter of another name."""
_COVARIATE_RANGES: dict[str, tuple[float, float]] = {
    "weight_kg": (0.005, 400.0),
    "age_years": (0.0, 120.0),
    DSA_COVARIATE: (0.0, 1.0),
}
_DOSE_ONLY = ("AMT", "RATE", "ADDL", "II", "SS")
_MISSING = "."
_MIN_INFUSION_DAYS = MIN_INFUSION_HOURS / 24


@dataclass(frozen=True, eq=False)
class NonmemData:
    """A dataset read into a problem.

    Attributes
    ----------
    problem : Problem
        One patient per ID, in the order the IDs first appear; ``patient_ids``
        are the IDs.
    observations : Observations
        The observation rows (``patient`` is the problem's row of the ID).
    covariates : pandas.DataFrame
        One row per ID: ``ID`` and every covariate column of the file.
    """

    problem: Problem
    observations: Observations
    covariates: pd.DataFrame

    @property
    def ids(self) -> NDArray[np.int64]:
        """The IDs, in problem order."""
        return self.problem.patient_ids


# ---------------------------------------------------------------- reading


def read_nonmem(
    source: str | Path,
    scenario: Scenario,
    *,
    model: Model | None = None,
    policy: EvidencePolicy = EvidencePolicy(),  # noqa: B008 - a frozen value
) -> NonmemData:
    """Read a NONMEM-style dataset into the problem of its patients under ``scenario``.

    The scenario gives the model, product (``AMT`` x its viability are the viable
    cells), parameters and patient defaults; the dataset gives each ID's doses,
    observations and covariates. Output times are every observation time (and
    ``EVID = 2`` time), 0 and the last dose's time (a problem simulates every
    dose), or the scenario's grid when the dataset has neither observations nor
    ``EVID = 2`` rows.

    Parameters
    ----------
    source : str or Path
        A path, or the dataset's text (a string with a line break).
    scenario : Scenario
    model : Model, optional
        Default: the scenario's model (:func:`~mscsim.problem.default_model`).
        Models compare by identity: pass the same model to compare problems.
    policy : EvidencePolicy
        As in :func:`~mscsim.problem.problem_from_scenario` (applies to the
        scenario's own doses; the dataset's doses are records, not checked).

    Raises
    ------
    SpecError
        One line naming the row, the column and the value of a malformed record.
    """
    rows = _rows(_text(source))
    base = problem_from_scenario(scenario, model=model, policy=policy, n_patients=1)
    return _Reader(base, scenario).read(rows)


def _text(source: str | Path) -> str:
    if isinstance(source, str) and ("\n" in source or not source.strip()):
        return source.removeprefix("\ufeff")
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SpecError(f"dataset = {str(path)!r}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"dataset = {str(path)!r}: cannot be read as UTF-8 text ({err})") from None


@dataclass(frozen=True)
class _Row:
    """One data row: its number (row 1 follows the header) and its cells by column."""

    number: int
    cells: dict[str, str]

    def text(self, column: str) -> str:
        value = self.cells.get(column, "").strip()
        return value or _MISSING

    def error(self, column: str, allowed: str) -> SpecError:
        return SpecError(f"row {self.number}, {column} = {self.text(column)!r}: {allowed}")

    def number_or(self, column: str, default: float = math.nan) -> float:
        """Return the cell as a finite number, ``default`` when missing."""
        value = self.text(column)
        if value == _MISSING:
            return default
        try:
            number = float(value)
        except ValueError:
            raise self.error(column, "must be a number, or '.' when missing") from None
        if not math.isfinite(number):
            raise self.error(column, "must be a finite number, or '.' when missing")
        return number

    def whole(self, column: str, default: int, allowed: Sequence[int] | None = None) -> int:
        """Return the cell as a whole number >= 0 (one of ``allowed`` if given)."""
        number = self.number_or(column, float(default))
        ok = number.is_integer() and number >= 0
        if ok and allowed is not None:
            ok = int(number) in allowed
        if not ok:
            what = (
                "a whole number >= 0"
                if allowed is None
                else "one of " + ", ".join(str(a) for a in allowed)
            )
            raise self.error(column, f"must be {what}")
        return int(number)

    def at_least(self, column: str, low: float, unit: str, default: float = math.nan) -> float:
        number = self.number_or(column, default)
        if number < low:
            raise self.error(column, f"must be >= {low:g} {unit}")
        return number


def _rows(text: str) -> tuple[list[str], list[_Row]]:
    """Split the text into the header and the data rows (blank lines skipped, still counted)."""
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    header_line = 0
    rows = []
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        if header is None:
            header = [c.strip() for c in cells]
            header_line = reader.line_num
            _check_header(header)
            continue
        number = reader.line_num - header_line
        if len(cells) != len(header):
            raise SpecError(
                f"row {number} = {len(cells)} values: the header has {len(header)} columns"
            )
        rows.append(_Row(number, dict(zip(header, cells, strict=True))))
    if header is None:
        raise SpecError(
            "dataset: the file is empty; it needs a header line "
            f"({','.join(COLUMNS[:12])}) and one row per record"
        )
    if not rows:
        raise SpecError("dataset: the header has no data rows; give one row per record")
    return header, rows


def _check_header(header: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(header, start=1):
        if not name:
            raise SpecError(f"header column {i} = '': every column needs a name")
        if name in seen:
            raise SpecError(
                f"header column {i} = {name!r}: given twice (also column {seen[name]}); "
                "name each column once"
            )
        seen[name] = i
    missing = [c for c in REQUIRED if c not in seen]
    if missing:
        raise SpecError(
            f"header = {','.join(header)!r}: missing {', '.join(missing)}; a dataset has "
            f"{', '.join(REQUIRED)} (and DV, DVID with observations)"
        )


@dataclass
class _Patient:
    """What the rows of one ID give."""

    id: int
    first_row: _Row
    last_time: float = 0.0
    doses: list[tuple[float, float, Route, float]] = field(default_factory=list)
    routes: dict[Route, int] = field(default_factory=dict)


@dataclass
class _Reader:
    """Turns data rows into a :class:`NonmemData` for the scenario's patient ``base``."""

    base: Problem
    scenario: Scenario
    patients: list[_Patient] = field(default_factory=list)
    observed: list[tuple[int, float, str, float, float, bool]] = field(default_factory=list)
    output_times: set[float] = field(default_factory=set)
    covariates: dict[str, list[tuple[str, _Row]]] = field(default_factory=dict)

    def read(self, parsed: tuple[list[str], list[_Row]]) -> NonmemData:
        header, rows = parsed
        self.covariates = {c: [] for c in header if c not in COLUMNS}
        for row in rows:
            self._row(row)
        table = self._covariate_table()
        problem = self._problem(table)
        observations = self._observations()
        return NonmemData(problem, observations, table)

    # -- rows
    def _row(self, row: _Row) -> None:
        patient = self._patient(row)
        time = row.at_least("TIME", 0.0, "days")
        if math.isnan(time):
            raise row.error("TIME", "must be a number of days >= 0")
        if time < patient.last_time:
            raise row.error(
                "TIME",
                f"times must not decrease within ID {patient.id} "
                f"(an earlier row has {patient.last_time:g})",
            )
        patient.last_time = time
        self._covariate_cells(row, patient)
        evid = _evid(row)
        if evid == 1:
            self._dose(row, patient, time)
            return
        self._no_dose(row, evid)
        if evid == 2:
            self.output_times.add(time)
        elif row.whole("MDV", 0, allowed=(0, 1)) == 0:
            self._observation(row, time)

    def _patient(self, row: _Row) -> _Patient:
        number = row.number_or("ID")
        if math.isnan(number) or not number.is_integer():
            raise row.error("ID", "must be a whole number")
        pid = int(number)
        if self.patients and self.patients[-1].id == pid:
            return self.patients[-1]
        for p in self.patients:
            if p.id == pid:
                raise row.error(
                    "ID",
                    f"the rows of an ID stand together; ID {pid} began at row "
                    f"{p.first_row.number} and another ID came between",
                )
        self.patients.append(_Patient(pid, row))
        return self.patients[-1]

    def _dose(self, row: _Row, patient: _Patient, time: float) -> None:
        amount = row.at_least("AMT", 0.0, "cells")
        if math.isnan(amount):
            raise row.error("AMT", "a dose row (EVID = 1) needs the cells administered")
        route = self._route(row, patient)
        if row.whole("SS", 0) != 0:
            raise row.error(
                "SS",
                "steady state is not supported (cells do not reach a drug's steady "
                "state); give 0 or '.', and the doses with ADDL and II",
            )
        duration = self._duration(row, amount)
        interval = row.at_least("II", 0.0, "days", default=0.0)
        extra = row.whole("ADDL", 0)
        if extra and interval <= 0:
            raise row.error("II", f"ADDL = {extra} needs II > 0 (days between doses)")
        viable = amount * self.viability
        patient.doses += [(time + k * interval, viable, route, duration) for k in range(extra + 1)]

    @property
    def viability(self) -> float:
        return float(self.base.product.viability)

    def _route(self, row: _Row, patient: _Patient) -> Route:
        try:
            route = Route(row.text("CMT"))
        except ValueError:
            allowed = ", ".join(r.value for r in Route)
            raise row.error("CMT", f"a dose row names its route: one of {allowed}") from None
        patient.routes.setdefault(route, row.number)
        try:
            target_site(list(patient.routes))
        except SpecError:
            other = next(r for r in patient.routes if r.is_local and r != route)
            raise row.error(
                "CMT",
                f"one patient has one target site; ID {patient.id} has {other.value} "
                f"at row {patient.routes[other]} (intravenous and intra_arterial may be "
                "combined with one local route)",
            ) from None
        return route

    @staticmethod
    def _duration(row: _Row, amount: float) -> float:
        rate = row.number_or("RATE", 0.0)
        if rate < 0:
            raise row.error(
                "RATE",
                "must be an infusion rate in cells/day, or 0 for a bolus (modelled "
                "rates and durations, -1 and -2, are not supported)",
            )
        duration = amount / rate if rate > 0 else 0.0
        if 0 < duration < _MIN_INFUSION_DAYS:
            raise row.error(
                "RATE",
                f"the infusion would last {duration:.3g} days; an infusion lasts at least "
                f"one minute ({_MIN_INFUSION_DAYS:.3g} d), use 0 for a bolus",
            )
        return duration

    @staticmethod
    def _no_dose(row: _Row, evid: int) -> None:
        what = "an observation row (EVID = 0)" if evid == 0 else "an output-time row (EVID = 2)"
        for column in _DOSE_ONLY:
            if row.number_or(column, 0.0) != 0:
                raise row.error(column, f"{what} gives no dose: use '.' or 0")
        if row.text("CMT") != _MISSING:
            raise row.error("CMT", f"{what} has CMT '.' (DVID names what is observed)")

    def _observation(self, row: _Row, time: float) -> None:
        for column in ("DV", "DVID"):
            if column not in row.cells:
                raise SpecError(
                    f"header = {','.join(row.cells)!r}: missing {column}; a dataset with "
                    "observations (EVID = 0) has DV and DVID"
                )
        outputs = self.base.model.output_names
        output = row.text("DVID")
        if output not in outputs:
            raise row.error(
                "DVID",
                f"an observation row names the model output observed: one of {', '.join(outputs)}",
            )
        lloq = row.number_or("LLOQ")
        flagged = row.whole("BLQ", -1, allowed=(0, 1)) if row.text("BLQ") != _MISSING else -1
        if flagged == 1:
            if math.isnan(lloq):
                raise row.error("LLOQ", "a value below the limit (BLQ = 1) needs the limit")
            value = math.nan
        else:
            value = row.number_or("DV")
            if math.isnan(value):
                raise row.error(
                    "DV",
                    "an observation (EVID = 0, MDV = 0) needs a value; mark one below the "
                    "limit with BLQ = 1 and LLOQ",
                )
        blq = flagged == 1 or (flagged == -1 and value < lloq)
        patient = len(self.patients) - 1
        self.observed.append((patient, time, output, math.nan if blq else value, lloq, blq))

    def _covariate_cells(self, row: _Row, patient: _Patient) -> None:
        first = patient.first_row
        for column, values in self.covariates.items():
            if first is row:
                values.append((row.text(column), row))
                continue
            if _value(row.text(column)) != _value(first.text(column)):
                raise row.error(
                    column,
                    f"a covariate is constant within an ID; ID {patient.id} has "
                    f"{first.text(column)!r} at row {first.number}",
                )

    # -- results
    def _covariate_table(self) -> pd.DataFrame:
        import pandas as pd

        table: dict[str, object] = {"ID": np.array([p.id for p in self.patients], dtype=np.int64)}
        for column, cells in self.covariates.items():
            values = [_value(text) for text, _ in cells]
            numeric = all(isinstance(v, float) for v in values)
            if self._parameter_of(column) is not None and not numeric:
                row = next(r for (_, r), v in zip(cells, values, strict=True) if isinstance(v, str))
                raise row.error(column, "must be a number, or '.' when missing")
            table[column] = np.array(values, dtype=float if numeric else object)
        return pd.DataFrame(table)

    def _parameter_of(self, column: str) -> str | None:
        name = NAMED_COVARIATES.get(column, column)
        return name if name in self.base.params or name in KNOWN_COVARIATES else None

    def _problem(self, table: pd.DataFrame) -> Problem:
        n = len(self.patients)
        columns = {k: np.repeat(v, n) for k, v in self.base.params.items()}
        sites = [self._site(p) for p in self.patients]
        for site in set(sites) - {self.base.site}:
            rows = np.array([s == site for s in sites])
            for name, value in self._site_params(site).items():
                columns[name][rows] = value
        params = {k: v[:1] if _shared(v) else v for k, v in columns.items()}
        for column in table.columns[1:]:
            target = self._parameter_of(column)
            if target is not None:  # a patient's covariate: one value per patient
                values = table[column].to_numpy(dtype=float)
                own = columns.get(target, np.full(n, np.nan))
                params[target] = self._set_covariate(own, column, target, values, sites)
        events = DoseEvents.from_rows(
            (i, *dose) for i, p in enumerate(self.patients) for dose in p.doses
        )
        times = self._times()
        common = sites[0] if len(set(sites)) == 1 else self.base.site
        provenance = self.base.provenance
        if provenance is None:  # pragma: no cover - the base is built from a scenario
            raise SpecError("problem: built in code, it has no scenario provenance")
        return Problem(
            model=self.base.model,
            params=params,
            events=events,
            times_day=times,
            n_patients=n,
            patient_ids=np.array([p.id for p in self.patients], dtype=np.int64),
            provenance=replace(provenance, site=common, assessments=()),
        )

    def _site(self, patient: _Patient) -> str:
        return target_site(list(patient.routes)) if patient.routes else self.base.site

    def _site_params(self, site: str) -> dict[str, float]:
        model = self.base.model
        library = ParameterLibrary(model.parameters)
        return library.resolve(
            [p.name for p in model.parameters], site=site, overrides=self.scenario.parameters
        )

    def _set_covariate(
        self, column: Array, header: str, name: str, values: Array, sites: list[str]
    ) -> Array:
        """Return ``column`` with a covariate column's values (missing: the scenario's)."""
        model_params = {p.name: p for p in self.base.model.parameters}
        for i, value in enumerate(values):
            row = self.patients[i].first_row
            if math.isnan(value):
                if math.isnan(column[i]) and name not in self.base.params:
                    raise row.error(header, "the scenario has no default: give it for every ID")
                continue
            if name in model_params:
                value = model_params[name].check(
                    float(value), site=sites[i], what=f"row {row.number}, {header}"
                )
            elif name in _COVARIATE_RANGES:
                low, high = _COVARIATE_RANGES[name]
                if not low <= value <= high:
                    raise row.error(header, f"must be from {low:g} to {high:g}")
            column[i] = value
        return column

    def _times(self) -> Array:
        """Observation and ``EVID = 2`` times, 0 and the last dose (else the scenario's grid)."""
        times = {t for _, t, *_ in self.observed} | self.output_times
        if not times:
            return np.asarray(self.base.times_day)
        last_dose = max((d[0] for p in self.patients for d in p.doses), default=0.0)
        return np.array(sorted(times | {0.0, last_dose}), dtype=float)

    def _observations(self) -> Observations:
        obs = self.observed
        return Observations(
            np.array([o[0] for o in obs], dtype=np.int64),
            np.array([o[1] for o in obs], dtype=float),
            tuple(o[2] for o in obs),
            np.array([o[3] for o in obs], dtype=float),
            np.array([o[4] for o in obs], dtype=float),
            np.array([o[5] for o in obs], dtype=bool),
        )


def _shared(values: Array) -> bool:
    """Whether every patient has the same value (NaN equal to NaN)."""
    first = values[0]
    return bool(np.all((values == first) | (np.isnan(values) & np.isnan(first))))


def _evid(row: _Row) -> int:
    number = row.number_or("EVID")
    if number not in (0.0, 1.0, 2.0):
        raise row.error(
            "EVID",
            "must be 0 (observation), 1 (dose) or 2 (output time); resets (3, 4) are not supported",
        )
    return int(number)


def _value(text: str) -> float | str:
    """Return a covariate cell: a number (NaN when missing) or its text."""
    if text == _MISSING:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return text


# ---------------------------------------------------------------- writing


def write_nonmem(
    problem: Problem,
    observations: Observations,
    covariates: pd.DataFrame | None = None,
    *,
    viability: float | None = None,
) -> str:
    """Return the dataset of ``problem``'s doses and ``observations`` (CSV text).

    Every administration is a row of its own (``ADDL = 0``); an infusion's
    ``RATE`` is ``AMT`` over its duration. ``WT`` and ``AGE`` are written for
    every patient, and each parameter that differs between patients in a column
    of its own name; ``covariates`` (one row per ``ID``) adds its other columns.
    Output times that are neither 0 nor an observation time are written as
    ``EVID = 2`` rows of the first ID. Reading the text back under the scenario
    the problem was built from gives the same problem: to the last bit when its
    viable cells are some ``AMT`` x viability and its infusion durations some
    ``AMT / RATE`` (always for a problem read from a dataset), else within one
    unit in the last place (per-kg doses of a sampled population, say).

    Parameters
    ----------
    problem : Problem
    observations : Observations
        ``patient`` are rows of ``problem``.
    covariates : pandas.DataFrame, optional
        Column ``ID`` and covariate columns.
    viability : float, optional
        Viable share of the cells administered (``AMT`` = viable cells /
        viability). Default: the problem's product, or 1 for a problem built in
        code.
    """
    if viability is None:
        provenance = problem.provenance
        viability = 1.0 if provenance is None else float(provenance.product.viability)
    if not 0 < viability <= 1:
        raise SpecError(f"viability = {viability!r}: must be > 0 and <= 1")
    if len(observations) and observations.patient.max() >= problem.n_patients:
        raise SpecError(
            f"observations.patient: {int(observations.patient.max())} is not one of the "
            f"{problem.n_patients} patients"
        )
    extra = _covariate_columns(problem, covariates)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*COLUMNS, *extra])
    records = _dose_records(problem, viability) + _observation_records(problem, observations)
    records += _time_records(problem, observations)
    records.sort(key=lambda r: (r[0], r[1], r[2]))
    for patient, _, _, cells in records:
        covs = [values[patient] for values in extra.values()]
        writer.writerow([str(problem.patient_ids[patient]), *cells, *covs])
    return out.getvalue()


def write_nonmem_file(
    path: str | Path,
    problem: Problem,
    observations: Observations,
    covariates: pd.DataFrame | None = None,
    *,
    viability: float | None = None,
) -> Path:
    """Write :func:`write_nonmem`'s dataset to ``path`` atomically; return the path."""
    text = write_nonmem(problem, observations, covariates, viability=viability)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


_Record = tuple[int, float, int, list[str]]
"""(patient row, time, order within a time, cells from TIME to LLOQ)."""


def _fmt(value: float) -> str:
    return _MISSING if math.isnan(value) else repr(float(value))


def _dose_records(problem: Problem, viability: float) -> list[_Record]:
    events = problem.events
    records: list[_Record] = []
    for i in range(len(events)):
        amount, rate = _amount_and_rate(
            float(events.amount_cells[i]), float(events.duration_day[i]), viability
        )
        time = float(events.time_day[i])
        cells = [_fmt(time), _fmt(amount), events.route[i].value, "1", "1", _MISSING]
        cells += ["0", "0", _fmt(rate), "0", _MISSING, _MISSING, _MISSING]
        records.append((int(events.patient[i]), time, 0, cells))
    return records


def _observation_records(problem: Problem, observations: Observations) -> list[_Record]:
    records: list[_Record] = []
    for i in range(len(observations)):
        time = float(observations.time_day[i])
        blq = bool(observations.blq[i])
        cells = [_fmt(time), _MISSING, _MISSING, "0", "0", _fmt(float(observations.value[i]))]
        cells += [_MISSING, _MISSING, _MISSING, _MISSING, observations.output[i]]
        cells += [str(int(blq)), _fmt(float(observations.lloq[i]))]
        records.append((int(observations.patient[i]), time, 1, cells))
    return records


def _time_records(problem: Problem, observations: Observations) -> list[_Record]:
    """``EVID = 2`` rows for the output times the reader would not find otherwise."""
    known = set(observations.time_day.tolist()) | {0.0}
    times = [float(t) for t in problem.times_day if float(t) not in known]
    blank = [_MISSING] * 7
    return [(0, t, 2, [_fmt(t), _MISSING, _MISSING, "2", "1", _MISSING, *blank]) for t in times]


def _covariate_columns(problem: Problem, covariates: pd.DataFrame | None) -> dict[str, list[str]]:
    """Covariate columns by name: one text cell per patient row."""
    n = problem.n_patients
    columns: dict[str, list[str]] = {}
    headers = {name: header for header, name in NAMED_COVARIATES.items()}
    for name, values in problem.params.items():
        if values.size > 1 or (n == 1 and name in headers):
            columns[headers.get(name, name)] = [_fmt(float(v)) for v in values]
    if covariates is None:
        return columns
    if "ID" not in covariates.columns:
        raise SpecError("covariates: needs an ID column (one row per patient)")
    by_id = covariates.set_index("ID")
    missing = [int(i) for i in problem.patient_ids if i not in by_id.index]
    if missing:
        raise SpecError(f"covariates.ID: no row for ID {missing[0]}")
    for column in by_id.columns:
        if column in columns or column in COLUMNS:
            continue
        cells = by_id.loc[problem.patient_ids, column].tolist()
        columns[str(column)] = [_cell(v) for v in cells]
    return columns


def _cell(value: object) -> str:
    if isinstance(value, float | np.floating):
        return _fmt(float(value))
    if value is None:
        return _MISSING
    return str(value)


def _neighbours(guess: float, steps: int = 4) -> list[float]:
    """Return ``guess`` and the floats up to ``steps`` units in the last place either side."""
    out = [guess]
    up = down = guess
    for _ in range(steps):
        up, down = math.nextafter(up, math.inf), math.nextafter(down, -math.inf)
        out += [up, down]
    return out


def _amount_and_rate(viable: float, duration: float, viability: float) -> tuple[float, float]:
    """Return ``AMT`` and ``RATE`` that read back as ``viable`` cells over ``duration`` days.

    The reader computes ``AMT * viability`` and ``AMT / RATE`` in floating point;
    of the floats next to the exact answers, the first pair that gives back
    both values to the last bit is written (the nearest when none does). An
    infusion of no cells is written as a bolus.
    """
    amounts = [a for a in _neighbours(viable / viability) if a * viability == viable]
    for amount in amounts:
        if not duration or not amount:
            return amount, 0.0
        rates = [r for r in _neighbours(amount / duration) if amount / r == duration]
        if rates:
            return amount, rates[0]
    amount = amounts[0] if amounts else viable / viability
    return amount, (amount / duration if duration and amount else 0.0)
