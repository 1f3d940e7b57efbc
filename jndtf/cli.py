"""The `jndtf` command line. Thin commands: each fills a frozen settings object or calls one
library function; heavy imports (TensorFlow, the models) happen inside the command that needs them,
so `jndtf --help` is instant and never loads TensorFlow."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from jndtf import __version__

# TensorFlow's C++ start-up chatter (CUDA probes, oneDNN notices) is not for a CLI user.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

app = typer.Typer(
    name="jndtf",
    help="Just-noticeable-difference (JND) maps: priors, classical models, noise injection, "
    "learned models, export and the edge runtime.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)
stdout = Console(soft_wrap=True)

#: errors a user can act on: printed as one line, exit code 2, no traceback
USER_ERRORS = (ValueError, KeyError, FileNotFoundError, ImportError, OSError)


@contextmanager
def user_errors():
    """Turns the library's validation errors into a one-line message and exit code 2."""
    try:
        yield
    except USER_ERRORS as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        err.print(f"[bold red]error:[/] {msg}", highlight=False)
        raise typer.Exit(2) from None


def for_each(items: Iterable, label: str, fn: Callable) -> list:
    """Runs `fn` on every item with a progress bar. A file that fails is reported by name and
    skipped; the others still run. Exit code 1 at the end if any failed."""
    items = list(items)
    results, failed = [], []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=len(items) < 2 or not err.is_terminal,
    ) as bar:
        task = bar.add_task(label, total=len(items))
        for item in items:
            try:
                results.append(fn(item))
            except USER_ERRORS as e:
                failed.append(item)
                msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
                err.print(f"[bold red]error:[/] {msg}", highlight=False)
            bar.advance(task)
    if failed:
        err.print(
            f"[bold red]{len(failed)} of {len(items)} inputs failed[/]; the others were written"
        )
        raise typer.Exit(1)
    return results


def _version(value: bool) -> None:
    if value:
        stdout.print(f"jndtf {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """jndtf: JND maps for people and for machines."""


InputPath = Annotated[
    Path, typer.Argument(help="An image file or a folder of images.", show_default=False)
]
OutDir = Annotated[Path, typer.Option("--out", "-o", help="Output folder (created if missing).")]


@app.command("list")
def list_() -> None:
    """List the prior maps and the JND models this installation provides."""
    from jndtf import baselines
    from jndtf import priors as priors_mod

    stdout.print("[bold]prior maps[/] (jndtf priors --names ...)")
    for name, doc in priors_mod.describe().items():
        stdout.print(f"  {name:<28} {doc}", highlight=False)
    stdout.print("[bold]classical JND models[/] (jndtf baseline MODEL ...)")
    for name in baselines.available():
        stdout.print(f"  {name:<28} {baselines.info(name).citation}", highlight=False)


@app.command()
def priors(
    image: InputPath,
    out_dir: OutDir = Path("out/priors"),
    names: Annotated[
        str,
        typer.Option(
            "--names",
            help="Comma-separated prior names (default: all; `jndtf list` names them).",
        ),
    ] = "",
) -> None:
    """Write every prior map of IMAGE (or of each image in a folder) as PNG + .npy.

    Files: OUT/<image stem>/<prior>.npy (float32, the prior's own units) and .png (scaled).
    """
    from jndtf import jobs
    from jndtf import priors as priors_mod

    with user_errors():
        wanted = [n.strip() for n in names.split(",") if n.strip()] or None
        if wanted:
            priors_mod.check_names(wanted)
        files = jobs.resolve_inputs(image)
    records = for_each(files, "priors", lambda p: jobs.write_priors(p, out_dir, wanted))
    for r in records:
        stdout.print(
            f"{r.image.name}: {len(r.files) // 2} maps in {r.seconds:.2f} s -> "
            f"{out_dir / r.image.stem}",
            highlight=False,
        )


@app.command()
def baseline(
    model: Annotated[
        str,
        typer.Argument(help="Classical JND model (`jndtf list` names them).", show_default=False),
    ],
    image: InputPath,
    out_dir: OutDir = Path("out/baseline"),
) -> None:
    """Compute a classical JND map (MODEL) of IMAGE or of each image in a folder.

    Files: OUT/<image stem>/jnd_<MODEL>.npy (float32, pixel units 0..255) and .png (scaled).
    """
    from jndtf import baselines, jobs

    with user_errors():
        baselines.get(model)
        files = jobs.resolve_inputs(image)
    records = for_each(files, f"{model}", lambda p: jobs.write_jnd(p, out_dir, model))
    for r in records:
        stdout.print(
            f"{r.image.name}: mean JND {r.mean_jnd:.2f} in {r.seconds:.2f} s -> {r.files[0]}",
            highlight=False,
        )


@app.command()
def jnd(
    image: InputPath,
    out_dir: OutDir = Path("out/jnd"),
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="Learned model with shipped weights (acol), a .keras file, or a "
            "classical model name.",
        ),
    ] = "acol",
) -> None:
    """Compute JND maps with a learned model (default: the shipped ACoL-JND weights).

    Files: OUT/<image stem>/jnd_<model>.npy (float32 HxWx3, pixel units 0..255) and .png.
    Learned models need the [train] extra.
    """
    from jndtf import jobs

    with user_errors():
        files = jobs.resolve_inputs(image)
        jobs.jnd_function(model)  # unknown name or missing weights: fail before any work
    records = for_each(files, model, lambda p: jobs.write_jnd(p, out_dir, model))
    for r in records:
        stdout.print(
            f"{r.image.name}: mean JND {r.mean_jnd:.2f} in {r.seconds:.2f} s -> {r.files[0]}",
            highlight=False,
        )


@app.command()
def inject(
    image: InputPath,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Output image file (single input) or folder (folder input).",
        ),
    ] = Path("out/inject"),
    jnd: Annotated[
        Path | None,
        typer.Option("--jnd", help="JND map .npy in pixel units (from `jndtf baseline`)."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Compute the JND map with this model instead of --jnd."),
    ] = None,
    psnr: Annotated[
        float | None,
        typer.Option("--psnr", help="Target PSNR in dB (the ACoL paper compares at 26.06)."),
    ] = None,
    mse: Annotated[
        float | None,
        typer.Option("--mse", help="Target MSE instead of --psnr (the hmJND paper uses 100)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random ±1 signs R.")] = 0,
) -> None:
    """Inject JND-shaped noise, eq. (7): clip(x + λ·R·JND), λ solved to hit --psnr or --mse.

    Writes the distorted image and OUT.json (λ, achieved PSNR/MSE, seed, timings).
    """
    from jndtf import jobs

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

    def target(p: Path) -> Path:
        if single:
            return out
        tag = f"psnr{psnr:g}" if psnr is not None else f"mse{mse:g}"
        return out / f"{p.stem}_{model or 'jnd'}_{tag}.png"

    records = for_each(
        files,
        "inject",
        lambda p: jobs.write_injection(
            p, target(p), model=model, jnd_path=jnd, psnr=psnr, mse=mse, seed=seed
        ),
    )
    for r in records:
        stdout.print(
            f"{Path(r.image).name}: PSNR {r.psnr:.3f} dB, MSE {r.mse:.2f}, "
            f"λ={r.scale:.4f} -> {r.output}",
            highlight=False,
        )


@app.command()
def samples(
    out_dir: OutDir = Path("out/samples"),
    clip: Annotated[
        bool, typer.Option("--clip/--no-clip", help="Also write the synthesized camera clip.")
    ] = True,
) -> None:
    """Write the sample photos (scikit-image's bundled real photos) and a synthesized clip."""
    from jndtf import samples as samples_mod

    with user_errors():
        paths = samples_mod.write_samples(out_dir)
        for p in paths:
            stdout.print(f"wrote {p}", highlight=False)
        if clip:
            info = samples_mod.synthesize_clip(out_dir / "camera.mp4")
            stdout.print(
                f"wrote {info.path} ({info.frames} frames, {info.size[0]}x{info.size[1]}, "
                f"{info.fps:g} fps, scene cuts at frames {list(info.cuts)})",
                highlight=False,
            )


@app.command()
def demo(
    out_dir: OutDir = Path("out/demo"),
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Folder of images (default: the shipped sample photos)."),
    ] = None,
    psnr: Annotated[float, typer.Option("--psnr", help="Injection target in dB.")] = 26.06,
    models: Annotated[
        str, typer.Option("--models", help="Comma-separated JND models (default: all registered).")
    ] = "",
) -> None:
    """The main job end to end: priors -> JND maps -> injection at one PSNR -> side-by-side
    images and a table of timings and achieved PSNR (OUT/summary.md, OUT/summary.csv)."""
    from jndtf import demo as demo_mod

    with user_errors():
        settings = demo_mod.DemoSettings(
            out_dir=out_dir,
            data=data,
            psnr=psnr,
            models=tuple(m.strip() for m in models.split(",") if m.strip()),
        )
        demo_mod.check(settings)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as bar:
        task = bar.add_task("demo", total=None)

        def step(description: str, done: int, total: int) -> None:
            bar.update(task, description=description, completed=done, total=total)

        with user_errors():
            summary = demo_mod.run_demo(settings, progress=step)
    stdout.print(summary.markdown(), highlight=False)
    stdout.print(f"\nwrote {summary.out_dir}", highlight=False)


train_app = typer.Typer(
    help="Train a jndtf network (needs the [train] extra: TensorFlow + Keras).",
    no_args_is_help=True,
)
app.add_typer(train_app, name="train")


@train_app.command("aiqa")
def train_aiqa(
    data: Annotated[
        Path,
        typer.Option("--data", help="Folder of clean images (at least 2).", show_default=False),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Output .keras file; the manifest is written beside it as .json."
        ),
    ] = Path("runs/aiqa/aiqa_resnet_tiny.keras"),
    preset: Annotated[str, typer.Option(help="Classifier preset.")] = "aiqa_resnet_tiny",
    epochs: Annotated[int, typer.Option(help="Epochs (of --steps batches each).")] = 30,
    steps: Annotated[
        int, typer.Option(help="Batches per epoch (patches are made on the fly).")
    ] = 40,
    batch_size: Annotated[int, typer.Option(help="Patches per batch.")] = 32,
    crop_size: Annotated[int, typer.Option(help="Patch side in pixels (>= 16).")] = 64,
    learning_rate: Annotated[float, typer.Option(help="Initial Adam learning rate.")] = 2e-3,
    holdout_fraction: Annotated[
        float, typer.Option(help="Share of the source images held out for the accuracy figure.")
    ] = 0.25,
    seed: Annotated[int, typer.Option(help="Seed of the split, patches and weights.")] = 0,
) -> None:
    """Train the A-IQA distortion-group classifier (L1 of ACoL-JND) on TID2008-style
    distortions synthesized from a folder of clean images; no dataset download needed."""
    with user_errors():
        from jndtf._deps import require

        require("keras", "training")
        from jndtf.train.aiqa import AIQATrainConfig
        from jndtf.train.aiqa import train_aiqa as run

        config = AIQATrainConfig(
            data_dir=str(data),
            output=str(out),
            preset=preset,
            epochs=epochs,
            steps_per_epoch=steps,
            batch_size=batch_size,
            crop_size=crop_size,
            learning_rate=learning_rate,
            holdout_fraction=holdout_fraction,
            seed=seed,
            command=" ".join(["jndtf", *sys.argv[1:]]),
            verbose=1 if err.is_terminal else 2,
        )
        result = run(config)
    stdout.print(
        f"held-out accuracy {result.heldout_accuracy:.3f} "
        f"({', '.join(result.heldout_images)} held out) in {result.seconds:.0f} s -> "
        f"{result.model_path}",
        highlight=False,
    )


@train_app.command("acol")
def train_acol(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="Folder of training images (the paper: 1000 random COCO2017 images).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Run folder: model.keras, manifest.json, checkpoints/, logs/."
        ),
    ] = Path("runs/acol"),
    preset: Annotated[
        str, typer.Option(help="acol (full) or an ablation: bl, bl_acol, bl_pmcm.")
    ] = "acol",
    width: Annotated[
        str, typer.Option(help="Width multiplier: default, tiny or a number.")
    ] = "default",
    epochs: Annotated[
        int, typer.Option(help="Total epochs (a resumed run continues to this).")
    ] = 100,
    steps: Annotated[
        int | None, typer.Option(help="Batches per epoch (default: images / batch).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Global batch (paper: 32).")] = 32,
    crop_size: Annotated[int, typer.Option(help="Random square crop side (paper: 176).")] = 176,
    lr: Annotated[float, typer.Option("--lr", help="Adam learning rate (paper: 1e-5).")] = 1e-5,
    delta: Annotated[float, typer.Option(help="δ of eq. (6), weight of L1.")] = 1.0,
    eta: Annotated[float, typer.Option(help="η of eq. (6), weight of the eq. (5) loss.")] = 0.1,
    l1: Annotated[
        str, typer.Option(help="L1 of eq. (6): aiqa (paper) or an IQA metric name.")
    ] = "aiqa",
    aiqa_classifier: Annotated[
        Path | None, typer.Option(help="A-IQA classifier .keras (default: the shipped one).")
    ] = None,
    max_images: Annotated[
        int | None, typer.Option(help="Seeded random subset of the images.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of weights, subset, order and crops.")] = 0,
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="Prior cache (default: $JNDTF_CACHE_DIR or ~/.cache/jndtf/inputs)."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the run folder's checkpoint.")
    ] = False,
    mixed_precision: Annotated[
        bool, typer.Option("--mixed-precision", help="mixed_float16 compute (GPU).")
    ] = False,
    xla: Annotated[bool, typer.Option("--xla", help="XLA-compile the train step (GPU).")] = False,
    distribution: Annotated[
        str,
        typer.Option(help="auto, none, mirrored, multi_worker (TF_CONFIG) or data_parallel (JAX)."),
    ] = "auto",
    tensorboard: Annotated[
        bool, typer.Option("--tensorboard/--no-tensorboard", help="Write TensorBoard logs.")
    ] = True,
) -> None:
    """Train ACoL-JND (or an ablation) with eq. (6), L = δ·A-IQA + η·eq. (5), on any folder of
    images. Checkpoints every epoch and on Ctrl-C; --resume continues exactly."""
    with user_errors():
        from jndtf._deps import require

        require("keras", "training")
        from jndtf.train.acol import AcolTrainConfig, TrainingInterrupted
        from jndtf.train.acol import train_acol as run

        config = AcolTrainConfig(
            data_dir=str(data),
            output_dir=str(out),
            preset=preset,
            width=float(width) if width.replace(".", "", 1).isdigit() else width,
            epochs=epochs,
            steps_per_epoch=steps,
            batch_size=batch_size,
            crop_size=crop_size,
            learning_rate=lr,
            delta=delta,
            eta=eta,
            l1=l1,
            aiqa_classifier=str(aiqa_classifier) if aiqa_classifier else None,
            max_images=max_images,
            seed=seed,
            cache_dir=str(cache_dir) if cache_dir else None,
            resume=resume,
            mixed_precision=mixed_precision,
            jit_compile=xla,
            distribution=distribution,
            tensorboard=tensorboard,
            command=" ".join(["jndtf", *sys.argv[1:]]),
        )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[losses]}"),
        console=err,
    ) as bar:
        task = bar.add_task("preparing", total=None, losses="")

        def step(p) -> None:
            if p.phase == "inputs":
                bar.update(
                    task, description="priors", completed=p.step, total=p.steps, losses=p.item or ""
                )
            elif p.phase == "train":
                bar.update(
                    task,
                    description=f"epoch {p.epoch}/{p.epochs}",
                    completed=p.step,
                    total=p.steps,
                    losses=f"L1 {p.l1:.4f}  L2 {p.l2:.4f}  L {p.total:.4f}",
                )

        try:
            with user_errors():
                result = run(config, progress=step)
        except TrainingInterrupted as e:
            err.print(f"[bold yellow]interrupted:[/] {e}; continue with --resume", highlight=False)
            raise typer.Exit(130) from None
        except FloatingPointError as e:
            err.print(f"[bold red]error:[/] {e}", highlight=False)
            raise typer.Exit(3) from None
    losses = result.final_losses
    stdout.print(
        f"{result.epochs} epochs in {result.seconds:.0f} s, final L1 {losses['l1']:.4f} "
        f"L2 {losses['l2']:.4f} L {losses['total']:.4f} -> {result.model_path}",
        highlight=False,
    )


@train_app.command("saliency")
def train_saliency(
    data: Annotated[
        Path,
        typer.Option("--data", help="Folder of photos (DUTS/MSRA-B layout).", show_default=False),
    ],
    masks: Annotated[
        Path,
        typer.Option("--masks", help="Folder of masks, matched by file stem.", show_default=False),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output .keras file (manifest beside it as .json).")
    ] = Path("runs/saliency/poolnet_small.keras"),
    preset: Annotated[str, typer.Option(help="poolnet_small or poolnet_tiny.")] = "poolnet_small",
    epochs: Annotated[int, typer.Option(help="Epochs (sets the cosine schedule).")] = 30,
    steps: Annotated[
        int | None, typer.Option(help="Batches per epoch (default: pairs/batch).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Pairs per batch.")] = 8,
    crop_size: Annotated[int, typer.Option(help="Random square crop side.")] = 224,
    lr: Annotated[float, typer.Option("--lr", help="AdamW learning rate.")] = 1e-3,
    iou_weight: Annotated[
        float, typer.Option(help="Weight of the soft IoU loss (0: BCE only).")
    ] = 0.0,
    holdout_fraction: Annotated[float, typer.Option(help="Share of pairs held out.")] = 0.1,
    mask_threshold: Annotated[
        float | None,
        typer.Option(help="Binarize soft masks at this value (0..1); default keeps them soft."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of split, crops and weights.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the checkpoint.")] = False,
) -> None:
    """Train the compact PoolNet saliency network (the f_va prior of ACoL-JND) on photo/mask
    pairs; without trained weights jndtf uses the classical spectral-residual saliency."""
    with user_errors():
        from jndtf._deps import require

        require("keras", "training")
        from jndtf.train.saliency import SaliencyTrainConfig
        from jndtf.train.saliency import train_saliency as run

        config = SaliencyTrainConfig(
            data_dir=str(data),
            masks_dir=str(masks),
            output=str(out),
            preset=preset,
            epochs=epochs,
            steps_per_epoch=steps,
            batch_size=batch_size,
            crop_size=crop_size,
            learning_rate=lr,
            iou_weight=iou_weight,
            holdout_fraction=holdout_fraction,
            mask_threshold=mask_threshold,
            seed=seed,
            resume=resume,
            command=" ".join(["jndtf", *sys.argv[1:]]),
            verbose=1 if err.is_terminal else 2,
        )
        result = run(config)
    stdout.print(
        f"held-out MAE {result.heldout_mae:.4f}, max F {result.heldout_max_f:.4f} in "
        f"{result.seconds:.0f} s -> {result.model_path}",
        highlight=False,
    )


eval_app = typer.Typer(help="Evaluate JND models with the papers' protocols.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


@eval_app.command("jnd")
def eval_jnd(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Folder of images (default: the shipped sample photos)."),
    ] = None,
    models: Annotated[
        str,
        typer.Option(
            "--models",
            help="Comma-separated models: classical names, 'uniform' (the control), "
            "learned names or .keras paths, LABEL=REF (default: all classical + uniform).",
        ),
    ] = "",
    metrics: Annotated[
        str, typer.Option("--metrics", help="Comma-separated IQA metrics.")
    ] = "nlpd,mad,vif,ms_ssim,ssim",
    psnr: Annotated[
        float | None,
        typer.Option("--psnr", help="Injection target in dB (default 26.06, the ACoL paper's)."),
    ] = None,
    mse: Annotated[
        float | None,
        typer.Option("--mse", help="Injection target as MSE instead (the hmJND paper uses 100)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the ±1 noise signs.")] = 0,
    save_images: Annotated[
        bool, typer.Option("--save-images", help="Also write every JND map and injected image.")
    ] = False,
    out_dir: OutDir = Path("out/eval"),
) -> None:
    """The ACoL-JND paper's protocol (§4.4): every model's JND map injected by eq. (7) at the
    same PSNR, scored with IQA metrics; tables (CSV, Markdown, JSON) and bar charts (PNG)."""
    from jndtf.evaluate import PAPER_PSNR, EvalSettings, evaluate_jnd

    with user_errors():
        if psnr is not None and mse is not None:
            raise ValueError("give at most one of --psnr or --mse")
        settings = EvalSettings(
            out_dir=out_dir,
            data=data,
            models=tuple(m.strip() for m in models.split(",") if m.strip()),
            metrics=tuple(m.strip() for m in metrics.split(",") if m.strip()),
            psnr=None if mse is not None else (psnr if psnr is not None else PAPER_PSNR),
            mse=mse,
            seed=seed,
            save_images=save_images,
        )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as bar:
        task = bar.add_task("eval", total=None)

        def step(description: str, done: int, total: int) -> None:
            bar.update(task, description=description, completed=done, total=total)

        with user_errors():
            report = evaluate_jnd(settings, progress=step)
    from jndtf.evaluate import markdown

    stdout.print(markdown(report), highlight=False)
    stdout.print(f"\nwrote {out_dir}", highlight=False)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
