"""`jndtf calibrate MODEL --data DIR`: the strength s at which a model's eq. (7) noise reaches
the edge of visibility by an outside proxy (issue 13, point 2; :mod:`jndtf.apply.calibrate`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jndtf.cli._settings import option, settings_command
from jndtf.cli._shared import app, command_line, progress_bar, stdout, stepper, user_errors
from jndtf.settings import size_option

#: The centre crop of every photo by default (SSIMULACRA2 costs ~0.15 s per 512x384 pair).
DEFAULT_CROP = (512, 384)


@dataclass(frozen=True)
class CalibrateSettings:
    """`jndtf calibrate`'s settings: each default and help written once, here; `crop` is
    ``(width, height)``."""

    model: str = option(
        argument=True,
        show_default=False,
        help="JND model: a classical name (yang2005, wu2017, ...), a shipped or registered "
        "name (acol), a .keras file, or an exported .tflite (calibrated as exported).",
    )
    data: Path = option(
        "--data",
        show_default=False,
        help="Folder (or file) of held-out photos: none the model was trained or tuned on.",
    )
    crop: tuple[int, int] | None = size_option(
        "--crop",
        default=DEFAULT_CROP,
        help="Centre crop WIDTHxHEIGHT of every photo (never a resize; keeps SSIMULACRA2 fast).",
    )
    proxy: str = option(
        "--proxy",
        default="ssimulacra2",
        help="Outside proxy: ssimulacra2, cvvdp (if the cvvdp package is installed), or psnr "
        "(not a visibility model: for checks).",
    )
    target: float | None = option(
        "--target",
        default=None,
        show_default="90 for ssimulacra2, 9.5 (JOD) for cvvdp",
        help="Proxy value at the edge of visibility.",
    )
    seed: int = option("--seed", default=0, min=0, help="Seed of the ±1 noise pattern R.")
    s_min: float = option("--s-min", default=0.01, help="Smallest strength searched.")
    s_max: float = option("--s-max", default=8.0, help="Largest strength searched.")
    tol: float = option(
        "--tol", default=0.25, min=0, help="Stop within this much of the target (proxy units)."
    )
    record: bool = option(
        "--record/--no-record",
        default=False,
        help="Record the result: into calibration.json (names) or the .tflite's manifest.",
    )
    out: Path | None = option(
        "--out", "-o", default=None, show_default=False, help="Also write the record as JSON."
    )

    def __post_init__(self):
        if not 0 < self.s_min < self.s_max:
            raise ValueError(
                f"need 0 < --s-min < --s-max, got --s-min {self.s_min:g} --s-max {self.s_max:g}"
            )


def _images(data: Path, crop):
    """(names, sha256 of the files, cropped uint8 RGB images) of `data`."""
    from jndtf.io import file_sha256, load_image
    from jndtf.jobs import resolve_inputs
    from jndtf.rd.inputs import centre_crop

    files = resolve_inputs(data)
    return (
        [f.stem for f in files],
        [file_sha256(f) for f in files],
        [centre_crop(load_image(f), crop) for f in files],
    )


def _jnd_source(model: str):
    """``fn(image) -> JND map``: an exported .tflite through the edge runtime (as deployed),
    anything else through :func:`jndtf.jobs.compute_jnd`."""
    if Path(model).suffix.lower() == ".tflite":
        from jndtf.edge import JndMapper

        mapper = JndMapper.create_from_model_path(model)
        return lambda image: mapper.process(image).jnd
    from jndtf.jobs import compute_jnd

    return lambda image: compute_jnd(image, model)


@settings_command(app, "calibrate", CalibrateSettings)
def calibrate(settings: CalibrateSettings) -> None:
    """Calibrate a JND model's strength: per held-out photo, the s at which eq. (7) noise
    clip(x + s·R·JND) reaches the proxy's target (SSIMULACRA2 90 by default), found by
    bisection with a fixed noise pattern; the median is the calibrated s that
    `--strength auto` uses (jndtf compress, jndtf eval rd) once recorded with --record."""
    with user_errors():
        from jndtf.apply import calibrate as cal
        from jndtf.io import atomic_write_json

        cal.check_proxy(settings.proxy)
        target = settings.target
        if target is None:
            target = cal.default_target(settings.proxy)
        is_file = cal.is_model_file(cal.model_key(settings.model))
        if settings.record and is_file and Path(settings.model).suffix.lower() != ".tflite":
            raise ValueError(
                f"--record: {settings.model} is not an exported .tflite; record a name "
                "(calibration.json) or an exported model (its manifest), or use --out"
            )
        names, shas, images = _images(settings.data, settings.crop)
        jnd_of = _jnd_source(settings.model)
    with progress_bar() as bar:
        step = stepper(bar, bar.add_task("calibrate", total=2 * len(images)))
        with user_errors():
            jnds = []
            for i, (name, image) in enumerate(zip(names, images, strict=True)):
                step(f"{name}: JND map ({settings.model})", i, 2 * len(images))
                jnds.append(jnd_of(image))

            def progress(description: str, done: int, total: int) -> None:
                step(description, len(images) + done, 2 * len(images))

            result = cal.calibrate(
                images,
                jnds,
                names=names,
                sha256s=shas,
                proxy=settings.proxy,
                target=target,
                seed=settings.seed,
                s_min=settings.s_min,
                s_max=settings.s_max,
                tol=settings.tol,
                progress=progress,
            )
    with user_errors():
        crop = list(settings.crop) if settings.crop else None
        result = result.with_info(
            model=cal.model_key(settings.model),
            command=command_line(),
            model_sha256=cal.model_file_sha256(cal.model_key(settings.model))
            if not is_file
            else "",
            crop=crop,
            data=str(settings.data),
        )
        record = result.to_record()
        for p in result.per_image:
            flag = "" if p.monotone else "  (proxy not monotone in s here)"
            stdout.print(
                f"  {p.name:<16} s = {p.s:.4f}  {result.proxy} {p.value:.2f}  "
                f"({p.evaluations} evaluations){flag}",
                highlight=False,
            )
        lo, hi = result.spread
        stdout.print(
            f"{result.model}: calibrated s = {result.s:.4f} (median of {len(images)} photos, "
            f"{lo:.4f}..{hi:.4f}) at {result.proxy} = {result.target:g}",
            highlight=False,
        )
        if settings.out is not None:
            atomic_write_json(settings.out, record)
            stdout.print(f"wrote {settings.out}", highlight=False)
        if settings.record:
            if is_file:
                from jndtf.manifest import write_calibration

                where = write_calibration(settings.model, record)
            else:
                where = cal.record_calibration(settings.model, record)
            stdout.print(
                f"recorded in {where}: --strength auto now means {result.s:.4f}", highlight=False
            )
