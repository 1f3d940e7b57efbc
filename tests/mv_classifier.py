"""A tiny image classifier for the machine-vision tests, trained in seconds on data made here.

Classes are the bundled sample photos of the synthesized camera clip
(:data:`jndtf.samples.CLIP_SCENES`: astronaut, coffee, chelsea, rocket, motorcycle_left); the
examples are random views of each photo (a window of random scale, aspect ratio 1..1.9 and
position, shrunk to :data:`INPUT_SIZE` by area averaging, with a small brightness/contrast jitter),
so on a clip frame the classifier names the photo the camera is looking at. The network is
three stride-2 3x3 convolutions (8, 16, 32 filters, ReLU), global average pooling and a softmax
Dense layer over inputs in 0..1.

A pytest plugin: a test module that says ``pytest_plugins = ("mv_classifier",)`` gets the
session-scoped fixture :func:`mv_classifier` (a :class:`TrainedClassifier`), trained and exported
once per session. Needs TensorFlow: mark the tests ``@pytest.mark.tf``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from jndtf.samples import CLIP_SCENES, sample_images

#: (H, W) of the classifier's input.
INPUT_SIZE = (48, 48)
#: Training examples per class; held-out examples per class (another seed).
TRAIN_PER_CLASS = 120
HELD_OUT_PER_CLASS = 8


@dataclass(frozen=True)
class TrainedClassifier:
    """The trained Keras model and its exports.

    Attributes:
        model: Keras model, float input ``(1, H, W, 3)`` in 0..1, softmax output ``(1, K)``.
        labels: class names, in output order.
        float_path: ``tflite`` fp32 export with a ``range [0, 1]`` manifest.
        int8_path: full-integer int8 export with int8 input/output tensors and its manifest.
        uint8_path: the same with uint8 input/output tensors.
        pm1_model: the same network behind ``x -> (x + 1) / 2``, i.e. taking inputs in -1..1.
        pm1_path: fp32 export of `pm1_model` with a ``range [-1, 1]`` manifest.
        held_out: uint8 RGB views (various sizes, not used in training) and their classes.
    """

    model: object
    labels: tuple[str, ...]
    float_path: Path
    int8_path: Path
    uint8_path: Path
    pm1_model: object
    pm1_path: Path
    held_out: list[tuple[np.ndarray, int]]


def random_view(photo: np.ndarray, rng: np.random.Generator, out_hw: tuple[int, int]):
    """A random window of `photo` (scale 0.5..1 of the largest fit, aspect 1..1.9) resized to
    `out_hw` (area averaging), brightness/contrast jittered by up to 8 %."""
    ph, pw = photo.shape[:2]
    aspect = rng.uniform(1.0, 1.9)
    h_max = min(ph, pw / aspect)
    h = int(h_max * rng.uniform(0.5, 1.0))
    w = min(pw, int(h * aspect))
    y0, x0 = int(rng.integers(0, ph - h + 1)), int(rng.integers(0, pw - w + 1))
    crop = cv2.resize(photo[y0 : y0 + h, x0 : x0 + w], out_hw[::-1], interpolation=cv2.INTER_AREA)
    gain, bias = rng.uniform(0.92, 1.08), rng.uniform(-10, 10)
    return np.clip(crop * gain + bias, 0, 255).astype(np.uint8)


def make_views(per_class: int, seed: int, sizes=(INPUT_SIZE,)):
    """``per_class`` views of each clip photo: list of (uint8 image, class index)."""
    rng = np.random.default_rng(seed)
    photos = sample_images(CLIP_SCENES)
    out = []
    for k, name in enumerate(CLIP_SCENES):
        for i in range(per_class):
            out.append((random_view(photos[name], rng, sizes[i % len(sizes)]), k))
    return out


def keras_input(image: np.ndarray) -> np.ndarray:
    """uint8 RGB image -> ``(1, H, W, 3)`` float32 in 0..1 at INPUT_SIZE (area resize when
    shrinking, bilinear otherwise: the Classifier's ``"auto"``)."""
    h, w = INPUT_SIZE
    if image.shape[:2] != (h, w):
        shrink = image.shape[0] >= h and image.shape[1] >= w
        flag = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        image = cv2.resize(image, (w, h), interpolation=flag)
    return (image.astype(np.float32) / 255.0)[None]


def build_model(num_classes: int):
    import keras

    inputs = keras.Input((*INPUT_SIZE, 3))
    x = inputs
    for filters in (8, 16, 32):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def train_and_export(out_dir: Path, *, epochs: int = 25, seed: int = 0) -> TrainedClassifier:
    """Trains the tiny classifier and writes its four ``.tflite`` files with manifests."""
    import keras
    from jndtf.edge.machine import write_classifier_manifest
    from jndtf.export.quantization import QuantizationConfig
    from jndtf.export.tflite import convert_model

    from jndtf.io import atomic_write_bytes

    keras.utils.set_random_seed(seed)
    train = make_views(TRAIN_PER_CLASS, seed)
    x = np.stack([im for im, _ in train]).astype(np.float32) / 255.0
    y = np.array([k for _, k in train])
    model = build_model(len(CLIP_SCENES))
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=32, epochs=epochs, shuffle=True, verbose=0)

    inputs = keras.Input((*INPUT_SIZE, 3))
    pm1_model = keras.Model(inputs, model(inputs * 0.5 + 0.5))

    out_dir.mkdir(parents=True, exist_ok=True)
    labels = list(CLIP_SCENES)
    calib = [x[i : i + 1] for i in range(0, len(x), 6)]
    exports = (
        ("mv-float.tflite", model, QuantizationConfig.none(), (0.0, 1.0)),
        (
            "mv-int8.tflite",
            model,
            QuantizationConfig.for_int8(calib, io_dtype="int8", num_samples=len(calib)),
            (0.0, 1.0),
        ),
        (
            "mv-uint8.tflite",
            model,
            QuantizationConfig.for_int8(calib, io_dtype="uint8", num_samples=len(calib)),
            (0.0, 1.0),
        ),
        ("mv-pm1.tflite", pm1_model, QuantizationConfig.none(), (-1.0, 1.0)),
    )
    paths = []
    for name, net, quant, rng in exports:
        path = out_dir / name
        atomic_write_bytes(path, convert_model(net, INPUT_SIZE, 3, quant))
        write_classifier_manifest(  # input_size is (width, height)
            path,
            labels=labels,
            input_range=rng,
            input_size=INPUT_SIZE[::-1],
            output="probabilities",
        )
        paths.append(path)
    held = make_views(HELD_OUT_PER_CLASS, seed + 1000, sizes=((48, 48), (90, 160), (72, 96)))
    return TrainedClassifier(model, tuple(labels), *paths[:3], pm1_model, paths[3], held)


@pytest.fixture(scope="session")
def mv_classifier(tmp_path_factory) -> TrainedClassifier:
    """The tiny clip-scene classifier, trained and exported once per session."""
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip(
            'training the test classifier needs the [train] extra: pip install "jndtf[train]"'
        )
    return train_and_export(tmp_path_factory.mktemp("mv-classifier"))
