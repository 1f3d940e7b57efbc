"""Image loading at the boundary: documented conversions, clear errors, atomic writes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from jndtf.io import (
    ImageError,
    ImageWarning,
    check_image,
    load_image,
    save_image,
    save_npy,
    to_luma,
)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return skimage.data.chelsea()[:64, :80]


def _write(path, arr):
    assert cv2.imwrite(str(path), arr)
    return path


def test_rgb_png_round_trip(tmp_path, photo):
    save_image(tmp_path / "a.png", photo)
    back = load_image(tmp_path / "a.png")
    assert back.dtype == np.uint8 and back.shape == photo.shape
    np.testing.assert_array_equal(back, photo)  # RGB order survives OpenCV's BGR


def test_grey_is_replicated(tmp_path, photo):
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    img = load_image(_write(tmp_path / "g.png", grey))
    assert img.shape == (*grey.shape, 3)
    for c in range(3):
        np.testing.assert_array_equal(img[..., c], grey)


def test_rgba_drops_alpha(tmp_path, photo):
    bgra = cv2.cvtColor(photo, cv2.COLOR_RGB2BGRA)
    bgra[..., 3] = 7
    np.testing.assert_array_equal(load_image(_write(tmp_path / "a.png", bgra)), photo)


def test_16bit_is_scaled_to_8bit(tmp_path, photo):
    deep = photo.astype(np.uint16) * 257  # exact 8 -> 16 bit expansion
    img = load_image(_write(tmp_path / "d.png", cv2.cvtColor(deep, cv2.COLOR_RGB2BGR)))
    assert img.dtype == np.uint8
    np.testing.assert_array_equal(img, photo)


def test_not_an_image(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("hello, I am not a picture")
    with pytest.raises(ImageError, match="not a readable image"):
        load_image(p)


def test_empty_and_missing(tmp_path):
    (tmp_path / "e.png").write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(tmp_path / "e.png")
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.png")


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_file(tmp_path, photo, suffix):
    _, buf = cv2.imencode(suffix, cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    p = tmp_path / f"t{suffix}"
    p.write_bytes(buf.tobytes()[: len(buf) * 2 // 3])
    with pytest.raises(ImageError, match=r"truncated|not a readable"):
        load_image(p)


@pytest.mark.parametrize(
    "trailer",
    [
        b"\0" * 200,  # the reproduction: zeros after the end marker
        b"\xff\xd8 MPF thumbnail " + b"\x55" * 300,  # phones append images, maker data
        b"\xff",  # a single stray byte
    ],
)
@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_with_data_after_the_end_marker_is_read_with_a_warning(
    tmp_path, photo, trailer, progressive
):
    params = [cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive)]
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), params)
    assert ok
    p = tmp_path / "trailer.jpg"
    p.write_bytes(buf.tobytes() + trailer)
    with pytest.warns(ImageWarning, match=rf"trailer.jpg: {len(trailer)} bytes after"):
        img = load_image(p)
    # the pixels are the ones OpenCV decodes from the file without its trailer
    plain = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(img, plain)


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.99])
@pytest.mark.parametrize("trailer", [b"", b"\0" * 200])
def test_truncated_jpeg_stays_refused_with_or_without_padding(tmp_path, photo, cut, trailer):
    """A file cut inside its compressed data has no end marker after its scan, whatever follows
    (zeros appended by a broken download look like a trailer but are not one)."""
    _, buf = cv2.imencode(".jpg", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    data = buf.tobytes()
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: int(len(data) * cut)] + trailer)
    with pytest.raises(ImageError, match=r"truncated|not a readable"):
        load_image(p)


def test_png_with_data_after_iend_is_read(tmp_path, photo):
    _, buf = cv2.imencode(".png", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    p = tmp_path / "trailer.png"
    p.write_bytes(buf.tobytes() + b"\0" * 100)
    with pytest.warns(ImageWarning, match="100 bytes after"):
        np.testing.assert_array_equal(load_image(p), photo)


def test_tiny_image_is_refused(tmp_path):
    p = _write(tmp_path / "tiny.png", np.zeros((8, 300, 3), np.uint8))
    with pytest.raises(ImageError, match=r"8x300 pixels.*at least 32x32"):
        load_image(p)


def test_check_image_ranges():
    with pytest.raises(ImageError, match=r"0\.\.255"):
        check_image(np.ones((40, 40, 3), np.float32) * 300)
    with pytest.raises(ImageError, match="NaN"):
        check_image(np.full((40, 40), np.nan, np.float32))
    with pytest.raises(ImageError, match="shape"):
        check_image(np.zeros((40, 40, 5), np.uint8))
    assert check_image(np.full((40, 40), 3.5)).dtype == np.float32


def test_to_luma_matches_opencv_and_weights(photo):
    np.testing.assert_array_equal(to_luma(photo), cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY))
    f = photo.astype(np.float32)
    expected = 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]
    np.testing.assert_allclose(to_luma(f), expected, atol=1e-4)


def test_writes_are_atomic(tmp_path, photo, monkeypatch):
    target = tmp_path / "out" / "m.npy"
    save_npy(target, np.ones(3))

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save_npy(target, np.zeros(3))
    np.testing.assert_array_equal(np.load(target), np.ones(3))  # old file intact
    assert [p.name for p in target.parent.iterdir()] == ["m.npy"]  # no temp file left


def test_written_files_get_ordinary_permissions(tmp_path, photo):
    import os
    import stat

    save_image(tmp_path / "p.png", photo)
    mode = stat.S_IMODE((tmp_path / "p.png").stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
