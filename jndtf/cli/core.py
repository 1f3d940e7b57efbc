"""Core commands (numpy + OpenCV; learned models load TensorFlow only when asked for)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jndtf.cli._settings import Cli, option, settings_command
from jndtf.cli._shared import (
    IMAGE_HELP,
    OUT_HELP,
    app,
    for_each,
    progress_bar,
    stdout,
    stepper,
    user_errors,
)
from jndtf.demo import DemoSettings
from jndtf.refs import DEFAULT_JND_MODEL
from jndtf.refs import HELP as MODEL_HELP
from jndtf.settings import COMMA_LIST


@app.command("list")
def list_() -> None:
    """List the prior maps and the JND models this installation provides."""
    from rich.markup import escape

    from jndtf import baselines
    from jndtf import priors as priors_mod
    from jndtf.models.registry import get_model_spec
    from jndtf.refs import known_models, shipped_models

    stdout.print("[bold]prior maps[/] (jndtf priors --names ...)")
    for name, doc in priors_mod.describe().items():
        stdout.print(f"  {name:<28} {doc}", highlight=False)
    stdout.print("[bold]classical JND models[/] (jndtf baseline MODEL ...)")
    for name in baselines.available():
        stdout.print(f"  {name:<28} {baselines.info(name).citation}", highlight=False)
    stdout.print(
        "[bold]learned JND models[/] (jndtf jnd --model NAME ...; "
        'needs pip install "jndtf\\[train]")'
    )
    shipped = shipped_models("keras")
    for name in known_models()["learned"]:
        weights = "shipped weights" if name in shipped else "no shipped weights: train it"
        text = f"{get_model_spec(name).description} ({weights})"
        stdout.print(f"  {name:<28} {escape(text)}", highlight=False)


@dataclass(frozen=True)
class PriorsSettings:
    """`jndtf priors`: each option's default and help, once."""

    image: Path = option(argument=True, show_default=False, help=IMAGE_HELP)
    out_dir: Path = option("--out", "-o", default=Path("out/priors"), help=OUT_HELP)
    names: tuple[str, ...] = option(
        "--names",
        default=(),
        **COMMA_LIST,
        help="Comma-separated prior names (default: all; `jndtf list` names them).",
    )


@dataclass(frozen=True, kw_only=True)
class TiledSettings:
    """The large-image options of `jndtf baseline` and `jndtf jnd` (written once, here)."""

    tile: int = option(
        "--tile",
        default=1024,
        help="Large images: learned models run in TILE x TILE tiles (overlapped, blended), "
        "classical ones in bands of about TILE^2 pixels (the same map); 0 = the whole image "
        "at once.",
    )
    max_megapixels: float | None = option(
        "--max-megapixels",
        default=None,
        show_default=False,
        help="Refuse images above this many megapixels, read from the file header before "
        "decoding (default: $JNDTF_MAX_MEGAPIXELS, else 120). Memory grows per pixel: "
        "benchmarks/memory_per_mp.py.",
    )


@dataclass(frozen=True, kw_only=True)
class BaselineSettings(TiledSettings):
    """`jndtf baseline MODEL IMAGE`."""

    model: str = option(
        argument=True, show_default=False, help="Classical JND model (`jndtf list` names them)."
    )
    image: Path = option(argument=True, show_default=False, help=IMAGE_HELP)
    out_dir: Path = option("--out", "-o", default=Path("out/baseline"), help=OUT_HELP)


@dataclass(frozen=True, kw_only=True)
class JndSettings(TiledSettings):
    """`jndtf jnd IMAGE` (the model's default: :data:`jndtf.refs.DEFAULT_JND_MODEL`)."""

    image: Path = option(argument=True, show_default=False, help=IMAGE_HELP)
    out_dir: Path = option("--out", "-o", default=Path("out/jnd"), help=OUT_HELP)
    model: str = option(
        "--model",
        default=DEFAULT_JND_MODEL,
        help=MODEL_HELP["keras"],
    )


@dataclass(frozen=True)
class InjectSettings:
    """`jndtf inject IMAGE` (eq. (7)); exactly one of `psnr`/`mse`, one of `jnd`/`model`."""

    image: Path = option(argument=True, show_default=False, help=IMAGE_HELP)
    out: Path = option(
        "--out",
        "-o",
        default=Path("out/inject"),
        help="Output image file (single input) or folder (folder input).",
    )
    jnd: Path | None = option(
        "--jnd", default=None, help="JND map .npy in pixel units (from `jndtf baseline`)."
    )
    model: str | None = option(
        "--model", default=None, help="Compute the JND map with this model instead of --jnd."
    )
    psnr: float | None = option(
        "--psnr", default=None, help="Target PSNR in dB (the ACoL paper compares at 26.06)."
    )
    mse: float | None = option(
        "--mse", default=None, help="Target MSE instead of --psnr (the hmJND paper uses 100)."
    )
    seed: int = option("--seed", default=0, help="Seed of the random ±1 signs R.")


@dataclass(frozen=True)
class SamplesSettings:
    """`jndtf samples`."""

    out_dir: Path = option("--out", "-o", default=Path("out/samples"), help=OUT_HELP)
    clip: bool = option(
        "--clip/--no-clip", default=True, help="Also write the synthesized camera clip."
    )


@settings_command(app, "priors", PriorsSettings)
def priors(settings: PriorsSettings) -> None:
    """Write every prior map of IMAGE (or of each image in a folder) as PNG + .npy.

    Files: OUT/<image stem>/<prior>.npy (float32, the prior's own units) and .png (scaled).
    """
    from jndtf import jobs
    from jndtf import priors as priors_mod

    out_dir = settings.out_dir
    with user_errors():
        wanted = list(settings.names) or None
        if wanted:
            priors_mod.check_names(wanted)
        files = jobs.resolve_inputs(settings.image)

    def line(r) -> None:
        stdout.print(
            f"{r.image.name}: {len(r.files) // 2} maps in {r.seconds:.2f} s -> "
            f"{out_dir / r.image.stem}",
            highlight=False,
        )

    for_each(files, "priors", lambda p: jobs.write_priors(p, out_dir, wanted), done=line)


class _LazyBar:
    """A tile/band progress bar for one large image, shown from the first report only."""

    def __init__(self, label: str):
        self.label, self.bar, self.task = label, None, None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = progress_bar()
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=total)
        self.bar.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _write_jnds(files: list[Path], out_dir: Path, model: str, tile: int, max_mp, done=None) -> list:
    """`jobs.write_jnd` for every file (for_each); one file gets a bar over its tiles/bands."""
    from jndtf import jobs

    bar = _LazyBar(f"{Path(model).stem} (tiles/bands)") if len(files) == 1 else None
    try:
        return for_each(
            files,
            Path(model).stem,
            lambda p: jobs.write_jnd(
                p, out_dir, model, tile=tile, max_megapixels=max_mp, progress=bar
            ),
            done=done,
        )
    finally:
        if bar is not None:
            bar.close()


def _jnd_line(r) -> None:
    stdout.print(
        f"{r.image.name}: mean JND {r.mean_jnd:.2f} in {r.seconds:.2f} s -> {r.files[0]}",
        highlight=False,
    )


def _jnd_command(settings, check_model) -> None:
    """`baseline` and `jnd`: options, inputs and the model checked before any work (one line
    on failure), then every map written with its line."""
    from jndtf import jobs
    from jndtf.tiling import check_tile
    from jndtf.tiling import max_megapixels as limit

    with user_errors():
        check_tile(settings.tile)
        limit(settings.max_megapixels)
        files = jobs.resolve_inputs(settings.image)
        check_model(settings.model)  # unknown name or missing weights: fail before work
    _write_jnds(
        files,
        settings.out_dir,
        settings.model,
        settings.tile,
        settings.max_megapixels,
        done=_jnd_line,
    )


@settings_command(app, "baseline", BaselineSettings)
def baseline(settings: BaselineSettings) -> None:
    """Compute a classical JND map (MODEL) of IMAGE or of each image in a folder.

    Files: OUT/<image stem>/jnd_<MODEL>.npy (float32, pixel units 0..255) and .png (scaled).
    """
    from jndtf import baselines

    _jnd_command(settings, baselines.get)


@settings_command(app, "jnd", JndSettings)
def jnd(settings: JndSettings) -> None:
    """Compute JND maps with a learned model (default: the shipped ACoL-JND weights).

    Files: OUT/<image stem>/jnd_<model>.npy (float32 HxWx3, pixel units 0..255) and .png.
    Learned models need the \\[train] extra.
    """
    from jndtf import jobs

    _jnd_command(settings, jobs.jnd_function)


@settings_command(app, "inject", InjectSettings)
def inject(settings: InjectSettings) -> None:
    """Inject JND-shaped noise, eq. (7): clip(x + λ·R·JND), λ solved to hit --psnr or --mse.

    Writes the distorted image (lossless: .png, .bmp, .tif, .ppm) and OUT.json beside it
    (λ, the PSNR/MSE of the file as written, seed, timings).
    """
    from jndtf import jobs
    from jndtf.io import check_lossless

    image, out, jnd, model = settings.image, settings.out, settings.jnd, settings.model
    psnr, mse, seed = settings.psnr, settings.mse, settings.seed
    with user_errors():
        if (psnr is None) == (mse is None):
            raise ValueError("give exactly one of --psnr or --mse")
        if (jnd is None) == (model is None):
            raise ValueError("give exactly one of --jnd MAP.npy or --model NAME")
        files = jobs.resolve_inputs(image)
        if jnd is not None and len(files) > 1:
            raise ValueError(
                "--jnd takes one map, so IMAGE must be one file (use --model for folders)"
            )
        if model is not None:
            jobs.jnd_function(model)

    single = len(files) == 1 and image.is_file() and out.suffix != ""
    if single:
        with user_errors():
            check_lossless(out, "an injected image")  # a JPEG would not hold the PSNR solved

    def target(p: Path) -> Path:
        if single:
            return out
        tag = f"psnr{psnr:g}" if psnr is not None else f"mse{mse:g}"
        return out / f"{p.stem}_{model or 'jnd'}_{tag}.png"

    def line(r) -> None:
        stdout.print(
            f"{Path(r.image).name}: PSNR {r.psnr:.3f} dB, MSE {r.mse:.2f}, "
            f"λ={r.scale:.4f} -> {r.output}",
            highlight=False,
        )

    for_each(
        files,
        "inject",
        lambda p: jobs.write_injection(
            p, target(p), model=model, jnd_path=jnd, psnr=psnr, mse=mse, seed=seed
        ),
        done=line,
    )


@settings_command(app, "samples", SamplesSettings)
def samples(settings: SamplesSettings) -> None:
    """Write the sample photos (scikit-image's bundled real photos) and a synthesized clip."""
    from jndtf import samples as samples_mod

    with user_errors():
        paths = samples_mod.write_samples(settings.out_dir)
        for p in paths:
            stdout.print(f"wrote {p}", highlight=False)
        if settings.clip:
            info = samples_mod.synthesize_clip(settings.out_dir / "camera.mp4")
            stdout.print(
                f"wrote {info.path} ({info.frames} frames, {info.size[0]}x{info.size[1]}, "
                f"{info.fps:g} fps, scene cuts at frames {list(info.cuts)})",
                highlight=False,
            )


#: `jndtf demo`'s options; each default is the :class:`jndtf.demo.DemoSettings` field's.
DEMO_CLI = {
    "out_dir": Cli(flags=("--out", "-o"), help=OUT_HELP),
    "data": Cli(help="Folder of images (default: the shipped sample photos)."),
    "psnr": Cli(help="Injection target in dB."),
    "models": Cli(
        **COMMA_LIST,
        help="Comma-separated JND models (default: all registered).",
    ),
    "deploy": Cli(
        flags=("--deploy/--no-deploy",),
        help="Also export ACoL-JND to int8 and run the edge stream on the synthesized clip "
        "(OUT/deploy; needs the train and edge extras, skipped with a note otherwise).",
    ),
}


@settings_command(app, "demo", DemoSettings, cli=DEMO_CLI)
def demo(settings: DemoSettings) -> None:
    """The main job end to end: priors -> JND maps -> injection at one PSNR -> side-by-side
    images and a table of timings and achieved PSNR (OUT/summary.md, OUT/summary.csv); then the
    deployment: int8 export of ACoL-JND -> edge runtime on a camera clip (eq. 14 + JPEG)."""
    from jndtf import demo as demo_mod

    with user_errors():
        demo_mod.check(settings)
    with progress_bar() as bar:
        step = stepper(bar, bar.add_task("demo", total=None))
        with user_errors():
            summary = demo_mod.run_demo(settings, progress=step)
    stdout.print(summary.markdown(), highlight=False)
    stdout.print(f"\nwrote {summary.out_dir}", highlight=False)
