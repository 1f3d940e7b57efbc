"""The one map renderer (jndtf.render): colours against matplotlib's inferno table, the scale
against numpy's percentile, and every map-writing command going through it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from jndtf.render import bar_label, colourize, render_map, scale_of


def _inferno(index: np.ndarray) -> np.ndarray:
    """matplotlib's inferno (the independent table OpenCV's COLORMAP_INFERNO copies), uint8 RGB."""
    mpl = pytest.importorskip("matplotlib")
    table = np.asarray(mpl.colormaps["inferno"](np.arange(256) / 255.0))[:, :3]
    return np.round(table * 255).astype(np.uint8)[index]


def test_map_pixels_are_matplotlibs_inferno_of_the_scaled_value():
    rng = np.random.default_rng(0)
    jnd = rng.uniform(0, 20, (40, 56)).astype(np.float32)
    rgb = render_map(jnd, vmax=16.0)
    expected = _inferno(np.clip(np.round(jnd / 16.0 * 255), 0, 255).astype(int))
    # exact: OpenCV's table equals matplotlib's rounded to uint8 (checked entry by entry on
    # opencv-python-headless 5.0); an index off by one rounding would differ by whole levels
    np.testing.assert_array_equal(rgb[:40, :56], expected)
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert rgb.shape[0] > 40  # the colour bar is under the map


def test_default_vmax_is_the_99_5th_percentile_and_clipping_is_flagged():
    ramp = np.arange(1000, dtype=np.float32).reshape(20, 50)
    s = scale_of(ramp)
    # closed form of numpy's linear percentile on 0..999: 0.995 * 999
    assert s.vmax == pytest.approx(0.995 * 999, rel=1e-6)  # float32 input, float64 maths
    assert s.clipped and s.channels == 1
    assert not scale_of(ramp, vmax=999.0).clipped
    assert scale_of(np.zeros((8, 8))).vmax == 1.0  # an all-zero map still gets a scale


def test_three_channel_maps_are_drawn_as_their_channel_mean():
    rng = np.random.default_rng(1)
    rgb_map = rng.uniform(0, 10, (32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(colourize(rgb_map, 10.0), colourize(rgb_map.mean(axis=2), 10.0))
    assert bar_label("JND", "grey levels", 3) == "JND (grey levels, mean of R, G, B)"
    assert bar_label("JND", "grey levels", 1) == "JND (grey levels)"


def test_colour_bar_runs_from_black_to_the_top_colour_in_rising_lightness():
    rgb = render_map(np.full((64, 400), 5.0, np.float32), vmax=10.0)
    strip = rgb[64:]
    # the bar: the strip's rows that are mostly colour (not white paper, not text)
    paper = (strip == 255).all(-1)
    rows = np.flatnonzero((~paper).mean(axis=1) > 0.9)
    row = strip[rows[len(rows) // 2]]
    inside = row[~(row == 255).all(-1) & ~(row == 0).all(-1)]  # drop paper and the black frame
    lightness = cv2.cvtColor(inside[None], cv2.COLOR_RGB2Lab)[0, :, 0].astype(int)
    # inferno is monotonic in CIE L*; uint8 Lab rounding allows a 1-level dip between neighbours
    assert np.all(np.diff(lightness) >= -1)
    assert lightness[-1] - lightness[0] > 200  # black to pale yellow
    np.testing.assert_array_equal(inside[-1], _inferno(np.array(255)))


def test_narrow_maps_get_a_bar_wide_enough_for_its_caption():
    m = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    rgb = render_map(m, units="unitless", vmax=1.0, label="saliency")
    caption = bar_label("saliency", "unitless")
    (w, _), _ = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
    assert rgb.shape[1] > w + 32
    assert (rgb[:32, 32:] == 255).all()  # padding to the right of the map is white paper
    # the caption differs from the JND one, so the picture does too
    assert not np.array_equal(rgb, render_map(m, vmax=1.0))


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (np.zeros((4, 4, 3, 2)), {}, "HxW or HxWxC"),
        (np.full((8, 8), np.nan), {}, "NaN or Inf"),
        (np.ones((8, 8)), {"vmax": 0.0}, "vmax must be a positive number"),
        (np.ones((8, 8)), {"vmax": float("inf")}, "vmax must be a positive number"),
    ],
)
def test_bad_maps_are_refused_with_a_reason(value, kwargs, message):
    with pytest.raises(ValueError, match=message):
        render_map(value, **kwargs)


def test_write_map_draws_jnd_maps_and_unit_priors_with_their_scales(tmp_path):
    from jndtf.io import load_image
    from jndtf.jobs import write_map

    rng = np.random.default_rng(2)
    jnd = rng.uniform(0, 30, (48, 64, 1)).astype(np.float32)
    sal = rng.uniform(0, 1, (48, 64)).astype(np.float32)
    npy, png = write_map(tmp_path, "jnd_wu2017", jnd)
    np.testing.assert_array_equal(np.load(npy), jnd)  # the .npy keeps the exact values
    np.testing.assert_array_equal(load_image(png), render_map(jnd))
    _, png = write_map(tmp_path, "saliency", sal)
    expected = render_map(sal, units="unitless", vmax=1.0, label="saliency")
    np.testing.assert_array_equal(load_image(png), expected)
