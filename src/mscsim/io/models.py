"""Load a user model from a Python file: ``FILE.py:ClassName`` (``mscsim ... --model``).

The file is executed as Python, with the rights of whoever runs the command: load
only files you trust. The class is built with no arguments and must satisfy
:class:`mscsim.models.Model` (subclassing :class:`mscsim.models.ModelBase` is the
easy way). Every refusal is one :class:`~mscsim.errors.SpecError` line naming the
flag or key, the value and what is allowed.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mscsim.errors import SpecError
from mscsim.models.base import Model, ModelBase

__all__ = ["MODEL_FORM", "load_model", "model_members", "require_outputs"]

MODEL_FORM = "FILE.py:ClassName"
"""How a user model is named: a Python file and a class in it."""

_ALLOWED = f"give {MODEL_FORM}, a Python file and a model class in it"


def model_members() -> tuple[str, ...]:
    """Return the members of the :class:`~mscsim.models.Model` protocol, sorted.

    Examples
    --------
    >>> {"name", "outputs", "dose_split"} <= set(model_members())
    True
    """
    methods = (k for k, v in vars(Model).items() if callable(v) and not k.startswith("_"))
    return tuple(sorted({*Model.__annotations__, *methods}))


def _first_line(err: BaseException) -> str:
    """``ZeroDivisionError (division by zero)``: the exception and its first line."""
    text = str(err).strip().splitlines()
    detail = text[0] if text else ""
    if len(detail) > 160:
        detail = detail[:157] + "..."
    name = type(err).__name__
    return f"{name} ({detail})" if detail else name


def _split(spec: str, where: str) -> tuple[Path, str]:
    """Split ``FILE.py:ClassName`` at its last colon (a Windows drive keeps its own)."""
    file, colon, name = spec.rpartition(":")
    if not colon or not file.strip():
        raise SpecError(f"{where}: no colon between the file and the class; {_ALLOWED}")
    if not name.isidentifier():
        raise SpecError(f"{where}: {name!r} is not a class name; {_ALLOWED}")
    return Path(file), name


def _run_file(path: Path, where: str) -> dict[str, Any]:
    """Execute the file as a fresh module; return its names.

    The module is in ``sys.modules`` only while it runs (so that dataclasses and
    the like work); afterwards its classes are pickled by value (cloudpickle, Dask
    workers), since no worker could import the file by name.
    """
    name = f"_mscsim_user_model_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has one
        raise SpecError(f"{where}: cannot be loaded as a Python module; {_ALLOWED}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as err:  # any error of user code, in one line
        raise SpecError(
            f"{where}: running {path.name} raised {_first_line(err)}; "
            "fix the file so that it imports"
        ) from None
    finally:
        sys.modules.pop(name, None)
    return vars(module)


def _missing_members(model: object) -> list[str]:
    """Return the protocol members ``model`` lacks (or has as the wrong kind)."""
    missing = []
    for member in model_members():
        try:
            value = getattr(model, member, None)
        except Exception:  # a property of user code that raises: as good as missing
            value = None
        wants_method = callable(getattr(Model, member, None))
        if value is None or (wants_method and not callable(value)):
            missing.append(member)
    return missing


def _wrong_types(model: object) -> list[str]:
    """Return the protocol attributes whose values have the wrong type."""
    wrong = []
    if not isinstance(getattr(model, "name", None), str):
        wrong.append("name (must be text)")
    for member in ("states", "nonnegative", "output_names", "remainder_reads", "remainder_writes"):
        value = getattr(model, member, None)
        if not isinstance(value, tuple | list) or not all(isinstance(v, str) for v in value):
            wrong.append(f"{member} (must be a tuple of str)")
    return wrong


def load_model(
    spec: str,
    *,
    base_dir: str | Path | None = None,
    flag: str = "--model",
) -> Model:
    """Load the model ``FILE.py:ClassName`` names: execute the file, build the class.

    Security: the file is executed as Python, with the caller's rights.

    Parameters
    ----------
    spec : str
        ``FILE.py:ClassName``; a relative file is relative to ``base_dir``.
    base_dir : str or Path, optional
        Default: the working directory.
    flag : str
        How the value is named in errors (``--model``, ``arm[0].model``).

    Returns
    -------
    Model
        An instance of the class, built with no arguments.

    Raises
    ------
    SpecError
        In one line naming ``flag``, the value and what is allowed: no colon, not a
        ``.py`` file, a missing file, no such class, the file or the class raising
        (the exception is named, without its traceback), or an object that is not
        a model (the members it lacks).
    """
    where = f"{flag} = {spec!r}"
    given, class_name = _split(spec, where)
    if given.suffix != ".py":
        raise SpecError(f"{where}: {str(given)!r} is not a Python (.py) file; {_ALLOWED}")
    path = given if given.is_absolute() or base_dir is None else Path(base_dir) / given
    if not path.is_file():
        shown = "" if path == given else f" ({path})"
        raise SpecError(f"{where}: file not found{shown}; {_ALLOWED}")
    names = _run_file(path, where)
    cls = names.get(class_name)
    if not inspect.isclass(cls):
        found = {k: v for k, v in names.items() if inspect.isclass(v) and not k.startswith("_")}
        own = [k for k, v in found.items() if v.__module__ == names["__name__"]]
        classes = sorted(own or found)
        what = "no class" if cls is None else "not a class:"
        raise SpecError(
            f"{where}: {what} {class_name!r} in {given.name}; "
            f"classes there: {', '.join(classes) or 'none'}"
        )
    try:
        model = cls()
    except Exception as err:  # any error of user code, in one line
        raise SpecError(
            f"{where}: {class_name}() raised {_first_line(err)}; "
            "the class must build with no arguments"
        ) from None
    missing = _missing_members(model)
    if missing:
        base = (
            "a ModelBase subclass sets name, states, nonnegative, parameters and "
            "output_names and defines linear_system, dose_split and outputs"
            if isinstance(model, ModelBase)
            else "subclass mscsim.models.ModelBase, or give every member of mscsim.models.Model"
        )
        raise SpecError(f"{where}: not a model, it lacks {', '.join(missing)}; {base}")
    wrong = _wrong_types(model)
    if wrong:
        raise SpecError(f"{where}: not a model, wrong {', '.join(wrong)}")
    if not isinstance(model, Model):  # pragma: no cover - every member was found above
        raise SpecError(f"{where}: not a model; {_ALLOWED}")
    return model


def require_outputs(
    model: Model,
    spec: str,
    *,
    use: str,
    outputs: Sequence[str | tuple[str, ...]] = (),
    outcome: bool = False,
    flag: str = "--model",
) -> None:
    """Refuse ``model`` if it lacks what ``use`` (a command or option) reads.

    Parameters
    ----------
    model : Model
    spec : str
        The value given (``FILE.py:ClassName``), for the message.
    use : str
        What needs them, e.g. ``"withdrawal"``.
    outputs : sequence of str or tuple of str
        Outputs needed; a tuple is a choice (any one of them is enough).
    outcome : bool
        Whether an ``outcome`` attribute (name, unit, higher_is_worse) naming one
        of the outputs is needed too.
    flag : str

    Raises
    ------
    SpecError
        ``--model = 'm.py:C': withdrawal needs the output effect; C has outputs ...``.
    """
    have = set(model.output_names)
    lacking = []
    for need in outputs:
        choices = (need,) if isinstance(need, str) else need
        if not have.intersection(choices):
            lacking.append("the output " + " or ".join(choices))
    found = getattr(model, "outcome", None)
    if outcome and (found is None or getattr(found, "name", None) not in have):
        lacking.append(
            "an outcome (an attribute with name, unit and higher_is_worse, naming an output)"
        )
    if lacking:
        raise SpecError(
            f"{flag} = {spec!r}: {use} needs {' and '.join(lacking)}; "
            f"{type(model).__name__} has outputs {', '.join(model.output_names) or 'none'}"
        )
