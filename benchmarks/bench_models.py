"""Per-frame latency of a JND network in every runtime: ``jndtf bench models`` as a script.

Run from the repository root (every option of the command works, see ``--help``)::

    .venv/bin/python benchmarks/bench_models.py acol --runs 20 --sizes 640x360,1280x720

Prints the table (runtime, size, median/p90 ms, fps, MAC/px, GMAC/frame, GMAC/s, priors ms) and
writes the CSV (default ``out/bench/models.csv``); asserts nothing. See
:mod:`jndtf.bench.models` for what is measured and how.
"""

from __future__ import annotations

import sys

import jndtf.cli.bench  # noqa: F401  (registers `bench models` on the app)
from jndtf.cli import app

if __name__ == "__main__":
    sys.exit(app(["bench", "models", *sys.argv[1:]], prog_name="bench_models.py"))
