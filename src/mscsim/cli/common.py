"""Shared CLI plumbing: one-line errors with exit status 2, warnings, progress."""

from __future__ import annotations

import functools
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import typer
from rich.console import Console

from mscsim.errors import MscsimError, MscsimWarning, SpecError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mscsim.engine.solvers import Solver
    from mscsim.models.base import Model
    from mscsim.problem.executors import Executor
    from mscsim.problem.policy import EvidencePolicy

__all__ = [
    "err_console",
    "executor_for",
    "in_flags",
    "load_user_model",
    "out_console",
    "parse_whole_numbers",
    "progress_callback",
    "run_options",
    "user_errors",
]

P = ParamSpec("P")
R = TypeVar("R")

out_console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Run a command: a user error prints one line on stderr and exits with status 2.

    mscsim warnings are printed as ``warning: ...`` lines on stderr.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        caught: list[warnings.WarningMessage] = []
        try:
            # Warnings are shown after the block: inside it, showing one records it again.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", MscsimWarning)
                return func(*args, **kwargs)
        except MscsimError as err:
            _show_warnings(caught)  # before the error: the refusal is the last line
            sys.stderr.write(f"error: {in_flags(str(err))}\n")
            raise typer.Exit(code=2) from None
        finally:
            _show_warnings(caught)

    return wrapper


_FLAG_WORDING = {
    "allow it with EvidencePolicy(allow_beyond_evidence=True)": (
        "pass --allow-beyond-evidence to simulate it anyway"
    ),
    "allow it with EvidencePolicy(allow_failed_lot=True)": "pass --allow-failed-lot to simulate it",
    "the policy allows a failed lot": "because of --allow-failed-lot",
    "dask address = ": "--dask = ",
    "percentile summary: ": "--summary: ",
}
"""How the core's options are spelled on the command line."""


def in_flags(message: str) -> str:
    """Reword a core message for the command line: its options become the flags that set them.

    Examples
    --------
    >>> in_flags("dask address = 'x': cannot connect")
    "--dask = 'x': cannot connect"
    """
    for core, flag in _FLAG_WORDING.items():
        message = message.replace(core, flag)
    return message


def run_options(
    engine: str,
    allow_beyond_evidence: bool = False,
    allow_failed_lot: bool = False,
    *,
    max_step_day: float | None = None,
) -> tuple[Solver, EvidencePolicy]:
    """Return the solver and evidence policy that ``--engine`` and the ``--allow-*`` flags set."""
    from mscsim.engine.solvers import solver_named
    from mscsim.problem.policy import EvidencePolicy

    options = {} if max_step_day is None else {"max_step_day": max_step_day}
    solver = solver_named(engine, **options)
    return solver, EvidencePolicy(allow_beyond_evidence, allow_failed_lot)


def load_user_model(
    spec: str | None,
    *,
    use: str,
    outputs: Sequence[str | tuple[str, ...]] = (),
    outcome: bool = False,
) -> Model | None:
    """Return the model ``--model FILE.py:ClassName`` names (None without the flag).

    Raises
    ------
    SpecError
        In one line, for a file or class that cannot be loaded or is not a model,
        or a model without the ``outputs`` (and ``outcome``) that ``use`` reads.
    """
    if spec is None:
        return None
    from mscsim.io.models import load_model, require_outputs

    model = load_model(spec)
    require_outputs(model, spec, use=use, outputs=outputs, outcome=outcome)
    return model


def executor_for(dask: str | None, chunk_size: int) -> Executor:
    """Return the executor ``--dask`` and ``--chunk-size`` ask for (default: in process)."""
    from mscsim.problem.executors import DaskExecutor, InProcess

    if dask is None:
        return InProcess(chunk_size)
    return DaskExecutor(dask, chunk_size)


def _show_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Print and forget the caught warnings, each distinct one once, in order.

    mscsim's print as ``warning: ...`` lines (with ``(N times)`` when repeated);
    others as Python shows them.
    """
    counts = Counter((w.category, str(w.message)) for w in caught)
    for w in caught:
        key = (w.category, str(w.message))
        if key not in counts:
            continue  # shown already
        times = counts.pop(key)
        if issubclass(w.category, MscsimWarning):
            again = f" ({times} times)" if times > 1 else ""
            sys.stderr.write(f"warning: {in_flags(str(w.message))}{again}\n")
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)
    caught.clear()


def parse_whole_numbers(text: str, flag: str, low: int, high: int, example: str) -> list[int]:
    """Parse ``"1,2,4"`` into distinct whole numbers from ``low`` to ``high``, in order.

    Raises
    ------
    SpecError
        In one line naming ``flag``, the text and what is allowed.
    """
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(not low <= v <= high for v in values) or len(set(values)) != len(values):
        raise SpecError(
            f"{flag} = {text!r}: give distinct whole numbers from {low} to {high}, "
            f"comma-separated (e.g. {example})"
        )
    return values


@contextmanager
def progress_callback(description: str) -> Iterator[Callable[[int, int], None] | None]:
    """Yield a ``progress(done, total)`` callback drawing a bar on stderr, if it is a TTY."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
