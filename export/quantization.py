"""One quantization config for every TFLite export (mediapipe model_maker's idea).

``QuantizationConfig.for_int8(representative_data)`` is post-training integer quantization
(float I/O unless ``io_dtype="int8"``), ``for_float16()`` stores float16 weights,
``for_dynamic_range()`` int8 weights with float activations, ``none()`` plain float32.
:meth:`QuantizationConfig.apply` sets a ``tf.lite.TFLiteConverter`` accordingly;
:func:`jndtf.export.tflite.convert_saved_model` runs it.

**Selective int8 (the default of ``for_int8``).** Plain full-integer PTQ of the shipped ACoL-JND
gave a JND map 28.7 dB from Keras (3 held-back 176x176 crops of ``motorcycle_left``; mean map 0.4
instead of 8-9 grey levels). :func:`jndtf.export.layerwise.compare_layers` found two culprits:

1. the output step ``min(255·|Up2|, 255)`` (18 dB lost in that one layer): the int8 ``ABS`` got
   the quantization of the ``×255`` product after it (scale 0.178, i.e. 0..45 grey levels) for
   its own 0..0.19 output, so the map rounded to zero (a converter fault like tensorflow#52854,
   another wrong ABS output scale). Every layer before it stayed within 0.3-3 % of its range.
2. the §3.4 threshold ``i5 = [i4 > mean(i4)]``: 18 % of the mask's pixels flipped, because
   int8 i4 maps the many near-equal small negative LReLU outputs to one level.

So ``float_head`` keeps the last conv layer on every path to the output and every op after it in
float (ACoL: ``cnn4_conv3``, its LReLU, Up2, ABS, ×255, min), and ``float_thresholds`` keeps every
comparison and what it compares, back to the last conv layer, in float (ACoL: ``branch_a_conv6``,
its LReLU, Up1, the mean, ``GREATER``: mask flips 18 % -> 1 %); everything else is int8. Measured
with ``export_model`` at 176x176 (32 calibration crops) and 640x360 (16), map PSNR vs Keras on 3
held-back crops (parity_check), LiteRT 2 threads, side by side in one run on 2 CPU cores shared
with other jobs (load 6-8: the times are several-fold inflated and noisy, compare ratios only;
median of 20 calls, min in brackets):

============  ==============  ========  ===========================  ============================
model         map PSNR (dB)   file      176x176 ms                   640x360 ms
============  ==============  ========  ===========================  ============================
fp32          125 / 101       1.77 MB   119 (81)                     1285 (811)
plain int8    28.7 / 28.2     27 %      39 (15)                      402 (265)
int8 default  49.2 / 48.2     28.6 %    35 (17)                      353 (245)
============  ==============  ========  ===========================  ============================

(PSNR at 176x176 / 640x360.) The float ops are ~0.7 % of the network's multiply-adds (16 -> 3
and 32 -> 32 channels at a quarter of the resolution) plus full-resolution resize/mean/abs: no
measurable latency, +27 kB of float weights. Other variants tried on the 176x176 crops: only the
output step float 45.3 dB; head only 46.6 dB; head + mask/erase but not branch A's last conv
44.9 dB (the flips come from i4's int8 levels, not from the comparison). On four other photos
(``motorcycle_right``, ``ihc``, ``retina``, ``hubble_deep_field``) the default gave 48.8-49.7 dB
(plain int8: 27-35 dB). Calibration size (default path, 176x176, same 3 crops): 4 crops
50.7 dB, 8: 49.2, 32: 49.2, 64: 47.9. The converter's ranges are min/max over all crops, so more
crops widen them (coarser steps) while fewer risk clipping on unseen content: 32 is kept.

``float_layers`` (Keras layer names, e.g. the worst rows of ``compare_layers``) and ``float_ops``
(TFLite op types, e.g. ``"RESIZE_BILINEAR"``) keep more in float; ``float_head=False,
float_thresholds=False`` is plain full-integer PTQ. :meth:`QuantizationConfig.describe` (the
manifest's ``quantization``) lists the ops that were kept in float. With ``io_dtype="int8"`` the
output tensor is int8 with the calibrated range of the map (ACoL, 4 calibration photos: 0..45
grey levels, 0.18 per step): a map above that range saturates; float I/O has no such limit.

The representative data are network inputs (NHWC float32 batches of one), i.e. real images run
through the same priors as training; :func:`representative_inputs` makes them.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MODES = ("none", "float16", "dynamic", "int8")
IO_DTYPES = ("float32", "int8", "uint8")

#: What ``float_head=True`` keeps in float, in words (also the manifest's wording).
FLOAT_HEAD_RULE = (
    "output head in float: the last conv/fully-connected layer on every path to the output "
    "and every op after it"
)

#: What ``float_thresholds=True`` keeps in float, in words (also the manifest's wording).
FLOAT_THRESHOLD_RULE = (
    "threshold inputs in float: every comparison op and the ops computing what it compares, "
    "back to and including the last conv/fully-connected layer on each path"
)


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
        float_head: int8 only: keep the output head (:data:`FLOAT_HEAD_RULE`) in float.
        float_thresholds: int8 only: keep the inputs of hard thresholds
            (:data:`FLOAT_THRESHOLD_RULE`) in float.
        float_layers: int8 only: Keras layer names whose ops are also kept in float.
        float_ops: int8 only: TFLite op types (``"RESIZE_BILINEAR"``) kept in float.
    """

    mode: str = "none"
    representative_data: Iterable | Callable[[], Iterable] | None = None
    io_dtype: str = "float32"
    num_samples: int = 100
    float_head: bool = False
    float_thresholds: bool = False
    float_layers: tuple[str, ...] = ()
    float_ops: tuple[str, ...] = ()
    #: Filled by the conversion: the ops it kept in float (``describe()["kept_float"]``).
    kept_float: list = field(default_factory=list, init=False, repr=False, compare=False)
    #: Filled by a selective conversion: tensors constant over the calibration set whose empty
    #: range was widened (:func:`jndtf.export.tflite.widen_degenerate_ranges`).
    widened_ranges: list = field(default_factory=list, init=False, repr=False, compare=False)

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
        for name in ("float_layers", "float_ops"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) and v for v in value):
                raise ValueError(f"{name} must be a tuple of names, got {value!r}")
            object.__setattr__(self, name, tuple(value))
        if self.mode != "int8" and (
            self.float_head or self.float_thresholds or self.float_layers or self.float_ops
        ):
            raise ValueError(
                f"float_head/float_thresholds/float_layers/float_ops select ops to keep out of "
                f"int8; they need mode='int8', not {self.mode!r}"
            )
        bad = [op for op in self.float_ops if op != op.upper()]
        if bad:
            raise ValueError(
                f"float_ops are TFLite op types in capitals (e.g. 'RESIZE_BILINEAR'), got {bad}"
            )

    @property
    def selective(self) -> bool:
        """True when some ops are to be kept in float (int8 with a float selection)."""
        return self.mode == "int8" and bool(
            self.float_head or self.float_thresholds or self.float_layers or self.float_ops
        )

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
        float_head: bool = True,
        float_thresholds: bool = True,
        float_layers: Sequence[str] = (),
        float_ops: Sequence[str] = (),
    ) -> QuantizationConfig:
        """int8 post-training quantization, the output head in float (module docstring).

        Args:
            representative_data: ``(1, H, W, C)`` float32 network inputs (or a callable
                returning them), e.g. :func:`representative_inputs`.
            io_dtype: ``"float32"`` (default) or ``"int8"``/``"uint8"`` input and output.
            num_samples: at most this many inputs are used for calibration.
            float_head: keep the output head in float (:data:`FLOAT_HEAD_RULE`; ACoL-JND:
                28.7 -> 46.6 dB map PSNR).
            float_thresholds: keep the inputs of hard thresholds in float
                (:data:`FLOAT_THRESHOLD_RULE`; ACoL-JND's §3.4 mask: 46.6 -> 49.2 dB).
                Both False: every op int8 (plain full-integer PTQ).
            float_layers: more Keras layers to keep in float, by name (e.g. the worst rows of
                :func:`jndtf.export.layerwise.compare_layers`).
            float_ops: TFLite op types to keep in float everywhere.

        Example:
            >>> q = QuantizationConfig.for_int8(calib, num_samples=32)
            >>> tflite_bytes = convert_saved_model("saved_model", q)
            >>> q.describe()["kept_float"][0]["op"]
            'CONV_2D'
        """
        for label, names in (("float_layers", float_layers), ("float_ops", float_ops)):
            if isinstance(names, str):
                raise ValueError(f"{label} must be a tuple of names, got the string {names!r}")
        return cls(
            "int8",
            representative_data,
            io_dtype,
            int(num_samples),
            bool(float_head),
            bool(float_thresholds),
            tuple(float_layers),
            tuple(float_ops),
        )

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
            if not self.selective:
                out["method"] = "post-training full-integer (TFLITE_BUILTINS_INT8)"
                return out
            out["method"] = "post-training int8 (TFLITE_BUILTINS_INT8), selected ops in float"
            out["float_head"] = FLOAT_HEAD_RULE if self.float_head else False
            out["float_thresholds"] = FLOAT_THRESHOLD_RULE if self.float_thresholds else False
            out["float_layers"] = list(self.float_layers)
            out["float_ops"] = list(self.float_ops)
            out["kept_float"] = [dict(k) for k in self.kept_float]
            out["widened_ranges"] = [dict(k) for k in self.widened_ranges]
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


def input_crops(
    make_input: Callable[[np.ndarray], np.ndarray],
    images: Sequence[np.ndarray],
    size: tuple[int, int],
    *,
    num: int = 32,
    seed: int = 0,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Random crops of real images and their network inputs, built like the training inputs.

    The priors are computed on the whole image, then the image and its network input are cut at
    the same random place (what ``jndtf train`` does, see the shipped manifest's ``priors_on``).
    Images smaller than `size` are upscaled (bilinear) first. Calibration
    (:func:`representative_inputs`) and parity (:func:`jndtf.export.parity.parity_images`) both
    use it, so parity is measured on inputs of the kind the quantization was calibrated on.

    Args:
        make_input: image -> ``HxWxC`` network input (``ModelSpec.make_input``).
        images: uint8 RGB images.
        size: ``(H, W)`` of the crops.
        num: number of crops (cycling through the images).
        seed: seed of the crop positions.

    Returns:
        ``(crops, inputs)``: ``num`` uint8 ``HxWx3`` crops and their float32 ``(1, H, W, C)``
        inputs.

    Raises:
        ValueError: no images, or size/num under 1.
    """
    import cv2

    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1 or int(num) < 1 or not images:
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
        full.append((im, np.asarray(make_input(im), np.float32)))
    rng = np.random.default_rng(seed)
    crops, xs = [], []
    for i in range(int(num)):
        im, x = full[i % len(full)]
        y0 = int(rng.integers(0, im.shape[0] - h + 1))
        x0 = int(rng.integers(0, im.shape[1] - w + 1))
        crops.append(np.ascontiguousarray(im[y0 : y0 + h, x0 : x0 + w]))
        xs.append(np.ascontiguousarray(x[None, y0 : y0 + h, x0 : x0 + w]))
    return crops, xs


def representative_inputs(
    make_input: Callable[[np.ndarray], np.ndarray],
    images: Sequence[np.ndarray],
    size: tuple[int, int],
    *,
    num: int = 32,
    seed: int = 0,
) -> list[np.ndarray]:
    """The int8 calibration inputs: the network inputs of :func:`input_crops`.

    Returns:
        ``num`` float32 arrays of shape ``(1, H, W, C)``.
    """
    return input_crops(make_input, images, size, num=num, seed=seed)[1]


__all__ = [
    "CALIBRATION_IMAGES",
    "FLOAT_HEAD_RULE",
    "FLOAT_THRESHOLD_RULE",
    "MODES",
    "PARITY_IMAGES",
    "QuantizationConfig",
    "input_crops",
    "load_images",
    "representative_inputs",
]
