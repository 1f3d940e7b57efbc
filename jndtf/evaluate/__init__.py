"""The papers' evaluation protocols: JND-shaped noise at equal PSNR, IQA tables, bar charts.

:func:`evaluate_jnd` is ``jndtf eval jnd``: the objective comparison of §4.4 of the ACoL-JND paper
(each model's JND map injected by eq. (7) at PSNR 26.06 dB, scored with NLPD, MAD, VIF, ...;
Figs. 4-6). Importing this package loads neither TensorFlow nor Keras; the metrics and learned
models load them when the evaluation runs.

Example:
    >>> from jndtf.evaluate import EvalSettings, evaluate_jnd
    >>> report = evaluate_jnd(EvalSettings(models=("wu2017", "yang2005", "uniform")))
    >>> report.ranking("vif")                 # best first; report.md, CSVs, PNGs in out/eval
"""

from jndtf.evaluate.learned import (
    ImageOutputJnd,
    LearnedJnd,
    load_image_model,
    load_learned,
    shipped_weights,
)
from jndtf.evaluate.protocol import (
    DEFAULT_METRICS,
    PAPER_PSNR,
    UNIFORM,
    EvalError,
    EvalRecord,
    EvalReport,
    EvalSettings,
    Progress,
    check_settings,
    evaluate_jnd,
    known_models,
    resolve_metrics,
    resolve_models,
    uniform_jnd,
)
from jndtf.evaluate.report import bar_chart, markdown, write_report

__all__ = [
    "DEFAULT_METRICS",
    "PAPER_PSNR",
    "UNIFORM",
    "EvalError",
    "EvalRecord",
    "EvalReport",
    "EvalSettings",
    "ImageOutputJnd",
    "LearnedJnd",
    "Progress",
    "bar_chart",
    "check_settings",
    "evaluate_jnd",
    "known_models",
    "load_image_model",
    "load_learned",
    "markdown",
    "resolve_metrics",
    "resolve_models",
    "shipped_weights",
    "uniform_jnd",
    "write_report",
]
