"""One parity check for every export format: exported map vs Keras map on held-back real images.

Numbers per check (averaged over the images, worst case for the max error):

- ``max_abs_err`` / ``mean_abs_err`` of the JND map in pixel units (0..255);
- ``map_psnr_db``: PSNR of the exported map against the Keras map, peak 255;
- ``ms_ssim_keras`` / ``ms_ssim_export``: MS-SSIM of the eq. (7)-injected image (same signs R,
  same target PSNR 26.06 dB of ACoL-JND §4.4) made with the Keras map and with the exported map,
  against the original; ``ms_ssim_delta`` = export - keras. Left out (None) for images under
  176 px, where five MS-SSIM scales do not fit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

TARGET_PSNR = 26.06
MS_SSIM_MIN_SIDE = 176


@dataclass(frozen=True)
class ParityReport:
    """Parity of an exported model against Keras (module docstring for the fields)."""

    num_images: int
    size: list
    max_abs_err: float
    mean_abs_err: float
    map_psnr_db: float
    ms_ssim_keras: float | None
    ms_ssim_export: float | None
    ms_ssim_delta: float | None
    target_psnr_db: float = TARGET_PSNR

    def to_dict(self) -> dict:
        """As manifest data."""
        return asdict(self)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _ms_ssim(ref: np.ndarray, dist: np.ndarray) -> float:
    from keras import ops

    from jndtf.iqa.msssim import ms_ssim

    v = ms_ssim(ref[None].astype(np.float32), dist[None].astype(np.float32), 255.0)
    return float(np.asarray(ops.convert_to_numpy(v)).ravel()[0])


def parity_check(
    run_export: Callable[[np.ndarray], np.ndarray],
    run_keras: Callable[[np.ndarray], np.ndarray],
    images: Sequence[np.ndarray],
    inputs: Sequence[np.ndarray],
    *,
    seed: int = 0,
) -> ParityReport:
    """Compares an exported model with its Keras source.

    Args:
        run_export: ``(1, H, W, C)`` network input -> ``(1, H, W, C_out)`` map (exported model).
        run_keras: the same for the Keras model.
        images: uint8 RGB images ``HxWx3``, one per input (for the injection).
        inputs: their network inputs ``(1, H, W, C)`` (same priors as training).
        seed: seed of the injection's random signs.

    Raises:
        ValueError: empty or mismatched lists, shape mismatch or non-finite maps.
    """
    from jndtf.apply.inject import InjectionError, inject

    if not images or len(images) != len(inputs):
        raise ValueError(f"need one input per image, got {len(images)} images, {len(inputs)}")
    errs, means, psnrs, ssk, sse = [], [], [], [], []
    for img, x in zip(images, inputs, strict=True):
        k = np.asarray(run_keras(x), np.float32)[0]
        e = np.asarray(run_export(x), np.float32)[0]
        if k.shape != e.shape or not np.all(np.isfinite(e)):
            raise ValueError(
                f"exported map {e.shape} (finite: {np.isfinite(e).all()}) vs {k.shape}"
            )
        d = np.abs(e - k)
        errs.append(float(d.max()))
        means.append(float(d.mean()))
        psnrs.append(_psnr(e, k))
        if min(img.shape[:2]) >= MS_SSIM_MIN_SIDE and float(k.max()) > 0 and float(e.max()) > 0:
            ek = np.clip(e, 0, None)
            try:  # λ solved on the Keras map, used for both maps (same λ, same signs R)
                lam = inject(img, k, psnr=TARGET_PSNR, seed=seed).scale
            except InjectionError:  # target out of reach for a weak map: λ = 1, the map as is
                lam = 1.0
            dk = inject(img, k, scale=lam, seed=seed).image
            de = inject(img, ek, scale=lam, seed=seed).image
            ssk.append(_ms_ssim(img, dk))
            sse.append(_ms_ssim(img, de))
    mk = float(np.mean(ssk)) if ssk else None
    me = float(np.mean(sse)) if sse else None
    return ParityReport(
        num_images=len(images),
        size=list(images[0].shape[:2]),
        max_abs_err=max(errs),
        mean_abs_err=float(np.mean(means)),
        map_psnr_db=float(np.mean(psnrs)),
        ms_ssim_keras=mk,
        ms_ssim_export=me,
        ms_ssim_delta=None if mk is None else me - mk,
    )


def parity_images(
    make_input: Callable[[np.ndarray], np.ndarray],
    images: Sequence[np.ndarray],
    size: tuple[int, int],
    *,
    num: int = 2,
    seed: int = 1,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Crops of held-back images and their network inputs (priors on the crop itself, as a
    deployed camera frame of that size would have them)."""
    import cv2

    h, w = int(size[0]), int(size[1])
    rng = np.random.default_rng(seed)
    crops, xs = [], []
    for i in range(int(num)):
        im = images[i % len(images)]
        if im.shape[0] < h or im.shape[1] < w:
            f = max(h / im.shape[0], w / im.shape[1])
            im = cv2.resize(im, (max(w, round(im.shape[1] * f)), max(h, round(im.shape[0] * f))))
        y0 = int(rng.integers(0, im.shape[0] - h + 1))
        x0 = int(rng.integers(0, im.shape[1] - w + 1))
        crop = np.ascontiguousarray(im[y0 : y0 + h, x0 : x0 + w])
        crops.append(crop)
        xs.append(np.asarray(make_input(crop), np.float32)[None])
    return crops, xs


__all__ = ["TARGET_PSNR", "ParityReport", "parity_check", "parity_images"]
