"""VIF, VIFp and NLPD under KERAS_BACKEND=jax, run once per test session in a subprocess.

The Keras backend is fixed per process, so the JAX numbers come from a child interpreter; the
VIF and NLPD test modules share one cached run (one JAX start-up, one compile per metric).
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
    from jndtf.iqa.nlpd import nlpd
    from jndtf.iqa.vif import vif
    from jndtf.iqa.vifp import vifp

    d = np.load(sys.argv[1])
    x, y = d["x"], d["y"]
    with_grad = sys.argv[2] == "grad"
    out = {}
    for name, fn in {"vif": vif, "vifp": vifp, "nlpd": nlpd}.items():
        out[name] = float(jax.jit(fn)(x, y)[0])
        if with_grad:
            # d/dy of the score at the noisy pair: the gradient a training step would see.
            grad = np.asarray(jax.jit(jax.grad(lambda b, fn=fn: fn(x, b).sum()))(y))
            out[name + "_grad_finite"] = bool(np.isfinite(grad).all())
            out[name + "_grad_nonzero"] = bool(np.abs(grad).max() > 0)
    print("RESULT" + json.dumps(out))
    """
)


def jax_inputs() -> tuple[np.ndarray, np.ndarray]:
    """The pair the JAX run scores: a 96x96 astronaut crop and a noisy copy, float32 NHWC."""
    from skimage import data

    x = data.astronaut()[80:176, 200:296][None].astype(np.float32)
    noise = np.random.default_rng(7).normal(0, 15, x.shape)
    return x, np.clip(x + noise, 0, 255).astype(np.float32)


@functools.cache
def jax_results(with_grad: bool = False) -> dict | None:
    """{metric: value} under JAX (+ metric_grad_finite/_nonzero: bool); None without jax.

    XLA-CPU compiles the forward pass of the three metrics in ~20 s here; their gradients take
    several times longer (VIF's most), so the gradient run is a separate, slow-marked test.
    """
    if importlib.util.find_spec("jax") is None:
        return None
    x, y = jax_inputs()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.npz"
        np.savez(path, x=x, y=y)
        env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
        proc = subprocess.run(
            [sys.executable, "-c", _SCRIPT, str(path), "grad" if with_grad else "value"],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"the JAX run failed:\n{proc.stderr[-3000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])
