"""FSIM, MAD and VSI under KERAS_BACKEND=jax, in one child interpreter per test session.

The Keras backend is fixed per process. One child computes every value and gradient (one JAX
start-up instead of three; each metric's value and gradient share one compilation), and the
three test modules compare against its cached output.
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
    from jndtf.iqa.fsim import fsim
    from jndtf.iqa.mad import mad
    from jndtf.iqa.vsi import vsi

    d = np.load(sys.argv[1])
    x, y = d["x"], d["y"]
    fns = {
        "fsim": lambda a: fsim(a, y, chromatic=False),
        "fsimc": lambda a: fsim(a, y),
        "mad": lambda a: mad(y, a),  # gradient with respect to the distorted image
        "vsi": lambda a: vsi(a, y),
    }
    out = {}
    for name, fn in fns.items():
        v, g = jax.jit(jax.value_and_grad(lambda a, fn=fn: fn(a).sum()))(x)
        out[name] = float(v)
        out[name + "_grad_finite"] = bool(np.isfinite(np.asarray(g)).all())
    print("RESULT" + json.dumps(out))
    """
)


def jax_pair() -> tuple[np.ndarray, np.ndarray]:
    """(x, y): a 48x48 astronaut crop with noise and the clean crop, float32 NHWC."""
    from skimage import data

    y = data.astronaut()[60:108, 180:228][None].astype(np.float32)
    noise = np.random.default_rng(3).normal(0, 10, y.shape)
    return np.clip(y + noise, 0, 255).astype(np.float32), y


@functools.cache
def jax_results() -> dict | None:
    """{name: value, name_grad_finite: bool} under JAX; None if jax is not installed."""
    if importlib.util.find_spec("jax") is None:
        return None
    x, y = jax_pair()
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
