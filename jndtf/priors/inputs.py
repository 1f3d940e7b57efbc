"""The network input of the prior-guided JND models, built from one RGB image (numpy only).

ACoL-JND stacks the original image with its prior maps, eq. (1) of the ACoL-JND paper:
``i1 = {x_o} ⊕ {f_pm, f_cm, f_va}``; Table 1 gives CNN1 6 input channels, so each prior is
**one luma map** (3 RGB + 3 priors), not one map per colour channel (that would be 3 + 9). The
same function feeds the training data pipeline, the evaluation and the edge runtime, so all three
see identical inputs; it imports neither TensorFlow nor Keras (core: it lives in
:mod:`jndtf.priors`; ``jndtf.models.inputs`` re-exports it for older imports).

Normalization ``"unit"`` (every channel in 0..1, fixed constants, nothing estimated per image, so
a crop, a frame and the full picture are scaled alike):

- RGB channels: ``x / 255`` of the given pixel values;
- each prior: ``map / full_scale`` with the largest value it can take on an 8-bit image
  (:data:`PRIOR_FULL_SCALE`): pattern masking ``Lc_max · C_t(9)`` ≈ 175.76, contrast masking
  ``CM(Lc_max)`` ≈ 12.28 (``Lc_max = 255·√(12·13)/25`` ≈ 127.40, the largest 5x5 standard
  deviation), pattern complexity 9 (nine distinct codes), saliency 1.

Borders: the priors are computed on the image extended by a mirrored margin of
:data:`PRIOR_MARGIN` pixels and cropped back, so no zero-padding frame of the MATLAB filters
reaches the network (the classical models in :mod:`jndtf.baselines` keep MATLAB's borders).

The priors are computed on the 8-bit image, as in Wu 2017's MATLAB code and jndtf's classical
models: float input is rounded to the nearest integer (``np.rint``) before the priors, so a float
image holding whole numbers gives exactly the uint8 result. The RGB channels keep the given
values.

Example:
    >>> from skimage import data
    >>> x = model_input(data.astronaut(), ("pattern_masking", "contrast_masking", "saliency"))
    >>> x.shape, x.dtype, float(x.min()) >= 0.0, float(x.max()) <= 1.0
    ((512, 512, 6), dtype('float32'), True, True)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from jndtf.io import check_image
from jndtf.priors import compute_all
from jndtf.priors.contrast import CM_GAIN, CM_SATURATION
from jndtf.priors.pattern import CT_EXPONENT, CT_GAIN, CT_OFFSET

#: Largest 5x5 population standard deviation of 8-bit values (12 pixels at 0, 13 at 255).
LC_MAX = 255.0 * math.sqrt(12 * 13) / 25.0

#: Largest pattern complexity: nine distinct orientation codes in a 3x3 neighbourhood.
PC_MAX = 9.0

#: Largest value of each supported prior on an 8-bit image (divisor of the "unit" scaling).
PRIOR_FULL_SCALE: dict[str, float] = {
    "pattern_masking": LC_MAX * CT_GAIN * PC_MAX**CT_EXPONENT / (PC_MAX**2 + CT_OFFSET**2),
    "contrast_masking": CM_GAIN * LC_MAX**2.4 / (LC_MAX**2 + CM_SATURATION**2),
    "pattern_complexity": PC_MAX,
    "saliency": 1.0,
}

#: Known input normalizations.
NORMALIZATIONS = ("unit",)

#: Pixels of mirrored margin the priors are computed with (and then cropped): more than the
#: support of the pattern/contrast masking filters (5x5 windows, 3x3 gradients and Gaussians),
#: so a border pixel's priors are those of the image continued by its mirror image.
PRIOR_MARGIN = 16


def _check_request(priors: Sequence[str], normalization: str) -> tuple[str, ...]:
    if isinstance(priors, str):
        raise ValueError(f"priors must be a sequence of names, got the string {priors!r}")
    names = tuple(priors)
    unknown = [p for p in names if p not in PRIOR_FULL_SCALE]
    if unknown:
        raise ValueError(
            f"unsupported prior(s) {unknown}; model inputs support {list(PRIOR_FULL_SCALE)}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"priors repeat a name: {names}")
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {normalization!r}; known: {NORMALIZATIONS}")
    return names


def model_input(
    image: np.ndarray,
    priors: Sequence[str],
    *,
    normalization: str = "unit",
    overrides: Mapping[str, Callable[[np.ndarray], np.ndarray]] | None = None,
) -> np.ndarray:
    """RGB image -> ``HxWx(3 + len(priors))`` float32 network input (one image, HWC).

    Args:
        image: uint8 RGB ``HxWx3`` or float in 0..255 (grey ``HxW`` is replicated to RGB, an
            alpha channel dropped, as :func:`jndtf.io.check_image`); sides >= 32 (the priors'
            windows).
        priors: prior names (keys of :data:`PRIOR_FULL_SCALE`), stacked after RGB in this order.
        normalization: ``"unit"`` (module docstring).
        overrides: prior name -> a callable computing that prior instead of the core's, with
            the same contract (uint8 RGB in, float32 ``HxW`` out in the prior's units), e.g.
            ``{"saliency": SaliencyPrior("poolnet.tflite")}`` for a trained f_va net
            (:mod:`jndtf.priors.learned`). Callers that cache inputs must key the cache
            on the override too.

    Returns:
        float32 ``HxWxC`` array, C = 3 + len(priors), every value in 0..1.

    Raises:
        ImageError: not an image in 0..255 (NaN, out of range, too small, wrong shape).
        ValueError: an unsupported prior or normalization.

    Example:
        >>> img = np.full((32, 48, 3), 128, np.uint8)
        >>> model_input(img, ("pattern_complexity", "saliency")).shape
        (32, 48, 5)
    """
    names = _check_request(priors, normalization)
    rgb = check_image(image)
    h, w = rgb.shape[:2]
    out = np.empty((h, w, 3 + len(names)), dtype=np.float32)
    out[..., :3] = rgb.astype(np.float32) * np.float32(1.0 / 255.0)
    if names:
        if rgb.dtype == np.uint8:
            rgb8 = rgb
        else:
            rgb8 = np.rint(np.clip(rgb, 0.0, 255.0)).astype(np.uint8)
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise ValueError(f"overrides for priors the model does not take: {unknown}")
        # Priors of the image continued by its mirror image, then cropped: MATLAB's zero
        # padding sets pattern/contrast masking to 0 in the outer 2 pixels and about twice the
        # interior in the next 4 (coffee: 0.19 vs 0.08 of full scale), a frame the network
        # turns into lines along the border. The classical models keep MATLAB's convention.
        m = PRIOR_MARGIN
        padded = cv2.copyMakeBorder(rgb8, m, m, m, m, cv2.BORDER_REFLECT)
        maps = {
            k: v[m : m + h, m : m + w]
            for k, v in compute_all(padded, [n for n in names if n not in overrides]).items()
        }
        for name, fn in overrides.items():  # a learned prior sees the image itself
            got = np.asarray(fn(rgb8), dtype=np.float32)
            if got.shape != (h, w):
                raise ValueError(
                    f"the {name!r} override returned shape {got.shape}, expected {(h, w)}"
                )
            maps[name] = got
        for c, name in enumerate(names, start=3):
            np.multiply(maps[name], np.float32(1.0 / PRIOR_FULL_SCALE[name]), out=out[..., c])
        np.clip(out[..., 3:], 0.0, 1.0, out=out[..., 3:])  # guards float round-off only
    return out


def normalization_info(priors: Sequence[str], normalization: str = "unit") -> dict:
    """The normalization as data, for a model manifest: channel -> divisor (0..1 after it)."""
    names = _check_request(priors, normalization)
    channels = [{"name": c, "divisor": 255.0} for c in ("red", "green", "blue")]
    channels += [{"name": p, "divisor": PRIOR_FULL_SCALE[p]} for p in names]
    return {
        "name": normalization,
        "channels": channels,
        "priors_on": "8-bit image (float input rounded with np.rint)",
        "layout": "HWC float32, NHWC once batched",
    }


def code_fingerprint() -> str:
    """sha256 (hex) over the source files of :mod:`jndtf.priors` (the prior maps and this input
    builder): a manifest records it (``inputs.prior_settings.code_sha256``) so a runtime can
    tell that its prior code differs from the exporter's."""
    h = hashlib.sha256()
    for f in sorted(Path(__file__).parent.glob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


__all__ = [
    "NORMALIZATIONS",
    "PRIOR_FULL_SCALE",
    "PRIOR_MARGIN",
    "code_fingerprint",
    "model_input",
    "normalization_info",
]
