"""VIF (wavelet domain) and VIFp (pixel domain) against the LIVE MATLAB originals and ports.

Golden numbers: ../shared/data/iqa-golden/reference_values.csv, row ``vif`` (TID2013 I03, I04,
I06; LIVE's ``vifvec.m``, 4 decimals). The table has no VIFp row: VIFp is checked against sewar
(a float64 numpy port of ``vifp_mscale.m``) and piq. The steerable pyramid is checked against
the C ``corrDn`` of pyrtools (the matlabPyrTools MEX code). Every tolerance comes from
tests/iqa_tolerances.py.
"""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest
from iqa_common import (
    GOLDEN_IMAGES,
    GRADIENT_CASES_WITH_WHITE,
    RGB2GRAY_MATLAB,
    assert_batch_equals_single,
    assert_data_range_invariance,
    assert_float32_under_mixed_precision,
    assert_gradients_finite,
    grey64,
    noisy,
    to_np,
)
from iqa_jax import jax_pair, jax_results
from iqa_piq import require_piq
from iqa_tolerances import rtol
from scipy.ndimage import correlate

pytestmark = pytest.mark.tf
pytest_plugins = ("iqa_fixtures",)  # golden, jax_numbers
JAX_JOB = "vif_vifp_nlpd"

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from jndtf.iqa._steerable import sp5_bands, sp5_filters  # noqa: E402
from jndtf.iqa.vif import vif, vif_subbands  # noqa: E402
from jndtf.iqa.vifp import vifp, vifp_scales  # noqa: E402

METRICS = {"vif": vif, "vifp": vifp}


# --- data ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real photo (scikit-image's astronaut), 192x192 RGB uint8 crop with texture and edges."""
    from skimage import data

    return data.astronaut()[40:232, 160:352]


# --- an independent float64 transcription of LIVE's vifvec.m ----------------------------------
# corrDn(..., 'reflect1') is scipy's correlate with mode="mirror" (reflection about the edge
# pixel); test_sp5_pyramid_matches_pyrtools_corrdn ties both to the MEX code.


def _spyr_subbands64(im: np.ndarray) -> dict[int, np.ndarray]:
    """buildSpyr(im, 4, 'sp5Filters', 'reflect1') + ind2wtree: {wtree index: sub-band}."""
    f = sp5_filters()
    lo = correlate(im, f["lo0filt"], mode="mirror")
    pyr = []
    for _ in range(4):
        pyr += [correlate(lo, f["bfilts"][b], mode="mirror") for b in range(6)]
        lo = correlate(lo, f["lofilt"], mode="mirror")[::2, ::2]
    # MATLAB's pyr = [hi0, 24 bands, lowpass] (1-based), wtree{27 - i} = pyr{i}: band i
    # (0-based here) is pyr{i + 2}. hi0 and the low-pass residual are unused.
    return {25 - i: band for i, band in enumerate(pyr)}


def _vifvec64(ref: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(num, den) per sub-band of vifvec.m, sub-bands [4 7 10 13 16 19 22 25]."""
    m, sigma_nsq, tol = 3, 0.4, 1e-15
    org, dis = _spyr_subbands64(ref), _spyr_subbands64(dist)
    nums, dens = [], []
    for sub in (4, 7, 10, 13, 16, 19, 22, 25):
        h, w = (np.array(org[sub].shape) // m) * m
        y, yn = org[sub][:h, :w], dis[sub][:h, :w]
        win = 2 ** int(np.ceil((sub - 1) / 6)) + 1
        n = win * win

        def box(a, win=win, h=h, w=w):  # corrDn(a, ones(win), 'reflect1', [3 3], [2 2], ...)
            return correlate(a, np.ones((win, win)), mode="mirror")[1 : h - 1 : m, 1 : w - 1 : m]

        mx, my = box(y) / n, box(yn) / n
        cov = box(y * yn) - n * mx * my
        sx = np.maximum(box(y * y) - n * mx**2, 0)
        sy = np.maximum(box(yn * yn) - n * my**2, 0)
        g = cov / (sx + tol)
        vv = (sy - g * cov) / n
        k = sx < tol
        g[k], vv[k] = 0, sy[k]
        k = sy < tol
        g[k], vv[k] = 0, 0
        k = g < 0
        vv[k], g[k] = sy[k], 0
        vv[vv <= tol] = tol
        # refparams_vecgsm: C_U from all overlapping blocks, s^2 on the non-overlapping ones
        u = np.stack(
            [
                y[k : h - (m - 1 - k), j : w - (m - 1 - j)].ravel()
                for j in range(m)
                for k in range(m)
            ]
        )
        cu = np.cov(u, bias=True)
        blocks = np.stack([y[k::m, j::m].ravel() for j in range(m) for k in range(m)])
        ss = (np.sum(np.linalg.solve(cu, blocks) * blocks, axis=0) / m**2).reshape(h // m, -1)
        lam = np.linalg.eigvalsh(cu)
        off = int(np.ceil(((win - 1) // 2) / m))
        crop = (slice(off, -off), slice(off, -off))
        g, vv, ss = g[crop], vv[crop], ss[crop]
        nums.append(sum(np.log2(1 + g * g * ss * lj / (vv + sigma_nsq)).sum() for lj in lam))
        dens.append(sum(np.log2(1 + ss * lj / sigma_nsq).sum() for lj in lam))
    return np.array(nums), np.array(dens)


# --- golden: the original MATLAB values -------------------------------------------------------


@pytest.mark.parametrize("image", GOLDEN_IMAGES)
def test_vif_matches_matlab_golden(golden, image):
    pairs, values = golden
    x, y = pairs[image]
    # uint8 input: rgb2gray rounds to grey levels, as vifvec's callers did in MATLAB.
    got = to_np(vif(x, y))[0]
    np.testing.assert_allclose(got, values["vif"][image], rtol=rtol("vif/golden"))
    # The table gives 4 decimals: ours rounds to the same ones.
    assert round(got, 4) == values["vif"][image]


@pytest.mark.parametrize("image", ["I03", "I06"])
def test_vif_subbands_match_float64_transcription(golden, image):
    pairs, _ = golden
    x, y = pairs[image]
    num64, den64 = _vifvec64(grey64(x[0]), grey64(y[0]))
    num, den = (to_np(t)[0] for t in vif_subbands(x, y))
    np.testing.assert_allclose(den, den64, rtol=rtol("vif/numpy64"))
    np.testing.assert_allclose(num, num64, rtol=rtol("vif/numpy64"))
    np.testing.assert_allclose(
        to_np(vif(x, y))[0], num64.sum() / den64.sum(), rtol=rtol("vif/numpy64")
    )


def _load_pyrtools_c():
    """pyrtools' ctypes wrapper of the matlabPyrTools C code, without ``import pyrtools``.

    (Its ``__init__`` imports matplotlib for display helpers.) Install (dev only, not in
    pyproject): ``pip install --no-deps pyrtools==1.1.1``.
    """
    spec = importlib.util.find_spec("pyrtools")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "pyramids" / "c" / "wrapper.py"
    mspec = importlib.util.spec_from_file_location("_pyrtools_c_wrapper", path)
    module = importlib.util.module_from_spec(mspec)
    mspec.loader.exec_module(module)
    return module


def test_sp5_pyramid_matches_pyrtools_corrdn():
    """buildSpyr(im, 4, 'sp5Filters', 'reflect1') with the original C corrDn (edges.c)."""
    wrapper = _load_pyrtools_c()
    if wrapper is None:
        pytest.skip("pyrtools not installed (pip install --no-deps pyrtools==1.1.1)")
    filters_path = Path(wrapper.__file__).parents[1] / "filters.py"
    fspec = importlib.util.spec_from_file_location("_pyrtools_filters", filters_path)
    pyr_filters = importlib.util.module_from_spec(fspec)
    fspec.loader.exec_module(pyr_filters)
    theirs = pyr_filters.named_filter("sp5_filters")
    ours = sp5_filters()
    np.testing.assert_allclose(ours["lo0filt"], theirs["lo0filt"], atol=1e-12)
    np.testing.assert_allclose(ours["lofilt"], theirs["lofilt"], atol=1e-12)
    for b in range(6):  # MATLAB's reshape(bfilts(:, b), 7, 7) is column-major
        np.testing.assert_allclose(
            ours["bfilts"][b], theirs["bfilts"][:, b].reshape(7, 7).T, atol=1e-12
        )
    # Odd sizes, so that every border case of corrDn (and ceil(n / 2)) is exercised.
    im = np.random.default_rng(3).uniform(0, 255, (83, 77))
    lo = wrapper.corrDn(im, theirs["lo0filt"], "reflect1")
    levels = sp5_bands(im[None, :, :, None].astype(np.float32), 4)
    for level in levels:
        for b in range(6):
            want = wrapper.corrDn(lo, theirs["bfilts"][:, b].reshape(7, 7).T, "reflect1")
            got = to_np(level)[0, :, :, b]
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, atol=rtol("vif/pyrtools") * np.abs(want).max())
        lo = wrapper.corrDn(lo, theirs["lofilt"], "reflect1", step=(2, 2))


# --- VIFp against the ports ---------------------------------------------------------------------


def test_vifp_matches_sewar(golden, photo):
    """sewar.full_ref.vifp is a float64 line-by-line port of LIVE's vifp_mscale.m."""
    sewar = pytest.importorskip("sewar.full_ref", reason="pip install --no-deps sewar==0.4.10")
    pairs, _ = golden
    x, y = pairs["I03"]
    gx, gy = grey64(x[0]), grey64(y[0])
    want = sewar.vifp(gx, gy)
    np.testing.assert_allclose(to_np(vifp(x, y))[0], want, rtol=rtol("vifp/sewar"))
    a, b = photo.astype(np.float64), np.round(noisy(photo, 12)).astype(np.float64)
    ga, gb = a @ RGB2GRAY_MATLAB, b @ RGB2GRAY_MATLAB
    np.testing.assert_allclose(
        to_np(vifp(ga[None, :, :, None], gb[None, :, :, None]))[0],
        sewar.vifp(ga, gb),
        rtol=rtol("vifp/sewar"),
    )


def test_vifp_matches_piq(photo):
    torch = pytest.importorskip("torch")
    (piq_vifp,) = require_piq("vifp")
    a = photo.astype(np.float64) @ RGB2GRAY_MATLAB
    b = noisy(photo, 12).astype(np.float64) @ RGB2GRAY_MATLAB
    # piq's vif_p(x, y): x is the distorted image, y the reference; grey (N, 1, H, W).
    want = float(
        piq_vifp(torch.from_numpy(b)[None, None], torch.from_numpy(a)[None, None], data_range=255.0)
    )
    got = to_np(vifp(a[None, :, :, None], b[None, :, :, None]))[0]
    np.testing.assert_allclose(got, want, rtol=rtol("vifp/piq"))


# --- properties -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(METRICS))
def test_identity_is_one_and_monotone_in_noise(photo, name):
    fn = METRICS[name]
    x = photo[None].astype(np.float32)
    np.testing.assert_allclose(to_np(fn(x, x)), [1.0], atol=1e-5)
    noisier = [noisy(photo, s)[None] for s in (4, 8, 16, 32, 64)]
    scores = [to_np(fn(x, n))[0] for n in noisier]
    assert all(a > b for a, b in itertools.pairwise(scores)), scores
    assert 0 < scores[-1] < scores[0] < 1


@pytest.mark.parametrize("name", sorted(METRICS))
def test_parts_sum_to_the_score(photo, name):
    parts = {"vif": vif_subbands, "vifp": vifp_scales}[name]
    x, y = photo[None].astype(np.float32), noisy(photo, 10)[None]
    num, den = (to_np(t) for t in parts(x, y))
    assert num.shape == den.shape == (1, {"vif": 8, "vifp": 4}[name])
    assert (den > 0).all() and (num >= 0).all()
    np.testing.assert_allclose(num.sum() / den.sum(), to_np(METRICS[name](x, y))[0], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_data_range_invariance(photo, name):
    assert_data_range_invariance(METRICS[name], photo, rtol(f"{name}/range"), uint8=True)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_bad_inputs_raise_value_error(name):
    fn = METRICS[name]
    a = np.zeros((1, 64, 64, 3), np.float32)
    with pytest.raises(ValueError, match="same shape"):
        fn(a, np.zeros((1, 64, 62, 3), np.float32))
    with pytest.raises(ValueError, match="rank 4"):
        fn(a[0], a[0])
    with pytest.raises(ValueError, match="channels"):
        fn(np.zeros((1, 64, 64, 2)), np.zeros((1, 64, 64, 2)))
    with pytest.raises(ValueError, match="data_range"):
        fn(a, a, data_range=0)
    with pytest.raises(ValueError, match="at least"):
        fn(a[:, :20, :20], a[:, :20, :20])


@pytest.mark.parametrize("case", sorted(GRADIENT_CASES_WITH_WHITE))
@pytest.mark.parametrize("name", sorted(METRICS))
def test_gradients_are_finite(photo, name, case):
    x0, y0 = GRADIENT_CASES_WITH_WHITE[case](photo[None, :96, :96].astype(np.float32))
    assert_gradients_finite(METRICS[name], x0, y0, (name, case))


NONZERO_CASES = {
    # VIF is not stationary at y = x (more contrast raises it above 1): a real gradient there.
    "identical": lambda img, rng: img,
    # A blank output (a fresh network's) next to black or white: the score still pulls.
    "near_black": lambda img, rng: rng.uniform(0, 2, img.shape).astype(np.float32),
    "near_white": lambda img, rng: 255 - rng.uniform(0, 2, img.shape).astype(np.float32),
}


@pytest.mark.parametrize("case", sorted(NONZERO_CASES))
@pytest.mark.parametrize("name", sorted(METRICS))
def test_loss_gradient_is_nonzero(photo, name, case):
    x = tf.constant(photo[None, :96, :96].astype(np.float32))
    y = tf.Variable(NONZERO_CASES[case](x.numpy(), np.random.default_rng(1)))
    with tf.GradientTape() as tape:
        loss = 1.0 - tf.reduce_mean(METRICS[name](x, y))
    g = to_np(tape.gradient(loss, y))
    assert np.isfinite(g).all() and np.abs(g).max() > 0, (name, case)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_a_step_against_the_loss_gradient_improves_the_score(photo, name):
    x = tf.constant(photo[None].astype(np.float32))
    y = tf.Variable(noisy(photo, 20)[None])
    with tf.GradientTape() as tape:
        loss = 1.0 - tf.reduce_mean(METRICS[name](x, y))
    g = to_np(tape.gradient(loss, y))
    better = METRICS[name](x, y - 4.0 * g / np.abs(g).max())
    assert to_np(better)[0] > to_np(METRICS[name](x, y))[0]


@pytest.mark.parametrize("name", sorted(METRICS))
def test_float32_inside_under_mixed_precision(photo, name):
    assert_float32_under_mixed_precision(METRICS[name], photo)


def test_batch_gives_one_score_per_image(photo):
    assert_batch_equals_single((vif, vifp), photo, rtol=1e-5)


def test_graph_mode_matches_eager(photo):
    x, y = photo[None, :96, :96].astype(np.float32), noisy(photo[:96, :96], 10)[None]
    for fn in (vif, vifp):
        np.testing.assert_allclose(to_np(tf.function(fn)(x, y)), to_np(fn(x, y)), rtol=1e-6)


# --- JAX backend ------------------------------------------------------------------------------


def test_same_numbers_under_jax_backend(jax_numbers):
    x, y = jax_pair(JAX_JOB)
    for name, fn in METRICS.items():
        np.testing.assert_allclose(jax_numbers[name], to_np(fn(x, y))[0], rtol=rtol(f"{name}/jax"))


@pytest.mark.slow
def test_gradients_under_jax_backend_are_finite_and_nonzero():
    results = jax_results(("vif_vifp_nlpd_grad",))
    if results is None:
        pytest.skip("jax not installed (pip install jax)")
    for name in METRICS:
        assert results[f"{name}_grad_finite"] and results[f"{name}_grad_nonzero"], results
