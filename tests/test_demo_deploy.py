"""The deployment half of `jndtf demo`: int8 export of the shipped ACoL-JND, then the edge stream
on the synthesized clip (jndtf.demo_deploy)."""

from __future__ import annotations

import json

import cv2
import pytest

from jndtf import demo, demo_deploy


def test_demo_skips_deployment_with_a_note_when_an_extra_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(demo_deploy, "missing_extras", lambda: ["edge"])
    note = demo._deploy(demo.DemoSettings(out_dir=tmp_path), lambda *_: None)
    assert 'pip install "jndtf[edge]"' in note
    assert not any(tmp_path.iterdir())  # nothing was written
    assert demo._deploy(demo.DemoSettings(out_dir=tmp_path, deploy=False), print) == ""


def test_run_deploy_names_the_missing_extra(monkeypatch, tmp_path):
    monkeypatch.setattr(demo_deploy, "missing_extras", lambda: ["train", "edge"])
    with pytest.raises(ImportError, match=r"jndtf\[train,edge\]"):
        demo_deploy.run_deploy(tmp_path)


@pytest.mark.tf
@pytest.mark.slow
def test_deployment_end_to_end(tmp_path):
    if demo_deploy.missing_extras():
        pytest.skip(f"needs the extras {demo_deploy.missing_extras()}")
    steps = []
    summary = demo_deploy.run_deploy(tmp_path, lambda d, done, total: steps.append(done))
    assert steps == [0, 1, 2, 3]
    # The export met the int8 target against Keras on the held-back photo.
    assert summary.map_psnr_db is not None and summary.map_psnr_db >= 35.0
    assert summary.model_path.is_file() and summary.model_path.with_suffix(".json").is_file()
    # Every frame of the clip went through the edge runtime, counted independently with OpenCV.
    cap = cv2.VideoCapture(str(tmp_path / "clip.mp4"))
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    s = summary.stream
    assert s["frames"] == frames > 0
    assert s["maps_computed"] + s["maps_reused"] == frames
    # eq. (14) before JPEG saves bytes at the same quality setting.
    assert 0 < s["bytes_processed"] < s["bytes_original"]
    record = json.loads((tmp_path / "deploy.json").read_text())
    assert record["stream"]["bytes_processed"] == s["bytes_processed"]
    # Bytes never without the quality change beside them (issue 13.4), and no bare "saved".
    text = summary.markdown()
    assert "fewer bytes than plain JPEG q90" in text and "PSNR" in text and "saved" not in text
    if s["psnr_processed"] < s["psnr_original"] - 0.1:
        assert "WARNING: not a saving at equal quality" in text
