"""jndtf.bench: speed benchmarks whose figures are printed as tables and written as CSV.

- :mod:`jndtf.bench.report`: latency statistics, a rich table and an atomic CSV of result rows
  (shared by every benchmark).

Timings depend on the machine and its load; they are reported, never asserted.
"""

from jndtf.bench.report import Column, latency_stats, read_csv, render_table, write_csv

__all__ = ["Column", "latency_stats", "read_csv", "render_table", "write_csv"]
