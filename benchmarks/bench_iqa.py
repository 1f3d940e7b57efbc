"""Times every IQA metric of ``jndtf.iqa.available()`` next to piq's implementation.

Usage (dev environment; piq is optional)::

    python benchmarks/bench_iqa.py                  # 8 pairs of 512x384, median of 5 runs
    python benchmarks/bench_iqa.py --pairs 4 --repeats 3 --metrics ssim,gmsd
    KERAS_BACKEND=jax python benchmarks/bench_iqa.py

    # before/after in one run: another version of the package beside this one
    mkdir -p /tmp/before && git archive COMMIT jndtf | tar -x -C /tmp/before
    python benchmarks/bench_iqa.py --pairs 4 --repeats 3 --baseline /tmp/before

    pip install torch==2.13.0 && pip install --no-deps piq   # to get the piq column

Columns, in milliseconds per image pair (median over the runs, one batch of ``--pairs`` pairs
per run): ``eager`` is the plain call; ``compiled`` wraps it in ``tf.function`` (TensorFlow) or
``jax.jit`` (JAX), first call excluded; ``grad`` is the compiled value and gradient of the
batch's summed score with respect to the distorted images (what a training step pays);
``piq`` and ``piq grad`` are piq's function on the same pairs (torch, CPU, NCHW float32 in
[0, 1]; no_grad, then backward() of the summed score). ``--baseline DIR`` times the jndtf package
found in DIR (another commit's ``jndtf/``) in a child process on the same pairs first and prints
its compiled and grad columns as ``base`` and ``base grad``. Metrics that piq lacks, or that
fail, say so in the table. The CPU model and its SIMD flags head the table. piq's SSIM and
MS-SSIM filter every RGB channel, jndtf's the grey image (the originals' convention): piq does
three times the filtering there.
Nothing is asserted: this prints numbers.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import statistics
import sys
import time
import types

import numpy as np

from jndtf.sysinfo import cpu_line

#: jndtf metric name -> (piq module, function, extra kwargs).
PIQ = {
    "psnr": ("piq.psnr", "psnr", {}),
    "ssim": ("piq.ssim", "ssim", {}),
    "ms_ssim": ("piq.ms_ssim", "multi_scale_ssim", {}),
    "gmsd": ("piq.gmsd", "gmsd", {}),
    "vifp": ("piq.vif", "vif_p", {}),
    "fsim": ("piq.fsim", "fsim", {}),
    "vsi": ("piq.vsi", "vsi", {}),
}


def piq_function(name: str):
    """piq's function for `name` or None; loads piq's modules without torchvision."""
    if name not in PIQ or importlib.util.find_spec("torch") is None:
        return None
    if "piq" not in sys.modules:
        spec = importlib.util.find_spec("piq")
        if spec is None or not spec.submodule_search_locations:
            return None
        pkg = types.ModuleType("piq")  # skip piq/__init__.py, which imports torchvision
        pkg.__path__ = list(spec.submodule_search_locations)
        sys.modules["piq"] = pkg
    module, function, _ = PIQ[name]
    try:
        return getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError):
        return None


def make_pairs(n: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` real-photo pairs (NHWC float32, 0..255): astronaut crops and noisy, blurred copies."""
    from scipy.ndimage import gaussian_filter
    from skimage import data
    from skimage.transform import resize

    rng = np.random.default_rng(0)
    photo = resize(data.astronaut(), (max(height, 512), max(width, 512)), preserve_range=True)
    refs, dists = [], []
    for i in range(n):
        top = rng.integers(0, photo.shape[0] - height + 1)
        left = rng.integers(0, photo.shape[1] - width + 1)
        ref = photo[top : top + height, left : left + width]
        dist = gaussian_filter(ref, sigma=(0.5 + 0.25 * i, 0.5 + 0.25 * i, 0))
        dist = dist + rng.normal(0, 2 + 2 * i, ref.shape)
        refs.append(ref)
        dists.append(np.clip(dist, 0, 255))
    return np.stack(refs).astype(np.float32), np.stack(dists).astype(np.float32)


#: "wall" (time.perf_counter) or "cpu" (time.process_time: every thread of this process, the
#: fairer clock on a machine other jobs share); set by --clock.
CLOCK = {"fn": time.perf_counter}


def median_ms(fn, repeats: int) -> float:
    """Median time of `fn()` in ms over `repeats` runs (clock :data:`CLOCK`), after a warm-up."""
    fn()
    clock = CLOCK["fn"]
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append((clock() - t0) * 1e3)
    return statistics.median(times)


def _block(out):
    """Waits for the backend's result (JAX dispatches asynchronously)."""
    return np.asarray(out)


def compiled(fn):
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn)
    if backend == "jax":
        import jax

        return jax.jit(fn)
    return fn


def value_and_grad(fn):
    """Compiled ``(x, y) -> (sum(fn(x, y)), d sum / d y)`` for the Keras backend in use."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def run(x, y):
            with tf.GradientTape() as tape:
                tape.watch(y)
                value = tf.reduce_sum(fn(x, y))
            return value, tape.gradient(value, y)

        return run
    if backend == "jax":
        import jax

        return jax.jit(jax.value_and_grad(lambda y, x: fn(x, y).sum()))
    raise RuntimeError(f"gradient timing supports TensorFlow and JAX, not {backend}")


def time_jndtf(name: str, xt, yt, repeats: int) -> tuple[float, float, float]:
    """(eager, compiled, compiled value+gradient) ms per batch of jndtf metric `name`."""
    import keras

    from jndtf import iqa

    fn = iqa.get(name)
    cfn = compiled(fn)
    eager = median_ms(lambda: _block(fn(xt, yt)), repeats)
    comp = median_ms(lambda: _block(cfn(xt, yt)), repeats)
    vg = value_and_grad(fn)
    if keras.backend.backend() == "jax":
        grad = median_ms(lambda: _block(vg(yt, xt)[1]), repeats)
    else:
        grad = median_ms(lambda: _block(vg(xt, yt)[1]), repeats)
    return eager, comp, grad


def time_piq(pfn, name: str, tx, ty, repeats: int) -> tuple[float, float]:
    """(no_grad, value+backward) ms per batch of piq's `pfn` on NCHW [0, 1] tensors."""
    import torch

    kwargs = {"data_range": 1.0, "reduction": "none", **PIQ[name][2]}

    def run():
        with torch.no_grad():
            return pfn(tx, ty, **kwargs)

    def run_grad():
        y = ty.detach().clone().requires_grad_(True)
        pfn(tx, y, **kwargs).sum().backward()
        return y.grad

    return median_ms(run, repeats), median_ms(run_grad, repeats)


def baseline_times(path: str, args) -> dict:
    """Runs this script with the jndtf package of `path` first on sys.path: {metric: (c, g)}."""
    import json
    import subprocess
    from pathlib import Path

    if not (Path(path) / "jndtf" / "__init__.py").is_file():
        raise SystemExit(
            f"--baseline {path}: no jndtf/__init__.py there; unpack a commit's "
            "package first (git archive COMMIT jndtf | tar -x -C DIR)"
        )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([path, os.environ.get("PYTHONPATH", "")]))
    cmd = [
        sys.executable,
        __file__,
        "--json",
        "--pairs",
        str(args.pairs),
        "--repeats",
        str(args.repeats),
        "--clock",
        args.clock,
        "--height",
        str(args.height),
        "--width",
        str(args.width),
        "--metrics",
        args.metrics,
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode or not lines:
        raise SystemExit(f"--baseline {path} failed:\n{out.stderr[-2000:]}")
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pairs", type=int, default=8, help="image pairs per batch (default 8)")
    parser.add_argument("--height", type=int, default=384, help="image height (default 384)")
    parser.add_argument("--width", type=int, default=512, help="image width (default 512)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (default 5)")
    parser.add_argument("--metrics", default="", help="comma-separated names (default: all)")
    parser.add_argument(
        "--baseline", default="", help="folder holding another jndtf/ to time beside this one"
    )
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time, or the CPU time of this process (all its threads): fairer when other "
        "jobs share the machine (default wall)",
    )
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # --baseline's child
    args = parser.parse_args(argv)
    CLOCK["fn"] = time.process_time if args.clock == "cpu" else time.perf_counter

    import keras

    from jndtf import iqa

    names = [m for m in args.metrics.split(",") if m] or iqa.available()
    args.metrics = ",".join(names)
    x, y = make_pairs(args.pairs, args.height, args.width)
    xt, yt = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)
    per = 1.0 / args.pairs
    if args.json:
        import json

        times = {}
        for name in names:
            try:
                _, comp, grad = time_jndtf(name, xt, yt, args.repeats)
                times[name] = (comp * per, grad * per)
            except Exception:  # a metric the older version lacks or cannot run
                times[name] = None
        print(json.dumps(times))
        return
    base = baseline_times(args.baseline, args) if args.baseline else {}
    tx = ty = None
    if importlib.util.find_spec("torch") is not None:
        import torch

        tx = torch.from_numpy(x / 255.0).permute(0, 3, 1, 2).contiguous()
        ty = torch.from_numpy(y / 255.0).permute(0, 3, 1, 2).contiguous()
    print(f"CPU: {cpu_line()}")
    print(
        f"backend {keras.backend.backend()}, {args.pairs} pairs of {args.width}x{args.height} "
        f"RGB, median of {args.repeats} runs, ms per pair ({args.clock} clock)"
        + (f"; base = the jndtf package in {args.baseline}" if args.baseline else "")
    )
    cols = ["eager", "compiled", "grad"] + (["base", "base grad"] if base else [])
    header = f"{'metric':<10}" + "".join(f"{c:>10}" for c in [*cols, "piq", "piq grad"]) + "  note"
    print(header)
    print("-" * len(header))
    dash = f"{'-':>10}"
    for name in names:
        note = ""
        try:
            eager, comp, grad = time_jndtf(name, xt, yt, args.repeats)
            ours = f"{eager * per:>10.1f}{comp * per:>10.1f}{grad * per:>10.1f}"
        except Exception as err:  # a metric that fails here is reported, not fatal
            ours = dash * 3
            note = f"jndtf: {type(err).__name__}: {err}"[:80]
        if base:
            b = base.get(name)
            ours += dash * 2 if b is None else f"{b[0]:>10.1f}{b[1]:>10.1f}"
        pfn = piq_function(name)
        theirs = dash * 2
        if pfn is None:
            note = note or ("piq not installed" if name in PIQ else "not in piq")
        else:
            try:
                fwd, bwd = time_piq(pfn, name, tx, ty, args.repeats)
                theirs = f"{fwd * per:>10.1f}{bwd * per:>10.1f}"
            except Exception as err:
                note = note or f"piq: {type(err).__name__}: {err}"[:80]
        print(f"{name:<10}{ours}{theirs}  {note}", flush=True)


if __name__ == "__main__":
    main()
