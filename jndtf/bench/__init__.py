"""jndtf.bench: speed benchmarks whose figures are printed as tables and written as CSV.

- :mod:`jndtf.bench.report`: latency statistics, a rich table and an atomic CSV of result rows
  (shared by every benchmark).
- :mod:`jndtf.bench.models`: ``jndtf bench models``, the per-frame latency of a JND network in
  Keras, LiteRT fp32/fp16/int8 and onnxruntime side by side, with MAC/px, GMAC/s and the priors'
  time (:func:`bench_models`); :mod:`jndtf.bench.runners` times one runtime,
  :mod:`jndtf.bench.source` reads the model's priors and MAC count without TensorFlow,
  :mod:`jndtf.bench.exports` makes (and reuses) the speed-only exports.

Timings depend on the machine and its load; they are reported, never asserted.

Example:
    >>> from jndtf.bench import ModelBenchSettings, bench_models, write_csv
    >>> result = bench_models(ModelBenchSettings("acol", sizes=((640, 360),)))
    >>> write_csv(result.rows, "out/bench/models.csv")
"""

from jndtf.bench.models import ModelBenchResult, ModelBenchSettings, bench_models
from jndtf.bench.report import Column, latency_stats, read_csv, render_table, write_csv

__all__ = [
    "Column",
    "ModelBenchResult",
    "ModelBenchSettings",
    "bench_models",
    "latency_stats",
    "read_csv",
    "render_table",
    "write_csv",
]
