"""Using a JND map: noise injection for comparing models, and perceptual pre-processing.

numpy + OpenCV only (no TensorFlow), shared by the evaluation protocol and the edge runtime.

- :func:`inject`: eq. (7) of ACoL-JND / eq. (13) of hmJND-Net, ``clip(x + λ·R·JND)``, with λ
  solved so the output hits a requested PSNR or MSE exactly (clipping and rounding included).
- :func:`preprocess_jpeg`: eq. (14) of hmJND-Net, JND-guided block-mean shrinkage before JPEG.
- :func:`quantize_by_jnd`: DMV-JND's quantization with a step of twice the JND.
- :func:`picture_jnd_jpeg`: picture-level JND of JPEG (the lowest quality still unnoticeable).
"""

from jndtf.apply.inject import (
    InjectionError,
    InjectionResult,
    inject,
    mse_from_psnr,
    psnr_from_mse,
    random_signs,
)
from jndtf.apply.picture_jnd import (
    PictureJND,
    jpeg_round_trip,
    picture_jnd_jpeg,
    psnr_db,
    visible_fraction,
)
from jndtf.apply.preprocess import (
    block_means,
    preprocess_jpeg,
    qp_from_qstep,
    qstep_map,
    quantize_by_jnd,
)

__all__ = [
    "InjectionError",
    "InjectionResult",
    "PictureJND",
    "block_means",
    "inject",
    "jpeg_round_trip",
    "mse_from_psnr",
    "picture_jnd_jpeg",
    "preprocess_jpeg",
    "psnr_db",
    "psnr_from_mse",
    "qp_from_qstep",
    "qstep_map",
    "quantize_by_jnd",
    "random_signs",
    "visible_fraction",
]
