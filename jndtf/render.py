"""One renderer for map pictures: a fixed colour map, a colour bar, ticks and units.

Every command that writes a map PNG (``jndtf priors``, ``baseline``, ``jnd``, ``demo``,
``eval --save-images``, ``stream --save-maps``) draws it here, so a colour means the same value
in every picture jndtf makes. The ``.npy`` beside a PNG keeps the exact values; the PNG is for
reading.

The picture (:func:`render_map`):

- the map in the **inferno** colour map (OpenCV's ``COLORMAP_INFERNO``, the same 256 colours as
  matplotlib's ``inferno``: perceptually uniform, readable by colour-blind viewers, and
  monotonic in lightness, so it still reads correctly printed in grey): ``0`` is black, `vmax`
  is pale yellow, values above `vmax` are drawn as `vmax`;
- under it a colour bar from 0 to `vmax` with its two ticks and the label, e.g.
  ``JND (grey levels)``; the top tick reads ``12.3+`` when some values were above `vmax`
  (clipped in the picture, never in the ``.npy``);
- a 3-channel map (full-RGB JND models) is drawn as its channel mean and the label says
  ``mean of R, G, B``.

`vmax` defaults to the map's 99.5th percentile (a few bright outliers do not wash the picture
out); pass a fixed `vmax` to compare pictures with each other (``jndtf stream`` uses one value for
every frame). Maps that live in 0..1 (saliency, edge protection) take ``units="unitless"`` and
``vmax=1``. Numpy and OpenCV only (core: no TensorFlow, no matplotlib).

Example:
    >>> from jndtf.render import render_map
    >>> rgb = render_map(jnd)                    # HxW or HxWxC float, grey levels
    >>> rgb.shape[1] >= jnd.shape[1], rgb.dtype
    (True, dtype('uint8'))
    >>> render_map(saliency, units="unitless", vmax=1.0, label="saliency")
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: The colour map of every map picture (OpenCV's copy of matplotlib's ``inferno``).
COLOUR_MAP = "inferno"
_CV_COLOUR_MAP = cv2.COLORMAP_INFERNO

#: Percentile of the map drawn as the top colour when no `vmax` is given.
AUTO_PERCENTILE = 99.5

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_INK = (0, 0, 0)
_PAPER = 255


@dataclass(frozen=True)
class Scale:
    """The value range a picture shows: 0 -> first colour, `vmax` -> last colour.

    Attributes:
        vmax: the value drawn in the last colour (same units as the map).
        clipped: True when some values of the map exceed `vmax` (the top tick reads ``vmax+``).
        channels: the map's channel count (3: the picture shows the channel mean).
    """

    vmax: float
    clipped: bool
    channels: int


def _as_2d(value: np.ndarray) -> tuple[np.ndarray, int]:
    m = np.asarray(value, dtype=np.float32)
    if m.ndim == 3:
        channels = m.shape[2]
        if channels < 1:
            raise ValueError(f"a map is HxW or HxWxC, got shape {m.shape}")
        m = m[..., 0] if channels == 1 else m.mean(axis=2)
    elif m.ndim == 2:
        channels = 1
    else:
        raise ValueError(f"a map is HxW or HxWxC, got shape {np.shape(value)}")
    if m.size == 0:
        raise ValueError(f"the map is empty (shape {np.shape(value)})")
    if not np.all(np.isfinite(m)):
        raise ValueError("the map contains NaN or Inf values; nothing to draw")
    return m, channels


def scale_of(value: np.ndarray, vmax: float | None = None) -> Scale:
    """The :class:`Scale` :func:`render_map` uses for `value` (the numbers on its colour bar).

    Args:
        value: ``HxW`` or ``HxWxC`` float map (a 3-channel map counts by its channel mean).
        vmax: the top of the scale; None: the map's 99.5th percentile (1.0 if that is 0).

    Raises:
        ValueError: not a 2-D/3-D finite map, or `vmax` not a positive finite number.
    """
    m, channels = _as_2d(value)
    if vmax is None:
        top = float(np.percentile(m, AUTO_PERCENTILE))
        top = top if top > 0 else 1.0
    else:
        top = float(vmax)
        if not (math.isfinite(top) and top > 0):
            raise ValueError(f"vmax must be a positive number, got {vmax!r}")
    return Scale(vmax=top, clipped=bool(float(m.max()) > top), channels=channels)


def colourize(value: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """The map alone in the colour map, no bar: uint8 RGB ``HxWx3``.

    Index into the 256 colours: ``round(255 · clip(v, 0, vmax) / vmax)``.
    """
    m, _ = _as_2d(value)
    top = scale_of(value, vmax).vmax
    index = np.clip(np.round(m * (255.0 / top)), 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(index, _CV_COLOUR_MAP), cv2.COLOR_BGR2RGB)


def _tick(v: float) -> str:
    return f"{v:.3g}"


def bar_label(label: str, units: str, channels: int = 1) -> str:
    """The colour bar's caption: ``JND (grey levels)``, ``saliency (unitless)``, and
    ``JND (grey levels, mean of R, G, B)`` for a 3-channel map."""
    inner = units if channels != 3 else f"{units}, mean of R, G, B"
    return f"{label} ({inner})" if inner else label


def _font(width: int) -> tuple[float, int]:
    """Font scale and stroke for a picture `width` pixels wide (readable from 32 px to 8K)."""
    size = min(max(width / 2000.0, 0.4), 2.0)
    return size, max(1, round(size * 1.5))


def bar_width_needed(caption: str, lo: str, hi: str, width: int) -> int:
    """The smallest picture width that fits the bar's ticks and caption on one line."""
    size, stroke = _font(width)
    (w_lo, h), _ = cv2.getTextSize(lo, _FONT, size, stroke)
    (w_hi, _), _ = cv2.getTextSize(hi, _FONT, size, stroke)
    (w_cap, _), _ = cv2.getTextSize(caption, _FONT, size, stroke)
    return int(w_lo + w_cap + w_hi + 6 * h)


def colour_bar(width: int, scale: Scale, *, units: str, label: str = "JND") -> np.ndarray:
    """The strip under a map picture: bar from 0 to ``scale.vmax``, ticks, caption.

    uint8 RGB ``hx width x3`` on white; `width` is used as given (see :func:`bar_width_needed`).
    """
    size, stroke = _font(width)
    (_, th), base = cv2.getTextSize("0", _FONT, size, stroke)
    margin = th
    bar_h = max(6, round(1.5 * th))
    tick_len = max(2, th // 2)
    height = margin + bar_h + tick_len + th + base + margin + th // 2
    strip = np.full((height, width, 3), _PAPER, np.uint8)
    x0, x1 = margin, width - margin - 1
    ramp = np.linspace(0, 255, max(x1 - x0 + 1, 2)).round().astype(np.uint8)[None, :]
    colours = cv2.cvtColor(cv2.applyColorMap(ramp, _CV_COLOUR_MAP), cv2.COLOR_BGR2RGB)
    y0 = margin
    strip[y0 : y0 + bar_h, x0 : x1 + 1] = colours[:, : x1 - x0 + 1]
    cv2.rectangle(strip, (x0 - 1, y0 - 1), (x1 + 1, y0 + bar_h), _INK, 1)  # frame outside
    for x in (x0, x1):
        cv2.line(strip, (x, y0 + bar_h), (x, y0 + bar_h + tick_len), _INK, stroke)
    lo, hi = _tick(0.0), _tick(scale.vmax) + ("+" if scale.clipped else "")
    caption = bar_label(label, units, scale.channels)
    y_text = y0 + bar_h + tick_len + th + base // 2
    (w_hi, _), _ = cv2.getTextSize(hi, _FONT, size, stroke)
    (w_cap, _), _ = cv2.getTextSize(caption, _FONT, size, stroke)
    cv2.putText(strip, lo, (x0, y_text), _FONT, size, _INK, stroke, cv2.LINE_AA)
    cv2.putText(strip, hi, (x1 - w_hi, y_text), _FONT, size, _INK, stroke, cv2.LINE_AA)
    cv2.putText(
        strip, caption, ((width - w_cap) // 2, y_text), _FONT, size, _INK, stroke, cv2.LINE_AA
    )
    return strip


def with_colour_bar(
    picture: np.ndarray, scale: Scale, *, units: str, label: str = "JND"
) -> np.ndarray:
    """`picture` (uint8 RGB, e.g. several panels side by side) above the colour bar of `scale`;
    a picture narrower than the bar's text is padded on the right with white."""
    pic = np.asarray(picture, dtype=np.uint8)
    h, w = pic.shape[:2]
    caption = bar_label(label, units, scale.channels)
    hi = _tick(scale.vmax) + ("+" if scale.clipped else "")
    width = max(w, bar_width_needed(caption, _tick(0.0), hi, w))
    if width > w:
        pad = np.full((h, width - w, 3), _PAPER, np.uint8)
        pic = np.concatenate([pic, pad], axis=1)
    return np.concatenate([pic, colour_bar(width, scale, units=units, label=label)], axis=0)


def render_map(
    value: np.ndarray,
    *,
    units: str = "grey levels",
    vmax: float | None = None,
    label: str = "JND",
) -> np.ndarray:
    """A map as a picture people can read: colour map + colour bar with ticks and units.

    Args:
        value: ``HxW`` or ``HxWxC`` float map (JND maps in grey levels 0..255; a 3-channel map
            is drawn as its channel mean).
        units: the map's units, printed in the caption (``"grey levels"``; ``"unitless"`` for
            0..1 maps such as saliency and edge protection).
        vmax: the value drawn in the top colour; None: the map's 99.5th percentile.
        label: what the map is (``"JND"``, ``"saliency"``, ...), printed before the units.

    Returns:
        uint8 RGB image: the map's ``H x W`` pixels top left (the top rows and left columns are
        the map, pixel for pixel), the colour bar under it; width ``max(W, what the caption
        needs)``.

    Raises:
        ValueError: not a 2-D/3-D finite map, or `vmax` not a positive number.
    """
    scale = scale_of(value, vmax)
    return with_colour_bar(colourize(value, scale.vmax), scale, units=units, label=label)
