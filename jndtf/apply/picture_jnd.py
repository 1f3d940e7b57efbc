"""Picture-level JND (PJND) of JPEG compression under a JND-map or IQA-threshold criterion.

The picture-level JND of a compressed picture is the strongest compression at which the change
is not yet noticeable (survey of PJND and IQA, seed 003; the MCL-JCI data set of Jin et al. 2016
records the first such point of every photo subjectively). Without observers jndtf stands in a
criterion: the PJND is the strongest codec setting (lowest JPEG quality, highest x264 CRF) whose
decoded picture still passes it.

Search. The settings are found by BISECTION (:func:`bisect_settings`: about log2(100) = 7
encodes for JPEG, log2(52) ~ 6 for a CRF, instead of up to 100), which assumes the criterion is
MONOTONE in the setting: if a setting passes, every gentler one passes too. JPEG and x264 only
approximately obey it (the IJG tables are scaled and rounded per quality; x264's rate control
makes decisions per CRF), so the assumption is checked where it is cheap: on the bracket ends
(the gentlest setting must pass, else nothing is returned; the strongest is tried before
bisecting) and on every setting tried (each score must be no better than that of a gentler
setting tried; a violation is recorded in ``warnings``, and the result is still the bisection's:
a passing setting whose next stronger setting fails).

Criteria (any ``f(original, decoded) -> float`` with a threshold works):

- :func:`visible_fraction`: the fraction of pixels whose error exceeds ``scale · JND``, from any
  JND model's map (pass while it stays at or below a small fraction);
- :func:`psnr_db`: PSNR in dB (pass while it stays at or above a threshold).

The thresholds are the user's choice: no subjective PJND data is available here to calibrate
them, so none is presented as "the" visibility threshold.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from jndtf.metrics import psnr

Criterion = Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True, eq=False)
class PictureJND:
    """The result of :func:`picture_jnd_jpeg`.

    Attributes:
        quality: the lowest JPEG quality (1..100) that passes with its next lower quality
            failing (the bisection's bracket), or None when the gentlest quality tried fails.
        nbytes: size of the JPEG file at `quality` (0 when `quality` is None).
        image: the decoded uint8 RGB picture at `quality` (None when `quality` is None).
        failed_at: the quality just below `quality` that failed, or None if the strongest
            quality tried passed.
        scores: criterion value of every quality tried, in the order tried.
        warnings: monotonicity violations seen among the qualities tried (module docstring).
    """

    quality: int | None
    nbytes: int
    image: np.ndarray | None
    failed_at: int | None
    scores: dict[int, float]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Search:
    """What :func:`bisect_settings` found.

    Attributes:
        best: the strongest setting that passes with the next stronger one failing (None:
            the gentlest setting fails).
        failed_at: the setting just stronger than `best` (it failed), or None when the
            strongest setting passes (or, with `best` None, the gentlest setting).
        scores: ``{setting: score}`` of every setting tried, in the order tried.
        warnings: monotonicity violations among the settings tried.
    """

    best: int | None
    failed_at: int | None
    scores: dict[int, float]
    warnings: tuple[str, ...] = ()


def bisect_settings(
    settings: Sequence[int],
    score: Callable[[int], float],
    passes: Callable[[float], bool],
    *,
    higher_is_better: bool = False,
) -> Search:
    """The strongest of `settings` (ordered GENTLEST first: JPEG 100..1, CRF 0..51) whose
    score passes, by bisection (see the module docstring for the monotonicity assumption).

    The gentlest setting is tried first (a failure there ends the search: nothing passes),
    then the strongest (a pass there ends it: everything passes); in between the bracket
    ``[passing, failing]`` is halved until its ends are neighbours. Each setting is scored at
    most once.

    Args:
        settings: distinct integer settings, gentlest first.
        score: ``score(setting) -> float`` (encodes, decodes and measures).
        passes: ``passes(score) -> bool``.
        higher_is_better: the direction of `score`, for the monotonicity check only.

    Returns:
        :class:`Search`.
    """
    order = [int(x) for x in settings]
    if not order:
        raise ValueError("no settings to search")
    if len(set(order)) != len(order):
        raise ValueError("settings must be distinct")
    scores: dict[int, float] = {}

    def ok(i: int) -> bool:
        q = order[i]
        if q not in scores:
            scores[q] = float(score(q))
        return bool(passes(scores[q]))

    def result(best: int | None, failed: int | None) -> Search:
        return Search(
            None if best is None else order[best],
            None if failed is None else order[failed],
            scores,
            _monotone_warnings(order, scores, higher_is_better),
        )

    if not ok(0):
        return result(None, 0)
    last = len(order) - 1
    if ok(last):
        return result(last, None)
    lo, hi = 0, last  # invariant: order[lo] passes, order[hi] fails
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return result(lo, hi)


def _monotone_warnings(
    order: list[int], scores: dict[int, float], higher_is_better: bool
) -> tuple[str, ...]:
    """Pairs of settings tried whose scores break the monotonicity assumption: a stronger
    setting scoring strictly better than a gentler one (NaN scores are skipped)."""
    rank = {q: i for i, q in enumerate(order)}
    tried = sorted((q for q in scores if scores[q] == scores[q]), key=rank.__getitem__)
    out = []
    for a, b in itertools.pairwise(tried):  # a gentler than b
        better = scores[b] > scores[a] if higher_is_better else scores[b] < scores[a]
        if better:
            out.append(
                f"not monotone: setting {b} scores {scores[b]:.6g}, better than the gentler "
                f"{a} ({scores[a]:.6g}); the bisection's bracket may not be the only one"
            )
    return tuple(out)


def jpeg_round_trip(image: np.ndarray, quality: int) -> tuple[np.ndarray, int]:
    """Encodes uint8 RGB ``HxWx3`` (or grey ``HxW``) as JPEG at `quality` with OpenCV's libjpeg
    (default 4:2:0 chroma subsampling) and decodes it; returns (decoded, number of bytes)."""
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    colour = image.ndim == 3
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if colour else image
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV failed to encode the JPEG")
    dec = cv2.imdecode(buf, cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE)
    return (cv2.cvtColor(dec, cv2.COLOR_BGR2RGB) if colour else dec), int(buf.size)


def visible_fraction(jnd: np.ndarray, *, scale: float = 1.0) -> Criterion:
    """Criterion: fraction of pixels whose absolute error exceeds ``scale · JND``.

    A one-channel (luma) map, ``HxW`` or ``HxWx1``, is compared with the error of the BT.601
    luma ``0.299 R + 0.587 G + 0.114 B`` (so JPEG's chroma subsampling, which leaves luma
    alone, is not counted against a luma threshold); an ``HxWx3`` map with the error of each
    RGB channel.

    Args:
        jnd: JND map in 0..255 units, ``HxW``, ``HxWx1`` or ``HxWx3``.
        scale: multiple of the JND counted as visible.

    Returns:
        ``f(original, decoded) -> float`` in 0..1, lower is better.
    """
    j = np.asarray(jnd, dtype=np.float64)
    if j.ndim == 3 and j.shape[2] == 1:
        j = j[..., 0]
    if j.ndim not in (2, 3) or (j.ndim == 3 and j.shape[2] != 3):
        raise ValueError(f"JND map must be HxW, HxWx1 or HxWx3, got shape {np.shape(jnd)}")
    if not np.all(np.isfinite(j)) or (j.size and j.min() < 0):
        raise ValueError("JND map must be finite and >= 0")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    weights = np.array([0.299, 0.587, 0.114])

    def score(original: np.ndarray, decoded: np.ndarray) -> float:
        err = decoded.astype(np.float64) - original.astype(np.float64)
        if j.ndim == 2 and err.ndim == 3:
            err = err @ weights
        if err.shape != j.shape:
            raise ValueError(f"JND map {j.shape} does not fit the error {err.shape}")
        return float(np.mean(np.abs(err) > scale * j))

    return score


def psnr_db(original: np.ndarray, decoded: np.ndarray) -> float:
    """Criterion: PSNR in dB (peak 255) between the two pictures, higher is better
    (:func:`jndtf.metrics.psnr`; ``inf`` when identical)."""
    return psnr(original, decoded)


def picture_jnd_jpeg(
    image: np.ndarray,
    criterion: Criterion,
    threshold: float,
    *,
    higher_is_better: bool = False,
    qualities: Iterable[int] = range(100, 0, -1),
) -> PictureJND:
    """Lowest JPEG quality whose decoded picture still passes `criterion` (picture-level JND),
    found by bisection over `qualities` (:func:`bisect_settings`; monotonicity assumed and
    checked, module docstring).

    Args:
        image: uint8 RGB ``HxWx3`` (or grey ``HxW``) picture.
        criterion: ``f(original, decoded) -> float``, e.g. ``visible_fraction(jnd)`` or
            :func:`psnr_db`.
        threshold: the picture passes while the score is ``<= threshold`` (or ``>=`` when
            `higher_is_better`).
        higher_is_better: direction of the score (True for PSNR/SSIM-like scores).
        qualities: qualities to search, in order of increasing compression (gentlest first).

    Returns:
        :class:`PictureJND`.

    Example:
        >>> res = picture_jnd_jpeg(astronaut, visible_fraction(wu2017_jnd), 0.05)
        >>> res.quality, res.nbytes
        (90, 68052)
    """
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise ValueError(
            f"expected a uint8 RGB HxWx3 or grey HxW image, got {img.dtype} {img.shape}"
        )
    coded: dict[int, tuple[np.ndarray, int]] = {}

    def score(q: int) -> float:
        coded[q] = jpeg_round_trip(img, q)
        return float(criterion(img, coded[q][0]))

    found = bisect_settings(
        list(qualities),
        score,
        _passes(threshold, higher_is_better),
        higher_is_better=higher_is_better,
    )
    best = None
    if found.best is not None:
        best = (found.best, coded[found.best][1], coded[found.best][0])
    res = _result(best, found.failed_at, found.scores)
    return dataclasses.replace(res, warnings=found.warnings)


def _passes(threshold: float, higher_is_better: bool) -> Callable[[float], bool]:
    t = float(threshold)
    return (lambda s: s >= t) if higher_is_better else (lambda s: s <= t)


def _result(best, failed_at, scores) -> PictureJND:
    if best is None:
        return PictureJND(None, 0, None, failed_at, scores)
    return PictureJND(best[0], best[1], best[2], failed_at, scores)


# --- codec settings of a picture or clip: `jndtf pjnd` -------------------------------------

#: The codecs `jndtf pjnd` searches: JPEG quality (gentlest 100) and x264 CRF (gentlest 0).
CODECS = ("jpeg", "h264")
#: The criteria: ``visible`` (fraction of pixels beyond s·JND, :func:`visible_fraction`) and
#: ``psnr`` (:func:`psnr_db`).
CRITERIA = ("visible", "psnr")


def default_setting(codec: str) -> int:
    """The fixed setting PJND savings are measured against: the edge runtime's defaults
    (:data:`jndtf.edge.encoders.DEFAULT_JPEG_QUALITY` = 90, ``DEFAULT_CRF`` = 23), written
    here as numbers because the core does not import ``jndtf.edge``; tests/test_pjnd.py
    checks they agree."""
    return {"jpeg": 90, "h264": 23}[_check_codec(codec)]


def _check_codec(codec: str) -> str:
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")
    return codec


@dataclass(frozen=True, eq=False)
class Coded:
    """One encode of a picture or clip: its ``setting``, ``nbytes``, the file ``data``
    (JPEG only; None for H.264) and the ``decoded`` uint8 RGB frames."""

    setting: int
    nbytes: int
    data: bytes | None
    decoded: list[np.ndarray]


def coder(
    frames: Sequence[np.ndarray],
    codec: str,
    *,
    encoder: str = "libjpeg-turbo",
    preset: str = "medium",
    fps: float = 30.0,
) -> Callable[[int], Coded]:
    """``code(setting) -> Coded`` for `frames`: one image as a JPEG at quality `setting`
    (:func:`jndtf.codecs.image.encode_jpeg` with `encoder`), or the frames (one image = a
    1-frame clip) as H.264 at CRF `setting` (libx264 through PyAV,
    :func:`jndtf.codecs.video.encode_h264` with `preset` and x264's plain parameters)."""
    _check_codec(codec)
    frames = list(frames)
    if codec == "jpeg":
        from jndtf.codecs.image import check_encoder, decode_image, encode_jpeg

        check_encoder(encoder)
        if len(frames) != 1:
            raise ValueError(
                f"JPEG codes one picture, got {len(frames)} frames: use --codec h264 for a clip"
            )

        def code_jpeg(q: int) -> Coded:
            data = encode_jpeg(frames[0], int(q), encoder)
            return Coded(int(q), len(data), data, [decode_image(data)])

        return code_jpeg
    from jndtf.codecs.video import check_clip, encode_h264

    check_clip(frames)

    def code_h264(crf: int) -> Coded:
        clip = encode_h264(frames, float(crf), preset=preset, fps=fps)
        return Coded(int(crf), clip.nbytes, None, list(clip.decoded))

    return code_h264


def settings_of(codec: str) -> list[int]:
    """Every setting of `codec`, gentlest first: JPEG quality 100..1, x264 CRF 0..51."""
    return list(range(100, 0, -1)) if _check_codec(codec) == "jpeg" else list(range(52))


class PjndRefused(ValueError):
    """Even the gentlest setting fails the criterion (the message says what to change)."""


@dataclass(frozen=True, eq=False)
class PjndResult:
    """The picture-level JND of one picture or clip (:func:`picture_jnd`).

    Attributes:
        codec: ``"jpeg"`` or ``"h264"``.
        chosen: the PJND encode (lowest quality / highest CRF passing).
        failed: the encode just stronger than `chosen`, which failed (None: even the
            strongest setting passes).
        default: the encode at :func:`default_setting`.
        scores: criterion value of every setting tried, in the order tried.
        criterion, threshold: what decided (``visible``: the fraction of pixels beyond
            ``strength · JND``, passing at ``<= threshold``; ``psnr``: dB, ``>= threshold``).
        strength: the map multiplier s.
        warnings: monotonicity violations among the settings tried.
    """

    codec: str
    chosen: Coded
    failed: Coded | None
    default: Coded
    scores: dict[int, float]
    criterion: str
    threshold: float
    strength: float
    warnings: tuple[str, ...] = ()

    @property
    def saving_percent(self) -> float:
        """``100 (1 - chosen bytes / default bytes)``: NOT a saving at equal quality (the
        quality of both is reported beside it)."""
        return 100.0 * (1.0 - self.chosen.nbytes / max(self.default.nbytes, 1))


def frame_criterion(
    criterion: str, jnds: Sequence[np.ndarray] | None, strength: float
) -> Callable[[Sequence[np.ndarray], Sequence[np.ndarray]], float]:
    """``f(originals, decoded) -> float`` over all frames: ``visible``, the fraction of all
    pixels whose error exceeds ``strength · JND`` (:func:`visible_fraction`, frames of one
    size so the mean of per-frame fractions); ``psnr``, the mean per-frame PSNR in dB."""
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")
    if criterion == "psnr":
        return lambda xs, ys: float(np.mean([psnr_db(x, y) for x, y in zip(xs, ys, strict=True)]))
    if jnds is None:
        raise ValueError("the visible criterion needs a JND map per frame")
    fns = [visible_fraction(j, scale=strength) for j in jnds]
    return lambda xs, ys: float(np.mean([f(x, y) for f, x, y in zip(fns, xs, ys, strict=True)]))


def exceed_map(original: np.ndarray, decoded: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """``max(|error| - limit, 0)`` per pixel, ``HxW`` float32 in grey levels: where (and by how
    much) the coding error exceeds the map, with the luma rule of :func:`visible_fraction`
    (a 1-channel `limit` against the BT.601 luma error, a 3-channel one per RGB channel, the
    largest channel kept)."""
    err = decoded.astype(np.float64) - original.astype(np.float64)
    lim = np.asarray(limit, np.float64)
    if lim.ndim == 3 and lim.shape[2] == 1:
        lim = lim[..., 0]
    if lim.ndim == 2 and err.ndim == 3:
        err = err @ np.array([0.299, 0.587, 0.114])
    over = np.maximum(np.abs(err) - lim, 0.0)
    return (over.max(axis=2) if over.ndim == 3 else over).astype(np.float32)


def picture_jnd(
    frames: Sequence[np.ndarray],
    *,
    codec: str = "jpeg",
    jnds: Sequence[np.ndarray] | None = None,
    strength: float = 1.0,
    criterion: str = "visible",
    threshold: float = 0.05,
    encoder: str = "libjpeg-turbo",
    preset: str = "medium",
    fps: float = 30.0,
    progress: Callable[[int, float], None] | None = None,
) -> PjndResult:
    """Picture-level JND of an image (one frame) or clip: the strongest setting of `codec`
    whose coding error passes the criterion, by bisection (:func:`bisect_settings`), and the
    encode at the fixed default setting to compare with.

    Criterion ``visible`` (default): the fraction of pixels (all frames) whose error exceeds
    ``strength · JND`` must stay ``<= threshold`` (0.05: 95 % of the pixels within the map;
    no subjective data here calibrates it, module docstring).
    Criterion ``psnr``: mean per-frame PSNR ``>= threshold`` dB (no map needed).

    Raises:
        PjndRefused: the gentlest setting (JPEG q100, CRF 0) already fails.
        ValueError: bad frames, maps, strength, codec or criterion.

    `progress(setting, score)` is called after each encode of the search.

    Example:
        >>> res = picture_jnd([photo], jnds=[yang2005(photo)], strength=1.0)
        >>> res.chosen.setting, res.chosen.nbytes, res.default.nbytes
    """
    frames = [np.asarray(f) for f in frames]
    for i, f in enumerate(frames):
        if f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3:
            raise ValueError(f"frame {i} must be uint8 RGB HxWx3, got {f.dtype} {f.shape}")
    if not (isinstance(strength, (int, float)) and np.isfinite(strength) and strength > 0):
        raise ValueError(f"strength must be a finite number > 0, got {strength!r}")
    if jnds is not None and len(jnds) != len(frames):
        raise ValueError(f"need one JND map per frame: {len(frames)} frames, {len(jnds)} maps")
    measure = frame_criterion(criterion, jnds, float(strength))
    higher = criterion == "psnr"
    code = coder(frames, codec, encoder=encoder, preset=preset, fps=fps)
    coded: dict[int, Coded] = {}

    def score(setting: int) -> float:
        coded[setting] = code(setting)
        value = measure(frames, coded[setting].decoded)
        if progress is not None:
            progress(setting, value)
        return value

    found = bisect_settings(
        settings_of(codec), score, _passes(threshold, higher), higher_is_better=higher
    )
    if found.best is None:
        first = settings_of(codec)[0]
        what = "quality 100" if codec == "jpeg" else "CRF 0"
        sc = found.scores[first]
        detail = (
            f"{100 * sc:.2f} % of the pixels beyond {strength:g}·JND > {100 * threshold:g} %"
            if criterion == "visible"
            else f"PSNR {sc:.2f} dB < {threshold:g} dB"
        )
        hint = "raise --strength or --max-visible" if criterion == "visible" else "lower --min-psnr"
        raise PjndRefused(f"even {what} fails the criterion ({detail}): {hint}")
    default = default_setting(codec)
    if default not in coded:
        coded[default] = code(default)
    return PjndResult(
        codec,
        coded[found.best],
        None if found.failed_at is None else coded[found.failed_at],
        coded[default],
        found.scores,
        criterion,
        float(threshold),
        float(strength),
        found.warnings,
    )
