"""The main job end to end on the shipped sample photos (README command 1).

For every image: all prior maps -> every JND model's map -> eq. (7) injection at one PSNR ->
a side-by-side picture (original | JND map | injected). A summary table gives, per model, the mean
JND, the time per megapixel and the PSNR reached, so models are compared at equal noise energy.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jndtf.apply.inject import PAPER_PSNR
from jndtf.io import atomic_write_bytes, iter_images, load_image, save_image
from jndtf.render import colourize, scale_of, with_colour_bar
from jndtf.settings import option

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DemoSettings:
    """Settings of :func:`run_demo` (the CLI's `jndtf demo` options)."""

    out_dir: Path = Path("out/demo")
    data: Path | None = None  # None: the shipped sample photos
    psnr: float = PAPER_PSNR  # the ACoL-JND paper's operating point
    models: tuple[str, ...] = ()  # empty: every registered model
    seed: int = 0
    deploy: bool = True  # int8 export + edge stream on the synthesized clip (jndtf.demo_deploy)
    dmv: bool = option(
        "--dmv/--no-dmv",
        default=True,
        help="Also run the shipped DMV-JND (machine vision) on 32x32 versions of the images "
        "(OUT/dmv; needs the train extra and the shipped weights, skipped with a note "
        "otherwise).",
    )


@dataclass
class ModelRow:
    """Accumulated results of one model over the images."""

    model: str
    mean_jnd: list[float] = field(default_factory=list)
    seconds_per_mpx: list[float] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)


@dataclass
class DemoSummary:
    """What the demo measured; `markdown()` is the table printed at the end."""

    out_dir: Path
    images: list[str]
    target_psnr: float
    priors_seconds_per_mpx: float
    rows: list[ModelRow]
    deploy: str = ""  # the deployment half's markdown, or why it was skipped
    dmv: str = ""  # the DMV-JND example's markdown (jndtf.demo_dmv), or why it was skipped

    def table(self) -> list[dict]:
        return [
            {
                "model": r.model,
                "mean_jnd": round(float(np.mean(r.mean_jnd)), 3),
                "seconds_per_megapixel": round(float(np.mean(r.seconds_per_mpx)), 3),
                "psnr_mean_db": round(float(np.mean(r.psnr)), 3),
                "psnr_max_error_db": round(
                    float(np.max(np.abs(np.array(r.psnr) - self.target_psnr))), 4
                ),
            }
            for r in self.rows
        ]

    def markdown(self) -> str:
        rows = self.table()
        head = list(rows[0])
        lines = [
            f"{len(self.images)} images, injection target {self.target_psnr} dB; "
            f"priors: {self.priors_seconds_per_mpx:.3f} s per megapixel",
            "",
            "| " + " | ".join(HEADERS.get(k, k) for k in head) + " |",
            "|" + "---|" * len(head),
        ]
        lines += ["| " + " | ".join(str(r[k]) for k in head) + " |" for r in rows]
        if self.deploy:
            lines += ["", self.deploy]
        if self.dmv:
            lines += ["", self.dmv]
        return "\n".join(lines)


#: summary.md's column titles, with units (summary.csv keeps the short keys)
HEADERS = {
    "model": "model",
    "mean_jnd": "mean JND (grey levels)",
    "seconds_per_megapixel": "time (s per megapixel)",
    "psnr_mean_db": "PSNR after eq. (7) injection (dB)",
    "psnr_max_error_db": "largest PSNR miss vs target (dB)",
}


def default_models() -> list[str]:
    """Every classical model, then the learned models jndtf ships weights for (ACoL-JND), when
    the [train] extra is installed to run them."""
    import importlib.util

    from jndtf import baselines

    models = baselines.available()
    if importlib.util.find_spec("keras") is not None:
        from jndtf.refs import known_models

        models += known_models("keras")["shipped"]
    return models


def check(settings: DemoSettings) -> None:
    """Validates the settings before any work starts (unknown model, missing data folder)."""
    from jndtf.jobs import jnd_function

    for m in settings.models:
        jnd_function(m)
    if settings.data is not None and not settings.data.is_dir():
        raise FileNotFoundError(f"{settings.data}: no such folder")
    if not 5.0 <= settings.psnr <= 80.0:
        raise ValueError(f"--psnr {settings.psnr} is outside the sensible 5..80 dB range")


def _images(settings: DemoSettings) -> dict[str, np.ndarray]:
    if settings.data is None:
        from jndtf.samples import sample_images

        return sample_images()
    images = {p.stem: load_image(p) for p in iter_images(settings.data)}
    if not images:
        raise ValueError(f"{settings.data}: folder holds no images")
    return images


def side_by_side(original: np.ndarray, jnd: np.ndarray, injected: np.ndarray) -> np.ndarray:
    """original | JND map | injected, above the map's colour bar (:mod:`jndtf.render`: inferno,
    0 to the map's 99.5th percentile in grey levels; an RGB map is shown as its channel mean)."""
    scale = scale_of(jnd)
    heat = colourize(jnd, scale.vmax)
    gap = np.full((original.shape[0], 8, 3), 255, np.uint8)
    panels = np.concatenate([original, gap, heat, gap, injected], axis=1)
    return with_colour_bar(panels, scale, units="grey levels", label="JND of the middle panel")


def run_demo(settings: DemoSettings, progress: Progress | None = None) -> DemoSummary:
    """Runs the demo and writes OUT/<image>/..., OUT/summary.md and OUT/summary.csv."""
    from jndtf import priors
    from jndtf.apply import inject
    from jndtf.jobs import jnd_function, write_map

    check(settings)
    report = progress or (lambda *_: None)
    models = list(settings.models) or default_models()
    images = _images(settings)
    rows = {m: ModelRow(m) for m in models}
    prior_rates = []
    total, done = len(images) * (1 + len(models)), 0
    for name, image in images.items():
        out = settings.out_dir / name
        mpx = image.shape[0] * image.shape[1] / 1e6
        report(f"{name}: priors", done, total)
        t0 = time.perf_counter()
        maps = priors.compute_all(image)
        prior_rates.append((time.perf_counter() - t0) / mpx)
        for prior, value in maps.items():
            write_map(out / "priors", prior, value)
        done += 1
        for model in models:
            report(f"{name}: {model}", done, total)
            t0 = time.perf_counter()
            jnd = np.asarray(jnd_function(model)(image), np.float32)
            seconds = time.perf_counter() - t0
            res = inject(image, jnd, psnr=settings.psnr, seed=settings.seed)
            write_map(out, f"jnd_{model}", jnd)
            save_image(out / f"injected_{model}.png", res.image)
            save_image(out / f"side_by_side_{model}.png", side_by_side(image, jnd, res.image))
            row = rows[model]
            row.mean_jnd.append(float(jnd.mean()))
            row.seconds_per_mpx.append(seconds / mpx)
            row.psnr.append(float(res.psnr))
            done += 1
    summary = DemoSummary(
        settings.out_dir,
        list(images),
        settings.psnr,
        float(np.mean(prior_rates)),
        list(rows.values()),
        _deploy(settings, report),
        _dmv(settings, images, report),
    )
    report("done", total, total)
    _write_tables(summary)
    return summary


def _deploy(settings: DemoSettings, report: Progress) -> str:
    """Runs :mod:`jndtf.demo_deploy` when asked and possible; its markdown or why it was skipped."""
    from jndtf import demo_deploy

    if not settings.deploy:
        return ""
    missing = demo_deploy.missing_extras()
    if missing:
        return (
            "Deployment (int8 export -> edge stream) skipped: it needs "
            f'pip install "jndtf[{",".join(missing)}]"'
        )
    summary = demo_deploy.run_deploy(settings.out_dir / "deploy", report, seed=settings.seed)
    return summary.markdown()


def _dmv(settings: DemoSettings, images: dict[str, np.ndarray], report: Progress) -> str:
    """Runs :mod:`jndtf.demo_dmv` when asked and possible; its markdown or why it was skipped."""
    from jndtf import demo_dmv

    if not settings.dmv:
        return ""
    why = demo_dmv.skip_reason()
    if why is not None:
        return f"DMV-JND example (machine vision) skipped: {why}"
    return demo_dmv.run_dmv_example(images, settings.out_dir / "dmv", report).markdown()


def _write_tables(summary: DemoSummary) -> None:
    table = summary.table()
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(table[0]))
    writer.writeheader()
    writer.writerows(table)
    atomic_write_bytes(summary.out_dir / "summary.csv", buf.getvalue().encode())
    atomic_write_bytes(summary.out_dir / "summary.md", (summary.markdown() + "\n").encode())
