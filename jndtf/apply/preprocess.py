"""JND-guided pre-processing before an encoder: hmJND eq. (14) and DMV-JND's quantization step.

- :func:`preprocess_jpeg`: eq. (14) of hmJND-Net (Xie et al., "Just Noticeable Visual Redundancy
  Forecasting: A Deep Multimodal-Driven Approach", AAAI 2023), "JND-Guided JPEG Compression": in
  every 8x8 block, a pixel within its JND of the block mean becomes the mean, any other pixel
  moves by its JND toward the mean. The blocks get flatter (fewer AC coefficients for JPEG) and no
  pixel moves by more than its JND.
- :func:`quantize_by_jnd`: DMV-JND (Jin et al., "Just Noticeable Difference for Deep Machine
  Vision", IEEE TCSVT 2022, Section I): "the quantization step is set as twice of the DMV-JND
  during bit allocation to guarantee that the quantization-caused errors are still tolerated".
  jndtf applies it in the pixel domain (a uniform quantizer of step ``2·JND`` per pixel, error
  at most the JND) and, for an encoder's bit allocation, as a block QP map
  (:func:`qstep_map`, :func:`qp_from_qstep`).

Not implemented: eq. (15) of hmJND (the HEVC/VVC residual version). Its text leaves the size of
the "local range" of σ²(p) unstated, does not say whether σ² is the variance of the original or of
the residual block, divides by σ² (zero in flat blocks), and for ``|I_vt| / σ² > 1`` the
``min``/``max`` selects an *amplified* residual, which cannot be the intent. It also needs the
encoder's prediction residual, which no pip-installable encoder exposes.

Units: images uint8 or float 0..255, ``HxW`` (grey/luma) or RGB ``HxWx3``; JND maps in 0..255
pixel units, ``HxW``/``HxWx1`` (applied to every channel) or ``HxWx3``. uint8 in gives uint8 out,
rounded to the nearest integer that still lies within the JND of the input pixel; float in gives
float32 out, unrounded.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

#: RGB -> luma weights of JPEG (JFIF, ITU-R BT.601), for ``channels="luma"``.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def _check(image: np.ndarray, jnd: np.ndarray, *, luma_jnd: bool = False):
    """Validated float64 image (``HxWxC``), JND (``HxWx1`` or ``HxWxC``), and the input layout."""
    img = np.asarray(image)
    grey = img.ndim == 2
    if grey:
        img = img[..., None]
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise ValueError(f"image must be HxW, HxWx1 or HxWx3, got shape {np.shape(image)}")
    if img.dtype != np.uint8:
        if not (np.issubdtype(img.dtype, np.floating) or np.issubdtype(img.dtype, np.integer)):
            raise ValueError(f"unsupported image dtype {img.dtype}")
        if not np.all(np.isfinite(img)):
            raise ValueError("image contains NaN or Inf values")
        if img.size and (img.min() < 0 or img.max() > 255):
            raise ValueError(f"image values span {img.min():.4g}..{img.max():.4g}; expected 0..255")
    j = np.asarray(jnd)
    if not (np.issubdtype(j.dtype, np.floating) or np.issubdtype(j.dtype, np.integer)):
        raise ValueError(f"unsupported JND dtype {j.dtype}")
    j = j.astype(np.float64)
    h, w, c = img.shape
    if j.ndim == 2:
        j = j[..., None]
    allowed = {1} if luma_jnd else {1, c}
    if j.ndim != 3 or j.shape[:2] != (h, w) or j.shape[2] not in allowed:
        want = f"{h}x{w} or {h}x{w}x1" + (f" or {h}x{w}x{c}" if c > 1 and not luma_jnd else "")
        raise ValueError(f"JND map shape {np.shape(jnd)} does not fit image {img.shape}: {want}")
    if not np.all(np.isfinite(j)):
        raise ValueError("JND map contains NaN or Inf values")
    if j.size and j.min() < 0:
        raise ValueError(f"JND map has negative values (min {j.min():.4g}); JND is >= 0")
    return img.astype(np.float64), j, img.dtype, grey


def _finish(x: np.ndarray, y: np.ndarray, bound: np.ndarray, dtype, grey: bool) -> np.ndarray:
    """Casts the result back: uint8 -> nearest integer within ``x ± bound``; float -> float32."""
    if dtype == np.uint8:
        slack = np.floor(bound + 1e-9)  # x is integer: x ± floor(bound) are the integers allowed
        y = np.clip(np.round(y), x - slack, x + slack)
        y = np.clip(y, 0, 255).astype(np.uint8)
    else:
        y = y.astype(np.float32)
    return y[..., 0] if grey else y


def block_means(image: np.ndarray, block: int = 8) -> np.ndarray:
    """Mean of every ``block x block`` tile, per channel, spread back over the tile.

    Tiles start at the top-left corner (JPEG's grid); a partial tile at the right or bottom edge
    uses the mean of the pixels it holds.

    Args:
        image: ``HxW`` or ``HxWxC`` array (any real dtype).
        block: tile side in pixels.

    Returns:
        float64 array of the image's shape.
    """
    if not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"block must be a positive integer, got {block!r}")
    x = np.asarray(image, dtype=np.float64)
    h, w = x.shape[:2]
    rows, cols = np.arange(0, h, block), np.arange(0, w, block)
    sums = np.add.reduceat(np.add.reduceat(x, rows, axis=0), cols, axis=1)
    counts = np.outer(np.diff(np.append(rows, h)), np.diff(np.append(cols, w)))
    means = sums / (counts if x.ndim == 2 else counts[..., None])
    return np.repeat(np.repeat(means, block, axis=0)[:h], block, axis=1)[:, :w]


def _eq14(x: np.ndarray, mean: np.ndarray, j: np.ndarray) -> np.ndarray:
    d = x - mean
    return np.where(np.abs(d) <= j, mean, np.where(d < -j, x + j, x - j))


def preprocess_jpeg(
    image: np.ndarray,
    jnd: np.ndarray,
    *,
    block: int = 8,
    channels: Literal["rgb", "luma"] = "rgb",
) -> np.ndarray:
    """JND-guided pre-processing before JPEG, eq. (14) of hmJND-Net (Xie et al., AAAI 2023).

    With ``m`` the mean of the pixel's 8x8 block and ``J`` its JND::

        out = m          if |x - m| <= J
              x + J      if x - m < -J
              x - J      otherwise

    so no pixel moves by more than its JND, zero JND changes nothing, flat blocks stay as they
    are and a JND above every deviation gives the block means.

    Args:
        image: uint8 or float 0..255 image, ``HxW`` or RGB ``HxWx3``.
        jnd: JND map in 0..255 units, ``HxW``, ``HxWx1`` or ``HxWx3``, finite and >= 0.
        block: block side; 8 is JPEG's DCT block (16 matches 4:2:0 chroma macroblocks).
        channels: ``"rgb"`` applies eq. (14) to each channel with its own block means;
            ``"luma"`` applies it to the BT.601 luma Y (the paper's "mean luminance" of the block,
            what JPEG codes as Y) and adds the change of Y to R, G and B, which leaves JPEG's Cb
            and Cr untouched; it needs an ``HxW``/``HxWx1`` JND.

    Returns:
        The pre-processed image, same shape; uint8 for uint8 input (rounded to the nearest
        integer within the JND of the input), float32 otherwise.

    Example:
        >>> out = preprocess_jpeg(image, jnd)
        >>> cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR))  # fewer bytes
    """
    if channels not in ("rgb", "luma"):
        raise ValueError(f"channels must be 'rgb' or 'luma', got {channels!r}")
    x, j, dtype, grey = _check(image, jnd, luma_jnd=channels == "luma")
    if channels == "rgb" or x.shape[2] == 1:
        y = _eq14(x, block_means(x, block), j)
    else:
        luma = x @ np.asarray(LUMA_WEIGHTS)
        change = _eq14(luma, block_means(luma, block), j[..., 0]) - luma
        y = np.clip(x + change[..., None], 0.0, 255.0)
    return _finish(x, y, np.broadcast_to(j, x.shape), dtype, grey)


def quantize_by_jnd(image: np.ndarray, jnd: np.ndarray, *, factor: float = 2.0) -> np.ndarray:
    """Pixel-domain uniform quantization with a step of twice the JND (DMV-JND, TCSVT 2022).

    DMV-JND (Jin et al., Section I) sets "the quantization step ... as twice of the DMV-JND
    during bit allocation to guarantee that the quantization-caused errors are still tolerated".
    Here each pixel is quantized with its own step ``q = factor · J`` to the nearest multiple of
    ``q`` (``round(x / q) · q``, clipped to 0..255); the error is at most ``q / 2`` (the JND for
    the paper's factor 2). Pixels with ``J = 0`` are left unchanged.

    In the pixel domain this helps lossless coding (coffee, JND 4 everywhere: PNG -53 %) but
    adds high-frequency error in front of a transform coder (JPEG q90: +4 %); for an encoder's
    bit allocation, as the paper intends, use :func:`qstep_map` and :func:`qp_from_qstep`.

    Args:
        image: uint8 or float 0..255 image, ``HxW`` or RGB ``HxWx3``.
        jnd: JND map (DMV-JND or any other) in 0..255 units, ``HxW``, ``HxWx1`` or ``HxWx3``.
        factor: quantization step in units of the JND (2 in the paper).

    Returns:
        The quantized image, same shape; uint8 for uint8 input (nearest integer within
        ``q / 2`` of the input), float32 otherwise.

    Example:
        >>> out = quantize_by_jnd(image, dmv_jnd)
        >>> np.abs(out.astype(int) - image).max() <= dmv_jnd.max()
        True
    """
    if not (isinstance(factor, (int, float)) and math.isfinite(factor) and factor > 0):
        raise ValueError(f"factor must be a positive number, got {factor!r}")
    x, j, dtype, grey = _check(image, jnd)
    step = np.broadcast_to(factor * j, x.shape)
    safe = np.where(step > 0, step, 1.0)
    y = np.where(step > 0, np.round(x / safe) * safe, x)
    y = np.clip(y, 0.0, 255.0)
    return _finish(x, y, step / 2.0, dtype, grey)


def qstep_map(
    jnd: np.ndarray,
    *,
    block: int = 16,
    factor: float = 2.0,
    reduce: Literal["min", "mean"] = "min",
) -> np.ndarray:
    """Per-block quantization step for an encoder's bit allocation (DMV-JND, Section I).

    The step is ``factor`` times the block's JND; ``reduce="min"`` takes the smallest JND of the
    block, so every pixel's tolerance holds, ``"mean"`` the average.

    Args:
        jnd: JND map ``HxW``, ``HxWx1`` or ``HxWxC`` (channels are reduced too) in 0..255 units.
        block: block side in pixels (16: an H.264 macroblock; HEVC CTUs are 64 or smaller CUs).
        factor: step in JND units (2 in the paper).
        reduce: ``"min"`` or ``"mean"`` over each block.

    Returns:
        float64 array ``ceil(H/block) x ceil(W/block)`` of steps in 0..255 pixel units.
    """
    if reduce not in ("min", "mean"):
        raise ValueError(f"reduce must be 'min' or 'mean', got {reduce!r}")
    if not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"block must be a positive integer, got {block!r}")
    if not (isinstance(factor, (int, float)) and math.isfinite(factor) and factor > 0):
        raise ValueError(f"factor must be a positive number, got {factor!r}")
    j = np.asarray(jnd, dtype=np.float64)
    if j.ndim == 3:
        j = j.min(axis=2) if reduce == "min" else j.mean(axis=2)
    if j.ndim != 2 or min(j.shape) < 1:
        raise ValueError(f"JND map must be HxW or HxWxC, got shape {np.shape(jnd)}")
    if not np.all(np.isfinite(j)) or j.min() < 0:
        raise ValueError("JND map must be finite and >= 0")
    h, w = j.shape
    rows, cols = np.arange(0, h, block), np.arange(0, w, block)
    if reduce == "min":
        per_block = np.minimum.reduceat(np.minimum.reduceat(j, rows, axis=0), cols, axis=1)
    else:
        sums = np.add.reduceat(np.add.reduceat(j, rows, axis=0), cols, axis=1)
        per_block = sums / np.outer(np.diff(np.append(rows, h)), np.diff(np.append(cols, w)))
    return factor * per_block


def qp_from_qstep(qstep: np.ndarray | float, *, qp_min: int = 0, qp_max: int = 51) -> np.ndarray:
    """H.264/HEVC QP whose step does not exceed `qstep`: ``floor(4 + 6 log2(qstep))``.

    Uses the standards' ``Qstep = 2^((QP - 4) / 6)`` (Qstep 1 at QP 4, doubling every 6 QP),
    rounded down so the encoder's step stays at or below the JND-derived one, and clipped to
    ``qp_min..qp_max`` (0..51 for 8-bit video). This is an approximation: the pixel-domain error
    of a transform coder is not bounded by the coefficient step alone.

    Returns:
        int array of QPs, same shape as `qstep`.
    """
    q = np.asarray(qstep, dtype=np.float64)
    if not np.all(np.isfinite(q)) or np.any(q < 0):
        raise ValueError("qstep must be finite and >= 0")
    qp = np.floor(4.0 + 6.0 * np.log2(np.maximum(q, 1e-12)) + 1e-9)
    return np.clip(qp, qp_min, qp_max).astype(np.int64)
