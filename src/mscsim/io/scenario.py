"""Read scenario and lot files (TOML) into validated specifications."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from mscsim.errors import SpecError
from mscsim.spec.lot import Lot
from mscsim.spec.scenario import Scenario
from mscsim.spec.trial import TrialSpec

__all__ = [
    "format_validation_error",
    "load_lot",
    "load_scenario",
    "load_trial",
    "parse_lot",
    "parse_scenario",
    "read_toml",
]


def read_toml(path: str | Path, *, what: str = "file") -> dict[str, Any]:
    """Read a TOML file; refuse a missing, unreadable or malformed file in one line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{what} = {str(path)!r}: file not found") from None
    except IsADirectoryError:
        raise SpecError(f"{what} = {str(path)!r}: is a directory, expected a TOML file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"{what} = {str(path)!r}: cannot be read ({err})") from err
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{what} = {str(path)!r}: not valid TOML ({err})") from err


def _loc_text(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _models_of(annotation: Any) -> list[type[BaseModel]]:
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
        key = f"{where}.{ctx.get('discriminator', 'model').strip(chr(39))}"
        expected = ctx.get("expected_tags")
        _, parent = _walk(model, tuple(first["loc"])[:-1])
        if expected is None and parent is not None:
            field = parent.model_fields.get(str(loc[-1]))
            tags = [repr(_tag_of(m)) for m in _models_of(field.annotation if field else None)]
            expected = ", ".join(tags)
        if kind == "union_tag_not_found":
            return f"{key}: missing; must be one of {expected}"
        return f"{key} = {ctx.get('tag')!r}: must be one of {expected}"
    if kind == "extra_forbidden":
        _, holder = _walk(model, tuple(first["loc"])[:-1])
        allowed = ", ".join(holder.model_fields) if holder else "see the documentation"
        return f"{where} = {value!r}: unknown key; allowed keys here: {allowed}"
    if kind == "missing":
        return f"{where}: missing; this key is required"
    if kind == "value_error":
        text = msg.removeprefix("Value error, ")
        return f"{where}.{text}" if loc else text
    msg = msg.replace("Input should be", "must be").replace("Input", "value")
    return f"{where} = {value!r}: {msg}"


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
