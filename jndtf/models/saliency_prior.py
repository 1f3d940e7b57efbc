"""A learned visual-attention prior f_va: a trained saliency network as a numpy function.

ACoL-JND takes its visual-attention prior f_va from PoolNet (ref. [33] of the ACoL-JND paper,
§3.2, eq. (1)). jndtf's default ``"saliency"`` prior is the classical spectral residual
(:func:`jndtf.priors.saliency`) because PoolNet's weights cannot be downloaded here;
:class:`SaliencyPrior` runs a saliency model that jndtf trained
(:func:`jndtf.train.saliency.train_saliency`, :func:`jndtf.models.saliency.build_poolnet`)
and has the **same contract** as :func:`jndtf.priors.saliency`: uint8 or float (0..255) image,
grey ``HxW`` or RGB ``HxWx3`` in, float32 ``HxW`` map in 0..1 out (1 = salient), so it can take
its place wherever a prior function is called.

The TF-free part (the ``.tflite`` runner, :func:`working_size`, the map's contract) lives in the
core, :mod:`jndtf.priors.learned`; this module's :class:`SaliencyPrior` is that class plus the
loader of a ``.keras`` file (Keras and jndtf's custom layers), and re-exports the rest.

Models: a ``.keras`` file (needs the [train] extra: Keras), a ``.tflite`` file (needs only
``ai_edge_litert``, the [edge] extra; a dynamic ``[1, -1, -1, 3]`` model runs at the working
size, a fixed-shape one gets the image resized to its size), or a :class:`keras.Model` in memory.

**Working size.** The network runs on the image scaled so its long side is at most
`max_side` (default 384 px, about the size of the DUTS/ECSSD photos saliency networks are
trained and tested on, §4.1 of PoolNet; ``None`` = full resolution), and its map is resized back
(bilinear). This bounds the cost (``poolnet_small``: 5.2k MAC per working pixel, ~0.76 GMAC at
384 x 384) and keeps the objects at the scale the network learned.

**Plugging it into the network input.** The ``"saliency"`` channel of
:func:`jndtf.priors.inputs.model_input` is the prior map divided by 1 (its full scale), so the
learned map can replace the classical one channel for channel:
``model_input(image, priors, overrides={"saliency": prior})`` (a name -> callable
mapping used instead of :data:`jndtf.priors.PRIORS`' function) is all it takes; pass it the
uint8 image the other priors see. Any cache of network inputs must add :attr:`SaliencyPrior.
fingerprint` (sha256 of the model file + settings) to its key, and a model manifest should record
:meth:`SaliencyPrior.describe`, so training and deployment use the same f_va.

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
