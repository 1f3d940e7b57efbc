"""`jndtf bench stream`: the edge stream end to end, at the default and cheaper/dearer settings.

Issue 6's goal: >= 30 fps end to end at 640x360 on 2 cores with the default settings, and how
much the cheaper settings cost in JND-map PSNR against full-resolution per-frame inference.

The benchmark synthesizes the camera clip of :func:`jndtf.samples.synthesize_clip` (a pan and
zoom over real photos, a scene cut every second) at the asked size, then for each setting
(``jnd_scale``, ``reuse``):

1. runs :func:`jndtf.edge.stream.run_stream` on the clip file (``mode="file"``: no frame is
   dropped, so every setting codes the same frames; nothing is written) and takes its fps
   (frames / wall-clock seconds from the first frame to the last record), once with the
   comparison encode of the unprocessed frames (what `jndtf stream` does by default) and once
   without it (``--no-compare``: what a deployed pipeline pays);
2. maps the decoded clip with a :class:`jndtf.edge.JndMapper` at that setting and compares each
   map with the map of full-resolution, per-frame inference (``jnd_scale=1``, ``reuse=1``) of
   the same frame: ``map_psnr_db = 10 log10(255^2 / MSE)`` with the MSE over all frames and
   pixels (grey levels; inf for identical maps).

Rows also carry what eq. (14) does to bytes and quality, always together
(:func:`jndtf.edge.compare.compare`): the byte change against the plain encoder at the same
setting, the PSNR change (both streams against the original frames), the byte change at equal
PSNR on a sample of frames (``+`` = eq. (14) costs bytes at equal quality) and a ``warning``
when the pre-processed stream is larger or worse; plus the median per-stage latencies.
Timings on a shared machine are noisy: read them as such.

Example:
    >>> rows = bench_stream(StreamBenchSettings(model="yang2005", seconds=3))
    >>> [(r["setting"], round(r["fps"]), round(r["map_psnr_db"], 1)) for r in rows]
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jndtf.metrics import psnr_from_mse
from jndtf.refs import DEFAULT_EDGE_MODEL

#: CSV columns, in order.
ROW_COLUMNS = (
    "setting",
    "method",
    "model",
    "codec",
    "size",
    "jnd_scale",
    "reuse",
    "frames",
    "fps",
    "fps_no_compare",
    "maps_computed",
    "maps_reused",
    "map_psnr_db",
    "bytes_change_pct",
    "psnr_processed",
    "psnr_original",
    "psnr_change_db",
    "ms_ssim_processed",
    "ms_ssim_original",
    "equal_psnr_change_pct",
    "verdict",
    "warning",
    "jnd_ms_median",
    "preprocess_ms_median",
    "encode_ms_median",
    "quality_ms_median",
    "total_ms_median",
)


@dataclass(frozen=True)
class StreamBenchSettings:
    """What to benchmark.

    Attributes:
        model: what ``jndtf stream`` takes (:func:`jndtf.refs.resolve_model`,
            ``runtime="litert"``): a classical name, a shipped name (``acol``: its int8
            ``.tflite``) or an exported ``.tflite``.
        codec: ``"jpeg"`` or ``"h264"``.
        seconds: clip length (15 fps, a scene cut every second).
        size: ``(width, height)``.
        threads: model threads.
        settings: ``(name, jnd_scale, reuse)`` to run; None: full (1, 1), the defaults, and
            cheaper ones (for a model exported at a fixed size: reuse 1, 2, 4 at its size).
        method: the stream's pre-processing method (``jndtf stream --method``); None: its
            default for the codec.
        strength: the method's map multiplier; None: the stream's default.
    """

    model: str = DEFAULT_EDGE_MODEL
    codec: str = "jpeg"
    seconds: float = 6.0
    size: tuple[int, int] = (640, 360)
    threads: int = 2
    settings: tuple[tuple[str, float, int], ...] | None = None
    method: str | None = None
    strength: float | None = None


def default_settings(fixed_size: bool) -> tuple[tuple[str, float, int], ...]:
    """The rows of the table: full resolution per frame, the defaults, cheaper and dearer."""
    from jndtf.edge.stream import DEFAULT_JND_SCALE, DEFAULT_REUSE

    if fixed_size:
        return (("full", 1.0, 1), ("default", 1.0, DEFAULT_REUSE), ("reuse-4", 1.0, 4))
    return (
        ("full", 1.0, 1),
        ("half", 0.5, 1),
        ("default", DEFAULT_JND_SCALE, DEFAULT_REUSE),
        ("cheap", 0.25, 4),
    )


def _maps(model: str, frames: list[np.ndarray], scale: float, reuse: int, threads: int):
    from jndtf.edge import JndMapper, JndMapperOptions, RunningMode

    opts = JndMapperOptions(
        model=model,
        num_threads=threads,
        running_mode=RunningMode.VIDEO,
        jnd_scale=scale,
        reuse_interval=reuse,
    )
    with JndMapper.create_from_options(opts) as mapper:
        return [np.array(r.jnd, dtype=np.float32) for r in mapper.process_video(frames)]


def _map_psnr(maps: list[np.ndarray], reference: list[np.ndarray]) -> float:
    pairs = zip(maps, reference, strict=True)
    sq = sum(float(np.sum((m.astype(np.float64) - r) ** 2)) for m, r in pairs)
    n = sum(r.size for r in reference)
    return psnr_from_mse(sq / n)


def _pct(fraction: float | None) -> float | None:
    return None if fraction is None else 100.0 * fraction


def bench_stream(
    settings: StreamBenchSettings, progress: Callable[[str, int, int], None] | None = None
) -> list[dict]:
    """Runs the benchmark (module docstring); returns one row per setting (:data:`ROW_COLUMNS`).

    Raises:
        ValueError: a bad model (as `jndtf stream`) or bad settings.
    """
    from jndtf.edge import JndMapper
    from jndtf.edge.sources import open_source
    from jndtf.edge.stream import StreamSettings, run_stream
    from jndtf.samples import synthesize_clip

    b = settings
    with JndMapper.create_from_model_path(b.model) as probe:
        fixed = probe.input_size is not None
    rows_spec = b.settings or default_settings(fixed)
    total = 1 + 3 * len(rows_spec)
    done = 0

    def step(text: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(text, done, total)

    rows = []
    with tempfile.TemporaryDirectory(prefix="jndtf-bench-stream-") as tmp:
        clip = synthesize_clip(Path(tmp) / "clip.mp4", seconds=b.seconds, fps=15.0, size=b.size)
        with open_source(clip.path, mode="file") as src:
            frames = [f.image for f in src]
        reference = _maps(b.model, frames, 1.0, 1, b.threads)
        step("reference maps (full resolution, every frame)")
        for name, scale, reuse in rows_spec:
            common = dict(
                source=str(clip.path),
                model=b.model,
                codec=b.codec,
                jnd_scale=scale,
                reuse=reuse,
                threads=b.threads,
                source_mode="file",
                **{
                    k: v
                    for k, v in (("method", b.method), ("strength", b.strength))
                    if v is not None
                },
            )
            report = run_stream(StreamSettings(**common), notes=lambda _: None)
            step(f"{name}: {report.fps:.1f} fps")
            bare = run_stream(
                StreamSettings(**common, compare=False, quality_every=0, ms_ssim_every=0),
                notes=lambda _: None,
            )
            step(f"{name}: {bare.fps:.1f} fps without the baseline encode")
            maps = _maps(b.model, frames, scale, reuse, b.threads)
            step(f"{name}: map PSNR")
            lat = report.latency_ms
            cmp = report.comparison
            eq = report.equal_quality or {}
            eq_change = eq.get("change_at_equal_quality")
            warnings = [line for line in cmp.get("lines", []) if line.startswith("WARNING")]
            rows.append(
                {
                    "setting": name,
                    "method": report.method,
                    "model": str(b.model),
                    "codec": b.codec,
                    "size": f"{b.size[0]}x{b.size[1]}",
                    "jnd_scale": scale,
                    "reuse": reuse,
                    "frames": report.frames,
                    "fps": report.fps,
                    "fps_no_compare": bare.fps,
                    "maps_computed": report.maps_computed,
                    "maps_reused": report.maps_reused,
                    "map_psnr_db": _map_psnr(maps, reference),
                    "bytes_change_pct": _pct(cmp.get("bytes_change")),
                    "psnr_processed": report.psnr_processed,
                    "psnr_original": report.psnr_original,
                    "psnr_change_db": cmp.get("psnr_change_db"),
                    "ms_ssim_processed": report.ms_ssim_processed,
                    "ms_ssim_original": report.ms_ssim_original,
                    "equal_psnr_change_pct": _pct(eq_change),
                    "verdict": cmp.get("verdict"),
                    "warning": " ".join(w.removeprefix("WARNING: ") for w in warnings) or None,
                    **{
                        f"{k}_ms_median": lat.get(k, {}).get("median")
                        for k in ("jnd", "preprocess", "encode", "quality", "total")
                    },
                }
            )
    return rows


__all__ = ["ROW_COLUMNS", "StreamBenchSettings", "bench_stream", "default_settings"]
