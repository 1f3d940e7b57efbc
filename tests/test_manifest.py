"""The deployment contract in the core (jndtf.manifest, jndtf.litert, jndtf.priors.learned):
shipped manifests load, future schemas are refused with a way out, writes are atomic, sha256 is
checked against hashlib, and the learned saliency prior runs from a .tflite without TensorFlow."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from jndtf import manifest as M

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "jndtf" / "weights"
SHIPPED_TFLITE = sorted(WEIGHTS.glob("**/*.tflite"))
SHIPPED_KERAS = sorted(WEIGHTS.glob("**/*.keras"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def exported(tmp_path) -> Path:
    """A copy of the shipped int8 export (model + manifest) that a test may change."""
    assert SHIPPED_TFLITE, "no shipped .tflite under jndtf/weights"
    src = SHIPPED_TFLITE[0]
    dst = tmp_path / src.name
    shutil.copy(src, dst)
    shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def _rewrite(model: Path, **changes) -> None:
    path = model.with_suffix(".json")
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


# --- shipped (old) manifests load ------------------------------------------------------------


def _kind(model: Path) -> str:
    """``jnd_map`` (RGB + HVS priors in, a map out: read_deploy_spec's exports), ``image``
    (hmJND-Net), ``dmv_jnd`` (DMV-JND-NET's E-D) or ``classifier`` (jndtf.classifier/1)."""
    data = json.loads(model.with_suffix(".json").read_text())
    if data.get("schema") == "jndtf.classifier/1":
        return "classifier"
    return str(data.get("outputs", {}).get("kind", "jnd_map"))


SHIPPED_MAP_TFLITE = [p for p in SHIPPED_TFLITE if _kind(p) == "jnd_map"]
SHIPPED_OTHER_TFLITE = [p for p in SHIPPED_TFLITE if _kind(p) != "jnd_map"]


@pytest.mark.parametrize("model", SHIPPED_OTHER_TFLITE, ids=lambda p: p.name)
def test_every_other_shipped_export_verifies_with_its_own_reader(model):
    """hmJND-Net's and DMV-JND's exports and the CAM classifier: sha256 as recorded, and the
    reader the edge uses for that kind accepts the manifest."""
    data = json.loads(model.with_suffix(".json").read_text())
    assert data["sha256"] == _sha256(model)  # hashlib, not jndtf
    kind = _kind(model)
    if kind == "classifier":
        from jndtf.edge.classifier import read_classifier_manifest

        assert read_classifier_manifest(model) == data
        return
    assert M.verify(model) == data
    if kind == "image":
        from jndtf.edge.manifest import read_modality_spec

        spec = read_modality_spec(model)
        assert spec.channels == data["inputs"]["channels"] == 3 + len(spec.kinds)
    else:
        assert kind == "dmv_jnd" and data["inputs"]["channels"] == 4  # RGB + the merged CAM


@pytest.mark.parametrize("model", SHIPPED_MAP_TFLITE, ids=lambda p: p.name)
def test_every_shipped_export_manifest_loads_and_verifies(model):
    data = json.loads(model.with_suffix(".json").read_text())
    spec = M.read_deploy_spec(model)
    assert spec.manifest == data and M.verify(model, prior_nets=True) == data
    assert spec.manifest["sha256"] == _sha256(model)  # hashlib, not jndtf
    assert spec.priors == tuple(data["inputs"]["priors"])
    assert spec.channels == 3 + len(spec.priors) == data["inputs"]["channels"]
    size = data["input_size"]
    assert spec.input_size == (size["height"], size["width"])


@pytest.mark.parametrize("model", SHIPPED_KERAS, ids=lambda p: p.name)
def test_every_shipped_training_manifest_is_read_beside_its_keras(model, tmp_path):
    assert M.read_source_manifest(model) == json.loads(model.with_suffix(".json").read_text())
    bare = tmp_path / model.name
    bare.write_bytes(b"")
    assert M.read_source_manifest(bare) == {}  # no manifest beside it, no run folder


def test_a_manifest_without_the_newer_records_still_loads(exported):
    # what exports before prior_settings/prior_overrides/quantization.io wrote
    path = exported.with_suffix(".json")
    data = json.loads(path.read_text())
    for key in ("prior_settings", "prior_overrides"):
        data["inputs"].pop(key)
    data.pop("quantization")
    path.write_text(json.dumps(data))
    spec = M.read_deploy_spec(exported)
    assert spec.io is None and spec.prior_overrides == ()


def test_output_kind_defaults_to_jnd_map_and_the_edge_refuses_other_outputs(exported):
    from jndtf.edge.backends import TFLiteJnd

    # a manifest written before outputs.kind existed reads as a JND map
    path = exported.with_suffix(".json")
    data = json.loads(path.read_text())
    data["outputs"].pop("kind", None)
    path.write_text(json.dumps(data))
    assert M.read_deploy_spec(exported).output_kind == "jnd_map"
    data["outputs"]["kind"] = "saliency"
    path.write_text(json.dumps(data))
    assert M.read_deploy_spec(exported).output_kind == "saliency"
    with pytest.raises(ValueError, match="outputs a 'saliency' map, not a JND map"):
        TFLiteJnd(exported)


def test_the_old_edge_names_are_the_core_ones():
    from jndtf.edge import manifest as edge_manifest
    from jndtf.export import manifest as export_manifest

    assert edge_manifest.ModelSpec is M.DeploySpec is M.ModelSpec
    assert edge_manifest.read_model_spec is M.read_deploy_spec
    assert export_manifest.verify is M.verify and export_manifest.SCHEMA == M.SCHEMA


# --- refusals with a way out -----------------------------------------------------------------


def test_a_future_schema_says_upgrade_or_reexport(exported):
    _rewrite(exported, schema="jndtf.export/2")
    with pytest.raises(
        ValueError, match=r"jndtf\.export/2.*newer.*pip install -U jndtf.*re-export"
    ):
        M.read_deploy_spec(exported)
    _rewrite(exported, schema="someone.else/1")
    with pytest.raises(ValueError, match=r"not a jndtf export manifest.*re-export"):
        M.read_manifest(exported)


def test_a_changed_model_or_a_missing_manifest_is_refused(exported):
    with exported.open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ValueError, match="modified after export - refusing to load"):
        M.verify(exported)
    exported.with_suffix(".json").unlink()
    with pytest.raises(ValueError, match=r"no manifest .* beside it; re-export"):
        M.read_manifest(exported)


def test_other_prior_settings_are_refused(exported):
    path = exported.with_suffix(".json")
    data = json.loads(path.read_text())
    data["inputs"]["prior_settings"]["priors"]["pattern_masking"]["divisor"] = 1.0
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"pattern_masking\.divisor: exported with 1\.0"):
        M.read_deploy_spec(exported)


# --- writing -----------------------------------------------------------------------------------


def test_write_manifest_round_trips_and_leaves_nothing_half_written(exported, tmp_path):
    record = json.loads(exported.with_suffix(".json").read_text())
    out = tmp_path / "copy" / exported.name
    out.parent.mkdir()
    shutil.copy(exported, out)
    assert M.write_manifest(out, record) == out.with_suffix(".json")
    assert json.loads(out.with_suffix(".json").read_text()) == record
    assert M.verify(out) == record
    # a record that cannot be written: the old manifest stays, no temporary file is left
    with pytest.raises(TypeError):
        M.write_manifest(out, {**record, "bad": object()})
    assert json.loads(out.with_suffix(".json").read_text()) == record
    assert sorted(p.name for p in out.parent.iterdir()) == sorted([out.name, f"{out.stem}.json"])
    with pytest.raises(ValueError, match="lacks"):
        M.write_manifest(out, {"schema": M.SCHEMA})


def test_file_sha256_is_hashlib_over_chunks(tmp_path):
    from jndtf.io import file_sha256

    blob = np.random.default_rng(0).bytes((1 << 20) * 2 + 17)  # crosses the 1 MiB chunks
    path = tmp_path / "blob.bin"
    path.write_bytes(blob)
    assert file_sha256(path) == hashlib.sha256(blob).hexdigest()


# --- the LiteRT loader and the TF-free saliency prior ---------------------------------------


def test_litert_loader_names_the_file_it_cannot_load(tmp_path):
    pytest.importorskip("ai_edge_litert")
    from jndtf.litert import open_interpreter

    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\0" * 64)
    with pytest.raises(ValueError, match=r"bad\.tflite: LiteRT cannot load this model"):
        open_interpreter(bad)


def test_core_saliency_prior_refuses_a_keras_file_with_what_to_do(tmp_path):
    from jndtf.priors.learned import SaliencyPrior

    path = tmp_path / "net.keras"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"jndtf\.models\.saliency_prior\.SaliencyPrior"):
        SaliencyPrior(path)


_FRESH_PRIOR = textwrap.dedent(
    """
    import importlib.abc, sys
    class _Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
                raise ImportError("blocked by test: " + name)
    sys.meta_path.insert(0, _Block())
    import numpy as np
    from jndtf.priors.learned import SaliencyPrior
    img = np.load(sys.argv[2])
    with SaliencyPrior(sys.argv[1], max_side=None) as prior:
        np.save(sys.argv[3], prior(img))
    bad = [m for m in sys.modules if m.startswith(("jndtf.models", "jndtf.export", "jndtf.data"))]
    assert not bad, bad
    """
)


@pytest.mark.tf
def test_core_saliency_prior_runs_a_tflite_net_without_tensorflow(tmp_path):
    import keras
    from jndtf.export.quantization import QuantizationConfig
    from jndtf.export.tflite import convert_model

    keras.utils.set_random_seed(3)
    inp = keras.Input((None, None, 3))
    hid = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    out = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(hid)
    net = keras.Model(inp, out)
    path = tmp_path / "sal.tflite"
    path.write_bytes(convert_model(net, None, 3, QuantizationConfig.none()))
    img = (np.random.default_rng(4).random((40, 56, 3)) * 255).astype(np.uint8)
    np.save(tmp_path / "img.npy", img)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _FRESH_PRIOR,
            str(path),
            str(tmp_path / "img.npy"),
            str(tmp_path / "map.npy"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.load(tmp_path / "map.npy")
    want = np.asarray(net(img[None].astype(np.float32) / 255.0))[0, ..., 0]
    # float32 TFLite vs Keras kernels on a two-layer net: summation order only (~1e-7 seen);
    # 1e-5 of the 0..1 map leaves room for other SIMD widths (AVX2 vs AVX-512)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
