"""The ``tmekit`` command line's plumbing: the Typer apps, messages in command-line terms, errors, progress.

The commands are in ``tmekit.cli`` (one module per group of commands: ``tmekit._cli_cohort`` for ``associate``);
they share what is here, so every command reports errors, warnings and progress the same way.
"""

from __future__ import annotations

import contextlib
import inspect
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from tmekit._cli_terms import roles_in_cli_terms
from tmekit._progress import reporting

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

__all__ = ["STATE", "USER_ERRORS", "CoordinateSystem", "Force", "Input", "Overwrite", "TableKey", "app", "err", "fail",
           "in_cli_terms", "out", "progress", "say", "show", "signatures_app", "split", "user_errors"]  # fmt: skip

app = typer.Typer(
    name="tmekit",
    help="Tumour-microenvironment signature scoring and immune-phenotype classification for .h5ad files.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
signatures_app = typer.Typer(help="List, show and export the curated signature library.", no_args_is_help=True)
app.add_typer(signatures_app, name="signatures")

STATE = {"quiet": False, "debug": False}
#: Errors that mean bad input (a message, exit code 2); anything else is a bug and shows its traceback.
USER_ERRORS = (ValueError, KeyError, TypeError, OSError)  # OSError: missing, unreadable or unwritable files
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

Force = Annotated[bool, typer.Option("--force", help="Replace an existing output file (never an input).")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace tmekit results already in the input object.")]
Input = Annotated[Path, typer.Argument(help="Input .h5ad file or SpatialData .zarr store.")]
TableKey = Annotated[str | None, typer.Option(help="SpatialData input: the table of cells (default: the only one).")]
CoordinateSystem = Annotated[
    str | None,
    typer.Option(help="SpatialData input: coordinate system of the positions (default: the only one, or global)."),
]


def cli_option_names() -> set[str]:
    """Every option name of every command (``key_added`` for ``--key-added``)."""
    commands = [c.callback for c in app.registered_commands + signatures_app.registered_commands if c.callback]
    return {name for f in commands for name in inspect.signature(f).parameters}


def in_cli_terms(message: str) -> str:
    """API advice in command-line terms: "`overwrite=True`" -> "`--overwrite`", "`key_added=`" -> "`--key-added`"."""
    names = cli_option_names()
    message = roles_in_cli_terms(message)

    def option(found: re.Match[str]) -> str:
        name, value = found.group(1), found.group(2)
        if name not in names:
            return found.group(0)
        flag = "--" + name.replace("_", "-")
        return f"`{flag}`" if value in {"True", ""} else f"`{flag} {value.strip(chr(39))}`"

    return re.sub(r"`(\w+)=([^`\s]*)`", option, message)


def fail(error: BaseException) -> None:
    message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    message = in_cli_terms(message)
    err.print(f"[bold red]tmekit: error[/bold red]: {message}")
    if not STATE["debug"]:
        err.print("(run with --debug to see the traceback)", style="dim")
    raise typer.Exit(code=2)


@contextlib.contextmanager
def user_errors() -> Generator[None, None, None]:
    """Bad input and unwritable outputs: one paragraph, exit 2. Ctrl-C: one line, exit 130 (outputs are atomic)."""
    try:
        yield
    except USER_ERRORS as error:
        if STATE["debug"]:
            raise
        fail(error)
    except KeyboardInterrupt:
        if STATE["debug"]:
            raise
        err.print("tmekit: interrupted, nothing written")
        raise typer.Exit(code=130) from None


@contextlib.contextmanager
def progress(description: str) -> Generator[Callable[[str], None], None, None]:
    """A bar for long steps: what is being done, done/total units, elapsed time.

    The library reports its own steps (row chunks scored, samples done: ``tmekit._progress``); ``update(text)``
    sets the description between them. Nothing is shown with --quiet or when stderr is not a terminal (a log file,
    a pipe, a workflow job).
    """
    if STATE["quiet"] or not err.is_terminal:
        yield lambda _text: None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=30), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(description, total=None)

        def step(what: str, done: int, total: int) -> None:
            progress.update(task, description=f"{description}: {what}", completed=done, total=total)

        with reporting(step):
            yield lambda text: progress.update(task, description=text, completed=0, total=None)


def show(caught: list) -> None:
    """Show the command's tmekit warnings, each one line, in command-line terms (`--cohort-relative`, `--rules`)."""
    for w in caught:
        err.print(f"[yellow]warning[/yellow]: {in_cli_terms(str(w.message))}")


def say(text: str) -> None:
    if not STATE["quiet"]:
        out.print(text)


def split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@app.callback()
def _options(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summaries, only errors.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")] = False,
) -> None:
    """Score AnnData files with cited TME signatures and call tumours inflamed, excluded or desert."""
    STATE["quiet"], STATE["debug"] = quiet, debug
