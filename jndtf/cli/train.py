"""`jndtf train FAMILY`: one command per family of the model registry (need the [train] extra).

Nothing here names a family. Each family registers a :class:`jndtf.models.registry.TrainEntry`
(its settings dataclass and train function as lazy paths); the command's options are derived
from the settings fields declared with :func:`jndtf.settings.option` by the same code as
every other command (:mod:`jndtf.cli._settings`), so every default and help text is written
once, on the field. ``--resume`` / ``--resume-or-start`` are added to
every family whose entry names a checkpoint. Commands are built when they are run (``jndtf
train --help`` lists the families from the registry without importing any training code);
without the [train] extra a command says which pip command to run.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core
import typer.main
from rich.markup import escape
from rich.progress import TextColumn

from jndtf.cli._shared import (
    app,
    command_line,
    err,
    progress_bar,
    require_training,
    stdout,
    user_errors,
)


def resume_mode(checkpoint: Path, resume: bool, resume_or_start: bool) -> bool:
    """Whether to resume, from --resume / --resume-or-start and whether `checkpoint` exists.

    --resume without a checkpoint is refused (a typo in --out must not silently start over);
    --resume-or-start says on stderr which of the two it does.

    Raises:
        ValueError: both options, or --resume and no checkpoint.
    """
    if resume and resume_or_start:
        raise ValueError("give --resume or --resume-or-start, not both")
    found = checkpoint.is_file()
    if resume and not found:
        raise ValueError(
            f"--resume: there is no checkpoint at {checkpoint}, so nothing to continue; check "
            "--out (the run folder of the interrupted run), or pass --resume-or-start to start "
            "a new run when there is none"
        )
    if resume_or_start:
        what = f"resuming from {checkpoint}" if found else f"no checkpoint at {checkpoint}"
        err.print(
            f"[bold]{escape(what)}[/]" + ("" if found else ": starting a new run"),
            highlight=False,
        )
    return found and (resume or resume_or_start)


_RESUME_OPTIONS = (
    inspect.Parameter(
        "resume",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[
            bool,
            typer.Option(
                "--resume",
                help="Continue from the run's checkpoint (refused when there is none).",
            ),
        ],
    ),
    inspect.Parameter(
        "resume_or_start",
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=Annotated[
            bool,
            typer.Option(
                "--resume-or-start",
                help="Continue from the checkpoint if there is one, else start a new run "
                "(says which).",
            ),
        ],
    ),
)


def train_command(family: str, entry) -> typing.Callable[..., None]:
    """The typer command function of ``jndtf train FAMILY`` for registry entry `entry`.

    Imports the family's settings class (not its training code). The function's signature is
    the settings fields of :func:`jndtf.settings.cli_fields` (+ the resume options
    when the entry names a checkpoint); it fills ``command`` (and ``verbose`` for runs that
    show Keras' progress), builds the settings inside :func:`user_errors`, runs, shows progress
    and prints the entry's report line.
    """
    from jndtf.cli._settings import _parameter, cli_fields, fields_facts
    from jndtf.models.registry import load_object

    settings_cls = load_object(entry.settings)
    fields = cli_fields(settings_cls)  # the fields' metadata["cli"] facts (jndtf.settings)
    hints = typing.get_type_hints(settings_cls)
    names = {f.name for f in dataclasses.fields(settings_cls)}
    params = [_parameter(f, facts, hints) for f, facts in fields]
    if entry.checkpoint:
        params += list(_RESUME_OPTIONS)
    parse = {f.name: facts.parse for f, facts in fields if facts.parse is not None}

    def command(**kwargs: Any) -> None:
        resume = kwargs.pop("resume", False)
        resume_or_start = kwargs.pop("resume_or_start", False)
        with user_errors():
            require_training()
            values = {
                k: (parse[k](v) if k in parse and v is not None else v) for k, v in kwargs.items()
            }
            if entry.checkpoint:
                checkpoint = Path(load_object(entry.checkpoint)(values))
                values["resume"] = resume_mode(checkpoint, resume, resume_or_start)
            if "command" in names:
                values["command"] = command_line()
            if entry.progress is None and "verbose" in names:
                values["verbose"] = 1 if err.is_terminal else 2
            settings = settings_cls(**values)
            run = load_object(entry.run)
            interrupted = load_object(entry.interrupted) if entry.interrupted else None
        result = _run(run, settings, entry, interrupted)
        if entry.report:
            stdout.print(load_object(entry.report)(result), highlight=False)

    command.__name__ = f"train_{family}"
    command.__doc__ = entry.help or f"Train a {family} network."
    command.__signature__ = inspect.Signature(params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__settings__ = settings_cls
    command.__settings_cli__ = fields_facts(fields)
    return command


def _run(run, settings, entry, interrupted):
    """``run(settings)``, with the entry's progress bar; Ctrl-C after a checkpoint -> exit 130."""
    from jndtf.models.registry import load_object

    stop = interrupted or ()
    try:
        if entry.progress is None:
            with user_errors():
                return run(settings)
        fields = load_object(entry.progress)
        with progress_bar(TextColumn("{task.fields[text]}")) as bar:
            task = bar.add_task("preparing", total=None, text="")

            def step(p) -> None:
                update = fields(p)
                if update:
                    bar.update(task, **{**update, "text": update.get("text") or ""})

            with user_errors():
                return run(settings, progress=step)
    except stop as e:
        err.print(
            f"[bold yellow]interrupted:[/] {escape(str(e))}; continue with --resume",
            highlight=False,
        )
        raise typer.Exit(130) from None
    except FloatingPointError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
        raise typer.Exit(3) from None


@functools.cache
def _click_command(family: str) -> typer.core.TyperCommand:
    """The click command of ``jndtf train FAMILY``; without the [train] extra (the settings
    cannot be imported), a command that names the pip command whatever its options."""
    from jndtf.models.registry import trainable_families

    entry = trainable_families()[family]
    group = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    try:
        fn = train_command(family, entry)
    except ImportError as e:
        message = str(e)

        def fn(args: Annotated[list[str] | None, typer.Argument(hidden=True)] = None) -> None:
            with user_errors():
                raise ImportError(message)

        fn.__doc__ = (
            f"{entry.help}\n\nIts options are listed once the training code imports: "
            + escape(message)
        )
        group.command(
            family,
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        )(fn)
    else:
        group.command(family)(fn)
    return typer.main.get_command(group)


class TrainGroup(typer.core.TyperGroup):
    """``jndtf train``: the registry's trainable families, each built on first use.

    While ``jndtf train --help`` lists the families, a family is its help line only, so the
    listing imports no training code (a settings module may load Keras).
    """

    _listing = False

    def list_commands(self, ctx: typer.Context) -> list[str]:
        from jndtf.models.registry import trainable_families

        return sorted({*super().list_commands(ctx), *trainable_families()})

    def format_help(self, ctx: typer.Context, formatter) -> None:
        self._listing = True
        try:
            return super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def get_command(self, ctx: typer.Context, cmd_name: str) -> typer.core.TyperCommand | None:
        from jndtf.models.registry import trainable_families

        found = super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        entry = trainable_families().get(cmd_name)
        if entry is None:
            return None
        if self._listing:
            return typer.core.TyperCommand(cmd_name, help=entry.help)
        return _click_command(cmd_name)


train_app = typer.Typer(
    cls=TrainGroup,
    help="Train a jndtf network (needs the \\[train] extra: TensorFlow + Keras). One command "
    "per model family of the registry (`jndtf list`).",
    no_args_is_help=True,
)
app.add_typer(train_app, name="train")
