"""The `jndtf` command line. Thin commands: each fills a frozen settings object and calls one
library function; heavy imports (TensorFlow, the models) happen inside the command that needs them,
so `jndtf --help` is instant and never loads TensorFlow.

Layout: ``_shared`` (app, consoles, errors, progress bars), ``core`` (list, priors, baseline, jnd,
inject, samples, demo), ``train`` (train aiqa/acol/saliency), ``evaluate`` (eval jnd),
``export``, ``bench`` (bench models), ``stream`` (stream, bench stream).
"""

from jndtf.cli import (  # noqa: F401  (register the commands)
    bench,
    compress,
    core,
    evaluate,
    export,
    rd,
    stream,
    train,
)
from jndtf.cli._shared import app

__all__ = ["app"]
