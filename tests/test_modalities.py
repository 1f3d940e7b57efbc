"""Prior modality acquisition (issue #12): the providers of jndtf.priors.modalities.

Known answers come from the synthetic images themselves (where the blob, the seam, the sharp half
are) and from closed forms (the vertical prior on a flat image; the blur std of a step edge
blurred by OpenCV's Gaussian). User models are built here with Keras (tests marked ``tf``).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from jndtf.io import ImageError
from jndtf.priors import saliency as core_saliency
from jndtf.priors.modalities import (
    KINDS,
    DepthCueProvider,
    ModalityProvider,
    ModelProvider,
    SaliencyProvider,
    SegmentationProvider,
    check_keras_archive,
    defocus_blur,
    describe_stack,
    get_provider,
    modality_stack,
)


def _blob_image() -> tuple[np.ndarray, np.ndarray]:
    """A bright disc (centre x=40, y=22, radius 6) on a dark 64x64 background, and its mask."""
    img = np.full((64, 64, 3), 30, np.uint8)
    cv2.circle(img, (40, 22), 6, (230, 230, 230), -1)
    return img, img[..., 0] > 100


def _sharp_top_blurred_bottom(seed: int = 0) -> np.ndarray:
    """96x96 grey: the same random texture, sharp in the top half, blurred (sigma 3) below."""
    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur((rng.random((96, 96)) * 255).astype(np.float32), (0, 0), 0.7)
    blurred = cv2.GaussianBlur(tex, (0, 0), 3.0)
    grey = np.concatenate([tex[:48], blurred[48:]])
    return np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def _two_halves() -> np.ndarray:
    img = np.zeros((64, 96, 3), np.uint8)
    img[:, :48] = (200, 30, 30)
    img[:, 48:] = (30, 30, 200)
    return img


def _photo() -> np.ndarray:
    """A real photo (scikit-image's astronaut) at an odd size."""
    from skimage import data

    return cv2.resize(data.astronaut(), (131, 97), interpolation=cv2.INTER_AREA)


# --- saliency ----------------------------------------------------------------------------------


def test_saliency_peaks_inside_a_single_bright_blob():
    img, blob = _blob_image()
    s = SaliencyProvider()(img)
    y, x = np.unravel_index(np.argmax(s), s.shape)
    assert blob[y, x], (y, x)
    # the far corner, 30+ px from the blob, is not salient
    assert s[-8:, :8].max() < 0.2 * s.max()


def test_saliency_provider_is_the_core_prior_not_a_copy():
    img = _photo()
    np.testing.assert_array_equal(SaliencyProvider()(img), core_saliency(img))
    centre = SaliencyProvider(method="spectral_residual_centre", centre_weight=0.3)
    np.testing.assert_array_equal(
        centre(img), core_saliency(img, method="spectral_residual_centre", centre_weight=0.3)
    )


# --- depth -------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [1.5, 2.0, 3.0, 4.0])
def test_defocus_blur_recovers_the_blur_of_a_step_edge(sigma):
    step = np.zeros((64, 64), np.float32)
    step[:, 32:] = 200.0
    est, weight = defocus_blur(cv2.GaussianBlur(step, (0, 0), sigma))
    assert weight.sum() > 0
    # only the edge's centre columns carry weight
    assert set(np.nonzero(weight.any(axis=0))[0]) <= {31, 32}
    got = float(np.average(est, weights=weight))
    # 4 %: the discrete-gradient correction (0.5 px^2) is a fit over sigma 1..3 px; residual
    # errors seen were under 1 % for sigma >= 1.5
    assert got == pytest.approx(sigma, rel=0.04)


def test_defocus_blur_does_not_depend_on_edge_contrast():
    step = np.zeros((64, 64), np.float32)
    step[:, 32:] = 1.0
    blurred = cv2.GaussianBlur(step, (0, 0), 2.5)
    a, wa = defocus_blur(200.0 * blurred)
    b, wb = defocus_blur(50.0 * blurred)
    # float32 Sobel/Gaussian round-off only
    np.testing.assert_allclose(a[wa > 0], b[wb > 0], rtol=1e-4)


def test_depth_of_a_flat_image_is_the_vertical_prior():
    near = DepthCueProvider()(np.full((48, 64, 3), 100, np.uint8))
    want = np.repeat((np.arange(48) / 47.0)[:, None], 64, axis=1)  # 0 at the top, 1 at the bottom
    np.testing.assert_allclose(near, want, atol=1e-6)  # float32 rounding of y / (H - 1)


def test_depth_computed_at_a_working_size_is_resized_back():
    near = DepthCueProvider(max_side=64)(np.full((96, 128, 3), 50, np.uint8))
    want = np.repeat((np.arange(96) / 95.0)[:, None], 128, axis=1)
    # bilinear upsampling of the 64-row ramp aligns pixel centres, so the end rows sit half a
    # working pixel in: 0.5 / 63 = 0.008 at most (0.0052 seen)
    np.testing.assert_allclose(near, want, atol=0.01)


@pytest.mark.parametrize("vertical_weight", [0.0, 0.4])
def test_depth_sharp_half_is_nearer_than_the_blurred_half(vertical_weight):
    # the cue reads sharp as near (1); the vertical prior pulls the bottom nearer, and the
    # default weights (0.6 sharpness, 0.4 vertical) must not overturn a sigma-3 defocus
    near = DepthCueProvider(vertical_weight=vertical_weight)(_sharp_top_blurred_bottom())
    top, bottom = near[:40], near[56:]  # 8 px either side of the seam: the spreading blur
    assert top.mean() > bottom.mean() + 0.3
    assert np.median(top) > np.percentile(bottom, 90)


# --- segmentation -------------------------------------------------------------------------------


def test_segmentation_two_flat_halves_are_two_regions_split_at_the_seam():
    img = _two_halves()
    provider = SegmentationProvider()
    labels, value = provider.regions(img)
    assert len(value) == 2
    assert len(np.unique(labels[:, :48])) == 1 and len(np.unique(labels[:, 48:])) == 1
    assert labels[0, 0] != labels[0, -1]
    regions = provider(img)
    assert sorted(np.unique(regions).tolist()) == [0.0, 1.0]
    boundaries = SegmentationProvider(output="boundaries")(img)
    # "thick" boundaries: the last column of one region and the first of the other
    assert np.nonzero(boundaries.any(axis=0))[0].tolist() == [47, 48]
    assert boundaries[:, 47].all() and boundaries[:, 48].all()


def test_segmentation_splits_texture_from_flat_of_the_same_colour_and_ranks_it_higher():
    rng = np.random.default_rng(1)
    grey = np.full((64, 96), 128.0)
    grey[:, :48] += rng.normal(0, 40, (64, 48))  # textured left half, same mean as the right
    img = np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    labels, value = SegmentationProvider().regions(img)
    assert len(value) == 2
    regions = value[labels]
    # 4 px either side of the seam: a texture edge is only located to the scale of the 5x5
    # std window and the 7x7 opening (seen: +-3 px); single noise pixels near 128 look flat
    assert np.unique(regions[:, :44]).tolist() == [1.0]  # the most textured region
    assert np.unique(regions[:, 52:]).tolist() == [0.0]  # the flattest region


def test_a_flat_grey_image_has_no_saliency_one_region_and_the_vertical_depth():
    grey = np.full((40, 50), 200, np.uint8)  # HxW grey is accepted and replicated
    assert not SaliencyProvider()(grey).any()
    labels, value = SegmentationProvider().regions(grey)
    assert value.tolist() == [0.0] and not labels.any()
    np.testing.assert_allclose(DepthCueProvider()(grey)[:, 0], np.arange(40) / 39.0, atol=1e-6)


def test_segmentation_resizes_labels_back_from_the_working_size():
    img = cv2.resize(_two_halves(), (480, 320), interpolation=cv2.INTER_NEAREST)  # seam at 240
    regions = SegmentationProvider(max_side=96)(img)
    cols = np.nonzero(np.diff(regions, axis=1).any(axis=0))[0]
    # nearest-neighbour upscaling by 5: the seam moves by at most one working pixel
    assert cols.size == 1 and abs(int(cols[0]) + 1 - 240) <= 5


# --- the contract ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_classical_providers_keep_the_contract_and_are_deterministic(kind):
    img = _photo()
    provider = get_provider(kind)
    assert isinstance(provider, ModalityProvider) and provider.kind == kind
    a, b = provider(img), get_provider(kind)(img.copy())
    assert a.shape == img.shape[:2] and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0 and a.max() > a.min()
    np.testing.assert_array_equal(a, b)
    # float 0..255 input gives nearly the map of uint8: a uint8 image's luma is OpenCV's
    # rounded grey (jndtf.io.to_luma), a float image's is unrounded, up to 0.5 grey level apart
    # (mean differences seen: 0.0007 saliency, 0.003 depth, 0 segmentation)
    assert np.abs(provider(img.astype(np.float32)) - a).mean() < 0.01


def test_modality_stack_orders_channels_and_names_a_missing_provider():
    img = _photo()
    stack = modality_stack(img)
    assert stack.shape == (*img.shape[:2], 3) and stack.dtype == np.float32
    for c, kind in enumerate(KINDS):
        np.testing.assert_array_equal(stack[..., c], get_provider(kind)(img))
    two = modality_stack(img, {"depth": "classical", "saliency": None}, kinds=("saliency", "depth"))
    np.testing.assert_array_equal(two, stack[..., :2])
    with pytest.raises(ValueError, match="missing for segmentation"):
        modality_stack(img, {"saliency": "classical", "depth": "classical"})
    with pytest.raises(ValueError, match="unknown modalities"):
        modality_stack(img, {"normals": "classical"})
    with pytest.raises(ImageError):
        modality_stack(np.zeros((4, 4, 3), np.uint8))


class _WrongSize:
    """A provider that breaks the contract: its map is half the image size."""

    name = "half_size"
    kind = "depth"
    settings: dict = {}  # noqa: RUF012  a class attribute the protocol reads

    def __call__(self, image):
        return np.zeros((image.shape[0] // 2, image.shape[1] // 2), np.float32)

    def describe(self):
        return {"name": self.name}


def test_a_provider_of_the_wrong_size_is_named_with_the_shapes():
    img = _photo()
    with pytest.raises(ValueError, match=r"depth provider 'half_size' .*\(48, 65\).*\(97, 131\)"):
        modality_stack(img, [SaliencyProvider(), _WrongSize(), SegmentationProvider()])
    with pytest.raises(ValueError, match="gives 'depth', not 'saliency'"):
        get_provider("saliency", _WrongSize())


def test_get_provider_errors_name_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match="unknown modality 'normals'"):
        get_provider("normals")
    with pytest.raises(FileNotFoundError, match=r"nope\.tflite"):
        get_provider("depth", str(tmp_path / "nope.tflite"))
    pkl = tmp_path / "depth.pkl"
    pkl.write_bytes(b"\x80\x04N.")  # a pickle of None: refused by its type, never unpickled
    with pytest.raises(ValueError, match=r"depth provider .*depth.pkl.*\.pkl"):
        get_provider("depth", pkl)
    fake = tmp_path / "legacy.keras"
    fake.write_bytes(b"\x89HDF\r\n\x1a\n")
    with pytest.raises(ValueError, match=r"legacy\.keras: not a Keras 3 \.keras archive"):
        get_provider("depth", fake)
    with pytest.raises(TypeError):
        get_provider("depth", max_sid=3)


def test_describe_is_stable_and_json_ready():
    a, b = describe_stack(), describe_stack()
    assert a == b and [d["kind"] for d in a] == list(KINDS)
    assert json.loads(json.dumps(a)) == a
    assert a[1]["settings"]["vertical_weight"] == 0.4 and a[1]["model_sha256"] is None
    assert get_provider("depth").fingerprint == get_provider("depth").fingerprint
    assert get_provider("depth").fingerprint != get_provider("depth", max_side=256).fingerprint
    assert a[2]["name"] == "slic_regions"
    assert describe_stack({"saliency": None, "depth": None, "segmentation": None}) == a


def test_the_classical_stack_imports_no_tensorflow_or_keras():
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        from jndtf.priors.modalities import modality_stack
        rng = np.random.default_rng(0)
        stack = modality_stack((rng.random((40, 56, 3)) * 255).astype(np.uint8))
        assert stack.shape == (40, 56, 3)
        bad = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras")]
        print(bad)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


# --- user models (Keras builds them) -----------------------------------------------------------


def _net(keras, *, stride: int = 1, channels: int = 1, lam: bool = False):
    keras.utils.set_random_seed(5)
    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, strides=stride, padding="same", activation="relu")(inp)
    if lam:
        x = keras.layers.Lambda(lambda t: t * 2.0, name="times_two")(x)
    out = keras.layers.Conv2D(channels, 3, padding="same", activation="sigmoid")(x)
    return keras.Model(inp, out)


def _safe_loader(keras):
    return lambda p: keras.saving.load_model(p, compile=False, safe_mode=True)


@pytest.mark.tf
def test_keras_file_with_a_lambda_layer_is_refused_with_the_reason(tmp_path):
    keras = pytest.importorskip("keras")
    path = tmp_path / "depth_lambda.keras"
    _net(keras, lam=True).save(path)

    def never(p):
        raise AssertionError("the loader must not run on a refused file")

    with pytest.raises(ValueError, match=r"depth_lambda.keras: refused .*'times_two' is a Lambda"):
        get_provider("depth", path, keras_loader=never)
    with pytest.raises(ValueError, match="Lambda"):
        check_keras_archive(path)
    # Keras's own safe mode agrees (the second line of defence, if the config check were fooled)
    with pytest.raises(ValueError, match="safe_mode"):
        keras.saving.load_model(path, safe_mode=True)


@pytest.mark.tf
def test_keras_file_runs_through_the_callers_loader_and_matches_keras(tmp_path):
    keras = pytest.importorskip("keras")
    net = _net(keras)
    path = tmp_path / "sal.keras"
    net.save(path)
    with pytest.raises(ValueError, match="needs Keras, which the core does not import"):
        get_provider("saliency", path)
    provider = get_provider("saliency", path, keras_loader=_safe_loader(keras), max_side=None)

    def refuses(p):  # what Keras says when safe mode meets a layer the config check missed
        raise ValueError("Requested the deserialization of a Lambda layer ... safe_mode=False")

    with pytest.raises(ValueError, match=r"sal\.keras: refused by Keras safe loading: Requested"):
        get_provider("saliency", path, keras_loader=refuses)
    img = (np.random.default_rng(4).random((40, 56, 3)) * 255).astype(np.uint8)
    want = np.asarray(net(img[None].astype(np.float32) / 255.0))[0, ..., 0]
    # the same Keras graph on the same input: float32 kernels, identical up to round-off
    np.testing.assert_allclose(provider(img), want, atol=1e-6)
    d = provider.describe()
    assert d["model_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert d["name"] == "sal.keras" and d["settings"]["normalize"] == "clip"
    assert (
        provider.describe()
        == get_provider(
            "saliency", path, keras_loader=_safe_loader(keras), max_side=None
        ).describe()
    )


@pytest.mark.tf
def test_in_memory_keras_model_of_the_wrong_output_is_named(tmp_path):
    keras = pytest.importorskip("keras")
    img = (np.random.default_rng(4).random((40, 56, 3)) * 255).astype(np.uint8)
    with pytest.raises(
        ValueError, match=r"depth provider .*outputs \(1, h, w, 1\).*\(None, None, None, 2\)"
    ):
        ModelProvider("depth", _net(keras, channels=2))
    half = ModelProvider("depth", _net(keras, stride=2))
    with pytest.raises(
        ValueError, match=r"output shape \(1, 20, 28, 1\) for input \(1, 40, 56, 3\)"
    ):
        half(img)
    # a segmentation net may output class scores: argmax / (C - 1)
    seg_net = _net(keras, channels=3)
    seg = ModelProvider("segmentation", seg_net, max_side=None)(img)
    scores = np.asarray(seg_net(img[None].astype(np.float32) / 255.0))[0]
    np.testing.assert_array_equal(seg, np.argmax(scores, axis=-1) / 2.0)


@pytest.fixture(scope="module")
def tflite_nets(tmp_path_factory):
    keras = pytest.importorskip("keras")
    from jndtf.export.quantization import QuantizationConfig
    from jndtf.export.tflite import convert_model

    folder = tmp_path_factory.mktemp("modality_nets")
    out = {}
    for name, stride in (("depth_ok", 1), ("depth_half", 2)):
        net = _net(keras, stride=stride)
        path = folder / f"{name}.tflite"
        path.write_bytes(convert_model(net, None, 3, QuantizationConfig.none()))
        out[name] = (path, net)
    return out


@pytest.mark.tf
def test_tflite_of_the_wrong_output_size_is_named(tflite_nets):
    path, _ = tflite_nets["depth_half"]
    provider = get_provider("depth", path)
    img = (np.random.default_rng(4).random((40, 56, 3)) * 255).astype(np.uint8)
    with pytest.raises(ValueError, match=r"depth provider .*depth_half.tflite: output shape "):
        provider(img)
    with pytest.raises(ValueError, match=r"depth provider .*depth_half.tflite"):
        modality_stack(img, {"saliency": None, "depth": provider, "segmentation": None})


@pytest.mark.tf
def test_tflite_provider_runs_without_tensorflow_and_matches_keras(tflite_nets, tmp_path):
    path, net = tflite_nets["depth_ok"]
    img = (np.random.default_rng(4).random((40, 56, 3)) * 255).astype(np.uint8)
    np.save(tmp_path / "img.npy", img)
    code = textwrap.dedent(
        """
        import json, sys
        import numpy as np
        from jndtf.priors.modalities import get_provider
        p = get_provider("depth", sys.argv[1], normalize="clip", max_side=None)
        np.save(sys.argv[3], p(np.load(sys.argv[2])))
        bad = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras")]
        print(json.dumps({"bad": bad, "describe": p.describe()}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path), str(tmp_path / "img.npy"), str(tmp_path / "m.npy")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["bad"] == []
    assert out["describe"]["model_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    want = np.asarray(net(img[None].astype(np.float32) / 255.0))[0, ..., 0]
    # float32 TFLite vs Keras kernels on a two-layer net: summation order only (~1e-7 seen in
    # tests/test_manifest.py); 1e-5 leaves room for other SIMD widths
    np.testing.assert_allclose(np.load(tmp_path / "m.npy"), want, atol=1e-5)


@pytest.mark.tf
def test_modality_provider_loads_a_user_keras_file_safely(tmp_path):
    # jndtf.models.modality_models is the Keras side of the core's check: the same map as the
    # network itself, and a Lambda layer still refused before Keras runs it
    keras = pytest.importorskip("keras")
    from jndtf.models.modality_models import modality_provider

    net = _net(keras)
    path = tmp_path / "sal.keras"
    net.save(path)
    img = (np.random.default_rng(6).random((24, 40, 3)) * 255).astype(np.uint8)
    want = np.asarray(net(img[None].astype(np.float32) / 255.0))[0, ..., 0]
    got = modality_provider("saliency", path, max_side=None)(img)
    np.testing.assert_allclose(got, want, atol=1e-6)  # one graph, one input: round-off only
    bad = tmp_path / "bad.keras"
    _net(keras, lam=True).save(bad)
    with pytest.raises(ValueError, match="'times_two' is a Lambda"):
        modality_provider("saliency", bad)
    assert modality_provider("depth").name == get_provider("depth").name  # classical as before


# --- rebuilding providers from a manifest (training, evaluation and the edge share it) --------


def test_providers_rebuilt_from_records_give_the_recorded_maps():
    """Records of non-default providers come back as providers with those settings: the maps
    equal those of providers built directly with the same settings (not the defaults')."""
    from jndtf.priors.modalities import providers_from_manifest

    direct = [
        get_provider("saliency"),
        get_provider("depth", vertical_weight=0.7),
        get_provider("segmentation", n_segments=40, max_side=128),
    ]
    manifest = {"modality_providers": describe_stack(direct)}
    rebuilt, source = providers_from_manifest("m.keras", manifest, KINDS)
    assert source == "the manifest"
    image = _photo()
    for got, want in zip(rebuilt, direct, strict=True):
        assert got.describe() == want.describe()
        np.testing.assert_array_equal(got(image), want(image))
    # an export manifest keeps them under inputs.providers; none recorded: the defaults
    again, _ = providers_from_manifest("m.tflite", {"inputs": {"providers": manifest[
        "modality_providers"]}}, ("segmentation",))  # fmt: skip
    assert again[0].settings["n_segments"] == 40
    defaults, source = providers_from_manifest("m.keras", {}, KINDS)
    assert source.startswith("classical defaults")
    assert [p.describe() for p in defaults] == describe_stack()


def test_a_record_this_code_builds_differently_is_refused_by_name():
    from jndtf.priors.modalities import provider_from_record

    record = get_provider("depth").describe()
    record["settings"]["defocus_sigma0"] = 2.0  # a constant of the code, not a setting
    with pytest.raises(ValueError, match=r"m\.keras: the depth provider was recorded as .*"):
        provider_from_record(record, "m.keras", version="0.0.1")
    with pytest.raises(ValueError, match=r"m\.keras: a modality provider record"):
        provider_from_record({"kind": "colour"}, "m.keras")


def test_a_provider_network_is_found_beside_the_model_and_sha256_checked(tmp_path):
    from jndtf.priors.modalities import provider_from_record

    record = {
        "kind": "depth",
        "name": "net.tflite",
        "implementation": "jndtf.priors.modalities.ModelProvider",
        "settings": {"model": "/trained/elsewhere/net.tflite", "backend": "litert"},
        "model_sha256": hashlib.sha256(b"the trained network").hexdigest(),
    }
    where = tmp_path / "m.tflite"
    with pytest.raises(FileNotFoundError, match=r"m\.tflite needs its depth provider network"):
        provider_from_record(record, where, search=(tmp_path,))
    (tmp_path / "net.tflite").write_bytes(b"another network")  # beside the model: found, refused
    with pytest.raises(ValueError, match=r"net\.tflite: sha256 .* depth provider - refusing"):
        provider_from_record(record, where, search=(tmp_path,))
    keras_rec = {**record, "settings": {"model": "/x/net.keras", "backend": "keras"}}
    with pytest.raises(ValueError, match=r"depth provider 'net.tflite' is a Keras model"):
        provider_from_record(keras_rec, where, allow_keras=False)
