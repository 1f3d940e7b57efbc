"""Clean borders (issue 14, point 3): no padding or wrap-around artefact at the image edge.

The causes found, each with its check:

- the spectral-residual saliency prior took the FFT's periodic wrap-around jump for a salient line
  along the border, and a flat image came out as a full 0..1 map of float round-off;
- MATLAB's zero padding gives pattern and contrast masking a frame (0 in the outer 2 pixels,
  about twice the interior in the next 4): the network input now takes the priors of the image
  continued by its mirror image (``jndtf.models.inputs.PRIOR_MARGIN``);
- the network's 'same' (zero) padding through 20 convs makes even a flat image's map vary from
  ~0 to ~18 grey levels: ``padding="reflect"`` keeps it flat to the edge.

References are closed forms (a constant image has constant priors and a constant map) and the
image's own mirror continuation (local priors of an image and of ``[image | mirror]`` agree in the
columns next to the seam).
"""

from __future__ import annotations

import numpy as np
import pytest

from jndtf.models.inputs import ACOL_PRIORS, PRIOR_MARGIN, acol_input, model_input
from jndtf.priors.saliency import spectral_residual


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A 96x128 crop of scikit-image's astronaut (real texture up to every edge)."""
    from skimage import data

    return data.astronaut()[120:216, 160:288]


@pytest.mark.parametrize("level", [0, 128, 255])
def test_every_input_channel_of_a_flat_image_is_flat_to_the_edge(level):
    x = acol_input(np.full((48, 80, 3), level, np.uint8))
    for c in range(x.shape[-1]):
        # a constant image has constant priors: exact, no tolerance needed
        assert np.ptp(x[..., c]) == 0.0, (c, float(x[..., c].min()), float(x[..., c].max()))
    assert np.all(x[..., 3 + ACOL_PRIORS.index("saliency")] == 0.0)  # nothing stands out


def test_saliency_of_a_flat_image_with_round_off_is_zero():
    """64x80 -> 64x51 by INTER_AREA leaves ~1e-5 of float round-off: still flat, not noise."""
    assert float(spectral_residual(np.full((64, 80), 128.0, np.float32)).max()) == 0.0


def test_saliency_has_no_wrap_around_line():
    """A stationary texture on a left-to-right brightness ramp: its periodic continuation jumps
    by 120 grey levels at the left/right border, which the plain FFT recipe marks as a salient
    line (edges 7x the interior mean before the fix); with the mirrored margin the edges are no
    more salient than the interior."""
    import cv2

    rng = np.random.default_rng(0)
    tex = cv2.GaussianBlur(rng.normal(0, 1, (120, 160)).astype(np.float32), (0, 0), 2.0)
    tex = 128 + 40 * tex / tex.std() + np.linspace(-60, 60, 160, dtype=np.float32)[None]
    s = spectral_residual(np.clip(tex, 0, 255))
    edges = np.concatenate([s[:, :2].ravel(), s[:, -2:].ravel(), s[:2].ravel(), s[-2:].ravel()])
    # a stationary texture has no salient place: the edges must not stand out from the interior
    assert edges.mean() <= s[10:-10, 10:-10].mean(), (edges.mean(), s[10:-10, 10:-10].mean())


@pytest.mark.parametrize("prior", ["pattern_masking", "contrast_masking"])
def test_local_priors_of_an_image_and_of_its_mirrored_copy_agree_at_the_seam(photo, prior):
    """The border columns of the image's priors equal the pair's columns next to the seam (the
    mirrored margin is the mirror copy's content; both priors have 5x5 support < the margin)."""
    w = photo.shape[1]
    pair = np.concatenate([photo, photo[:, ::-1]], axis=1)  # symmetric: edge column repeated
    alone = model_input(photo, (prior,))[..., 3]
    joined = model_input(pair, (prior,))[..., 3]
    # float32 sums over the same values in the same order: equal to the last bit in practice;
    # 1e-6 of full scale allows OpenCV's SIMD paths to differ between AVX2 and AVX-512
    np.testing.assert_allclose(alone[:, -8:], joined[:, w - 8 : w], atol=1e-6)
    assert PRIOR_MARGIN > 5


def test_the_classical_models_keep_matlabs_zero_border(photo):
    """The border fix is the network input's: jndtf.priors itself still follows MATLAB (the
    baselines are checked against MATLAB ports), 0 within 2 pixels of the border."""
    from jndtf.priors import compute_all

    cm = compute_all(photo, ["contrast_masking"])["contrast_masking"]
    assert np.all(cm[:2] == 0) and np.all(cm[:, :2] == 0)
    assert model_input(photo, ("contrast_masking",))[:2, :, 3].max() > 0


keras = pytest.importorskip("keras")


@pytest.mark.tf
@pytest.mark.parametrize("preset", ["acol", "bl"])
def test_reflect_padded_network_maps_a_flat_input_to_a_flat_map(preset):
    """Every layer sees a constant input and returns a constant (the §3.4 threshold masks all or
    nothing), so the map is constant to the edge; with zero padding it is not."""
    from jndtf.models.acol import build_acol
    from jndtf.models.acol.presets import get_preset

    keras.utils.set_random_seed(0)
    flat = model_input(np.full((40, 56, 3), 140, np.uint8), get_preset(preset)["priors"])[None]
    reflect = build_acol(preset, width="tiny", padding="reflect")
    zeros = build_acol(preset, width="tiny", padding="zeros")
    zeros.set_weights(reflect.get_weights())  # the same weights, only the border differs
    m = np.asarray(reflect(flat))[0]
    z = np.asarray(zeros(flat))[0]
    for c in range(3):
        # float32 convolutions of equal values: equal up to summation-order round-off
        assert np.ptp(m[..., c]) <= 1e-5 * max(1.0, float(np.abs(m[..., c]).max())), c
    assert max(np.ptp(z[..., c]) for c in range(3)) > 1e-3  # the cause, shown


@pytest.mark.tf
def test_reflect_padding_keeps_sizes_weights_and_round_trip(tmp_path):
    """Same output size as 'same' for odd sides (stride-2 convs), same weight shapes (the
    shipped zero-padded weights load into it), and a .keras round trip."""
    from jndtf.models.acol import build_acol

    reflect = build_acol("acol", width="tiny", padding="reflect")
    zeros = build_acol("acol", width="tiny")
    assert [w.shape for w in reflect.get_weights()] == [w.shape for w in zeros.get_weights()]
    x = np.random.default_rng(1).uniform(0, 1, (1, 37, 51, 6)).astype("float32")
    y = np.asarray(reflect(x))
    assert y.shape == (1, 37, 51, 3)
    path = tmp_path / "r.keras"
    reflect.save(path)
    again = keras.saving.load_model(path, compile=False)
    np.testing.assert_array_equal(np.asarray(again(x)), y)  # same graph, same weights
    with pytest.raises(ValueError, match="padding"):
        build_acol("acol", width="tiny", padding="edge")


@pytest.mark.tf
@pytest.mark.parametrize("pad", [1, 2, 3])
def test_reflect_pad_by_slices_equals_numpy_reflect(pad):
    # ReflectPad is built from slices (LiteRT keeps them in XNNPACK; MIRROR_PAD runs ~5x slower
    # there): the values must be numpy's reflect padding exactly (pure data movement)
    from jndtf.models.acol.layers import ReflectPad

    x = np.random.default_rng(pad).random((2, 7, 9, 3)).astype(np.float32)
    want = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    assert np.array_equal(np.asarray(ReflectPad(pad)(x)), want)
