"""`jndtf train ...`: thin commands over the training recipes (need the [train] extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import TextColumn

from jndtf.cli._shared import (
    app,
    command_line,
    err,
    progress_bar,
    require_training,
    stdout,
    user_errors,
)

train_app = typer.Typer(
    help="Train a jndtf network (needs the \\[train] extra: TensorFlow + Keras).",
    no_args_is_help=True,
)
app.add_typer(train_app, name="train")


def resume_mode(checkpoint: Path, resume: bool, resume_or_start: bool) -> bool:
    """Whether to resume, from --resume / --resume-or-start and whether `checkpoint` exists.

    --resume without a checkpoint is refused (a typo in --out must not silently start over);
    --resume-or-start says on stderr which of the two it does.

    Raises:
        ValueError: both options, or --resume and no checkpoint.
    """
    if resume and resume_or_start:
        raise ValueError("give --resume or --resume-or-start, not both")
    found = checkpoint.is_file()
    if resume and not found:
        raise ValueError(
            f"--resume: there is no checkpoint at {checkpoint}, so nothing to continue; check "
            "--out (the run folder of the interrupted run), or pass --resume-or-start to start "
            "a new run when there is none"
        )
    if resume_or_start:
        what = f"resuming from {checkpoint}" if found else f"no checkpoint at {checkpoint}"
        err.print(
            f"[bold]{escape(what)}[/]" + ("" if found else ": starting a new run"),
            highlight=False,
        )
    return found and (resume or resume_or_start)


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
        require_training()
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
            command=command_line(),
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
    injection: Annotated[
        str,
        typer.Option(
            help="How L1 sees the map: signed (x_o + R·x_j, R = ±1 every step, as eq. 7) or add "
            "(x_o + x_j, eq. 3 literally, which the A-IQA metrics barely see)."
        ),
    ] = "signed",
    padding: Annotated[
        str,
        typer.Option(
            help="Border handling of the convs: reflect (a flat image gives a flat map to the "
            "edge) or zeros (the presets' 'same', as the shipped weights; border lines)."
        ),
    ] = "reflect",
    term_every: Annotated[
        int,
        typer.Option(
            help="Every N steps, log δ·L1, η·L2 and L1's share of the gradient norm per layer "
            "group (progress line + TensorBoard); 0: off."
        ),
    ] = 10,
    aiqa_classifier: Annotated[
        Path | None, typer.Option(help="A-IQA classifier .keras (default: the shipped one).")
    ] = None,
    saliency_model: Annotated[
        Path | None,
        typer.Option(
            help="Trained saliency net (.keras/.tflite from `jndtf train saliency`) for the "
            "f_va prior (default: the classical spectral residual)."
        ),
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
        bool,
        typer.Option(
            "--resume",
            help="Continue from the run folder's checkpoint (refused when there is none).",
        ),
    ] = False,
    resume_or_start: Annotated[
        bool,
        typer.Option(
            "--resume-or-start",
            help="Continue from the checkpoint if there is one, else start a new run (says which).",
        ),
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
        require_training()
        from jndtf.train.acol import AcolTrainConfig, TrainingInterrupted
        from jndtf.train.acol import train_acol as run
        from jndtf.train.acol.checkpoint import checkpoint_path

        resume = resume_mode(checkpoint_path(out), resume, resume_or_start)

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
            injection=injection,
            padding=padding,
            term_log_every=term_every,
            aiqa_classifier=str(aiqa_classifier) if aiqa_classifier else None,
            saliency_model=str(saliency_model) if saliency_model else None,
            max_images=max_images,
            seed=seed,
            cache_dir=str(cache_dir) if cache_dir else None,
            resume=resume,
            mixed_precision=mixed_precision,
            jit_compile=xla,
            distribution=distribution,
            tensorboard=tensorboard,
            command=command_line(),
        )
    with progress_bar(TextColumn("{task.fields[losses]}")) as bar:
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
                    losses=f"L1 {p.l1:.4g}  L2 {p.l2:.4f}  L {p.total:.4f}"
                    + (
                        f"  δL1 {p.terms['delta_l1']:.3g} ηL2 {p.terms['eta_l2']:.3g} "
                        f"∇ share L1 {100 * p.terms['share_l1']:.0f}%"
                        if p.terms
                        else ""
                    ),
                )

        try:
            with user_errors():
                result = run(config, progress=step)
        except TrainingInterrupted as e:
            err.print(
                f"[bold yellow]interrupted:[/] {escape(str(e))}; continue with --resume",
                highlight=False,
            )
            raise typer.Exit(130) from None
        except FloatingPointError as e:
            err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False)
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
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue from the checkpoint (refused when there is none)."),
    ] = False,
    resume_or_start: Annotated[
        bool,
        typer.Option(
            "--resume-or-start",
            help="Continue from the checkpoint if there is one, else start a new run (says which).",
        ),
    ] = False,
) -> None:
    """Train the compact PoolNet saliency network (the f_va prior of ACoL-JND) on photo/mask
    pairs; without trained weights jndtf uses the classical spectral-residual saliency."""
    with user_errors():
        require_training()
        from jndtf.train.saliency import SaliencyTrainConfig
        from jndtf.train.saliency import train_saliency as run

        resume = resume_mode(out.with_name(out.stem + ".ckpt.npz"), resume, resume_or_start)

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
            command=command_line(),
            verbose=1 if err.is_terminal else 2,
        )
        result = run(config)
    stdout.print(
        f"held-out MAE {result.heldout_mae:.4f}, max F {result.heldout_max_f:.4f} in "
        f"{result.seconds:.0f} s -> {result.model_path}",
        highlight=False,
    )
