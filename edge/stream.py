"""`jndtf stream`: JND-guided pre-processing and encoding of a camera/video stream, with reports.

Issue 6, "human viewers": each frame's JND map (:class:`jndtf.edge.JndMapper`) drives one of
`jndtf compress`'s methods (issue 13.4; :mod:`jndtf.apply.methods`, run frame by frame by
:class:`jndtf.edge.stream_stage.FrameMethod`): ``dct`` (the JPEG default: quantized DCT
coefficients zeroed inside the encoder while every pixel stays within s·JND), ``none`` (the
H.264 default: no measured method beats plain x264 at equal quality), ``eq14`` (eq. (14) of
hmJND-Net, :func:`jndtf.edge.preprocess.preprocess_frame`), ``smooth`` and the stateful
``temporal`` filters; the map is multiplied by ``strength``. Then the frame is encoded as JPEG or
H.264. The same encoder at the same settings codes the unprocessed frame too, so every frame
reports its bytes with and without the method and the quality of both decoded frames against
the original (PSNR every frame, MS-SSIM every Nth: :mod:`jndtf.edge.quality`). ``dct`` writes
optimized Huffman tables and the plain baseline (OpenCV) does not: part of its byte change
(about 4-7 % on photos) is that rewrite alone, which ``libjpeg-turbo-opt`` in `jndtf eval rd`
separates.

Pipeline (three threads on top of the source's capture thread): the caller's thread pulls frames
and runs the mapper (whose own worker computes the priors of frame t+1 while frame t's inference
runs); an encode thread pre-processes and encodes frame t while the mapper works on t+1, with
the comparison encode of the unprocessed frame in a second worker; quality, outputs and the
JSON-lines record follow in the encode thread. A bounded hand-off (2 frames) keeps memory flat.

Shutdown: SIGINT/SIGTERM (when :func:`run_stream` runs in the main thread) stop the intake;
the frame in flight and those already handed off are finished, the encoders are flushed, the
MP4 gets its index and is renamed into place, the stats file gets its summary line. A second
signal interrupts at once (the files are still closed, the MP4 then holds what was coded).
An error mid-stream (a frame the mapper refuses, a full disk) also closes every file and writes
the summary (``stop_reason`` and ``error`` say what happened) before it is raised, with the
report attached to the exception as ``stream_report``. ``kill -9`` cannot be caught: the H.264
output is a fragmented MP4 while it is written (:mod:`jndtf.edge.encoders`), so the partial
file plays up to the last fragment, and the next run into the same folder keeps it under a
visible name or removes what cannot be played (:func:`jndtf.edge.encoders.clean_stale_partials`).

Bad input (issue 15): a folder source skips files that do not decode or are too small and
resizes (or skips, ``size_change="skip"``) images of another size, each named in a note; a video
file that ends before its container's frame count is flagged. Notes go to the ``notes``
callback as they happen and into the report (``source_problems``, ``warnings``).

Bytes and quality: the report's ``comparison`` (:func:`jndtf.edge.compare.compare`) puts the
quality change beside the byte change, warns when the pre-processed stream is larger or worse,
and (``equal_quality``) measures the plain encoder's bytes at the pre-processed stream's PSNR
on a sample of frames. ``saving`` alone is never a saving at equal quality.

Example:
    >>> settings = StreamSettings(source="camera.mp4", model="yang2005", codec="h264", crf=23,
    ...                           out_dir=Path("out"), stats_path=Path("out/stats.jsonl"))
    >>> report = run_stream(settings)
    >>> report.bytes_processed, report.bytes_original, report.saving
"""

from __future__ import annotations

import collections
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from math import inf
from pathlib import Path
from types import SimpleNamespace

from jndtf.edge.encoders import (
    DEFAULT_CRF,
    DEFAULT_JPEG_QUALITY,
    DEFAULT_PRESET,
    DEFAULT_TUNE,
    H264_PRESETS,
    H264_TUNES,
)
from jndtf.edge.stream_report import StreamReport, emit, rss_mb, summarize
from jndtf.edge.stream_stage import (
    DEFAULT_STRENGTH,
    STAGES,
    EncodeStage,
    Pending,
    check_method,
    default_method,
)

from jndtf.settings import option

#: Defaults chosen with ``jndtf bench stream`` (2 shared CPU cores, 640x360, yang2005): the map
#: at half resolution, recomputed every 2nd frame or at a scene change, ran 60 fps with JPEG and
#: 35 fps with H.264 (comparison encode included), map PSNR 44 dB against full-resolution
#: per-frame maps. ACoL-JND (tflite fp32) needs ``jnd_scale=0.25, reuse=4`` for ~47 fps there.
#: Those figures were taken with eq. (14) (~2 ms/frame); the JPEG default method is now ``dct``,
#: which adds ~100-120 ms per 640x360 frame on the same 2 cores (jndtf bench stream: 9.5 fps at
#: the defaults, under a load average of 10), so a 30 fps JPEG stream needs ``--method eq14``
#: or ``none`` there until ``dct`` gets faster.
DEFAULT_JND_SCALE = 0.5
DEFAULT_REUSE = 2


@dataclass(frozen=True)
class StreamSettings:
    """Everything :func:`run_stream` needs (the CLI fills it from its options).

    Attributes:
        source: camera index, video file, image folder or stream URL
            (:func:`jndtf.edge.sources.open_source`).
        model: as :func:`jndtf.refs.resolve_model` reads it with ``runtime="litert"``: a
            shipped name (``acol``: its int8 ``.tflite``), an exported ``.tflite`` (manifest
            beside it, sha256-verified) or a classical model name (``yang2005``, ...).
        codec: ``"jpeg"`` or ``"h264"``.
        quality: JPEG quality 1..100.
        crf: H.264 constant rate factor 0..51.
        preset: x264 preset.
        tune: x264 tune (``"zerolatency"``: one packet per frame, no look-ahead) or None.
        jnd_scale: inference resolution / frame resolution; None: :data:`DEFAULT_JND_SCALE` for
            classical and dynamic-size models, 1 for a model exported at a fixed size (which
            always runs at that size).
        reuse: recompute the map at least every N frames (scene changes force a new map).
        scene_change_threshold: mean abs luma difference / 255 that forces a new map (None:
            interval only).
        threads: interpreter threads of the model.
        max_frames: stop after this many frames (None: until the source ends or a signal).
        size: ``(width, height)`` to resize frames to (None: the source's size).
        source_mode: ``"auto"``, ``"live"`` (drop frames when behind) or ``"file"``.
        method: the pre-processing method (:func:`jndtf.edge.stream_stage.stream_methods`);
            None: `jndtf compress`'s default for the codec (``dct`` for JPEG, ``none`` for
            H.264, :func:`~jndtf.edge.stream_stage.default_method`).
        strength: the map multiplier s of the method.
        channels: eq. (14) on ``"luma"``, ``"rgb"``, or ``"auto"`` (luma for 1-channel maps,
            rgb for 3-channel maps).
        block: eq. (14) block side.
        compare: also encode the unprocessed frame (the byte and quality baseline).
        quality_every: PSNR of every Nth frame (0: none).
        ms_ssim_every: MS-SSIM of every Nth frame (0: none; frames under 176 px: none).
        out_dir: where the encoded stream goes (``processed.mp4`` or ``processed_jpeg/``) and
            the maps and preview (None: nothing is written but the stats).
        save_maps: ``"video"`` (``OUT/jnd_map.mp4``), ``"png"`` (``OUT/jnd_maps/``) or None.
        preview: side-by-side preview (a window when a display exists, else
            ``OUT/preview.mp4``).
        stats_path: JSON-lines stats file (None: none).
        classifier: a classifier ``.tflite`` for machine-vision mode (DMV-JND, RCA): frames are
            pre-processed by :class:`jndtf.edge.machine.MachineVisionStage` instead.
        classifier_mode: the stage's mode (:data:`jndtf.edge.machine.MODES`): ``eq14``,
            ``smooth`` (both remove detail: fewer JPEG bytes), ``quantize`` (adds bytes) or
            ``perturb`` (x + e; with `dmv` only).
        classifier_factor: the stage's factor: pixels move at most ``factor / 2`` times the map.
        dmv: a DMV-JND-NET E-D ``.tflite`` (``jndtf export dmv``): the stage computes e from each
            frame with the CAM of `classifier` (exported with its CAM output,
            :func:`jndtf.export.cam.export_cam_classifier`) and uses ``|e|`` as the map; no HVS
            JND map is computed then (`model` is not used).
        dmv_layout: ``"frame"`` or ``"tiles"`` (:mod:`jndtf.edge.dmv`).
        dmv_scale: E-D resolution / frame resolution, (0, 1], frame layout only.
        fps: frame rate written to the MP4 (None: the source's, else 30).
        size_change: a frame of another size than the stream's (a folder's image, a stream
            that changes resolution): ``"resize"`` it (with a note) or ``"skip"`` it.
        equal_quality: with `compare`, code a sample of the untouched frames at a ladder of
            encoder settings at the end and report the plain encoder's bytes at the
            pre-processed stream's PSNR (:mod:`jndtf.edge.compare`).
    """

    source: str
    model: str
    codec: str = "jpeg"
    quality: int = DEFAULT_JPEG_QUALITY
    crf: float = DEFAULT_CRF
    preset: str = DEFAULT_PRESET
    tune: str | None = DEFAULT_TUNE
    jnd_scale: float | None = None
    reuse: int = DEFAULT_REUSE
    scene_change_threshold: float | None = 0.1
    threads: int = 2
    max_frames: int | None = None
    size: tuple[int, int] | None = None
    source_mode: str = "auto"
    method: str | None = None
    strength: float = DEFAULT_STRENGTH
    channels: str = "auto"
    block: int = 8
    compare: bool = True
    quality_every: int = 1
    ms_ssim_every: int = 10
    out_dir: Path | None = None
    save_maps: str | None = None
    preview: bool = False
    stats_path: Path | None = None
    classifier: Path | None = None
    classifier_mode: str = option(
        "--mv-method",
        default="eq14",
        help="Machine-vision pre-processing (with --classifier): eq14 (toward 8x8 block means), "
        "smooth (toward 5x5 box means), quantize (step factor x map; adds JPEG bytes) or "
        "perturb (x + e, with --dmv); no pixel moves more than factor/2 x the map.",
    )
    classifier_factor: float = option(
        "--mv-factor",
        default=2.0,
        min=0.0,
        help="Machine-vision factor: pixels move at most factor/2 x the map (2: the DMV-JND "
        "paper's; with --dmv the map is |e|).",
    )
    dmv: Path | None = option(
        "--dmv",
        default=None,
        help="DMV-JND-NET .tflite (jndtf export dmv): with --classifier (exported with its CAM "
        "output), each frame's e from the classifier's CAM replaces the HVS map (--model unused).",
    )
    dmv_layout: str = option(
        "--dmv-layout",
        default="frame",
        help="frame (classifier on the frame resized to its input, E-D on the whole frame) or "
        "tiles (classifier-sized tiles, each with its own CAM).",
    )
    dmv_scale: float = option(
        "--dmv-scale",
        default=1.0,
        help="E-D resolution / frame resolution, (0, 1] (frame layout): its cost falls as "
        "scale^2, e is upsampled back and gets smoother.",
    )
    fps: float | None = None
    size_change: str = "resize"
    equal_quality: bool = True

    def __post_init__(self):
        if self.codec not in ("jpeg", "h264"):
            raise ValueError(f"codec must be 'jpeg' or 'h264', got {self.codec!r}")
        if self.preset not in H264_PRESETS:
            raise ValueError(f"unknown x264 preset {self.preset!r}; choose from {H264_PRESETS}")
        if self.tune is not None and self.tune not in H264_TUNES:
            raise ValueError(f"unknown x264 tune {self.tune!r}; choose from {H264_TUNES}")
        if self.method is not None:
            if self.classifier is not None:
                raise ValueError(
                    "--method is for human viewers; with --classifier the machine-vision "
                    "stage pre-processes the frames"
                )
            check_method(self.method, self.codec)
        if self.classifier is not None or self.dmv is not None:
            from jndtf.edge.machine import DMV_ONLY_MODES, MODES

            if self.classifier is None:
                raise ValueError("--dmv needs --classifier: the CAM classifier (and RCA judge)")
            if self.classifier_mode not in MODES:
                raise ValueError(
                    f"--mv-method must be one of {', '.join(MODES)}, got {self.classifier_mode!r}"
                )
            if self.classifier_mode in DMV_ONLY_MODES and self.dmv is None:
                raise ValueError(f"--mv-method {self.classifier_mode} applies e: give --dmv")
            d = self.dmv_scale
            if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 < d <= 1:
                raise ValueError(f"--dmv-scale must be in (0, 1], got {d!r}")
            if d != 1 and self.dmv_layout == "tiles":
                raise ValueError("--dmv-scale is for --dmv-layout frame (tiles are 32x32)")
            if self.dmv_layout not in ("frame", "tiles"):
                raise ValueError(f"--dmv-layout must be frame or tiles, got {self.dmv_layout!r}")
            f = self.classifier_factor
            if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f < inf:
                raise ValueError(f"--mv-factor must be a positive number, got {f!r}")
        st = self.strength
        if isinstance(st, bool) or not isinstance(st, (int, float)) or not st >= 0 or st == inf:
            raise ValueError(f"strength must be a finite number >= 0, got {st!r}")
        if self.channels not in ("auto", "luma", "rgb"):
            raise ValueError(f"channels must be 'auto', 'luma' or 'rgb', got {self.channels!r}")
        if self.size_change not in ("resize", "skip"):
            raise ValueError(f"size_change must be 'resize' or 'skip', got {self.size_change!r}")
        if self.save_maps not in (None, "video", "png"):
            raise ValueError(f"save_maps must be 'video', 'png' or None, got {self.save_maps!r}")
        if (self.save_maps or self.preview) and self.out_dir is None:
            raise ValueError("--save-maps and --preview write into the output folder: give --out")
        for name in ("quality_every", "ms_ssim_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {v!r}")
        if self.max_frames is not None and (
            isinstance(self.max_frames, bool)
            or not isinstance(self.max_frames, int)
            or self.max_frames < 1
        ):
            raise ValueError(f"max_frames must be a positive integer, got {self.max_frames!r}")

    @property
    def method_name(self) -> str:
        """The method the stream runs: `method`, or the codec's default."""
        return self.method if self.method is not None else default_method(self.codec)


class _StopSignals:
    """SIGINT/SIGTERM set a flag (first) or raise KeyboardInterrupt (second); restored on exit.
    Only the main thread can install handlers: elsewhere this does nothing."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None
        self._old: dict = {}

    def _handle(self, signum, _frame):
        if self.event.is_set():
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name
        self.event.set()

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _open_stage(settings: StreamSettings):
    if settings.classifier is None:
        return None
    from jndtf.edge.machine import MachineVisionStage

    return MachineVisionStage(
        settings.classifier,
        mode=settings.classifier_mode,
        factor=settings.classifier_factor,
        num_threads=settings.threads,
        dmv=settings.dmv,
        layout=settings.dmv_layout,
        dmv_scale=settings.dmv_scale,
    )


class _NoMapper:
    """Stands in for the JndMapper when the machine-vision stage computes its own map (the
    DMV-JND, ``--dmv``): one empty result per frame, no HVS model run."""

    input_size = None
    _RESULT = SimpleNamespace(jnd=None, reused=False, timings_ms={"total": 0.0})

    def __init__(self) -> None:
        self.options = SimpleNamespace(jnd_scale=None)
        self._frames = 0

    def process_video(self, frames):
        for _ in frames:
            self._frames += 1
            yield self._RESULT

    @property
    def stats(self):
        from jndtf.edge.options import JndStats

        return JndStats(frames=self._frames)

    def close(self) -> None:
        pass


def _open_mapper(s: StreamSettings):
    """The JndMapper of `s`, opened once (one sha256 check); ``jnd_scale=None`` resolves as
    :attr:`StreamSettings.jnd_scale`: 1.0 for a model exported at a fixed size (its manifest
    says so, :func:`jndtf.edge.backends.fixed_input_size`), else :data:`DEFAULT_JND_SCALE`."""
    if s.dmv is not None:
        return _NoMapper()
    from jndtf.edge import JndMapper, JndMapperOptions, RunningMode
    from jndtf.edge.backends import fixed_input_size

    scale = s.jnd_scale
    if scale is None:
        scale = 1.0 if fixed_input_size(s.model) is not None else DEFAULT_JND_SCALE
    return JndMapper.create_from_options(
        JndMapperOptions(
            model=s.model,
            num_threads=s.threads,
            running_mode=RunningMode.VIDEO,
            jnd_scale=float(scale),
            reuse_interval=s.reuse,
            scene_change_threshold=s.scene_change_threshold,
            parallel_priors=True,
        )
    )


def run_stream(
    settings: StreamSettings,
    progress: Callable[[str, int, int | None], None] | None = None,
    notes: Callable[[str], None] | None = None,
) -> StreamReport:
    """Runs the stream pipeline (module docstring) until the source ends, `max_frames`, or a
    SIGINT/SIGTERM, and returns the :class:`StreamReport`.

    Args:
        settings: :class:`StreamSettings`.
        progress: ``progress(description, done, total)``, called after every frame with a
            one-line status (fps, drops, bytes and PSNR against the plain encoder); total is
            `max_frames` or None.
        notes: called with one line, as it happens, for each skipped or resized input, a
            source that ends early and a stale partial file cleaned up (default: the
            ``jndtf.edge`` logger); they are also kept in ``report.warnings``.

    Raises:
        ValueError: a model whose manifest or sha256 does not match (nothing is opened or
            written then), a source that cannot be opened, bad settings, or a frame the
            pipeline refuses mid-stream (then every file is closed and the stats end with the
            summary first; the exception carries the report as ``stream_report``).
        FileNotFoundError: a missing model file.
        ImportError: a missing extra (LiteRT for ``.tflite``, PyAV for H.264).
    """
    from jndtf.edge.sources import open_source
    from jndtf.edge.stream_stage import FrameMethod

    s = settings
    label = f"machine vision ({s.classifier_mode}{', DMV-JND' if s.dmv is not None else ''})"
    if s.classifier is None:
        label = FrameMethod(s.method_name, s.strength).label
    report = StreamReport(method=label)

    def note(text: str) -> None:
        if len(report.warnings) < 1000:
            report.warnings.append(text)
        if notes is not None:
            notes(text)
        else:
            logging.getLogger("jndtf.edge").warning("%s", text)

    mapper = _open_mapper(s)  # refuses a bad model (manifest, sha256) before anything opens
    report.jnd = {
        "model": str(s.model),
        "jnd_scale": mapper.options.jnd_scale,
        "reuse": s.reuse,
        "scene_change_threshold": s.scene_change_threshold,
        "model_input_size": mapper.input_size,
    }
    stage = None
    enc: EncodeStage | None = None
    source = None
    failure: BaseException | None = None
    try:
        stage = _open_stage(s)
        if stage is not None and stage.dmv is not None:
            report.jnd = {"model": "dmv-jnd", **stage.dmv.describe()}
        source = open_source(
            s.source,
            mode=s.source_mode,
            max_frames=s.max_frames,
            size=s.size,
            size_change=s.size_change,
            on_note=note,
        )
        with source, _StopSignals() as stop:
            first = next(iter(source), None)
            if first is None:
                raise ValueError(f"{s.source}: the source delivered no frame")
            h, w = first.image.shape[:2]
            if stage is not None and stage.classifier.input_size != (w, h):
                cw, ch = stage.classifier.input_size
                note(
                    f"the classifier takes {cw}x{ch}: each {w}x{h} frame is resized to that "
                    "(area averaging) to be classified; RCA is of those labels"
                    + {
                        None: "",
                        "frame": f"; its CAM is upsampled back to {w}x{h} (frame layout)",
                        "tiles": f"; the CAM is taken per {cw}x{ch} tile (tiles layout)",
                    }[s.dmv_layout if s.dmv is not None else None]
                )
            fps = float(s.fps or source.fps or 30.0)
            if s.out_dir is not None:
                from jndtf.edge.encoders import clean_stale_partials

                for line in clean_stale_partials(s.out_dir):
                    note(line)
            if s.stats_path is not None:
                from jndtf.edge.outputs import keep_unfinished_stats

                kept = keep_unfinished_stats(s.stats_path)
                if kept is not None:
                    note(kept)
            enc = EncodeStage(s, fps, (w, h), stage)
            enc.source_stats = lambda: source.stats
            report.codec = enc.encoders["processed"].settings
            try:
                _run(source, first, mapper, enc, stop, report, progress, s.max_frames)
            finally:
                report.source = {"kind": source.kind, **asdict(source.stats)}
        for rec in enc.flush():
            emit(enc, rec, report, progress, s.max_frames)
    except KeyboardInterrupt:
        report.interrupted, report.stop_reason = True, "second signal: stopped at once"
        if enc is not None:
            for rec in enc.flush():
                emit(enc, rec, report, None, None)
    except Exception as exc:  # closed and summarized below, then raised
        failure = exc
        report.error = str(exc)
        report.stop_reason = f"error: {exc}"
        if enc is not None:
            try:
                for rec in enc.flush():
                    emit(enc, rec, report, None, None)
            except Exception:  # the first error is the one to report
                pass
    finally:
        try:
            if enc is not None:
                enc.close()
        finally:
            mapper_stats = mapper.stats
            mapper.close()
            if stage is not None:
                stage.close()
    if source is not None:
        report.source = {"kind": source.kind, **asdict(source.stats)}
        report.source_problems = list(source.problems)
    summarize(report, enc, mapper_stats, stage, progress, note)
    if enc is not None and enc.stats is not None:
        enc.stats.close({"type": "summary", **report.to_dict()})
    if failure is not None:
        if enc is None:
            raise failure  # nothing was opened or written: the plain error
        failure.stream_report = report
        raise failure
    return report


class _Feeder:
    """Frames from the source to the mapper, one at a time; ``fed`` holds those whose map has
    not come back yet (the mapper reads one frame ahead), oldest first."""

    def __init__(self, source, first, stop: _StopSignals, report: StreamReport):
        self.source, self.first, self.stop, self.report = source, first, stop, report
        self.fed: collections.deque = collections.deque()

    def __iter__(self):
        frames = iter(self.source)
        frame = self.first
        while frame is not None:
            self.fed.append((frame, time.perf_counter()))
            yield frame.image
            if self.stop.event.is_set():
                self.report.interrupted = True
                self.report.stop_reason = f"{self.stop.signal_name}: finished the current frame"
                return
            frame = next(frames, None)


def _run(source, first, mapper, enc: EncodeStage, stop, report, progress, total) -> None:
    """The caller's thread: mapper; the encode thread: everything after (module docstring)."""
    handoff: queue.Queue = queue.Queue(maxsize=2)
    errors: list[BaseException] = []

    def encode_loop():
        while True:
            item = handoff.get()
            if item is None:
                return
            if errors:
                continue  # drain after a failure
            try:
                for rec in enc.submit(item):
                    emit(enc, rec, report, progress, total)
            except BaseException as err:
                errors.append(err)

    worker = threading.Thread(target=encode_loop, name="jndtf-encode", daemon=True)
    worker.start()
    feeder = _Feeder(source, first, stop, report)
    try:
        for k, result in enumerate(mapper.process_video(feeder)):
            frame, t_read = feeder.fed.popleft()
            if enc.t_first is None:
                enc.t_first = t_read
            latency = {"jnd": result.timings_ms.get("total", 0.0)}
            handoff.put(
                Pending(
                    k,
                    frame.index,
                    frame.timestamp_ms,
                    frame.image,
                    result.jnd,
                    result.reused,
                    latency,
                    t_read,
                )
            )
            if errors:
                break
    finally:
        handoff.put(None)
        worker.join()
    if errors:
        raise errors[0]


__all__ = [
    "DEFAULT_JND_SCALE",
    "DEFAULT_REUSE",
    "STAGES",
    "StreamReport",
    "StreamSettings",
    "rss_mb",
    "run_stream",
]
