"""jndtf.apply.methods: the registry and each method's contract (shape, the s·JND bound, s = 0).

Independent references: OpenCV (block means by INTER_AREA, bilateralFilter, cv2.dct, the JPEG
decoder), scipy's orthonormal IDCT, libjpeg's own quantized coefficients read by jpeglib.

Tolerances (why they are what they are):
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from jndtf.apply.methods import (
    TemporalFilter,
    available_methods,
    decode_jpeg,
    encode_turbo,
    get_method,
)

#: dct: decoded change vs the plain decode may exceed s·J by the decoder's rounding: the integer
#: IDCT of Y, Cb, Cr (±0.5 each after descaling), fancy chroma upsampling and the YCbCr -> RGB
#: conversion (each rounds once), so at most ~2 grey levels on any x86-64 SIMD path.
DECODE_ROUNDING = 2.0
#: forward_dct vs the encoder's own levels: libjpeg's integer forward DCT and colour conversion
#: round, so a coefficient within ~0.02 step of a rounding edge may land on the other side.
LEVEL_AGREEMENT = 0.95


def _image(h: int = 64, w: int = 96, seed: int = 0) -> np.ndarray:
    """Texture + edges + smooth gradient, uint8 RGB (what a photo has: all three kinds)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 60 + 100 * (xx / w) + 40 * (yy > h // 2)
    tex = 25 * np.sin(xx / 1.7) * np.cos(yy / 2.3) * (xx > w // 3)
    img = np.stack([base + tex, base * 0.8 - tex, 200 - base * 0.5 + tex], axis=2)
    img = img + rng.normal(0, 4, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def _jnd(h: int = 64, w: int = 96, c: int = 1, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(1.0, 9.0, (h, w, c)).astype(np.float32)


def test_registry_lists_and_refuses():
    names = available_methods()
    assert {"none", "eq14", "smooth", "dct"} <= set(names)
    for n in names:
        m = get_method(n)
        assert m.name == n and m.kind in ("pixel", "jpeg") and m.description
    with pytest.raises(ValueError, match="choose one of"):
        get_method("nope")


@pytest.mark.parametrize("name", ["none", "eq14", "smooth"])
@pytest.mark.parametrize("channels", [1, 3])
def test_pixel_methods_bound_and_identity(name, channels):
    img, jnd = _image(), _jnd(c=channels)
    m = get_method(name)
    for s in (0.5, 1.0, 2.0):
        out = m.apply(img, jnd, s)
        assert out.dtype == np.uint8 and out.shape == img.shape
        # integer output: every pixel within floor(s·J) of the input (closed-form bound)
        bound = np.floor(s * np.broadcast_to(jnd, img.shape) + 1e-6)
        assert np.all(np.abs(out.astype(int) - img) <= bound)
    np.testing.assert_array_equal(m.apply(img, jnd, 0.0), img)
    data = m.encode(img, jnd, 0.0, 85, "libjpeg-turbo")
    assert data == encode_turbo(img, 85)  # s = 0: the plain encoder's file


def test_eq14_huge_strength_gives_opencv_block_means():
    img = _image(64, 96)
    out = get_method("eq14").apply(img, np.full((64, 96, 1), 255, np.float32), 1.0)
    means = cv2.resize(img.astype(np.float32), (12, 8), interpolation=cv2.INTER_AREA)
    ref = np.repeat(np.repeat(means, 8, axis=0), 8, axis=1)
    assert np.abs(out - ref).max() <= 0.5 + 1e-3  # rounding to the nearest integer


def test_smooth_without_clamp_is_opencv_bilateral():
    img = _image()
    m = get_method("smooth")
    out = m.apply(img, np.full((64, 96, 1), 255, np.float32), 1.0)
    ref = cv2.bilateralFilter(img, m.d, m.sigma_color, m.sigma_space)
    np.testing.assert_array_equal(out, ref)


def test_jpeg_kind_refuses_apply():
    with pytest.raises(TypeError, match="encode"):
        get_method("dct").apply(_image(), _jnd(), 1.0)


def test_bad_inputs_name_the_problem():
    m = get_method("eq14")
    with pytest.raises(ValueError, match="uint8 RGB"):
        m.apply(_image().astype(np.float32), _jnd(), 1.0)
    with pytest.raises(ValueError, match="does not fit"):
        m.apply(_image(), _jnd(32, 32), 1.0)
    with pytest.raises(ValueError, match="strength"):
        m.apply(_image(), _jnd(), -1.0)


def test_idct_basis_is_scipy_orthonormal_idct():
    from scipy.fft import idctn

    from jndtf.apply.methods.dct import idct_basis

    basis = idct_basis()
    for k in (0, 1, 8, 9, 27, 63):
        coef = np.zeros((8, 8))
        coef.flat[k] = 1.0
        np.testing.assert_allclose(basis[k].reshape(8, 8), idctn(coef, norm="ortho"), atol=1e-12)


def test_forward_dct_matches_opencv_and_libjpeg_levels(tmp_path):
    jpeglib = pytest.importorskip("jpeglib")
    from jndtf.apply.methods.dct import forward_dct, ycbcr

    img = _image(64, 96)
    y = ycbcr(img)[0]
    coef = forward_dct(y, 8, 12)
    ref = cv2.dct((y[:8, 8:16] - 128).astype(np.float64))
    np.testing.assert_allclose(coef[0, 1], ref, atol=1e-9)
    path = tmp_path / "a.jpg"
    path.write_bytes(encode_turbo(img, 90))
    jpeg = jpeglib.read_dct(str(path))
    qt = np.asarray(jpeg.qt)[np.asarray(jpeg.quant_tbl_no)[0]]
    agree = np.mean(np.round(coef / qt) == jpeg.Y)
    assert agree >= LEVEL_AGREEMENT


def _encoders():
    out = ["libjpeg-turbo"]
    try:
        import pyjpegli  # noqa: F401

        out.append("jpegli")
    except ImportError:
        pass
    return out


@pytest.mark.parametrize("encoder", _encoders())
@pytest.mark.parametrize("channels", [1, 3])
def test_dct_bound_subset_and_plain(encoder, channels, tmp_path):
    jpeglib = pytest.importorskip("jpeglib")
    from jndtf.apply.methods import resolve_encoder

    img, jnd = _image(72, 100), _jnd(72, 100, channels)  # not a multiple of 16: padded blocks
    m = get_method("dct")
    plain = resolve_encoder(encoder)(img, 80)
    assert m.encode(img, jnd, 0.0, 80, encoder) == plain  # s = 0: the plain encoder's file
    ref = decode_jpeg(plain).astype(np.float64)
    for s in (0.5, 2.0):
        data = m.encode(img, jnd, s, 80, encoder)
        out = decode_jpeg(data)  # OpenCV decodes it
        assert out.shape == img.shape and out.dtype == np.uint8
        bound = s * jnd.min(axis=2, keepdims=True)
        assert np.all(np.abs(out - ref) <= bound + DECODE_ROUNDING)
        (tmp_path / "p.jpg").write_bytes(plain)
        (tmp_path / "d.jpg").write_bytes(data)
        a, b = jpeglib.read_dct(str(tmp_path / "p.jpg")), jpeglib.read_dct(str(tmp_path / "d.jpg"))
        np.testing.assert_array_equal(np.asarray(a.qt), np.asarray(b.qt))  # the encoder's tables
        for comp in ("Y", "Cb", "Cr"):
            pa, pb = getattr(a, comp), getattr(b, comp)
            assert np.all((pb == pa) | (pb == 0))  # zeros only added
            np.testing.assert_array_equal(pa[..., 0, 0], pb[..., 0, 0])  # DC untouched
    assert len(m.encode(img, jnd, 2.0, 80, encoder)) < len(plain)


def _still_noisy_clip(n=6, sigma=2.0, seed=3):
    rng = np.random.default_rng(seed)
    scene = _image(48, 64).astype(np.float64)
    return [
        np.clip(np.round(scene + rng.normal(0, sigma, scene.shape)), 0, 255).astype(np.uint8)
        for _ in range(n)
    ]


# block 16 holds a macroblock only if ALL its 768 samples pass: the difference of two noisy
# frames has sigma 2·sqrt(2) = 2.8, so it needs a bound of 4 sigma (s = 3: 12 levels).
@pytest.mark.parametrize("mode,block,s", [("hold", 1, 2.0), ("hold", 16, 3.0), ("clamp", 1, 2.0)])
def test_temporal_filter_stills_noise_within_bound(mode, block, s):
    clip = _still_noisy_clip()
    jnd = np.full((48, 64, 1), 4.0, np.float32)
    f = TemporalFilter(s, mode=mode, block=block)
    outs = [f(x, jnd) for x in clip]
    for x, y in zip(clip, outs, strict=True):
        assert y.dtype == np.uint8 and y.shape == x.shape
        assert np.all(np.abs(y.astype(int) - x) <= np.floor(s * 4.0))  # |y - x| <= floor(s·J)
    change_in = np.mean([np.abs(b.astype(int) - a).mean() for a, b in itertools.pairwise(clip)])
    change_out = np.mean([np.abs(b.astype(int) - a).mean() for a, b in itertools.pairwise(outs)])
    # frame differences of noise sigma 2 (|Δ| ~ 2.3 on average) are within the bound almost always
    assert change_out < 0.25 * change_in
    f.reset()
    np.testing.assert_array_equal(f(clip[3], jnd), clip[3])  # first frame after reset passes


def test_temporal_filter_strength_zero_and_size_change():
    clip = _still_noisy_clip(3)
    jnd = np.full((48, 64), 4.0, np.float32)
    f = TemporalFilter(0.0)
    for x in clip:
        np.testing.assert_array_equal(f(x, jnd), x)
    g = TemporalFilter(1.0)
    g(clip[0], jnd)
    with pytest.raises(ValueError, match=r"frame 1 .*reset"):
        g(np.zeros((40, 64, 3), np.uint8), np.full((40, 64), 4.0, np.float32))


def test_x264_roi_offsets_reach_the_encoder():
    """addroi side data -> libx264 quant offsets: the high-JND half gets a coarser quantizer."""
    pytest.importorskip("av")
    from jndtf.apply.methods.x264roi import encode_h264_roi, roi_offsets

    h, w = 64, 128
    jnd = np.full((h, w, 1), 4.0, np.float32)
    jnd[:, : w // 2] = 16.0
    off = roi_offsets(jnd, 1.0, grid=64)
    # closed form: median 10, cells 16 and 4 -> 6·log2(1.6) and 6·log2(0.4) QP, clipped
    want = np.clip([[6 * np.log2(1.6), 6 * np.log2(0.4)]], -6, 6)  # max_qp = 6
    np.testing.assert_allclose(off, want, atol=1e-9)
    clip = _still_noisy_clip(4, sigma=3.0)
    clip = [cv2.resize(f, (w, h)) for f in clip]

    def mse(a, b):
        return float(np.mean((a.astype(np.float64) - b) ** 2))

    plain, dec0 = encode_h264_roi(clip, [jnd] * 4, 26, strength=0.0)
    roi, dec1 = encode_h264_roi(clip, [jnd] * 4, 26, strength=1.0)
    left0 = np.mean([mse(c[:, : w // 2], d[:, : w // 2]) for c, d in zip(clip, dec0, strict=True)])
    left1 = np.mean([mse(c[:, : w // 2], d[:, : w // 2]) for c, d in zip(clip, dec1, strict=True)])
    right0 = np.mean([mse(c[:, w // 2 :], d[:, w // 2 :]) for c, d in zip(clip, dec0, strict=True)])
    right1 = np.mean([mse(c[:, w // 2 :], d[:, w // 2 :]) for c, d in zip(clip, dec1, strict=True)])
    assert len(dec1) == 4 and dec1[0].shape == clip[0].shape
    # +4 QP is ~1.6x the step: the error must move clearly (1.2x leaves room for x264's RDO)
    assert left1 > 1.2 * left0 and right1 < right0 / 1.2
    assert plain != roi


def test_dct_shrink_only_lowers_magnitudes(tmp_path):
    """shrink=True also takes |L| = 2, 4, 8.. down by one: magnitudes only fall, signs stay."""
    jpeglib = pytest.importorskip("jpeglib")
    from jndtf.apply.methods.dct import DctMethod

    img, jnd = _image(72, 100), _jnd(72, 100, 1)
    plain = encode_turbo(img, 90)
    data = DctMethod(shrink=True).encode(img, jnd, 4.0, 90)
    ref = decode_jpeg(plain).astype(np.float64)
    assert np.all(np.abs(decode_jpeg(data) - ref) <= 4.0 * jnd + DECODE_ROUNDING)
    (tmp_path / "p.jpg").write_bytes(plain)
    (tmp_path / "d.jpg").write_bytes(data)
    a, b = jpeglib.read_dct(str(tmp_path / "p.jpg")), jpeglib.read_dct(str(tmp_path / "d.jpg"))
    for comp in ("Y", "Cb", "Cr"):
        pa, pb = getattr(a, comp).astype(int), getattr(b, comp).astype(int)
        assert np.all(np.abs(pb) <= np.abs(pa)) and np.all(pa * pb >= 0)
        assert np.all(np.abs(pa - pb) <= 1)  # at most one quantization step per coefficient
