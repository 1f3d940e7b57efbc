"""What a `jndtf stream` run reports: :class:`StreamReport`, the per-frame progress line and
the end-of-run summary (bytes beside quality, latencies, the equal-quality comparison).

Split from :mod:`jndtf.edge.stream` (the pipeline) so the pipeline reads as threads and
shutdown, and the reporting as what is counted and printed.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field

from jndtf.edge.stream_stage import EncodeStage, percentiles


@dataclass
class StreamReport:
    """What a stream run did (the CLI prints it; ``asdict`` gives the JSON summary).

    Bytes are totals over the frames coded by both encoders; ``saving`` is
    ``1 - bytes_processed / bytes_original`` at the same encoder setting (negative:
    pre-processing cost bytes) and says nothing by itself: ``comparison`` puts it beside the
    quality change (:func:`jndtf.edge.compare.compare`), ``equal_quality`` holds the plain
    encoder's bytes at the pre-processed PSNR on a sample. Quality means are over the frames
    scored. ``source_problems`` lists skipped/resized inputs (``{"source", "reason",
    "action"}``), ``warnings`` every note printed, ``error`` the error that ended the run.
    Latencies are per-stage medians and 90th percentiles (over the last 10,000 frames) in
    milliseconds; ``fps`` is frames finished per second of wall-clock time from the arrival
    of the first frame to the record of the last.
    """

    frames: int = 0
    elapsed_s: float = 0.0
    fps: float = 0.0
    interrupted: bool = False
    stop_reason: str = "source ended"
    codec: dict = field(default_factory=dict)
    jnd: dict = field(default_factory=dict)
    bytes_processed: int = 0
    bytes_original: int = 0
    bytes_saved: int = 0
    saving: float = math.nan
    psnr_processed: float = math.nan
    psnr_original: float = math.nan
    ms_ssim_processed: float = math.nan
    ms_ssim_original: float = math.nan
    maps_computed: int = 0
    maps_reused: int = 0
    source: dict = field(default_factory=dict)
    latency_ms: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    machine_vision: dict | None = None
    method: str = ""
    comparison: dict = field(default_factory=dict)
    equal_quality: dict | None = None
    source_problems: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    error: str | None = None

    @property
    def stop_signal(self) -> str | None:
        """``"SIGINT"``/``"SIGTERM"`` when a signal stopped the run, else None."""
        if not self.interrupted:
            return None
        for name in ("SIGINT", "SIGTERM"):
            if self.stop_reason.startswith(name):
                return name
        return "SIGINT"  # a second signal (KeyboardInterrupt)

    @property
    def incomplete_input(self) -> bool:
        """Input was skipped (bad files, frames of another size) or a file ended early. A
        camera's or stream's corrupt frames are counted but do not count here: live sources
        lose frames by nature (``source["corrupt"]``, ``["dropped"]`` say how many)."""
        src = self.source or {}
        live = src.get("kind") in ("camera", "url")
        corrupt = src.get("corrupt") and not live
        return bool(corrupt or src.get("refused") or src.get("ended_early"))

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return asdict(self)


def emit(enc: EncodeStage, rec: dict, report: StreamReport, progress, total) -> None:
    """Writes one frame's record to the stats file and reports the progress line (fps, drops,
    bytes against the plain encoder with the PSNR change beside them)."""
    if enc.stats is not None:
        enc.stats.write(rec)
    if progress is not None:
        line = f"{rec['fps'] or 0:5.1f} fps, {rec.get('dropped', 0)} dropped"
        if enc.totals["original"]:
            change = enc.totals["processed"] / enc.totals["original"] - 1.0
            line += f", bytes {100 * change:+.1f}% vs plain"
            (pp, n_p), (po, n_o) = enc.scores["psnr_processed"], enc.scores["psnr_original"]
            if n_p and n_o:
                line += f" at PSNR {pp / n_p - po / n_o:+.2f} dB"
        progress(line, enc.done, total)


def summarize(
    report: StreamReport, enc: EncodeStage | None, mapper_stats, stage, progress=None, note=None
) -> None:
    """Fills `report` at the end of a run: map counts, bytes and quality means, latencies,
    outputs, the machine-vision summary, the equal-quality comparison and the verdict
    (:func:`jndtf.edge.compare.compare`)."""
    report.maps_computed, report.maps_reused = mapper_stats.inferences, mapper_stats.reused
    if enc is None:
        return
    report.frames = enc.done
    if enc.t_first is not None and enc.done:
        report.elapsed_s = enc.t_last - enc.t_first
        report.fps = enc.done / report.elapsed_s if report.elapsed_s > 0 else math.nan
    report.bytes_processed = enc.totals["processed"]
    report.bytes_original = enc.totals["original"]
    if report.bytes_original:
        report.bytes_saved = report.bytes_original - report.bytes_processed
        report.saving = report.bytes_saved / report.bytes_original
    for key, (total, count) in enc.scores.items():
        setattr(report, key, total / count if count else math.nan)
    report.latency_ms = {k: percentiles(list(v)) for k, v in enc.latency.items()}
    report.outputs = dict(enc.outputs)
    if stage is not None:
        report.machine_vision = stage.summary().to_dict()
    if enc.probe is not None and report.error is None and enc.done:
        probe = enc.probe
        if progress is not None:
            progress(
                f"equal-quality comparison: {len(probe.frames)} sample frames at "
                f"{len(probe.ladder())} settings",
                enc.done,
                enc.done,
            )
        try:
            report.equal_quality = probe.result()
        except KeyboardInterrupt:  # Ctrl-C again while comparing: skip it, keep the summary
            report.interrupted = True
            if not report.stop_reason.startswith(("SIGINT", "SIGTERM", "second")):
                report.stop_reason = "SIGINT: during the equal-quality comparison"
            if note is not None:
                note("equal-quality comparison skipped (interrupted)")
    from jndtf.edge.compare import compare

    report.comparison = compare(report.to_dict(), method=report.method)
    if report.machine_vision:
        report.comparison.setdefault("lines", []).append(machine_vision_line(report))


def machine_vision_line(report: StreamReport) -> str:
    """RCA beside the bytes saved at the same encoder setting: a saving means nothing without
    the labels it kept (eq. (16) of DMV-JND)."""
    mv = report.machine_vision or {}
    rca = mv.get("rca")
    rca_text = "n/a" if rca is None or rca != rca else f"{100 * rca:.1f} %"
    saving = mv.get("saving")
    if saving is None or saving != saving:
        bytes_text = "bytes not compared (--no-compare)"
    else:
        bytes_text = (
            f"bytes {-100 * saving:+.1f} % ({mv['bytes_processed']:,} vs "
            f"{mv['bytes_original']:,}) at the same encoder setting"
        )
    return (
        f"{report.method}: RCA {rca_text} ({mv.get('agreed', 0)}/{mv.get('frames', 0)} frames "
        f"kept their label), {bytes_text}, max change {mv.get('max_abs_change', 0):.0f} grey "
        "levels"
    )


def rss_mb() -> float:
    """This process's resident memory in MB (Linux ``/proc``; ``ru_maxrss`` elsewhere, a peak)."""
    try:
        with open(f"/proc/{os.getpid()}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


__all__ = ["StreamReport", "emit", "machine_vision_line", "rss_mb", "summarize"]
