"""jndtf.codecs against independent references: Pillow's JPEG parser and decoder, scikit-image's
PSNR, scipy's convex hull, closed-form and hand-computed BD-rates."""

from __future__ import annotations

import io
import math
import sys

import numpy as np
import pytest
import skimage.data
import skimage.metrics
from PIL import Image, JpegImagePlugin

from jndtf.codecs import bdrate as bd
from jndtf.codecs.image import (
    ENCODERS,
    EncoderError,
    decode_image,
    encode_jpeg,
    sampling_factors,
)
from jndtf.codecs.quality import measure, ms_ssim, psnr, ssimulacra2
from jndtf.codecs.video import X264_ANCHORS, VideoError, encode_h264

# Tolerances and why.
#: Pillow and OpenCV both decode with libjpeg-turbo's islow IDCT and fancy upsampling, but they
#: are different builds (SIMD paths may differ in rounding on AVX2 vs AVX-512): 1 grey level.
DECODER_AGREEMENT = 1
#: BD-rate closed forms: exact in exact arithmetic; cubic polyfit and pchip in float64 leave
#: ~1e-12 relative error, so 1e-6 percent is far above rounding and far below any real effect.
BD_EXACT = 1e-6


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.astronaut()[40:168, 200:328])  # 128x128 real photo


@pytest.mark.parametrize("encoder", ENCODERS)
@pytest.mark.parametrize("quality", [10, 50, 90, 100])
def test_both_encoders_write_420_baseline_jpeg(photo, encoder, quality):
    data = encode_jpeg(photo, quality, encoder)
    pil = Image.open(io.BytesIO(data))
    assert pil.format == "JPEG"
    # Pillow's own SOF parser: 2 = 4:2:0 (every encoder claims 4:2:0, see jndtf.codecs.image)
    assert JpegImagePlugin.get_sampling(pil) == 2
    assert sampling_factors(data) == [(2, 2), (1, 1), (1, 1)]


@pytest.mark.parametrize("encoder", ENCODERS)
def test_decode_agrees_with_pillow(photo, encoder):
    data = encode_jpeg(photo, 75, encoder)
    ours = decode_image(data)
    theirs = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert ours.shape == photo.shape and ours.dtype == np.uint8
    assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= DECODER_AGREEMENT


@pytest.mark.parametrize("encoder", ENCODERS)
def test_quality_setting_orders_bytes_and_fidelity(photo, encoder):
    sizes, scores = [], []
    for q in (20, 50, 80, 95):
        data = encode_jpeg(photo, q, encoder)
        sizes.append(len(data))
        scores.append(skimage.metrics.peak_signal_noise_ratio(photo, decode_image(data)))
    assert sizes == sorted(sizes) and len(set(sizes)) == 4
    assert scores == sorted(scores)


def test_bad_encoder_inputs(photo):
    with pytest.raises(EncoderError, match="unknown JPEG encoder 'mozjpeg'"):
        encode_jpeg(photo, 80, "mozjpeg")
    with pytest.raises(EncoderError, match=r"1\.\.100"):
        encode_jpeg(photo, 0)
    with pytest.raises(EncoderError, match="uint8 RGB"):
        encode_jpeg(photo.astype(np.float32), 80)
    with pytest.raises(EncoderError, match="could not decode"):
        decode_image(b"not a jpeg")
    with pytest.raises(EncoderError, match="not a JPEG"):
        sampling_factors(b"\x89PNG....")


def test_missing_jpegli_names_the_pip_command(photo, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyjpegli", None)  # import now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "jndtf\[rd\]"'):
        encode_jpeg(photo, 80, "jpegli")


def test_missing_metric_and_bdrate_packages_name_the_pip_command(photo, monkeypatch):
    monkeypatch.setitem(sys.modules, "ssimulacra2", None)
    with pytest.raises(ImportError, match=r"jndtf\[rd\]"):
        ssimulacra2(photo, photo)
    monkeypatch.setitem(sys.modules, "bjontegaard", None)
    with pytest.raises(ImportError, match=r"jndtf\[rd\]"):
        bd.bd_rate([1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4])


# ---- quality -------------------------------------------------------------------------------


def test_psnr_matches_scikit_image(photo):
    dec = decode_image(encode_jpeg(photo, 60))
    ref = skimage.metrics.peak_signal_noise_ratio(photo, dec, data_range=255)
    assert psnr(photo, dec) == pytest.approx(ref, rel=1e-9)  # same formula in float64
    assert math.isinf(psnr(photo, photo))


def test_ssimulacra2_identity_and_ordering(photo):
    # the package returns exactly 100.0 when the weighted error sum is 0 (identical images)
    assert ssimulacra2(photo, photo) == 100.0
    scores = [ssimulacra2(photo, decode_image(encode_jpeg(photo, q))) for q in (15, 45, 90)]
    assert scores[0] < scores[1] < scores[2] < 100.0


def test_ms_ssim_identity_and_ordering():
    img = np.ascontiguousarray(skimage.data.astronaut()[:192, :192])
    assert ms_ssim(img, img) == pytest.approx(1.0, abs=1e-6)  # float32 filters
    low, high = (ms_ssim(img, decode_image(encode_jpeg(img, q))) for q in (15, 90))
    assert low < high < 1.0
    with pytest.raises(ValueError, match="at least 176x176"):
        ms_ssim(img[:100, :100], img[:100, :100])


def test_measure_rejects_unknown_metric_and_shape_mismatch(photo):
    with pytest.raises(ValueError, match="unknown quality metric 'vmaf'"):
        measure(photo, photo, ["vmaf"])
    with pytest.raises(ValueError, match="original is"):
        measure(photo, photo[:64], ["psnr"])


def test_cvvdp_identity_if_installed(photo):
    pytest.importorskip("pycvvdp")
    small = photo[:64, :64]
    assert measure(small, small, ["cvvdp"])["cvvdp"] == pytest.approx(10.0, abs=1e-4)


# ---- BD-rate -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", bd.METHODS)
@pytest.mark.parametrize("k", [0.8, 1.25, 2.0])
def test_bd_rate_of_a_scaled_curve_is_k_minus_one(method, k):
    q = np.array([30.0, 34.0, 37.5, 41.0, 44.0])
    r = np.array([0.31, 0.52, 0.80, 1.30, 2.10])  # any increasing rate curve
    got = bd.bd_rate(r, q, k * r, q, method=method)
    assert got.percent == pytest.approx(100.0 * (k - 1.0), abs=BD_EXACT)
    assert got.overlap == (30.0, 44.0)


@pytest.mark.parametrize("method", bd.METHODS)
def test_bd_rate_hand_computed_lines(method):
    # anchor: log10 R = 0.1 Q; test: log10 R = 0.12 Q - 0.9 (both exact for cubic and pchip).
    qa = np.array([30.0, 35.0, 40.0, 45.0])
    qt = np.array([32.0, 37.0, 42.0, 47.0])
    got = bd.bd_rate(10 ** (0.1 * qa), qa, 10 ** (0.12 * qt - 0.9), qt, method=method)
    # overlap [32, 45]; mean of (0.02 Q - 0.9) over it = 0.02 * 38.5 - 0.9 = -0.13
    assert got.overlap == (32.0, 45.0)
    assert got.percent == pytest.approx(100.0 * (10**-0.13 - 1.0), abs=BD_EXACT)  # -25.87 %


def test_bd_rate_refuses_curves_that_do_not_overlap():
    with pytest.raises(bd.NoOverlapError, match=r"anchor 30..45, test 50..65"):
        bd.bd_rate([1, 2, 4, 8], [30, 35, 40, 45], [1, 2, 4, 8], [50, 55, 60, 65])


def test_bd_rate_needs_enough_points():
    with pytest.raises(ValueError, match="at least 4"):
        bd.bd_rate([1, 2, 3], [1, 2, 3], [1, 2, 3, 4], [1, 2, 3, 4], method="cubic")


def test_efficient_points_and_hull_against_scipy():
    from scipy.spatial import ConvexHull

    rng = np.random.default_rng(3)
    r = 10 ** rng.uniform(-1, 1, 40)
    q = 50 + 20 * np.log10(r) + rng.normal(0, 4, 40)
    er, eq = bd.efficient_points(r, q)
    assert np.all(np.diff(er) > 0) and np.all(np.diff(eq) > 0)
    for ri, qi in zip(r, q, strict=True):  # nothing is cheaper and better than a kept point
        assert not np.any((er > ri) & (eq < qi) & np.isin(er, r))
    hr, hq = bd.lower_envelope(r, q)
    pts = np.column_stack([np.log10(r), q])
    hull = ConvexHull(pts)
    vertices = {tuple(np.round(pts[i], 12)) for i in hull.vertices}
    for x, y in zip(np.log10(hr), hq, strict=True):
        assert (round(x, 12), round(y, 12)) in vertices  # every envelope point is a hull vertex
    # and no point of the cloud lies above the envelope (concave interpolation in log rate)
    inside = (np.log10(r) >= np.log10(hr[0])) & (np.log10(r) <= np.log10(hr[-1]))
    above = q[inside] - np.interp(np.log10(r[inside]), np.log10(hr), hq)
    assert above.max() <= 1e-9


# ---- H.264 ---------------------------------------------------------------------------------


def _frames(n=6, h=64, w=96):
    base = np.ascontiguousarray(skimage.data.astronaut()[100 : 100 + h, 100 : 100 + w + n])
    return [np.ascontiguousarray(base[:, i : i + w]) for i in range(n)]


def test_h264_round_trip_and_crf_order():
    frames = _frames()
    hi = encode_h264(frames, 18, preset="veryfast")
    lo = encode_h264(frames, 38, preset="veryfast")
    assert len(hi.decoded) == len(frames) and hi.decoded[0].shape == frames[0].shape
    assert hi.nbytes == sum(hi.frame_bytes) and hi.nbytes > lo.nbytes
    p_hi = np.mean(
        [
            skimage.metrics.peak_signal_noise_ratio(f, d)
            for f, d in zip(frames, hi.decoded, strict=True)
        ]
    )
    p_lo = np.mean(
        [
            skimage.metrics.peak_signal_noise_ratio(f, d)
            for f, d in zip(frames, lo.decoded, strict=True)
        ]
    )
    assert p_hi > p_lo + 3  # 20 CRF steps apart: several dB on any content
    assert hi.kbps(30) == pytest.approx(8 * hi.nbytes * 30 / len(frames) / 1000)


def test_x264_anchor_params_reach_the_encoder():
    frames = _frames()
    sizes = {
        n: encode_h264(frames, 28, preset="veryfast", x264_params=p).nbytes
        for n, p in X264_ANCHORS.items()
    }
    assert len(set(sizes.values())) > 1  # aq/psy settings change the bitstream


def test_h264_refuses_a_clip_whose_frame_size_changes():
    frames = _frames()
    frames[3] = frames[3][:32]
    with pytest.raises(VideoError, match="frame 3 is 96x32 but frame 0 is 96x64"):
        encode_h264(frames, 28)
    with pytest.raises(VideoError, match="even sides"):
        encode_h264([f[:63] for f in _frames()], 28)
    with pytest.raises(VideoError, match="no frames"):
        encode_h264([], 28)


def test_cached_ssimulacra2_reference_equals_the_package(photo):
    from jndtf.codecs.quality import Ssimulacra2Reference

    ref = Ssimulacra2Reference(photo)
    for q in (20, 85):
        dec = decode_image(encode_jpeg(photo, q))
        # the same float64 operations in the same order: bit-identical on any CPU
        assert ref.score(dec) == ssimulacra2(photo, dec)
    assert ref.score(photo) == 100.0


@pytest.mark.parametrize("quality", [30, 75, 95])
def test_optimized_huffman_is_the_same_picture_in_fewer_bytes(photo, quality):
    plain = encode_jpeg(photo, quality, "libjpeg-turbo")
    opt = encode_jpeg(photo, quality, "libjpeg-turbo-opt")
    # same quantization, same coefficients: Pillow decodes both to identical pixels
    a = np.asarray(Image.open(io.BytesIO(plain)).convert("RGB"))
    b = np.asarray(Image.open(io.BytesIO(opt)).convert("RGB"))
    assert np.array_equal(a, b)
    assert len(opt) < len(plain)  # optimal Huffman codes never cost more than the standard ones


@pytest.mark.parametrize("method", bd.METHODS)
def test_bd_rate_over_a_window(method):
    qa = np.array([30.0, 35.0, 40.0, 45.0])
    qt = np.array([32.0, 37.0, 42.0, 47.0])
    got = bd.bd_rate(
        10 ** (0.1 * qa), qa, 10 ** (0.12 * qt - 0.9), qt, method=method, window=(35, 40)
    )
    # mean of (0.02 Q - 0.9) over [35, 40] = 0.02 * 37.5 - 0.9 = -0.15 (by hand)
    assert got.overlap == (35.0, 40.0)
    assert got.percent == pytest.approx(100.0 * (10**-0.15 - 1.0), abs=BD_EXACT)  # -29.2 %
    q = np.array([30.0, 34.0, 37.5, 41.0, 44.0])
    r = np.array([0.31, 0.52, 0.80, 1.30, 2.10])
    scaled = bd.bd_rate(r, q, 0.9 * r, q, method=method, window=(33, 40))
    assert scaled.percent == pytest.approx(-10.0, abs=BD_EXACT)  # k - 1 on any window
    with pytest.raises(bd.NoOverlapError, match=r"misses the window 60\.\.90"):
        bd.bd_rate(r, q, 0.9 * r, q, method=method, window=(60, 90))


def test_an_implausible_fit_is_refused_not_reported():
    # four points, two of them 0.001 apart in quality with 4x the rate: the cubic through them
    # swings to +-inf between the points; the rates bound any honest BD-rate (-87.5..+700 %)
    qa, ra = [30.0, 34.0, 38.0, 42.0], [1.0, 2.0, 4.0, 8.0]
    qt, rt = [30.0, 31.0, 31.001, 42.0], [1.0, 2.0, 7.9, 8.0]
    with pytest.raises(ValueError, match="outside the"):
        bd.bd_rate(ra, qa, rt, qt, method="cubic")
    got = bd.bd_rate(ra, qa, rt, qt, method="pchip")  # monotone pieces stay within the points
    assert 100 * (1 / 8 - 1) <= got.percent <= 100 * (8 / 1 - 1)


def test_best_of_is_the_lower_envelope_of_the_curves():
    # two straight lines in (quality, log10 rate) that cross at Q = 40 (by hand:
    # a: 0.1 Q - 3, b: 0.05 Q - 1 -> equal at Q = 40); PCHIP reproduces lines exactly
    q = np.array([30.0, 35.0, 40.0, 45.0, 50.0])
    a = 10 ** (0.1 * q - 3)
    b = 10 ** (0.05 * q - 1)
    r, qq = bd.best_of([(a, q), (b, q)], samples=41)
    assert qq[0] == 30.0 and qq[-1] == 50.0
    want = np.minimum(0.1 * qq - 3, 0.05 * qq - 1)
    np.testing.assert_allclose(np.log10(r), want, atol=1e-12)  # float64 round-off only


def test_h264_presets_are_the_edge_encoders():
    # the sweep encoder (core) and the edge live-stream encoder take the same x264 preset names
    from jndtf.edge.encoders import H264_PRESETS as EDGE_PRESETS

    from jndtf.codecs.video import H264_PRESETS

    assert H264_PRESETS == EDGE_PRESETS
    frames = [np.zeros((16, 16, 3), np.uint8)] * 2
    with pytest.raises(ValueError, match="unknown x264 preset 'turbo'; choose from ultrafast"):
        encode_h264(frames, 23, preset="turbo")
