"""`jndtf eval ...`: the papers' evaluation protocols."""

from __future__ import annotations

import dataclasses

import typer

from jndtf.cli._settings import Cli, given, settings_command
from jndtf.cli._shared import OUT_HELP, app, progress_bar, stdout, stepper, user_errors
from jndtf.evaluate.protocol import EvalSettings
from jndtf.settings import COMMA_LIST

eval_app = typer.Typer(help="Evaluate JND models with the papers' protocols.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


#: `jndtf eval jnd`'s options; each default is the :class:`EvalSettings` field's.
EVAL_JND_CLI = {
    "out_dir": Cli(flags=("--out", "-o"), help=OUT_HELP),
    "data": Cli(help="Folder of images (default: the shipped sample photos)."),
    "models": Cli(
        **COMMA_LIST,
        help="Comma-separated models: classical names, 'uniform' (the control), "
        "learned names or .keras paths (ACoL-JND: acol; hmJND-Net: hmjnd, the shipped preset "
        "its manifest names, hmjnd_tiny, or hmjnd_tiny:PATH.keras; its map is |I - I_rr|), "
        "LABEL=REF; REF@grey (the map averaged over its channels), "
        "REF@split=OTHER (REF's grey map with OTHER's colour split) (default: all classical + "
        "uniform).",
    ),
    "metrics": Cli(help="Comma-separated IQA metrics.", **COMMA_LIST),
    "psnr": Cli(help="Injection target in dB (the ACoL paper's; give --mse instead for MSE)."),
    "mse": Cli(help="Injection target as MSE instead (the hmJND paper uses 100)."),
    "seed": Cli(help="Seed of the ±1 noise signs."),
    "save_images": Cli(help="Also write every JND map and injected image."),
}


@settings_command(eval_app, "jnd", EvalSettings, cli=EVAL_JND_CLI)
def eval_jnd(settings: EvalSettings, ctx: typer.Context) -> None:
    """The ACoL-JND paper's protocol (§4.4): every model's JND map injected by eq. (7) at the
    same PSNR, scored with IQA metrics; tables (CSV, Markdown, JSON) and bar charts (PNG)."""
    from jndtf.evaluate import evaluate_jnd

    with user_errors():
        if settings.mse is not None:
            if given(ctx, "psnr"):
                raise ValueError("give at most one of --psnr or --mse")
            settings = dataclasses.replace(settings, psnr=None)
    out_dir = settings.out_dir
    with progress_bar() as bar:
        step = stepper(bar, bar.add_task("eval", total=None))
        with user_errors():
            report = evaluate_jnd(settings, progress=step)
    from jndtf.evaluate import markdown

    stdout.print(markdown(report), highlight=False)
    stdout.print(f"\nwrote {out_dir}", highlight=False)
