"""Sample data: bundled real photos, PNG export, the synthesized camera clip."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from jndtf.io import load_image
from jndtf.samples import (
    SAMPLE_NAMES,
    clip_frames,
    clip_plan,
    sample_image,
    sample_images,
    synthesize_clip,
    write_samples,
)


def test_sample_images_are_real_uint8_rgb_photos():
    imgs = sample_images()
    assert tuple(imgs) == SAMPLE_NAMES
    for name, img in imgs.items():
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, name
        assert min(img.shape[:2]) >= 256, name
        # Real colour photos: many distinct values and real colour (not grey replicated).
        packed = img.reshape(-1, 3).astype(np.int32) @ np.array([65536, 256, 1], np.int32)
        assert len(np.unique(packed)) > 5000, name
        assert np.abs(img[..., 0].astype(int) - img[..., 2]).mean() > 5, name
    assert imgs["astronaut"].shape == (512, 512, 3)
    assert imgs["chelsea"].shape == (300, 451, 3)


def test_sample_image_unknown_name():
    with pytest.raises(ValueError, match="unknown sample"):
        sample_image("lena")


def test_write_samples_round_trip(tmp_path):
    paths = write_samples(tmp_path, names=("chelsea", "coffee"))
    assert [p.name for p in paths] == ["chelsea.png", "coffee.png"]
    np.testing.assert_array_equal(load_image(paths[0]), sample_image("chelsea"))


def test_clip_frames_deterministic_with_cuts():
    kw = dict(seconds=2.5, fps=10, size=(160, 90), scene_seconds=1.0)
    a = list(clip_frames(**kw))
    b = list(clip_frames(**kw))
    assert len(a) == 25
    assert all(f.shape == (90, 160, 3) and f.dtype == np.uint8 for f in a)
    for fa, fb in zip(a, b, strict=True):
        np.testing.assert_array_equal(fa, fb)
    cuts, scenes = clip_plan(**kw)
    assert cuts == (10, 20) and scenes == ("astronaut", "coffee", "chelsea")
    diffs = [np.abs(a[i].astype(int) - a[i - 1]).mean() for i in range(1, len(a))]
    at_cut = [diffs[c - 1] for c in cuts]
    within = [d for i, d in enumerate(diffs, start=1) if i not in cuts]
    # A cut changes the picture far more than the pan/zoom between two frames of one scene.
    assert min(at_cut) > 2.5 * max(within)


def test_clip_bad_arguments():
    with pytest.raises(ValueError, match="size"):
        next(clip_frames(size=(161, 90)))
    with pytest.raises(ValueError, match="no frame"):
        next(clip_frames(seconds=0))


def test_synthesize_clip_decodes(tmp_path):
    info = synthesize_clip(tmp_path / "cam.mp4", seconds=2, fps=15, size=(320, 180))
    assert info.frames == 30 and info.size == (320, 180) and info.cuts == (15,)
    assert info.path.stat().st_size < 2_000_000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left
    cap = cv2.VideoCapture(str(info.path))
    try:
        assert cap.isOpened()
        frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        cap.release()
    assert len(frames) == 30
    assert frames[0].shape == (180, 320, 3)
    # Lossy mp4v, but the decoded frame is the synthesized one (BGR on disk).
    ref = next(clip_frames(seconds=2, fps=15, size=(320, 180)))
    assert np.abs(frames[0][..., ::-1].astype(float) - ref).mean() < 8.0
