"""`jndtf report`: one HTML page from the outputs of `eval jnd`, `eval rd` and `bench`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jndtf.cli._settings import option, settings_command
from jndtf.cli._shared import app, progress_bar, stdout, stepper, user_errors


@dataclass(frozen=True)
class ReportSettings:
    """`jndtf report RUN [RUN...] -o report.html`: each default and help written once, here;
    the arguments of :func:`jndtf.report.build_report`."""

    runs: tuple[Path, ...] = option(
        argument=True,
        cli_type=list[Path],
        parse=tuple,
        metavar="RUN_DIR",
        show_default=False,
        help="Output folders of jndtf eval jnd / eval rd / bench (a folder may hold several), "
        "or a bench .csv file.",
    )
    out: Path = option(
        "--out",
        "-o",
        default=Path("out/report.html"),
        help="The HTML page (written atomically; plots are linked relative to it).",
    )
    embed: bool = option(
        "--embed/--link",
        default=False,
        help="Inline the plots as data URIs: one file to mail or move (larger), instead of "
        "links relative to the page.",
    )
    title: str = option("--title", default="jndtf report", help="Title of the page.")


@settings_command(app, "report", ReportSettings)
def report(settings: ReportSettings) -> None:
    """One self-contained HTML page (no JavaScript, nothing from the network) from the outputs
    of `jndtf eval jnd`, `jndtf eval rd` and `jndtf bench`: what was run (the recorded
    command and CPU line), every table, the BD-rate tables with the anchors, and the plots. A
    page whose image or link would not resolve is not written."""
    with user_errors():
        from jndtf.report import build_report

    with progress_bar() as bar:
        step = stepper(bar, bar.add_task("report", total=None))
        with user_errors():
            result = build_report(
                list(settings.runs),
                settings.out,
                embed=settings.embed,
                title=settings.title,
                progress=step,
            )
    kinds = ", ".join(f"{s.kind} ({s.source})" for s in result.sections)
    stdout.print(f"wrote {result.path} ({result.nbytes} bytes): {kinds}", highlight=False)
