"""Settings whose defaults and command-line help are written once, on the dataclass field.

Every frozen settings dataclass of jndtf (a command's, a training family's) declares its
user-facing fields with :func:`option`: the default and the help text live there and nowhere
else. The facts are a :class:`Cli` under ``metadata["cli"]``; this module imports no typer, so
the training side and the core can declare settings without the command line, and
:mod:`jndtf.cli._settings` builds the typer commands from them (the way spaCy's
``cli/_util.py`` and tensorflow/compression's ``models/*.py`` keep one source).

Example:
    >>> @dataclass(frozen=True)
    ... class GreetSettings:
    ...     name: str = option("--name", "-n", default="world", help="Who to greet.")
    >>> [(f.name, c.flags) for f, c in cli_fields(GreetSettings)]
    [('name', ('--name', '-n'))]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        if facts is not None:
            out.append((f, facts))
    return out


def path_option(*flags: str, help: str, default: Any = dataclasses.MISSING, **facts: Any) -> Any:
    """:func:`option` for a path kept as ``str`` in the settings (JSON-ready manifests): the
    command line reads a ``Path`` (``Path | None`` when the default is None); a required path
    shows no default.

    Example:
        >>> data_dir: str = path_option("--data", help="Folder of training images.")
    """
    if default is None:
        facts.setdefault("cli_type", Path | None)
        facts.setdefault("parse", optional_str)
    else:
        facts.setdefault("cli_type", Path)
        facts.setdefault("parse", str)
    if default is dataclasses.MISSING:
        facts.setdefault("show_default", False)
    return option(*flags, help=help, default=default, **facts)


def size_option(flag: str, *, help: str, default: Any = None, **facts: Any) -> Any:
    """:func:`option` for a ``(width, height)`` field written ``WIDTHxHEIGHT`` on the command
    line (:func:`jndtf.io.parse_size`, errors naming `flag`); None (the default) hides it.

    Example:
        >>> crop: tuple[int, int] | None = size_option("--crop", help="Centre crop.")
    """

    def parse(text: str) -> tuple[int, int]:
        from jndtf.io import parse_size

        return parse_size(text, flag)

    facts.setdefault("show_default", default is not None)
    return option(
        flag,
        default=default,
        help=help,
        cli_type=str,
        parse=parse,
        show=lambda size: f"{size[0]}x{size[1]}",
        **facts,
    )


def split_names(text: str) -> tuple[str, ...]:
    """``"a, b,,c"`` -> ``("a", "b", "c")``: a comma-separated option's ``parse``."""
    return tuple(t.strip() for t in str(text).split(",") if t.strip())


#: The facts of a comma-separated list option (``option(..., **COMMA_LIST)`` or
#: ``Cli(..., **COMMA_LIST)``): text on the command line, a tuple in the settings, shown joined.
COMMA_LIST = {"cli_type": str, "parse": split_names, "show": ",".join}


def parse_width(text: str | float) -> str | float:
    """A width option as the settings take it: a number, or a name (``default``, ``tiny``).

    Example:
        >>> parse_width("0.5"), parse_width("tiny")
        (0.5, 'tiny')
    """
    if isinstance(text, str) and text.replace(".", "", 1).isdigit():
        return float(text)
    return text


def optional_str(value: Any) -> str | None:
    """``str(value)``, None stays None (a path option of a ``str | None`` field)."""
    return None if value is None else str(value)


__all__ = [
    "CLI_KEY",
    "COMMA_LIST",
    "FIELD_DEFAULT",
    "Cli",
    "cli_fields",
    "field_default",
    "option",
    "optional_str",
    "parse_width",
    "path_option",
    "size_option",
    "split_names",
]
