"""The encode stage of `jndtf stream`: the method, both encodes, quality, outputs, stats records.

:class:`EncodeStage` runs in the stream's encode thread (:mod:`jndtf.edge.stream`). For each
frame handed over with its JND map (a :class:`Pending`) it

1. pre-processes the frame by the stream's :class:`FrameMethod` (the methods of `jndtf
   compress`, :mod:`jndtf.apply.methods`: ``none``, ``eq14`` (the fast path
   :func:`jndtf.edge.preprocess.preprocess_frame`), ``smooth``, the stateful temporal
   filters; ``dct`` works inside the JPEG encoder instead, :class:`MethodJpegEncoder`) or, in
   machine-vision mode, by the :class:`jndtf.edge.machine.MachineVisionStage`;
2. encodes it, and the unprocessed frame with the same encoder settings in a worker thread
   (the comparison), keeping each encoder's bytes and decoded picture per frame;
3. once both encodes of a frame are out (H.264 may hold frames back), scores both decoded
   pictures against the original (PSNR every ``quality_every`` frames, MS-SSIM every
   ``ms_ssim_every``), writes the map and the preview, and returns the frame's stats record
   (``{"type": "frame", "bytes": {...}, "psnr": {...}, "latency_ms": {...}, "fps": ...}``).

With the comparison encode on, a sample of (original, pre-processed) frames is kept for the
equal-quality comparison made at the end (:class:`jndtf.edge.compare.EqualQualityProbe`).

Records come out in frame order. Frames waiting for an encoder are the only ones held
(none with JPEG or x264's ``zerolatency``), so memory stays flat over any stream length.
"""

from __future__ import annotations

import collections
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from jndtf.edge.compare import EqualQualityProbe
from jndtf.edge.encoders import EncodedFrame, JpegEncoder, make_encoder
from jndtf.edge.outputs import JsonLinesWriter, MapPngWriter, MapVideoWriter, PreviewWriter
from jndtf.edge.preprocess import preprocess_frame
from jndtf.edge.quality import MS_SSIM_MIN_SIDE, ms_ssim, psnr

from jndtf.apply.methods.temporal import TEMPORAL_METHODS

#: Stages timed per frame (``latency_ms`` of the stats), in pipeline order; ``total`` runs from
#: the frame's arrival to its record.
STAGES = ("jnd", "preprocess", "encode", "quality", "outputs", "total")

#: Frames whose stage latencies the report's median and p90 are taken over (the last ones).
LATENCY_WINDOW = 10_000


#: The map multiplier s of the stream's method unless told: `jndtf compress`'s default.
DEFAULT_STRENGTH = 0.5


def stream_methods() -> list[str]:
    """Every method name `jndtf stream --method` takes: :mod:`jndtf.apply.methods`' registry,
    then the temporal filters."""
    from jndtf.apply.methods import available_methods

    return [*available_methods(), *TEMPORAL_METHODS]


def default_method(codec: str) -> str:
    """`jndtf compress`'s default for `codec`: ``DEFAULT_METHOD`` for JPEG (it works inside
    the encoder), ``DEFAULT_CLIP_METHOD`` for H.264 (:mod:`jndtf.apply.methods`)."""
    from jndtf.apply.methods import DEFAULT_CLIP_METHOD, DEFAULT_METHOD

    return DEFAULT_METHOD if codec == "jpeg" else DEFAULT_CLIP_METHOD


def method_kind(name: str) -> str:
    """``"pixel"``, ``"jpeg"`` (works inside the JPEG encoder) or ``"temporal"`` (stateful);
    ValueError naming the choices for an unknown name."""
    if name in TEMPORAL_METHODS:
        return "temporal"
    from jndtf.apply.methods import available_methods, get_method

    if name not in available_methods():
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(stream_methods())}")
    return get_method(name).kind


def check_method(name: str, codec: str) -> str:
    """`name` if the stream can run it with `codec` (a ``"jpeg"`` method needs JPEG)."""
    if method_kind(name) == "jpeg" and codec != "jpeg":
        pixel = [m for m in stream_methods() if method_kind(m) != "jpeg"]
        raise ValueError(
            f"method {name!r} works inside the JPEG encoder; with --codec {codec} choose one "
            f"of {', '.join(pixel)}"
        )
    return name


class FrameMethod:
    """The stream's method, frame by frame: :meth:`process` for pixel and temporal methods
    (the temporal filter keeps the previous output frame), :meth:`encode_jpeg` for a method
    that works inside the JPEG encoder (``dct``).

    Args:
        name: a name of :func:`stream_methods`.
        strength: the map multiplier s (>= 0; every method keeps each pixel within s·JND).
        block, channels: eq. (14)'s block side and ``"luma"``/``"rgb"``/``"auto"`` (luma for
            1-channel maps): ``eq14`` runs the edge fast path
            :func:`jndtf.edge.preprocess.preprocess_frame` on the map times s (the reference
            :func:`jndtf.apply.preprocess_jpeg` within one grey level).

    Example:
        >>> m = FrameMethod("temporal", 1.0)
        >>> out = m.process(frame, jnd)
    """

    def __init__(
        self, name: str, strength: float, *, block: int = 8, channels: str = "auto"
    ) -> None:
        self.name, self.kind = name, method_kind(name)
        if not (
            isinstance(strength, (int, float))
            and not isinstance(strength, bool)
            and math.isfinite(strength)
            and strength >= 0
        ):
            raise ValueError(f"--strength must be a finite number >= 0, got {strength!r}")
        self.strength, self.block, self.channels = float(strength), block, channels
        self._filter = None
        self._method = None
        if self.kind == "temporal":
            from jndtf.apply.methods import TemporalFilter

            mode, size = TEMPORAL_METHODS[name]
            self._filter = TemporalFilter(self.strength, mode=mode, block=size)
        elif name not in ("none", "eq14"):
            from jndtf.apply.methods import get_method

            self._method = get_method(name)

    @property
    def label(self) -> str:
        """The name reports give the method (``"dct s=0.5"``, ``"none (plain)"``)."""
        if self.name == "none":
            return "none (plain)"
        return f"{'eq. (14)' if self.name == 'eq14' else self.name} s={self.strength:g}"

    def _channels(self, jnd: np.ndarray) -> str:
        if self.channels != "auto":
            return self.channels
        return "luma" if jnd.ndim == 2 or jnd.shape[2] == 1 else "rgb"

    def process(self, frame: np.ndarray, jnd: np.ndarray) -> np.ndarray:
        """The pre-processed uint8 RGB frame (the frame itself for ``none``)."""
        if self.name == "none":
            return frame
        if self.kind == "jpeg":
            raise TypeError(f"method {self.name!r} works inside the encoder: use encode_jpeg")
        if self._filter is not None:
            return self._filter(frame, jnd)
        if self.name == "eq14":
            if self.strength == 0:
                return frame
            return preprocess_frame(
                frame,
                np.asarray(jnd, np.float32) * np.float32(self.strength),
                block=self.block,
                channels=self._channels(jnd),
            )
        return self._method.apply(frame, jnd, self.strength)

    def encode_jpeg(self, frame: np.ndarray, jnd: np.ndarray, quality: int) -> bytes:
        """The JPEG file of a ``"jpeg"`` method (libjpeg-turbo, as the plain baseline)."""
        return self._method.encode(frame, jnd, self.strength, int(quality), "libjpeg-turbo")


class MethodJpegEncoder(JpegEncoder):
    """A :class:`jndtf.edge.encoders.JpegEncoder` whose files come from a ``"jpeg"`` method
    (``dct``): :meth:`encode_with` takes the frame's JND map with the frame."""

    def __init__(self, method: FrameMethod, quality: int, **kwargs) -> None:
        super().__init__(quality, **kwargs)
        self.method = method
        self._jnd: np.ndarray | None = None

    def encode_bytes(self, frame: np.ndarray) -> bytes:
        if self._jnd is None:
            raise RuntimeError("MethodJpegEncoder needs the frame's JND map: call encode_with")
        return self.method.encode_jpeg(frame, self._jnd, self.quality)

    def encode_with(self, frame: np.ndarray, jnd: np.ndarray, index: int) -> list[EncodedFrame]:
        """Codes one frame with its map; returns it as a one-element list."""
        self._jnd = jnd
        try:
            return self.encode(frame, index)
        finally:
            self._jnd = None


class InEncoderProbe(EqualQualityProbe):
    """:class:`jndtf.edge.compare.EqualQualityProbe` for a method that works inside the JPEG
    encoder: the sample keeps each frame's JND map in place of a pre-processed frame, and the
    method's own files are coded from them at the stream's quality."""

    def __init__(self, method: FrameMethod, settings: dict) -> None:
        super().__init__("jpeg", settings)
        self.method = method

    def _code(self, frames: list[np.ndarray], setting) -> tuple[int, float]:
        if not frames or frames[0].dtype == np.uint8:
            return super()._code(frames, setting)  # the plain ladder
        nbytes, scores = 0, []
        for _, original, jnd in self.frames:
            data = self.method.encode_jpeg(original, jnd, int(setting))
            nbytes += len(data)
            decoded = cv2.cvtColor(
                cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB
            )
            scores.append(psnr(original, decoded))
        finite = [v for v in scores if math.isfinite(v)]
        return nbytes, (float(np.mean(finite)) if finite else math.inf)


def percentiles(values: list[float]) -> dict:
    """Median and 90th percentile of `values` (None for no values)."""
    if not values:
        return {"median": None, "p90": None}
    a = np.asarray(values, dtype=np.float64)
    return {"median": float(np.median(a)), "p90": float(np.percentile(a, 90))}


@dataclass
class Pending:
    """A frame between the mapper and its stats line."""

    k: int
    source_index: int
    timestamp_ms: float
    image: np.ndarray
    jnd: np.ndarray
    reused: bool
    latency: dict
    started: float
    coded: dict = field(default_factory=dict)  # "processed"/"original" -> EncodedFrame
    record: dict = field(default_factory=dict)


class EncodeStage:
    """The encode thread's state: encoders, outputs, running totals (module docstring).

    Args:
        settings: the stream's :class:`jndtf.edge.stream.StreamSettings`.
        fps: frame rate of the written videos.
        size: ``(width, height)`` of the frames.
        stage: a :class:`jndtf.edge.machine.MachineVisionStage` (classifier mode) or None.
    """

    def __init__(self, settings, fps: float, size: tuple[int, int], stage):
        s = settings
        self.s, self.stage = s, stage
        out = Path(s.out_dir) if s.out_dir is not None else None
        self.outputs: dict = {}
        common = dict(
            quality=s.quality, crf=s.crf, preset=s.preset, tune=s.tune, fps=fps, size=size
        )
        target = None
        if out is not None:
            target = out / ("processed.mp4" if s.codec == "h264" else "processed_jpeg")
            self.outputs["encoded"] = str(target)
        scoring = bool(s.quality_every or s.ms_ssim_every)
        self.method = None
        if stage is None:
            self.method = FrameMethod(s.method_name, s.strength, block=s.block, channels=s.channels)
        if self.method is not None and self.method.kind == "jpeg":
            processed = MethodJpegEncoder(
                self.method, s.quality, decode=scoring or s.preview, folder=target
            )
        else:
            processed = make_encoder(s.codec, path=target, decode=scoring or s.preview, **common)
        self.encoders = {"processed": processed}
        if s.compare:
            self.encoders["original"] = make_encoder(s.codec, decode=scoring, **common)
        self.maps = None
        if s.save_maps == "video":
            self.maps = MapVideoWriter(out / "jnd_map.mp4", fps, size)
            self.outputs["jnd_maps"] = str(self.maps.path)
        elif s.save_maps == "png":
            self.maps = MapPngWriter(out / "jnd_maps")
            self.outputs["jnd_maps"] = str(self.maps.folder)
        self.preview = None
        if s.preview:
            self.preview = PreviewWriter(out / "preview.mp4", fps, size)
            self.outputs["preview"] = (
                "window" if self.preview.shows_window else str(self.preview.path)
            )
        self.stats = JsonLinesWriter(s.stats_path) if s.stats_path is not None else None
        if self.stats is not None:
            self.outputs["stats"] = str(self.stats.path)
        self.probe = None
        # "none" codes the frames the plain encoder codes: nothing to compare at equal quality
        # (the probe would interpolate the plain curve at its own point, a 0 % +- rounding).
        probing = stage is None and self.method.name != "none"
        if s.compare and getattr(s, "equal_quality", False) and probing:
            if self.method.kind == "jpeg":
                self.probe = InEncoderProbe(self.method, {**common, "quality": s.quality})
            else:
                self.probe = EqualQualityProbe(s.codec, {**common, "quality": s.quality})
        self.pool = ThreadPoolExecutor(1, "jndtf-encode-original") if s.compare else None
        self.pending: dict[int, Pending] = {}
        self.totals = {"processed": 0, "original": 0, "both_frames": 0}
        # running sums and counts of the scores, the latencies of the last LATENCY_WINDOW
        # frames: nothing grows with the length of the stream
        self.scores: dict[str, list[float]] = {
            f"{m}_{w}": [0.0, 0] for m in ("psnr", "ms_ssim") for w in ("processed", "original")
        }
        self.latency = {k: collections.deque(maxlen=LATENCY_WINDOW) for k in STAGES}
        self.done = 0
        self.t_first: float | None = None  # perf_counter when the first frame arrived
        self.t_last = 0.0  # ... and when the last record was made
        self.source_stats = None  # a callable returning the source's SourceStats, if set

    def submit(self, p: Pending) -> list[dict]:
        """Pre-processes and encodes one frame; returns the stats records now complete."""
        t0 = time.perf_counter()
        self.pending[p.k] = p
        future = None
        if self.pool is not None:
            future = self.pool.submit(self.encoders["original"].encode, p.image, p.k)
        mv = None
        in_encoder = self.method is not None and self.method.kind == "jpeg"
        if self.stage is not None:
            processed, mv = self.stage.process(p.image, p.jnd)
            if p.jnd is None:  # the stage made its own map (DMV-JND: |e|) for the outputs
                p.jnd = self.stage.last_map
                p.latency["dmv"] = self.stage.dmv_ms
        elif in_encoder:
            processed = None  # the method works inside the encoder (timed as encode)
        else:
            processed = self.method.process(p.image, p.jnd)
        t1 = time.perf_counter()
        if self.probe is not None:
            self.probe.add(p.k, p.image, p.jnd if in_encoder else processed)
        p.latency["preprocess"] = (t1 - t0) * 1000.0
        if mv is not None:
            p.record["machine_vision"] = mv.to_dict()
        if in_encoder:
            coded = {"processed": self.encoders["processed"].encode_with(p.image, p.jnd, p.k)}
        else:
            coded = {"processed": self.encoders["processed"].encode(processed, p.k)}
        if future is not None:
            coded["original"] = future.result()
        p.latency["encode"] = (time.perf_counter() - t1) * 1000.0
        if self.maps is not None or self.preview is not None:
            t2 = time.perf_counter()
            if self.maps is not None:
                self.maps.write(p.jnd, p.k)
            p.latency["outputs_pending"] = (time.perf_counter() - t2) * 1000.0
        return self._collect(coded)

    def _collect(self, coded: dict[str, list[EncodedFrame]]) -> list[dict]:
        for which, frames in coded.items():
            for c in frames:
                if c.index in self.pending:
                    self.pending[c.index].coded[which] = c
        ready = []
        for k in sorted(self.pending):
            p = self.pending[k]
            if len(p.coded) < len(self.encoders):
                break  # frames finish in order
            ready.append(self._finish(self.pending.pop(k)))
        return ready

    def _finish(self, p: Pending) -> dict:
        t0 = time.perf_counter()
        s = self.s
        rec: dict = {
            "type": "frame",
            "frame": p.k,
            "source_index": p.source_index,
            "timestamp_ms": p.timestamp_ms,
            "reused_map": p.reused,
        }
        nbytes = {w: c.nbytes for w, c in p.coded.items()}
        rec["bytes"] = nbytes
        for w, n in nbytes.items():
            self.totals[w] += n
        if "original" in nbytes:
            self.totals["both_frames"] += 1
            if self.stage is not None:
                self.stage.add_bytes(nbytes["original"], nbytes["processed"])
        scored = {}
        if s.quality_every and p.k % s.quality_every == 0:
            scored["psnr"] = psnr
        small = min(p.image.shape[:2]) < MS_SSIM_MIN_SIDE
        if s.ms_ssim_every and p.k % s.ms_ssim_every == 0 and not small:
            scored["ms_ssim"] = ms_ssim
        for name, fn in scored.items():
            rec[name] = {}
            for w, c in p.coded.items():
                if c.decoded is None:
                    continue
                v = fn(p.image, c.decoded)
                rec[name][w] = v
                if math.isfinite(v):
                    total = self.scores[f"{name}_{w}"]
                    total[0] += v
                    total[1] += 1
        t1 = time.perf_counter()
        p.latency["quality"] = (t1 - t0) * 1000.0
        if self.preview is not None:
            self.preview.write(p.image, p.jnd, p.coded["processed"].decoded)
        p.latency["outputs"] = (
            p.latency.pop("outputs_pending", 0.0) + (time.perf_counter() - t1) * 1000.0
        )
        now = self.t_last = time.perf_counter()
        p.latency["total"] = (now - p.started) * 1000.0
        for k in STAGES:
            if k in p.latency:
                self.latency[k].append(p.latency[k])
        self.done += 1
        elapsed = now - (self.t_first if self.t_first is not None else now)
        rec["latency_ms"] = {k: round(v, 3) for k, v in p.latency.items()}
        rec["fps"] = (self.done - 1) / elapsed if elapsed > 0 else None
        if self.source_stats is not None:
            rec["dropped"] = self.source_stats().dropped
        rec.update(p.record)
        return rec

    def flush(self) -> list[dict]:
        """Drains the encoders (end of stream): the remaining records."""
        coded = {w: e.close() for w, e in self.encoders.items()}
        return self._collect(coded)

    def close(self) -> None:
        """Closes every writer (idempotent; the encoders' files are finished by flush)."""
        for enc in self.encoders.values():
            if not getattr(enc, "closed", True):
                enc.close()
        for w in (self.maps, self.preview):
            if w is not None:
                w.close()
        if self.pool is not None:
            self.pool.shutdown(wait=True)


__all__ = [
    "DEFAULT_STRENGTH",
    "LATENCY_WINDOW",
    "STAGES",
    "TEMPORAL_METHODS",
    "EncodeStage",
    "FrameMethod",
    "InEncoderProbe",
    "MethodJpegEncoder",
    "Pending",
    "check_method",
    "default_method",
    "method_kind",
    "percentiles",
    "stream_methods",
]
