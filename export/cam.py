"""CAM classifiers exported with their class activation maps: one ``.tflite``, two outputs.

The edge's DMV-JND needs the merged CAM c of eq. (2) of Jin et al. ("Just Noticeable Difference
for Deep Machine Vision", TCSVT 2022) without Keras. A CAM classifier
(:func:`jndtf.models.classifiers.build_cam_classifier`) ends in global average pooling of its
last feature maps ``f_k`` (layer ``cam_features``) and one Dense layer ``w_{k,c}`` (``head``), so

    CAM_c(x, y) = sum_k w_{k,c} f_k(x, y)                                  (Zhou et al. 2016, eq. 2)

is a 1x1 convolution of ``f`` with the head's kernel. :func:`cam_classifier_model` adds that
convolution (layer ``cam``, no bias: the head's bias is a constant per class that the min-max
normalization removes) as a second output, so the exported file gives

- ``logits``: ``(1, K)``, the classifier's own output, and
- ``cam``: ``(1, h, w, K)``, ``CAM_c`` for every class c at the feature maps' resolution
  (8x8 for a 32x32 input to ``resnet``), channel c = class c, exactly Zhou et al.'s map.

:class:`jndtf.edge.classifier.Classifier` finds the two outputs by rank, picks the top-1 class's
channel, upsamples it bilinearly (half-pixel centers) and min-max normalizes it, as
:func:`jndtf.models.classifiers.cam` does. The manifest is a ``jndtf.classifier/1`` manifest
(:func:`jndtf.edge.classifier.write_classifier_manifest`) with a ``cam`` record::

    "cam": {"outputs": {"logits": [1, K], "cam": [1, h, w, K]}, "bias": "dropped",
            "method": "...", "parity": {...}}

int8: post-training quantization of the trunk with both heads (the Dense and the 1x1 conv, the
first weighted op back from each output) in float (:class:`jndtf.export.quantization.
QuantizationConfig.for_int8`); calibration on crops of the images given (the bundled sample
photos by default), resized to the classifier's input size.

Example:
    >>> export_cam_classifier("run/resnet.keras", "out/resnet-cam-int8.tflite", int8=True)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

#: The CAM output's layer name in the exported model.
CAM_LAYER = "cam"

#: The classifiers' training size (CIFAR-10), ``(width, height)``: the default fixed input.
DEFAULT_SIZE = (32, 32)

#: What the ``cam`` output is, in words (the manifest's ``cam.method``).
CAM_OUTPUT_METHOD = (
    "output 'cam' (1, h, w, K): sum_k w_kc f_k(x, y) (Zhou et al. 2016), a 1x1 convolution of "
    "the 'cam_features' maps with the 'head' kernel, no bias; the edge takes the top-1 class's "
    "channel, upsamples it bilinearly (half-pixel centers) to the image and min-max normalizes "
    "it to [0, 1] (jndtf.models.classifiers.cam); eq. (2) of Jin et al. averages these over "
    "the classifiers"
)


def cam_classifier_model(model):
    """`model` with a second output: the per-class CAM at feature resolution (module docstring).

    Args:
        model: a CAM classifier (layers ``cam_features`` and ``head``), input RGB in 0..1.

    Returns:
        A functional ``keras.Model``: ``(N, H, W, 3)`` -> ``[logits (N, K), cam (N, h, w, K)]``,
        sharing `model`'s layers and weights.

    Raises:
        ValueError: `model` is not a CAM classifier.
    """
    import keras

    from jndtf.models.classifiers.activation_maps import cam_layers

    features, head = cam_layers(model)
    kernel = np.asarray(head.kernel, np.float32)  # (C_features, K)
    conv = keras.layers.Conv2D(kernel.shape[1], 1, use_bias=False, name=CAM_LAYER)
    cam = conv(features.output)
    conv.set_weights([kernel[None, None]])
    return keras.Model(model.input, [model.output, cam], name=f"{model.name}_with_cam")


def _load(source):
    import keras
    from jndtf.export.inputs import _register_layers

    if not isinstance(source, (str, os.PathLike)):
        return source, None
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such classifier .keras file")
    _register_layers("classifiers")
    try:
        return keras.saving.load_model(path, compile=False), path
    except (OSError, ValueError, TypeError) as err:
        raise ValueError(f"{path}: cannot load the Keras classifier ({err})") from err


def _calibration(images, size: tuple[int, int], num: int, seed: int) -> list[np.ndarray]:
    """``num`` ``(1, H, W, 3)`` float32 inputs in 0..1: random crops of `images` (at least the
    input size, up to the whole image) resized to `size` by area averaging."""
    import cv2
    from jndtf.export.quantization import load_images

    imgs = load_images(images) if images is not None else load_images(None)
    rng = np.random.default_rng(seed)
    w, h = size
    out = []
    for i in range(num):
        im = imgs[i % len(imgs)]
        ih, iw = im.shape[:2]
        side = int(rng.integers(min(ih, iw, max(w, h)), min(ih, iw) + 1))
        y0, x0 = int(rng.integers(0, ih - side + 1)), int(rng.integers(0, iw - side + 1))
        crop = cv2.resize(im[y0 : y0 + side, x0 : x0 + side], (w, h), interpolation=cv2.INTER_AREA)
        out.append((crop.astype(np.float32) / 255.0)[None])
    return out


def export_cam_classifier(
    source,
    out_path: str | os.PathLike,
    *,
    int8: bool = True,
    input_size: tuple[int, int] | None = DEFAULT_SIZE,
    calib_images=None,
    num_calibration: int = 32,
    labels: list[str] | None = None,
    seed: int = 0,
) -> Path:
    """Exports a CAM classifier with its CAM output to `out_path` (``.tflite``) and writes
    its ``jndtf.classifier/1`` manifest beside it, with a parity record against Keras.

    Args:
        source: the classifier: a ``.keras`` path or a Keras model.
        out_path: the ``.tflite`` to write (atomically; the manifest ``NAME.json`` beside it).
        int8: int8 post-training quantization (both heads float); False: float32.
        input_size: fixed ``(width, height)`` of the input (the training size 32x32 by
            default), None for dynamic H, W.
        calib_images: calibration images (a folder or uint8 RGB arrays; None: the bundled
            sample photos); the last image in eight is held back for the parity record.
        num_calibration: calibration crops.
        labels: class names (default: those the ``.keras``'s training manifest records).
        seed: seed of the crops.

    Returns:
        The ``.tflite`` path.

    Raises:
        FileNotFoundError: no such ``.keras``. ValueError: not a CAM classifier.
    """
    from jndtf.edge.classifier import Classifier, write_classifier_manifest
    from jndtf.export.quantization import QuantizationConfig
    from jndtf.export.tflite import convert_saved_model, export_saved_model

    from jndtf.io import atomic_write_bytes

    model, path = _load(source)
    wrapped = cam_classifier_model(model)
    size = tuple(input_size) if input_size is not None else DEFAULT_SIZE
    hw = None if input_size is None else (int(size[1]), int(size[0]))
    if labels is None and path is not None:
        from jndtf.export.inputs import _class_names

        labels = _class_names(path)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    crops = _calibration(calib_images, size, num_calibration + 4, seed)
    calib, held = crops[:num_calibration], crops[num_calibration:]
    with tempfile.TemporaryDirectory(prefix="jndtf-cam-export-") as tmp:
        saved = export_saved_model(wrapped, Path(tmp) / "saved_model", hw, 3)
        if int8:
            q = QuantizationConfig.for_int8(calib, num_samples=len(calib))
        else:
            q = QuantizationConfig.none()
        data = convert_saved_model(saved, q)
    atomic_write_bytes(out_path, data)
    k = int(wrapped.outputs[0].shape[-1])
    record = {
        "outputs": {"logits": [1, k], "cam": [1, -1, -1, k]},
        "bias": "dropped (a constant per class; min-max normalization removes it)",
        "method": CAM_OUTPUT_METHOD,
        "quantization": q.describe() if hasattr(q, "describe") else str(q),
        "source": str(path) if path is not None else model.name,
    }
    write_classifier_manifest(
        out_path,
        labels=labels,
        input_range=(0.0, 1.0),
        input_size=size,
        output="logits",
        extra={"cam": record},
    )
    # parity on held-back crops: labels and the normalized top-1 CAM against Keras
    from jndtf.models.classifiers import cam as keras_cam

    agree, worst = 0, 0.0
    with Classifier(out_path, num_threads=1) as clf:
        for x in held:
            frame = np.rint(x[0] * 255.0).astype(np.uint8)
            xin = frame.astype(np.float32)[None] / 255.0
            label_k = int(np.argmax(np.asarray(model(xin, training=False))[0]))
            label_e, _, c_e = clf.classify_with_cam(frame)
            if label_e == label_k:  # the CAMs of two different classes are not comparable
                agree += 1
                c_k = keras_cam(model, xin, label_k)[0]
                worst = max(worst, float(np.abs(c_e - c_k).max()))
    record["parity"] = {
        "crops": len(held),
        "label_agreement": agree / len(held),
        "cam_max_abs_error": worst if agree else None,
        "note": "held-back crops of the calibration images; CAM error over the crops whose "
        "labels agree (the top-1 class's normalized CAM, 0..1)",
    }
    write_classifier_manifest(
        out_path,
        labels=labels,
        input_range=(0.0, 1.0),
        input_size=size,
        output="logits",
        extra={"cam": record},
    )
    return out_path


#: ``jndtf export`` formats the CAM export writes (:func:`export_cam_formats`).
CAM_FORMATS = ("tflite-fp32", "tflite-int8")

#: The model family whose models `jndtf export` exports with their CAM output.
CAM_FAMILY = "classifiers"


def is_cam_classifier(source) -> bool:
    """True when `source` (what ``jndtf export`` takes: a registered name, ``PRESET:PATH`` or a
    ``.keras`` path) is a model of the CAM classifiers family: its registered family, the
    preset its manifest records, or the ``classifiers.json`` of the ``jndtf train classifiers``
    run folder it sits in. Reads no Keras file; False for anything else (a missing file too:
    the export itself reports it)."""
    from jndtf.export.inputs import _read_json

    from jndtf.models.registry import get_model_spec
    from jndtf.refs import resolve_model

    try:
        ref = resolve_model(os.fspath(source), runtime="keras", learned=True)
    except (ValueError, KeyError, FileNotFoundError):
        return False
    if ref.family is not None:
        return ref.family == CAM_FAMILY
    if ref.path is None:
        return False
    from jndtf.manifest import read_source_manifest

    try:
        manifest = read_source_manifest(ref.path)
    except ValueError:
        manifest = {}
    preset = manifest.get("preset")
    if preset:
        try:
            return get_model_spec(preset).family == CAM_FAMILY
        except KeyError:
            return False
    run = _read_json(Path(ref.path).parent / "classifiers.json")
    return run.get("family") == CAM_FAMILY


def export_cam_formats(
    source,
    formats,
    *,
    out_dir: str | os.PathLike,
    input_size: tuple[int, int] | None = DEFAULT_SIZE,
    calib_data=None,
    num_calibration: int = 32,
    name: str | None = None,
    seed: int = 0,
    progress=None,
) -> list:
    """``jndtf export``'s path for a CAM classifier: each of `formats` (among
    :data:`CAM_FORMATS`) written by :func:`export_cam_classifier` as
    ``OUT_DIR/NAME-cam-FORMAT.tflite`` + ``.json`` (the names the edge finds a shipped
    ``NAME-cam`` export by, :func:`jndtf.edge.dmv.resolve_edge_model`).

    Args:
        source: a registered classifier (its shipped weights), ``PRESET:PATH`` or a ``.keras``.
        formats: format names, each in :data:`CAM_FORMATS`.
        out_dir: output folder (created).
        input_size: fixed ``(width, height)`` (the 32x32 training size by default), None for
            dynamic H, W.
        calib_data: calibration images (folder or arrays; None: the bundled sample photos).
        num_calibration: calibration crops.
        name: file stem (default: the model's name).
        seed: seed of the crops.
        progress: ``progress(description, done, total)``, once per format.

    Returns:
        One :class:`jndtf.export.ExportResult` per format; ``parity`` is None (the CAM
        parity, labels and CAM against Keras, is the manifest's ``cam.parity``).

    Raises:
        ValueError: a format outside :data:`CAM_FORMATS`, or not a CAM classifier.
        FileNotFoundError: no such ``.keras`` / no shipped weights (the message says which).
    """
    import json

    from jndtf.export import ExportResult

    from jndtf.refs import resolve_model

    formats = list(dict.fromkeys(formats))
    bad = [f for f in formats if f not in CAM_FORMATS]
    if bad:
        raise ValueError(
            f"the CAM export writes {', '.join(CAM_FORMATS)} only, not {', '.join(bad)}"
        )
    ref = resolve_model(os.fspath(source), runtime="keras", learned=True)
    path = ref.model_path()  # FileNotFoundError naming the file or the missing weights
    stem = f"{name or ref.label or path.stem}-cam"
    out_dir = Path(out_dir)
    results = []
    for i, fmt in enumerate(formats):
        if progress is not None:
            progress(f"export {fmt} + CAM", i, len(formats))
        out = export_cam_classifier(
            path,
            out_dir / f"{stem}-{fmt}.tflite",
            int8=fmt == "tflite-int8",
            input_size=input_size,
            calib_images=calib_data,
            num_calibration=num_calibration,
            seed=seed,
        )
        mpath = out.with_suffix(".json")
        manifest = json.loads(mpath.read_text())
        results.append(ExportResult(fmt, out, mpath, out.stat().st_size, None, manifest))
    if progress is not None:
        progress("export done", len(formats), len(formats))
    return results


__all__ = [
    "CAM_FAMILY",
    "CAM_FORMATS",
    "CAM_LAYER",
    "CAM_OUTPUT_METHOD",
    "DEFAULT_SIZE",
    "cam_classifier_model",
    "export_cam_classifier",
    "export_cam_formats",
    "is_cam_classifier",
]
