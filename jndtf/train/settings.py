"""Training settings whose defaults and command-line help are written once, on the field.

A family's frozen settings dataclass (``AcolTrainConfig``, ...) declares each user-facing field
with :func:`setting`; ``jndtf train FAMILY`` (:mod:`jndtf.cli.train`) reads the command's
options from those fields, so a default or a help text is never written a second time. The
facts are a plain dict under ``metadata["cli"]`` with the keys of ``jndtf.cli._settings.Cli``
(``help``, ``flags``, ``cli_type``, ``parse``, ``show_default``, ...), so this module imports
nothing from the CLI and the training side stays free of typer.

Example:
    >>> @dataclass(frozen=True)
    ... class ToySettings:
    ...     data_dir: str = setting("--data", help="Folder of images.", cli_type=Path, parse=str)
    ...     epochs: int = setting(default=10, help="Epochs.")
    >>> [f.name for f, _ in cli_settings(ToySettings)]
    ['data_dir', 'epochs']
"""

from __future__ import annotations

import dataclasses
from typing import Any

#: Key of a field's command-line facts in ``dataclasses.Field.metadata``.
CLI_KEY = "cli"

#: Keys a field's facts may have (those of ``jndtf.cli._settings.Cli``).
FACTS = (
    "help",
    "flags",
    "argument",
    "min",
    "max",
    "metavar",
    "show_default",
    "cli_type",
    "parse",
    "show",
)


def setting(
    *flags: str,
    help: str,
    default: Any = dataclasses.MISSING,
    default_factory: Any = dataclasses.MISSING,
    **facts: Any,
) -> Any:
    """A dataclass field that is also a command-line option of ``jndtf train``.

    Args:
        flags: option names (``"--out", "-o"``; ``"--tensorboard/--no-tensorboard"``); empty:
            ``--field-name``.
        help: the option's help, written only here.
        default, default_factory: the field's default (none: a required option).
        facts: more of :data:`FACTS`: ``cli_type`` (the type the command line reads, e.g.
            ``Path`` for a ``str`` field), ``parse`` (command-line value -> field value),
            ``show_default`` ...

    Raises:
        TypeError: an unknown fact.
    """
    unknown = sorted(set(facts) - set(FACTS))
    if unknown:
        raise TypeError(f"unknown setting facts {unknown}; known: {FACTS}")
    meta = {CLI_KEY: {"help": help, "flags": tuple(flags), **facts}}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=meta)


def cli_settings(settings_cls: type) -> list[tuple[dataclasses.Field, dict]]:
    """``(field, facts)`` of every field of `settings_cls` declared with :func:`setting`, in
    field order."""
    return [
        (f, dict(f.metadata[CLI_KEY]))
        for f in dataclasses.fields(settings_cls)
        if CLI_KEY in f.metadata
    ]


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


__all__ = ["CLI_KEY", "FACTS", "cli_settings", "optional_str", "parse_width", "setting"]
