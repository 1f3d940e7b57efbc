"""`jndtf eval rd`: rate-quality sweeps and BD-rate against real encoders (issue 13)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jndtf.cli._shared import command_line, progress_bar, stdout, stepper, user_errors
from jndtf.cli.evaluate import eval_app


def parse_range(text: str, option: str, kind: type = int) -> list:
    """``"30:95:5"`` (start:stop:step, stop included) or ``"30,50,70"`` -> a list of numbers.

    Raises:
        ValueError: neither form, or an empty range (the message names `option`).
    """
    text = str(text).strip()
    try:
        if ":" in text:
            parts = [kind(p) for p in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            start, stop = parts[0], parts[1]
            step = parts[2] if len(parts) == 3 else kind(1)
            if step <= 0 or stop < start:
                raise ValueError
            values, v = [], start
            while v <= stop + (1e-9 if kind is float else 0):
                values.append(v)
                v = v + step
            return values
        values = [kind(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ValueError(
            f"{option} {text!r} is not START:STOP:STEP or a comma-separated list "
            f"(e.g. 30:95:5 or 30,50,70)"
        ) from None
    if not values:
        raise ValueError(f"{option} is empty")
    return values


def parse_windows(text: str) -> dict[str, tuple[float, float]]:
    """``"ssimulacra2=60:90,psnr=30:40"`` -> ``{"ssimulacra2": (60.0, 90.0), ...}``."""
    out = {}
    for part in _names(text):
        name, _, rng = part.partition("=")
        lo, _, hi = rng.partition(":")
        try:
            out[name.strip()] = (float(lo), float(hi))
        except ValueError:
            raise ValueError(
                f"--bd-window {part!r} is not METRIC=LO:HI (e.g. ssimulacra2=60:90)"
            ) from None
    return out


DEFAULT_WINDOW = "ssimulacra2=60:90"


def _windows(text: str, metrics: list[str]) -> dict[str, tuple[float, float]]:
    windows = parse_windows(text)
    if text == DEFAULT_WINDOW:  # the default applies only when SSIMULACRA2 is measured
        windows = {k: v for k, v in windows.items() if k in metrics}
    return windows


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


@eval_app.command("rd")
def eval_rd(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="Images, video files or folders of them.", show_default=False),
    ],
    jnd: Annotated[
        str,
        typer.Option("--jnd", help="JND model for the methods (yang2005, wu2017, acol, ...)."),
    ] = "yang2005",
    method: Annotated[
        str,
        typer.Option(
            "--method", help="Comma-separated methods (jndtf.apply.methods; 'none' = plain)."
        ),
    ] = "eq14,none",
    strength: Annotated[
        str, typer.Option("--strength", help="Map multipliers swept for each method.")
    ] = "0.25,0.5,1",
    encoder: Annotated[
        str, typer.Option("--encoder", help="Plain JPEG encoder: libjpeg-turbo or jpegli.")
    ] = "libjpeg-turbo",
    anchors: Annotated[
        str, typer.Option("--anchors", help="Other JPEG encoders measured side by side.")
    ] = "jpegli",
    x264_anchors: Annotated[
        str,
        typer.Option(
            "--x264-anchors",
            help="Clips: x264 anchors (x264-psy, x264-aq1, x264-aq2, x264-aq3) beside "
            "x264-plain (aq-mode=0:psy=0).",
        ),
    ] = "x264-aq1,x264-aq2,x264-aq3",
    quality: Annotated[
        str, typer.Option("--quality", help="JPEG qualities, START:STOP:STEP or a list.")
    ] = "30:95:5",
    crf: Annotated[str, typer.Option("--crf", help="Clips: x264 CRFs.")] = "18:38:5",
    preset: Annotated[str, typer.Option("--preset", help="Clips: x264 preset.")] = "medium",
    metrics: Annotated[
        str,
        typer.Option(
            "--metrics", help="Comma-separated: ssimulacra2, ms_ssim, psnr, cvvdp (slow)."
        ),
    ] = "ssimulacra2,ms_ssim,psnr",
    crop: Annotated[
        str | None,
        typer.Option(
            "--crop",
            help="Centre crop WIDTHxHEIGHT of every input (never a resize; SSIMULACRA2 costs "
            "~1.3 s per 768x512 pair).",
        ),
    ] = None,
    quality_every: Annotated[
        int, typer.Option("--quality-every", help="Clips: score every n-th frame.")
    ] = 1,
    bd_window: Annotated[
        str,
        typer.Option(
            "--bd-window",
            help="Also BD-rate over a quality window only, METRIC=LO:HI[,...] "
            "(issue 13's targets: ssimulacra2=60:90; '' for none).",
        ),
    ] = DEFAULT_WINDOW,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write PNG plots.")] = True,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (created if missing).")
    ] = Path("out/rd"),
) -> None:
    """Rate-quality sweep of JND-guided methods against the plain encoder and the anchors a
    user would pick instead (jpegli; x264 aq-mode/psy-rd): bytes/bpp (kbit/s for clips) vs
    quality against the ORIGINAL, BD-rate per input and mean (cubic and pchip, overlapping
    quality only). Writes points.csv, bdrate.csv, report.md and plots/*.png."""
    with user_errors():
        from jndtf.io import parse_size
        from jndtf.rd import run_rd

        size = parse_size(crop, "--crop") if crop else None
        kwargs = dict(
            jnd_model=jnd,
            methods=_names(method),
            strengths=parse_range(strength, "--strength", float),
            encoder=encoder,
            qualities=parse_range(quality, "--quality"),
            metrics=_names(metrics),
            out_dir=out_dir,
            anchors=_names(anchors),
            x264_anchors=_names(x264_anchors),
            crfs=parse_range(crf, "--crf"),
            preset=preset,
            crop=size,
            quality_every=quality_every,
            plots=plots,
            bd_windows=_windows(bd_window, _names(metrics)),
            command=command_line(),
        )
        if quality_every < 1:
            raise ValueError("--quality-every must be >= 1")
    with progress_bar() as bar:
        step = stepper(bar, bar.add_task("eval rd", total=None))
        with user_errors():
            result = run_rd(inputs, progress=step, **kwargs)
    rows = [
        r
        for r in result.bdrates
        if r["input"] == "mean"
        and r["interpolation"] == "cubic"
        and r["metric"] == kwargs["metrics"][0]
    ]
    stdout.print(f"BD-rate at equal {kwargs['metrics'][0]} (cubic), mean over inputs:")
    for r in rows:
        value = (
            f"{r['bd_rate_percent']:+.1f} % over {r['overlap_lo']:.4g}..{r['overlap_hi']:.4g}"
            if r["bd_rate_percent"] != ""
            else "no overlap"
        )
        stdout.print(f"  {r['curve']:<16} vs {r['reference']:<14} {value}  ({r['note']})")
    stdout.print(f"wrote {out_dir}/report.md, bdrate.csv, points.csv", highlight=False)
