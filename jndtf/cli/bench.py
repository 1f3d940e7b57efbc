"""`jndtf bench`: speed figures printed as tables and written as CSV (never asserted in tests).

Commands: ``bench models`` (per-frame latency of a model in every runtime), ``bench dmv``
(DMV-JND + its CAM classifiers on int8 LiteRT, per 32x32 crop and per 640x360 frame) and
``bench stream`` (the edge runtime end to end, registered by :mod:`jndtf.cli.stream`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from jndtf.bench.dmv import DmvBenchSettings
from jndtf.bench.models import ModelBenchSettings, parse_runtimes, parse_sizes
from jndtf.cli._settings import Cli, given, settings_command
from jndtf.cli._shared import app, err, progress_bar, stdout, stepper, user_errors

bench_app = typer.Typer(
    name="bench",
    help="Speed benchmarks: model latency per runtime, DMV-JND on the edge, the edge stream "
    "end to end.",
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")

#: Columns of the `bench models` table (the CSV has every column of the rows).
MODEL_TABLE = (
    ("runtime", "runtime", "", "left"),
    ("shape", "shape", "", "left"),
    ("size", "size", "", "left"),
    ("median_ms", "median ms", ".1f", "right"),
    ("p90_ms", "p90 ms", ".1f", "right"),
    ("fps", "fps", ".2f", "right"),
    ("mac_per_px", "MAC/px", ",.0f", "right"),
    ("gmac_per_frame", "GMAC/frame", ".1f", "right"),
    ("gmac_per_s", "GMAC/s", ".1f", "right"),
    ("priors_ms", "priors ms", ".1f", "right"),
)


def _sizes_text(sizes: tuple[tuple[int, int], ...]) -> str:
    """``((640, 360), ...)`` = (width, height) -> ``"640x360,..."`` (inverse of
    :func:`parse_sizes`)."""
    return ",".join(f"{w}x{h}" for w, h in sizes)


#: `jndtf bench models`'s options; each default is the :class:`ModelBenchSettings` field's.
BENCH_MODELS_CLI = {
    "model": Cli(
        argument=True,
        help="Registered model (its shipped weights), .keras path or SPEC:PATH "
        "(default: acol, or the source named by the --model-file manifests).",
        show_default=False,
    ),
    "sizes": Cli(
        cli_type=str,
        parse=lambda text: parse_sizes(text),
        show=_sizes_text,
        help="Comma-separated frame sizes WIDTHxHEIGHT.",
    ),
    "runtimes": Cli(
        cli_type=str,
        parse=lambda text: parse_runtimes(text),
        show=",".join,
        help="Comma-separated runtimes: keras, tflite-fp32, tflite-fp16, tflite-int8, onnx "
        "(also tflite-dynamic).",
    ),
    "runs": Cli(min=1, help="Timed calls per runtime and size."),
    "warmup": Cli(min=1, help="Untimed calls before them."),
    "threads": Cli(
        min=1,
        help="Threads of every runtime (LiteRT num_threads, onnxruntime intra-op, "
        "TensorFlow intra-op).",
    ),
    "model_files": Cli(
        flags=("--model-file",),
        cli_type=list[Path] | None,
        parse=tuple,
        show=list,
        metavar="PATH",
        help="A pre-exported .tflite/.onnx file with its manifest (repeatable); only these "
        "files (and Keras) are timed, nothing is exported.",
    ),
    "export_dir": Cli(
        help="Keep the exports here and reuse them while they match the source model "
        "(default: a temporary folder).",
    ),
    "num_calibration": Cli(
        min=1,
        help="int8 calibration crops of the speed-only export (few: calibration at 720p is "
        "slow, and speed does not depend on it).",
    ),
    "dynamic": Cli(help="Also time one dynamic-shape export per format (resized per size)."),
    "image": Cli(help="Photo the frames are made from (default: the bundled motorcycle_left)."),
}


@settings_command(bench_app, "models", ModelBenchSettings, cli=BENCH_MODELS_CLI)
def bench_models_command(
    settings: ModelBenchSettings,
    ctx: typer.Context,
    csv_path: Annotated[
        Path, typer.Option("--csv", help="CSV file of every row and column (written atomically).")
    ] = Path("out/bench/models.csv"),
) -> None:
    """Per-frame latency of a JND network in every runtime, side by side: median and p90 over
    RUNS calls after WARMUP, fps, MAC per pixel, GMAC per frame, achieved GMAC/s, and the numpy
    priors' time (paid by the edge runtime every frame). Timings depend on the machine's load."""
    from jndtf.bench.models import bench_models
    from jndtf.bench.report import Column, render_table, write_csv

    if settings.model_files and not given(ctx, "model"):  # the manifests name the source
        settings = dataclasses.replace(settings, model=None)
    threads, runs, warmup = settings.threads, settings.runs, settings.warmup
    with progress_bar() as bar:
        step = stepper(bar, bar.add_task("bench models", total=None))
        with user_errors():
            result = bench_models(settings, progress=step)
    from rich.markup import escape

    for note in result.notes:  # escaped: 'pip install "jndtf[onnx]"' is not a style tag
        err.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    if not result.rows:
        err.print("[bold red]error:[/] nothing could be timed (see the notes above)")
        raise typer.Exit(1)
    name = result.rows[0]["model"]
    title = (
        f"{name}: per-frame latency, {threads} thread(s), median/p90 of {runs} runs after "
        f"{warmup} warm-up"
    )
    columns = [Column(k, h, f, j) for k, h, f, j in MODEL_TABLE]
    stdout.print(render_table(result.rows, columns, title=title))
    with user_errors():
        from jndtf.bench.models import ROW_COLUMNS

        path = write_csv(result.rows, csv_path, columns=ROW_COLUMNS)
    stdout.print(f"wrote {path}", highlight=False)


#: Columns of the `bench dmv` table (the CSV has :data:`jndtf.bench.dmv.ROW_COLUMNS`).
DMV_TABLE = (
    ("layout", "layout", "", "left"),
    ("size", "size", "", "left"),
    ("scale", "scale", "g", "right"),
    ("ed_shape", "E-D in", "", "left"),
    ("cam_ms_median", "CAM ms", ".2f", "right"),
    ("dmv_ms_median", "E-D ms", ".2f", "right"),
    ("total_ms_median", "total ms", ".2f", "right"),
    ("fps", "fps", ".1f", "right"),
    ("classifier_runs", "CAMs", "d", "right"),
)


@settings_command(bench_app, "dmv", DmvBenchSettings)
def bench_dmv_command(
    settings: DmvBenchSettings,
    csv_path: Annotated[
        Path, typer.Option("--csv", help="CSV file of every row (written atomically).")
    ] = Path("out/bench/dmv.csv"),
) -> None:
    """DMV-JND + its CAM classifier(s) on LiteRT (issue 11): per 32x32 crop and per 640x360
    frame, frame layout (one classifier run on the frame resized to its input; E-D at scale 1
    and 0.5) and tiles layout (one classifier run per 32x32 tile). Given --dmv/--classifiers
    files (`jndtf export dmv --int8 --size WxH`, `jndtf export resnet --int8`) are timed as
    they are (a fixed-size E-D skips, with a note, the rows it cannot run); without them,
    untrained presets are exported int8 here (speed only, needs the \\[train] extra). Timings
    depend on the machine's load."""
    from rich.markup import escape

    from jndtf.bench.dmv import ROW_COLUMNS, bench_dmv
    from jndtf.bench.report import Column, render_table, write_csv

    with progress_bar() as bar:
        step = stepper(bar, bar.add_task("bench dmv", total=None))
        with user_errors():
            notes: list[str] = []
            rows = bench_dmv(settings, progress=step, notes=notes)
    for note in notes:
        err.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    if not rows:
        err.print("[bold red]error:[/] nothing could be timed (see the notes above)")
        raise typer.Exit(1)
    title = (
        f"DMV-JND ({rows[0]['weights']}), {settings.threads} thread(s), median of "
        f"{settings.runs} frames; {rows[0]['cpu']}"
    )
    columns = [Column(k, h, f, j) for k, h, f, j in DMV_TABLE]
    shown = [{**r, "ed_shape": r["dmv_shape"].replace("fixed ", "")} for r in rows]
    stdout.print(render_table(shown, columns, title=title))  # p90 and the rest: the CSV
    with user_errors():
        path = write_csv(rows, csv_path, columns=ROW_COLUMNS)
    stdout.print(f"wrote {path}", highlight=False)
