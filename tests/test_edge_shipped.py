"""The shipped edge export of ACoL-JND (jndtf/weights/acol/edge/): present, verified, made from
the shipped .keras weights, and runnable by name without TensorFlow."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

WEIGHTS = Path(__file__).resolve().parents[1] / "jndtf" / "weights" / "acol"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_shipped_edge_export_matches_the_shipped_keras_weights():
    """If acol.keras is retrained, this fails until the edge export is made again (README there)."""
    from jndtf.edge.backends import shipped_edge_model

    path = shipped_edge_model("acol")
    assert path is not None and path.parent == WEIGHTS / "edge"
    manifest = json.loads(path.with_suffix(".json").read_text())
    assert manifest["sha256"] == _sha256(path)  # computed here, not by jndtf
    assert manifest["source"]["sha256"] == _sha256(WEIGHTS / "acol.keras")
    assert manifest["input_size"] == {"policy": "fixed", "height": 180, "width": 320}
    assert manifest["parity"]["map_psnr_db"] >= 35.0  # issue #5's int8 target
    assert shipped_edge_model("nope") is None and shipped_edge_model("../acol") is None


def test_stream_model_name_acol_runs_without_tensorflow():
    code = """
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
            raise ImportError("blocked by test: " + name)
sys.meta_path.insert(0, _Block())
import numpy as np
from jndtf.edge import JndMapper, JndMapperOptions
from jndtf.samples import sample_image
frame = np.ascontiguousarray(sample_image("coffee")[:360, :600])
with JndMapper.create_from_options(JndMapperOptions(model="acol")) as m:
    r = m.process(frame)
assert r.jnd.shape[:2] == frame.shape[:2] and np.isfinite(r.jnd).all() and r.jnd.max() > 0
print("mean", float(r.jnd.mean()))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert float(proc.stdout.split()[-1]) > 0.5  # a real map, not a collapsed one


@pytest.mark.tf
def test_shipped_edge_export_agrees_with_keras_on_a_photo_it_never_saw():
    """The int8 map vs the Keras map of the shipped weights, on immunohistochemistry (neither
    training nor calibration saw it), at the export's input size: issue #5's >= 35 dB."""
    import cv2
    import skimage.data
    from jndtf.edge import JndMapper, JndMapperOptions

    from jndtf.evaluate.learned import load_learned

    ihc = skimage.data.immunohistochemistry()
    photo = cv2.resize(ihc, (320, 180), interpolation=cv2.INTER_AREA)
    with JndMapper.create_from_options(JndMapperOptions(model="acol")) as m:
        edge_map = m.process(photo).jnd
    keras_map = np.asarray(load_learned("acol")(photo), np.float64)
    mse = float(np.mean((edge_map.astype(np.float64) - keras_map) ** 2))
    assert 10 * np.log10(255.0**2 / mse) >= 35.0
