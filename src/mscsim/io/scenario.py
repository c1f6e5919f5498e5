"""Read scenario and lot files (TOML) into validated specifications."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from mscsim.errors import SpecError
from mscsim.spec.disease import DiseaseSpecBase, disease_spec_types
from mscsim.spec.lot import Lot
from mscsim.spec.scenario import Scenario
from mscsim.spec.trial import TrialSpec

__all__ = [
    "MAX_FILE_BYTES",
    "format_validation_error",
    "load_lot",
    "load_scenario",
    "load_trial",
    "parse_lot",
    "parse_scenario",
    "read_toml",
]


MAX_FILE_BYTES = 10 * 2**20
"""Largest input file read (scenario, lot and trial files are a few kB)."""

_TOML_POSITION = re.compile(
    r"^(?P<what>.*?) \((?:at line (?P<line>\d+), column (?P<column>\d+)|at end of document)\)$"
)


def read_toml(path: str | Path, *, what: str = "file") -> dict[str, Any]:
    """Read a TOML file (UTF-8, a byte-order mark allowed) into a mapping.

    Raises
    ------
    SpecError
        In one line, for a missing, unreadable, binary, empty or malformed file;
        a syntax error gives its line and column, what was expected and what was found.
    """
    path = Path(path)
    where = f"{what} = {str(path)!r}"
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SpecError(f"{where}: file not found") from None
    except IsADirectoryError:
        raise SpecError(f"{where}: is a directory, expected a TOML file") from None
    except OSError as err:
        raise SpecError(f"{where}: cannot be read ({err.strerror or err})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError(f"{where}: larger than {MAX_FILE_BYTES // 2**20} MiB; not a TOML file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SpecError(
            f"{where}: not a text file (byte {raw[err.start]:#04x} at offset {err.start} "
            "is not UTF-8); expected a TOML file"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{where}: {_syntax_error(str(err), text)}") from None
    if not data:
        raise SpecError(f"{where}: the file is empty")
    return data


def _syntax_error(message: str, text: str) -> str:
    """Return e.g. ``not valid TOML at line 3, column 12: expected '=' ...; found ': 5'``."""
    match = _TOML_POSITION.match(message)
    if match is None:  # pragma: no cover - every tomllib message ends with its position
        return f"not valid TOML: {message}"
    what = match["what"]
    what = what[0].lower() + what[1:]
    if match["line"] is None:
        return f"not valid TOML at the end of the file: {what}"
    line, column = int(match["line"]), int(match["column"])
    rest = (text.split("\n")[line - 1 : line] or [""])[0][column - 1 :].rstrip()
    found = f"found {rest[:24]!r}" if rest else "found the end of the line"
    return f"not valid TOML at line {line}, column {column}: {what}; {found}"


def _loc_text(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":  # a mapping's key was refused: the key is the part before
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _shown(value: object, limit: int = 60) -> str:
    """Return ``value`` as it reads in a TOML file (``true``, ``'65'``, ``[1, 2]``)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k} = {_shown(v, limit)}" for k, v in value.items()) + "}"
    elif isinstance(value, list | tuple):
        text = "[" + ", ".join(_shown(v, limit) for v in value) + "]"
    elif isinstance(value, dt.date | dt.time):
        text = value.isoformat()
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_KINDS = {
    "float_type": "a number",
    "int_type": "a whole number",
    "bool_type": "true or false",
    "string_type": "text in quotes",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "tuple_type": "an array",
    "list_type": "an array",
}
"""What a value of the wrong TOML type should have been."""

_UNITS = (
    ("_days", "days"),
    ("day", "days"),
    ("_hours", "hours"),
    ("_years", "years"),
    ("cells", "cells"),
)

_BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e16 else f"{value:g}"


def _expected(kind: str, name: str, field: FieldInfo | None) -> str:
    """Return e.g. ``a number of days > 0 and <= 36500`` for a value of the wrong type."""
    text = _KINDS[kind]
    if kind not in ("float_type", "int_type") or field is None:
        return text
    unit = next((u for suffix, u in _UNITS if name.endswith(suffix)), None)
    bounds = [
        f"{op} {_number_text(getattr(m, attr))}"
        for m in field.metadata
        for attr, op in _BOUNDS
        if isinstance(getattr(m, attr, None), int | float)
    ]
    return " ".join([text, *([f"of {unit}"] if unit else []), " and ".join(bounds)]).strip()


def _models_of(annotation: Any) -> list[type[BaseModel]]:
    if annotation is DiseaseSpecBase:  # chosen from the registry by its ``model`` key
        return list(disease_spec_types().values())
    candidates = [annotation, *getattr(annotation, "__args__", ())]
    return [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]


def _tag_of(model: type[BaseModel]) -> object:
    field = model.model_fields.get("model")
    args: tuple[Any, ...] = getattr(field.annotation, "__args__", ()) if field else ()
    return args[0] if len(args) == 1 else None


def _walk(
    model: type[BaseModel], loc: Sequence[int | str]
) -> tuple[tuple[int | str, ...], type[BaseModel] | None]:
    """Return ``loc`` without union tags, and the model class that holds its last field.

    A discriminated union (``[disease]``) puts the chosen tag in the error location
    (``disease.sca.baseline_score``); users wrote ``disease.baseline_score``.
    """
    shown: list[int | str] = []
    options: list[type[BaseModel]] = [model]
    for part in loc:
        if isinstance(part, int):
            shown.append(part)
            continue
        if len(options) > 1:
            tagged = [m for m in options if _tag_of(m) == part]
            if tagged:
                options = tagged
                continue
        shown.append(part)
        field = options[0].model_fields.get(str(part)) if len(options) == 1 else None
        options = [] if field is None else _models_of(field.annotation)
    return tuple(shown), options[0] if len(options) == 1 else None


def format_validation_error(err: ValidationError, model: type[BaseModel]) -> str:
    """Turn the first pydantic error into one line: field, bad value, what is allowed."""
    first = err.errors(include_url=False)[0]
    loc, _ = _walk(model, tuple(first["loc"]))
    where = _loc_text(loc) or "scenario"
    kind = first["type"]
    value = first.get("input")
    msg = str(first["msg"])
    ctx = first.get("ctx") or {}
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        discriminator = str(ctx.get("discriminator", "model")).strip("'")
        key = f"{where}.{discriminator}"
        expected = ctx.get("expected_tags")
        _, parent = _walk(model, tuple(first["loc"])[:-1])
        if expected is None and parent is not None:
            field = parent.model_fields.get(str(loc[-1]))
            tags = [repr(_tag_of(m)) for m in _models_of(field.annotation if field else None)]
            expected = ", ".join(tags)
        if kind == "union_tag_not_found":
            return f"{key}: missing; must be one of {expected}"
        tag = value.get(discriminator) if isinstance(value, dict) else ctx.get("tag")
        return f"{key} = {_shown(tag)}: must be one of {expected}"
    if kind == "extra_forbidden":
        _, holder = _walk(model, tuple(first["loc"])[:-1])
        allowed = ", ".join(holder.model_fields) if holder else "see the documentation"
        return f"{where} = {_shown(value)}: unknown key; allowed keys here: {allowed}"
    if kind in _KINDS:
        name = loc[-1] if loc else ""
        _, holder = _walk(model, tuple(first["loc"])[:-1])
        field = holder.model_fields.get(name) if holder and isinstance(name, str) else None
        return f"{where} = {_shown(value)}: must be {_expected(kind, str(name), field)}"
    if kind == "missing":
        return f"{where}: missing; this key is required"
    if kind == "value_error":
        text = msg.removeprefix("Value error, ")
        return f"{where}.{text}" if loc else text
    msg = msg.replace("Input should be", "must be").replace("Input", "value")
    return f"{where} = {_shown(value)}: {msg}"


def parse_lot(data: dict[str, Any], *, where: str = "lot") -> Lot:
    """Validate a lot given as a mapping; errors start with ``where``.

    Raises
    ------
    SpecError
        With one line naming the field, the bad value and what is allowed.
    """
    try:
        return Lot.model_validate(data)
    except ValidationError as err:
        raise SpecError(f"{where}: {format_validation_error(err, Lot)}") from None


def load_lot(path: str | Path, *, where: str | None = None) -> Lot:
    """Read and validate a lot file (errors start with ``where``, default the path).

    Raises
    ------
    SpecError
        For a missing or malformed file, an unknown key or a bad value.
    """
    return parse_lot(read_toml(path, what=where or "lot"), where=where or f"lot {str(path)!r}")


def _resolve_lot(data: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Replace a lot file name in ``[product]`` with the lot it holds."""
    product = data.get("product")
    if not isinstance(product, dict) or not isinstance(product.get("lot"), str):
        return data
    name = product["lot"]
    if not name.strip():
        raise SpecError(f"product.lot = {name!r}: must name a lot file (relative to the scenario)")
    path = Path(name) if Path(name).is_absolute() else base_dir / name
    lot = load_lot(path, where="product.lot")
    return {**data, "product": {**product, "lot": lot}}


def parse_scenario(data: dict[str, Any], *, base_dir: str | Path | None = None) -> Scenario:
    """Validate a scenario given as a mapping (e.g. parsed TOML).

    ``[product] lot`` may name a lot file, resolved relative to ``base_dir``
    (default: the working directory).

    Raises
    ------
    SpecError
        With one line naming the field, the bad value and what is allowed.
    """
    data = _resolve_lot(data, Path(base_dir) if base_dir is not None else Path.cwd())
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise SpecError(format_validation_error(err, Scenario)) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Raises
    ------
    SpecError
        For a missing or malformed file, an unknown key or a bad value, or a lot
        file (``[product] lot``, relative to the scenario file) that is.
    """
    return parse_scenario(read_toml(path, what="scenario"), base_dir=Path(path).parent)


def load_trial(path: str | Path) -> TrialSpec:
    """Read and validate a trial file; each arm's ``scenario`` is relative to it.

    Raises
    ------
    SpecError
        For a missing or malformed trial or scenario file, an unknown key or a bad
        value (one line naming the field).
    """
    path = Path(path)
    data = read_toml(path, what="trial")
    arms = data.get("arm")
    if isinstance(arms, list):
        resolved = []
        for i, arm in enumerate(arms):
            if isinstance(arm, dict) and isinstance(arm.get("scenario"), str):
                name = arm["scenario"]
                if not name.strip():
                    raise SpecError(
                        f"arm[{i}].scenario = {name!r}: must name a scenario file "
                        "(relative to the trial file)"
                    )
                where = Path(name) if Path(name).is_absolute() else path.parent / name
                try:
                    scenario = load_scenario(where)
                except SpecError as err:
                    raise SpecError(f"arm[{i}].scenario = {name!r}: {err}") from None
                arm = {**arm, "scenario": scenario}
            resolved.append(arm)
        data = {**data, "arm": resolved}
    try:
        return TrialSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(format_validation_error(err, TrialSpec)) from None
