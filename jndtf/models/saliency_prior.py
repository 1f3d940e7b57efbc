"""A learned visual-attention prior f_va that also loads ``.keras`` files.

:class:`SaliencyPrior` is :class:`jndtf.priors.learned.SaliencyPrior` (the TF-free runner of a
``.tflite`` file or an in-memory Keras model; its docstring gives the contract, the working size
and how to plug it into :func:`jndtf.priors.inputs.model_input`) plus the loader of a ``.keras``
file (Keras and jndtf's custom layers; the [train] extra). The rest is re-exported from there.

Example:
    >>> prior = SaliencyPrior("poolnet_small.keras")
    >>> s = prior(image)                   # uint8 RGB (H, W, 3) -> float32 (H, W) in 0..1
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from jndtf.priors import learned as _core
from jndtf.priors.learned import (  # noqa: F401  re-export
    DEFAULT_MAX_SIDE,
    IMPLEMENTATION,
    MIN_SIDE,
    working_size,
)


class SaliencyPrior(_core.SaliencyPrior):
    """:class:`jndtf.priors.learned.SaliencyPrior` that also loads a ``.keras`` file (the [train]
    extra); same arguments, same map.

    Example:
        >>> prior = SaliencyPrior("runs/saliency/poolnet_small.keras", max_side=384)
        >>> prior(np.zeros((240, 320, 3), np.uint8)).shape
        (240, 320)
    """

    def _load_keras(self, path: Path):
        return _load_keras(path)


def _load_keras(path: Path):
    from jndtf._deps import require

    keras = require("keras", "running a .keras saliency model")
    import jndtf.models.saliency.network  # noqa: F401  registers the layers a saliency net uses

    return keras.saving.load_model(path, compile=False)


@functools.lru_cache(maxsize=4)
def _cached(path: str, mtime_ns: int, max_side, rescale: bool) -> SaliencyPrior:
    return SaliencyPrior(path, max_side=max_side, rescale=rescale)


def load_saliency_prior(
    path: str | os.PathLike, *, max_side: int | None = DEFAULT_MAX_SIDE, rescale: bool = False
) -> SaliencyPrior:
    """A :class:`SaliencyPrior` for a ``.keras`` or ``.tflite`` model file, loaded once per
    process (reloaded when the file changes): for callers that compute priors image after image.

    Example:
        >>> f_va = load_saliency_prior("poolnet_small.keras")
        >>> maps = [f_va(img) for img in images]
    """
    p = Path(path).resolve()
    if not p.is_file():
        raise FileNotFoundError(f"saliency model {p} does not exist")
    return _cached(str(p), p.stat().st_mtime_ns, max_side, bool(rescale))


__all__ = ["DEFAULT_MAX_SIDE", "SaliencyPrior", "load_saliency_prior", "working_size"]
