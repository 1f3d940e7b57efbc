"""`jndtf bench`: speed figures printed as tables and written as CSV (never asserted in tests).

Commands: ``bench models`` (per-frame latency of a model in every runtime) and ``bench stream``
(the edge runtime end to end, registered by :mod:`jndtf.cli.stream`).
"""

from __future__ import annotations

import typer

from jndtf.cli._shared import app

bench_app = typer.Typer(
    name="bench",
    help="Speed benchmarks: model latency per runtime, the edge stream end to end.",
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")
