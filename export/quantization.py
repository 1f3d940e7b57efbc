"""One quantization config for every TFLite export (mediapipe model_maker's idea).

``QuantizationConfig.for_int8(representative_data)`` is full-integer post-training quantization
(every op int8; float I/O unless ``io_dtype="int8"``), ``for_float16()`` stores float16 weights,
``for_dynamic_range()`` int8 weights with float activations, ``none()`` plain float32.
:meth:`QuantizationConfig.apply` sets a ``tf.lite.TFLiteConverter`` accordingly.

The representative data are network inputs (NHWC float32 batches of one), i.e. real images run
through the same priors as training; :func:`representative_inputs` makes them.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODES = ("none", "float16", "dynamic", "int8")
IO_DTYPES = ("float32", "int8", "uint8")


@dataclass(frozen=True)
class QuantizationConfig:
    """How a TFLite converter quantizes.

    Attributes:
        mode: ``"none"``, ``"float16"``, ``"dynamic"`` or ``"int8"``.
        representative_data: int8 only: an iterable of ``(1, H, W, C)`` float32 network inputs,
            or a zero-argument callable returning such an iterable (re-iterated per use).
        io_dtype: int8 only: dtype of the model's input and output tensors (``"float32"``
            keeps float I/O with quantize/dequantize ops inside the model).
        num_samples: int8 only: at most this many representative inputs are used.
    """

    mode: str = "none"
    representative_data: Iterable | Callable[[], Iterable] | None = None
    io_dtype: str = "float32"
    num_samples: int = 100

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"quantization mode must be one of {MODES}, got {self.mode!r}")
        if self.io_dtype not in IO_DTYPES:
            raise ValueError(f"io_dtype must be one of {IO_DTYPES}, got {self.io_dtype!r}")
        if self.mode == "int8" and self.representative_data is None:
            raise ValueError("int8 quantization needs representative_data (real network inputs)")
        if self.mode != "int8" and self.io_dtype != "float32":
            raise ValueError(f"io_dtype={self.io_dtype!r} needs mode='int8', not {self.mode!r}")
        if int(self.num_samples) < 1:
            raise ValueError(f"num_samples must be >= 1, got {self.num_samples}")

    @classmethod
    def none(cls) -> QuantizationConfig:
        """Plain float32."""
        return cls("none")

    @classmethod
    def for_float16(cls) -> QuantizationConfig:
        """float16 weights (dequantized to float32 at load time on CPU)."""
        return cls("float16")

    @classmethod
    def for_dynamic_range(cls) -> QuantizationConfig:
        """int8 weights, float activations (no calibration data needed)."""
        return cls("dynamic")

    @classmethod
    def for_int8(
        cls,
        representative_data: Iterable | Callable[[], Iterable],
        *,
        io_dtype: str = "float32",
        num_samples: int = 100,
    ) -> QuantizationConfig:
        """Full-integer int8 post-training quantization.

        Args:
            representative_data: ``(1, H, W, C)`` float32 network inputs (or a callable
                returning them), e.g. :func:`representative_inputs`.
            io_dtype: ``"float32"`` (default) or ``"int8"``/``"uint8"`` input and output.
            num_samples: at most this many inputs are used for calibration.
        """
        return cls("int8", representative_data, io_dtype, int(num_samples))

    def samples(self) -> Iterator[np.ndarray]:
        """The representative inputs, checked (float32 NHWC batches of one)."""
        data = self.representative_data
        data = data() if callable(data) else data
        n = 0
        for x in itertools.islice(data, int(self.num_samples)):
            x = np.asarray(x, np.float32)
            if x.ndim == 3:
                x = x[None]
            if x.ndim != 4 or x.shape[0] != 1 or not np.all(np.isfinite(x)):
                raise ValueError(
                    f"representative inputs must be finite (1, H, W, C) arrays, got {x.shape}"
                )
            n += 1
            yield x
        if n == 0:
            raise ValueError("representative_data yielded no inputs")

    def apply(self, converter) -> None:
        """Sets optimizations, representative dataset and I/O types on a TFLiteConverter."""
        import tensorflow as tf

        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if self.mode == "none":
            return
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if self.mode == "float16":
            converter.target_spec.supported_types = [tf.float16]
        elif self.mode == "int8":
            converter.representative_dataset = lambda: ([x] for x in self.samples())
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if self.io_dtype != "float32":
                dtype = tf.int8 if self.io_dtype == "int8" else tf.uint8
                converter.inference_input_type = dtype
                converter.inference_output_type = dtype

    def describe(self) -> dict:
        """The config as manifest data (without the data themselves)."""
        out = {"mode": self.mode, "io_dtype": self.io_dtype}
        if self.mode == "int8":
            out["num_samples"] = int(self.num_samples)
            out["method"] = "post-training full-integer (TFLITE_BUILTINS_INT8)"
        return out


#: Sample photos used for calibration by default; PARITY_IMAGES are held back for the parity check.
CALIBRATION_IMAGES = ("astronaut", "chelsea", "coffee", "rocket")
PARITY_IMAGES = ("motorcycle_left",)


def load_images(
    source: str | os.PathLike | Sequence[np.ndarray] | None = None,
    names: Sequence[str] = CALIBRATION_IMAGES,
) -> list[np.ndarray]:
    """uint8 RGB images: a folder of image files, a list of arrays, or (None) sample photos.

    Raises:
        ValueError: the folder holds no readable image.
    """
    from jndtf.io import check_image

    if source is None:
        from jndtf.samples import sample_images

        return list(sample_images(names).values())
    if isinstance(source, (str, os.PathLike)):
        from jndtf.io import iter_images, load_image

        folder = Path(source)
        if not folder.is_dir():
            raise ValueError(f"calibration data {folder} is not a folder of images")
        files = sorted(iter_images(folder))
        if not files:
            raise ValueError(f"calibration folder {folder} holds no image files")
        return [load_image(p) for p in files]
    images = [check_image(im) for im in source]
    if not images:
        raise ValueError("no calibration images given")
    return images


def representative_inputs(
    make_input: Callable[[np.ndarray], np.ndarray],
    images: Sequence[np.ndarray],
    size: tuple[int, int],
    *,
    num: int = 32,
    seed: int = 0,
) -> list[np.ndarray]:
    """Network inputs from random crops of real images, built like the training inputs.

    The priors are computed on the whole image, then crops are cut from its input (what
    ``jndtf train`` does, see the shipped manifest's ``priors_on``). Images smaller than `size`
    are upscaled (bilinear) first.

    Args:
        make_input: image -> ``HxWxC`` network input (``ModelSpec.make_input``).
        images: uint8 RGB images.
        size: ``(H, W)`` of the crops.
        num: number of inputs.
        seed: seed of the crop positions.

    Returns:
        ``num`` float32 arrays of shape ``(1, H, W, C)``.
    """
    import cv2

    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1 or num < 1 or not images:
        raise ValueError(f"need images, size >= 1 and num >= 1 (size={size}, num={num})")
    full = []
    for im in images:
        if im.shape[0] < h or im.shape[1] < w:
            f = max(h / im.shape[0], w / im.shape[1])
            im = cv2.resize(
                im,
                (max(w, round(im.shape[1] * f)), max(h, round(im.shape[0] * f))),
                interpolation=cv2.INTER_LINEAR,
            )
        full.append(np.asarray(make_input(im), np.float32))
    rng = np.random.default_rng(seed)
    out = []
    for i in range(int(num)):
        x = full[i % len(full)]
        y0 = int(rng.integers(0, x.shape[0] - h + 1))
        x0 = int(rng.integers(0, x.shape[1] - w + 1))
        out.append(np.ascontiguousarray(x[None, y0 : y0 + h, x0 : x0 + w]))
    return out


__all__ = [
    "CALIBRATION_IMAGES",
    "MODES",
    "PARITY_IMAGES",
    "QuantizationConfig",
    "load_images",
    "representative_inputs",
]
