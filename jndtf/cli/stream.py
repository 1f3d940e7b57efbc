"""`jndtf stream` (JND-guided pre-processing + encoding of a stream) and `jndtf bench stream`.

Both are thin: they fill :class:`jndtf.edge.stream.StreamSettings` (or the bench's settings) and
call one library function; the edge runtime is imported inside the command body.
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from jndtf.bench.stream import StreamBenchSettings
from jndtf.cli._settings import Cli, settings_command
from jndtf.cli._shared import USER_ERRORS, app, err, progress_bar, stdout, stepper, user_errors
from jndtf.cli.bench import bench_app
from jndtf.edge.stream import DEFAULT_JND_SCALE, StreamSettings
from jndtf.io import parse_size
from jndtf.refs import DEFAULT_EDGE_MODEL
from jndtf.refs import HELP as MODEL_HELP

#: Exit codes of `jndtf stream` besides 0 (done) and 2 (an error, after the summary): input
#: skipped or a source that ended early (the rest was written), and the shell's codes for a
#: run stopped by SIGINT (Ctrl-C) or SIGTERM after finishing the frame and closing the files.
EXIT_INCOMPLETE, EXIT_SIGINT, EXIT_SIGTERM = 1, 130, 143

#: Seconds between status lines when stderr is not a terminal (a log, a pipe): no progress bar
#: there, a line every so often instead, so the output streams while the run goes on.
STATUS_EVERY_S = 2.0


def parse_frame_size(text: str | None) -> tuple[int, int] | None:
    """``--size 640x360`` -> ``(640, 360)`` = (W, H), :class:`StreamSettings`' (OpenCV's) order."""
    if text is None:
        return None
    return parse_size(text, "--size")


def _report_lines(report) -> list[str]:
    """The summary a person reads after a run: bytes always beside the quality change
    (:func:`jndtf.edge.compare.compare`), never a bare saving."""

    def num(v, fmt):
        return "n/a" if v is None or v != v else format(v, fmt)

    src = report.source or {}
    lines = [
        f"frames {report.frames} in {report.elapsed_s:.1f} s ({num(report.fps, '.1f')} fps), "
        f"maps computed {report.maps_computed}, reused {report.maps_reused}, "
        f"source dropped {src.get('dropped', 0)}",
    ]
    skipped = src.get("corrupt", 0) + src.get("refused", 0)
    if skipped or src.get("resized"):
        lines.append(
            f"input: {skipped} skipped (named above), {src.get('resized', 0)} resized to the "
            "stream's size"
        )
    if src.get("ended_early"):
        lines.append(
            f"WARNING: the source ended early: {src.get('read', 0) + src.get('corrupt', 0)} of "
            f"the {src.get('expected')} frames its container declares (a truncated file?)"
        )
    lines += report.comparison.get("lines", [])
    if report.machine_vision:
        mv = report.machine_vision
        lines.append(f"machine vision: RCA {num(mv.get('rca'), '.3f')} over {mv['frames']} frames")
    if report.interrupted:
        lines.append(f"stopped: {report.stop_reason}; every file was closed")
    elif report.error is not None:
        lines.append(
            "stopped by the error below; every file was closed, the stats end with the summary"
        )
    for name, where in report.outputs.items():
        lines.append(f"wrote {name}: {where}")
    return lines


#: `jndtf stream`'s options: flags and help; each default is the :class:`StreamSettings`
#: field's (written there, once), the model's is :data:`DEFAULT_EDGE_MODEL`.
STREAM_CLI = {
    "source": Cli(
        help="Camera index (0), video file, image folder or stream URL (rtsp://, http://).",
        argument=True,
        show_default=False,
    ),
    "model": Cli(
        flags=("--model", "-m"),
        default=DEFAULT_EDGE_MODEL,
        help=MODEL_HELP["litert"],
    ),
    "codec": Cli(help="jpeg (per frame, OpenCV) or h264 (libx264, PyAV)."),
    "quality": Cli(flags=("--quality", "-q"), min=1, max=100, help="JPEG quality."),
    "crf": Cli(min=0, max=51, help="H.264 constant rate factor."),
    "preset": Cli(help="x264 preset."),
    "method": Cli(
        help="Pre-processing method, as `jndtf compress`'s: dct (inside JPEG), eq14, smooth, "
        "temporal, temporal-clamp, temporal-mb or none \\[default: dct for jpeg, none for "
        "h264: what `jndtf compress` uses].",
        show_default=False,
    ),
    "strength": Cli(min=0, help="Map multiplier s: every pixel stays within s·JND."),
    "jnd_scale": Cli(
        help="Inference resolution / frame resolution, (0, 1] \\[default: "
        f"{DEFAULT_JND_SCALE:g}; 1 for a model exported at a fixed size].",
        show_default=False,
    ),
    "reuse": Cli(min=1, help="Recompute the JND map every N frames (or at a scene cut)."),
    "threads": Cli(min=1, help="Model threads."),
    "max_frames": Cli(min=1, help="Stop after N frames \\[default: no limit]."),
    "size": Cli(
        cli_type=str,
        parse=lambda text: parse_frame_size(text),
        show=lambda wh: f"{wh[0]}x{wh[1]}",
        help="Resize frames to WIDTHxHEIGHT \\[default: as they come].",
    ),
    "out_dir": Cli(
        flags=("--out", "-o"),
        help="Write the encoded stream here (processed.mp4 or processed_jpeg/) \\[default: "
        "nothing but the stats].",
    ),
    "preview": Cli(
        help="Original | JND map | encoded, side by side: a window if a display exists, "
        "else OUT/preview.mp4.",
    ),
    "stats_path": Cli(
        flags=("--stats",), help="JSON-lines stats: one line per frame, a summary last."
    ),
    "classifier": Cli(
        help="Machine-vision mode: a classifier .tflite; frames are pre-processed by the "
        "DMV-JND stage and its RCA is reported.",
    ),
    "compare": Cli(
        flags=("--compare/--no-compare",),
        help="Also encode the unprocessed frames (the bytes and quality baseline).",
    ),
    "ms_ssim_every": Cli(min=0, help="MS-SSIM of every Nth frame (0: never)."),
    "source_mode": Cli(
        flags=("--mode",), help="auto, live (drop frames when behind) or file (read every frame)."
    ),
    "size_change": Cli(
        metavar="resize|skip",
        help="A frame of another size than the first (an image in a folder): resize it to "
        "the stream's size, or skip it; either way its file is named.",
    ),
    "equal_quality": Cli(
        flags=("--equal-quality/--no-equal-quality",),
        help="At the end, code a sample of the untouched frames at a ladder of settings and "
        "report the plain encoder's bytes at the pre-processed stream's PSNR.",
    ),
}

#: `--maps-format`'s choices (with `--save-maps`, they fill :attr:`StreamSettings.save_maps`).
MAPS_FORMATS = ("video", "png")


@settings_command(app, "stream", StreamSettings, cli=STREAM_CLI)
def stream_command(
    settings: StreamSettings,
    save_maps: Annotated[
        bool, typer.Option("--save-maps", help="Write the JND maps (OUT/jnd_map.mp4).")
    ] = False,
    maps_format: Annotated[
        str, typer.Option("--maps-format", help="video (one MP4) or png (OUT/jnd_maps/).")
    ] = MAPS_FORMATS[0],
) -> None:
    """Pre-process a stream by its JND map with one of `jndtf compress`'s methods (--method,
    --strength) and encode it as JPEG or H.264.

    Reports bytes per frame and in total against the same encoder at the same settings on the
    unprocessed frames, always beside the PSNR/MS-SSIM of both against the original, with a
    warning when the pre-processed stream is larger or worse, and the plain encoder's bytes at
    equal PSNR on a sample of frames. Bad files in a folder are named and skipped; a video that
    ends before its declared length is flagged. Ctrl-C (SIGINT) or SIGTERM finishes the current
    frame and closes every file (a playable MP4, complete stats). An H.264 recording is a
    fragmented MP4 while written: a killed run keeps what it coded, and the next run into the
    same folder keeps or cleans the partial file (and says so). Exit codes: 0 done, 1 input
    skipped or a source that ended early, 2 an error, 130 SIGINT, 143 SIGTERM.
    """
    from jndtf.edge.stream import run_stream

    with user_errors():
        if maps_format not in MAPS_FORMATS:
            raise ValueError(f"--maps-format must be video or png, got {maps_format!r}")
        if save_maps:
            settings = dataclasses.replace(settings, save_maps=maps_format)
    with _progress(settings.max_frames) as (step, note):
        with user_errors():
            try:
                report = run_stream(settings, progress=step, notes=note)
            except USER_ERRORS as e:
                partial = getattr(e, "stream_report", None)
                if partial is not None:  # the summary first, then the error (exit 2)
                    _print_report(partial)
                raise
    _print_report(report)
    if report.stop_signal == "SIGTERM":
        raise typer.Exit(EXIT_SIGTERM)
    if report.stop_signal is not None:
        raise typer.Exit(EXIT_SIGINT)
    if report.incomplete_input:
        raise typer.Exit(EXIT_INCOMPLETE)


def _print_report(report) -> None:
    for line in _report_lines(report):
        style = "bold yellow" if line.startswith("WARNING") else None
        stdout.print(escape(line), highlight=False, style=style)


@contextmanager
def _progress(total: int | None):
    """``(progress, note)`` callbacks: a progress bar on a terminal, else a status line every
    :data:`STATUS_EVERY_S` (flushed as it is printed); notes are printed as they come."""

    def note(text: str) -> None:
        err.print(f"[yellow]warning:[/] {escape(text)}", highlight=False)

    if err.is_terminal:
        with progress_bar() as bar:
            yield stepper(bar, bar.add_task("stream", total=total)), note
        return
    last = [0.0]

    def step(description: str, done: int, total_: int | None) -> None:
        now = time.monotonic()
        if done == 1 or now - last[0] >= STATUS_EVERY_S:
            last[0] = now
            of = f"/{total_}" if total_ else ""
            err.print(f"stream: frame {done}{of}: {escape(description)}", highlight=False)
            err.file.flush()

    yield step, note


#: `jndtf bench stream`'s options; each default is the :class:`StreamBenchSettings` field's.
BENCH_STREAM_CLI = {
    "model": Cli(
        flags=("--model", "-m"),
        help=MODEL_HELP["litert"],
    ),
    "codec": Cli(help="jpeg or h264."),
    "seconds": Cli(min=0.5, help="Length of the synthesized clip."),
    "size": Cli(
        cli_type=str,
        parse=lambda text: parse_frame_size(text),
        show=lambda wh: f"{wh[0]}x{wh[1]}",
        help="Frame size WIDTHxHEIGHT.",
    ),
    "threads": Cli(min=1, help="Model threads."),
    "method": Cli(
        cli_type=str,
        help="Pre-processing method, as `jndtf stream --method` \\[default: the stream's for the "
        "codec].",
        show_default=False,
    ),
    "strength": Cli(
        cli_type=float,
        min=0,
        help="Map multiplier s \\[default: the stream's].",
        show_default=False,
    ),
}


@settings_command(bench_app, "stream", StreamBenchSettings, cli=BENCH_STREAM_CLI)
def bench_stream_command(
    settings: StreamBenchSettings,
    csv_path: Annotated[
        Path, typer.Option("--csv", help="CSV of every row (written atomically).")
    ] = Path("out/bench/stream.csv"),
) -> None:
    """End-to-end fps of `jndtf stream` on the synthesized camera clip (scene cuts every second)
    for the default settings and cheaper/dearer ones (JND scale, map reuse), each with the
    JND-map PSNR against full-resolution per-frame inference. Timings depend on the load."""
    from jndtf.bench.report import Column, render_table, write_csv
    from jndtf.bench.stream import ROW_COLUMNS, bench_stream

    model, codec = settings.model, settings.codec
    size = f"{settings.size[0]}x{settings.size[1]}"
    with progress_bar() as bar:
        step = stepper(bar, bar.add_task("bench stream", total=None))
        with user_errors():
            rows = bench_stream(settings, progress=step)
    columns = [
        Column("setting", "setting", "", "left"),
        Column("jnd_scale", "scale", ".2f"),
        Column("reuse", "reuse", "d"),
        Column("fps", "fps", ".1f"),
        Column("fps_no_compare", "fps bare", ".1f"),
        Column("jnd_ms_median", "jnd ms", ".1f"),
        Column("map_psnr_db", "map dB", ".2f"),
        Column("bytes_change_pct", "bytes %", "+.1f"),
        Column("psnr_change_db", "PSNR Δ dB", "+.2f"),
        Column("equal_psnr_change_pct", "bytes % eq.PSNR", "+.1f"),
    ]
    title = (
        f"{model}, {codec}, {size}: fps end to end (bare: no baseline encode), median JND "
        "ms, map PSNR vs full-resolution per-frame maps; the stream's default method vs the "
        "plain encoder at the same setting: bytes % and PSNR change (both against the "
        "original frames), and bytes % at equal PSNR (sample of frames; + = costs bytes)"
    )
    stdout.print(render_table(rows, columns, title=title))
    goal = [r for r in rows if r["setting"] == "default"]
    if goal:
        met = goal[0]["fps"] >= 30.0
        err.print(
            f"goal >= 30 fps at the default settings: {'met' if met else 'NOT met'} "
            f"({goal[0]['fps']:.1f} fps; timings depend on the machine's load)",
            highlight=False,
        )
    for row in rows:
        if row.get("warning"):
            err.print(f"[bold yellow]WARNING[/] {row['setting']}: {escape(row['warning'])}")
    with user_errors():
        path = write_csv(rows, csv_path, columns=ROW_COLUMNS)
    stdout.print(f"wrote {path}", highlight=False)
