"""The fast ``dct`` method (#13) against the implementation it replaced, kept below as a frozen
private reference (``_ref_*``: the module as of commit 65c6da0, verbatim but for names): the
same JPEG BYTES on photos, synthetic images, odd sizes, both encoders and every option.

Independent references: that earlier implementation (jpeglib's public read/write, a
per-scan-position loop, ``np.median``), numpy's median, and libjpeg-turbo itself (OpenCV).
No tolerances: every comparison is exact.
"""

from __future__ import annotations

import functools
import os
import tempfile

import cv2
import numpy as np
import pytest

from jndtf.apply.methods import dct, encode_turbo

jpeglib = pytest.importorskip("jpeglib")

# ---- the reference: jndtf/apply/methods/dct.py at 65c6da0 (118 ms per 640x360 frame) ----

_ZIGZAG = dct.ZIGZAG
_BASIS = dct.idct_basis()


def _ref_blocks(a, hb, wb):
    return a.reshape(hb, 8, wb, 8).transpose(0, 2, 1, 3).reshape(hb, wb, 64)


def _ref_pad_to(a, h, w, fill):
    out = np.full((h, w), fill, dtype=np.float64)
    hh, ww = min(h, a.shape[0]), min(w, a.shape[1])
    out[:hh, :ww] = a[:hh, :ww]
    return out


def _ref_suppress(coef, qt, budget, max_level, true=None, theta=np.inf, shrink=False):
    hb, wb = coef.shape[:2]
    c = coef.reshape(hb * wb, 64).astype(np.int32)
    t = None if true is None else np.abs(true.reshape(hb * wb, 64))
    th = np.broadcast_to(np.asarray(theta, dtype=np.float64), (hb, wb)).reshape(hb * wb)
    bud = _ref_blocks(budget, hb, wb).reshape(hb * wb, 64)
    step = qt.reshape(64).astype(np.float64)
    change = np.zeros((hb * wb, 64))
    for k in _ZIGZAG[:0:-1]:
        level = c[:, k]
        mag = np.abs(level)
        mask = (level != 0) & (mag <= max_level)
        if t is not None:
            mask &= t[:, k] < th
        new = np.zeros_like(level)
        if shrink and t is not None:
            edge = (mag >= 2) & ((mag & (mag - 1)) == 0) & (t[:, k] - (mag - 1) < th)
            mask |= edge
            new = np.where(edge, level - np.sign(level), 0)
        cand = np.flatnonzero(mask)
        if cand.size == 0:
            continue
        delta = ((level[cand] - new[cand]) * step[k])[:, None]
        trial = change[cand] - delta * _BASIS[k][None, :]
        ok = np.all(np.abs(trial) <= bud[cand], axis=1)
        keep = cand[ok]
        change[keep] = trial[ok]
        c[keep, k] = new[keep]
    return c.reshape(coef.shape).astype(np.int16)


def _ref_forward_dct(plane, hb, wb):
    h, w = plane.shape
    p = np.pad(plane - 128.0, ((0, max(0, hb * 8 - h)), (0, max(0, wb * 8 - w))), mode="edge")
    blocks = _ref_blocks(p[: hb * 8, : wb * 8], hb, wb)
    return (blocks @ _BASIS.T).reshape(hb, wb, 8, 8)


def _ref_ycbcr(image):
    x = image.astype(np.float64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    return [
        0.299 * r + 0.587 * g + 0.114 * b,
        -0.168736 * r - 0.331264 * g + 0.5 * b + 128,
        0.5 * r - 0.418688 * g - 0.081312 * b + 128,
    ]


def _ref_box(a, fy, fx):
    h, w = a.shape
    hp, wp = -(-h // fy) * fy, -(-w // fx) * fx
    p = np.pad(a, ((0, hp - h), (0, wp - w)), mode="edge")
    p = sum(p[:, i::fx] for i in range(fx)) / fx
    return sum(p[i::fy] for i in range(fy)) / fy


def _ref_budgets(jnd, strength, alpha):
    j = jnd[..., 0] if jnd.shape[2] == 1 else jnd.min(axis=2)
    b = strength * j.astype(np.float64)
    chroma = cv2.erode(((1 - alpha) * b).astype(np.float32), np.ones((5, 5), np.uint8))
    return alpha * b, chroma.astype(np.float64)


def _ref_min_pool(a, fy, fx):
    h, w = a.shape
    hp, wp = -(-h // fy) * fy, -(-w // fx) * fx
    p = np.pad(a, ((0, hp - h), (0, wp - w)), mode="edge")
    p = functools.reduce(np.minimum, [p[:, i::fx] for i in range(fx)])
    return functools.reduce(np.minimum, [p[i::fy] for i in range(fy)])


def _ref_suppress_jpeg(data, jnd, strength, *, image=None, theta=np.inf, spread=0.0,
                       shrink=False, alpha=0.7, max_level=1):  # fmt: skip
    fd, path = tempfile.mkstemp(suffix=".jpg")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        jpeg = jpeglib.read_dct(path)
        jpeg.load()
        luma_b, chroma_b = _ref_budgets(jnd, strength, alpha)
        qt = np.asarray(jpeg.qt)
        tbl = list(np.asarray(jpeg.quant_tbl_no).reshape(-1))
        planes = _ref_ycbcr(image) if image is not None else [None, None, None]
        hb, wb = jpeg.Y.shape[:2]
        jmean = (jnd[..., 0] if jnd.shape[2] == 1 else jnd.mean(axis=2)).astype(np.float64)
        jmed = max(float(np.median(jmean)), 1e-6)

        def edge(fy, fx, chb, cwb):
            if spread == 0 or not np.isfinite(theta):
                return theta
            jb = _ref_box(_ref_box(jmean, fy, fx), 8, 8)[:chb, :cwb]
            jb = np.pad(jb, ((0, chb - jb.shape[0]), (0, cwb - jb.shape[1])), mode="edge")
            return np.clip(theta + spread * np.log2(np.maximum(jb, 1e-6) / jmed), 0.5, 1.0)

        def true(plane, fy, fx, chb, cwb, table):
            if plane is None:
                return None
            small = plane if fy == fx == 1 else _ref_box(plane, fy, fx)
            return _ref_forward_dct(small, chb, cwb) / table

        jpeg.Y = _ref_suppress(jpeg.Y, qt[tbl[0]], _ref_pad_to(luma_b, hb * 8, wb * 8, np.inf),
                               max_level, true(planes[0], 1, 1, hb, wb, qt[tbl[0]]),
                               edge(1, 1, hb, wb), shrink)  # fmt: skip
        if jpeg.has_chrominance:
            for i, (name, scale) in enumerate((("Cb", 1.772), ("Cr", 1.402)), 1):
                comp = getattr(jpeg, name)
                chb, cwb = comp.shape[:2]
                fy, fx = -(-hb // chb), -(-wb // cwb)
                pooled = _ref_min_pool(chroma_b, fy, fx) / scale
                table = qt[tbl[i]]
                new = _ref_suppress(comp, table, _ref_pad_to(pooled, chb * 8, cwb * 8, np.inf),
                                    max_level, true(planes[i], fy, fx, chb, cwb, table),
                                    edge(fy, fx, chb, cwb), shrink)  # fmt: skip
                setattr(jpeg, name, new)
        jpeg.write_dct(path, flags=["+OPTIMIZE_CODING"])
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


def _ref_encode(img, jnd, s, quality, encoder="libjpeg-turbo", *, alpha=0.7, max_level=1,
                theta=0.6, spread=0.1, shrink=False):  # fmt: skip
    """DctMethod(...).encode of 65c6da0."""
    from jndtf.apply.methods import resolve_encoder

    plain = resolve_encoder(encoder)(img, quality)
    if s == 0:
        return plain
    return _ref_suppress_jpeg(plain, jnd, s, image=img if np.isfinite(theta) else None,
                              theta=theta, spread=spread, shrink=shrink, alpha=alpha,
                              max_level=max_level)  # fmt: skip


# ---- the tests ----


def _synthetic(h, w, seed=0):
    """Texture + edges + gradient + noise, uint8 RGB."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = 60 + 100 * (xx / w) + 40 * (yy > h // 2)
    tex = 25 * np.sin(xx / 1.7) * np.cos(yy / 2.3) * (xx > w // 3)
    img = np.stack([base + tex, base * 0.8 - tex, 200 - base * 0.5 + tex], axis=2)
    return np.clip(np.round(img + rng.normal(0, 4, img.shape)), 0, 255).astype(np.uint8)


def _map(img, channels=1):
    """A classical JND map of the image (Yang 2005), 1 or 3 channels."""
    from jndtf.jobs import compute_jnd

    j = compute_jnd(img, "yang2005")
    return j if channels == 1 else np.concatenate([j, 1.3 * j, 0.8 * j], axis=2)


def _encoders():
    out = ["libjpeg-turbo"]
    try:
        import pyjpegli  # noqa: F401

        out.append("jpegli")
    except ImportError:
        pass
    return out


def test_fast_path_is_taken_on_this_install():
    """The libjpeg-turbo file layout is recognized and the direct C path agrees with jpeglib."""
    img = _synthetic(40, 56)
    assert dct._turbo_layout(encode_turbo(img, 80)) == (40, 56)
    assert dct._fast_path_ok()


@pytest.mark.parametrize("encoder", _encoders())
@pytest.mark.parametrize("size", [(72, 100), (33, 47), (64, 64)])
def test_same_bytes_as_reference_synthetic(encoder, size):
    h, w = size
    img = _synthetic(h, w)
    jnd = np.random.default_rng(1).uniform(1.0, 9.0, (h, w, 1)).astype(np.float32)
    m = dct.DctMethod()
    for q, s in ((50, 0.5), (90, 2.0), (75, 0.0)):
        assert m.encode(img, jnd, s, q, encoder) == _ref_encode(img, jnd, s, q, encoder)


@pytest.mark.parametrize(
    "kw",
    [{"shrink": True}, {"theta": np.inf}, {"spread": 0.0}, {"max_level": 2, "shrink": True},
     {"alpha": 1.0}, {"max_level": 3}],
)  # fmt: skip
def test_same_bytes_as_reference_options(kw):
    img = _synthetic(72, 100, seed=2)
    jnd = np.random.default_rng(3).uniform(1.0, 9.0, (72, 100, 3)).astype(np.float32)
    assert dct.DctMethod(**kw).encode(img, jnd, 3.0, 85) == _ref_encode(img, jnd, 3.0, 85, **kw)


def test_same_bytes_as_reference_photos(shared_dir):
    """Three photos at 640x360 (the edge stream's frame) and an odd size, two qualities, both
    encoders, a one- and a three-channel map: byte-identical files."""
    m = dct.DctMethod()
    for name in ("001.png", "002.png", "003.png"):
        path = shared_dir / "data" / "train-photos" / name
        if not path.is_file():
            pytest.skip(f"photo not found: {path}")
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        for size in ((640, 360), (203, 117)):
            img = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            for channels, s in ((1, 1.0), (3, 2.0)):
                jnd = _map(img, channels)
                for q in (60, 90):
                    for enc in _encoders():
                        got, want = m.encode(img, jnd, s, q, enc), _ref_encode(img, jnd, s, q, enc)
                        assert got == want, (name, size, channels, q, enc)


def test_other_layouts_take_jpeglib_path():
    """A COM segment (which jpeglib copies) is not the turbo layout: the public path runs and the
    bytes still match the reference."""
    img = _synthetic(48, 64)
    jnd = np.full((48, 64, 1), 4.0, np.float32)
    plain = encode_turbo(img, 85)
    data = plain[:20] + b"\xff\xfe\x00\x06test" + plain[20:]
    assert dct._turbo_layout(data) is None
    got = dct.suppress_jpeg(data, jnd, 2.0, image=img, theta=0.6, spread=0.1)
    assert got == _ref_suppress_jpeg(data, jnd, 2.0, image=img, theta=0.6, spread=0.1)


def test_suppress_equals_per_position_loop():
    """The round-based suppress() against the reference loop on random coefficient blocks."""
    rng = np.random.default_rng(0)
    for _ in range(25):
        hb, wb = rng.integers(1, 20, 2)
        coef = rng.integers(-4, 5, (hb, wb, 8, 8)) * (rng.random((hb, wb, 8, 8)) < rng.random())
        coef = coef.astype(np.int16)
        qt = rng.integers(1, 40, (8, 8))
        bud = rng.uniform(0, 10, (hb * 8, wb * 8))
        true = coef + rng.uniform(-0.5, 0.5, coef.shape)
        th = rng.uniform(0.5, 1.0, (hb, wb))
        for ml, tr, sh in ((1, None, False), (1, true, False), (2, true, True), (4, None, True)):
            theta = th if tr is not None else np.inf
            np.testing.assert_array_equal(
                dct.suppress(coef, qt, bud, ml, tr, theta, sh),
                _ref_suppress(coef, qt, bud, ml, tr, theta, sh),
            )


def test_median_equals_numpy():
    rng = np.random.default_rng(4)
    for n in (4096, 4097, 230400, 9):
        for a in (rng.uniform(0, 10, n), np.round(rng.uniform(0, 10, n)), np.zeros(n)):
            a = a.astype(np.float32)
            assert dct._median(a) == float(np.median(a.astype(np.float64)))
    a = rng.uniform(-1, 1, 5000).astype(np.float32)  # negative: the partition branch
    assert dct._median(a) == float(np.median(a.astype(np.float64)))


def test_forward_dct_view_matches_reference():
    plane = np.random.default_rng(5).uniform(0, 255, (37, 45))
    # float64 products in another order: equal to a few ulps (1e-9 of a 2000-unit range)
    np.testing.assert_allclose(dct.forward_dct(plane, 5, 6), _ref_forward_dct(plane, 5, 6),
                               atol=1e-9)  # fmt: skip


@pytest.mark.parametrize(
    "flags",
    [[cv2.IMWRITE_JPEG_RST_INTERVAL, 4], [cv2.IMWRITE_JPEG_OPTIMIZE, 1],
     [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]],
)  # fmt: skip
def test_opencv_writer_options_same_bytes(flags):
    """Restart markers and optimized tables keep the fast layout, progressive takes jpeglib's
    path; every one gives the reference's bytes."""
    img = _synthetic(72, 100, seed=4)
    jnd = np.random.default_rng(5).uniform(1.0, 9.0, (72, 100, 1)).astype(np.float32)
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85, *flags]
    )
    assert ok
    data = buf.tobytes()
    assert (dct._turbo_layout(data) is None) == (flags[0] == cv2.IMWRITE_JPEG_PROGRESSIVE)
    got = dct.suppress_jpeg(data, jnd, 2.0, image=img, theta=0.6, spread=0.1)
    assert got == _ref_suppress_jpeg(data, jnd, 2.0, image=img, theta=0.6, spread=0.1)
