"""jndtf.edge.JndMapper: parity with the Keras model and the classical models, the resolution
policy, map reuse at scene cuts, parallel == serial, LIVE_STREAM callbacks and drops, refusals.

Tolerances (why each is what it is):

- LiteRT fp32 vs Keras fp32 (:func:`assert_fp32_parity`): the same float graph, but no
  element-wise tolerance holds on every x86-64 CPU. XNNPACK picks kernels per instruction set
  (AVX2 vs AVX-512), so float32 sums round differently: an AVX2-only EPYC measured 1.4e-4 grey
  levels against Keras where an AVX-512 Xeon measured 1.1e-4 (issue 15), against the old
  ``atol=1e-4, rtol=2e-5``. ``python benchmarks/fp32_parity_bound.py --reference`` bounds it on
  one machine with several summation orders: Keras fp32 (oneDNN), Keras with every layer in
  float64 (the reference for rounding), LiteRT fp32 with XNNPACK, without it and with its
  reference kernels, on 3 frames (one per scene) at 96x160, 64x112, 120x200, 128x224 and
  160x256. Where no bit of ACoL's §3.4 threshold ``i4 > mean(i4)`` flipped, every float32 run
  stayed within 4.7e-4 of float64; on 8 of the 15 frames bits flipped (values within rounding
  of their mean), for Keras fp32 as for LiteRT, moving the map by up to 6.4e-2 grey levels
  (map PSNR 99.1 dB against Keras fp32). So what is asserted is what the map is for:
  ``MAP_PSNR_MIN_DB = 80`` (measured >= 99.1 dB; an int8 export measures ~49 dB, so 80 still
  tells a float export from a wrong one), ``MAX_ABS_FP32 = 0.1`` grey levels (measured
  <= 0.064; a tenth of the step of any saved image), and the eq. (7) image at 26.06 dB (the
  paper's operating point) with the Keras map's λ and the same signs: at most
  ``EQ7_CHANGED_MAX = 0.5 %`` of its uint8 values differ, each by one level at most (measured
  <= 0.09 %). The parity tests run LiteRT's default and built-in kernels (fixture
  ``kernels``): two summation orders on every machine; the old tolerance failed the built-in
  one on the clip's other scenes (373 values, up to 7.9e-4).
- Classical models, reuse, parallel vs serial: exact (the same numpy/OpenCV code, or the same
  array).
- ``int8`` I/O vs float I/O of one int8 model: at most one output quantization step (the two
  differ only in where the (de)quantization happens: the runtime vs LiteRT's own ops).

Frames come from :func:`jndtf.samples.clip_frames` (the synthesized camera clip, deterministic)
at 160x96 so the 2 shared cores stay free; the exported models are the session fixtures of
tests/edge_fixtures.py (the shipped acol at 96x160 fixed, and dynamic).
"""

from __future__ import annotations

import json
import math
import shutil
import threading
import time

import cv2
import numpy as np
import pytest
from jndtf.edge import JndMapper, JndMapperOptions, JndResult, RunningMode
from jndtf.edge.scene import ReusePolicy, luma_thumbnail, scene_difference

from jndtf import baselines
from jndtf.apply import inject
from jndtf.samples import clip_frames, clip_plan

pytest_plugins = ("edge_fixtures",)

MAP_PSNR_MIN_DB = 80.0
MAX_ABS_FP32 = 0.1
EQ7_CHANGED_MAX = 0.005

#: The clip of every test: 3 scenes of 1 s at 15 fps, cuts at frames 15 and 30.
CLIP = {"seconds": 3.0, "fps": 15.0, "size": (160, 96), "scene_seconds": 1.0}


@pytest.fixture(scope="module")
def frames():
    return list(clip_frames(**CLIP))


@pytest.fixture(scope="module")
def keras_acol():
    pytest.importorskip("keras", reason='needs the [train] extra: pip install "jndtf[train]"')
    from jndtf.evaluate.learned import load_learned

    return load_learned("acol")


def assert_fp32_parity(got: np.ndarray, want: np.ndarray, frame: np.ndarray) -> None:
    """LiteRT fp32 map `got` vs Keras map `want` of `frame` (the module docstring's bounds)."""
    assert got.shape == want.shape and got.dtype == np.float32
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    mse = float(np.mean(diff**2))
    psnr = math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
    assert psnr >= MAP_PSNR_MIN_DB, f"map PSNR {psnr:.1f} dB vs Keras"
    assert diff.max() <= MAX_ABS_FP32, f"max abs diff {diff.max():.3g} grey levels"
    ref = inject(frame, want, psnr=26.06, seed=0)
    mine = inject(frame, got, scale=ref.scale, seed=0).image
    changed = np.abs(mine.astype(int) - ref.image.astype(int))
    assert changed.max() <= 1 and np.mean(changed > 0) <= EQ7_CHANGED_MAX, np.mean(changed > 0)


@pytest.fixture(params=["default", "builtin"])
def kernels(request, monkeypatch):
    """LiteRT's default kernels (XNNPACK) or its built-in ones without the default delegate: a
    second float32 summation order on every machine, as another CPU's XNNPACK would give."""
    if request.param == "builtin":
        import jndtf.edge.interpreter as lite
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        def builtin(*args, **kwargs):
            kind = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            return Interpreter(*args, experimental_op_resolver_type=kind, **kwargs)

        monkeypatch.setattr(lite, "interpreter_class", lambda: builtin)
    return request.param


def _video(model, **kw) -> JndMapper:
    return JndMapper.create_from_options(
        JndMapperOptions(model=model, running_mode=RunningMode.VIDEO, **kw)
    )


def _up(jnd: np.ndarray, h: int, w: int) -> np.ndarray:
    """The documented resize back to the frame: bilinear (cv2.INTER_LINEAR)."""
    out = cv2.resize(jnd, (w, h), interpolation=cv2.INTER_LINEAR)
    return out[..., None] if out.ndim == 2 else out


def _down(frame: np.ndarray, h: int, w: int) -> np.ndarray:
    """The documented shrink of the frame: area averaging (cv2.INTER_AREA)."""
    return cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)


# --------------------------------------------------------------------------- parity


@pytest.mark.tf
def test_fixed_model_map_equals_the_keras_map(exported_acol_fixed, keras_acol, frames, kernels):
    frame = frames[3]  # 96x160 = the model's size: no resize anywhere
    with JndMapper.create_from_model_path(exported_acol_fixed.path) as m:
        assert m.input_size == (160, 96)  # (width, height), the edge runtime's order
        assert m.manifest["sha256"] == exported_acol_fixed.manifest["sha256"]
        r = m.process(frame)
        # a frame of another size is resized to 96x160 and the map back to the frame
        big = cv2.resize(frame, (240, 144), interpolation=cv2.INTER_LINEAR)
        r_big = m.process(big)
        others = [(f, m.process(f).jnd) for f in (frames[20], frames[40])]  # the other scenes
    want = keras_acol(frame)
    assert isinstance(r, JndResult) and r.jnd.dtype == np.float32 and r.jnd.shape == (96, 160, 3)
    assert_fp32_parity(r.jnd, want, frame)
    assert r.inference_size == (160, 96) and not r.reused
    assert set(r.timings_ms) == {"priors", "inference", "resize", "total"}
    assert r.timings_ms["total"] >= r.timings_ms["inference"] > 0
    assert r_big.jnd.shape == (144, 240, 3)
    want_big = _up(keras_acol(_down(big, 96, 160)), 144, 240)
    assert_fp32_parity(r_big.jnd, want_big, big)
    for f, jnd in others:
        assert_fp32_parity(jnd, keras_acol(f), f)
    assert not r.jnd.flags.writeable  # maps may be shared by reuse


@pytest.mark.tf
def test_dynamic_model_follows_the_frame_and_jnd_scale(exported_acol_dynamic, keras_acol, kernels):
    small = next(iter(clip_frames(seconds=0.2, fps=15, size=(112, 64))))
    big = next(iter(clip_frames(seconds=0.2, fps=15, size=(224, 128))))
    mid = next(iter(clip_frames(seconds=0.2, fps=15, size=(200, 120))))
    with JndMapper.create_from_model_path(exported_acol_dynamic.path) as m:
        assert m.input_size is None
        r_small = m.process(small)
        r_mid = m.process(mid)  # the interpreter's input is resized to 120x200
    assert_fp32_parity(r_small.jnd, keras_acol(small), small)
    assert_fp32_parity(r_mid.jnd, keras_acol(mid), mid)
    opts = JndMapperOptions(model=exported_acol_dynamic.path, jnd_scale=0.5)
    with JndMapper.create_from_options(opts) as m:
        assert m.inference_size(224, 128) == (112, 64)  # (width, height)
        assert m.inference_size(40, 40) == (32, 32)  # never below the priors' window
        r = m.process(big)
    assert r.jnd.shape == (128, 224, 3) and r.inference_size == (112, 64)
    want = _up(keras_acol(_down(big, 64, 112)), 128, 224)
    assert_fp32_parity(r.jnd, want, big)


def test_classical_model_equals_jndtf_baselines(frames):
    frame = frames[20]
    with JndMapper.create_from_model_path("wu2017") as m:
        assert m.input_size is None and m.manifest["backend"] == "classical"
        r = m.process(frame)
    np.testing.assert_array_equal(r.jnd, baselines.get("wu2017")(frame))
    assert r.jnd.shape == (96, 160, 1)
    big = cv2.resize(frame, (320, 192), interpolation=cv2.INTER_LINEAR)
    with JndMapper.create_from_options(JndMapperOptions(model="yang2005", jnd_scale=0.5)) as m:
        r = m.process(big)
    want = _up(baselines.get("yang2005")(_down(big, 96, 160)), 192, 320)
    np.testing.assert_array_equal(r.jnd, want)


# --------------------------------------------------------------------------- map reuse


def test_scene_measure_separates_cuts_from_motion(frames):
    cuts, _ = clip_plan(**CLIP)
    thumbs = [luma_thumbnail(f) for f in frames]
    d = [scene_difference(thumbs[i], thumbs[i - 1]) for i in range(1, len(frames))]
    within = [d[i - 1] for i in range(1, len(frames)) if i not in cuts]
    across = [d[i - 1] for i in cuts]
    assert scene_difference(thumbs[0], thumbs[0]) == 0.0
    assert max(within) < 0.1 < min(across), (max(within), across)  # scene.py's measurements


def test_reuse_interval_and_scene_cuts(frames):
    cuts, _ = clip_plan(**CLIP)
    # each scene's first frame held still for 15 frames: only the interval and the cuts count
    still = [frames[i] for i in (0, 15, 30) for _ in range(15)]
    with _video("chou_li1995", reuse_interval=100) as m:
        rs = [m.process(f, timestamp_ms=66 * i) for i, f in enumerate(still)]
        assert m.stats.inferences == 3 and m.stats.reused == 42 and m.stats.frames == 45
    assert [r.frame_index for r in rs if not r.reused] == [0, 15, 30]
    with _video("chou_li1995", reuse_interval=4, scene_change_threshold=None) as m:
        rs = [m.process(f) for f in still]
    assert [r.frame_index for r in rs if not r.reused] == list(range(0, 45, 4))
    # the moving clip: every cut recomputes, every reused map is the last computed one (same array)
    with _video("chou_li1995", reuse_interval=100) as m:
        rs = [m.process(f) for f in frames]
    computed = [r.frame_index for r in rs if not r.reused]
    assert set(cuts) <= set(computed) and computed[0] == 0
    assert len(computed) < len(frames)  # the pan drifts slowly enough to reuse some maps
    last = None
    for r, f in zip(rs, frames, strict=True):
        if r.reused:
            assert r.jnd is last.jnd and r.timings_ms["inference"] == 0.0
            assert 0.0 <= r.scene_difference <= 0.1
        else:
            np.testing.assert_array_equal(r.jnd, baselines.get("chou_li1995")(f))
            last = r


def test_reuse_policy_reasons(frames):
    p = ReusePolicy(interval=3, threshold=0.1)
    reasons = [p.decide(f).reason for f in (frames[0], frames[0], frames[0], frames[0])]
    assert reasons == ["first", "reuse", "reuse", "interval"]
    assert p.decide(frames[15]).reason == "scene_change"
    assert p.decide(frames[15][:64]).reason == "size_change"
    assert ReusePolicy(interval=1).decide(frames[0]).reason == "every_frame"


# --------------------------------------------------------------------------- threads


@pytest.mark.tf
def test_parallel_priors_equal_serial(exported_acol_dynamic, frames):
    clip = frames[10:20]  # spans the cut at 15
    kw = {"reuse_interval": 3}
    with _video(exported_acol_dynamic.path, parallel_priors=False, **kw) as m:
        serial = [m.process(f, timestamp_ms=i) for i, f in enumerate(clip)]
    with _video(exported_acol_dynamic.path, parallel_priors=True, **kw) as m:
        piped = list(m.process_video(clip, timestamps_ms=range(len(clip))))
    got = []
    opts = JndMapperOptions(
        model=exported_acol_dynamic.path,
        running_mode=RunningMode.LIVE_STREAM,
        parallel_priors=True,
        result_callback=lambda r, f: got.append((r, f)),
        **kw,
    )
    with JndMapper.create_from_options(opts) as m:
        for i, f in enumerate(clip):
            while not m.process_async(f, timestamp_ms=i):  # wait instead of dropping
                time.sleep(0.002)
    assert m.stats.frames == len(clip)
    live = [r for r, _ in got]
    for name, rs in (("process_video", piped), ("live", live)):
        assert [r.frame_index for r in rs] == list(range(len(clip))), name
        assert [r.reused for r in rs] == [r.reused for r in serial], name
        for a, b in zip(serial, rs, strict=True):
            np.testing.assert_array_equal(a.jnd, b.jnd, err_msg=name)
    assert all(f is clip[r.frame_index] for r, f in got)


@pytest.mark.parametrize("parallel", [True, False])
def test_live_stream_callback_and_drops(frames, parallel):
    entered, release = threading.Event(), threading.Event()
    got = []

    def callback(result, frame):
        got.append((result.frame_index, result.timestamp_ms, threading.current_thread().name))
        entered.set()
        release.wait(10)

    opts = JndMapperOptions(
        model="chou_li1995",
        running_mode=RunningMode.LIVE_STREAM,
        parallel_priors=parallel,
        result_callback=callback,
    )
    with JndMapper.create_from_options(opts) as m:
        assert m.process_async(frames[0], 0)
        assert entered.wait(10)  # frame 0 is in the callback: inference busy
        accepted = [m.process_async(frames[i], 10 * i) for i in range(1, 5)]
        # parallel: frame 1 takes the priors stage and waits for inference; 2..4 are dropped.
        # serial: one stage, still busy with frame 0; 1..4 are dropped.
        assert accepted == ([True, False, False, False] if parallel else [False] * 4)
        assert m.stats.dropped == (3 if parallel else 4)
        release.set()
    assert [g[:2] for g in got] == ([(0, 0), (1, 10)] if parallel else [(0, 0)])
    assert all(g[2].startswith("jndtf-inference") for g in got)
    assert m.stats.frames == len(got)


def test_callback_errors_surface_in_the_caller(frames):
    def boom(result, frame):
        raise KeyError("callback bug")

    opts = JndMapperOptions(
        model="chou_li1995", running_mode=RunningMode.LIVE_STREAM, result_callback=boom
    )
    m = JndMapper.create_from_options(opts)
    m.process_async(frames[0], 0)
    with pytest.raises(RuntimeError, match="callback bug"):
        m.close()


# --------------------------------------------------------------------------- refusals


def _copy(export, tmp_path):
    model = tmp_path / export.path.name
    shutil.copy(export.path, model)
    shutil.copy(export.manifest_path, tmp_path / export.manifest_path.name)
    return model, tmp_path / export.manifest_path.name


@pytest.mark.tf
def test_tampered_or_unmanifested_models_are_refused(exported_acol_fixed, tmp_path):
    model, manifest = _copy(exported_acol_fixed, tmp_path)
    blob = bytearray(model.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    model.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match=r"sha256 .* does not match .* refusing to load"):
        JndMapper.create_from_model_path(model)
    shutil.copy(exported_acol_fixed.path, model)
    data = json.loads(manifest.read_text())
    data["input_size"] = {"policy": "fixed", "height": 64, "width": 64}
    manifest.write_text(json.dumps(data))
    with pytest.raises(
        ValueError, match=r"input size is \(96, 160\), the manifest says \(64, 64\)"
    ):
        JndMapper.create_from_model_path(model)
    data = json.loads(exported_acol_fixed.manifest_path.read_text())
    data["inputs"]["prior_settings"]["priors"]["contrast_masking"]["constants"]["CM_GAIN"] = 2.0
    manifest.write_text(json.dumps(data))
    msg = r"computed differently .*contrast_masking.constants: exported with .*'CM_GAIN': 2.0"
    with pytest.raises(ValueError, match=msg):
        JndMapper.create_from_model_path(model)
    manifest.unlink()
    with pytest.raises(ValueError, match=r"no manifest .* re-export"):
        JndMapper.create_from_model_path(model)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        JndMapper.create_from_model_path(tmp_path / "nothing.tflite")


@pytest.mark.tf
def test_jnd_scale_with_a_fixed_size_model_is_refused(exported_acol_fixed):
    opts = JndMapperOptions(model=exported_acol_fixed.path, jnd_scale=0.5)
    with pytest.raises(ValueError, match=r"fixed size 160x96.*dynamic-size models only"):
        JndMapper.create_from_options(opts)


def test_bad_models_and_options_are_refused():
    with pytest.raises(ValueError, match=r"unknown model 'nope'.*jndtf export.*wu2017"):
        JndMapper.create_from_model_path("nope")
    bad = [
        ({"jnd_scale": 0.0}, "jnd_scale must be a number in"),
        ({"jnd_scale": 1.5}, "jnd_scale must be a number in"),
        ({"num_threads": 0}, "num_threads must be an integer"),
        ({"reuse_interval": 2}, "use RunningMode.VIDEO"),
        ({"running_mode": "video"}, "running_mode must be a RunningMode"),
        ({"running_mode": RunningMode.LIVE_STREAM}, "needs result_callback"),
        ({"result_callback": print}, "LIVE_STREAM mode only"),
        ({"running_mode": RunningMode.VIDEO, "reuse_interval": 0}, "reuse_interval must be"),
        ({"running_mode": RunningMode.VIDEO, "scene_change_threshold": 3}, "must be in 0..1"),
    ]
    for kw, msg in bad:
        with pytest.raises(ValueError, match=msg):
            JndMapperOptions(model="wu2017", **kw)


def test_bad_frames_and_calls_get_clear_errors(frames):
    frame = frames[0]
    with _video("chou_li1995") as m:
        cases = [
            (frame.astype(np.float32), "uint8 RGB HxWx3, got dtype float32"),
            (frame[..., 0], r"RGB HxWx3, got shape \(96, 160\)"),
            (np.dstack([frame, frame[..., :1]]), r"got shape \(96, 160, 4\).*drop alpha"),
            (frame[:20], "at least 32x32"),
            (frame.tolist(), "must be a numpy array"),
        ]
        for bad, msg in cases:
            with pytest.raises(ValueError, match=msg):
                m.process(bad)
        m.process(frame, timestamp_ms=5)
        with pytest.raises(ValueError, match=r"must increase .* got 5 after 5"):
            m.process(frame, timestamp_ms=5)
        with pytest.raises(ValueError, match=r"process_async.. is for LIVE_STREAM"):
            m.process_async(frame, 6)
        assert m.stats.frames == 1  # refused frames are not counted
    with pytest.raises(ValueError, match="closed"):
        m.process(frame)
    with JndMapper.create_from_model_path("chou_li1995") as m:
        with pytest.raises(ValueError, match=r"needs RunningMode.VIDEO"):
            next(m.process_video([frame]))
    live = JndMapperOptions(
        model="chou_li1995", running_mode=RunningMode.LIVE_STREAM, result_callback=print
    )
    with JndMapper.create_from_options(live) as m:
        with pytest.raises(ValueError, match="call process_async"):
            m.process(frame)
        with pytest.raises(ValueError, match="need a timestamp_ms"):
            m.process_async(frame, None)


def test_a_failed_frame_is_not_followed_by_a_stale_map(frames, monkeypatch):
    with _video("chou_li1995", reuse_interval=10) as m:
        m.process(frames[0])
        real = m._backend.infer
        monkeypatch.setattr(m._backend, "infer", lambda x: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            m.process(frames[15])  # a cut: computes, and fails
        monkeypatch.setattr(m._backend, "infer", real)
        r = m.process(frames[16])  # would reuse frame 15's (missing) map: computes instead
    assert not r.reused
    np.testing.assert_array_equal(r.jnd, baselines.get("chou_li1995")(frames[16]))


def test_process_inside_a_process_video_loop_is_refused(frames):
    with _video("chou_li1995") as m:
        it = m.process_video(frames[:3])
        next(it)
        with pytest.raises(ValueError, match="still iterating process_video"):
            m.process(frames[3])
        it.close()  # releases the mapper
        assert m.process(frames[3]).frame_index == 2  # frames 0, 1 accepted, then this one
        with pytest.raises(ValueError, match="fewer items than frames"):
            list(m.process_video(frames[:3], timestamps_ms=[100]))
