"""Quality of a decoded image against the ORIGINAL, by metrics no jndtf model was trained on.

- ``ssimulacra2``: SSIMULACRA2 (Cloudinary/libjxl; XYB colour, 6 scales of SSIM and edge maps,
  fitted to subjective scores). Computed by the ``ssimulacra2`` package (0.3.0, a numpy/scipy
  port); 100 = identical, ~90 visually lossless, ~70 high quality, ~50 medium, can go negative.
  That package reads files, so the pair is handed over as in-memory PPM (lossless). Cost here
  (Xeon, AVX-512, one core): ~1.3 s for a 512x768 pair, ~0.6 s for an identical pair: the
  reason ``eval rd`` crops large photos rather than scoring megapixels.
- ``ms_ssim``: MS-SSIM (Wang et al. 2003) as :func:`jndtf.metrics.ms_ssim` (grey, 5
  scales; needs ``min(H, W) >= 176``).
- ``psnr``: :func:`jndtf.metrics.psnr` over RGB (dB; ``inf`` for identical images).

- ``cvvdp``: ColorVideoVDP (Mantiuk et al. 2024; ``cvvdp`` package, PyTorch) in JOD units, 10 =
  identical, ~9.5 at the edge of visibility; display ``standard_4k``, images only. Works offline
  (display and model parameters ship in the wheel) but costs ~1.9 s for a 256x256 pair on one CPU
  core (~10 s at 512x768), so it is not in the default metric list. ``pip install "jndtf[cvvdp]"``
  (pulls PyTorch).

Every metric is "higher is better".

Example:
    >>> measure(original, decoded, ("ssimulacra2", "psnr"))
    {'ssimulacra2': 71.3, 'psnr': 36.2}
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from jndtf.metrics import MS_SSIM_MIN_SIDE
from jndtf.metrics import ms_ssim as _ms_ssim
from jndtf.metrics import psnr as _psnr

#: Metric name -> unit shown in reports.
UNITS = {"ssimulacra2": "", "ms_ssim": "", "psnr": "dB", "cvvdp": "JOD"}

#: The metrics :func:`measure` knows, in report order.
METRICS = tuple(UNITS)


def _import_ssimulacra2():
    try:
        from ssimulacra2 import ssimulacra2 as module
    except ImportError as err:
        raise ImportError(
            "SSIMULACRA2 needs the ssimulacra2 package, which is not installed: run "
            'pip install "jndtf[rd]" (or pip install ssimulacra2)'
        ) from err
    return module


def _pair(original: np.ndarray, decoded: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(original), np.asarray(decoded)
    if x.shape != y.shape:
        raise ValueError(f"{name}: original is {x.shape} but the decoded image is {y.shape}")
    if x.dtype != np.uint8 or y.dtype != np.uint8 or x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"{name}: expects two uint8 RGB HxWx3 images, got {x.dtype} {x.shape}")
    return x, y


def _ppm(image: np.ndarray) -> io.BytesIO:
    ok, buf = cv2.imencode(".ppm", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("OpenCV could not write a PPM")
    return io.BytesIO(buf.tobytes())


def ssimulacra2(original: np.ndarray, decoded: np.ndarray) -> float:
    """SSIMULACRA2 score of `decoded` against `original` (uint8 RGB ``HxWx3``), 100 = identical,
    by the package's own ``compute_ssimulacra2`` (files handed over as in-memory PPM).

    Raises:
        ImportError: the ssimulacra2 package is missing (names the pip command).
        ValueError: shapes or types differ.
    """
    x, y = _pair(original, decoded, "ssimulacra2")
    module = _import_ssimulacra2()
    return float(module.compute_ssimulacra2(_ppm(x), _ppm(y)))


class Ssimulacra2Reference:
    """SSIMULACRA2 of many decoded images against ONE original, ~1.6x faster than calling
    :func:`ssimulacra2` each time: the original's XYB pyramid, blurred means and variances are
    computed once. The score is the package's: the same building blocks (``srgb_to_linear``,
    ``linear_rgb_to_xyb``, ``make_positive_xyb``, ``blur_image``, ``ssim_map``,
    ``edge_diff_map``, ``downsample``, ``Msssim.score``) in the order ``compute_ssimulacra2``
    calls them (tests/test_codecs.py checks equality with it).

    Example:
        >>> ref = Ssimulacra2Reference(original)
        >>> [ref.score(d) for d in decoded_images]
    """

    def __init__(self, original: np.ndarray) -> None:
        x, _ = _pair(original, original, "ssimulacra2")
        self._m = m = _import_ssimulacra2()
        self.shape = x.shape
        lin = m.srgb_to_linear(x.astype(np.float64))
        self._scales = []
        for scale in range(m.kNumScales):
            img1 = m.make_positive_xyb(m.linear_rgb_to_xyb(lin))
            if img1.shape[0] < 8 or img1.shape[1] < 8:
                break
            self._scales.append((img1, m.blur_image(img1 * img1), m.blur_image(img1)))
            if scale < m.kNumScales - 1:
                lin = m.downsample(lin, 2, 2)

    def score(self, decoded: np.ndarray) -> float:
        """SSIMULACRA2 of `decoded` against the original (100 = identical)."""
        m = self._m
        _, y = _pair(np.empty(self.shape, np.uint8), decoded, "ssimulacra2")
        lin = m.srgb_to_linear(y.astype(np.float64))
        msssim = m.Msssim()
        for scale, (img1, sigma1_sq, mu1) in enumerate(self._scales):
            img2 = m.make_positive_xyb(m.linear_rgb_to_xyb(lin))
            data = m.MsssimScale()
            mu2 = m.blur_image(img2)
            data.avg_ssim = m.ssim_map(
                mu1, mu2, sigma1_sq, m.blur_image(img2 * img2), m.blur_image(img1 * img2)
            )
            data.avg_edgediff = m.edge_diff_map(img1, mu1, img2, mu2)
            msssim.scales.append(data)
            if scale < m.kNumScales - 1:
                lin = m.downsample(lin, 2, 2)
        return float(msssim.score())


_CVVDP: dict = {}


def cvvdp(original: np.ndarray, decoded: np.ndarray, display: str = "standard_4k") -> float:
    """ColorVideoVDP of `decoded` against `original` in JOD (10 = identical), on CPU.

    Raises:
        ImportError: the cvvdp package is missing (names the pip command).
    """
    x, y = _pair(original, decoded, "cvvdp")
    try:
        import pycvvdp
        import torch
    except ImportError as err:
        raise ImportError(
            "ColorVideoVDP needs the cvvdp package (PyTorch), which is not installed: run "
            'pip install "jndtf[cvvdp]" (or pip install cvvdp)'
        ) from err
    if display not in _CVVDP:
        _CVVDP[display] = pycvvdp.cvvdp(display_name=display, device=torch.device("cpu"))
    with torch.no_grad():
        jod, _ = _CVVDP[display].predict(y, x, dim_order="HWC")
    return float(jod)


def ms_ssim(original: np.ndarray, decoded: np.ndarray) -> float:
    """MS-SSIM (0..1, 1 = identical) by :func:`jndtf.metrics.ms_ssim`."""
    x, y = _pair(original, decoded, "ms_ssim")
    if min(x.shape[:2]) < MS_SSIM_MIN_SIDE:
        raise ValueError(
            f"ms_ssim needs images of at least {MS_SSIM_MIN_SIDE}x{MS_SSIM_MIN_SIDE} pixels "
            f"(5 scales of an 11x11 window), got {x.shape[0]}x{x.shape[1]}; drop ms_ssim "
            "from --metrics for smaller images"
        )
    return float(_ms_ssim(x, y))


def psnr(original: np.ndarray, decoded: np.ndarray) -> float:
    """PSNR in dB over RGB by :func:`jndtf.metrics.psnr` (``inf`` when identical)."""
    x, y = _pair(original, decoded, "psnr")
    return float(_psnr(x, y))


_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "ssimulacra2": ssimulacra2,
    "ms_ssim": ms_ssim,
    "psnr": psnr,
    "cvvdp": cvvdp,
}


def check_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    """Validates metric names (and that their packages are installed); returns them as a tuple.

    Raises:
        ValueError: an unknown name or an empty list (the message lists the known ones).
        ImportError: ssimulacra2 requested but not installed.
    """
    names = tuple(m.strip() for m in metrics if m.strip())
    if not names:
        raise ValueError(f"no quality metric given; choose from {', '.join(METRICS)}")
    for m in names:
        if m not in _FUNCTIONS:
            raise ValueError(f"unknown quality metric {m!r}; choose from {', '.join(METRICS)}")
    if "ssimulacra2" in names:
        _import_ssimulacra2()
    if "cvvdp" in names and importlib.util.find_spec("pycvvdp") is None:
        raise ImportError(
            'ColorVideoVDP needs the cvvdp package: run pip install "jndtf[cvvdp]" (pulls PyTorch)'
        )
    return names


def measure(
    original: np.ndarray,
    decoded: np.ndarray,
    metrics: Sequence[str],
    reference: Ssimulacra2Reference | None = None,
) -> dict[str, float]:
    """Each metric of `decoded` against `original`, as ``{name: value}`` (`reference`: the
    original's cached SSIMULACRA2 pyramid, for sweeps)."""
    out = {}
    for m in check_metrics(metrics):
        if m == "ssimulacra2" and reference is not None:
            out[m] = reference.score(decoded)
        else:
            out[m] = _FUNCTIONS[m](original, decoded)
    return out
