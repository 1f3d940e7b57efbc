"""`jndtf eval rd`: rate-quality sweeps and BD-rate against real encoders (issue 13)."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jndtf.cli._settings import option, settings_command
from jndtf.cli._shared import OUT_HELP, command_line, progress_bar, stdout, stepper, user_errors
from jndtf.cli.evaluate import eval_app
from jndtf.codecs.image import DEFAULT_ENCODER
from jndtf.codecs.video import SWEEP_PRESET
from jndtf.rd import protocol as rd
from jndtf.settings import COMMA_LIST, size_option, split_names


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


def parse_strength(text: str) -> float | str:
    """One ``--strength``: a number >= 0 or ``auto`` (:func:`jndtf.apply.calibrate.parse_strength`;
    imported here so that ``jndtf --help`` loads no numpy)."""
    from jndtf.apply.calibrate import parse_strength as parse

    return parse(text)


def parse_strengths(text: str) -> tuple:
    """``--strength`` of `eval rd`: :func:`parse_range` numbers, or a comma-separated list in
    which ``auto`` (the calibrated s of ``--jnd``, resolved by :func:`jndtf.rd.run_rd`) may
    stand for one value: ``"auto"``, ``"auto,0.5,1"``."""
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if any(p.lower() == "auto" for p in parts):
        return tuple(parse_strength(p) for p in parts)
    return tuple(parse_range(text, "--strength", float))


def parse_windows(text: str) -> dict[str, tuple[float, float]]:
    """``"ssimulacra2=60:90,psnr=30:40"`` -> ``{"ssimulacra2": (60.0, 90.0), ...}``."""
    out = {}
    for part in split_names(text):
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


def _range_text(values) -> str:
    """``(30, 35, ..., 95)`` -> ``"30:95:5"`` (an even step of 3+ values), else ``"a,b,c"``
    (the inverse of :func:`parse_range`, for ``--help``'s defaults)."""
    values = list(values)
    steps = {round(b - a, 9) for a, b in itertools.pairwise(values)}
    if len(values) > 2 and len(steps) == 1 and steps.pop() > 0:
        return f"{values[0]:g}:{values[-1]:g}:{values[1] - values[0]:g}"
    return ",".join(f"{v:g}" for v in values)


#: The JND model `eval rd` and `compress` run by default (classical: no extra needed).
RD_JND_MODEL = "yang2005"


def jnd_model_option() -> Any:
    """``--jnd`` of `jndtf eval rd` and `jndtf compress` (one default, one help)."""
    return option("--jnd", default=RD_JND_MODEL, help="JND model (yang2005, wu2017, acol, ...).")


def preset_option() -> Any:
    """``--preset`` of `jndtf eval rd` and `jndtf compress`."""
    return option("--preset", default=SWEEP_PRESET, help="Clips: x264 preset.")


def encoder_option(help: str) -> Any:
    """``--encoder`` (the plain JPEG encoder) of `jndtf eval rd` and `jndtf compress`."""
    return option("--encoder", default=DEFAULT_ENCODER, help=help)


@dataclass(frozen=True)
class RdSettings:
    """`jndtf eval rd`'s settings: each default and help written once, here; the keyword
    arguments of :func:`jndtf.rd.run_rd` (:meth:`run_kwargs`). `crop` is ``(width, height)``,
    written ``WIDTHxHEIGHT`` on the command line."""

    inputs: tuple[Path, ...] = option(
        argument=True,
        cli_type=list[Path],
        parse=tuple,
        show_default=False,
        help="Images, video files or folders of them.",
    )
    jnd_model: str = jnd_model_option()
    methods: tuple[str, ...] = option(
        "--method",
        default=("eq14", "none"),
        **COMMA_LIST,
        help="Comma-separated methods (jndtf.apply.methods; 'none' = plain).",
    )
    strengths: tuple[float, ...] = option(
        "--strength",
        default=(0.25, 0.5, 1.0),
        cli_type=str,
        parse=parse_strengths,
        show=_range_text,
        help="Map multipliers swept for each method; 'auto' in the list = the calibrated s "
        "of --jnd (jndtf calibrate).",
    )
    encoder: str = encoder_option("Plain JPEG encoder: libjpeg-turbo or jpegli.")
    anchors: tuple[str, ...] = option(
        "--anchors",
        default=rd.DEFAULT_ANCHORS,
        **COMMA_LIST,
        help="Other JPEG encoders measured side by side.",
    )
    x264_anchors: tuple[str, ...] = option(
        "--x264-anchors",
        default=rd.DEFAULT_X264_ANCHORS,
        **COMMA_LIST,
        help="Clips: x264 anchors (x264-psy, x264-aq1, x264-aq2, x264-aq3) beside "
        "x264-plain (aq-mode=0:psy=0).",
    )
    qualities: tuple[int, ...] = option(
        "--quality",
        default=rd.DEFAULT_QUALITIES,
        cli_type=str,
        parse=lambda text: tuple(parse_range(text, "--quality")),
        show=_range_text,
        help="JPEG qualities, START:STOP:STEP or a list.",
    )
    crfs: tuple[int, ...] = option(
        "--crf",
        default=rd.DEFAULT_CRFS,
        cli_type=str,
        parse=lambda text: tuple(parse_range(text, "--crf")),
        show=_range_text,
        help="Clips: x264 CRFs.",
    )
    preset: str = preset_option()
    metrics: tuple[str, ...] = option(
        "--metrics",
        default=rd.DEFAULT_METRICS,
        **COMMA_LIST,
        help="Comma-separated: ssimulacra2, ms_ssim, psnr, cvvdp (slow).",
    )
    crop: tuple[int, int] | None = size_option(
        "--crop",
        help="Centre crop WIDTHxHEIGHT of every input (never a resize; SSIMULACRA2 costs "
        "~1.3 s per 768x512 pair).",
    )
    quality_every: int = option("--quality-every", default=1, help="Clips: score every n-th frame.")
    bd_window: str = option(
        "--bd-window",
        default=DEFAULT_WINDOW,
        help="Also BD-rate over a quality window only, METRIC=LO:HI[,...] "
        "(issue 13's targets: ssimulacra2=60:90; '' for none).",
    )
    plots: bool = option("--plots/--no-plots", default=True, help="Write PNG plots.")
    out_dir: Path = option("--out", "-o", default=Path("out/rd"), help=OUT_HELP)

    def __post_init__(self):
        if self.quality_every < 1:
            raise ValueError("--quality-every must be >= 1")

    def run_kwargs(self) -> dict:
        """The keyword arguments of :func:`jndtf.rd.run_rd` (all but the inputs)."""
        kwargs = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        del kwargs["inputs"], kwargs["bd_window"]
        kwargs["bd_windows"] = _windows(self.bd_window, list(self.metrics))
        return kwargs


@settings_command(eval_app, "rd", RdSettings)
def eval_rd(settings: RdSettings) -> None:
    """Rate-quality sweep of JND-guided methods against the plain encoder and the anchors a
    user would pick instead (jpegli; x264 aq-mode/psy-rd): bytes/bpp (kbit/s for clips) vs
    quality against the ORIGINAL, BD-rate per input and mean (cubic and pchip, overlapping
    quality only). Writes points.csv, bdrate.csv, report.md and plots/*.png."""
    with user_errors():
        from jndtf.rd import run_rd

        kwargs = settings.run_kwargs()
        kwargs["command"] = command_line()
    out_dir = settings.out_dir
    with progress_bar() as bar:
        step = stepper(bar, bar.add_task("eval rd", total=None))
        with user_errors():
            result = run_rd(list(settings.inputs), progress=step, **kwargs)
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
