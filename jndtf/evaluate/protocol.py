"""The objective JND comparison of the ACoL-JND paper (§4.4, Figs. 4-6) as a library function.

For every image and every JND model: the model's JND map J is injected by eq. (7),
``D = O ⊕ (λ · R · J)``, with λ solved so that every distorted image has the same PSNR (26.06 dB
in §4) and R the same ±1 matrix for every model of an image (one seed); then each IQA metric
scores the pair (O, D). At equal noise energy, a better JND model hides the noise where the
viewer does not see it, so its distorted image scores better: lower NLPD and MAD, higher VIF
(§4.4). The per-image scores and their mean over the images are the tables; the means are the
bar charts of Figs. 4-6 (:mod:`jndtf.evaluate.report`).

Models are named by strings (:func:`resolve_models`): a classical baseline
(:mod:`jndtf.baselines`), ``uniform`` (a constant map: plain ±noise with no JND shaping, the
control every JND model should beat), a learned model (:mod:`jndtf.evaluate.learned`: registered
name with shipped weights, ``.keras`` path or ``SPEC:PATH``), each optionally ``LABEL=...``. A
network that outputs an image (hmJND-Net's redundancy-removed I_rr) enters with the map
``|I - I_rr|``; at ``mse=100`` the injection is hmJND-Net's eq. (13) protocol (MS-SSIM of the
contaminated image), e.g. ``models=("hmjnd", "acol", "wu2017", "yang2005", "uniform")``.

Conventions: the injected image is rounded to uint8 (what a saved image holds, ``quantize``),
and both images reach the metrics as uint8 NHWC RGB batches, so each metric converts to grey as
its MATLAB original does on 8-bit files (``rgb2gray`` rounds on uint8; see each metric's
docstring in :mod:`jndtf.iqa`). The achieved PSNR of every injected image is checked against the
target (within ``tol_db``, 0.01 dB) before any metric runs.

Example:
    >>> report = evaluate_jnd(EvalSettings(models=("wu2017", "uniform"), metrics=("ssim",)))
    >>> report.ranking("ssim")        # best first
    ['wu2017', 'uniform']
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jndtf.apply.inject import PAPER_PSNR, InjectionError, inject, psnr_from_mse
from jndtf.evaluate.models import (
    UNIFORM,
    EvalError,
    ModelEntry,
    known_models,
    resolve_models,
    uniform_jnd,
)
from jndtf.io import iter_images, load_image

#: ``progress(description, done, total)``, as :func:`jndtf.demo.run_demo`'s.
Progress = Callable[[str, int, int], None]


#: §4.4's metrics (NLPD, MAD, VIF) plus MS-SSIM and SSIM. Conventions: NLPD, MAD, VIF, MS-SSIM
#: and SSIM score the MATLAB ``rgb2gray`` images, as their authors' code; ``mad_rgb`` is MAD as
#: IQA-PyTorch (the papers' tables) computes it, the mean over R, G, B, which also sees changes
#: of colour. The report states each metric's convention (``report.metric_convention``).
DEFAULT_METRICS = ("nlpd", "mad", "vif", "ms_ssim", "ssim")

#: Metrics no loss in jndtf contains (not differentiable; numpy, :mod:`jndtf.codecs.quality`):
#: the yardstick for a learned model that was trained on the IQA metrics above. Higher is better.
OUTSIDE_METRICS = {
    "ssimulacra2": "RGB: XYB colour space, 6 scales (Cloudinary/libjxl; `ssimulacra2` package)",
}

#: Largest batch of distorted images scored by one metric call (memory bound for big images).
METRIC_BATCH = 8


@dataclass(frozen=True)
class EvalSettings:
    """Settings of :func:`evaluate_jnd` (the options of ``jndtf eval jnd``).

    Attributes:
        out_dir: folder for the tables, charts and report (None: write nothing).
        data: folder of test images (not recursive; CSIQ's reference images in the paper);
            None: the five bundled sample photos (:func:`jndtf.samples.sample_images`).
        models: model references (module docstring; hmJND-Net too, its map ``|I - I_rr|``);
            empty: every classical baseline and ``uniform``.
        metrics: IQA metric names of :mod:`jndtf.iqa`.
        psnr: target PSNR in dB of every distorted image (§4: 26.06); None when `mse` is given.
        mse: target MSE in squared 0..255 units instead (hmJND's protocol uses 100).
        seed: seed of the ±1 matrix R (the same R for every model of an image).
        signs: ``"per_channel"`` or ``"shared"`` signs of R (:func:`jndtf.apply.inject`).
        quantize: round the injected image to uint8 as a saved image (default).
        tol_db: largest accepted distance in dB between any image's PSNR and the target.
        save_images: also write each JND map and injected image under ``out_dir/images``.
    """

    out_dir: Path | None = Path("out/eval")
    data: Path | None = None
    models: tuple[str, ...] = ()
    metrics: tuple[str, ...] = DEFAULT_METRICS
    psnr: float | None = PAPER_PSNR
    mse: float | None = None
    seed: int = 0
    signs: str = "per_channel"
    quantize: bool = True
    tol_db: float = 0.01
    save_images: bool = False

    @property
    def target_psnr(self) -> float:
        """The target as PSNR in dB (converted from `mse` when that is the target)."""
        return float(self.psnr) if self.psnr is not None else psnr_from_mse(float(self.mse))


@dataclass(frozen=True)
class EvalRecord:
    """One image distorted with one model's JND map, and its scores.

    Attributes:
        image: image name (file stem or sample name).
        model: model label.
        psnr: achieved PSNR of the distorted image in dB.
        mse: achieved MSE in squared 0..255 units.
        scale: λ of eq. (7).
        mean_jnd: mean of the JND map, pixel units.
        seconds: time to compute the JND map.
        scores: metric name -> score of (original, distorted).
    """

    image: str
    model: str
    psnr: float
    mse: float
    scale: float
    mean_jnd: float
    seconds: float
    scores: Mapping[str, float]


@dataclass
class EvalReport:
    """What :func:`evaluate_jnd` measured: per-image records, means and rankings.

    Attributes:
        settings: the settings of the run.
        images: image names, in order.
        models: model labels, in order.
        metrics: metric names, in order.
        higher_is_better: metric name -> direction (from :func:`jndtf.iqa.info`).
        records: one :class:`EvalRecord` per image and model (image-major).
        seconds: wall time of the run.
        files: what was written, by kind (filled by :func:`jndtf.evaluate.report.write_report`).
        model_notes: model label -> how its map is made (e.g. ``|I - I_rr|`` of hmJND-Net).
    """

    settings: EvalSettings
    images: tuple[str, ...]
    models: tuple[str, ...]
    metrics: tuple[str, ...]
    higher_is_better: Mapping[str, bool]
    records: tuple[EvalRecord, ...]
    seconds: float = 0.0
    files: dict[str, Path] = field(default_factory=dict)
    model_notes: Mapping[str, str] = field(default_factory=dict)

    def record(self, image: str, model: str) -> EvalRecord:
        """The record of one image and model (KeyError if there is none)."""
        for r in self.records:
            if r.image == image and r.model == model:
                return r
        raise KeyError(f"no record for image {image!r} and model {model!r}")

    def values(self, model: str, metric: str) -> list[float]:
        """Per-image scores of one model and metric, in image order (``"psnr_db"``: the achieved
        injection PSNR)."""
        if metric != "psnr_db" and metric not in self.metrics:
            raise KeyError(f"unknown metric {metric!r}; this report has {list(self.metrics)}")
        if model not in self.models:
            raise KeyError(f"unknown model {model!r}; this report has {list(self.models)}")
        rows = [r for r in self.records if r.model == model]
        return [r.psnr if metric == "psnr_db" else r.scores[metric] for r in rows]

    def average(self, model: str, metric: str) -> float:
        """Mean over the images of one model's score (the bars of Figs. 4-6)."""
        return float(np.mean(self.values(model, metric)))

    def averages(self) -> dict[str, dict[str, float]]:
        """model -> metric -> mean score, plus ``"psnr_db"`` (achieved injection PSNR)."""
        return {m: {k: self.average(m, k) for k in ("psnr_db", *self.metrics)} for m in self.models}

    def ranking(self, metric: str) -> list[str]:
        """Model labels ordered best first by mean score, in the metric's direction (§4.4: NLPD
        and MAD lower is better, VIF higher); ties keep the model order."""
        higher = True if metric == "psnr_db" else self.higher_is_better[metric]
        means = {m: self.average(m, metric) for m in self.models}
        return sorted(self.models, key=lambda m: -means[m] if higher else means[m])

    def max_psnr_error_db(self) -> float:
        """Largest distance in dB between an injected image's PSNR and the target."""
        target = self.settings.target_psnr
        return max(abs(r.psnr - target) for r in self.records)


def resolve_metrics(names: tuple[str, ...] | list[str]) -> dict[str, tuple[Callable, bool]]:
    """Metric name -> (score function, higher_is_better); KeyError lists the available ones."""
    from jndtf import iqa

    if isinstance(names, str):
        raise EvalError(f"metrics must be a sequence of names, got the string {names!r}")
    names = list(names)
    if not names:
        raise EvalError(f"give at least one metric; available: {', '.join(iqa.available())}")
    if len(set(names)) != len(names):
        raise EvalError(f"metrics repeat a name: {names}")
    out = {}
    for name in names:
        if name in OUTSIDE_METRICS:
            out[name] = (_outside_metric(name), True)
            continue
        if name not in iqa.available():
            raise KeyError(
                f"unknown or unavailable IQA metric {name!r}; available: "
                f"{', '.join([*iqa.available(), *OUTSIDE_METRICS])}"
            )
        out[name] = (iqa.get(name), bool(iqa.info(name).higher_is_better))
    return out


def check_settings(settings: EvalSettings) -> None:
    """Validates the plain fields (target, seed, data folder); raises EvalError or
    FileNotFoundError naming the problem."""
    s = settings
    if (s.psnr is None) == (s.mse is None):
        raise EvalError(
            f"give exactly one target, psnr or mse (got psnr={s.psnr}, mse={s.mse}); "
            "set psnr=None to use an MSE target"
        )
    if s.psnr is not None and not (math.isfinite(s.psnr) and 5.0 <= s.psnr <= 80.0):
        raise EvalError(f"psnr {s.psnr} dB is outside the sensible 5..80 dB range")
    if s.mse is not None and not (math.isfinite(s.mse) and s.mse > 0):
        raise EvalError(f"mse must be a finite number > 0, got {s.mse}")
    if isinstance(s.seed, bool) or not isinstance(s.seed, int) or s.seed < 0:
        raise EvalError(f"seed must be a non-negative integer, got {s.seed!r}")
    if s.signs not in ("per_channel", "shared"):
        raise EvalError(f"signs must be 'per_channel' or 'shared', got {s.signs!r}")
    if not (isinstance(s.tol_db, (int, float)) and 0 < s.tol_db <= 1):
        raise EvalError(f"tol_db must be in (0, 1] dB, got {s.tol_db!r}")
    if s.data is not None and not Path(s.data).is_dir():
        raise FileNotFoundError(f"{s.data}: no such folder")


def load_images(settings: EvalSettings) -> dict[str, np.ndarray]:
    """The test images as uint8 RGB, by name: the files of `settings.data` or the samples."""
    if settings.data is None:
        from jndtf.samples import sample_images

        return sample_images()
    images = {p.stem: load_image(p) for p in iter_images(settings.data)}
    if not images:
        raise EvalError(f"{settings.data}: folder holds no images (looked for .png, .jpg, ...)")
    return images


def _outside_metric(name: str) -> Callable:
    """An :data:`OUTSIDE_METRICS` scorer with the IQA metrics' signature (NHWC batches -> (N,))."""
    from jndtf.codecs.quality import measure

    def score(ref, batch, data_range=255.0):
        del data_range  # the outside metrics take uint8 RGB
        return np.array(
            [
                measure(np.asarray(r, np.uint8), np.asarray(d, np.uint8), (name,))[name]
                for r, d in zip(ref, batch, strict=True)
            ]
        )

    return score


def _score(name: str, fn: Callable, image: str, x: np.ndarray, ys: list[np.ndarray]) -> list[float]:
    from keras import ops

    out: list[float] = []
    for start in range(0, len(ys), METRIC_BATCH):
        batch = np.stack(ys[start : start + METRIC_BATCH])
        ref = np.broadcast_to(x[None], batch.shape)
        try:
            s = np.asarray(ops.convert_to_numpy(fn(ref, batch, data_range=255.0)), np.float64)
        except (ValueError, TypeError) as err:
            raise EvalError(
                f"metric {name!r} failed on image {image!r} ({x.shape[0]}x{x.shape[1]}): {err}"
            ) from err
        out += [float(v) for v in s.reshape(-1)]
    return out


def evaluate_jnd(settings: EvalSettings, progress: Progress | None = None) -> EvalReport:
    """Runs the objective comparison of §4.4 of the ACoL-JND paper and writes its report.

    For each image O and model: J = model(O); D = clip(O + λ R J) rounded to uint8 with λ
    solved for the target PSNR (eq. (7), :func:`jndtf.apply.inject`, the same seed for all
    models); every metric on (O, D). Everything is validated before the first image is
    processed: settings, metric names, model names (learned models are loaded then).

    Args:
        settings: :class:`EvalSettings`.
        progress: ``progress(description, done, total)`` called before each step.

    Returns:
        :class:`EvalReport`; with ``settings.out_dir`` set, its tables, charts and report are
        written there (:func:`jndtf.evaluate.report.write_report`) and listed in ``files``.

    Raises:
        KeyError: an unknown model or metric (the message lists the known ones).
        FileNotFoundError: a missing data folder or model file.
        EvalError: bad settings; an image whose target cannot be met (named with the model);
            a metric that fails on an image; an injected PSNR off the target by more than
            ``tol_db``.

    Example:
        >>> rep = evaluate_jnd(EvalSettings(models=("wu2017", "yang2005", "uniform")))
        >>> rep.ranking("nlpd")[0]
        'wu2017'
    """
    t_start = time.perf_counter()
    report = progress or (lambda *_: None)
    check_settings(settings)
    metrics = resolve_metrics(settings.metrics)
    models = resolve_models(settings.models)
    images = load_images(settings)
    target = {"psnr": settings.psnr} if settings.psnr is not None else {"mse": settings.mse}
    target_psnr = settings.target_psnr

    records: list[EvalRecord] = []
    total = len(images) * (len(models) + 1)
    done = 0
    for name, image in images.items():
        injected, partial = [], []
        for entry in models:
            report(f"{name}: {entry.label}", done, total)
            t0 = time.perf_counter()
            jnd = np.asarray(entry.fn(image), np.float32)
            seconds = time.perf_counter() - t0
            try:
                res = inject(
                    image,
                    jnd,
                    **target,
                    seed=settings.seed,
                    signs=settings.signs,
                    quantize=settings.quantize,
                    tol_db=settings.tol_db,
                )
            except InjectionError as err:
                raise EvalError(f"image {name!r}, model {entry.label!r}: {err}") from err
            if abs(res.psnr - target_psnr) > settings.tol_db:
                raise EvalError(
                    f"image {name!r}, model {entry.label!r}: injected PSNR {res.psnr:.4f} dB is "
                    f"{abs(res.psnr - target_psnr):.4f} dB from the target {target_psnr:.4f} dB "
                    f"(tolerance {settings.tol_db} dB)"
                )
            if settings.save_images and settings.out_dir is not None:
                _save_pair(Path(settings.out_dir) / "images" / name, entry.label, jnd, res.image)
            injected.append(res.image)
            partial.append((entry.label, res, float(jnd.mean()), seconds))
            done += 1
        report(f"{name}: metrics", done, total)
        scores = {m: _score(m, fn, name, image, injected) for m, (fn, _) in metrics.items()}
        for i, (label, res, mean_jnd, seconds) in enumerate(partial):
            records.append(
                EvalRecord(
                    image=name,
                    model=label,
                    psnr=float(res.psnr),
                    mse=float(res.mse),
                    scale=float(res.scale),
                    mean_jnd=mean_jnd,
                    seconds=seconds,
                    scores={m: scores[m][i] for m in metrics},
                )
            )
        done += 1
    report("done", total, total)
    result = EvalReport(
        settings=settings,
        images=tuple(images),
        models=tuple(e.label for e in models),
        metrics=tuple(metrics),
        higher_is_better={m: hib for m, (_, hib) in metrics.items()},
        records=tuple(records),
        model_notes={e.label: e.note for e in models},
    )
    result.seconds = time.perf_counter() - t_start
    if settings.out_dir is not None:
        from jndtf.evaluate.report import write_report

        write_report(result, Path(settings.out_dir))
    return result


def _save_pair(folder: Path, label: str, jnd: np.ndarray, injected: np.ndarray) -> None:
    from jndtf.io import save_image
    from jndtf.jobs import write_map

    write_map(folder, f"jnd_{label}", jnd)
    save_image(folder / f"injected_{label}.png", injected)


__all__ = [
    "DEFAULT_METRICS",
    "OUTSIDE_METRICS",
    "PAPER_PSNR",
    "UNIFORM",
    "EvalError",
    "EvalRecord",
    "EvalReport",
    "EvalSettings",
    "ModelEntry",
    "Progress",
    "check_settings",
    "evaluate_jnd",
    "known_models",
    "load_images",
    "resolve_metrics",
    "resolve_models",
    "uniform_jnd",
]
