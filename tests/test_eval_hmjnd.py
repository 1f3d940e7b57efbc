"""hmJND-Net in `jndtf eval jnd` (issue 12): an image-output model's JND map is |I - I_rr|, its
input is built by the providers its manifest records, large images are tiled without changing
the map, and the eq. (13) injection at MSE 100 scores it beside the classical models.

The model is an untrained hmjnd_tiny whose Reshape conv is scaled by 0.01 (as
tests/test_export_families.py: unscaled, I_rr saturates at 0 or 255 and |I - I_rr| is the
image itself); the expected maps are computed here from the providers, hmjnd_input and the
Keras model directly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from jndtf.evaluate import EvalSettings, evaluate_jnd
from jndtf.evaluate.models import resolve_models
from jndtf.io import load_image, save_image
from jndtf.samples import sample_images

pytestmark = pytest.mark.tf

#: A non-default segmentation provider in the manifest: the maps must come from the manifest.
SEGMENTATION = {"n_segments": 40, "max_side": 128}

#: Image sizes (H, W): 176 is MS-SSIM's least side (11-px window, 5 scales); 181 and 179 are
#: not multiples of hmjnd_tiny's 4-px window (the network pads and crops back).
SIZES = {"astronaut": (176, 181), "coffee": (179, 176)}


def _providers():
    from jndtf.priors.modalities import get_provider

    return [
        get_provider("saliency"),
        get_provider("depth"),
        get_provider("segmentation", **SEGMENTATION),
    ]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(model, .keras path) of a scaled untrained hmjnd_tiny with a training-style manifest."""
    import keras

    from jndtf.models.registry import get_model_spec
    from jndtf.priors.modalities import describe_stack
    from jndtf.train._common import atomic_save_model

    keras.utils.set_random_seed(0)
    model = get_model_spec("hmjnd_tiny").build()
    layer = model.get_layer("reshape")
    layer.set_weights([w * 0.01 for w in layer.get_weights()])
    folder = tmp_path_factory.mktemp("hmjnd")
    path = folder / "hm.keras"
    atomic_save_model(model, path)
    manifest = {
        "family": "hmjnd",
        "preset": "hmjnd_tiny",
        "modality_providers": describe_stack(_providers()),
    }
    path.with_suffix(".json").write_text(json.dumps(manifest))
    return model, path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hm_data")
    for name, image in sample_images(tuple(SIZES)).items():
        h, w = SIZES[name]
        save_image(folder / f"{name}.png", image[:h, :w])
    return folder


def _expected(model, image: np.ndarray) -> np.ndarray:
    """|I - model(x)| with x = RGB / 255 + the three maps, computed without jndtf.evaluate."""
    from jndtf.models.hmjnd.inputs import hmjnd_input

    sal, depth, seg = (p(image) for p in _providers())
    x = hmjnd_input(image, saliency_map=sal, depth=depth, segmentation=seg)
    i_rr = np.asarray(model(x[None], training=False))[0]
    return np.abs(image.astype(np.float32) - i_rr)


@pytest.mark.parametrize("form", ["spec", "bare"])
def test_map_is_the_absolute_difference_to_the_network_output(tiny, data_dir, form):
    model, path = tiny
    ref = f"hmjnd_tiny:{path}" if form == "spec" else str(path)
    (entry,) = resolve_models([f"hm={ref}"])
    assert entry.label == "hm" and entry.kind == "learned"
    for png in sorted(data_dir.glob("*.png")):
        image = load_image(png)
        got = entry.fn(image)
        want = _expected(model, image)
        assert got.shape == image.shape and got.dtype == np.float32
        # the same float32 graph on the same input: only op-order rounding of I_rr (0..255)
        np.testing.assert_allclose(got, want, atol=1e-3)
        # scaled residual: I_rr is not saturated, the map is a few grey levels, not the image
        assert 0.2 < float(got.mean()) < 20.0


@pytest.mark.parametrize("jnd_units", [False, True])
def test_registered_name_uses_the_shipped_weights(tiny, data_dir, tmp_path, monkeypatch, jnd_units):
    """``hmjnd_tiny`` alone resolves to jndtf/weights/hmjnd/hmjnd_tiny.keras as acol's weights
    do (here a stand-in weights folder), whether or not its manifest says ``jnd_units``."""
    import jndtf.refs

    model, path = tiny
    folder = tmp_path / "weights" / "hmjnd"
    folder.mkdir(parents=True)
    (folder / "hmjnd_tiny.keras").write_bytes(path.read_bytes())
    manifest = json.loads(path.with_suffix(".json").read_text())
    if jnd_units:
        manifest["outputs"] = {"jnd_units": "pixel values 0..255 (|I - I_rr|)"}
    (folder / "hmjnd_tiny.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(jndtf.refs, "WEIGHTS_ROOT", tmp_path / "weights")
    (entry,) = resolve_models(["hmjnd_tiny"])
    assert entry.fn.source == folder / "hmjnd_tiny.keras"
    image = load_image(data_dir / "coffee.png")
    np.testing.assert_allclose(entry.fn(image), _expected(model, image), atol=1e-3)  # as above


def test_family_name_is_the_shipped_preset_in_eval_and_jnd(tiny, data_dir, tmp_path, monkeypatch):
    """``hmjnd`` opens the one shipped hmJND-Net (hmjnd_tiny here, its manifest says so) in
    ``jndtf eval jnd`` and in ``jndtf jnd``/``inject`` (:func:`jndtf.jobs.jnd_function`), and
    both give the hand-built |I - I_rr|."""
    import jndtf.refs
    from jndtf.jobs import jnd_function

    model, path = tiny
    folder = tmp_path / "weights" / "hmjnd"
    folder.mkdir(parents=True)
    (folder / "hmjnd_tiny.keras").write_bytes(path.read_bytes())
    (folder / "hmjnd_tiny.json").write_text(path.with_suffix(".json").read_text())
    monkeypatch.setattr(jndtf.refs, "WEIGHTS_ROOT", tmp_path / "weights")
    (entry,) = resolve_models(["hmjnd"])
    assert entry.label == "hmjnd" and entry.fn.source == folder / "hmjnd_tiny.keras"
    assert entry.fn.spec.name == "hmjnd_tiny"
    fn = jnd_function("hmjnd")
    image = load_image(data_dir / "coffee.png")
    want = _expected(model, image)
    np.testing.assert_allclose(entry.fn(image), want, atol=1e-3)  # as above
    np.testing.assert_allclose(fn(image), want, atol=1e-3)


def test_registered_name_without_shipped_weights_says_so(tmp_path, monkeypatch):
    import jndtf.refs

    monkeypatch.setattr(jndtf.refs, "WEIGHTS_ROOT", tmp_path / "none")
    with pytest.raises(FileNotFoundError, match=r"hmjnd_tiny.*ships no trained weights"):
        resolve_models(["hmjnd_tiny"])


def test_receptive_radius_bounds_the_measured_reach(tiny):
    """The tiles' margin rests on receptive_radius (a walk of the layer graph); here the reach
    is measured: one input pixel changed, the output pixels that change (SE means fixed, as
    in the second pass) lie within the radius."""
    from jndtf.evaluate.learned import load_image_model

    _, path = tiny
    fn = load_image_model(f"hmjnd_tiny:{path}")
    _, model, fixed = fn._se_split()
    for layer in fixed:
        layer.mean.assign(np.full(layer.mean.shape, 0.1, np.float32))
    x = np.random.default_rng(0).random((1, 96, 96, 6), dtype=np.float32)
    base = np.asarray(model(x))
    reach = 0
    for i in range(fn.align):  # every phase of the pixel within its window
        at = np.array([44 + i, 48 + i])
        x2 = x.copy()
        x2[0, at[0], at[1]] = 1.0 - x2[0, at[0], at[1]]
        changed = np.argwhere(np.abs(np.asarray(model(x2)) - base)[0].max(-1) > 0)
        reach = max(reach, int(np.abs(changed - at).max()))  # Chebyshev distance
    assert 0 < reach <= fn.radius


def test_tiled_map_equals_the_whole_image_map(tiny):
    """Two passes (whole-image SE means, then tiles) make the tiled map the whole one."""
    from jndtf.evaluate.learned import load_image_model

    _, path = tiny
    fn = load_image_model(f"hmjnd_tiny:{path}")
    tile = 2 * fn.margin + 32 + 64  # overlap (2 margins + blend) + a 64-px step
    side = tile + 48  # two tiles a side: origins 0 and 48
    image = sample_images(("astronaut",))["astronaut"][100 : 100 + side, 150 : 150 + side]
    calls = []
    whole = fn(image, tile=None)
    tiled = fn(image, tile=tile, progress=lambda d, t: calls.append((d, t)))
    assert len(calls) == 8 and calls[-1] == (8, 8)  # 2 passes x 4 tiles
    # every pixel is owned by a tile whose margin exceeds the receptive field; what is left
    # is float32 rounding of I_rr (0..255, ulp 1.5e-5; measured 3e-5). With each tile's own
    # SE means instead of the image's, the maps differ by up to 9e-4 here (scaled residual)
    np.testing.assert_allclose(tiled, whole, atol=2e-4)


def test_eval_at_mse_100_hits_the_target_and_counts_head_to_head(tiny, data_dir, tmp_path):
    _, path = tiny
    settings = EvalSettings(
        out_dir=tmp_path / "eval",
        data=data_dir,
        models=(f"hm=hmjnd_tiny:{path}", "wu2017", "uniform"),
        metrics=("ms_ssim",),
        psnr=None,
        mse=100.0,
        save_images=True,
    )
    report = evaluate_jnd(settings)
    assert report.models == ("hm", "wu2017", "uniform")
    for name in SIZES:
        original = load_image(data_dir / f"{name}.png").astype(np.float64)
        for label in report.models:
            injected = load_image(tmp_path / "eval" / "images" / name / f"injected_{label}.png")
            mse = float(np.mean((injected.astype(np.float64) - original) ** 2))
            # eq. (13) solves λ for MSE 100 to tol_db = 0.01 dB: 10^(0.001) - 1 = 0.23 %
            assert abs(mse - 100.0) <= 100.0 * (10**0.001 - 1) + 1e-9, (name, label, mse)
            assert report.record(name, label).mse == pytest.approx(mse, rel=1e-9)
        # λ from the closed form λ² mean(J²) = MSE of ±λJ; uint8 rounding adds about 1/12
        # grey level² and clipping takes some away: 2 % covers both
        rec = report.record(name, "hm")
        jnd = np.load(tmp_path / "eval" / "images" / name / "jnd_hm.npy")
        lam = np.sqrt(100.0 / float(np.mean(jnd.astype(np.float64) ** 2)))
        assert rec.scale == pytest.approx(lam, rel=0.02)
    text = (tmp_path / "eval" / "report.md").read_text()
    assert "Head to head: images where hm" in text
    assert f"| hm | \\|I - I_rr\\| of hmjnd_tiny ({path}); modality providers from the " in text
    wins = json.loads((tmp_path / "eval" / "report.json").read_text())["first_model_wins"]
    assert set(wins) == {"wu2017", "uniform"}
    for other in wins:
        a, b = report.values("hm", "ms_ssim"), report.values(other, "ms_ssim")
        assert wins[other]["ms_ssim"] == sum(x > y for x, y in zip(a, b, strict=True))


def test_cli_eval_jnd_takes_hmjnd(tiny, data_dir, tmp_path):
    from typer.testing import CliRunner

    from jndtf.cli import app

    _, path = tiny
    out = tmp_path / "cli"
    r = CliRunner().invoke(
        app,
        [
            "eval",
            "jnd",
            "--data",
            str(data_dir),
            "--models",
            f"hmjnd_tiny:{path},wu2017",
            "--metrics",
            "psnr",
            "--mse",
            "100",
            "-o",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    rows = (out / "average.csv").read_text().splitlines()
    assert rows[1].startswith("hm,") and rows[2].startswith("wu2017,")


# ----------------------------------------------------------------------------------- bad input


def test_unknown_family_names_the_file(tiny, tmp_path):
    _, path = tiny
    odd = tmp_path / "odd.keras"
    odd.write_bytes(path.read_bytes())
    odd.with_suffix(".json").write_text(json.dumps({"family": "nosuch"}))
    with pytest.raises(ValueError, match=r"odd\.keras.*'nosuch'"):
        resolve_models([str(odd)])
    odd.with_suffix(".json").write_text(json.dumps({"preset": "nosuch_tiny"}))
    with pytest.raises(ValueError, match=r"odd\.keras.*'nosuch_tiny'"):
        resolve_models([str(odd)])


def test_missing_manifest_names_the_file(tiny, tmp_path):
    _, path = tiny
    bare = tmp_path / "bare.keras"
    bare.write_bytes(path.read_bytes())
    with pytest.raises(ValueError, match=r"bare\.keras.*6 input channels.*hmjnd_tiny"):
        resolve_models([str(bare)])


def test_a_provider_the_manifest_cannot_rebuild_is_named(tiny, tmp_path):
    from jndtf.priors.modalities import describe_stack

    _, path = tiny
    copy = tmp_path / "m.keras"
    copy.write_bytes(path.read_bytes())
    records = describe_stack(_providers())
    records[1]["settings"]["defocus_sigma0"] = 2.0  # a setting no provider has any more
    copy.with_suffix(".json").write_text(
        json.dumps({"preset": "hmjnd_tiny", "modality_providers": records})
    )
    with pytest.raises(ValueError, match=r"m\.keras: the depth provider .*settings"):
        resolve_models([str(copy)])
    records = describe_stack(_providers())
    records[2] = {**records[2], "settings": {"model": str(tmp_path / "gone.tflite")}}
    copy.with_suffix(".json").write_text(
        json.dumps({"preset": "hmjnd_tiny", "modality_providers": records})
    )
    with pytest.raises(FileNotFoundError, match=r"m\.keras.*gone\.tflite"):
        resolve_models([str(copy)])


def test_spec_of_another_family_than_the_manifest_is_refused(tiny, tmp_path):
    _, path = tiny
    copy = tmp_path / "x.keras"
    copy.write_bytes(path.read_bytes())
    copy.with_suffix(".json").write_text(json.dumps({"family": "acol", "preset": "acol"}))
    with pytest.raises(ValueError, match=r"x\.keras: its manifest says family 'acol'"):
        resolve_models([f"hmjnd_tiny:{copy}"])
