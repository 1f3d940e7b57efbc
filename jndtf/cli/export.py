"""`jndtf export MODEL`: a learned JND model to TFLite / ONNX / TensorRT, each with its manifest.

Precision flags pick TFLite formats (``--fp32 --fp16 --dynamic-range --int8 --qat``), ``--onnx``
adds ONNX, ``--tensorrt`` adds a TensorRT engine in each asked-for precision among fp32, fp16 and
int8 (fp32 when none; its ONNX is exported too), ``--format NAME`` adds any row of
``--list-formats``; with no format flag the export is ``tflite-fp32``. One library call,
:func:`jndtf.export.export_model`, does the work; this module only parses and prints.

Example:
    $ jndtf export acol --int8 -o out/export               # the card's command
    $ jndtf export acol --onnx --dynamic -o out/export      # ONNX with dynamic H, W
    $ jndtf export acol:runs/acol/model.keras --int8 --calib-data photos/ --size 640x360
    $ jndtf export resnet:runs/cls/resnet.keras --int8   # resnet-cam-tflite-int8.tflite, 32x32
    $ jndtf export dmv:runs/dmv/dmv.keras --int8 --size 640x360 --classifiers runs/cls

A classifiers-family model (:func:`jndtf.export.cam.is_cam_classifier`) is exported with its
CAM output (``--cam``, the default: :func:`jndtf.export.cam.export_cam_formats`) at its 32x32
training size unless ``--size``/``--dynamic`` say otherwise.
"""

from __future__ import annotations

import dataclasses
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from jndtf import export as export_defaults
from jndtf.cli._settings import given, option, settings_command
from jndtf.cli._shared import OUT_HELP, app, err, progress_bar, stdout, stepper, user_errors
from jndtf.io import parse_size
from jndtf.settings import size_option

#: Columns of the result table: key, header, number format, justification.
RESULT_TABLE = (
    ("format", "format", "", "left"),
    ("size", "size", "", "right"),
    ("pct_fp32", "% of fp32", ".1f", "right"),
    ("map_psnr_db", "map PSNR dB", ".1f", "right"),
    ("max_abs_err", "max |err|", ".3g", "right"),
    ("ms_ssim_export", "MS-SSIM eq.7", ".4f", "right"),
    ("ms_ssim_delta", "Δ vs Keras", "+.4f", "right"),
)

#: Precision flag -> TFLite format, in listing order.
TFLITE_FLAGS = (
    ("fp32", "tflite-fp32"),
    ("fp16", "tflite-fp16"),
    ("dynamic_range", "tflite-dynamic"),
    ("int8", "tflite-int8"),
    ("qat", "tflite-int8-qat"),
)
#: Precision flag -> TensorRT format (``--tensorrt``).
TENSORRT_FLAGS = (("fp32", "tensorrt"), ("fp16", "tensorrt-fp16"), ("int8", "tensorrt-int8"))
DEFAULT_FORMAT = "tflite-fp32"


def select_formats(
    *,
    fp32: bool = False,
    fp16: bool = False,
    dynamic_range: bool = False,
    int8: bool = False,
    qat: bool = False,
    onnx: bool = False,
    tensorrt: bool = False,
    formats: tuple[str, ...] = (),
) -> list[str]:
    """The format names the flags ask for, each once, in table order then `formats`.

    Example:
        >>> select_formats(int8=True, tensorrt=True)
        ['tflite-int8', 'tensorrt-int8']
        >>> select_formats()
        ['tflite-fp32']
    """
    flags = {"fp32": fp32, "fp16": fp16, "dynamic_range": dynamic_range, "int8": int8, "qat": qat}
    names = [fmt for flag, fmt in TFLITE_FLAGS if flags[flag]]
    if onnx:
        names.append("onnx")
    if tensorrt:
        trt = [fmt for flag, fmt in TENSORRT_FLAGS if flags[flag]]
        names += trt or ["tensorrt"]
    names += list(formats)
    if not names:
        names = [DEFAULT_FORMAT]
    return list(dict.fromkeys(names))


@contextmanager
def _qat_progress(bar, task):
    """Shows the QAT worker's progress lines (minutes of fine-tuning) in the bar's description."""

    class _ToBar(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            bar.update(task, description=f"export: {record.getMessage()}"[:80])

    log = logging.getLogger("jndtf.export.qat")
    handler, level = _ToBar(logging.INFO), log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


@dataclass(frozen=True)
class ExportSettings:
    """What one `jndtf export` run asks for (filled by the command, read by :func:`run`).

    Each field's default and help are written here once; `jndtf export`'s options are derived
    from them (:func:`jndtf.cli._settings.settings_command`). Sizes are ``(width, height)``,
    written ``WIDTHxHEIGHT`` on the command line.
    `formats` comes from the precision flags (:func:`select_formats`).
    """

    model: str | None = option(
        argument=True,
        default=None,
        show_default=False,
        help="Registered model (its shipped weights, e.g. acol), a .keras path, or "
        "SPEC:PATH (a registered model describing the input of the .keras file).",
    )
    formats: tuple[str, ...] = ()
    out_dir: Path = option("--out", "-o", default=Path("out/export"), help=OUT_HELP)
    input_size: tuple[int, int] | None = size_option(
        "--size",
        default=export_defaults.DEFAULT_INPUT_SIZE,  # (width, height)
        help="Fixed input size WIDTHxHEIGHT of the exported model (fixed is fastest on "
        "device: export one per deployed resolution).",
    )
    calib_data: Path | None = option(
        "--calib-data",
        default=None,
        show_default=False,
        help="Folder of calibration images; one in eight (at least one) is held back for "
        "the parity report (default: the bundled sample photos, motorcycle_left held back).",
    )
    num_calibration: int = option(
        "--num-calib",
        default=export_defaults.DEFAULT_NUM_CALIBRATION,
        min=1,
        help="Representative crops for int8.",
    )
    int8_io: bool = option(
        "--int8-io", default=False, help="int8 input/output tensors for --int8/--qat."
    )
    parity: bool = option(
        "--parity/--no-parity",
        default=True,
        help="Check the parity against Keras (--no-parity: skip it, faster).",
    )
    num_parity: int = option(
        "--num-parity",
        default=export_defaults.DEFAULT_NUM_PARITY,
        min=1,
        help="Held-back crops of the parity check.",
    )
    name: str | None = option(
        "--name",
        default=None,
        show_default=False,
        help="File stem of the exports (default: the model's name).",
    )
    seed: int = option("--seed", default=0, help="Seed of crops and noise signs.")
    qat_steps: int = option(
        "--qat-steps",
        default=export_defaults.DEFAULT_QAT_STEPS,
        min=0,
        help="Fine-tuning steps of --qat.",
    )
    trt_opt_size: tuple[int, int] | None = size_option(
        "--trt-opt",
        help="WIDTHxHEIGHT the dynamic TensorRT profile is tuned for (default 640x360).",
    )
    trt_max_size: tuple[int, int] | None = size_option(
        "--trt-max",
        help="Largest WIDTHxHEIGHT of the dynamic TensorRT profile (default 1920x1080).",
    )
    cam: bool = option(
        "--cam/--no-cam",
        default=True,
        help="Classifiers family (resnet, vgg, alexnet, densenet, mobilenet and their "
        "_small/_tiny, PRESET:PATH, a `jndtf train classifiers` run's .keras): write "
        "NAME-cam-FORMAT.tflite with two outputs, the logits and the per-class CAM, what "
        "`jndtf stream --classifier` and the DMV-JND need (tflite-fp32/tflite-int8; other "
        "formats are logits only), at 32x32 unless --size/--dynamic. --no-cam: logits only. "
        "Other families: ignored.",
    )
    classifiers: Path | None = option(
        "--classifiers",
        default=None,
        show_default=False,
        help="DMV-JND-NET: a `jndtf train classifiers` run folder (or one classifier .keras) "
        "whose merged CAM is the 4th input channel of calibration and parity (default: the "
        "folder the model's manifest names).",
    )


def run(settings: ExportSettings, progress=None) -> list:
    """Runs :func:`jndtf.export.export_model` with `settings`; returns its results."""
    from jndtf.export import export_model

    return export_model(
        settings.model,
        list(settings.formats),
        out_dir=settings.out_dir,
        input_size=settings.input_size,
        calib_data=settings.calib_data,
        num_calibration=settings.num_calibration,
        int8_io=settings.int8_io,
        parity=settings.parity,
        num_parity=settings.num_parity,
        name=settings.name,
        seed=settings.seed,
        qat_steps=settings.qat_steps,
        trt_opt_size=settings.trt_opt_size,
        classifiers=settings.classifiers,
        trt_max_size=settings.trt_max_size,
        progress=progress,
    )


def run_cam(settings: ExportSettings, formats: list[str], progress=None) -> list:
    """A CAM classifier's `formats` (:func:`jndtf.export.cam.export_cam_formats`) with
    `settings`; returns their results."""
    from jndtf.export.cam import export_cam_formats

    return export_cam_formats(
        settings.model,
        formats,
        out_dir=settings.out_dir,
        input_size=settings.input_size,
        calib_data=settings.calib_data,
        num_calibration=settings.num_calibration,
        name=settings.name,
        seed=settings.seed,
        progress=progress,
    )


def _human(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return str(n)


def result_rows(results) -> list[dict]:
    """One table row per exported file; size in % of the tflite-fp32 (else ONNX) file."""
    ref = next((r for r in results if r.format == "tflite-fp32"), None)
    ref = ref or next((r for r in results if r.format == "onnx"), None)
    rows = []
    for r in results:
        p = r.parity
        rows.append(
            {
                "format": r.format,
                "file": r.path.name,
                "size": _human(r.size_bytes),
                "size_bytes": r.size_bytes,
                "pct_fp32": None if ref is None else 100.0 * r.size_bytes / ref.size_bytes,
                "map_psnr_db": None if p is None else p.map_psnr_db,
                "max_abs_err": None if p is None else p.max_abs_err,
                "ms_ssim_keras": None if p is None else p.ms_ssim_keras,
                "ms_ssim_export": None if p is None else p.ms_ssim_export,
                "ms_ssim_delta": None if p is None else p.ms_ssim_delta,
            }
        )
    return rows


def _print_formats() -> None:
    import importlib.util

    from rich.table import Table

    from jndtf.export.formats import FORMATS

    table = Table(title="export formats (jndtf export --format NAME)")
    table.add_column("name", no_wrap=True)
    table.add_column("file", no_wrap=True)
    for header in ("calibration", "here", "what (runs on)"):
        table.add_column(header)
    for f in FORMATS.values():
        missing = [m for m in f.requires if importlib.util.find_spec(m) is None]
        table.add_row(
            f.name,
            f.suffix,
            "yes" if f.needs_calibration else "-",
            "yes" if not missing else "needs " + ", ".join(missing),
            f"{f.description} ({f.runtime})",
        )
    stdout.print(table)


@settings_command(app, "export", ExportSettings)
def export_command(
    settings: ExportSettings,
    ctx: typer.Context,
    fp32: Annotated[bool, typer.Option("--fp32", help="TFLite float32.")] = False,
    fp16: Annotated[bool, typer.Option("--fp16", help="TFLite float16 weights.")] = False,
    dynamic_range: Annotated[
        bool, typer.Option("--dynamic-range", help="TFLite int8 weights, float activations.")
    ] = False,
    int8: Annotated[
        bool,
        typer.Option(
            "--int8",
            help="TFLite int8 post-training quantization, calibrated on --calib-data.",
        ),
    ] = False,
    qat: Annotated[
        bool,
        typer.Option(
            "--qat",
            help="TFLite int8 by quantization-aware training (ACoL family; pip install "
            '"jndtf\\[qat]").',
        ),
    ] = False,
    onnx: Annotated[bool, typer.Option("--onnx", help="ONNX (opset 17, tf2onnx).")] = False,
    tensorrt: Annotated[
        bool,
        typer.Option(
            "--tensorrt",
            help="TensorRT engine (from the ONNX export) in each precision asked for among "
            "--fp32/--fp16/--int8 (fp32 if none); needs TensorRT 10 and an NVIDIA GPU here.",
        ),
    ] = False,
    formats: Annotated[
        list[str] | None,
        typer.Option(
            "--format",
            metavar="NAME",
            help="Any format of --list-formats (repeatable).",
            show_default=False,
        ),
    ] = None,
    dynamic: Annotated[
        bool,
        typer.Option(
            "--dynamic", help="Dynamic input H, W instead of --size (resized at run time)."
        ),
    ] = False,
    list_formats: Annotated[
        bool, typer.Option("--list-formats", help="List the export formats and exit.")
    ] = False,
) -> None:
    """Export a learned JND model: each file gets NAME.json beside it (family, preset, input
    size policy, priors and their settings, normalization, JND units, I/O quantization,
    sha256 of the file and of the source .keras, jndtf version) and a parity report against
    Keras on held-back images (map PSNR, MS-SSIM of the eq. (7)-injected image).

    A CAM classifier (resnet, vgg, alexnet, densenet, mobilenet, *_small/_tiny, PRESET:PATH)
    is exported at its 32x32 training size as NAME-cam-FORMAT.tflite, logits + CAM (--cam,
    the default; its parity: labels and CAM vs Keras), what `jndtf stream --classifier C
    --dmv D` runs; a DMV-JND-NET E-D as `jndtf export dmv --int8 --size WxH` (the frame size
    the stream runs it at, or 32x32 for --dmv-layout tiles)."""
    if list_formats:
        _print_formats()
        return
    with user_errors():
        if settings.model is None:
            raise ValueError(
                "give the MODEL to export (e.g. `jndtf export acol --int8`), or --list-formats"
            )
        if dynamic and given(ctx, "input_size"):
            raise ValueError("--size and --dynamic exclude each other: pick one")
        from jndtf.export.formats import get_format

        names = select_formats(
            fp32=fp32,
            fp16=fp16,
            dynamic_range=dynamic_range,
            int8=int8,
            qat=qat,
            onnx=onnx,
            tensorrt=tensorrt,
            formats=tuple(formats or ()),
        )
        for n in names:
            get_format(n)  # unknown name: ValueError listing the formats
        calib_data = settings.calib_data
        if calib_data is not None and not calib_data.is_dir():
            raise ValueError(f"--calib-data {calib_data} is not a folder of images")
        from jndtf.export.cam import CAM_FORMATS, DEFAULT_SIZE, is_cam_classifier

        classifier = is_cam_classifier(settings.model)
        size = settings.input_size
        if classifier and not given(ctx, "input_size"):
            size = DEFAULT_SIZE  # the classifiers' training size, not the JND crop
        cam_names = [n for n in names if n in CAM_FORMATS] if classifier and settings.cam else []
        if cam_names and settings.int8_io:
            raise ValueError(
                "--int8-io is not available for the CAM export (float input and outputs); "
                "add --no-cam for a logits-only int8-I/O classifier"
            )
        settings = dataclasses.replace(
            settings,
            formats=tuple(n for n in names if n not in cam_names),
            input_size=None if dynamic else size,
        )
    if cam_names and settings.formats:
        err.print(
            f"[yellow]note:[/] {', '.join(settings.formats)}: logits only (the CAM output is "
            f"exported for {', '.join(CAM_FORMATS)})",
            highlight=False,
        )
    model = settings.model
    results = []
    with progress_bar() as bar:
        task = bar.add_task("export", total=len(names))
        step = stepper(bar, task)
        with user_errors(), _qat_progress(bar, task):
            try:
                if cam_names:
                    results += run_cam(settings, cam_names, progress=step)
                if settings.formats:
                    results += run(settings, progress=step)
            except RuntimeError as e:  # a converter failed (tf2onnx, QAT worker, TensorRT)
                err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
                raise typer.Exit(1) from None
    from jndtf.bench.report import Column, render_table

    columns = [Column(k, h, f, j) for k, h, f, j in RESULT_TABLE]
    fixed = settings.input_size
    size_text = "dynamic H, W" if fixed is None else f"{fixed[0]}x{fixed[1]}"
    title = f"{model} exported ({size_text}); parity vs Keras on held-back crops"
    table = render_table(result_rows(results), columns, title=title)
    table.columns[0].no_wrap = True
    stdout.print(table)
    for r in results:  # the file names, in full (the table leaves them out to stay narrow)
        stdout.print(f"wrote {r.path} + {r.manifest_path.name}", highlight=False)
        cam = r.manifest.get("cam") if isinstance(r.manifest, dict) else None
        if cam and "parity" in cam:
            p = cam["parity"]
            worst = p.get("cam_max_abs_error")
            stdout.print(
                f"  CAM parity vs Keras on {p['crops']} held-back crops: labels agree "
                f"{100 * p['label_agreement']:.0f} %, CAM max |err| "
                f"{'n/a' if worst is None else f'{worst:.3f}'} (0..1)",
                highlight=False,
            )


__all__ = [
    "ExportSettings",
    "export_command",
    "parse_size",
    "result_rows",
    "run",
    "run_cam",
    "select_formats",
]
