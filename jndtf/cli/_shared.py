"""What every `jndtf` command shares: the app, the consoles, error handling, progress bars."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from jndtf import __version__

# TensorFlow's C++ start-up chatter (CUDA probes, oneDNN notices) is not for a CLI user.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

app = typer.Typer(
    name="jndtf",
    help="Just-noticeable-difference (JND) maps: priors, classical models, noise injection, "
    "learned models, export and the edge runtime.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)
stdout = Console(soft_wrap=True)

#: errors a user can act on: printed as one line, exit code 2, no traceback
USER_ERRORS = (ValueError, KeyError, FileNotFoundError, ImportError, OSError)


@contextmanager
def user_errors():
    """Turns the library's validation errors into a one-line message and exit code 2."""
    try:
        yield
    except USER_ERRORS as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        err.print(f"[bold red]error:[/] {escape(msg)}", highlight=False)
        raise typer.Exit(2) from None


def for_each(items: Iterable, label: str, fn: Callable) -> list:
    """Runs `fn` on every item with a progress bar. A file that fails is reported by name and
    skipped; the others still run. Exit code 1 at the end if any failed."""
    items = list(items)
    results, failed = [], []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=len(items) < 2 or not err.is_terminal,
    ) as bar:
        task = bar.add_task(label, total=len(items))
        for item in items:
            try:
                results.append(fn(item))
            except USER_ERRORS as e:
                failed.append(item)
                msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
                err.print(f"[bold red]error:[/] {escape(msg)}", highlight=False)
            bar.advance(task)
    if failed:
        err.print(
            f"[bold red]{len(failed)} of {len(items)} inputs failed[/]; the others were written"
        )
        raise typer.Exit(1)
    return results


def _version(value: bool) -> None:
    if value:
        stdout.print(f"jndtf {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """jndtf: JND maps for people and for machines."""


InputPath = Annotated[
    Path, typer.Argument(help="An image file or a folder of images.", show_default=False)
]
OutDir = Annotated[Path, typer.Option("--out", "-o", help="Output folder (created if missing).")]


def progress_bar(*extra_columns) -> Progress:
    """The progress bar of long jobs: description, bar, done/total, elapsed (+ extra columns)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        *extra_columns,
        console=err,
    )


def stepper(bar: Progress, task) -> Callable[[str, int, int], None]:
    """A ``progress(description, done, total)`` callback (the library's jobs) that drives `bar`."""

    def step(description: str, done: int, total: int) -> None:
        bar.update(task, description=description, completed=done, total=total)

    return step


def command_line() -> str:
    """This invocation as a shell line, recorded in training manifests."""
    return " ".join(["jndtf", *sys.argv[1:]])


def require_training() -> None:
    """Fails with the pip command when the [train] extra (Keras) is missing."""
    from jndtf._deps import require

    require("keras", "training")
