"""Liu et al. 2010 (edge/texture decomposition) and Chen & Wu 2019 (asymmetric foveated JND).

Neither has a reference output here (see the module docstrings), so these tests check the
output contract and properties that follow from the formulas.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from jndtf.baselines import _registry
from jndtf.baselines.chen2019 import (
    chen2019,
    chen2019_components,
    cutoff_frequency,
    elliptical_eccentricity,
)
from jndtf.baselines.liu2010 import liu2010, liu2010_components, tv_l1_decompose
from jndtf.io import ImageError


def _t(bg: float) -> float:
    """Chou & Li's luminance threshold T(bg)."""
    if bg <= 127:
        return 17 * (1 - math.sqrt(bg / 127)) + 3
    return 3 / 128 * (bg - 127) + 3


def _photo_crop() -> np.ndarray:
    rng = np.random.default_rng(7)
    img = np.zeros((64, 80), np.float32) + 90
    img[:, 40:] = 170
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- Liu 2010


def test_liu_output_contract():
    rgb = np.repeat(_photo_crop()[..., None], 3, axis=2)
    jnd = _registry.get("liu2010")(rgb)
    assert jnd.shape == (64, 80, 1) and jnd.dtype == np.float32
    assert np.isfinite(jnd).all() and (jnd > 0).all()
    assert "decomposition" in _registry.info("liu2010").citation
    np.testing.assert_array_equal(jnd, liu2010(_photo_crop()))


@pytest.mark.parametrize("value", [30, 128, 200])
def test_liu_flat_image_closed_form(value):
    maps = liu2010_components(np.full((40, 40), value, np.uint8), n_iter=50)
    inner = (slice(2, -2), slice(2, -2))
    la = _t(value)
    beta = 0.5 - 0.01 * value  # Gm = 0 in both parts: masking = clip(beta, 0, 10)
    cm = (0.7 + 1.4) * min(max(beta, 0.0), 10.0)
    np.testing.assert_allclose(maps["texture"], 0.0, atol=1e-3)
    np.testing.assert_allclose(maps["jnd"][inner], la + cm - 0.3 * min(la, cm), rtol=1e-5)


def test_tv_l1_sends_small_details_to_texture_and_keeps_edges():
    img = np.full((48, 48), 100, np.uint8)
    img[:, 30:] = 160  # a long step edge: structure
    img[10:12, 5:20] = 200  # a 2-px line (narrower than 2 / lambda = 2.5 px): texture
    img[30:32, 8:10] = 20  # a 2x2 dot: texture
    u, v = tv_l1_decompose(img)
    np.testing.assert_allclose(u + v, img.astype(np.float32), atol=1e-4)
    assert abs(float(v[10, 12]) - 100) < 2 and abs(float(u[10, 12]) - 100) < 2
    assert abs(float(v[30, 8]) + 80) < 2
    assert abs(float(u[24, 29]) - 100) < 1 and abs(float(u[24, 30]) - 160) < 1
    assert float(np.abs(v[:, 26:]).max()) < 1


def test_tv_l1_is_contrast_invariant():
    rng = np.random.default_rng(5)
    img = np.full((40, 40), 30.0, np.float32)
    img[rng.random((40, 40)) < 0.05] = 60.0
    img[5:25, 10:30] += 40.0
    _, v1 = tv_l1_decompose(img, n_iter=400)
    _, v2 = tv_l1_decompose(img * 2.0, n_iter=400)
    np.testing.assert_allclose(v2, 2.0 * v1, atol=0.5)


def test_liu_edge_gets_a_lower_threshold_than_texture_of_equal_contrast():
    # left: 2-px stripes 100/140 (texture); right: one step 100 -> 140 (an edge). Both have the
    # same max directional gradient, 40, next to the contrast.
    img = np.full((64, 96), 100, np.uint8)
    cols = np.arange(4, 40)
    img[:, cols[(cols // 2) % 2 == 1]] = 140
    img[:, 70:] = 140
    maps = liu2010_components(img)
    rows = slice(16, 48)
    texture_jnd = maps["jnd"][rows, 14:30].mean()
    edge_jnd = maps["jnd"][rows, 68:72].max()  # the most tolerant pixel around the edge
    assert (
        maps["texture_masking"][rows, 14:30].mean() > 3 * maps["texture_masking"][rows, 60:80].max()
    )
    assert texture_jnd > edge_jnd + 1.0, (texture_jnd, edge_jnd)


def test_liu_bad_arguments_raise():
    img = _photo_crop()
    with pytest.raises(ValueError):
        tv_l1_decompose(img, lam=0)
    with pytest.raises(ValueError):
        tv_l1_decompose(img, n_iter=0)
    with pytest.raises(ValueError):
        liu2010_components(img, edge_weight=-1)
    with pytest.raises(ImageError):
        liu2010(np.zeros((8, 8), np.uint8))


# --------------------------------------------------------------------------- Chen & Wu 2019


V = 2166.0  # viewing distance in pixels of the defaults (60 cm, 0.277 mm pitch)


def test_chen_output_contract():
    img = _photo_crop()
    jnd = _registry.get("chen2019")(img)
    assert jnd.shape == (64, 80, 1) and jnd.dtype == np.float32
    assert np.isfinite(jnd).all() and (jnd > 0).all()
    assert "foveated" in _registry.info("chen2019").citation
    np.testing.assert_array_equal(jnd, chen2019(np.repeat(img[..., None], 3, axis=2)))


def test_chen_equals_the_base_at_the_fixation_and_grows_outwards():
    img = np.full((200, 300), 128, np.uint8)
    maps = chen2019_components(img, fixation=(100, 150), base=np.full((200, 300), 4.0))
    assert float(maps["foveation"][100, 150]) == 1.0
    assert float(maps["jnd"][100, 150]) == 4.0
    # along the horizontal meridian: non-decreasing, strictly larger far out
    ray = maps["jnd"][100, 150:-2]  # the 2-px frame: darker bg from the zero padding
    assert np.all(np.diff(ray) >= -1e-6)
    assert ray[-1] > ray[0] * 1.05
    assert float(maps["foveation"].min()) >= 1.0


def test_chen_foveal_plateau_and_limit():
    # inside the eccentricity where the cut-off exceeds the display Nyquist, nothing changes
    fd = math.pi * V / 360.0
    e_plateau = 2.3 * math.log(64) / (0.106 * fd) - 2.3  # f_c(e_plateau) = f_d
    assert e_plateau > 0
    f = cutoff_frequency(np.array([0.0, e_plateau * 0.9, e_plateau * 2]), V)
    assert f[0] == f[1] == pytest.approx(fd) and f[2] < fd
    maps = chen2019_components(
        np.full((64, 64), 128, np.uint8), fixation=(-1e7, 32), base=np.ones((64, 64))
    )
    # a fixation very far away: eccentricity near 90 deg, factor below its bound of 2
    inner = maps["foveation"][2:-2, 2:-2]
    assert np.all(inner > 1.5) and np.all(maps["foveation"] <= 2.0)


def test_chen_asymmetry_horizontal_lower_upper():
    shape = (401, 401)
    ecc = elliptical_eccentricity(shape, [(200, 200)], V)
    right, left = ecc[200, 350], ecc[200, 50]
    below, above = ecc[350, 200], ecc[50, 200]
    assert right == pytest.approx(left)
    assert right < below < above  # HVA, then VMA (lower field better than upper)
    assert below / right == pytest.approx(1.2, rel=1e-6)
    assert above / right == pytest.approx(1.5, rel=1e-6)
    circle = elliptical_eccentricity(shape, [(200, 200)], V, k_upper=1.0, k_lower=1.0)
    assert circle[350, 200] == pytest.approx(circle[200, 350])
    # the JND follows: same distance, larger threshold above than below than beside
    img = np.full(shape, 128, np.uint8)
    jnd = chen2019_components(img, fixation=(200, 200), base=np.full(shape, 3.0))["jnd"]
    assert jnd[200, 350] < jnd[350, 200] < jnd[50, 200]


def test_chen_several_fixations_use_the_nearest():
    shape = (100, 200)
    both = elliptical_eccentricity(shape, [(50, 40), (50, 160)], V)
    one = elliptical_eccentricity(shape, [(50, 40)], V)
    two = elliptical_eccentricity(shape, [(50, 160)], V)
    np.testing.assert_allclose(both, np.minimum(one, two))


def test_chen_fixation_modes_and_bases():
    img = np.full((80, 120), 100, np.uint8)
    img[10:16, 90:96] = 230  # the salient spot
    sal = chen2019_components(img, fixation="saliency", base=np.ones((80, 120)))
    r, c = np.unravel_index(int(np.argmin(sal["eccentricity"])), (80, 120))
    assert 6 <= r <= 20 and 86 <= c <= 100
    centre = chen2019_components(img, base=lambda x: np.full((80, 120, 1), 2.0))
    assert float(centre["base"].max()) == 2.0
    wu = chen2019_components(img, base="wu2013")
    assert wu["jnd"].shape == (80, 120)


def test_chen_bad_arguments_raise():
    img = _photo_crop()
    with pytest.raises(ValueError):
        chen2019_components(img, fixation="corner")
    with pytest.raises(ValueError):
        chen2019_components(img, fixation=[(1.0, 2.0, 3.0)])
    with pytest.raises(ValueError):
        chen2019_components(img, viewing_distance_cm=0)
    with pytest.raises(ValueError):
        chen2019_components(img, base=np.ones((10, 10)))
    with pytest.raises(ValueError):
        chen2019_components(img, base="chen2019")
    with pytest.raises(KeyError):
        chen2019_components(img, base="no_such_model")
    with pytest.raises(ValueError):
        elliptical_eccentricity((10, 10), [(5, 5)], V, k_upper=0)
