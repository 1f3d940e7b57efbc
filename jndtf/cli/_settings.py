"""Typer commands derived from frozen settings dataclasses: a default and a help text are
written once, on the settings field, and the command line reads them from there (the way
spaCy's ``cli/_util.py`` and tensorflow/compression's ``models/*.py`` keep one source).

A field carries its command-line facts in ``metadata["cli"]`` (a :class:`Cli`); :func:`option`
writes such a field. For a dataclass whose module is not the CLI's (the edge runtime's
``StreamSettings``), the command passes the facts in a ``{field: Cli}`` mapping instead and the
default still comes from the field. :func:`settings_command` builds the command's signature
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
from dataclasses import dataclass
from typing import Annotated, Any

import typer

#: Key of a field's command-line facts in ``dataclasses.Field.metadata``.
CLI_KEY = "cli"
#: :attr:`Cli.default` when the command line takes the field's own default.
FIELD_DEFAULT = type("FieldDefault", (), {"__repr__": lambda self: "FIELD_DEFAULT"})()


@dataclass(frozen=True)
class Cli:
    """How one settings field reads on the command line.

    Attributes:
        help: the option's help text (the only place it is written).
        flags: ``("--max-frames",)``, ``("--out", "-o")``, ``("--compare/--no-compare",)``;
            empty: ``--field-name``.
        argument: a positional argument instead of an option.
        min, max: bounds typer checks (numbers).
        metavar: the value's name in ``--help``.
        show_default: False hides the default (say it in `help` then), a string replaces it.
        cli_type: the type the command line reads when the field's is not one typer knows
            (``str`` for a ``(width, height)`` size); `parse` turns it into the field's value.
        parse: text (or `cli_type` value) -> field value; not called on None.
        show: field value -> the command line's default (the inverse of `parse`).
        default: the command line's default for a field without one (a required library
            setting that the command line fills, e.g. the JND model); FIELD_DEFAULT: the
            field's.
    """

    help: str
    flags: tuple[str, ...] = ()
    argument: bool = False
    min: float | None = None
    max: float | None = None
    metavar: str | None = None
    show_default: bool | str = True
    cli_type: Any = None
    parse: Callable[[Any], Any] | None = None
    show: Callable[[Any], Any] | None = None
    default: Any = FIELD_DEFAULT


def option(
    *flags: str,
    help: str,
    default: Any = dataclasses.MISSING,
    default_factory: Any = dataclasses.MISSING,
    **facts: Any,
) -> Any:
    """A dataclass field whose default and command-line help are written here, once.

    `flags` and `facts` are :class:`Cli`'s (``min=1``, ``parse=...``, ``cli_type=str`` ...).

    Example:
        >>> seed: int = option("--seed", default=0, help="Seed of crops and noise signs.")
    """
    cli = Cli(help=help, flags=tuple(flags), **facts)
    return dataclasses.field(
        default=default, default_factory=default_factory, metadata={CLI_KEY: cli}
    )


def field_default(f: dataclasses.Field) -> Any:
    """The field's default (its factory called), or ``dataclasses.MISSING``."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def cli_fields(
    settings_cls: type, cli: Mapping[str, Cli] | None = None
) -> list[tuple[dataclasses.Field, Cli]]:
    """``(field, facts)`` of every field of `settings_cls` that the command line sets: those
    with ``metadata["cli"]`` (a :class:`Cli`, or a dict of its keys) and those named in `cli`
    (which wins), in field order."""
    cli = dict(cli or {})
    names = {f.name for f in dataclasses.fields(settings_cls)}
    unknown = sorted(set(cli) - names)
    if unknown:
        raise TypeError(f"{settings_cls.__name__} has no field(s) {unknown}")
    out = []
    for f in dataclasses.fields(settings_cls):
        facts = cli.get(f.name, f.metadata.get(CLI_KEY))
        if isinstance(facts, Mapping):  # a plain dict (jndtf.train.settings.setting: no typer)
            facts = Cli(**facts)
        if facts is not None:
            out.append((f, facts))
    return out


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


def split_names(text: str) -> tuple[str, ...]:
    """``"a, b,,c"`` -> ``("a", "b", "c")``: a comma-separated option (its ``parse``; ``show``
    is ``",".join``)."""
    return tuple(t.strip() for t in str(text).split(",") if t.strip())


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
