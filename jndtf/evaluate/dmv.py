"""DMV-JND in use and under the paper's protocol (Jin et al., "Just Noticeable Difference for Deep
Machine Vision", TCSVT 2022, Sec. V; issue #11): ``jndtf dmv`` and ``jndtf eval dmv``.

Models. The four CAM classifiers are ``.keras`` files of one folder, named by their role:
:data:`CLASSIFIERS` = ``alexnet.keras``, ``vgg.keras``, ``resnet.keras``, ``densenet.keras``
(what ``jndtf train classifiers`` writes); the E-D network is one ``.keras`` (``jndtf train
dmv``). Classifiers take RGB in 0..1 (``x / 255``) and return logits; a fifth, *unseen*
classifier (any ``.keras`` with that convention, e.g. the MobileNet-style
:mod:`jndtf.models.classifiers.mobilenet`) is scored but never feeds the CAM.

One image through DMV-JND (eqs. (2)-(4)):

1. the CAM class: the class of the largest mean softmax of the four classifiers on x (eq. (6)
   uses classifier-generated labels; an image to be processed has no human label). ``jndtf
   eval dmv --cam-class label`` uses the dataset's label instead;
2. c = the merged CAM of that class (eq. (2), :func:`jndtf.models.classifiers.merged_cam`);
3. e = E-D(x / 255 stacked with c), signed, pixel units (:mod:`jndtf.models.dmv`);
4. x̂ = clip(x + e, 0, 255) as float (what the paper's classifiers see), and its uint8 file
   ``round(x̂)`` (what a user stores). Both are scored, so the cost of the rounding is known.

RCA (eq. (16)): the share of images whose label by classifier n on the processed image equals
the label by the same classifier on x; eq. (17) averages the four (:mod:`jndtf.metrics`).

The paper's tests (Sec. V-E, V-F): **WGN** adds white Gaussian noise n of exactly the energy of
e, image by image (``sum n^2 = sum e^2``, :func:`equal_energy_noise`), then clips like x̂;
**homogeneous** scores ``clip(x + s·e)`` at s = 8/9, 7/9, ..., 1/9 (:data:`HOMOGENEOUS_SCALES`).

Shipped models. Without ``--dmv`` / ``--classifiers`` (``--unseen`` too) both commands use
``jndtf/weights/dmv/`` (:func:`resolve_dmv`, :func:`resolve_classifiers`,
:func:`resolve_unseen`); a model may also be named (``--dmv dmv``, ``--unseen mobilenet``), and
a missing one is an error that says where it looked and how to train one.

Plots (like the paper's Figs. 5-7): RCA vs the scale of e, DMV-JND vs WGN per classifier, and,
from the training's ``dmv.json`` (``--history``, or the one beside ``--dmv``), loss, RCA and
PSNR per epoch (:func:`history_plots`). Drawn with OpenCV, no matplotlib.

Size. The classifiers and the E-D are CIFAR-sized: inputs that are not 32x32 are resized with
OpenCV's ``INTER_AREA`` (a note says how many), or refused with ``resize=False``; the outputs
are 32x32.

Example:
    >>> models = load_classifiers("runs/classifiers")
    >>> dmv = load_keras("runs/dmv/dmv.keras", "the DMV-JND-NET")
    >>> e, cls = dmv_perturbation(dmv, models, images)     # images: uint8 N x 32 x 32 x 3
    >>> x_hat = apply_perturbation(images, e)              # float 0..255
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from jndtf.io import (
    IMAGE_SUFFIXES,
    ImageError,
    atomic_write_bytes,
    atomic_write_json,
    load_image,
    save_image,
    save_npy,
)
from jndtf.metrics import mean_rca, psnr, relative_classification_accuracy
from jndtf.settings import option, optional_str

#: The four classifiers whose CAMs DMV-JND-NET merges (eq. (2)); ``<name>.keras`` in the folder.
CLASSIFIERS = ("alexnet", "vgg", "resnet", "densenet")

#: (width, height) the classifiers and the E-D run at (CIFAR-10).
INPUT_SIZE = (32, 32)

#: Sec. V-F: e scaled by 8/9, 7/9, ..., 1/9 (exact fractions; floats in the tables).
HOMOGENEOUS_NINTHS = (8, 7, 6, 5, 4, 3, 2, 1)
HOMOGENEOUS_FRACTIONS = tuple(Fraction(k, 9) for k in HOMOGENEOUS_NINTHS)
HOMOGENEOUS_SCALES = tuple(k / 9 for k in HOMOGENEOUS_NINTHS)

#: Images per forward pass.
BATCH = 250

#: ``progress(description, done, total)``, as the CLI's stepper takes it.
Step = Callable[[str, int, int], None]


# --------------------------------------------------------------------------- models


def load_keras(path: str | os.PathLike, what: str):
    """Loads a ``.keras`` model (compile=False); errors name `path` and `what` it is for.

    Raises:
        FileNotFoundError: no such file. ValueError: not a loadable Keras model.
    """
    from jndtf._deps import require

    keras = require("keras", "running DMV-JND")
    import jndtf.models.dmv.network  # noqa: F401  (registers CropToInput for load_model)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file ({what})")
    try:
        return keras.saving.load_model(path, compile=False)
    except (OSError, ValueError, TypeError) as err:
        raise ValueError(f"{path}: cannot load {what} as a Keras model ({err})") from err


def classifier_paths(folder: str | os.PathLike) -> dict[str, Path]:
    """``{name: folder/name.keras}`` for the four :data:`CLASSIFIERS`.

    Raises:
        FileNotFoundError: the folder is missing, or one or more files are (named, with what
            writes them).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"--classifiers {folder}: no such folder (it must hold "
            f"{', '.join(n + '.keras' for n in CLASSIFIERS)})"
        )
    paths = {name: folder / f"{name}.keras" for name in CLASSIFIERS}
    missing = [p.name for p in paths.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"--classifiers {folder}: missing {', '.join(missing)}; DMV-JND needs all four "
            f"CAM classifiers ({', '.join(n + '.keras' for n in CLASSIFIERS)}), as "
            "`jndtf train classifiers --arch all` writes them"
        )
    return paths


def _io_shapes(model) -> tuple[tuple, tuple]:
    return tuple(model.inputs[0].shape), tuple(model.outputs[0].shape)


def load_classifier(path: str | os.PathLike, what: str, *, cam: bool = True):
    """A classifier ``.keras`` (RGB in, ``(N, classes)`` logits out); with `cam`, one that
    has the CAM layers (:data:`jndtf.models.classifiers.network.CAM_FEATURES`, ``HEAD``).

    Raises:
        ValueError: another kind of model (names `path` and what it takes and gives).
    """
    from jndtf.models.classifiers.network import CAM_FEATURES, HEAD

    model = load_keras(path, what)
    inp, outp = _io_shapes(model)
    if len(inp) != 4 or inp[-1] != 3 or len(outp) != 2:
        raise ValueError(
            f"{path}: {what} must take (N, H, W, 3) RGB and return (N, classes) logits; this "
            f"model takes {inp} and returns {outp}"
        )
    names = {layer.name for layer in model.layers}
    if cam and not {CAM_FEATURES, HEAD} <= names:
        raise ValueError(
            f"{path}: {what} has no {CAM_FEATURES!r}/{HEAD!r} layers, so it has no CAM; use "
            "a classifier from `jndtf train classifiers` (or give it as --unseen)"
        )
    return model


def load_dmv_net(path: str | os.PathLike):
    """The DMV-JND-NET E-D ``.keras``: ``(N, H, W, 4)`` -> ``(N, H, W, 3)``.

    Raises:
        ValueError: another kind of model (names `path`).
    """
    model = load_keras(path, "the DMV-JND-NET (--dmv)")
    inp, outp = _io_shapes(model)
    if len(inp) != 4 or inp[-1] != 4 or len(outp) != 4 or outp[-1] != 3:
        raise ValueError(
            f"--dmv {path}: not a DMV-JND-NET (it takes RGB + CAM, 4 channels, and returns "
            f"e, 3 channels); this model takes {inp} and returns {outp}"
        )
    return model


def load_classifiers(folder: str | os.PathLike) -> dict[str, object]:
    """The four CAM classifiers of `folder` (:func:`classifier_paths`), in paper order."""
    return {
        name: load_classifier(path, f"the {name} CAM classifier")
        for name, path in classifier_paths(folder).items()
    }


def predict_logits(model, images: np.ndarray) -> np.ndarray:
    """Logits ``(N, classes)`` float32 of a classifier on images in 0..255 (fed as ``x/255``)."""
    x = np.asarray(images, dtype=np.float32)
    out = [
        np.asarray(model(x[i : i + BATCH] / 255.0, training=False), dtype=np.float32)
        for i in range(0, len(x), BATCH)
    ]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def predict_labels(model, images: np.ndarray) -> np.ndarray:
    """The classifier's labels (argmax of the logits), int64 ``(N,)``."""
    return np.argmax(predict_logits(model, images), axis=-1).astype(np.int64)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64) - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True)


def consensus_labels(classifiers: Mapping[str, object], images: np.ndarray) -> np.ndarray:
    """The CAM class of each image: argmax of the mean softmax of the classifiers, int64 (N,)."""
    probs = [_softmax(predict_logits(m, images)) for m in classifiers.values()]
    return np.argmax(np.mean(probs, axis=0), axis=-1).astype(np.int64)


def dmv_perturbation(
    dmv_model,
    classifiers: Mapping[str, object],
    images: np.ndarray,
    cam_labels: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """e of every image: merged CAM (eq. (2)) of the CAM class, E-D on RGB/255 + c.

    Args:
        dmv_model: the E-D (``(N, H, W, 4)`` -> ``(N, H, W, 3)`` signed pixels).
        classifiers: the four CAM classifiers.
        images: ``(N, H, W, 3)`` RGB 0..255.
        cam_labels: the class whose CAM to merge, per image; None: :func:`consensus_labels`.

    Returns:
        ``(e float32 (N, H, W, 3) in pixel units, cam_labels int64 (N,))``.
    """
    from jndtf.models.classifiers import merged_cam
    from jndtf.models.registry import get_model_spec

    x = np.asarray(images)
    if cam_labels is None:
        cam_labels = consensus_labels(classifiers, x)
    cam_labels = np.asarray(cam_labels, dtype=np.int64)
    spec = get_model_spec("dmv")
    out = []
    for i in range(0, len(x), BATCH):
        xb = x[i : i + BATCH]
        c = merged_cam(
            list(classifiers.values()), xb.astype(np.float32) / 255.0, cam_labels[i : i + BATCH]
        )
        inp = np.stack([spec.make_input(img, cam=ci) for img, ci in zip(xb, c, strict=True)])
        out.append(np.asarray(dmv_model(inp, training=False), dtype=np.float32))
    e = np.concatenate(out) if out else np.zeros((0, *x.shape[1:]), np.float32)
    if e.shape != x.shape:
        raise ValueError(
            f"the DMV-JND-NET returned e of shape {e.shape} for images {x.shape}; "
            "give a DMV-JND-NET (.keras from `jndtf train dmv`)"
        )
    return e, cam_labels


def apply_perturbation(images: np.ndarray, e: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """``clip(x + scale·e, 0, 255)`` as float32 (eq. (4), clipped where an image is handed on)."""
    x = np.asarray(images, dtype=np.float32)
    return np.clip(x + np.float32(scale) * np.asarray(e, np.float32), 0.0, 255.0)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """``round(clip(x))`` as uint8: what a lossless PNG of x̂ holds."""
    return np.clip(np.rint(np.asarray(image, np.float64)), 0, 255).astype(np.uint8)


def equal_energy_noise(e: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise with exactly the energy of e, image by image (Sec. V-E).

    ``n_p = g_p · sqrt(sum e_p^2 / sum g_p^2)`` with g ~ N(0, 1) i.i.d. of e's shape, so
    ``sum n_p^2 = sum e_p^2`` (float64); an all-zero e gives zero noise.

    Returns:
        float64, e's shape.
    """
    e = np.asarray(e, dtype=np.float64)
    g = rng.standard_normal(e.shape)
    axes = tuple(range(1, e.ndim))
    e2 = np.sum(e * e, axis=axes, keepdims=True)
    g2 = np.sum(g * g, axis=axes, keepdims=True)
    return g * np.sqrt(e2 / np.where(g2 > 0, g2, 1.0))


def rca_per_classifier(
    before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray]
) -> dict[str, float]:
    """Eq. (16) per classifier: ``{name: RCA fraction}`` of labels `after` vs `before`."""
    return {n: relative_classification_accuracy(before[n], after[n]) for n in before}


def mean_psnr(reference: np.ndarray, distorted: np.ndarray) -> tuple[float, int]:
    """Mean of the per-image PSNRs (dB) and the number of identical images left out (inf)."""
    values = [psnr(r, d) for r, d in zip(reference, distorted, strict=True)]
    finite = [v for v in values if math.isfinite(v)]
    return (math.fsum(finite) / len(finite) if finite else math.inf), len(values) - len(finite)


# --------------------------------------------------------------------------- inputs


def fit_size(image: np.ndarray, source: Path, resize: bool) -> tuple[np.ndarray, bool]:
    """`image` at :data:`INPUT_SIZE`: as it is, resized (INTER_AREA; returns True), or an
    ImageError naming `source` and its size when `resize` is False."""
    h, w = image.shape[:2]
    if (w, h) == INPUT_SIZE:
        return image, False
    if not resize:
        raise ImageError(
            f"{source}: image is {w}x{h}; the CAM classifiers and DMV-JND-NET take "
            f"{INPUT_SIZE[0]}x{INPUT_SIZE[1]} (drop --no-resize to resize it)"
        )
    return cv2.resize(image, INPUT_SIZE, interpolation=cv2.INTER_AREA), True


def collect_images(
    inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike
) -> list[tuple[Path, Path]]:
    """``[(image file, relative path)]``: a file is itself (relative path: its name); a folder
    gives its images recursively (relative to it), sorted, hidden entries and `out_dir` skipped.

    Raises:
        FileNotFoundError: an input does not exist. ValueError: no images, or two inputs that
            would write the same output (``a.jpg`` and ``a.png`` in one folder).
    """
    out_dir = Path(out_dir).resolve()
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        item = Path(item)
        if item.is_file():
            found.append((item, Path(item.name)))
        elif item.is_dir():
            files = [
                p
                for p in sorted(item.rglob("*"))
                if p.is_file()
                and p.suffix.lower() in IMAGE_SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(item).parts)
                and out_dir not in p.resolve().parents
            ]
            if not files:
                raise ValueError(f"{item}: folder holds no images (looked for {IMAGE_SUFFIXES})")
            found += [(p, p.relative_to(item)) for p in files]
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    seen: dict[Path, Path] = {}
    for path, rel in found:
        key = rel.with_suffix("")
        if key in seen:
            raise ValueError(
                f"{seen[key]} and {path} would both be written as {key}.png; "
                "rename one or process them separately"
            )
        seen[key] = path
    return found


# --------------------------------------------------------------------------- jndtf dmv


#: The shipped DMV-JND folder, ``jndtf/weights/<SHIPPED_FOLDER>/``: ``dmv.keras`` (the E-D),
#: the four CAM classifiers ``<name>.keras`` and ``classifiers.json``, and the unseen fifth
#: ``mobilenet.keras``, each with its ``.json`` (training command and data).
SHIPPED_FOLDER = "dmv"
#: The shipped E-D's name (``dmv.keras``) and the shipped unseen classifier's.
SHIPPED_DMV = "dmv"
SHIPPED_UNSEEN = "mobilenet"


def shipped_folder() -> Path:
    """``jndtf/weights/dmv`` (read from :data:`jndtf.refs.WEIGHTS_ROOT` at call time)."""
    from jndtf import refs

    return refs.WEIGHTS_ROOT / SHIPPED_FOLDER


def _train_hint() -> str:
    return (
        "train them (`jndtf train classifiers --data DIR -o RUN/classifiers`, then `jndtf "
        "train dmv --data DIR --classifiers RUN/classifiers -o RUN/dmv`) and pass --dmv "
        "RUN/dmv/dmv.keras --classifiers RUN/classifiers"
    )


def _shipped_file(text: str | None, flag: str, default: str) -> Path:
    """A model file: `text` as a path, or a shipped model by name (None: `default`), found
    with :func:`jndtf.refs.shipped_models` in :func:`shipped_folder`."""
    from jndtf import refs

    if text is not None and (refs.looks_like_path(text) or Path(text).exists()):
        return Path(text)
    name = default if text is None else str(text)
    path = shipped_folder() / f"{name}.keras"
    if path.is_file():
        return path
    shipped = sorted(p.stem for p in shipped_folder().glob("*.keras"))
    given = f"{flag} {text}" if text is not None else f"no {flag} given, and"
    raise FileNotFoundError(
        f"{given} jndtf ships no {name!r} DMV-JND model (looked for {path}; shipped: "
        f"{', '.join(shipped) or 'none'}); give a .keras path, or {_train_hint()}"
    )


def resolve_dmv(text: str | None) -> Path:
    """``--dmv``: a ``.keras`` path, or a shipped name; None: the shipped ``dmv.keras``.

    Raises:
        FileNotFoundError: nothing shipped by that name (says how to train one).
    """
    return _shipped_file(text, "--dmv", SHIPPED_DMV)


def resolve_classifiers(text: str | None) -> Path:
    """``--classifiers``: a folder; None: the shipped folder (:func:`shipped_folder`).

    Raises:
        FileNotFoundError: None given and nothing shipped (says how to train them).
    """
    if text is not None:
        return Path(text)
    folder = shipped_folder()
    if not all((folder / f"{n}.keras").is_file() for n in CLASSIFIERS):
        raise FileNotFoundError(
            f"no --classifiers given, and jndtf ships no CAM classifiers (looked for "
            f"{', '.join(n + '.keras' for n in CLASSIFIERS)} in {folder}); {_train_hint()}"
        )
    return folder


def resolve_unseen(text: str | None, classifiers: str | None) -> Path | None:
    """``--unseen``: a ``.keras`` path or a shipped name; None: the shipped MobileNet-style
    classifier when the classifiers are the shipped ones too (and it ships), else none."""
    if text is not None:
        return _shipped_file(text, "--unseen", SHIPPED_UNSEEN)
    path = shipped_folder() / f"{SHIPPED_UNSEEN}.keras"
    return path if classifiers is None and path.is_file() else None


#: The two model options `jndtf dmv` and `jndtf eval dmv` share (paths kept as text).
_DMV_OPTION = dict(
    default=None,
    help="The DMV-JND-NET: a .keras (from `jndtf train dmv`) or a shipped name "
    "(default: the shipped dmv, jndtf/weights/dmv/dmv.keras).",
    cli_type=Path | None,
    parse=optional_str,
    show_default=False,
)
_CLASSIFIERS_OPTION = dict(
    default=None,
    help="Folder with alexnet.keras, vgg.keras, resnet.keras, densenet.keras "
    "(default: the shipped ones, jndtf/weights/dmv).",
    cli_type=Path | None,
    parse=optional_str,
    show_default=False,
)


@dataclass(frozen=True)
class DmvSettings:
    """`jndtf dmv IMAGES -o OUT`: each default and help written once, here."""

    inputs: tuple[Path, ...] = option(
        argument=True,
        cli_type=list[Path],
        parse=tuple,
        show_default=False,
        help="Images or folders of images (folders are walked recursively).",
    )
    dmv: str | None = option("--dmv", **_DMV_OPTION)
    classifiers: str | None = option("--classifiers", **_CLASSIFIERS_OPTION)
    out_dir: Path = option("--out", "-o", default=Path("out/dmv"), help="Output folder.")
    resize: bool = option(
        "--resize/--no-resize",
        default=True,
        help="Resize images that are not 32x32 (INTER_AREA) instead of refusing them.",
    )


@dataclass
class DmvResult:
    """What :func:`run_dmv` wrote and measured."""

    images: int
    resized: int
    rca: dict[str, float]
    rca_uint8: dict[str, float]
    psnr_db: float
    psnr_uint8_db: float
    files: list[Path] = field(default_factory=list)
    #: per classifier: images whose label on the uint8 PNG differs from the float x̂'s
    rounding_flips: dict[str, int] = field(default_factory=dict)
    #: largest |round(x̂) - x̂| in grey levels (<= 0.5)
    max_rounding_error: float = 0.0


def rounding_table(
    rca: Mapping[str, float], rca_uint8: Mapping[str, float], flips: Mapping[str, int], n: int
) -> list[dict]:
    """``rca.csv`` of ``jndtf dmv``: per classifier and for the eq. (17) mean, RCA of the float
    x̂ and of its uint8 PNG, the change in points (4 decimals), and how many labels the
    rounding changed."""
    rows = [
        {
            "classifier": k,
            "images": n,
            "rca_float": rca[k],
            "rca_uint8": rca_uint8[k],
            "change_points": round(100 * (rca_uint8[k] - rca[k]), 4),
            "labels_changed_by_rounding": flips[k],
        }
        for k in rca
    ]
    a, b = mean_rca(rca.values()), mean_rca(rca_uint8.values())
    rows.append(
        {
            "classifier": "mean (eq. 17)",
            "images": n,
            "rca_float": a,
            "rca_uint8": b,
            "change_points": round(100 * (b - a), 4),
            "labels_changed_by_rounding": sum(flips.values()),
        }
    )
    return rows


def _csv_bytes(rows: list[dict], fields: Sequence[str]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


def _label_fields(prefixes: Sequence[str], names: Sequence[str]) -> list[str]:
    return [f"{n}_{p}" for n in names for p in prefixes]


def run_dmv(settings: DmvSettings, progress: Step | None = None) -> DmvResult:
    """``jndtf dmv``: for every image writes ``OUT/<relative path>/<stem>.png`` (x̂, uint8,
    rounded and clipped, lossless), ``<stem>_e.npy`` (e, float32, signed pixel units, as the
    network gave it: unclipped), then ``labels.csv`` and ``summary.json``.

    Every input is read and checked before anything runs or is written, so a bad input (or
    a missing model) writes nothing; each file is written atomically.

    ``labels.csv``: ``image`` (output PNG, relative to OUT), ``source``, ``resized_from``
    (``WxH`` or empty), ``cam_class``, then per classifier ``<name>_before`` (on x),
    ``<name>_after`` (on the float x̂ = clip(x + e)) and ``<name>_after_uint8`` (on the PNG).
    ``rca.csv``: RCA of the float x̂ and of the PNG per classifier (:func:`rounding_table`),
    so what the rounding to uint8 costs is measured on the user's own images.

    `settings.dmv` / `settings.classifiers` None: the shipped models (:func:`resolve_dmv`,
    :func:`resolve_classifiers`).
    """
    step = progress or (lambda *a: None)
    out = Path(settings.out_dir)
    items = collect_images(settings.inputs, out)
    sources = {p.resolve() for p, _ in items}
    for _, rel in items:
        for target in (
            out / rel.parent / f"{rel.stem}.png",
            out / rel.parent / f"{rel.stem}_e.npy",
        ):
            if target.resolve() in sources:
                raise ValueError(f"{target} is an input; choose another --out")
    images, resized_from = [], []
    for i, (path, _) in enumerate(items):
        step("reading", i, len(items))
        img = load_image(path, min_side=1)
        fitted, was = fit_size(img, path, settings.resize)
        images.append(fitted)
        resized_from.append(f"{img.shape[1]}x{img.shape[0]}" if was else "")
    classifiers_dir, dmv_path = resolve_classifiers(settings.classifiers), resolve_dmv(settings.dmv)
    classifiers = load_classifiers(classifiers_dir)
    dmv_model = load_dmv_net(dmv_path)

    x = np.stack(images).astype(np.uint8)
    n = len(x)
    step("DMV-JND", 0, n)
    e, cam_labels = dmv_perturbation(dmv_model, classifiers, x)
    x_hat = apply_perturbation(x, e)
    x_u8 = to_uint8(x_hat)
    before, after, after_u8 = {}, {}, {}
    for k, (name, model) in enumerate(classifiers.items()):
        step(f"classifying ({name})", k, len(classifiers))
        before[name] = predict_labels(model, x)
        after[name] = predict_labels(model, x_hat)
        after_u8[name] = predict_labels(model, x_u8)

    files: list[Path] = []
    for i, (_, rel) in enumerate(items):
        step("writing", i, n)
        folder = out / rel.parent
        png, npy = folder / f"{rel.stem}.png", folder / f"{rel.stem}_e.npy"
        save_image(png, x_u8[i])
        save_npy(npy, e[i].astype(np.float32))
        files += [png, npy]
    names = list(classifiers)
    rows = []
    for i, (path, rel) in enumerate(items):
        row = {
            "image": (rel.parent / f"{rel.stem}.png").as_posix(),
            "source": str(path),
            "resized_from": resized_from[i],
            "cam_class": int(cam_labels[i]),
        }
        for name in names:
            row[f"{name}_before"] = int(before[name][i])
            row[f"{name}_after"] = int(after[name][i])
            row[f"{name}_after_uint8"] = int(after_u8[name][i])
        rows.append(row)
    fields = ["image", "source", "resized_from", "cam_class"]
    fields += _label_fields(("before", "after", "after_uint8"), names)
    atomic_write_bytes(out / "labels.csv", _csv_bytes(rows, fields))
    rca, rca_u8 = rca_per_classifier(before, after), rca_per_classifier(before, after_u8)
    flips = {k: int(np.count_nonzero(after[k] != after_u8[k])) for k in names}
    rounding_rows = rounding_table(rca, rca_u8, flips, n)
    atomic_write_bytes(out / "rca.csv", _csv_bytes(rounding_rows, list(rounding_rows[0])))
    p_float, _ = mean_psnr(x, x_hat)
    p_u8, _ = mean_psnr(x, x_u8)
    result = DmvResult(
        images=n,
        resized=sum(1 for r in resized_from if r),
        rca=rca,
        rca_uint8=rca_u8,
        psnr_db=p_float,
        psnr_uint8_db=p_u8,
        files=[*files, out / "labels.csv", out / "rca.csv", out / "summary.json"],
        rounding_flips=flips,
        max_rounding_error=float(np.max(np.abs(x_u8 - x_hat))) if n else 0.0,
    )
    summary = {
        "images": n,
        "resized": result.resized,
        "input_size": list(INPUT_SIZE),
        "classifiers": str(classifiers_dir),
        "dmv": str(dmv_path),
        "rca": rca,
        "mean_rca": mean_rca(rca.values()),
        "rca_uint8": rca_u8,
        "mean_rca_uint8": mean_rca(rca_u8.values()),
        "rounding": {
            "what": "x̂ float = clip(x + e); the PNG holds round(x̂) as uint8 (error <= 0.5)",
            "max_abs_error": result.max_rounding_error,
            "mean_rca_change_points": 100 * (mean_rca(rca_u8.values()) - mean_rca(rca.values())),
            "labels_changed_by_rounding": flips,
        },
        "mean_psnr_db": _json_float(p_float),
        "mean_psnr_uint8_db": _json_float(p_u8),
    }
    atomic_write_json(out / "summary.json", summary)
    step("done", n, n)
    return result


def _json_float(v: float) -> float | str:
    return v if math.isfinite(v) else str(v)


# --------------------------------------------------------------------------- jndtf eval dmv


def _parse_holdout(text: str | float) -> float | int:
    """``"5000"`` -> 5000 (an image count), ``"0.1"`` -> 0.1 (a fraction): ``--val-size``."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        value = text
    else:
        try:
            value = int(str(text).strip())
        except ValueError:
            try:
                value = float(str(text).strip())
            except ValueError:
                value = None
    ok = (isinstance(value, int) and value >= 1) or (isinstance(value, float) and 0 < value < 1)
    if not ok:
        raise ValueError(f"--val-size {text!r}: give an image count (5000) or a fraction (0.1)")
    return value


#: The classifiers' training manifest (``jndtf train classifiers``) in the --classifiers folder.
CLASSIFIERS_MANIFEST = "classifiers.json"


@dataclass(frozen=True)
class DmvEvalSettings:
    """`jndtf eval dmv --data PATH -o OUT`: each default and help written once, here.

    ``--val-size``, ``--seed`` and ``--max-images`` mean what they mean in ``jndtf train
    classifiers`` / ``jndtf train dmv``: give the training's values and the same validation
    images are scored (checked against the classifiers' manifest when it is there)."""

    data: str = option(
        "--data",
        help="Labelled set: class-per-folder tree, its .tar(.gz), or CIFAR-10 batches.",
        cli_type=Path,
        parse=str,
        show_default=False,
    )
    dmv: str | None = option("--dmv", **_DMV_OPTION)
    classifiers: str | None = option("--classifiers", **_CLASSIFIERS_OPTION)
    out_dir: Path = option("--out", "-o", default=Path("out/eval-dmv"), help="Output folder.")
    unseen: str | None = option(
        "--unseen",
        default=None,
        help="A fifth classifier that DMV training never saw (RGB 0..1 in, logits out): a "
        ".keras or a shipped name (default: the shipped mobilenet when --classifiers is not "
        "given).",
        cli_type=Path | None,
        parse=optional_str,
        show_default=False,
    )
    history: str | None = option(
        "--history",
        default=None,
        help="The DMV training's dmv.json (or its run folder) for the per-epoch plots "
        "(default: the .json beside --dmv, when there is one).",
        cli_type=Path | None,
        parse=optional_str,
        show_default=False,
    )
    val_size: float | int = option(
        "--val-size",
        default=0.1,
        help="Validation split as in training: an image count (5000) or a fraction (0.1).",
        cli_type=str,
        parse=_parse_holdout,
        show=str,
    )
    seed: int = option("--seed", default=0, help="Split seed, as given to training.")
    max_images: int | None = option(
        "--max-images",
        default=None,
        help="As given to training: the stratified subset it was split from.",
        min=1,
    )
    score_images: int | None = option(
        "--score-images",
        default=None,
        help="Score a seeded subset of the validation images only (quick runs).",
        min=1,
    )
    noise_seed: int = option("--noise-seed", default=0, help="Seed of the white Gaussian noise.")
    cam_class: str = option(
        "--cam-class",
        default="predicted",
        help="CAM class: 'predicted' (the four classifiers' consensus) or 'label' (dataset).",
    )
    plots: bool = option("--plots/--no-plots", default=True, help="Write PNG plots.")

    def __post_init__(self):
        if self.cam_class not in ("predicted", "label"):
            raise ValueError(f"--cam-class {self.cam_class!r}: give 'predicted' or 'label'")
        object.__setattr__(self, "val_size", _parse_holdout(self.val_size))


def validation_split(
    images: np.ndarray, labels: np.ndarray, settings: DmvEvalSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(images, labels, val_idx)`` exactly as the training recipes split them
    (``jndtf.train.classifiers.data.prepare_data``): a stratified subset of `max_images`
    first (None: all), then :func:`jndtf.data.classification.stratified_split` with
    `val_size` and `seed`; `score_images` keeps a seeded subset of ``val_idx`` (sorted)."""
    from jndtf.data.classification import DatasetError, stratified_split

    if settings.max_images is not None and settings.max_images < len(labels):
        _, keep = stratified_split(labels, holdout=int(settings.max_images), seed=settings.seed)
        images, labels = images[keep], labels[keep]
    try:
        _, val = stratified_split(labels, holdout=settings.val_size, seed=settings.seed)
    except DatasetError as e:
        raise DatasetError(
            f"--val-size {settings.val_size} with {len(labels)} images "
            f"(--max-images {settings.max_images}): {e}"
        ) from None
    return images, labels, val


def check_split_matches_training(folder: str | os.PathLike, val: np.ndarray) -> str | None:
    """Compares the validation indices with the classifiers' manifest
    (:data:`CLASSIFIERS_MANIFEST`, ``data.val_indices_sha256``), when there is one.

    Returns:
        None when there is no manifest (nothing to check), else ``"checked"``.

    Raises:
        ValueError: the manifest's split differs (names its settings to give instead).
    """
    import hashlib
    import json

    path = Path(folder) / CLASSIFIERS_MANIFEST
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text()).get("data") or {}
    except (OSError, ValueError, AttributeError) as err:
        raise ValueError(f"{path}: not a readable classifiers manifest ({err})") from err
    want = record.get("val_indices_sha256")
    if not want:
        return None
    have = hashlib.sha256(np.asarray(val, np.int64).tobytes()).hexdigest()
    if have != want:
        raise ValueError(
            f"{path}: the classifiers were validated on another split (--val-size "
            f"{record.get('val_size')} --seed {record.get('split_seed')} --max-images "
            f"{record.get('max_images')} on {record.get('path')}); give the same values so "
            "that no training image is scored"
        )
    return "checked"


def read_history(text: str | None, dmv_path: Path) -> tuple[list[dict], Path | None]:
    """The per-epoch records of a ``jndtf train dmv`` run (``dmv.json``'s
    ``training.history``; a top-level ``history`` is read too).

    Args:
        text: ``--history``: the ``.json`` or its run folder; None: the ``.json`` beside
            `dmv_path` (``RUN/dmv.json`` for ``RUN/dmv.keras``), when it holds a history.
        dmv_path: the DMV-JND-NET file.

    Returns:
        ``(records, the file)``; ``([], None)`` when `text` is None and there is none.

    Raises:
        FileNotFoundError, ValueError: `text` given but missing, unreadable or without a
            history (names the file).
    """
    import json

    if text is None:
        path = Path(dmv_path).with_suffix(".json")
        if not path.is_file():
            return [], None
    else:
        path = Path(text)
        if path.is_dir():
            path = path / "dmv.json"
        if not path.is_file():
            raise FileNotFoundError(f"--history {text}: no such file ({path})")
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        if text is None:
            return [], None
        raise ValueError(f"--history {path}: not readable JSON ({err})") from err
    record = record if isinstance(record, dict) else {}
    training = record.get("training") if isinstance(record.get("training"), dict) else {}
    history = training.get("history", record.get("history"))
    ok = isinstance(history, list) and all(isinstance(r, dict) for r in history)
    if not ok or not history:
        if text is None:
            return [], None
        raise ValueError(
            f"--history {path}: no per-epoch 'history' list in it (give the dmv.json that "
            "`jndtf train dmv` writes)"
        )
    return history, path


def history_table(history: Sequence[Mapping]) -> tuple[list[dict], list[str]]:
    """Flat rows of the per-epoch records: nested dicts become ``<key>_<name>`` columns
    (``val_rca`` -> ``val_rca_alexnet`` ...); columns in first-seen order."""
    rows: list[dict] = []
    fields: dict[str, None] = {}
    for record in history:
        row: dict = {}
        for k, v in record.items():
            if isinstance(v, Mapping):
                row.update({f"{k}_{name}": x for name, x in v.items()})
            else:
                row[k] = v
        fields.update(dict.fromkeys(row))
        rows.append(row)
    return [{k: r.get(k, "") for k in fields} for r in rows], list(fields)


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _series(history: Sequence[Mapping], key: str, sub: str | None = None) -> list[float]:
    out = []
    for r in history:
        v = r.get(key)
        v = v.get(sub) if sub is not None and isinstance(v, Mapping) else v
        out.append(float(v) if isinstance(v, int | float) else math.nan)
    return out


def history_plots(history: Sequence[Mapping]) -> dict[str, np.ndarray]:
    """Per-epoch PNGs of a DMV training run, like Figs. 5-7 of the paper:
    ``plots/history_loss.png`` (total loss, train and validation, and the three terms of
    eqs. (13)-(15); log scale when they span more than 20x), ``plots/history_rca.png``
    (validation RCA per classifier and the eq. (17) mean, uint8 and float x̂) and
    ``plots/history_psnr.png`` (validation PSNR of x̂ vs x, dB)."""
    epochs = [float(r.get("epoch", i + 1)) for i, r in enumerate(history)]
    ticks = [f"{e:g}" for e in epochs]
    losses = {
        name: _series(history, key)
        for name, key in (
            ("loss (train)", "loss"),
            ("loss (val)", "val_loss"),
            ("l1 (train)", "l1"),
            ("l2 (train)", "l2"),
            ("l3 (train)", "l3"),
        )
        if any(math.isfinite(v) for v in _series(history, key))
    }
    archs = list(next((r["val_rca"] for r in history if isinstance(r.get("val_rca"), Mapping)), {}))
    rca = {a: [100 * v for v in _series(history, "val_rca", a)] for a in archs}
    rca["mean (eq. 17)"] = [100 * v for v in _series(history, "val_mean_rca")]
    rca["mean, float x_hat"] = [100 * v for v in _series(history, "val_mean_rca_unrounded")]
    rca = {k: v for k, v in rca.items() if any(math.isfinite(x) for x in v)}
    finite = [x for v in rca.values() for x in v if math.isfinite(x)]
    rca_lo = 10 * math.floor(min(finite, default=0) / 10) if finite else 0
    plots = {}
    if losses:
        flat = [x for v in losses.values() for x in v if math.isfinite(x) and x > 0]
        log = bool(flat) and max(flat) > 20 * min(flat)
        plots["plots/history_loss.png"] = line_chart(
            epochs,
            losses,
            title="DMV-JND-NET training: loss per epoch",
            x_label="epoch",
            x_ticks=ticks,
            y_label="loss" + (" (log)" if log else ""),
            y_range=None,
            y_log=log,
        )
    if rca:
        plots["plots/history_rca.png"] = line_chart(
            epochs,
            rca,
            title="Validation RCA per epoch (eq. 16; uint8 x_hat unless marked)",
            x_label="epoch",
            x_ticks=ticks,
            y_label="RCA %",
            y_range=(min(rca_lo, 90), 100),
        )
    psnr_values = _series(history, "val_psnr")
    if any(math.isfinite(v) for v in psnr_values):
        plots["plots/history_psnr.png"] = line_chart(
            epochs,
            {"PSNR x_hat vs x": psnr_values},
            title="Validation PSNR of x_hat vs x per epoch",
            x_label="epoch",
            x_ticks=ticks,
            y_label="dB",
            y_range=None,
        )
    return plots


def _ninths_text(k: int) -> str:
    """``k/9`` as the paper writes it (6/9, not 2/3); 9 -> ``1`` (e itself)."""
    return "1" if k == 9 else f"{k}/9"


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _pct(v: float) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.2f}"


def evaluate_dmv(settings: DmvEvalSettings, progress: Step | None = None) -> dict:
    """``jndtf eval dmv``: the paper's protocol on the validation split.

    Writes into ``OUT``: ``rca.csv``/``rca.md`` (per classifier: clean accuracy vs the dataset
    labels, RCA of x̂ float and uint8, RCA of the WGN image; eq. (17) mean of the four; the
    unseen classifier on its own row), ``homogeneous.csv``/``.md`` (RCA at e·8/9 ... e·1/9),
    ``labels.csv`` (every image's labels, so any RCA can be recounted), ``summary.json``,
    ``report.md`` and ``plots/rca_vs_scale.png``, ``plots/rca_dmv_vs_wgn.png``; with a
    training history (:func:`read_history`) also ``history.csv``/``.md`` and
    ``plots/history_{loss,rca,psnr}.png``. Everything is computed before the first file is
    written; each file is written atomically.

    Returns:
        The summary (also ``summary.json``).
    """
    from jndtf.data.classification import read_classification

    step = progress or (lambda *a: None)
    t0 = time.perf_counter()
    out = Path(settings.out_dir)
    # the models first: a missing or wrong model fails before the data is read
    classifiers_dir, dmv_path = resolve_classifiers(settings.classifiers), resolve_dmv(settings.dmv)
    unseen_path = resolve_unseen(settings.unseen, settings.classifiers)
    history, history_path = read_history(settings.history, dmv_path)
    classifiers = load_classifiers(classifiers_dir)
    dmv_model = load_dmv_net(dmv_path)
    scored = dict(classifiers)
    unseen_name = None
    if unseen_path is not None:
        unseen_name = f"unseen:{unseen_path.stem}"
        scored[unseen_name] = load_classifier(
            unseen_path, "the unseen classifier (--unseen)", cam=False
        )
    data = read_classification(settings.data, progress=lambda d, t: step("reading", d, t or 0))
    images, labels_all, val = validation_split(data.images, data.labels, settings)
    split_check = check_split_matches_training(classifiers_dir, val)
    if settings.score_images is not None and settings.score_images < len(val):
        rng = np.random.default_rng([settings.seed, 1])
        val = np.sort(rng.permutation(val)[: settings.score_images])
    x, truth = images[val], labels_all[val]
    n = len(x)

    step("DMV-JND", 0, n)
    cam_labels = truth if settings.cam_class == "label" else None
    e, cam_labels = dmv_perturbation(dmv_model, classifiers, x, cam_labels)
    x_hat = apply_perturbation(x, e)
    x_u8 = to_uint8(x_hat)
    noise = equal_energy_noise(e, np.random.default_rng(settings.noise_seed))
    x_wgn = apply_perturbation(x, noise.astype(np.float32))
    # one processed set at a time (12 float copies of 5,000 images would be ~0.7 GB)
    variants: dict[str, Callable[[], np.ndarray]] = {
        "before": lambda: x,
        "dmv": lambda: x_hat,
        "dmv_uint8": lambda: x_u8,
        "wgn": lambda: x_wgn,
    }
    for k in HOMOGENEOUS_NINTHS:
        variants[f"s{k}_9"] = functools.partial(apply_perturbation, x, e, k / 9)
    labels: dict[str, dict[str, np.ndarray]] = {name: {} for name in scored}
    total, done = len(scored) * len(variants), 0
    for key, make in variants.items():
        images = make()
        for name, model in scored.items():
            step(f"classifying ({key})", done, total)
            labels[name][key] = predict_labels(model, images)
            done += 1
        del images

    def rca(name: str, key: str) -> float:
        return relative_classification_accuracy(labels[name]["before"], labels[name][key])

    four = list(classifiers)
    rca_rows = []
    for name in [*four, "mean (eq. 17)", *([unseen_name] if unseen_name else [])]:
        if name == "mean (eq. 17)":
            row = {"classifier": name, "role": "mean of the four"}
            for col, key in (
                ("rca_dmv", "dmv"),
                ("rca_dmv_uint8", "dmv_uint8"),
                ("rca_wgn", "wgn"),
            ):
                row[col] = mean_rca(rca(k, key) for k in four)
            row["accuracy_clean"] = float(
                np.mean([np.mean(labels[k]["before"] == truth) for k in four])
            )
        else:
            row = {
                "classifier": name,
                "role": "unseen" if name == unseen_name else "CAM (seen in training)",
                "accuracy_clean": float(np.mean(labels[name]["before"] == truth)),
                "rca_dmv": rca(name, "dmv"),
                "rca_dmv_uint8": rca(name, "dmv_uint8"),
                "rca_wgn": rca(name, "wgn"),
            }
        rca_rows.append(row)
    homo_rows = []
    for k in (9, *HOMOGENEOUS_NINTHS):
        key = "dmv" if k == 9 else f"s{k}_9"
        row = {"scale": _ninths_text(k), "scale_value": k / 9}
        for name in four:
            row[name] = rca(name, key)
        row["mean"] = mean_rca(row[k] for k in four)
        if unseen_name:
            row[unseen_name] = rca(unseen_name, key)
        homo_rows.append(row)
    p_dmv, same_dmv = mean_psnr(x, x_hat)
    p_u8, _ = mean_psnr(x, x_u8)
    p_wgn, _ = mean_psnr(x, x_wgn)

    label_rows = []
    for i in range(n):
        row = {"index": int(val[i]), "label": int(truth[i]), "cam_class": int(cam_labels[i])}
        for name in scored:
            for key in ("before", "dmv", "dmv_uint8", "wgn"):
                row[f"{name}_{key}"] = int(labels[name][key][i])
        label_rows.append(row)
    label_fields = ["index", "label", "cam_class"]
    label_fields += _label_fields(("before", "dmv", "dmv_uint8", "wgn"), list(scored))

    summary = {
        "data": str(settings.data),
        "validation_images": n,
        "split": {
            "val_size": settings.val_size,
            "seed": settings.seed,
            "max_images": settings.max_images,
            "checked_against": str(classifiers_dir / CLASSIFIERS_MANIFEST) if split_check else None,
        },
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()},
        "models": {
            "dmv": str(dmv_path),
            "classifiers": str(classifiers_dir),
            "unseen": str(unseen_path) if unseen_path is not None else None,
            "history": str(history_path) if history_path is not None else None,
        },
        "mean_rca": rca_rows[len(four)]["rca_dmv"],
        "mean_rca_uint8": rca_rows[len(four)]["rca_dmv_uint8"],
        "mean_rca_wgn": rca_rows[len(four)]["rca_wgn"],
        "unseen_rca": rca_rows[-1]["rca_dmv"] if unseen_name else None,
        "mean_psnr_db": p_dmv,
        "mean_psnr_uint8_db": p_u8,
        "mean_psnr_wgn_db": p_wgn,
        "identical_images": same_dmv,
        "homogeneous_scales": [_ninths_text(k) for k in HOMOGENEOUS_NINTHS],
        "homogeneous_min_rca_minus_rca_at_1": min(r["mean"] for r in homo_rows[1:])
        - homo_rows[0]["mean"],
        "seconds": round(time.perf_counter() - t0, 2),
    }

    rca_fields = ["classifier", "role", "accuracy_clean", "rca_dmv", "rca_dmv_uint8", "rca_wgn"]
    homo_fields = ["scale", "scale_value", *four, "mean", *([unseen_name] if unseen_name else [])]
    rca_md = _md_table(
        ["classifier", "role", "clean acc. %", "RCA DMV %", "RCA DMV uint8 %", "RCA WGN %"],
        [[r["classifier"], r["role"], *(_pct(r[k]) for k in rca_fields[2:])] for r in rca_rows],
    )
    homo_md = _md_table(
        ["scale of e", *homo_fields[2:]],
        [[r["scale"], *(_pct(r[k]) for k in homo_fields[2:])] for r in homo_rows],
    )
    files = {
        "rca.csv": _csv_bytes(rca_rows, rca_fields),
        "rca.md": rca_md.encode(),
        "homogeneous.csv": _csv_bytes(homo_rows, homo_fields),
        "homogeneous.md": homo_md.encode(),
        "labels.csv": _csv_bytes(label_rows, label_fields),
    }
    if history:
        hist_rows, hist_fields = history_table(history)
        files["history.csv"] = _csv_bytes(hist_rows, hist_fields)
        files["history.md"] = _md_table(
            hist_fields, [[_cell(r[k]) for k in hist_fields] for r in hist_rows]
        ).encode()
    plots = {}
    if settings.plots:
        step("plots", 0, 2)
        plots["plots/rca_vs_scale.png"] = line_chart(
            [k / 9 for k in (9, *HOMOGENEOUS_NINTHS)],
            {k: [100 * r[k] for r in homo_rows] for k in homo_fields[2:]},
            title="Homogeneous test: RCA vs scale of e (Sec. V-F)",
            x_label="scale of e",
            x_ticks=[r["scale"] for r in homo_rows],
            y_label="RCA %",
        )
        plots["plots/rca_dmv_vs_wgn.png"] = grouped_bars(
            [r["classifier"].replace(" (eq. 17)", "") for r in rca_rows],
            {
                "DMV-JND": [100 * r["rca_dmv"] for r in rca_rows],
                "DMV-JND, uint8 PNG": [100 * r["rca_dmv_uint8"] for r in rca_rows],
                "WGN, same energy": [100 * r["rca_wgn"] for r in rca_rows],
            },
            title=f"RCA per classifier: DMV-JND vs WGN ({n} validation images)",
            y_label="RCA %",
        )
        if history:
            plots.update(history_plots(history))
    report = [
        "# DMV-JND evaluation (Jin et al., TCSVT 2022, Sec. V)",
        "",
        f"Data: `{settings.data}`, {n} validation images (stratified split, val size "
        f"{settings.val_size}, seed {settings.seed}); CAM class: {settings.cam_class}.",
        f"Mean PSNR of x̂ vs x: {p_dmv:.2f} dB (uint8 PNG: {p_u8:.2f} dB; "
        f"WGN image: {p_wgn:.2f} dB).",
        "",
        "## RCA (eqs. 16-17) and the WGN test",
        "",
        rca_md,
        "## Homogeneous property (e scaled by 8/9 ... 1/9)",
        "",
        homo_md,
    ]
    if history:
        report += [
            f"## Training history (`{history_path}`; RCA and PSNR on the training's own "
            "validation split, uint8-rounded x̂)",
            "",
            files["history.md"].decode(),
        ]
    report += [f"![{Path(p).stem}]({p})" for p in plots]
    files["report.md"] = ("\n".join(report) + "\n").encode()
    step("writing", 0, len(files) + len(plots) + 1)
    for rel, img in plots.items():
        save_image(out / rel, img)
    for rel, data_bytes in files.items():
        atomic_write_bytes(out / rel, data_bytes)
    atomic_write_json(
        out / "summary.json",
        {k: _json_float(v) if isinstance(v, float) else v for k, v in summary.items()},
    )
    summary["rca_rows"] = rca_rows
    summary["homogeneous_rows"] = homo_rows
    return summary


# --------------------------------------------------------------------------- plots (OpenCV)

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_INK = (30, 30, 30)
_COLOURS = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (30, 30, 30),
    (148, 103, 189),
    (140, 86, 75),
]


def _text(img, s, x, y, scale=0.45, colour=_INK, anchor="left", thickness=1) -> None:
    (w, _), _ = cv2.getTextSize(s, _FONT, scale, thickness)
    x = x - w if anchor == "right" else (x - w // 2 if anchor == "centre" else x)
    cv2.putText(img, s, (int(x), int(y)), _FONT, scale, colour, thickness, cv2.LINE_AA)


#: Plot area of every chart: margins in pixels (left, right, top, bottom).
MARGINS = (60, 160, 50, 50)


def plot_box(width: int, height: int) -> tuple[int, int, int, int]:
    """``(left, right, top, bottom)`` pixel bounds of the plot area of a chart."""
    return MARGINS[0], width - MARGINS[1], MARGINS[2], height - MARGINS[3]


def nice_axis(values: Sequence[float], *, log: bool = False) -> tuple[float, float, list]:
    """``(lo, hi, [(tick value, text)])`` covering the finite `values`: about five ticks at
    1, 2 or 5 x 10^k steps; with `log`, the axis is log10 of the positive values (ticks at
    powers of ten)."""
    v = [float(x) for x in values if math.isfinite(x) and (x > 0 or not log)]
    if log:
        v = [math.log10(x) for x in v]
        lo = math.floor(min(v, default=0.0))
        hi = max(math.ceil(max(v, default=1.0)), lo + 1)
        return lo, hi, [(k, f"{10.0**k:g}") for k in range(lo, hi + 1)]
    a, b = min(v, default=0.0), max(v, default=1.0)
    raw = (b - a) / 5 or abs(a) / 5 or 1.0
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    lo, hi = math.floor(a / step) * step, math.ceil(b / step) * step
    if hi <= lo:
        hi = lo + step
    n = round((hi - lo) / step)
    return lo, hi, [(lo + i * step, f"{lo + i * step:g}") for i in range(n + 1)]


def _frame(title: str, y_label: str, width: int, height: int, y_axis=None):
    """White canvas, title, y grid and ticks of `y_axis` ``(lo, hi, ticks)`` (default
    0..100 every 20), axes; returns it and :func:`plot_box`."""
    img = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = plot_box(width, height)
    lo, hi, ticks = y_axis or (0, 100, [(v, str(v)) for v in range(0, 101, 20)])
    _text(img, title, 16, 26, 0.55, thickness=1)
    for v, label in ticks:
        y = round(bottom - (v - lo) / (hi - lo) * (bottom - top))
        cv2.line(img, (left, y), (right, y), (225, 225, 225), 1)
        _text(img, label, left - 6, y + 4, 0.4, (80, 80, 80), anchor="right")
    _text(img, y_label, 8, top - 8, 0.4, (80, 80, 80))
    cv2.line(img, (left, bottom), (right, bottom), _INK, 1)
    cv2.line(img, (left, top), (left, bottom), _INK, 1)
    return img, (left, right, top, bottom)


def line_chart(
    xs: Sequence[float],
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_ticks: Sequence[str] | None = None,
    width: int = 720,
    height: int = 420,
    y_range: tuple[float, float] | None = (0.0, 100.0),
    y_log: bool = False,
) -> np.ndarray:
    """Lines of `series` over `xs` (tick texts `x_ticks`, default the values), legend on the
    right: uint8 RGB. The y axis spans `y_range` (values outside are drawn at its edge;
    default 0..100, a percentage), or with None the data (:func:`nice_axis`); `y_log` draws
    log10 of the values (non-positive ones left out)."""
    finite = [v for ys in series.values() for v in ys if math.isfinite(v)]
    if y_range is None or y_log:
        y_axis = nice_axis(finite, log=y_log)
    else:
        y_axis = (*y_range, nice_axis(y_range)[2])
    y_lo, y_hi, _ = y_axis
    img, (left, right, top, bottom) = _frame(title, y_label, width, height, y_axis)
    lo, hi = min(xs), max(xs)

    def fy(v: float) -> float:
        return (math.log10(v) if v > 0 else math.nan) if y_log else v

    def px_x(x: float) -> int:
        return round(left + (x - lo) / ((hi - lo) or 1) * (right - left))

    def px(x: float, v: float) -> tuple[int, int]:
        f = np.clip((fy(v) - y_lo) / (y_hi - y_lo), 0, 1)
        return px_x(x), round(bottom - f * (bottom - top))

    for i, x in enumerate(xs):
        tick = x_ticks[i] if x_ticks is not None else f"{x:.2f}"
        _text(img, tick, px_x(x), bottom + 18, 0.38, (80, 80, 80), anchor="centre")
    _text(img, x_label, (left + right) // 2, bottom + 38, 0.45, anchor="centre")
    for k, (name, ys) in enumerate(series.items()):
        colour = _COLOURS[k % len(_COLOURS)]
        pts = [px(x, v) for x, v in zip(xs, ys, strict=True) if math.isfinite(fy(v))]
        for a, b in itertools.pairwise(pts):
            cv2.line(img, a, b, colour, 2, cv2.LINE_AA)
        for p in pts:
            cv2.circle(img, p, 3, colour, -1, cv2.LINE_AA)
        cv2.line(img, (right + 12, top + 18 * k + 6), (right + 30, top + 18 * k + 6), colour, 2)
        _text(img, name[:18], right + 36, top + 18 * k + 10, 0.4)
    return img


def grouped_bars(
    groups: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    y_label: str,
    height: int = 420,
) -> np.ndarray:
    """One bar per series in each group (values in 0..100), legend on the right: uint8 RGB."""
    width = max(520, 90 * len(groups) + 220)
    img, (left, right, top, bottom) = _frame(title, y_label, width, height)
    slot = (right - left) / max(len(groups), 1)
    bar = max(6, int(slot * 0.8 / max(len(series), 1)))
    for g, name in enumerate(groups):
        x0 = left + slot * g + (slot - bar * len(series)) / 2
        for k, ys in enumerate(series.values()):
            v = float(ys[g])
            if not math.isfinite(v):
                continue
            y = round(bottom - np.clip(v, 0, 100) / 100 * (bottom - top))
            xa = int(x0 + k * bar)
            cv2.rectangle(img, (xa, y), (xa + bar - 2, bottom), _COLOURS[k % len(_COLOURS)], -1)
            _text(img, f"{v:.0f}", xa + bar // 2, y - 4, 0.33, anchor="centre")
        _text(img, name[:14], left + slot * (g + 0.5), bottom + 18, 0.38, anchor="centre")
    for k, name in enumerate(series):
        colour = _COLOURS[k % len(_COLOURS)]
        cv2.rectangle(img, (right + 12, top + 18 * k), (right + 26, top + 18 * k + 10), colour, -1)
        _text(img, name, right + 32, top + 18 * k + 10, 0.4)
    return img


__all__ = [
    "CLASSIFIERS",
    "HOMOGENEOUS_FRACTIONS",
    "HOMOGENEOUS_NINTHS",
    "HOMOGENEOUS_SCALES",
    "INPUT_SIZE",
    "DmvEvalSettings",
    "DmvResult",
    "DmvSettings",
    "apply_perturbation",
    "check_split_matches_training",
    "classifier_paths",
    "collect_images",
    "consensus_labels",
    "dmv_perturbation",
    "equal_energy_noise",
    "evaluate_dmv",
    "fit_size",
    "grouped_bars",
    "history_plots",
    "history_table",
    "line_chart",
    "load_classifier",
    "load_classifiers",
    "load_dmv_net",
    "load_keras",
    "mean_psnr",
    "nice_axis",
    "plot_box",
    "predict_labels",
    "predict_logits",
    "rca_per_classifier",
    "read_history",
    "resolve_classifiers",
    "resolve_dmv",
    "resolve_unseen",
    "rounding_table",
    "run_dmv",
    "shipped_folder",
    "to_uint8",
    "validation_split",
]
