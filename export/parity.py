"""One parity check for every export format: exported map vs Keras map on held-back real images.

Numbers per check (averaged over the images, worst case for the max error):

- ``max_abs_err`` / ``mean_abs_err`` of the JND map in pixel units (0..255);
- ``map_psnr_db``: PSNR of the exported map against the Keras map, peak 255;
- ``ms_ssim_keras`` / ``ms_ssim_export``: MS-SSIM of the eq. (7)-injected image (same signs R,
  same target PSNR 26.06 dB of ACoL-JND §4.4) made with the Keras map and with the exported map,
  against the original; ``ms_ssim_delta`` = export - keras. Left out (None) for images under
  176 px, where five MS-SSIM scales do not fit.

The injection (and so MS-SSIM) is for maps that are non-negative visibility thresholds
(output kinds ``jnd_map`` and ``saliency``, as before). For other output kinds
(``parity_check(output_kind=...)``) the map numbers are of what the network outputs: the
redundancy-removed image I_rr (``image``, hmJND-Net), the signed perturbation e (``dmv_jnd``),
class logits (``classifier``; the "map" PSNR is then of the logit vector with peak 255, an
agreement number only) and ``label_agreement``, the share of inputs whose top-1 class is the same
as Keras' (the labels' parity).

Inputs (:func:`parity_images`): priors on the whole held-back image, then crops, exactly as the
calibration inputs and the training crops are made; :func:`held_back_split` holds back part of a
user's calibration folder for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from jndtf.metrics import psnr

TARGET_PSNR = 26.06
MS_SSIM_MIN_SIDE = 176
#: Output kinds whose map is injected by eq. (7) for the MS-SSIM numbers (non-negative maps).
INJECTED_KINDS = ("jnd_map", "saliency")


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
    output_kind: str = "jnd_map"
    label_agreement: float | None = None

    def to_dict(self) -> dict:
        """As manifest data."""
        return asdict(self)


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
    output_kind: str = "jnd_map",
) -> ParityReport:
    """Compares an exported model with its Keras source.

    Args:
        run_export: ``(1, H, W, C)`` network input -> ``(1, H, W, C_out)`` map (exported model).
        run_keras: the same for the Keras model.
        images: uint8 RGB images ``HxWx3``, one per input (for the injection).
        inputs: their network inputs ``(1, H, W, C)`` (same priors as training).
        seed: seed of the injection's random signs.
        output_kind: the registry's output kind of the network (module docstring: which
            numbers apply).

    Raises:
        ValueError: empty or mismatched lists, shape mismatch or non-finite maps.
    """
    from jndtf.apply.inject import InjectionError, inject

    if not images or len(images) != len(inputs):
        raise ValueError(f"need one input per image, got {len(images)} images, {len(inputs)}")
    errs, means, psnrs, ssk, sse, same = [], [], [], [], [], []
    injectable = output_kind in INJECTED_KINDS
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
        psnrs.append(psnr(e, k))
        if output_kind == "classifier":
            same.append(float(np.argmax(e) == np.argmax(k)))
        if (
            injectable
            and min(img.shape[:2]) >= MS_SSIM_MIN_SIDE
            and float(k.max()) > 0
            and float(e.max()) > 0
        ):
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
        output_kind=output_kind,
        label_agreement=float(np.mean(same)) if same else None,
    )


def parity_images(
    make_input: Callable[[np.ndarray], np.ndarray],
    images: Sequence[np.ndarray],
    size: tuple[int, int],
    *,
    num: int = 2,
    seed: int = 1,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Crops of held-back images and their network inputs, built exactly like the calibration
    inputs (:func:`jndtf.export.quantization.input_crops`: priors on the whole image, then the
    image and its input cut at the same random place; images smaller than `size` upscaled).

    Args:
        make_input: image -> ``HxWxC`` network input.
        images: uint8 RGB held-back images.
        size: ``(H, W)`` of the crops.
        num: number of crops (cycling through the images).
        seed: seed of the crop positions.

    Returns:
        ``(crops, inputs)``: ``num`` uint8 ``HxWx3`` crops and their ``(1, H, W, C)`` float32
        inputs.

    Raises:
        ValueError: no images, or size/num under 1.
    """
    from jndtf.export.quantization import input_crops

    return input_crops(make_input, images, size, num=num, seed=seed)


#: Share of the user's calibration images held back for the parity check.
HELD_BACK_FRACTION = 1 / 8


def held_back_split(
    images: Sequence[np.ndarray], names: Sequence[str], *, fraction: float = HELD_BACK_FRACTION
) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Splits calibration images into (calibration, held back for parity, held-back names).

    Every ``round(1 / fraction)``-th image (counting from the last, at least one) is held back,
    so calibration and parity see different pictures from the same source.

    Raises:
        ValueError: fewer than two images (nothing would be left on one side).

    Example:
        >>> calib, held, names = held_back_split(imgs, [f"{i}.png" for i in range(8)])
        >>> len(calib), len(held), names
        (7, 1, ['7.png'])
    """
    images, names = list(images), [str(n) for n in names]
    if len(images) != len(names):
        raise ValueError(f"{len(images)} images but {len(names)} names")
    if len(images) < 2:
        raise ValueError(
            f"the calibration data hold {len(images)} image; the parity check needs at least one "
            "more to hold back: add images, or skip parity (--no-parity / parity=False)"
        )
    step = max(2, round(1 / fraction))
    held_idx = set(range(len(images) - 1, -1, -step))
    calib = [im for i, im in enumerate(images) if i not in held_idx]
    held = [im for i, im in enumerate(images) if i in held_idx]
    return calib, held, [n for i, n in enumerate(names) if i in held_idx]


__all__ = [
    "HELD_BACK_FRACTION",
    "INJECTED_KINDS",
    "TARGET_PSNR",
    "ParityReport",
    "held_back_split",
    "parity_check",
    "parity_images",
]
