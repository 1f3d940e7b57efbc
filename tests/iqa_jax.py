"""The IQA metrics under KERAS_BACKEND=jax, computed in one child interpreter per test session.

The Keras backend is fixed per process, so the JAX numbers come from a child interpreter. It runs
*jobs*, each a group of metrics on one image pair. tests/iqa_fixtures.py starts one child for the
jobs of all the selected tests that ask for ``jax_numbers`` as soon as collection ends, so it
compiles while the other tests run; the session-scoped fixture waits for it. The whole IQA suite
pays one JAX start-up, and a single module only its own job.

Jobs (each metric's value, and whether its gradient is finite):

- ``ssim_gmsd_psnr``: SSIM (auto and no downsampling), MS-SSIM, GMSD, PSNR on a 192x192 pair;
  gradients at identical inputs.
- ``vif_vifp_nlpd``: VIF, VIFp, NLPD on a 96x96 pair, values only (XLA-CPU compiles the three
  forward passes in ~20 s, their gradients several times longer, VIF's most).
- ``vif_vifp_nlpd_grad``: the same values and d/d(dist) at the pair (finite, non-zero), for a
  slow-marked test that runs it in a child of its own.
- ``fsim_mad_vsi``: FSIM, FSIMc, MAD, VSI on a 48x48 pair; value and gradient with respect to
  the distorted image in one compilation each.
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


    def ssim_gmsd_psnr(x, y):
        from jndtf.iqa.gmsd import gmsd
        from jndtf.iqa.msssim import ms_ssim
        from jndtf.iqa.psnr import psnr
        from jndtf.iqa.ssim import ssim

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
        return out


    def vif_vifp_nlpd(x, y, with_grad=False):
        from jndtf.iqa.nlpd import nlpd
        from jndtf.iqa.vif import vif
        from jndtf.iqa.vifp import vifp

        out = {}
        for name, fn in {"vif": vif, "vifp": vifp, "nlpd": nlpd}.items():
            out[name] = float(jax.jit(fn)(x, y)[0])
            if with_grad:
                # d/dy of the score at the noisy pair: the gradient a training step would see.
                grad = np.asarray(jax.jit(jax.grad(lambda b, fn=fn: fn(x, b).sum()))(y))
                out[name + "_grad_finite"] = bool(np.isfinite(grad).all())
                out[name + "_grad_nonzero"] = bool(np.abs(grad).max() > 0)
        return out


    def fsim_mad_vsi(ref, dist):
        from jndtf.iqa.fsim import fsim
        from jndtf.iqa.mad import mad
        from jndtf.iqa.vsi import vsi

        fns = {  # each a function of the distorted image
            "fsim": lambda a: fsim(a, ref, chromatic=False),
            "fsimc": lambda a: fsim(a, ref),
            "mad": lambda a: mad(ref, a),
            "vsi": lambda a: vsi(a, ref),
        }
        out = {}
        for name, fn in fns.items():
            v, g = jax.jit(jax.value_and_grad(lambda a, fn=fn: fn(a).sum()))(dist)
            out[name] = float(v)
            out[name + "_grad_finite"] = bool(np.isfinite(np.asarray(g)).all())
        return out


    JOBS = {
        "ssim_gmsd_psnr": ssim_gmsd_psnr,
        "vif_vifp_nlpd": vif_vifp_nlpd,
        "vif_vifp_nlpd_grad": lambda x, y: vif_vifp_nlpd(x, y, with_grad=True),
        "fsim_mad_vsi": fsim_mad_vsi,
    }
    d = np.load(sys.argv[1])
    out = {}
    for job in sys.argv[2:]:
        out.update(JOBS[job](d[job + "_ref"], d[job + "_dist"]))
    print("RESULT" + json.dumps(out))
    """
)

#: job -> (rows, columns of the astronaut crop, noise std, noise seed).
_PAIRS = {
    "ssim_gmsd_psnr": (slice(40, 232), slice(160, 352), 15, 7),
    "vif_vifp_nlpd": (slice(80, 176), slice(200, 296), 15, 7),
    "vif_vifp_nlpd_grad": (slice(80, 176), slice(200, 296), 15, 7),
    "fsim_mad_vsi": (slice(60, 108), slice(180, 228), 10, 3),
}
JOBS = tuple(_PAIRS)
#: The jobs of the non-slow tests (VIF's gradients take minutes to compile).
DEFAULT_JOBS = ("ssim_gmsd_psnr", "vif_vifp_nlpd", "fsim_mad_vsi")


def jax_pair(job: str) -> tuple[np.ndarray, np.ndarray]:
    """(ref, dist) that `job` scores: an astronaut crop and a noisy copy, float32 NHWC."""
    from skimage import data

    rows, cols, sigma, seed = _PAIRS[job]
    ref = data.astronaut()[rows, cols][None].astype(np.float32)
    noise = np.random.default_rng(seed).normal(0, sigma, ref.shape)
    return ref, np.clip(ref + noise, 0, 255).astype(np.float32)


class _JaxRun:
    """One child interpreter computing `jobs`, started at construction; :meth:`result` waits."""

    def __init__(self, jobs: tuple[str, ...]):
        self._tmp = tempfile.TemporaryDirectory()
        self._folder = folder = Path(self._tmp.name)
        arrays = {}
        for job in jobs:
            arrays[job + "_ref"], arrays[job + "_dist"] = jax_pair(job)
        np.savez(folder / "in.npz", **arrays)
        env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
        # To files, not pipes: nobody reads a pipe while the child runs in the background.
        with open(folder / "out", "w") as out, open(folder / "err", "w") as err:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _SCRIPT, str(folder / "in.npz"), *jobs],
                stdout=out,
                stderr=err,
                env=env,
            )

    def result(self, timeout: float = 900) -> dict:
        try:
            code = self._proc.wait(timeout=timeout)
            out = (self._folder / "out").read_text()
            err = (self._folder / "err").read_text()
        finally:
            self.cancel()
        if code != 0:
            raise RuntimeError(f"the JAX run failed:\n{err[-3000:]}")
        line = next(ln for ln in out.splitlines() if ln.startswith("RESULT"))
        return json.loads(line[len("RESULT") :])

    def cancel(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._tmp.cleanup()


_STARTED: dict[tuple[str, ...], _JaxRun] = {}


def start_jax(jobs: tuple[str, ...]) -> None:
    """Starts the child for `jobs` in the background (if jax is installed); see jax_results."""
    if jobs not in _STARTED and importlib.util.find_spec("jax") is not None:
        _STARTED[jobs] = _JaxRun(jobs)


def cancel_jax() -> None:
    """Stops the children whose results nobody asked for (a session that ended early)."""
    while _STARTED:
        _STARTED.popitem()[1].cancel()


@functools.cache
def jax_results(jobs: tuple[str, ...]) -> dict | None:
    """{metric: value, metric_grad_...: bool} of `jobs` under JAX; None if jax is not installed.

    Waits for the child :func:`start_jax` began, or starts one.
    """
    if importlib.util.find_spec("jax") is None:
        return None
    start_jax(jobs)
    return _STARTED.pop(jobs).result()
