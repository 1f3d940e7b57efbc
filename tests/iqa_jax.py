"""The IQA metrics under KERAS_BACKEND=jax, run once per test session in a subprocess.

The Keras backend is fixed per process, so the JAX numbers come from a child interpreter; both
IQA test modules compare against the same cached run (one JAX start-up and compile, not two).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import jax
    from jndtf.iqa.gmsd import gmsd
    from jndtf.iqa.msssim import ms_ssim
    from jndtf.iqa.psnr import psnr
    from jndtf.iqa.ssim import ssim

    d = np.load(sys.argv[1])
    x, y = d["x"], d["y"]
    metrics = {
        "ssim": ssim,
        "ssim_nods": lambda a, b: ssim(a, b, downsample=False),
        "ms_ssim": ms_ssim,
        "gmsd": gmsd,
        "psnr": psnr,
    }
    # Eager JAX compiles every conv of a new shape on its own (~15 s for one ms_ssim call at
    # 192 px); under jit everything compiles once: one program for the values, one for the
    # gradients at identical inputs.
    values = jax.jit(lambda a, b: {k: fn(a, b) for k, fn in metrics.items()})(x, y)
    grads = jax.jit(
        lambda a: {k: jax.grad(lambda z, fn=fn: fn(z, z).sum())(a) for k, fn in metrics.items()}
    )(x)
    out = {k: float(v[0]) for k, v in values.items()}
    for k, g in grads.items():
        out[k + "_grad_finite"] = bool(np.isfinite(np.asarray(g)).all())
    print("RESULT" + json.dumps(out))
    """
)


def jax_inputs() -> tuple[np.ndarray, np.ndarray]:
    """The pair the JAX run scores: a 192x192 astronaut crop and a noisy copy, float32 NHWC."""
    from skimage import data

    x = data.astronaut()[40:232, 160:352][None].astype(np.float32)
    noise = np.random.default_rng(7).normal(0, 15, x.shape)
    return x, np.clip(x + noise, 0, 255).astype(np.float32)


@functools.cache
def jax_results() -> dict | None:
    """{metric: value, metric_grad_finite: bool} under JAX; None if jax is not installed."""
    if importlib.util.find_spec("jax") is None:
        return None
    x, y = jax_inputs()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.npz"
        np.savez(path, x=x, y=y)
        env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
        proc = subprocess.run(
            [sys.executable, "-c", _SCRIPT, str(path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"the JAX run failed:\n{proc.stderr[-3000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])
