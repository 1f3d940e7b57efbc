"""JND-guided pre-processing: hmJND eq. (14) and DMV-JND's quantization step of twice the JND."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from jndtf.apply.preprocess import (
    block_means,
    preprocess_jpeg,
    qp_from_qstep,
    qstep_map,
    quantize_by_jnd,
)
from jndtf.samples import sample_image


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return sample_image("coffee")[:100, :150]  # 100x150: partial 8x8 blocks at both edges


@pytest.fixture(scope="module")
def jnd(photo) -> np.ndarray:
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(np.float32)
    local_std = np.sqrt(np.maximum(cv2.blur(grey**2, (5, 5)) - cv2.blur(grey, (5, 5)) ** 2, 0))
    return (3.0 + 0.5 * local_std).astype(np.float32)


def _eq14_loop(x: np.ndarray, j: np.ndarray, block: int = 8) -> np.ndarray:
    """Eq. (14) written out pixel by pixel, block by block, as the paper states it."""
    out = np.empty_like(x, dtype=np.float64)
    h, w = x.shape
    for by in range(0, h, block):
        for bx in range(0, w, block):
            tile = x[by : by + block, bx : bx + block].astype(np.float64)
            mean = tile.mean()
            for (yy, xx), v in np.ndenumerate(tile):
                t = j[by + yy, bx + xx]
                if abs(v - mean) <= t:
                    out[by + yy, bx + xx] = mean
                elif v - mean < -t:
                    out[by + yy, bx + xx] = v + t
                else:
                    out[by + yy, bx + xx] = v - t
    return out


def test_block_means_partial_tiles():
    x = np.arange(10 * 11, dtype=np.float64).reshape(10, 11)
    m = block_means(x, 8)
    assert m.shape == x.shape
    assert m[0, 0] == pytest.approx(x[:8, :8].mean())
    assert m[9, 10] == pytest.approx(x[8:, 8:].mean())
    assert m[3, 9] == pytest.approx(x[:8, 8:].mean())


def test_eq14_matches_the_written_out_formula(photo, jnd):
    grey = photo[..., 1].astype(np.float32)
    got = preprocess_jpeg(grey, jnd)
    np.testing.assert_allclose(got, _eq14_loop(grey, jnd), atol=1e-4)


@pytest.mark.parametrize("channels", ["rgb", "luma"])
def test_zero_jnd_is_identity(photo, channels):
    zero = np.zeros(photo.shape[:2], np.float32)
    np.testing.assert_array_equal(preprocess_jpeg(photo, zero, channels=channels), photo)
    f = photo.astype(np.float32)
    np.testing.assert_array_equal(preprocess_jpeg(f, zero, channels=channels), f)
    np.testing.assert_array_equal(quantize_by_jnd(photo, zero), photo)


@pytest.mark.parametrize("channels", ["rgb", "luma"])
@pytest.mark.parametrize("as_float", [False, True])
def test_never_moves_more_than_the_jnd(photo, jnd, channels, as_float):
    image = photo.astype(np.float32) if as_float else photo
    out = preprocess_jpeg(image, jnd, channels=channels)
    assert out.dtype == (np.float32 if as_float else np.uint8)
    moved = np.abs(out.astype(np.float64) - photo)
    assert np.all(moved <= jnd[..., None] + 1e-4)
    assert moved.mean() > 0.5  # and it does change the photo


def test_rgb_jnd_map_per_channel(photo, jnd):
    j3 = np.stack([jnd, 0 * jnd, 2 * jnd], axis=-1)
    out = preprocess_jpeg(photo, j3)
    np.testing.assert_array_equal(out[..., 1], photo[..., 1])
    moved = np.abs(out.astype(np.float64) - photo)
    assert np.all(moved <= j3 + 1e-6)


def test_huge_jnd_gives_block_means(photo):
    huge = np.full(photo.shape[:2], 1000.0)
    out = preprocess_jpeg(photo.astype(np.float32), huge)
    np.testing.assert_allclose(out, block_means(photo, 8), atol=1e-4)
    out_u8 = preprocess_jpeg(photo, huge)
    np.testing.assert_array_equal(out_u8, np.round(block_means(photo, 8)).astype(np.uint8))


def test_flat_blocks_unchanged(photo, jnd):
    image = photo.copy()
    image[8:24, 16:40] = (200, 30, 90)  # two rows x three columns of whole 8x8 blocks
    out = preprocess_jpeg(image, jnd)
    np.testing.assert_array_equal(out[8:24, 16:40], image[8:24, 16:40])


def test_luma_mode_keeps_chroma(photo, jnd):
    f = photo.astype(np.float32)
    out = preprocess_jpeg(f, jnd, channels="luma")
    unclipped = np.all((out > 0) & (out < 255), axis=-1)
    change = out - f
    # The same change on R, G and B: B - Y and R - Y (JPEG's Cb, Cr) are kept.
    np.testing.assert_allclose(change[..., 0][unclipped], change[..., 2][unclipped], atol=1e-3)
    with pytest.raises(ValueError, match="shape"):
        preprocess_jpeg(photo, np.stack([jnd] * 3, axis=-1), channels="luma")


def test_jpeg_gets_smaller():
    big = sample_image("coffee")
    j = np.full(big.shape[:2], 4.0, np.float32)
    out = preprocess_jpeg(big, j)

    def size(img):
        _, buf = cv2.imencode(
            ".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
        )
        return len(buf)

    assert size(out) < 0.9 * size(big)


def test_dmv_quantization(photo, jnd):
    out = quantize_by_jnd(photo.astype(np.float32), jnd)
    step = 2.0 * jnd[..., None]
    # Every value is a multiple of its step (or clipped to 0/255) and within the JND.
    k = out / step
    on_grid = np.isclose(k, np.round(k), atol=1e-4) | (out == 0) | (out == 255)
    assert np.all(on_grid)
    assert np.all(np.abs(out - photo) <= jnd[..., None] + 1e-4)
    out_u8 = quantize_by_jnd(photo, jnd)
    assert out_u8.dtype == np.uint8
    assert np.all(np.abs(out_u8.astype(np.float64) - photo) <= jnd[..., None] + 1e-6)
    # With a constant JND only every 2·JND-th level survives: far fewer PNG bytes (lossless).
    png = lambda a: len(cv2.imencode(".png", a)[1])  # noqa: E731
    flat = quantize_by_jnd(photo, np.full(photo.shape[:2], 4.0))
    assert png(flat) < 0.7 * png(photo)


def test_qstep_and_qp():
    j = np.full((40, 33), 5.0)
    j[3, 3] = 1.0
    q = qstep_map(j, block=16)
    assert q.shape == (3, 3)
    assert q[0, 0] == 2.0 and q[1, 1] == 10.0
    assert qstep_map(j, block=16, reduce="mean")[0, 0] == pytest.approx(2 * (255 * 5 + 1) / 256)
    np.testing.assert_array_equal(
        qp_from_qstep(np.array([1.0, 2.0, 10.0, 0.0, 1e6])), [4, 10, 23, 0, 51]
    )


def test_errors(photo, jnd):
    with pytest.raises(ValueError, match="shape"):
        preprocess_jpeg(photo, jnd[:50])
    bad = jnd.copy()
    bad[0, 0] = -1
    with pytest.raises(ValueError, match="negative"):
        preprocess_jpeg(photo, bad)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        quantize_by_jnd(photo, bad)
    with pytest.raises(ValueError, match="block"):
        preprocess_jpeg(photo, jnd, block=0)
    with pytest.raises(ValueError, match="channels"):
        preprocess_jpeg(photo, jnd, channels="yuv")
    with pytest.raises(ValueError, match="factor"):
        quantize_by_jnd(photo, jnd, factor=0)
    with pytest.raises(ValueError, match=r"0\.\.255"):
        preprocess_jpeg(photo * 2.0, jnd)
