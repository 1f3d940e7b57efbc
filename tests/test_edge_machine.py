"""jndtf.edge.machine: the LiteRT classifier and the DMV-JND machine-vision stage (issue 6).

References independent of the code under test: the Keras model itself (labels and probabilities
of the .tflite exports), a hand count of labels for RCA (eq. 16 of DMV-JND), the closed-form
bound of each mode (a uniform quantizer of step 2·J errs by at most J; eq. (14) moves a pixel by
at most its JND), hashlib for the manifest's sha256 and cv2.imencode for the bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil

import cv2
import numpy as np
import pytest
from jndtf.edge.machine import (
    Classifier,
    ClassifierError,
    MachineVisionStage,
    read_classifier_manifest,
    write_classifier_manifest,
)
from video_io import decoded_frames

from jndtf import baselines
from jndtf.apply import preprocess_jpeg, quantize_by_jnd
from jndtf.samples import clip_frames

pytest_plugins = ("edge_fixtures", "mv_classifier")

#: Small clip for the fast tests: 2 frames per scene, 176x96 (the classifier sees 48x48).
CLIP = {"seconds": 2.0, "fps": 5.0, "size": (176, 96), "scene_seconds": 0.4}


def _jpeg_bytes(rgb: np.ndarray, quality: int = 90) -> int:
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    assert ok
    return int(buf.size)


def _copy_without_manifest(path, folder):
    folder.mkdir(parents=True, exist_ok=True)
    return shutil.copy(path, folder / path.name)


@pytest.fixture(scope="module")
def clip():
    frames = list(clip_frames(**CLIP))
    jnds = [baselines.get("yang2005")(f) for f in frames]
    return frames, jnds


# --- manifest and errors that need no model -------------------------------------------------


def test_manifest_of_a_jnd_model_is_refused(tmp_path):
    model = tmp_path / "acol-tflite-fp32.tflite"
    model.write_bytes(b"not used")
    (tmp_path / "acol-tflite-fp32.json").write_text(
        json.dumps({"schema": "jndtf.export/1", "family": "acol", "file": model.name})
    )
    with pytest.raises(ClassifierError, match="does not describe an image classifier"):
        read_classifier_manifest(model)


def test_not_a_tflite_file_is_refused(tmp_path):
    bad = tmp_path / "clf.tflite"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(ClassifierError, match=r"not a usable \.tflite classifier"):
        Classifier(bad)
    with pytest.raises(ClassifierError, match="no such classifier file"):
        Classifier(tmp_path / "missing.tflite")
    with pytest.raises(ClassifierError, match="no such model file"):
        write_classifier_manifest(tmp_path / "missing.tflite")


def test_manifest_round_trip_and_sha256(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"model bytes")
    path = write_classifier_manifest(model, labels=["a", "b"], input_range=(-1, 1))
    data = json.loads(path.read_text())
    assert data["sha256"] == hashlib.sha256(b"model bytes").hexdigest()
    assert data["task"] == "classification" and data["input"]["range"] == [-1.0, 1.0]
    assert read_classifier_manifest(model) == data
    model.write_bytes(b"model bytez")
    with pytest.raises(ClassifierError, match=r"sha256 .* does not match"):
        read_classifier_manifest(model)
    with pytest.raises(ClassifierError, match="lo < hi"):
        write_classifier_manifest(model, input_range=(1, 0))


# --- the trained classifier -----------------------------------------------------------------


@pytest.mark.tf
@pytest.mark.parametrize("which", ["float", "pm1"])
def test_classifier_equals_keras_on_held_out_images(mv_classifier, which):
    path = mv_classifier.float_path if which == "float" else mv_classifier.pm1_path
    keras_model = mv_classifier.model if which == "float" else mv_classifier.pm1_model
    lo = 0.0 if which == "float" else -1.0
    from mv_classifier import keras_input

    with Classifier(path) as clf:
        assert clf.input_range == (lo, 1.0) and clf.labels == mv_classifier.labels
        for image, _ in mv_classifier.held_out:
            index, probs = clf.classify(image)
            x = keras_input(image)
            want = np.asarray(keras_model(x * (1.0 - lo) + lo))[0]
            assert index == int(np.argmax(want))
            # probabilities (0..1) of the same float graph: float32 summation order only, which
            # moved 0..0.8 outputs of the tiny ACoL net by <= 2.1e-6 across LiteRT's kernel sets
            np.testing.assert_allclose(probs, want, atol=1e-4)
            assert math.isclose(float(probs.sum()), 1.0, abs_tol=1e-5)
        accuracy = np.mean([clf.classify(im)[0] == k for im, k in mv_classifier.held_out])
    assert accuracy >= 0.9  # the tiny net learned the task (else the RCA tests mean little)


@pytest.mark.tf
@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_integer_input_classifier(mv_classifier, tmp_path, dtype):
    from mv_classifier import keras_input

    model = getattr(mv_classifier, f"{dtype}_path")
    bare = _copy_without_manifest(model, tmp_path / "bare")
    for path in (model, bare):
        with Classifier(path) as clf:
            assert clf.input_dtype == np.dtype(dtype)
            # without a manifest the range comes from the tensor's scale and zero point
            assert clf.input_range == (0.0, 1.0)
            x = clf.preprocess(mv_classifier.held_out[0][0])
            assert x.dtype == np.float32 and x.shape == (1, 48, 48, 3)
            assert 0.0 <= x.min() and x.max() <= 1.0
            agree, diffs = 0, []
            for image, _ in mv_classifier.held_out:
                index, probs = clf.classify(image)
                want = np.asarray(mv_classifier.model(keras_input(image)))[0]
                agree += index == int(np.argmax(want))
                diffs.append(np.abs(probs - want).max())
    n = len(mv_classifier.held_out)
    assert agree >= n - 1, f"int8 labels agree with Keras on {agree}/{n}"
    assert max(diffs) < 0.1


@pytest.mark.tf
def test_classifier_without_manifest_infers_float_range(mv_classifier, tmp_path):
    bare = _copy_without_manifest(mv_classifier.float_path, tmp_path / "bare")
    with Classifier(bare) as clf, Classifier(mv_classifier.float_path) as ref:
        assert clf.manifest is None and clf.labels is None and clf.input_range == (0.0, 1.0)
        for image, _ in mv_classifier.held_out[:5]:
            assert clf.classify(image)[0] == ref.classify(image)[0]
        assert clf.label_name(3) == "3" and ref.label_name(3) == mv_classifier.labels[3]


@pytest.mark.tf
def test_logits_output_gets_a_softmax(mv_classifier, tmp_path):
    """A manifest saying "logits" makes the Classifier apply a softmax: on this model (whose
    outputs are already probabilities) the result is softmax(Keras probabilities)."""
    from mv_classifier import keras_input

    model = shutil.copy(mv_classifier.float_path, tmp_path / "logits.tflite")
    write_classifier_manifest(model, output="logits")
    with Classifier(model) as clf:
        for image, _ in mv_classifier.held_out[:4]:
            p = np.asarray(mv_classifier.model(keras_input(image)), np.float64)[0]
            want = np.exp(p) / np.exp(p).sum()
            index, probs = clf.classify(image)
            # float64 softmax of float32 logits: float32 summation order only (see above)
            np.testing.assert_allclose(probs, want, atol=1e-5)
            assert index == int(np.argmax(p))


def test_unknown_integer_input_range_asks_for_a_manifest():
    from jndtf.edge.classifier import _range_from_quantization

    with pytest.raises(ClassifierError, match="write_classifier_manifest"):
        _range_from_quantization((0.5, 3), np.int8, "x.tflite")  # -65.5..62: none known
    assert _range_from_quantization((2 / 255, 0), np.int8, "x") == (-1.0, 1.0)
    assert _range_from_quantization((1 / 255, 0), np.uint8, "x") == (0.0, 1.0)
    assert _range_from_quantization((1.0, -128), np.int8, "x") == (0.0, 255.0)


@pytest.mark.tf
def test_tampered_classifier_is_refused(mv_classifier, tmp_path):
    src = mv_classifier.float_path
    model = shutil.copy(src, tmp_path / src.name)
    shutil.copy(src.with_suffix(".json"), tmp_path / src.with_suffix(".json").name)
    Classifier(model).close()  # intact copy loads
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(ClassifierError, match=r"sha256 .* refusing to load"):
        Classifier(model)
    other = shutil.copy(model, tmp_path / "renamed.tflite")
    shutil.copy(src.with_suffix(".json"), tmp_path / "renamed.json")
    with pytest.raises(ClassifierError, match=r"describes 'mv-float\.tflite'"):
        Classifier(other)


@pytest.mark.tf
def test_jnd_net_given_as_classifier_is_refused(exported_acol_fixed, tmp_path):
    with pytest.raises(ClassifierError, match="does not describe an image classifier"):
        Classifier(exported_acol_fixed.path)
    bare = _copy_without_manifest(exported_acol_fixed.path, tmp_path / "bare")
    with pytest.raises(ClassifierError, match=r"output shape \[1, 96, 160, \d\] is not class"):
        Classifier(bare)


# --- the stage ------------------------------------------------------------------------------


@pytest.mark.tf
def test_quantize_mode_keeps_labels_within_the_jnd(mv_classifier, clip):
    frames, jnds = clip
    stage = MachineVisionStage(mv_classifier.float_path, mode="quantize", factor=2.0)
    ref = Classifier(mv_classifier.float_path)
    kept, biggest = 0, 0.0
    for frame, jnd in zip(frames, jnds, strict=True):
        out, rec = stage.process(frame, jnd)
        assert out.shape == frame.shape and out.dtype == np.uint8
        change = np.abs(out.astype(np.int16) - frame.astype(np.int16))
        # closed form: quantizer of step 2J errs by at most J (floor(J) in integers)
        assert np.all(change <= np.floor(jnd + 1e-9)), "a pixel moved by more than its JND"
        # the float32 fast path equals the float64 reference but where float32 rounds a
        # near-tie the other way: k·2J near a half-integer (1 grey level apart) or x / 2J near
        # k + 1/2 (the other multiple, also J away)
        ref_out = quantize_by_jnd(frame, jnd)
        differ = out != ref_out
        assert differ.mean() < 1e-3
        ratio = frame / (2.0 * np.broadcast_to(jnd, out.shape).astype(np.float64))
        near_tie = np.abs(ratio - np.floor(ratio) - 0.5) < 1e-5
        one_level = np.abs(out.astype(np.int16) - ref_out) <= 1
        assert np.all((one_level | near_tie)[differ])
        assert change.any(), "yang2005's JND is > 1 somewhere: something must change"
        hand = ref.classify(frame)[0], ref.classify(out)[0]
        assert (rec.label_original, rec.label_processed) == hand
        assert rec.agree == (hand[0] == hand[1])
        kept += hand[0] == hand[1]
        biggest = max(biggest, float(change.max()))
        assert rec.max_abs_change == float(change.max()) <= rec.max_allowed
    s = stage.summary()
    assert s.frames == len(frames) and s.agreed == kept
    assert s.rca == kept / len(frames)  # eq. (16), counted by hand above
    assert s.rca >= 0.8
    assert s.max_abs_change == biggest
    stage.close()
    ref.close()


@pytest.mark.tf
@pytest.mark.parametrize("factor", [2.0, 1.0])
def test_eq14_mode_moves_pixels_at_most_factor_half_jnd(mv_classifier, clip, factor):
    frames, jnds = clip
    with Classifier(mv_classifier.float_path) as clf:
        stage = MachineVisionStage(clf, mode="eq14", factor=factor)
        records = []
        for frame, jnd in list(zip(frames, jnds, strict=True))[:4]:
            out, rec = stage.process(frame, jnd)
            change = np.abs(out.astype(np.int16) - frame.astype(np.int16))
            assert np.all(change <= np.floor(factor / 2 * jnd + 1e-6))
            assert rec.max_allowed == pytest.approx(factor / 2 * float(jnd.max()))
            # the fast path is within one grey level of the numpy reference of eq. (14)
            ref = preprocess_jpeg(frame, factor / 2 * jnd.astype(np.float64))
            assert np.abs(out.astype(np.int16) - ref).max() <= 1
            records.append(rec)
        stage.close()  # a Classifier passed in stays open: the caller owns it
        assert clf.classify(frames[0])[0] == records[0].label_original
        assert [r.frame_index for r in records] == [0, 1, 2, 3]


@pytest.mark.tf
def test_rca_drops_when_the_change_is_far_above_any_jnd(mv_classifier, clip):
    frames, _ = clip
    huge = np.full(frames[0].shape[:2], 90.0, np.float32)  # step 180: two grey levels
    with MachineVisionStage(mv_classifier.float_path, mode="quantize") as stage:
        agree = [stage.process(f, huge)[1].agree for f in frames]
    s = stage.summary()
    assert s.rca == sum(agree) / len(agree) < 1.0


@pytest.mark.tf
def test_bytes_saved_summary(mv_classifier, clip):
    frames, jnds = clip
    with MachineVisionStage(mv_classifier.float_path, mode="eq14") as stage:
        assert math.isnan(stage.summary().rca) and stage.summary().to_dict()["saving"] is None
        before = after = 0
        for frame, jnd in zip(frames, jnds, strict=True):
            out, _ = stage.process(frame, jnd)
            a, b = _jpeg_bytes(frame), _jpeg_bytes(out)
            stage.add_bytes(a, b)
            before, after = before + a, after + b
        s = stage.summary()
        assert (s.byte_frames, s.bytes_original, s.bytes_processed) == (len(frames), before, after)
        assert s.bytes_saved == before - after
        assert s.saving == pytest.approx((before - after) / before)
        assert s.saving > 0  # eq. (14) flattens 8x8 blocks: JPEG needs fewer bytes
        json.dumps(s.to_dict())
        for bad in ((-1, 3), (3, 2.5), (True, 3)):
            with pytest.raises(ValueError, match="non-negative integer"):
                stage.add_bytes(*bad)


@pytest.mark.tf
def test_stage_rejects_bad_arguments(mv_classifier, clip):
    frames, jnds = clip
    with pytest.raises(ValueError, match="mode must be one of"):
        MachineVisionStage(mv_classifier.float_path, mode="blur")
    for factor in (0, -2.0, math.nan, True):
        with pytest.raises(ValueError, match="factor must be a positive number"):
            MachineVisionStage(mv_classifier.float_path, factor=factor)
    with MachineVisionStage(mv_classifier.float_path) as stage:
        with pytest.raises(ValueError, match="does not fit image"):
            stage.process(frames[0], jnds[0][:10])
        with pytest.raises(ValueError, match="RGB image HxWx3"):
            stage.process(frames[0][..., 0], jnds[0])
        assert stage.summary().frames == 0
    with pytest.raises(ValueError, match="channels must be"):
        MachineVisionStage(mv_classifier.float_path, mode="eq14", channels="yuv")
    with MachineVisionStage(mv_classifier.float_path, mode="eq14") as stage:
        for bad in (-jnds[0], np.full_like(jnds[0], np.nan)):
            with pytest.raises(ValueError, match="finite numeric array >= 0"):
                stage.process(frames[0], bad)
    with MachineVisionStage(mv_classifier.float_path, mode="eq14", channels="luma") as stage:
        with pytest.raises(ValueError, match="does not fit"):
            stage.process(frames[0], np.repeat(jnds[0], 3, axis=2))
        out, _ = stage.process(frames[0], jnds[0])
        # luma mode moves R, G and B by the same amount (the change of Y)
        d = out.astype(np.int16) - frames[0]
        unsaturated = (out > 0).all(axis=2) & (out < 255).all(axis=2)
        assert np.all(d[unsaturated].max(axis=1) == d[unsaturated].min(axis=1))
        assert stage.summary().frames == 1  # the refused frame was not counted


# --- the measurement for the report ---------------------------------------------------------


@pytest.mark.tf
@pytest.mark.slow
def test_rca_and_jpeg_bytes_on_the_synthesized_clip(mv_classifier, tmp_path):
    """RCA and JPEG q=90 bytes of quantize vs eq14 on the decoded synthesized clip, for the
    float and the int8 classifier and for larger steps (printed; run with -s), with the DMV
    paper's control (Fig. 1): white Gaussian noise of the same MSE as the quantize change.
    Checks the figures against hand counts, not against fixed numbers."""
    from jndtf.samples import synthesize_clip

    info = synthesize_clip(tmp_path / "clip.mp4")
    frames = decoded_frames(info.path)
    assert len(frames) == info.frames
    jnds = [baselines.get("yang2005")(f) for f in frames]
    runs = [(m, "float", 2.0) for m in ("quantize", "eq14", "eq14-luma")]
    runs += [(m, "int8", 2.0) for m in ("quantize", "eq14")]
    runs += [("quantize", "float", f) for f in (8.0, 32.0)]
    print(f"\nclip {info.size[0]}x{info.size[1]}, {info.frames} frames, JND yang2005, JPEG q=90")
    rng = np.random.default_rng(0)
    rows = {}
    for mode, which, factor in runs:
        path = mv_classifier.float_path if which == "float" else mv_classifier.int8_path
        channels = "luma" if mode.endswith("luma") else "rgb"
        stage = MachineVisionStage(path, mode=mode.split("-")[0], factor=factor, channels=channels)
        with stage:
            kept = kept_wgn = 0
            for frame, jnd in zip(frames, jnds, strict=True):
                out, rec = stage.process(frame, jnd)
                kept += rec.agree
                stage.add_bytes(_jpeg_bytes(frame), _jpeg_bytes(out))
                diff = out.astype(np.float64) - frame
                noise = rng.standard_normal(frame.shape) * np.sqrt(np.mean(diff**2))
                wgn = np.clip(np.round(frame + noise), 0, 255).astype(np.uint8)
                kept_wgn += stage.classifier.classify(wgn)[0] == rec.label_original
            s = stage.summary()
        assert s.rca == kept / len(frames) and s.frames == len(frames)
        rows[mode, which, factor] = s
        print(
            f"{mode:9s} {which:5s} step {factor:4.0f}xJND  RCA {s.rca:.3f} ({s.agreed}/{s.frames})"
            f"  WGN same MSE RCA {kept_wgn / len(frames):.3f}  JPEG bytes {s.bytes_original}"
            f" -> {s.bytes_processed} ({-100 * s.saving:+.1f} %)  max change "
            f"{s.max_abs_change:.0f}"
        )
    assert rows["eq14", "float", 2.0].saving > 0


@pytest.mark.tf
def test_stage_runs_with_tensorflow_and_keras_blocked(mv_classifier):
    """The machine-vision mode is TF-free: a fresh interpreter with tensorflow/keras blocked
    runs the int8 classifier and both modes on clip frames."""
    import subprocess
    import sys
    import textwrap

    from test_import_boundary import BLOCKER

    code = BLOCKER + textwrap.dedent(
        f"""
        import sys
        from jndtf import baselines
        from jndtf.edge.machine import MachineVisionStage
        from jndtf.samples import clip_frames
        frames = list(clip_frames(seconds=0.4, fps=5, size=(96, 64)))
        for mode in ("quantize", "eq14"):
            with MachineVisionStage({str(mv_classifier.int8_path)!r}, mode=mode) as stage:
                for f in frames:
                    stage.process(f, baselines.get("yang2005")(f))
            assert stage.summary().frames == len(frames)
        heavy = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")]
        assert not heavy, heavy
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("ok")


@pytest.mark.tf
@pytest.mark.parametrize("model", ["yang2005", "acol-tflite"])
def test_stage_with_the_runtime_jnd_mapper(mv_classifier, exported_acol_fixed, model):
    """The stream's wiring: JndMapper gives the map (a classical model, or a learned .tflite
    standing in for a DMV-JND export: the shipped acol, 3-channel map) and the stage uses it."""
    from jndtf.edge import JndMapper, JndMapperOptions, RunningMode

    spec = "yang2005" if model == "yang2005" else str(exported_acol_fixed.path)
    frames = list(clip_frames(seconds=0.6, fps=5, size=(160, 96)))
    opts = JndMapperOptions(model=spec, running_mode=RunningMode.VIDEO)
    with (
        JndMapper.create_from_options(opts) as mapper,
        MachineVisionStage(mv_classifier.float_path) as stage,
    ):
        for i, frame in enumerate(frames):
            jnd = mapper.process(frame, timestamp_ms=200 * i).jnd
            assert jnd.shape[:2] == frame.shape[:2] and jnd.shape[2] in (1, 3)
            out, rec = stage.process(frame, jnd)
            change = np.abs(out.astype(np.int16) - frame.astype(np.int16))
            assert np.all(change <= np.floor(jnd + 1e-6))  # per channel for a 3-channel map
            assert rec.frame_index == i
    assert stage.summary().frames == len(frames)
