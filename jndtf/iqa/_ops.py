"""Shared building blocks of the IQA metrics, in ``keras.ops`` (TensorFlow and JAX backends).

Conventions every metric in ``jndtf.iqa`` follows:

- Inputs are batched NHWC tensors (or arrays) in the 0..`data_range` scale (default 255),
  RGB with C = 3 or grey with C = 1. :func:`check_pair` validates and casts them to float32,
  also under mixed precision.
- MATLAB's filters are reproduced by :func:`filter2d`: ``filter2(k, x, 'valid')`` is
  ``mode="valid"``, ``filter2(k, x, 'same')`` / ``imfilter`` with zeros is ``mode="zeros"``,
  ``imfilter(..., 'symmetric')`` is ``mode="symmetric"``, ``'replicate'`` is ``mode="edge"``,
  ``'circular'`` is ``mode="wrap"``. Correlation, not convolution (as filter2 and imfilter).
"""

from __future__ import annotations

import numpy as np
from keras import ops

#: MATLAB ``rgb2gray`` weights (the luma of ITU-R BT.601 with MATLAB's rounding of coefficients).
RGB2GRAY_MATLAB = (0.2989, 0.5870, 0.1140)

_PAD_MODES = {
    "zeros": "constant",
    "symmetric": "symmetric",
    "edge": "edge",
    "wrap": "wrap",
    "reflect": "reflect",
}


def check_pair(x, y, *, name: str = "metric"):
    """Casts two image batches to float32 NHWC and checks that their shapes agree.

    Raises:
        ValueError: rank other than 4 (a single HxWxC image must be batched with ``x[None]``),
            or different shapes.
    """
    x = ops.cast(ops.convert_to_tensor(x), "float32")
    y = ops.cast(ops.convert_to_tensor(y), "float32")
    if len(x.shape) != 4 or len(y.shape) != 4:
        raise ValueError(
            f"{name}: expected NHWC batches of rank 4, got shapes {tuple(x.shape)} "
            f"and {tuple(y.shape)}; add a batch axis with x[None]"
        )
    sx, sy = tuple(x.shape), tuple(y.shape)
    if any(a is not None and b is not None and a != b for a, b in zip(sx, sy, strict=True)):
        raise ValueError(f"{name}: the two images must have the same shape, got {sx} and {sy}")
    return x, y


def rgb_to_grey(x, *, weights=RGB2GRAY_MATLAB, round_uint8: bool = False):
    """NHWC RGB -> NHW1 grey with MATLAB ``rgb2gray`` weights (C = 1 passes through).

    Args:
        round_uint8: MATLAB's ``rgb2gray`` on a uint8 image returns uint8, i.e. rounds; set this
            to reproduce originals that call it on uint8 input. Rounding has no gradient: use it
            for evaluation, not inside losses.
    """
    if x.shape[-1] == 1:
        return x
    w = ops.convert_to_tensor(np.asarray(weights, dtype=np.float32).reshape(1, 1, 1, 3))
    g = ops.sum(x * w, axis=-1, keepdims=True)
    return ops.round(g) if round_uint8 else g


def pad2d(x, pad_top: int, pad_bottom: int, pad_left: int, pad_right: int, mode: str):
    """Pads the H and W axes of an NHWC tensor with a MATLAB-named border mode."""
    if mode == "valid" or (pad_top == pad_bottom == pad_left == pad_right == 0):
        return x
    if mode not in _PAD_MODES:
        raise ValueError(f"unknown padding mode {mode!r}; choose from {sorted(_PAD_MODES)}")
    widths = [[0, 0], [pad_top, pad_bottom], [pad_left, pad_right], [0, 0]]
    np_mode = _PAD_MODES[mode]
    if np_mode == "wrap":
        # keras.ops.pad has no wrap mode: concatenate slices instead.
        if pad_top or pad_bottom:
            x = ops.concatenate([x[:, x.shape[1] - pad_top :], x, x[:, :pad_bottom]], axis=1)
        if pad_left or pad_right:
            x = ops.concatenate([x[:, :, x.shape[2] - pad_left :], x, x[:, :, :pad_right]], axis=2)
        return x
    if np_mode == "edge":
        # keras.ops.pad's "edge" mode is not implemented on the TensorFlow backend.
        parts = [ops.repeat(x[:, :1], pad_top, axis=1)] if pad_top else []
        parts += [x] + ([ops.repeat(x[:, -1:], pad_bottom, axis=1)] if pad_bottom else [])
        x = ops.concatenate(parts, axis=1) if len(parts) > 1 else x
        parts = [ops.repeat(x[:, :, :1], pad_left, axis=2)] if pad_left else []
        parts += [x] + ([ops.repeat(x[:, :, -1:], pad_right, axis=2)] if pad_right else [])
        return ops.concatenate(parts, axis=2) if len(parts) > 1 else x
    return ops.pad(x, widths, mode=np_mode)


def filter2d(x, kernel, mode: str = "valid", stride: int = 1):
    """Correlates every channel of an NHWC tensor with one 2-D kernel (MATLAB ``filter2``).

    Args:
        x: NHWC float tensor.
        kernel: 2-D numpy array (kh, kw), applied depthwise to each channel.
        mode: "valid" (output shrinks by kh-1, kw-1) or a border mode of :func:`pad2d`
            ("zeros", "symmetric", "edge", "wrap", "reflect"), which keeps the size.
        stride: subsampling of the output (applied after filtering, as ``out(1:s:end, 1:s:end)``).
    """
    k = np.asarray(kernel, dtype=np.float32)
    if k.ndim != 2:
        raise ValueError(f"kernel must be 2-D, got shape {k.shape}")
    kh, kw = k.shape
    if mode != "valid":
        top, left = (kh - 1) // 2, (kw - 1) // 2
        x = pad2d(x, top, kh - 1 - top, left, kw - 1 - left, mode)
    factors = separable_factors(k)
    if factors is not None:
        # Two 1-D passes, kh + kw multiplies per pixel instead of kh * kw: 17x17 runs ~7x
        # faster (and its gradient too); the result differs by float32 rounding only.
        col, row = factors
        x = _depthwise(x, col[:, None], (stride, 1))
        return _depthwise(x, row[None, :], (1, stride))
    return _depthwise(x, k, stride)


def _depthwise(x, k, strides):
    """'valid' depthwise correlation of every channel of NHWC `x` with the 2-D numpy `k`."""
    dk = np.repeat(k[:, :, None, None], x.shape[-1], axis=2)  # (kh, kw, C, 1)
    return ops.depthwise_conv(x, ops.convert_to_tensor(dk), strides=strides, padding="valid")


#: kernels whose sides are both at least this run as two 1-D passes when they are rank 1
#: (below it the gain is small and NLPD's 5x5 gradient timed no faster at 176 px).
_SEPARABLE_MIN_SIDE = 7


def separable_factors(kernel) -> tuple[np.ndarray, np.ndarray] | None:
    """``(col, row)`` with ``outer(col, row) == kernel`` to float32 precision, or None.

    None for kernels with a side below 7 (the 2-D pass is about as fast) and for kernels that
    are not rank 1 (Gabor, Laplacian, ...). Gaussians (``fspecial``) and box filters are rank 1.
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or min(k.shape) < _SEPARABLE_MIN_SIDE:
        return None
    u, s, vt = np.linalg.svd(k)
    col, row = u[:, 0] * np.sqrt(s[0]), vt[0] * np.sqrt(s[0])
    if col.sum() < 0:  # the SVD's sign is arbitrary: keep a positive-sum kernel's factors positive
        col, row = -col, -row
    # float32 carries ~6e-8 relative precision: a rank-1 kernel reconstructs to well below 1e-6
    if np.max(np.abs(np.outer(col, row) - k)) > 1e-6 * np.max(np.abs(k)):
        return None
    return col.astype(np.float32), row.astype(np.float32)


def mean_downsample(x, f: int, mode: str):
    """f x f mean filter with `mode` borders (:func:`pad2d`), then every f-th pixel from the first.

    ``mode="symmetric"`` is ``imfilter(x, ones(f)/f^2, 'symmetric')`` (SSIM, MS-SSIM);
    ``mode="zeros"`` is ``conv2(x, ones(f)/f^2, 'same')`` (GMSD, FSIM, VSI). f = 1 returns `x`.
    """
    if f == 1:
        return x
    return filter2d(x, np.full((f, f), 1.0 / (f * f)), mode=mode, stride=f)


def gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', size, sigma)``: normalized to sum 1."""
    r = (size - 1) / 2.0
    ax = np.arange(size, dtype=np.float64) - r
    g = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2.0 * sigma**2))
    g[g < np.finfo(np.float64).eps * g.max()] = 0
    return (g / g.sum()).astype(np.float32)


def safe_sqrt(x, eps: float = 1e-12):
    """sqrt with its argument bounded below by `eps`: finite gradient at 0 (piq#308)."""
    return ops.sqrt(ops.maximum(x, eps))


def similarity(a, b, c):
    """``(2ab + c) / (a^2 + b^2 + c)``, element-wise: 1 where a == b (FSIM, VSI; c > 0)."""
    return (2.0 * a * b + c) / (a**2 + b**2 + c)


#: Scharr's horizontal derivative ``[3 0 -3; 10 0 -10; 3 0 -3] / 16`` (FeatureSIM.m, VSI.m).
SCHARR_X = np.array([[3, 0, -3], [10, 0, -10], [3, 0, -3]], dtype=np.float64) / 16.0


def scharr_magnitude(grey, eps: float):
    """``sqrt(gx^2 + gy^2)`` of Scharr derivatives, zero borders (``conv2(.., 'same')``).

    The argument of the root is bounded below by `eps` (:func:`safe_sqrt`).
    """
    gx = filter2d(grey, SCHARR_X, mode="zeros")
    gy = filter2d(grey, SCHARR_X.T, mode="zeros")
    return safe_sqrt(gx**2 + gy**2, eps)


def floatx_guard(x):
    """Casts to float32 whatever the global dtype policy is (metrics always run in float32)."""
    return ops.cast(x, "float32")


__all__ = [
    "RGB2GRAY_MATLAB",
    "SCHARR_X",
    "check_pair",
    "filter2d",
    "floatx_guard",
    "gaussian_kernel",
    "mean_downsample",
    "pad2d",
    "rgb_to_grey",
    "safe_sqrt",
    "scharr_magnitude",
    "separable_factors",
    "similarity",
]


# --- MATLAB rgb2gray to full precision and the grey pair of the metrics that use it -----------

#: The weights MATLAB's ``rgb2gray`` really uses: the first row of ``inv`` of the YIQ->RGB
#: matrix. :data:`RGB2GRAY_MATLAB` holds the 4-digit values its documentation prints; on uint8
#: input the two round ~0.3 % of pixels to different grey levels, enough to move GMSD of the
#: TID2013 golden pairs by 2-5 %.
RGB2GRAY_MATLAB_EXACT = (0.298936021293775, 0.587043074451121, 0.114020904255103)


def is_uint8(x) -> bool:
    """True if `x` (numpy array or backend tensor) holds uint8 values."""
    dtype = getattr(x, "dtype", None)
    return dtype is not None and "uint8" in str(dtype)


def matlab_rgb2gray(x, *, data_range: float = 255.0, quantize: bool = False):
    """MATLAB ``rgb2gray`` on an NHWC batch in 0..`data_range`; C = 1 passes through unchanged.

    Args:
        x: float NHWC tensor, C = 1 or 3.
        data_range: the value of white; quantization happens on the 0..255 grid of levels.
        quantize: round to 8-bit levels, half away from zero, as ``rgb2gray`` does for uint8
            input (MATLAB returns uint8). No gradient: for evaluation, not inside losses.

    Raises:
        ValueError: C is neither 1 nor 3.
    """
    c = x.shape[-1]
    if c == 1:
        return x
    if c != 3:
        raise ValueError(f"expected 1 (grey) or 3 (RGB) channels, got shape {tuple(x.shape)}")
    g = rgb_to_grey(x, weights=RGB2GRAY_MATLAB_EXACT)
    if quantize:
        scale = 255.0 / float(data_range)
        g = ops.floor(g * scale + 0.5) / scale
    return g


def grey_pair(
    x, y, data_range: float, quantize_grey: bool | None, *, name: str, to_255: bool = False
):
    """Validated float32 grey NHW1 pair, as the MATLAB originals see their input.

    RGB goes through :func:`matlab_rgb2gray`; grey (C = 1) is used as it is.

    Args:
        x, y: NHWC batches, C = 1 or 3, values in 0..`data_range`.
        data_range: the value of white.
        quantize_grey: round RGB->grey to 8-bit levels (no gradient); None: exactly when both
            inputs are uint8 (MATLAB's ``rgb2gray`` returns uint8 then).
        name: the metric, for error messages.
        to_255: rescale the pair from 0..`data_range` to 0..255, the scale of the originals'
            constants.

    Raises:
        ValueError: data_range <= 0; shapes differ or are not NHWC with C in (1, 3).
    """
    if not data_range > 0:
        raise ValueError(f"{name}: data_range must be > 0, got {data_range}")
    if quantize_grey is None:
        quantize_grey = is_uint8(x) and is_uint8(y)
    x, y = check_pair(x, y, name=name)
    if x.shape[-1] not in (1, 3):
        raise ValueError(
            f"{name}: expected 1 (grey) or 3 (RGB) channels, got shape {tuple(x.shape)}"
        )
    x = matlab_rgb2gray(x, data_range=data_range, quantize=quantize_grey)
    y = matlab_rgb2gray(y, data_range=data_range, quantize=quantize_grey)
    if to_255:
        scale = 255.0 / float(data_range)
        x, y = x * scale, y * scale
    return x, y


def check_min_size(x, need: int, name: str) -> None:
    """Raises ValueError if the static H or W of NHWC `x` is below `need` (unknown sides pass)."""
    h, w = x.shape[1], x.shape[2]
    if h is not None and w is not None and min(h, w) < need:
        raise ValueError(f"{name}: images must be at least {need}x{need}, got {h}x{w}")


__all__ += ["RGB2GRAY_MATLAB_EXACT", "check_min_size", "grey_pair", "is_uint8", "matlab_rgb2gray"]
