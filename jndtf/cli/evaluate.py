"""`jndtf eval ...`: the papers' evaluation protocols."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jndtf.cli._shared import OutDir, app, progress_bar, stdout, stepper, user_errors

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
    with progress_bar() as bar:
        step = stepper(bar, bar.add_task("eval", total=None))
        with user_errors():
            report = evaluate_jnd(settings, progress=step)
    from jndtf.evaluate import markdown

    stdout.print(markdown(report), highlight=False)
    stdout.print(f"\nwrote {out_dir}", highlight=False)
