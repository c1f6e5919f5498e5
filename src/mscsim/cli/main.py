"""The ``mscsim`` command.

Every refusal of the command line is one line on stderr with exit status 2, like the
refusals of the commands themselves (see :func:`mscsim.cli.common.user_errors`).
An interrupted run prints ``interrupted`` and exits with 130; a reader that leaves
early (``mscsim params | head -1``) ends the command quietly with status 1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from enum import Enum
from typing import Annotated, Any

import typer
from typer._click import Context, Parameter
from typer._click.exceptions import (
    BadOptionUsage,
    BadParameter,
    ClickException,
    MissingParameter,
    NoArgsIsHelpError,
    NoSuchOption,
    UsageError,
)
from typer.core import TyperGroup

from mscsim import __version__
from mscsim.cli.analysis import compare, models, withdrawal
from mscsim.cli.claims import claims
from mscsim.cli.evidence import dose, params
from mscsim.cli.fit import fit
from mscsim.cli.quality import qc, sources
from mscsim.cli.report import report
from mscsim.cli.sbml import export_sbml
from mscsim.cli.sensitivity import sensitivity
from mscsim.cli.serve import serve
from mscsim.cli.simulate import plot, simulate
from mscsim.cli.trial import trial

__all__ = ["MscsimGroup", "app", "main"]

INTERRUPTED = 130  # 128 + SIGINT
BROKEN_PIPE = 1  # as click and rich exit when stdout's reader has gone

_ALLOWED = {
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "bool_parsing": "must be true or false",
}


class MscsimGroup(TyperGroup):
    """The root command: refusals in one line, quiet interrupts and broken pipes."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line and exit (or return the exit status if not standalone)."""
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
            sys.stdout.flush()
        except NoArgsIsHelpError as err:
            err.show()
            code = err.exit_code
        except UsageError as err:
            sys.stderr.write(f"error: {_usage_message(err)}\n")
            code = 2
        except ClickException as err:
            sys.stderr.write(f"error: {_sentence(err.format_message())}\n")
            code = err.exit_code
        except BrokenPipeError:
            _discard_stdout()
            code = BROKEN_PIPE
        code = code if isinstance(code, int) else 0
        if not standalone_mode:
            return code
        sys.exit(code)

    def invoke(self, ctx: Context) -> Any:
        """Run the subcommand; an interrupt ends it with one line, ``interrupted``."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            sys.stderr.write("interrupted\n")
            raise typer.Exit(INTERRUPTED) from None

    def get_help_option(self, ctx: Context) -> Any:
        """Typer's ``--help`` flag, ``False`` when absent so that its value needs no check.

        Typer checks a value that is not a bool with pydantic, whose import would slow
        the start of every subcommand.
        """
        option = super().get_help_option(ctx)
        if option is not None:
            option.default = False
        return option

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Any, list[str]]:
        """Find the subcommand; an unknown name is refused with the list of commands."""
        if args and not args[0].startswith("-") and self.get_command(ctx, args[0]) is None:
            known = ", ".join(self.list_commands(ctx))
            raise UsageError(f"no such command {args[0]!r} (commands: {known})", ctx)
        return super().resolve_command(ctx, args)


def _usage_message(err: UsageError) -> str:
    """Say in one line what was wrong on the command line and what is allowed.

    Parameters
    ----------
    err : UsageError
        Raised while the command line was parsed.

    Returns
    -------
    str
        ``<option> = <value as typed>: <what is allowed>`` for a bad value, otherwise
        what is missing or unknown and for which command.
    """
    command = err.ctx.command_path if err.ctx is not None else "mscsim"
    if isinstance(err, MissingParameter) and err.param is not None:
        return f"missing {_param_name(err.param)} for {command!r}"
    if isinstance(err, BadParameter) and err.param is not None:
        return _bad_value(err, err.param)
    if isinstance(err, NoSuchOption):
        maybe = f" (did you mean {' or '.join(err.possibilities)}?)" if err.possibilities else ""
        return f"no such option {err.option_name} for {command!r}{maybe}"
    if isinstance(err, BadOptionUsage) or err.message.startswith("no such command"):
        return _sentence(err.message)
    return f"{_sentence(err.message)} for {command!r}"


def _bad_value(err: BadParameter, param: Parameter) -> str:
    """``--n-patients = 'abc': must be a whole number``."""
    from pydantic import ValidationError  # typer checks values with pydantic

    name = _param_name(param)
    cause = err.__cause__
    if not isinstance(cause, ValidationError):
        return f"{name}: {_sentence(err.message)}"
    first = cause.errors(include_url=False)[0]
    choices = getattr(getattr(param, "type_descriptor", None), "choices", None)
    if choices:
        values = [c.value if isinstance(c, Enum) else c for c in choices]
        allowed = "must be one of " + ", ".join(map(str, values))
    else:
        allowed = _ALLOWED.get(first["type"], _sentence(first["msg"]))
    return f"{name} = {first['input']!r}: {allowed}"


def _param_name(param: Parameter) -> str:
    """Name an option by its long flag (``--output``), an argument in capitals."""
    if param.param_type_name == "option":
        return max(param.opts, key=len)
    return (param.name or "argument").upper()


def _sentence(message: str) -> str:
    """Click's ``'Option requires an argument.'`` as ``'option requires an argument'``."""
    message = message.strip().removesuffix(".")
    return message[:1].lower() + message[1:]


def _discard_stdout() -> None:
    """Send what is left for stdout to the null device: its reader has gone."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


app = typer.Typer(
    name="mscsim",
    cls=MscsimGroup,
    help="Simulate and plan mesenchymal stem/stromal cell (MSC) therapy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Help texts name TOML tables such as [population]: print them as written.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mscsim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """Simulate and plan mesenchymal stem/stromal cell (MSC) therapy."""


app.command()(simulate)
app.command()(dose)
app.command()(params)
app.command()(plot)
app.command()(compare)
app.command()(withdrawal)
app.command()(models)
app.command()(qc)
app.command()(sources)
app.command()(trial)
app.command(name="export-sbml")(export_sbml)
app.command()(fit)
app.command()(sensitivity)
app.command()(claims)
app.command()(report)
app.command()(serve)


def main() -> None:
    """Run the command line."""
    app()
