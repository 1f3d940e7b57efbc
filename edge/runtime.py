"""JndMapper: JND maps of camera frames on a small CPU, MediaPipe-Tasks style, TensorFlow-free.

One object runs one model (an exported ``.tflite`` with its manifest, or a classical model of
:mod:`jndtf.baselines` by name) on frames: uint8 RGB ``HxWx3`` in, a float32 ``HxWxC`` JND map
at the frame's resolution in pixel units 0..255 out (C = 3 for ACoL-JND, 1 for luma models).
Everything about the model's input (size policy, priors, normalization, int8 I/O scales, learned
prior nets) comes from the manifest, which is verified (sha256) before anything loads.
A network that outputs the redundancy-removed image I_rr instead of a map (hmJND-Net, manifest
``outputs.kind == "image"``) gets its modality maps from the providers its manifest records and
yields JND = ``|I - I_rr|`` (C = 3; :class:`jndtf.edge.backends.TFLiteRedundancyJnd`), so the
stream, the preview and every pre-processing method take it as any other JND map.

Design decisions:

- **Sizes** are ``(width, height)`` in every public name here (:attr:`JndMapper.input_size`,
  :meth:`JndMapper.inference_size`, :attr:`JndResult.inference_size`), as OpenCV's ``dsize``,
  the frame sources, encoders and ``--size WIDTHxHEIGHT`` write them; arrays are ``HxWxC``.
  (The manifest names ``height`` and ``width``; only the backends read it.)
- **Resolution.** A fixed-size model (exported with ``--size WxH``, the fastest on a
  device: DESIGN.md) gets every frame resized to its W x H (area interpolation when shrinking,
  bilinear when enlarging; the aspect ratio follows the model), priors and inference run there
  and the map is resized back to the frame (bilinear). ``jnd_scale`` is refused for a fixed-size
  model (its resolution is chosen at export time). A dynamic model (or a classical one) runs
  at ``round(jnd_scale * H) x round(jnd_scale * W)`` (at least 32 px a side, the priors'
  windows); ``jnd_scale = 1`` runs the frame as is, with no resize at all. The interpreter's
  input is resized only when that shape changes. JND values are amplitudes, not derivatives:
  resizing the map does not rescale them.
- **Map reuse** (VIDEO and LIVE_STREAM): :class:`jndtf.edge.scene.ReusePolicy` recomputes every
  ``reuse_interval`` frames or when the frame's luma thumbnail differs from the one the map was
  computed on by more than ``scene_change_threshold`` (0..1); otherwise the last map is returned
  (``result.reused``; the array is shared, so result maps are read-only).
- **Parallel priors** (``parallel_priors``): the priors of frame t+1 are computed in a worker
  thread while frame t's inference runs (LIVE_STREAM, and :meth:`JndMapper.process_video`); the
  same functions run in the same frame order, so the maps equal the serial ones bit for bit.
  A single :meth:`JndMapper.process` call has nothing to overlap with and runs serially.
  Off by default: it pays only when the interpreter leaves a core free. For ACoL-JND the priors
  are ~5 % of a frame (640x360: 50 ms of priors, 800 ms of inference), and on the 2-core
  development machine with 2 LiteRT threads the pipeline measured slower (0.9 vs 1.2 fps:
  benchmarks/bench_edge_runtime.py, noisy shared cores).
- **LIVE_STREAM**: :meth:`JndMapper.process_async` returns at once; ``result_callback(result,
  frame)`` is called from the inference thread in frame order. A frame that arrives while the
  priors stage is still busy is dropped (``stats.dropped``), so latency stays bounded. The
  frame is not copied: do not write into it until its callback has run. An error in a worker
  thread (or in the callback) is raised by the next :meth:`JndMapper.process_async` or by
  :meth:`JndMapper.close`.
- **A failed frame** (an exception from the model) forgets the last map, so the next frame
  computes a fresh one instead of reusing a map from before the failure.

Timings (``result.timings_ms``, milliseconds): ``priors`` (building the network input),
``inference`` (the interpreter or the classical model), ``resize`` (frame down + map up) and
``total`` (from the start of this frame's work to its result, including any wait between the
two stages; 0 work for a reused map).

Example:
    >>> opts = JndMapperOptions(model="acol-tflite-fp32.tflite", running_mode=RunningMode.VIDEO,
    ...                         reuse_interval=4)
    >>> with JndMapper.create_from_options(opts) as mapper:
    ...     for t, frame in enumerate(frames):
    ...         r = mapper.process(frame, timestamp_ms=t * 66)
    ...         r.jnd.shape, r.reused
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np
from jndtf.edge.backends import load_backend
from jndtf.edge.options import (
    MIN_SIDE,
    JndMapperOptions,
    JndResult,
    JndStats,
    RunningMode,
    check_frame,
)
from jndtf.edge.scene import ReuseDecision, ReusePolicy

#: Sentinel: an iterator ran out.
_END = object()


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` (``HxW[xC]``) at ``size = (width, height)``."""
    w, h = size
    if image.shape[:2] == (h, w):
        return image
    shrink = h <= image.shape[0] and w <= image.shape[1]
    out = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out[..., None] if out.ndim == 2 else out


@dataclass
class _Job:
    frame: np.ndarray
    index: int
    timestamp_ms: int | None
    decision: ReuseDecision
    size: tuple[int, int] = (0, 0)
    x: np.ndarray | None = None
    start: float = 0.0
    timings: dict = field(
        default_factory=lambda: dict.fromkeys(("priors", "inference", "resize"), 0.0)
    )


class JndMapper:
    """Runs a JND model on frames (module docstring: resolution, reuse, threads, timings).

    Create with :meth:`create_from_options` or :meth:`create_from_model_path`; use as a context
    manager or call :meth:`close`.

    Attributes:
        options: the :class:`JndMapperOptions`.
        manifest: the model's verified manifest (a short description for classical models).
        input_size: fixed ``(width, height)`` of the model, None when it follows the frame.

    Raises (at creation):
        ValueError: a manifest or sha256 mismatch, bad options, ``jnd_scale`` with a fixed-size
            model.
        FileNotFoundError: a missing model file.
        ImportError: no LiteRT interpreter (names ``pip install "jndtf[edge]"``).
    """

    def __init__(self, options: JndMapperOptions):
        if not isinstance(options, JndMapperOptions):
            raise ValueError(f"options must be JndMapperOptions, got {type(options)}")
        self.options = options
        self._backend = load_backend(options.model, options.num_threads)
        self.manifest = self._backend.manifest
        fixed = self._backend.input_size  # the manifest's (H, W)
        self.input_size = None if fixed is None else (int(fixed[1]), int(fixed[0]))
        if self.input_size is not None and options.jnd_scale != 1.0:
            self._backend.close()
            w, h = self.input_size
            raise ValueError(
                f"{options.model} was exported at the fixed size {w}x{h}, so inference always runs "
                f"at {w}x{h}; jnd_scale={options.jnd_scale} applies to dynamic-size models only: "
                "export at the reduced size you want (jndtf export --size WIDTHxHEIGHT) or with "
                "--dynamic"
            )
        self._policy = ReusePolicy(options.reuse_interval, options.scene_change_threshold)
        self._lock = threading.Lock()  # state: counters, index, timestamps, reuse policy
        self._run_lock = threading.Lock()  # one process()/process_video() at a time
        self._runner: int | None = None  # the thread holding it
        self._index = 0
        self._last_ts: int | None = None
        self._counts = {"inferences": 0, "reused": 0, "dropped": 0}
        self._last_map: np.ndarray | None = None
        self._last_size = (0, 0)
        self._closed = False
        self._error: BaseException | None = None
        self._busy = False  # LIVE_STREAM: a frame occupies the priors stage
        self._infer_slot = threading.Semaphore(1)
        live = options.running_mode is RunningMode.LIVE_STREAM
        parallel = options.parallel_priors and options.running_mode is not RunningMode.IMAGE
        self._infer_pool = ThreadPoolExecutor(1, "jndtf-inference") if live else None
        self._prior_pool = ThreadPoolExecutor(1, "jndtf-priors") if parallel else None

    @classmethod
    def create_from_options(cls, options: JndMapperOptions) -> JndMapper:
        """A mapper for `options` (the MediaPipe Tasks constructor)."""
        return cls(options)

    @classmethod
    def create_from_model_path(cls, model: str | os.PathLike) -> JndMapper:
        """A mapper with default options (IMAGE mode) for a ``.tflite`` or a classical name."""
        return cls(JndMapperOptions(model=model))

    # ------------------------------------------------------------------ sizes and stats

    def inference_size(self, width: int, height: int) -> tuple[int, int]:
        """``(width, height)`` the model runs at for a frame of `width` x `height`.

        Example:
            >>> mapper.inference_size(640, 360)  # jnd_scale=0.5, a dynamic-size model
            (320, 180)
        """
        if self.input_size is not None:
            return self.input_size
        s = float(self.options.jnd_scale)
        if s == 1.0:
            return int(width), int(height)
        return max(MIN_SIDE, round(s * width)), max(MIN_SIDE, round(s * height))

    @property
    def stats(self) -> JndStats:
        """Counters so far (:class:`JndStats`)."""
        with self._lock:
            c = self._counts
            done = c["inferences"] + c["reused"]
            return JndStats(done, c["inferences"], c["reused"], c["dropped"])

    @contextlib.contextmanager
    def _running(self):
        """Holds the run lock; refuses (instead of deadlocking) a call from the thread that is
        iterating :meth:`process_video`."""
        if self._runner == threading.get_ident():
            raise ValueError(
                "this thread is still iterating process_video() of this mapper: finish or "
                "close that iterator before calling process() or process_video() again"
            )
        with self._run_lock:
            self._runner = threading.get_ident()
            try:
                yield
            finally:
                self._runner = None

    # ------------------------------------------------------------------ the two stages

    def _accept(self, frame, timestamp_ms, *, need_ts: bool) -> _Job:
        """Validates a frame, numbers it and decides reuse (caller holds ``self._lock``)."""
        if self._closed:
            raise ValueError("this JndMapper is closed")
        if self._error is not None:
            err, self._error = self._error, None
            raise RuntimeError(f"an earlier frame failed in a worker thread: {err!r}") from err
        frame = check_frame(frame)
        if timestamp_ms is None and need_ts:
            raise ValueError("LIVE_STREAM frames need a timestamp_ms")
        if timestamp_ms is not None:
            ts = int(timestamp_ms)
            ordered = self._mode is not RunningMode.IMAGE
            if ordered and self._last_ts is not None and ts <= self._last_ts:
                raise ValueError(
                    f"timestamp_ms must increase from frame to frame: got {ts} after "
                    f"{self._last_ts}"
                )
            self._last_ts = ts
        if self._mode is RunningMode.IMAGE:
            decision = ReuseDecision(True, "image", None)
        else:
            decision = self._policy.decide(frame)
        job = _Job(frame, self._index, timestamp_ms, decision)
        job.size = self.inference_size(frame.shape[1], frame.shape[0])
        self._index += 1
        return job

    @property
    def _mode(self) -> RunningMode:
        return self.options.running_mode

    def _prepare(self, job: _Job) -> _Job:
        """Stage 1: frame -> inference size -> network input (priors)."""
        job.start = time.perf_counter()
        if job.decision.compute:
            try:
                small = _resize(job.frame, job.size)
                t1 = time.perf_counter()
                job.x = self._backend.prepare(small)
            except BaseException:
                self._forget()
                raise
            job.timings["resize"] += t1 - job.start
            job.timings["priors"] = time.perf_counter() - t1
        return job

    def _forget(self) -> None:
        """After a failed frame: no map to reuse, the next frame computes."""
        with self._lock:
            self._policy.reset()
            self._last_map = None

    def _finish(self, job: _Job) -> JndResult:
        """Stage 2 (frame order): inference and the map at the frame's size, or the last map."""
        h, w = job.frame.shape[:2]
        if job.decision.compute:
            t0 = time.perf_counter()
            try:
                small = self._backend.infer(job.x)
                t1 = time.perf_counter()
                jnd = np.ascontiguousarray(_resize(small, (w, h)), dtype=np.float32)
            except BaseException:
                self._forget()
                raise
            jnd.flags.writeable = False
            job.timings["inference"] = t1 - t0
            job.timings["resize"] += time.perf_counter() - t1
            job.x = None
            self._last_map, self._last_size = jnd, job.size
            key = "inferences"
        else:
            jnd = self._last_map
            if jnd is None or jnd.shape[:2] != (h, w):  # the policy rules this out
                raise RuntimeError("map reuse without a map of this frame size")
            key = "reused"
        timings = {k: v * 1000.0 for k, v in job.timings.items()}
        timings["total"] = (time.perf_counter() - job.start) * 1000.0
        with self._lock:
            self._counts[key] += 1
        return JndResult(
            jnd=jnd,
            frame_index=job.index,
            timestamp_ms=job.timestamp_ms,
            reused=not job.decision.compute,
            timings_ms=timings,
            inference_size=self._last_size,
            scene_difference=job.decision.difference,
        )

    # ------------------------------------------------------------------ IMAGE / VIDEO

    def process(self, frame: np.ndarray, timestamp_ms: int | None = None) -> JndResult:
        """The JND map of one frame (IMAGE and VIDEO modes).

        Args:
            frame: uint8 RGB ``HxWx3``, sides >= 32.
            timestamp_ms: optional; in VIDEO mode it must increase from call to call.

        Raises:
            ValueError: a bad frame (dtype, shape, size), a timestamp that does not increase,
                LIVE_STREAM mode (use :meth:`process_async`), or a closed mapper.
        """
        if self._mode is RunningMode.LIVE_STREAM:
            raise ValueError("LIVE_STREAM mode: call process_async(frame, timestamp_ms)")
        with self._running():
            with self._lock:
                job = self._accept(frame, timestamp_ms, need_ts=False)
            return self._finish(self._prepare(job))

    def process_video(
        self, frames: Iterable[np.ndarray], timestamps_ms: Iterable[int] | None = None
    ) -> Iterator[JndResult]:
        """Maps a sequence of frames (VIDEO mode), yielding one result per frame, in order.

        With ``parallel_priors`` the priors of frame t+1 are computed in a worker thread while
        frame t's inference runs; the results equal those of calling :meth:`process` frame by
        frame. Frames are pulled one ahead of the result being yielded.

        Raises:
            ValueError: not VIDEO mode, or as :meth:`process`.
        """
        if self._mode is not RunningMode.VIDEO:
            raise ValueError("process_video() needs RunningMode.VIDEO")
        stamps = iter(timestamps_ms) if timestamps_ms is not None else None
        with self._running():
            pending = None
            for frame in frames:
                ts = next(stamps, _END) if stamps is not None else None
                if ts is _END:
                    raise ValueError("timestamps_ms has fewer items than frames")
                with self._lock:
                    job = self._accept(frame, ts, need_ts=False)
                if self._prior_pool is not None:
                    nxt = self._prior_pool.submit(self._prepare, job)
                else:
                    nxt = None
                    self._prepare(job)
                if pending is not None:
                    yield self._finish(pending[0] if pending[1] is None else pending[1].result())
                pending = (job, nxt)
            if pending is not None:
                yield self._finish(pending[0] if pending[1] is None else pending[1].result())

    # ------------------------------------------------------------------ LIVE_STREAM

    def process_async(self, frame: np.ndarray, timestamp_ms: int) -> bool:
        """Queues a frame (LIVE_STREAM mode); the result goes to ``result_callback``.

        Returns:
            True if the frame was accepted, False if it was dropped because the previous frame
            still occupies the priors stage (counted in ``stats.dropped``).

        Raises:
            ValueError: not LIVE_STREAM mode, a bad frame, a missing or non-increasing
                timestamp, or a closed mapper.
            RuntimeError: an earlier frame failed in a worker thread (or its callback raised).
        """
        if self._mode is not RunningMode.LIVE_STREAM:
            raise ValueError("process_async() is for LIVE_STREAM mode; call process()")
        with self._lock:
            if self._busy and not self._closed and self._error is None:
                check_frame(frame)
                self._counts["dropped"] += 1
                return False
            job = self._accept(frame, timestamp_ms, need_ts=True)
            self._busy = True
        pool = self._prior_pool or self._infer_pool
        pool.submit(self._live_stage1, job)
        return True

    def _live_stage1(self, job: _Job) -> None:
        try:
            self._prepare(job)
        except BaseException as err:  # delivered by the next call / close()
            with self._lock:
                self._error, self._busy = self._error or err, False
            return
        if self._prior_pool is None:  # serial: this thread is the inference thread
            self._live_stage2(job, hold=False)
            return
        self._infer_slot.acquire()  # wait for the previous frame's inference
        with self._lock:
            self._busy = False
        self._infer_pool.submit(self._live_stage2, job, hold=True)

    def _live_stage2(self, job: _Job, *, hold: bool) -> None:
        try:
            result = self._finish(job)
            self.options.result_callback(result, job.frame)
        except BaseException as err:
            with self._lock:
                self._error = self._error or err
        finally:
            if hold:
                self._infer_slot.release()
            else:
                with self._lock:
                    self._busy = False

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Finishes queued LIVE_STREAM frames, stops the threads and releases the model.

        Raises:
            RuntimeError: a frame failed in a worker thread (or its callback raised) and no
                later call reported it.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for pool in (self._prior_pool, self._infer_pool):
            if pool is not None:
                pool.shutdown(wait=True)
        self._backend.close()
        self._last_map = None
        if self._error is not None:
            err, self._error = self._error, None
            raise RuntimeError(f"a frame failed in a worker thread: {err!r}") from err

    def __enter__(self) -> JndMapper:
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


__all__ = [
    "MIN_SIDE",
    "JndMapper",
    "JndMapperOptions",
    "JndResult",
    "JndStats",
    "RunningMode",
    "check_frame",
]
