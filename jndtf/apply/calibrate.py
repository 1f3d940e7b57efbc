"""A calibrated strength: the map multiplier s at which a JND map's noise reaches the edge of
visibility by an outside proxy (issue 13, point 2).

A JND map's absolute scale is not a visibility threshold: eq. (7) of ACoL-JND at s = 1,
``clip(x + s · R · JND)``, takes photos to SSIMULACRA2 ≈ 46-55, far from invisible. So for each
held-out photo, :func:`calibrate_image` finds by bisection the s at which the eq. (7) injected
image (:func:`jndtf.apply.inject` with ``scale=s``: a fixed seed, so the same ±1 pattern R for
every s; rounded to uint8 as a saved image) scores the proxy's target against the original:

- ``ssimulacra2`` (default, target 90 = "visually lossless"; :mod:`jndtf.codecs.quality`);
- ``cvvdp`` (ColorVideoVDP, target 9.5 JOD), only where the ``cvvdp`` package is installed;
- ``psnr`` (dB; no visibility model, for checks against closed forms) or any callable
  ``proxy(original, distorted) -> float`` that is higher for better images.

The proxy must fall as s grows (a fixed R makes it so for the metrics above; each image's
evaluations are kept and :attr:`ImageCalibration.monotone` says whether they were). The
calibrated s of a model is the **median** of the per-image values (:func:`calibrate`).

Where it is recorded (:meth:`Calibration.to_record`: proxy, target, s, per-image values, the
images' sha256, the command, the jndtf version): an exported model's manifest
(``strength_calibration``, :func:`jndtf.manifest.write_calibration`), or, for classical and
registered models, the package data file ``jndtf/apply/calibration.json`` keyed by model name
(:func:`record_calibration`). ``--strength auto`` reads it back (:func:`resolve_strength`).

Core: numpy (+ the proxy's package); no TensorFlow.

Example:
    >>> cal = calibrate(images, jnds, names=["042", "043"])
    >>> round(cal.s, 3), [round(p.s, 3) for p in cal.per_image]
    (0.21, [0.19, 0.23])
    >>> resolve_strength("yang2005", "auto")
    0.21
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import itertools
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jndtf.apply.inject import SignMode, inject
from jndtf.manifest import CALIBRATION_KEY

#: Schema of :data:`CALIBRATION_FILE`.
SCHEMA = "jndtf.calibration/1"

#: The package data file of recorded calibrations (classical and registered models, by name).
CALIBRATION_FILE = Path(__file__).resolve().parent / "calibration.json"

#: The proxy and its target when none is given.
DEFAULT_PROXY = "ssimulacra2"

#: Target per proxy: SSIMULACRA2 90 ("visually lossless" on its scale), ColorVideoVDP 9.5 JOD
#: (the edge of visibility in its units; 10 = identical). PSNR has none (give one).
DEFAULT_TARGETS = {"ssimulacra2": 90.0, "cvvdp": 9.5}

#: The proxies known by name.
PROXIES = ("ssimulacra2", "cvvdp", "psnr")

#: Strengths searched: [S_MIN, S_MAX] (the map times 1/100 to 8).
S_MIN, S_MAX = 0.01, 8.0

#: Stop when the proxy is within TOL of the target (its units: 0.25 SSIMULACRA2 points is
#: below the metric's own run-to-run spread over crops) or the bracket is RTOL wide (relative).
TOL, RTOL = 0.25, 1e-3

#: A proxy may rise by this much (its units) between two larger strengths before the
#: evaluations count as not monotone (rounding to uint8 makes tiny wiggles).
MONOTONE_SLACK = 0.05

Proxy = Callable[[np.ndarray, np.ndarray], float]


class CalibrationError(ValueError):
    """A target that cannot be reached in the searched range, a bad setting, or no record."""


@dataclass(frozen=True)
class ImageCalibration:
    """One image's calibrated strength.

    Attributes:
        name: the image's name (file stem).
        s: the strength whose eq. (7) image scores `value`, the evaluated one nearest the target.
        value: the proxy at `s` (its units: SSIMULACRA2 points, JOD, dB).
        evaluations: how many strengths were scored.
        monotone: the proxy fell (within :data:`MONOTONE_SLACK`) as s grew over every pair of
            evaluated strengths; False means the bisection's premise did not hold here.
        sha256: the sha256 of the image's file (or of its pixels for an in-memory image).
        trace: ``(s, value)`` of every evaluation, in the order made.
    """

    name: str
    s: float
    value: float
    evaluations: int
    monotone: bool
    sha256: str = ""
    trace: tuple[tuple[float, float], ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Calibration:
    """A model's calibrated strength: the median of the per-image ones.

    Attributes:
        proxy, target: what was matched (e.g. ``"ssimulacra2"``, 90).
        s: the calibrated strength (median of ``per_image`` s).
        per_image: one :class:`ImageCalibration` per image, in input order.
        settings: seed, signs, quantize, the searched range, tolerances (and the crop, model
            and anything the caller adds with :meth:`with_info`).
    """

    proxy: str
    target: float
    s: float
    per_image: tuple[ImageCalibration, ...]
    settings: dict = field(default_factory=dict)
    model: str = ""
    command: str = ""
    model_sha256: str = ""

    @property
    def spread(self) -> tuple[float, float]:
        """(min, max) of the per-image strengths."""
        values = [p.s for p in self.per_image]
        return min(values), max(values)

    def with_info(self, **info) -> Calibration:
        """A copy with `model`, `command`, `model_sha256` or extra settings set."""
        own = {k: info.pop(k) for k in ("model", "command", "model_sha256") if k in info}
        return dataclasses.replace(self, settings={**self.settings, **info}, **own)

    def to_record(self) -> dict:
        """The JSON record (manifest ``strength_calibration``, an entry of calibration.json)."""
        from jndtf import __version__

        rec = {
            "proxy": self.proxy,
            "target": float(self.target),
            "s": float(self.s),
            "s_min_image": float(self.spread[0]),
            "s_max_image": float(self.spread[1]),
            "per_image": [
                {
                    "image": p.name,
                    "sha256": p.sha256,
                    "s": float(p.s),
                    "value": float(p.value),
                    "evaluations": int(p.evaluations),
                    "monotone": bool(p.monotone),
                }
                for p in self.per_image
            ],
            "images": [p.sha256 for p in self.per_image],
            "settings": _jsonable(self.settings),
            "model": self.model,
            "command": self.command,
            "jndtf_version": __version__,
        }
        if self.model_sha256:
            rec["model_sha256"] = self.model_sha256
        return rec

    def to_json(self) -> str:
        return json.dumps(self.to_record(), indent=2)


def _jsonable(value):
    return json.loads(json.dumps(value))


# ---------------------------------------------------------------------------- proxies


def default_target(proxy: str) -> float:
    """The proxy's default target (:data:`DEFAULT_TARGETS`).

    Raises:
        CalibrationError: a proxy without one (psnr): the message asks for a target.
    """
    if proxy not in DEFAULT_TARGETS:
        raise CalibrationError(
            f"proxy {proxy!r} has no default target; give one (--target), e.g. 40 for psnr"
        )
    return DEFAULT_TARGETS[proxy]


def check_proxy(proxy: str) -> str:
    """Validates a proxy name and that its package is installed.

    Raises:
        CalibrationError: an unknown name (lists the known ones).
        ImportError: ssimulacra2 or cvvdp not installed (names the pip command).
    """
    if proxy not in PROXIES:
        raise CalibrationError(f"unknown proxy {proxy!r}; choose from {', '.join(PROXIES)}")
    if proxy == "ssimulacra2":
        from jndtf.codecs.quality import _import_ssimulacra2

        _import_ssimulacra2()
    if proxy == "cvvdp" and importlib.util.find_spec("pycvvdp") is None:
        raise ImportError(
            "the cvvdp proxy needs the cvvdp package (PyTorch), which is not installed: run "
            'pip install "jndtf[cvvdp]", or use --proxy ssimulacra2'
        )
    return proxy


def _scorer(proxy: str | Proxy, original: np.ndarray) -> Callable[[np.ndarray], float]:
    """``score(distorted) -> float`` against `original` (SSIMULACRA2: its pyramid cached)."""
    if callable(proxy):
        return lambda d: float(proxy(original, d))
    from jndtf.codecs import quality

    if proxy == "ssimulacra2":
        return quality.Ssimulacra2Reference(original).score
    if proxy == "cvvdp":
        return lambda d: quality.cvvdp(original, d)
    return lambda d: quality.psnr(original, d)


# ---------------------------------------------------------------------------- bisection


def _sha256_array(image: np.ndarray) -> str:
    a = np.ascontiguousarray(image)
    return hashlib.sha256(str(a.shape).encode() + a.tobytes()).hexdigest()


def _is_monotone(trace: Sequence[tuple[float, float]]) -> bool:
    pts = sorted(trace)
    return all(b[1] <= a[1] + MONOTONE_SLACK for a, b in itertools.pairwise(pts))


def calibrate_image(
    image: np.ndarray,
    jnd: np.ndarray,
    *,
    proxy: str | Proxy = DEFAULT_PROXY,
    target: float | None = None,
    seed: int = 0,
    signs: SignMode = "per_channel",
    quantize: bool = True,
    s_min: float = S_MIN,
    s_max: float = S_MAX,
    tol: float = TOL,
    rtol: float = RTOL,
    max_evaluations: int = 40,
    name: str = "image",
    sha256: str = "",
) -> ImageCalibration:
    """The strength s at which the eq. (7) image ``clip(image + s · R · jnd)`` scores `target`.

    Bisection on log s inside ``[s_min, s_max]`` (alternating with interpolation of the proxy
    against log s, which converges faster on smooth proxies), R fixed by `seed` so that only
    s changes between evaluations. Both ends are scored first: the proxy at `s_min` must be at
    or above the target and at `s_max` at or below it.

    Args:
        image: uint8 RGB ``HxWx3`` (the original).
        jnd: its JND map, ``HxW``, ``HxWx1`` or ``HxWx3`` in 0..255 units (any source).
        proxy: ``"ssimulacra2"``, ``"cvvdp"``, ``"psnr"`` or ``proxy(original, distorted)``
            (higher = better; must fall as s grows).
        target: the proxy value to reach; None: :data:`DEFAULT_TARGETS`.
        seed, signs, quantize: of :func:`jndtf.apply.inject` (quantize: round to uint8).
        s_min, s_max: the strengths searched (0 < s_min < s_max).
        tol: stop when the proxy is within `tol` of the target (its units).
        rtol: stop when ``s_hi / s_lo - 1 <= rtol``.
        max_evaluations: at most this many proxy evaluations.
        name, sha256: recorded with the result (sha256 of the pixels when empty).

    Returns:
        :class:`ImageCalibration`.

    Raises:
        CalibrationError: bad settings, or a target out of reach in ``[s_min, s_max]`` (the
            message gives the proxy at the end that fails and which option to change).

    Example:
        >>> calibrate_image(photo, jnd).s
        0.23
    """
    proxy_name = getattr(proxy, "__name__", "proxy") if callable(proxy) else check_proxy(proxy)
    if target is None:
        target = default_target(proxy_name)
    for label, v in (("target", target), ("s_min", s_min), ("s_max", s_max), ("tol", tol)):
        if not (isinstance(v, (int, float)) and math.isfinite(v)):
            raise CalibrationError(f"{label} must be a finite number, got {v!r}")
    if not 0 < s_min < s_max:
        raise CalibrationError(f"need 0 < s_min < s_max, got s_min={s_min:g}, s_max={s_max:g}")
    if tol < 0 or rtol <= 0 or max_evaluations < 3:
        raise CalibrationError("need tol >= 0, rtol > 0 and max_evaluations >= 3")
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise CalibrationError(
            f"{name}: expects a uint8 RGB HxWx3 image, got {img.dtype} {img.shape}"
        )
    score_of = _scorer(proxy, img)
    trace: list[tuple[float, float]] = []

    def score(s: float) -> float:
        distorted = inject(img, jnd, scale=s, seed=seed, signs=signs, quantize=quantize).image
        if not callable(proxy) and distorted.dtype != np.uint8:  # the metrics take uint8
            distorted = np.clip(np.round(distorted), 0, 255).astype(np.uint8)
        value = float(score_of(distorted))
        trace.append((float(s), value))
        return value

    def result(s: float, value: float) -> ImageCalibration:
        return ImageCalibration(
            name,
            float(s),
            float(value),
            len(trace),
            _is_monotone(trace),
            sha256 or _sha256_array(img),
            tuple(trace),
        )

    q_lo = score(s_min)
    if q_lo < target - tol:
        raise CalibrationError(
            f"{name}: even the smallest strength s = {s_min:g} gives {proxy_name} "
            f"{q_lo:.2f} < target {target:g}: the map is far above the target's threshold; "
            "lower --s-min (or the target)"
        )
    if abs(q_lo - target) <= tol:
        return result(s_min, q_lo)
    q_hi = score(s_max)
    if q_hi > target + tol:
        raise CalibrationError(
            f"{name}: even the largest strength s = {s_max:g} keeps {proxy_name} at "
            f"{q_hi:.2f} > target {target:g} (is the map near zero?); raise --s-max "
            "(or the target)"
        )
    lo, hi = (s_min, q_lo), (s_max, q_hi)  # invariant: lo above the target, hi at or below
    best = min((lo, hi), key=lambda p: abs(p[1] - target))
    step = 0
    while abs(best[1] - target) > tol and hi[0] / lo[0] - 1 > rtol:
        if len(trace) >= max_evaluations:
            break
        a, b = math.log(lo[0]), math.log(hi[0])
        mid = 0.5 * (a + b)
        if step % 2 == 0 and lo[1] > hi[1]:  # interpolate, kept inside the middle 90 %
            guess = a + (lo[1] - target) / (lo[1] - hi[1]) * (b - a)
            if a + 0.05 * (b - a) < guess < b - 0.05 * (b - a):
                mid = guess
        step += 1
        s = math.exp(mid)
        q = score(s)
        if q > target:
            lo = (s, q)
        else:
            hi = (s, q)
        if abs(q - target) < abs(best[1] - target):
            best = (s, q)
    return result(*best)


def calibrate(
    images: Sequence[np.ndarray],
    jnds: Sequence[np.ndarray],
    *,
    names: Sequence[str] | None = None,
    sha256s: Sequence[str] | None = None,
    proxy: str | Proxy = DEFAULT_PROXY,
    target: float | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    **kwargs,
) -> Calibration:
    """Calibrates every image (:func:`calibrate_image`, same keyword arguments) and takes
    the median strength.

    Args:
        images: uint8 RGB originals (held-out photos: not the ones the model trained on).
        jnds: their JND maps, in the same order.
        names, sha256s: per image (default: ``image0``..., the pixels' sha256).
        progress: ``progress(description, done, total)`` once per image.

    Raises:
        CalibrationError: no images, lengths that differ, or any image whose target is out of
            reach (the message names it).
    """
    if len(images) == 0:
        raise CalibrationError("no images to calibrate on")
    if len(jnds) != len(images):
        raise CalibrationError(f"{len(images)} images but {len(jnds)} JND maps")
    names = list(names) if names is not None else [f"image{i}" for i in range(len(images))]
    sha = list(sha256s) if sha256s is not None else [""] * len(images)
    proxy_name = getattr(proxy, "__name__", "proxy") if callable(proxy) else check_proxy(proxy)
    if target is None:
        target = default_target(proxy_name)
    per = []
    for i, (img, j) in enumerate(zip(images, jnds, strict=True)):
        if progress:
            progress(f"calibrate {names[i]}", i, len(images))
        per.append(
            calibrate_image(
                img, j, proxy=proxy, target=target, name=names[i], sha256=sha[i], **kwargs
            )
        )
    if progress:
        progress("calibrated", len(images), len(images))
    settings = {
        "seed": kwargs.get("seed", 0),
        "signs": kwargs.get("signs", "per_channel"),
        "quantize": kwargs.get("quantize", True),
        "s_range": [kwargs.get("s_min", S_MIN), kwargs.get("s_max", S_MAX)],
        "tol": kwargs.get("tol", TOL),
        "injection": "eq. (7): clip(image + s * R * JND), R = +-1 fixed by the seed",
    }
    return Calibration(
        proxy_name, float(target), float(np.median([p.s for p in per])), tuple(per), settings
    )


# ---------------------------------------------------------------------------- records


def model_key(model: str) -> str:
    """The key a model reference is recorded under: the reference without its ``LABEL=``."""
    from jndtf.refs import split_label

    return split_label(str(model).strip())[1]


def is_model_file(model: str) -> bool:
    """True for a model given as a file (``.keras``, ``.tflite``, ``.onnx``, ``SPEC:PATH``)."""
    from jndtf.refs import looks_like_path

    return looks_like_path(model) or Path(model).suffix in (".keras", ".tflite", ".onnx")


def _file_of(key: str) -> Path:
    """The model file of a file reference (``SPEC:PATH`` -> PATH)."""
    head, sep, tail = key.partition(":")
    return Path(tail) if sep and tail and head.isidentifier() and len(head) > 1 else Path(key)


def _file(path: str | os.PathLike | None) -> Path:
    """`path`, or the package's :data:`CALIBRATION_FILE` (looked up at call time)."""
    return Path(path) if path is not None else CALIBRATION_FILE


def read_calibrations(path: str | os.PathLike | None = None) -> dict:
    """``{model name: record}`` of a calibration file (default :data:`CALIBRATION_FILE`; {}
    when it does not exist).

    Raises:
        CalibrationError: not a calibration file of this schema (names it).
    """
    path = _file(path)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise CalibrationError(f"{path}: not a readable JSON calibration file ({err})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise CalibrationError(f"{path}: not a {SCHEMA} file (schema {data.get('schema')!r})")
    models = data.get("models") or {}
    if not isinstance(models, dict):
        raise CalibrationError(f"{path}: 'models' must map model names to records")
    return models


def record_calibration(
    model: str, record: dict | Calibration, path: str | os.PathLike | None = None
) -> Path:
    """Writes `record` under `model` into the calibration file, atomically (the other
    models' records are kept). Returns the file's path.

    Raises:
        CalibrationError: a model given as a file (those record into their own manifest,
            :func:`jndtf.manifest.write_calibration`), or a record that does not check.
    """
    from jndtf.io import atomic_write_json
    from jndtf.manifest import check_calibration

    if isinstance(record, Calibration):
        record = record.to_record()
    key = model_key(model)
    if is_model_file(key):
        raise CalibrationError(
            f"{model} is a model file: its calibration goes into its own manifest "
            "(jndtf.manifest.write_calibration), not into calibration.json"
        )
    path = _file(path)
    check_calibration(record, str(path))
    models = read_calibrations(path)
    models[key] = record
    atomic_write_json(
        path,
        {
            "schema": SCHEMA,
            "about": "Calibrated --strength per JND model: the median over held-out photos of "
            "the s at which eq. (7) noise reaches the proxy's target (jndtf calibrate).",
            "models": dict(sorted(models.items())),
        },
    )
    return path


def model_file_sha256(model: str) -> str:
    """sha256 of the weights a learned name or file resolves to ("" for classical/control)."""
    from jndtf.io import file_sha256
    from jndtf.refs import resolve_model

    try:
        ref = resolve_model(model, runtime="keras")
    except ValueError:
        return ""
    if not ref.learned or ref.path is None or not ref.path.is_file():
        return ""
    return file_sha256(ref.path)


def recorded_calibration(model: str, path: str | os.PathLike | None = None) -> dict | None:
    """The calibration recorded for `model`: the ``strength_calibration`` of an exported
    file's manifest or of a ``.keras`` file's source manifest, else the calibration file's
    entry for the name; None when there is none.

    Raises:
        CalibrationError: the record was measured on other weights than `model` resolves to
            now (its ``model_sha256``; e.g. after retraining): recalibrate.
        ValueError: an unreadable manifest (names it).
    """
    key = model_key(model)
    if is_model_file(key):
        p = _file_of(key)
        if p.suffix in (".tflite", ".onnx"):
            from jndtf.manifest import read_manifest

            return read_manifest(p).get(CALIBRATION_KEY)
        from jndtf.manifest import read_source_manifest

        return read_source_manifest(p).get(CALIBRATION_KEY)
    rec = read_calibrations(path).get(key)
    if rec is not None and rec.get("model_sha256"):
        now = model_file_sha256(key)
        if now and now != rec["model_sha256"]:
            raise CalibrationError(
                f"the calibration recorded for {key!r} was measured on other weights (sha256 "
                f"{rec['model_sha256'][:12]}..., now {now[:12]}...); recalibrate with "
                f"`{calibrate_command(key)}`"
            )
    return rec


def calibrate_command(model: str) -> str:
    """The command that records a calibration for `model`."""
    return f"jndtf calibrate {model} --data HELD_OUT_PHOTOS --record"


def parse_strength(text: str | float) -> float | str:
    """``"0.5"`` -> 0.5, ``"auto"`` -> ``"auto"`` (a ``--strength`` option's parse).

    Raises:
        ValueError: neither a number >= 0 nor ``auto`` (names ``--strength``).
    """
    if isinstance(text, str) and text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"--strength {text!r} is not a number or 'auto'") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"--strength must be a finite number >= 0 or 'auto', got {text!r}")
    return value


def resolve_strength(
    model_name: str, text: str | float, *, path: str | os.PathLike | None = None
) -> float:
    """The strength a ``--strength`` value means for `model_name`: a number as it is, ``auto``
    the calibrated s recorded for the model (:func:`recorded_calibration`).

    Raises:
        ValueError: not a number >= 0 or ``auto``.
        CalibrationError (a ValueError): ``auto`` and nothing recorded for the model (the
            message names the command that records it), or a record for other weights.

    Example:
        >>> resolve_strength("yang2005", "0.5"), resolve_strength("yang2005", "auto")
        (0.5, 0.21)
    """
    value = parse_strength(text)
    if value != "auto":
        return float(value)
    rec = recorded_calibration(model_name, path)
    if not rec:
        where = "its manifest" if is_model_file(model_key(model_name)) else str(_file(path).name)
        raise CalibrationError(
            f"--strength auto: no calibration is recorded for {model_key(model_name)!r} (in "
            f"{where}); run `{calibrate_command(model_key(model_name))}` on held-out photos, or "
            "give --strength a number"
        )
    from jndtf.manifest import check_calibration

    check_calibration(rec, model_key(model_name))
    return float(rec["s"])


__all__ = [
    "CALIBRATION_FILE",
    "DEFAULT_PROXY",
    "DEFAULT_TARGETS",
    "PROXIES",
    "SCHEMA",
    "Calibration",
    "CalibrationError",
    "ImageCalibration",
    "calibrate",
    "calibrate_command",
    "calibrate_image",
    "check_proxy",
    "default_target",
    "is_model_file",
    "model_file_sha256",
    "model_key",
    "parse_strength",
    "read_calibrations",
    "record_calibration",
    "recorded_calibration",
    "resolve_strength",
]
