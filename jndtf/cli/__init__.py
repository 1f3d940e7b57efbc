"""The `jndtf` command line. Thin commands: each fills a frozen settings object and calls one
library function; heavy imports (TensorFlow, the models) happen inside the command that needs them,
so `jndtf --help` is instant and never loads TensorFlow.

Every option's default and help text are written once, on the settings dataclass field the
command fills; ``_settings`` derives the typer options from it (tests/test_cli_defaults.py).

Layout: ``_shared`` (app, consoles, errors, progress bars), ``_settings`` (options from
settings dataclasses), ``core`` (list, priors, baseline, jnd, inject, samples, demo),
``train`` (train FAMILY), ``evaluate`` (eval jnd), ``rd`` (eval rd), ``compress``, ``export``,
``bench`` (bench models), ``stream`` (stream, bench stream), ``calibrate``, ``pjnd``, ``report``,
``dmv`` (dmv, eval dmv).
"""

from jndtf.cli import (  # noqa: F401  (register the commands)
    bench,
    calibrate,
    compress,
    core,
    dmv,
    evaluate,
    export,
    pjnd,
    rd,
    report,
    stream,
    train,
)
from jndtf.cli._shared import app

__all__ = ["app"]
