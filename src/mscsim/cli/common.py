"""Shared CLI plumbing: one-line errors with exit status 2, warnings, progress."""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from mscsim.errors import MscsimError, MscsimWarning, SpecError

__all__ = [
    "err_console",
    "out_console",
    "parse_whole_numbers",
    "progress_callback",
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
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MscsimWarning)
            try:
                return func(*args, **kwargs)
            except MscsimError as err:
                _show_warnings(caught)  # before the error: the refusal is the last line
                sys.stderr.write(f"error: {err}\n")
                raise typer.Exit(code=2) from None
            finally:
                _show_warnings(caught)

    return wrapper


def _show_warnings(caught: list[warnings.WarningMessage]) -> None:
    """Print and forget the caught warnings: mscsim's as ``warning: ...`` lines."""
    for w in caught:
        if issubclass(w.category, MscsimWarning):
            sys.stderr.write(f"warning: {w.message}\n")
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
