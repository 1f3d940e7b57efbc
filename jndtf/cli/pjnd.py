"""`jndtf pjnd`: picture-level JND, the strongest JPEG quality / x264 CRF a JND map tolerates.

Thin: fills :class:`PjndSettings` and calls :func:`jndtf.apply.picture_jnd.picture_jnd` per
input; the maps come from :func:`jndtf.jobs.compute_jnd` (any JND model name of
:func:`jndtf.refs.resolve_model`; the classical default keeps the run TF-free).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import typer

from jndtf.cli._settings import option, settings_command
from jndtf.cli._shared import app, err, progress_bar, stdout, user_errors
from jndtf.cli.rd import encoder_option, jnd_model_option, preset_option

#: Columns of ``OUT/summary.csv`` (``summary.json`` holds the same rows plus the scores).
SUMMARY_COLUMNS = (
    "input",
    "status",
    "codec",
    "model",
    "strength",
    "criterion",
    "threshold",
    "setting",
    "score",
    "failed_at",
    "failed_score",
    "bytes",
    "default_setting",
    "default_bytes",
    "bytes_saved_pct",
    "ssimulacra2",
    "default_ssimulacra2",
    "psnr_db",
    "default_psnr_db",
    "encodes",
    "warnings",
    "error",
)


def parse_strength(text: str) -> str:
    """``--strength``: a number > 0 or ``auto`` (kept as text; resolved per model later)."""
    value = str(text).strip()
    if value.lower() == "auto":
        return "auto"
    try:
        s = float(value)
    except ValueError:
        raise ValueError(f"--strength must be a number > 0 or auto, got {text!r}") from None
    if not (math.isfinite(s) and s > 0):
        raise ValueError(f"--strength must be a number > 0 or auto, got {text!r}")
    return value


def resolve_strength(model: str, text: str) -> float:
    """The map multiplier: the number given, or for ``auto`` the calibrated s recorded for
    `model` (:func:`jndtf.apply.calibrate.resolve_strength`; a CalibrationError naming the
    command that records one when there is none)."""
    from jndtf.apply.calibrate import resolve_strength as calibrated

    return float(calibrated(model, text))


@dataclass(frozen=True)
class PjndSettings:
    """`jndtf pjnd IMAGE... -o OUT`: each default and help written once, here (``--jnd``,
    ``--encoder``, ``--preset`` are `jndtf eval rd`'s)."""

    inputs: tuple[Path, ...] = option(
        argument=True,
        cli_type=list[Path],
        parse=tuple,
        show_default=False,
        help="Images (or, with --codec h264, video files).",
    )
    out: Path = option("--out", "-o", help="Output folder: summary.csv/json, maps, files.")
    jnd: str = jnd_model_option()
    codec: str = option(
        "--codec",
        default="jpeg",
        help="jpeg (search the quality 100..1) or h264 (x264 CRF 0..51 with aq-mode=0:psy=0, "
        "eval rd's plain x264; an image is coded as a 1-frame clip).",
    )
    strength: str = option(
        "--strength",
        default="1",
        parse=parse_strength,
        help="Map multiplier s: the error may reach s·JND (a number, or auto: the s recorded "
        "for the model by `jndtf calibrate`).",
    )
    criterion: str = option(
        "--criterion",
        default="visible",
        help="visible: at most --max-visible of the pixels beyond s·JND; psnr: PSNR >= "
        "--min-psnr (no map).",
    )
    max_visible: float = option(
        "--max-visible",
        default=0.05,
        min=0.0,
        max=1.0,
        help="visible: the fraction of pixels allowed beyond s·JND (not calibrated).",
    )
    min_psnr: float = option("--min-psnr", default=40.0, help="psnr: the lowest PSNR in dB.")
    encoder: str = encoder_option("JPEG encoder: libjpeg-turbo or jpegli.")
    preset: str = preset_option()
    max_frames: int | None = option(
        "--max-frames",
        default=None,
        min=1,
        show_default=False,
        help="Clips: use the first N frames \\[default: all].",
    )

    def __post_init__(self):
        from jndtf.apply.picture_jnd import CODECS, CRITERIA

        if not self.inputs:
            raise ValueError("give at least one IMAGE")
        if self.codec not in CODECS:
            raise ValueError(f"--codec must be one of {', '.join(CODECS)}, got {self.codec!r}")
        if self.criterion not in CRITERIA:
            raise ValueError(
                f"--criterion must be one of {', '.join(CRITERIA)}, got {self.criterion!r}"
            )
        parse_strength(self.strength)
        if not 0.0 <= self.max_visible <= 1.0:
            raise ValueError(f"--max-visible must be in 0..1, got {self.max_visible}")


def _read(path: Path, codec: str, max_frames: int | None) -> tuple[list, float]:
    from jndtf.io import load_image
    from jndtf.rd.inputs import VIDEO_SUFFIXES, read_clip

    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        if codec != "h264":
            raise ValueError(f"{path} is a clip: give --codec h264 (JPEG codes one picture)")
        return read_clip(path, max_frames)
    return [load_image(path)], 30.0


def _quality(frames, coded) -> tuple[float, float]:
    """Mean SSIMULACRA2 and PSNR (dB) of the decoded frames against the originals."""
    from jndtf.codecs.quality import psnr, ssimulacra2

    pairs = list(zip(frames, coded.decoded, strict=True))
    return (
        float(sum(ssimulacra2(x, y) for x, y in pairs) / len(pairs)),
        float(sum(psnr(x, y) for x, y in pairs) / len(pairs)),
    )


def _label(codec: str, setting: int) -> str:
    return f"q{setting}" if codec == "jpeg" else f"CRF {setting}"


def _one(path: Path, folder: Path, s: PjndSettings, step) -> dict:
    """PJND of one input: its row of the summary (files written into `folder`)."""
    import numpy as np

    from jndtf.apply.picture_jnd import exceed_map, picture_jnd
    from jndtf.io import atomic_write_bytes, write_map
    from jndtf.jobs import compute_jnd

    frames, fps = _read(path, s.codec, s.max_frames)
    strength = resolve_strength(s.jnd, s.strength)
    jnds = None
    if s.criterion == "visible":
        step(f"{path.name}: JND maps ({s.jnd})")
        jnds = [compute_jnd(f, s.jnd) for f in frames]
    threshold = s.max_visible if s.criterion == "visible" else s.min_psnr
    tried = []

    def progress(setting: int, score: float) -> None:
        tried.append(setting)
        step(f"{path.name}: {_label(s.codec, setting)} -> {score:.4g} ({len(tried)} encodes)")

    res = picture_jnd(
        frames,
        codec=s.codec,
        jnds=jnds,
        strength=strength,
        criterion=s.criterion,
        threshold=threshold,
        encoder=s.encoder,
        preset=s.preset,
        fps=fps,
        progress=progress,
    )
    step(f"{path.name}: SSIMULACRA2 and PSNR of the PJND and the default")
    ssim2, p = _quality(frames, res.chosen)
    ssim2_d, p_d = _quality(frames, res.default)
    # The maps that decided, on the frame where the PJND encode comes closest to failing.
    limits = [strength * j for j in jnds] if jnds is not None else None
    zero = np.zeros(frames[0].shape[:2], np.float32)

    def over(coded, i):
        return exceed_map(frames[i], coded.decoded[i], limits[i] if limits else zero)

    worst = int(np.argmax([float((over(res.chosen, i) > 0).mean()) for i in range(len(frames))]))
    kind = "beyond s·JND" if limits else "|luma error|"
    if limits is not None:
        write_map(folder, "jnd", limits[worst], label=f"{strength:g}·JND ({s.jnd})")
    write_map(folder, "exceed", over(res.chosen, worst), label=f"{kind} at the PJND")
    if res.failed is not None:
        write_map(folder, "exceed_next", over(res.failed, worst), label=f"{kind}, next step")
    if res.chosen.data is not None:
        atomic_write_bytes(folder / f"pjnd_q{res.chosen.setting}.jpg", res.chosen.data)
    return {
        "input": str(path),
        "status": "ok",
        "codec": s.codec,
        "model": s.jnd if s.criterion == "visible" else "",
        "strength": strength,
        "criterion": s.criterion,
        "threshold": threshold,
        "setting": res.chosen.setting,
        "score": res.scores[res.chosen.setting],
        "failed_at": None if res.failed is None else res.failed.setting,
        "failed_score": None if res.failed is None else res.scores[res.failed.setting],
        "bytes": res.chosen.nbytes,
        "default_setting": res.default.setting,
        "default_bytes": res.default.nbytes,
        "bytes_saved_pct": res.saving_percent,
        "ssimulacra2": ssim2,
        "default_ssimulacra2": ssim2_d,
        "psnr_db": p,
        "default_psnr_db": p_d,
        "encodes": len(res.scores),
        "warnings": " | ".join(res.warnings),
        "error": "",
        "scores": {str(k): v for k, v in res.scores.items()},
        "maps_frame": worst,
        "folder": str(folder),
    }


def _line(row: dict) -> str:
    """One line per input: the setting, its bytes and quality beside the default's."""
    if row["status"] != "ok":
        return f"{row['status'].upper()}: {row['error']}"
    codec = row["codec"]
    crit = (
        f"<= {100 * row['threshold']:g} % of pixels beyond {row['strength']:g}·JND ({row['model']})"
        if row["criterion"] == "visible"
        else f"PSNR >= {row['threshold']:g} dB"
    )
    nxt = (
        "every setting passes"
        if row["failed_at"] is None
        else f"{_label(codec, row['failed_at'])} fails"
    )
    saved = row["bytes_saved_pct"]
    verdict = f"{saved:.1f} % fewer bytes" if saved >= 0 else f"{-saved:.1f} % MORE bytes"
    return (
        f"{row['input']}: PJND {_label(codec, row['setting'])} ({crit}; {nxt}; "
        f"{row['encodes']} encodes): {row['bytes']:,} bytes, SSIMULACRA2 "
        f"{row['ssimulacra2']:.2f}, PSNR {row['psnr_db']:.2f} dB | default "
        f"{_label(codec, row['default_setting'])}: {row['default_bytes']:,} bytes, SSIMULACRA2 "
        f"{row['default_ssimulacra2']:.2f}, PSNR {row['default_psnr_db']:.2f} dB -> {verdict} "
        f"for {row['ssimulacra2'] - row['default_ssimulacra2']:+.2f} SSIMULACRA2, "
        f"{row['psnr_db'] - row['default_psnr_db']:+.2f} dB PSNR"
    )


def write_summary(out: Path, rows: list[dict], settings: dict) -> list[Path]:
    """``OUT/summary.csv`` (:data:`SUMMARY_COLUMNS`) and ``OUT/summary.json``, atomically."""
    from jndtf.io import atomic_write_bytes, atomic_write_json

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SUMMARY_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in SUMMARY_COLUMNS})
    atomic_write_bytes(out / "summary.csv", buf.getvalue().encode())
    atomic_write_json(out / "summary.json", {"settings": settings, "rows": rows})
    return [out / "summary.csv", out / "summary.json"]


def _folders(inputs: tuple[Path, ...], out: Path) -> list[Path]:
    """``OUT/<stem>`` per input (``<stem>-2``, ... when stems repeat)."""
    seen: dict[str, int] = {}
    folders = []
    for p in inputs:
        n = seen[p.stem] = seen.get(p.stem, 0) + 1
        folders.append(out / (p.stem if n == 1 else f"{p.stem}-{n}"))
    return folders


@settings_command(app, "pjnd", PjndSettings)
def pjnd(settings: PjndSettings) -> None:
    """Picture-level JND: the lowest JPEG quality (or, --codec h264, the highest x264 CRF)
    whose coding error stays within the JND map, found by bisection.

    Criterion (visible, default): at most --max-visible of the pixels (luma for a 1-channel
    map) may differ from the original by more than s·JND. Bisection assumes that a passing
    setting means every gentler one passes; the gentlest setting (q100 / CRF 0) is tried
    first (an input is refused when it fails) and every setting tried is checked for that
    order (violations are warned about). Prints each input's setting and bytes beside the
    fixed default (q90 / CRF 23) with SSIMULACRA2 and PSNR of both against the original, and
    writes OUT/summary.csv, OUT/summary.json and per input the maps that decided (jnd,
    exceed, exceed_next: .png + .npy) and, for JPEG, the PJND file. Exit code 1 when an
    input was refused or failed (the others are written).
    """
    from dataclasses import asdict

    from jndtf.apply.picture_jnd import PjndRefused
    from jndtf.cli._shared import USER_ERRORS, stepper
    from jndtf.codecs.image import check_encoder

    s = settings
    with user_errors():
        if s.codec == "jpeg":
            check_encoder(s.encoder)
        if s.strength == "auto":
            resolve_strength(s.jnd, s.strength)  # refuse early, before any map
    rows: list[dict] = []
    failed = 0
    with progress_bar() as bar:
        task = bar.add_task("pjnd", total=len(s.inputs))
        step = stepper(bar, task)
        for k, (path, folder) in enumerate(zip(s.inputs, _folders(s.inputs, s.out), strict=True)):

            def note(text: str, k=k) -> None:
                step(text, k, len(s.inputs))

            try:
                row = _one(path, folder, s, note)
            except USER_ERRORS as e:
                failed += 1
                msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
                status = "refused" if isinstance(e, PjndRefused) else "failed"
                row = {"input": str(path), "status": status, "error": msg}
                msg = msg if msg.startswith(str(path)) else f"{path}: {msg}"
                row["error"] = msg
                err.print(f"[bold red]error:[/] {msg}", highlight=False)
            rows.append(row)
            stdout.print(_line(row), highlight=False)
            for w in row.get("warnings", "").split(" | ") if row.get("warnings") else []:
                err.print(f"[yellow]warning:[/] {path}: {w}", highlight=False)
            bar.advance(task)
    with user_errors():
        record = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(s).items()}
        record["inputs"] = [str(p) for p in s.inputs]
        for path in write_summary(s.out, rows, record):
            stdout.print(f"wrote {path}", highlight=False)
    stdout.print(
        "bytes saved are against the fixed default setting at the quality shown beside them, "
        "not at equal quality: `jndtf compress`/`jndtf eval rd` compare at equal quality",
        highlight=False,
    )
    if failed:
        err.print(f"[bold red]{failed} of {len(s.inputs)} inputs refused or failed[/]")
        raise typer.Exit(1)
