"""What every `jndtf` command shares: the app, the consoles, error handling, progress bars."""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from typing import Annotated

import typer
import typer.core
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from jndtf import __version__

# Library chatter is not for a CLI user: TensorFlow's C++ start-up lines (CUDA-driver probe,
# oneDNN and CPU-feature notices, absl's "before InitializeLog" line), OpenCV's [ WARN:...]
# lines and absl's Python warnings. Errors still show: they reach the user as exceptions.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# OpenCV reports a failed decode or open by its return value, which jndtf turns into a message
# that names the file; its own [ WARN ] / [ ERROR ] log lines only repeat that (read at import)
os.environ.setdefault("OPENCV_LOG_LEVEL", "FATAL")
logging.getLogger("absl").setLevel(logging.ERROR)


@contextmanager
def _stderr_fd_silenced():
    """Sends file descriptor 2 (what C++ libraries write to) to /dev/null for a while."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Imports ``tensorflow`` (whoever asks first: a command, keras, jndtf.models) with its C++
    start-up log silenced; TF_CPP_MIN_LOG_LEVEL no longer reaches those lines (TF 2.21 logs
    them through absl before reading it). Python errors of the import still propagate."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once; the real finders resolve it
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            run = spec.loader.exec_module

            def exec_module(module):
                with _stderr_fd_silenced():
                    run(module)
                if "cv2" in sys.modules:  # TensorFlow may have imported OpenCV's log level away
                    _quiet_opencv()

            spec.loader.exec_module = exec_module
        return spec


def _quiet_opencv() -> None:
    cv2 = sys.modules.get("cv2")
    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_FATAL)
    except AttributeError:  # an OpenCV build without the logging module
        pass


if "tensorflow" not in sys.modules and not any(
    isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path
):
    sys.meta_path.insert(0, _QuietTensorFlowImport())
if "cv2" in sys.modules:
    _quiet_opencv()


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """jndtf's own warnings (e.g. a JPEG trailer ignored) as one ``warning:`` line that names
    the file; other packages' warnings as Python shows them."""
    if category.__module__.split(".")[0] == "jndtf":
        err.print(f"[bold yellow]warning:[/] {escape(str(message))}", highlight=False)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


def _flag_type(self, ctx):
    """A flag takes no value: no ``<bool>`` in the help's type column."""
    return None if getattr(self, "is_flag", False) else _typer_display_type_rich(self, ctx)


_typer_display_type_rich = typer.core.TyperOption.display_type_rich
typer.core.TyperOption.display_type_rich = _flag_type

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
_python_show_warning = warnings.showwarning
warnings.showwarning = _show_warning

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


def for_each(items: Iterable, label: str, fn: Callable, done: Callable | None = None) -> list:
    """Runs `fn` on every item with a progress bar. A file that fails is reported by name and
    skipped; the others still run. Exit code 1 at the end if any failed.

    `done(result)` is called as each item succeeds (the command's one line per file), and
    stdout is flushed after it, so the lines appear as files finish, in a pipe or a log file
    as on a terminal, and a run with failures still lists every file it wrote."""
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
                result = fn(item)
            except USER_ERRORS as e:
                failed.append(item)
                msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
                err.print(f"[bold red]error:[/] {escape(msg)}", highlight=False)
            else:
                results.append(result)
                if done is not None:
                    done(result)
                    stdout.file.flush()
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


#: Help of an IMAGE argument and of ``--out FOLDER``, shared by the commands' settings.
IMAGE_HELP = "An image file or a folder of images."
OUT_HELP = "Output folder (created if missing)."


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
