"""Times every IQA metric of ``jndtf.iqa.available()`` next to piq's implementation.

Usage (dev environment; piq is optional)::

    python benchmarks/bench_iqa.py                  # 8 pairs of 512x384, median of 5 runs
    python benchmarks/bench_iqa.py --pairs 4 --repeats 3 --metrics ssim,gmsd
    KERAS_BACKEND=jax python benchmarks/bench_iqa.py

    pip install torch==2.13.0 && pip install --no-deps piq   # to get the piq column

Columns, in milliseconds per image pair (median over the runs, one batch of ``--pairs`` pairs
per run): ``eager`` is the plain call; ``compiled`` wraps it in ``tf.function`` (TensorFlow) or
``jax.jit`` (JAX), first call excluded; ``piq`` is piq's function on the same pairs (torch,
CPU, no_grad, NCHW float32 in [0, 1]). Metrics that piq lacks, or that fail, say so
in the table. piq's SSIM and MS-SSIM filter every RGB channel, jndtf's the grey image (the
originals' convention): piq does three times the filtering there.
Nothing is asserted: this prints numbers.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import statistics
import sys
import time
import types

import numpy as np

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


def median_ms(fn, repeats: int) -> float:
    """Median wall time of `fn()` in ms over `repeats` runs, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
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


def time_jndtf(name: str, xt, yt, repeats: int) -> tuple[float, float]:
    """(eager, compiled) ms per batch of jndtf metric `name`."""
    from jndtf import iqa

    fn = iqa.get(name)
    cfn = compiled(fn)
    eager = median_ms(lambda: _block(fn(xt, yt)), repeats)
    return eager, median_ms(lambda: _block(cfn(xt, yt)), repeats)


def time_piq(pfn, name: str, tx, ty, repeats: int) -> float:
    """ms per batch of piq's `pfn` on NCHW [0, 1] tensors."""
    import torch

    kwargs = {"data_range": 1.0, "reduction": "none", **PIQ[name][2]}

    def run():
        with torch.no_grad():
            return pfn(tx, ty, **kwargs)

    return median_ms(run, repeats)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pairs", type=int, default=8, help="image pairs per batch (default 8)")
    parser.add_argument("--height", type=int, default=384, help="image height (default 384)")
    parser.add_argument("--width", type=int, default=512, help="image width (default 512)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs (default 5)")
    parser.add_argument("--metrics", default="", help="comma-separated names (default: all)")
    args = parser.parse_args(argv)

    import keras

    from jndtf import iqa

    names = [m for m in args.metrics.split(",") if m] or iqa.available()
    x, y = make_pairs(args.pairs, args.height, args.width)
    xt, yt = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)
    tx = ty = None
    if importlib.util.find_spec("torch") is not None:
        import torch

        tx = torch.from_numpy(x / 255.0).permute(0, 3, 1, 2).contiguous()
        ty = torch.from_numpy(y / 255.0).permute(0, 3, 1, 2).contiguous()
    per = 1.0 / args.pairs
    print(
        f"backend {keras.backend.backend()}, {args.pairs} pairs of {args.width}x{args.height} "
        f"RGB, median of {args.repeats} runs, ms per pair"
    )
    header = f"{'metric':<10}{'eager':>10}{'compiled':>10}{'piq':>10}  note"
    print(header)
    print("-" * len(header))
    for name in names:
        note = ""
        try:
            eager, comp = time_jndtf(name, xt, yt, args.repeats)
            ours = f"{eager * per:>10.1f}{comp * per:>10.1f}"
        except Exception as err:  # a metric that fails here is reported, not fatal
            ours = f"{'-':>10}{'-':>10}"
            note = f"jndtf: {type(err).__name__}: {err}"[:80]
        pfn = piq_function(name)
        theirs = f"{'-':>10}"
        if pfn is None:
            note = note or ("piq not installed" if name in PIQ else "not in piq")
        else:
            try:
                theirs = f"{time_piq(pfn, name, tx, ty, args.repeats) * per:>10.1f}"
            except Exception as err:
                note = note or f"piq: {type(err).__name__}: {err}"[:80]
        print(f"{name:<10}{ours}{theirs}  {note}", flush=True)


if __name__ == "__main__":
    main()
