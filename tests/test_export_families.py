"""`jndtf export` of the families whose input is not RGB + HVS priors (jndtf.export.inputs).

Each family's tiny preset is exported to TFLite fp32 and int8 at a fixed 32x32, its input built by
the family's own builder: hmJND-Net (RGB + saliency/depth/segmentation maps of the classical
providers), DMV-JND-NET's E-D (RGB + the merged CAM of real, untrained tiny classifiers), a CAM
classifier (RGB; the manifest is also a ``jndtf.classifier/1`` one the edge classifier reads).
Parity is re-measured here on inputs built directly with the family's builder (not the export's
code), and ACoL-JND's export is checked to build its input and manifest as before.

Small on purpose (2 shared cores): tiny presets, 32x32, 4 calibration crops, 1-2 parity crops.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.tf

SIZE = 32  # (width = height): the fixed export size of every test here


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _crops(images, num=2, seed=5):
    """Random SIZE x SIZE crops of real photos (uint8), independent of the export's crops."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(num):
        im = images[i % len(images)]
        y = int(rng.integers(0, im.shape[0] - SIZE))
        x = int(rng.integers(0, im.shape[1] - SIZE))
        out.append(np.ascontiguousarray(im[y : y + SIZE, x : x + SIZE]))
    return out


@pytest.fixture(scope="module")
def photos():
    from jndtf.export.quantization import load_images

    return load_images(None, ("motorcycle_left", "coffee"))


def _export(source, out, formats=("tflite-fp32", "tflite-int8"), **kw):
    from jndtf.export import export_model

    return export_model(
        source,
        list(formats),
        out_dir=out,
        input_size=(SIZE, SIZE),
        num_calibration=4,
        num_parity=2,
        **kw,
    )


# ------------------------------------------------------------------------------------ hmJND-Net


@pytest.fixture(scope="module")
def hmjnd(tmp_path_factory):
    """hmjnd_tiny with its Reshape conv scaled by 0.01: an untrained net's residual is several
    units (I_rr saturates at 0 or 255 everywhere, where any error flips a pixel by 255); scaled,
    |I_rr - I| is a few grey levels, as a trained redundancy remover's."""
    import keras

    from jndtf.models.registry import get_model_spec
    from jndtf.train._common import atomic_save_model

    keras.utils.set_random_seed(0)
    model = get_model_spec("hmjnd_tiny").build()
    layer = model.get_layer("reshape")
    layer.set_weights([w * 0.01 for w in layer.get_weights()])
    path = tmp_path_factory.mktemp("hmjnd") / "hm.keras"
    atomic_save_model(model, path)
    out = tmp_path_factory.mktemp("hmjnd_out")
    # int8 only: hmJND-Net's conversion is the slow step here (~15 s each on 2 shared cores);
    # its fp32 export is test_export_cli.py::test_every_registered_family_exports'
    return model, _export(f"hmjnd_tiny:{path}", out, formats=("tflite-int8",))


@pytest.mark.slow  # ~28 s on 2 shared cores: the SavedModel (11 s) and int8 conversion (9 s)
def test_hmjnd_manifest_names_channels_and_providers(hmjnd):
    from jndtf.export import verify

    from jndtf.priors.modalities import describe_stack

    _, results = hmjnd
    for r in results:
        m = verify(r.path)
        assert m["inputs"]["channels"] == 6 and m["inputs"]["priors"] == []
        assert m["inputs"]["channel_names"] == [
            "red",
            "green",
            "blue",
            "saliency_map",
            "depth",
            "segmentation",
        ]
        assert m["inputs"]["modalities"] == ["rgb", "saliency_map", "depth", "segmentation"]
        assert m["inputs"]["builder"].startswith("jndtf.models.hmjnd.inputs:hmjnd_input")
        assert m["inputs"]["providers"] == describe_stack()  # the classical defaults
        assert m["outputs"]["kind"] == "image"
        assert m["parity"]["output_kind"] == "image" and m["parity"]["num_images"] == 2
        assert m["parity"]["ms_ssim_export"] is None  # no eq. (7) injection of an image


@pytest.mark.slow  # shares the slow fixture above
def test_hmjnd_parity_on_inputs_built_by_the_providers(hmjnd, photos):
    """TFLite vs Keras on inputs made here from the providers' maps (hmjnd_input with every map
    given), i.e. the 6 channels the edge would build from the manifest."""
    from jndtf.export.tflite import TFLiteRunner

    from jndtf.models.hmjnd.inputs import hmjnd_input
    from jndtf.priors.modalities import get_provider

    model, results = hmjnd
    psnrs = {}
    for r in results:
        run = TFLiteRunner(r.path, num_threads=1)
        vals = []
        for im in photos:
            maps = {
                "saliency_map": get_provider("saliency")(im),
                "depth": get_provider("depth")(im),
                "segmentation": get_provider("segmentation")(im),
            }
            x = hmjnd_input(im, **maps)
            for crop_x in _crops([x], num=1):
                xb = crop_x[None].astype(np.float32)
                vals.append(_psnr(run(xb), np.asarray(model(xb, training=False))))
        psnrs[r.format] = min(vals)
        # the manifest's own parity agrees in kind with what is measured here
        assert r.manifest["parity"]["map_psnr_db"] > 45
    # int8 with the STA layer norms in float: measured 57-65 dB over random inits (all-int8:
    # 40 dB, ~2 grey levels mean error against a residual of ~3); 45 dB = 1.4 grey levels rms
    assert psnrs["tflite-int8"] > 45


# -------------------------------------------------------------------------------- DMV-JND-NET


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    """A `jndtf train classifiers`-like folder of the four tiny CAM classifiers (untrained)."""
    import keras

    from jndtf.models.registry import get_model_spec
    from jndtf.train._common import atomic_save_model

    keras.utils.set_random_seed(1)
    folder = tmp_path_factory.mktemp("classifiers")
    for arch in ("alexnet", "vgg", "resnet", "densenet"):
        atomic_save_model(get_model_spec(f"{arch}_tiny").build(), folder / f"{arch}.keras")
    return folder


@pytest.fixture(scope="module")
def dmv(tmp_path_factory, classifier_dir):
    import keras

    from jndtf.models.registry import get_model_spec
    from jndtf.train._common import atomic_save_model

    keras.utils.set_random_seed(2)
    model = get_model_spec("dmv_tiny").build()
    path = tmp_path_factory.mktemp("dmv") / "dmv.keras"
    atomic_save_model(model, path)
    out = tmp_path_factory.mktemp("dmv_out")
    return model, path, _export(f"dmv_tiny:{path}", out, classifiers=classifier_dir)


def test_dmv_manifest_records_the_cam_classifiers(dmv, classifier_dir):
    from jndtf.export import verify

    from jndtf.io import file_sha256

    _, _, results = dmv
    for r in results:
        m = verify(r.path)
        assert m["inputs"]["channels"] == 4
        assert m["inputs"]["channel_names"] == ["red", "green", "blue", "cam"]
        files = m["inputs"]["cam"]["classifiers"]
        assert [f["sha256"] for f in files] == [
            file_sha256(classifier_dir / f"{a}.keras")
            for a in ("alexnet", "vgg", "resnet", "densenet")
        ]
        assert m["outputs"]["kind"] == "dmv_jnd" and m["parity"]["output_kind"] == "dmv_jnd"
    # fp32: the same float graph (measured ~1e-6 px); int8: measured 67 dB (max 0.6 px of e)
    fp32, int8 = (r.manifest["parity"]["map_psnr_db"] for r in results)
    assert fp32 > 80 and int8 > 45


def test_dmv_cam_channel_is_trainings_merged_cam(classifier_dir, photos):
    """The export's 4th channel is eq. (2) as `jndtf train dmv` computes it (its own labeler and
    merged_cams, batched TensorFlow), so calibration sees the training distribution."""
    from jndtf.export.inputs import CamSource, export_inputs

    from jndtf.models.registry import get_model_spec
    from jndtf.train.dmv.loop import labeler, load_classifiers, merged_cams

    spec = get_model_spec("dmv_tiny")
    inputs = export_inputs(None, spec, classifiers=classifier_dir)
    models, _ = load_classifiers(classifier_dir)
    im = _crops(photos, num=1)[0]
    x = inputs.make_input(im)
    want = merged_cams(models, im[None], labeler(models)(im[None]))[0]
    # two float32 runs of the same convs (one batched in tf.function): measured 1e-7
    np.testing.assert_allclose(x[..., 3], want, atol=1e-5)
    np.testing.assert_array_equal(x[..., :3], im / np.float32(255))
    assert isinstance(CamSource.load(classifier_dir / "resnet.keras"), CamSource)


def test_dmv_without_classifiers_says_what_to_pass(dmv, tmp_path):
    from jndtf.export import export_model

    _, path, _ = dmv
    with pytest.raises(ValueError, match=r"--classifiers DIR"):
        export_model(f"dmv_tiny:{path}", "tflite-fp32", out_dir=tmp_path, parity=False)
    assert not list(tmp_path.iterdir())  # refused before anything is written


def test_dmv_takes_the_classifiers_its_manifest_names(dmv, classifier_dir, tmp_path):
    """A trained DMV model's manifest records its classifiers' folder: export finds them."""
    import json
    import shutil

    from jndtf.export import export_model

    _, path, _ = dmv
    src = tmp_path / "run" / "dmv.keras"
    src.parent.mkdir()
    shutil.copy(path, src)
    record = {"family": "dmv", "preset": "dmv_tiny", "classifiers": {"folder": str(classifier_dir)}}
    src.with_suffix(".json").write_text(json.dumps(record))
    (r,) = export_model(
        src, "tflite-fp32", out_dir=tmp_path / "out", input_size=(SIZE, SIZE), num_parity=1
    )
    assert len(r.manifest["inputs"]["cam"]["classifiers"]) == 4
    assert r.manifest["parity"]["map_psnr_db"] > 80  # fp32: the same float graph


# -------------------------------------------------------------------------------- classifiers


@pytest.fixture(scope="module")
def resnet(tmp_path_factory):
    import json

    import keras

    from jndtf.models.registry import get_model_spec
    from jndtf.train._common import atomic_save_model

    keras.utils.set_random_seed(3)
    model = get_model_spec("resnet_tiny").build()
    folder = tmp_path_factory.mktemp("clf_run")
    atomic_save_model(model, folder / "resnet.keras")
    names = [f"class{i}" for i in range(10)]
    (folder / "classifiers.json").write_text(json.dumps({"class_names": names}))
    out = tmp_path_factory.mktemp("clf_out")
    return model, names, _export(f"resnet_tiny:{folder / 'resnet.keras'}", out)


def test_classifier_manifest_is_a_jndtf_classifier_one(resnet, photos):
    """The edge's Classifier loads the export with its manifest and gives Keras' probabilities."""
    from jndtf.edge.classifier import Classifier

    model, names, results = resnet
    frames = _crops(photos, num=2)
    for r in results:
        m = r.manifest
        assert m["task"] == "classification" and m["labels"] == names
        assert m["input"] == {"range": [0.0, 1.0], "resize": "auto", "size": [SIZE, SIZE]}
        assert m["inputs"]["channel_names"] == ["red", "green", "blue"]
        assert m["parity"]["label_agreement"] is not None
        with Classifier(r.path) as clf:
            assert list(clf.labels) == names
            for f in frames:
                _, probs = clf.classify(f)
                logits = np.asarray(model(f[None] / np.float32(255), training=False))[0]
                want = np.exp(logits - logits.max())
                want /= want.sum()
                # fp32: same graph (1e-7); int8: the logits' int8 steps (measured max 0.004 of
                # logit) move probabilities by < 0.01
                atol = 1e-5 if r.format == "tflite-fp32" else 0.02
                np.testing.assert_allclose(probs, want, atol=atol)
    fp32 = results[0].manifest["parity"]
    assert fp32["label_agreement"] == 1.0 and fp32["max_abs_err"] < 1e-4


# -------------------------------------------------------------------------------- ACoL-JND


def test_acol_export_builds_its_input_and_manifest_as_before(tmp_path, photos):
    """RGB + priors: the input is model_input(image, priors, normalization, overrides) (the old
    code path, called here directly), and the manifest's fields are the old ones plus
    ``inputs.modalities``/``channel_names`` and ``parity.output_kind``/``label_agreement``."""
    from jndtf.export import export_model
    from jndtf.export.inputs import export_inputs

    from jndtf.evaluate.learned import load_learned
    from jndtf.models.registry import get_model_spec
    from jndtf.priors.inputs import model_input
    from jndtf.train._common import atomic_save_model

    spec = get_model_spec("acol")
    path = tmp_path / "tiny.keras"
    atomic_save_model(spec.build(width="tiny"), path)
    learned = load_learned(f"acol:{path}")
    im = photos[0][:64, :64]
    got = export_inputs(learned, spec).make_input(im)
    np.testing.assert_array_equal(got, model_input(im, spec.priors, normalization="unit"))

    (r,) = export_model(
        f"acol:{path}", "tflite-fp32", out_dir=tmp_path / "o", input_size=(64, 64), num_parity=1
    )
    m = r.manifest
    old_inputs = {"channels", "priors", "normalization", "layout", "prior_settings",
                  "prior_overrides", "builder", "priors_on"}  # fmt: skip
    assert set(m["inputs"]) == old_inputs | {"modalities", "channel_names"}
    assert m["inputs"]["builder"] == (
        "jndtf.priors.inputs.model_input(image, priors, normalization, overrides)"
    )
    assert m["inputs"]["channel_names"] == ["red", "green", "blue", *spec.priors]
    assert m["parity"]["inputs"] == (
        "priors on the whole held-back image, then crops (as calibration and training)"
    )
    assert m["parity"]["output_kind"] == "jnd_map" and m["parity"]["label_agreement"] is None
    assert "task" not in m and m["outputs"]["kind"] == "jnd_map"
