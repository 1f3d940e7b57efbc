"""Typer commands derived from frozen settings dataclasses: a default and a help text are
written once, on the settings field, and the command line reads them from there (the way
spaCy's ``cli/_util.py`` and tensorflow/compression's ``models/*.py`` keep one source).

A field carries its command-line facts in ``metadata["cli"]`` (a :class:`jndtf.settings.Cli`);
:func:`jndtf.settings.option` writes such a field (typer-free, so the training side uses it
too). For a dataclass whose module is not the CLI's (the edge runtime's ``StreamSettings``),
the command passes the facts in a ``{field: Cli}`` mapping instead and the default still comes
from the field. :func:`settings_command` builds the command's signature
(``typing.Annotated[type, typer.Option(...)]`` per field, default from the field) and calls the
decorated function with the filled, validated settings object.

Example:
    >>> @dataclass(frozen=True)
    ... class GreetSettings:
    ...     name: str = option("--name", "-n", default="world", help="Who to greet.")
    >>> @settings_command(app, "greet", GreetSettings)
    ... def greet(settings: GreetSettings) -> None:
    ...     print(f"hello {settings.name}")
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import typer

from jndtf.settings import (
    CLI_KEY,
    FIELD_DEFAULT,
    Cli,
    cli_fields,
    field_default,
    option,
    split_names,
)


def cli_default(f: dataclasses.Field, facts: Cli) -> Any:
    """The command line's default of a field: the field's (through ``facts.show``), or
    ``facts.default`` for a field without one; MISSING: required."""
    if facts.default is not FIELD_DEFAULT:
        return facts.default
    value = field_default(f)
    if value is dataclasses.MISSING or value is None or facts.show is None:
        return value
    return facts.show(value)


def _parameter(f: dataclasses.Field, facts: Cli, hints: Mapping[str, Any]) -> inspect.Parameter:
    kind = facts.cli_type if facts.cli_type is not None else hints[f.name]
    default = cli_default(f, facts)
    if facts.argument:
        info = typer.Argument(
            help=facts.help, metavar=facts.metavar, show_default=facts.show_default
        )
    else:
        flags = facts.flags or ("--" + f.name.replace("_", "-"),)
        info = typer.Option(
            *flags,
            help=facts.help,
            min=facts.min,
            max=facts.max,
            metavar=facts.metavar,
            show_default=facts.show_default,
        )
    return inspect.Parameter(
        f.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=inspect.Parameter.empty if default is dataclasses.MISSING else default,
        annotation=Annotated[kind, info],
    )


def settings_command(
    group: typer.Typer,
    name: str,
    settings_cls: type,
    *,
    cli: Mapping[str, Cli] | None = None,
    **command_kwargs: Any,
) -> Callable[[Callable], Callable]:
    """Registers ``fn(settings, **extra)`` as command `name` of `group`.

    The command's options are the settings fields :func:`cli_fields` names (default and help
    from there), followed by `fn`'s own keyword parameters after `settings` (command-line-only
    switches written as usual, ``Annotated[bool, typer.Option(...)] = False``). The settings
    object is built inside :func:`jndtf.cli._shared.user_errors`, so a value its
    ``__post_init__`` refuses is one line naming it and exit code 2. `command_kwargs` go to
    ``group.command``. The command function keeps ``__settings__`` (the class) and
    ``__settings_cli__`` (the facts) for the tests that check one default per option.
    """

    def decorate(fn: Callable) -> Callable:
        from jndtf.cli._shared import user_errors

        fields = cli_fields(settings_cls, cli)
        hints = typing.get_type_hints(settings_cls)
        derived = [_parameter(f, facts, hints) for f, facts in fields]
        own = list(inspect.signature(fn, eval_str=True).parameters.values())[1:]
        clash = {p.name for p in derived} & {p.name for p in own}
        if clash:
            raise TypeError(f"{fn.__name__}: {sorted(clash)} are settings fields already")
        own_names = [p.name for p in own]
        parse = {f.name: facts.parse for f, facts in fields if facts.parse is not None}

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            extra = {k: kwargs.pop(k) for k in own_names if k in kwargs}
            with user_errors():
                values = {
                    k: (parse[k](v) if k in parse and v is not None else v)
                    for k, v in kwargs.items()
                }
                settings = settings_cls(**values)
            return fn(settings, **extra)

        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in derived + own]
        del command.__wrapped__  # typer reads the signature below, not fn's
        command.__signature__ = inspect.Signature(params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        command.__settings__ = settings_cls
        command.__settings_cli__ = dict(fields_facts(fields))
        group.command(name, **command_kwargs)(command)
        return command

    return decorate


def given(ctx: typer.Context, name: str) -> bool:
    """True when option `name` (the parameter's name) was typed (or came from the
    environment), False when it holds its default. Compares the source by name: typer ships
    its own copy of click, whose ``ParameterSource`` is not ``click.core``'s."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def fields_facts(fields: list[tuple[dataclasses.Field, Cli]]) -> dict[str, Cli]:
    """``{field name: facts}`` of :func:`cli_fields`' list."""
    return {f.name: facts for f, facts in fields}


__all__ = [
    "CLI_KEY",
    "FIELD_DEFAULT",
    "Cli",
    "cli_default",
    "cli_fields",
    "field_default",
    "given",
    "option",
    "settings_command",
    "split_names",
]
