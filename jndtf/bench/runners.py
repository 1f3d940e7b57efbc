"""Timing one JND network in one runtime: LiteRT, onnxruntime, or Keras in its own process.

Every runner times the same thing: one network input ``(1, H, W, C)`` float32 in, the JND map
out as a numpy array (so the work is finished, and copied out, when the clock stops), with the
thread count fixed. `warmup` calls run first and are not timed (allocation, XNNPACK packing,
graph tracing). The priors are timed elsewhere (:mod:`jndtf.bench.models`).

Example:
    >>> x = np.zeros((1, 360, 640, 6), np.float32)
    >>> times = time_tflite("acol-640x360-tflite-int8.tflite", x, runs=20, warmup=3, threads=2)
    >>> latency_stats(times)["median_ms"]        # jndtf.bench.report.latency_stats
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: runtime family -> (module it needs, what for): checked before a runtime is planned.
RUNTIME_MODULES = {
    "tflite": ("ai_edge_litert", "running TFLite models"),
    "onnx": ("onnxruntime", "running ONNX models"),
    "keras": ("keras", "running the Keras model"),
}


def missing_module(family: str) -> str | None:
    """The pip hint (an ImportError message) when `family`'s runtime is not installed, else
    None. Uses :func:`jndtf._deps.require_installed`, so nothing heavy is imported."""
    module, purpose = RUNTIME_MODULES[family]
    why = missing_module_of(module, purpose)
    if why is None and family == "keras":
        why = missing_module_of("tensorflow", purpose)
    return why


def missing_module_of(module: str, purpose: str) -> str | None:
    """The pip hint when `module` is not installed, else None (nothing is imported)."""
    from jndtf._deps import require_installed

    try:
        require_installed(module, purpose)
    except ImportError as err:
        return str(err)
    return None


def time_calls(fn: Callable[[], object], *, runs: int, warmup: int) -> list[float]:
    """``warmup`` untimed calls of `fn`, then the wall-clock seconds of each of `runs` calls
    (``time.perf_counter``)."""
    if runs < 1 or warmup < 0:
        raise ValueError(f"need runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def time_tflite(
    path: str | os.PathLike, x: np.ndarray, *, runs: int, warmup: int, threads: int
) -> list[float]:
    """Seconds per call of a ``.tflite`` model in the LiteRT interpreter (``num_threads``).

    Uses :class:`jndtf.export.tflite.TFLiteRunner`, i.e. what an application pays per frame:
    set the input (quantized first for int8 I/O), invoke, read the output (dequantized). A
    dynamic-shape model is resized to `x`'s shape by the first (warm-up) call.
    """
    from jndtf.export.tflite import TFLiteRunner

    runner = TFLiteRunner(path, num_threads=int(threads))
    return time_calls(lambda: runner(x), runs=runs, warmup=warmup)


def onnx_session(path: str | os.PathLike, threads: int):
    """An onnxruntime CPU session with ``intra_op_num_threads = threads``, one inter-op thread,
    sequential execution and every graph optimization."""
    from jndtf._deps import require

    ort = require("onnxruntime", "running ONNX models")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def time_onnx(
    path: str | os.PathLike, x: np.ndarray, *, runs: int, warmup: int, threads: int
) -> list[float]:
    """Seconds per call of an ``.onnx`` model in onnxruntime (CPU, `threads` intra-op)."""
    sess = onnx_session(path, threads)
    name = sess.get_inputs()[0].name
    x = np.ascontiguousarray(x, np.float32)
    return time_calls(lambda: sess.run(None, {name: x})[0], runs=runs, warmup=warmup)


def time_keras(
    model: str, x: np.ndarray, *, runs: int, warmup: int, threads: int, timeout_s: float = 3600
) -> dict:
    """Seconds per call of the Keras model (TensorFlow backend), measured in a child process.

    TensorFlow's thread pools can only be sized before TensorFlow initializes, so the model
    runs in a fresh interpreter (:mod:`jndtf.bench.keras_worker`) that sets
    ``tf.config.threading`` to `threads` intra-op and 1 inter-op thread first, loads `model`
    with :func:`jndtf.evaluate.learned.load_learned` and times ``tf.function(model)`` (graph
    mode, no XLA: XLA is slower on CPU, DESIGN.md).

    Args:
        model: a model reference ``load_learned`` accepts (registered name, ``.keras`` path,
            ``SPEC:PATH``).
        x: the network input ``(1, H, W, C)`` float32.

    Returns:
        ``{"times_s": [...], "versions": {...}, "threads": {...}, "mode": ...}``.

    Raises:
        RuntimeError: the child failed (its last lines of output are in the message) or ran
            past `timeout_s` seconds.
    """
    with tempfile.TemporaryDirectory(prefix="jndtf-bench-") as tmp:
        inp, out = Path(tmp) / "input.npy", Path(tmp) / "result.json"
        np.save(inp, np.asarray(x, np.float32), allow_pickle=False)
        cmd = [
            sys.executable,
            "-m",
            "jndtf.bench.keras_worker",
            "--model", str(model),
            "--input", str(inp),
            "--out", str(out),
            "--runs", str(int(runs)),
            "--warmup", str(int(warmup)),
            "--threads", str(int(threads)),
        ]  # fmt: skip
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the Keras timing process ran past {timeout_s:.0f} s") from None
        if done.returncode != 0 or not out.is_file():
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
            raise RuntimeError(f"the Keras timing process failed ({done.returncode}): {tail}")
        return json.loads(out.read_text())


__all__ = [
    "RUNTIME_MODULES",
    "missing_module",
    "missing_module_of",
    "onnx_session",
    "time_calls",
    "time_keras",
    "time_onnx",
    "time_tflite",
]
