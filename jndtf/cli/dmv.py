"""`jndtf dmv IMAGES -o OUT` and `jndtf eval dmv --data PATH -o OUT` (DMV-JND, issue #11).

Thin commands over :mod:`jndtf.evaluate.dmv`: each fills its frozen settings dataclass
(:class:`~jndtf.evaluate.dmv.DmvSettings`, :class:`~jndtf.evaluate.dmv.DmvEvalSettings`) and
calls one library function. `eval dmv` attaches to the `jndtf eval` group of
:mod:`jndtf.cli.evaluate`.
"""

from __future__ import annotations

import math

from jndtf.cli._settings import settings_command
from jndtf.cli._shared import (
    app,
    err,
    progress_bar,
    require_training,
    stdout,
    stepper,
    user_errors,
)
from jndtf.cli.evaluate import eval_app
from jndtf.evaluate.dmv import DmvEvalSettings, DmvSettings


def _pct(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{100 * v:6.2f} %"


@settings_command(app, "dmv", DmvSettings)
def dmv(settings: DmvSettings) -> None:
    """DMV-JND of each image (Jin et al., TCSVT 2022): writes x̂ = round(clip(x + e)) as a
    lossless PNG at OUT/<relative path>/<stem>.png, e beside it as <stem>_e.npy (float32,
    signed pixel units), labels.csv (each classifier's label before, after, after the uint8
    rounding), rca.csv (RCA of the float x̂ and of the PNG: what the rounding costs) and
    summary.json. Without --dmv/--classifiers the shipped models (jndtf/weights/dmv) are
    used. Images that are not 32x32 are resized (INTER_AREA) unless --no-resize; nothing is
    written when an input or a model is unusable."""
    from jndtf.evaluate.dmv import run_dmv

    with user_errors():
        require_training()
    with progress_bar() as bar:
        step = stepper(bar, bar.add_task("dmv", total=None))
        with user_errors():
            result = run_dmv(settings, progress=step)
    if result.resized:
        err.print(
            f"note: {result.resized} of {result.images} images were not 32x32 and were "
            "resized to 32x32 (INTER_AREA); the outputs are 32x32",
            highlight=False,
        )
    stdout.print("RCA (eq. 16) of x̂ vs x, float x̂ -> uint8 PNG:", highlight=False)
    for name in result.rca:
        a, b = result.rca[name], result.rca_uint8[name]
        stdout.print(
            f"  {name:<9} {_pct(a)} -> {_pct(b)}  ({100 * (b - a):+.2f} points)", highlight=False
        )
    flips = sum(result.rounding_flips.values())
    stdout.print(
        f"rounding x̂ to uint8 (largest change {result.max_rounding_error:.2f} grey levels) "
        f"changed {flips} of {result.images * len(result.rca)} labels (images x classifiers)",
        highlight=False,
    )
    stdout.print(
        f"mean PSNR of x̂ vs x: {result.psnr_db:.2f} dB (PNG {result.psnr_uint8_db:.2f} dB)",
        highlight=False,
    )
    stdout.print(
        f"wrote {result.images} images, labels.csv, rca.csv, summary.json under {settings.out_dir}",
        highlight=False,
    )


@settings_command(eval_app, "dmv", DmvEvalSettings)
def eval_dmv(settings: DmvEvalSettings) -> None:
    """The DMV-JND paper's protocol on the validation split (the training's stratified split,
    so no training image is scored): RCA per classifier and mean (eqs. 16-17), mean PSNR of x̂
    vs x, the WGN test (noise of the same energy as e, per image), the homogeneous test
    (e·8/9 ... e·1/9) and RCA on an --unseen fifth classifier. Writes rca.csv/.md,
    homogeneous.csv/.md, labels.csv, summary.json, report.md and plots/*.png; with the
    training's dmv.json (--history, or found beside --dmv) also history.csv/.md and the
    per-epoch loss, RCA and PSNR plots. Without --dmv/--classifiers/--unseen the shipped
    models (jndtf/weights/dmv) are used."""
    from jndtf.evaluate.dmv import evaluate_dmv

    with user_errors():
        require_training()
    with progress_bar() as bar:
        step = stepper(bar, bar.add_task("eval dmv", total=None))
        with user_errors():
            summary = evaluate_dmv(settings, progress=step)
    stdout.print(
        f"{summary['validation_images']} validation images: mean RCA "
        f"{_pct(summary['mean_rca'])} (uint8 {_pct(summary['mean_rca_uint8'])}), "
        f"WGN {_pct(summary['mean_rca_wgn'])}, mean PSNR {summary['mean_psnr_db']:.2f} dB",
        highlight=False,
    )
    if summary["unseen_rca"] is not None:
        stdout.print(f"unseen classifier RCA {_pct(summary['unseen_rca'])}", highlight=False)
    if summary["models"]["history"] is None:
        stdout.print(
            "no training history (dmv.json) found beside --dmv: per-epoch plots skipped "
            "(give --history RUN/dmv.json)",
            highlight=False,
        )
    stdout.print(f"wrote {settings.out_dir}/report.md", highlight=False)
