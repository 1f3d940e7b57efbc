"""Prior modality acquisition (PMA) of hmJND-Net: saliency, depth and segmentation maps (core).

hmJND-Net (Xie, Wang et al., "Just Noticeable Visual Redundancy Forecasting: A Deep Multimodal-
driven Approach", AAAI 2023, §3.1 and eq. (4)) feeds three modality maps computed from the RGB
image into its HMPF module: saliency (BASNet in the paper), depth (DPT-Hybrid) and segmentation
(BEiT). Those weights cannot be downloaded here (DESIGN.md, "Offline world"), so every modality
comes from a **provider** behind one interface, and training, evaluation and the edge runtime all
call the same provider code:

- a classical, training-free default (numpy, OpenCV, scikit-image; ``spec="classical"``):
  :class:`SaliencyProvider`, :class:`DepthCueProvider`, :class:`SegmentationProvider`;
- the user's own network by path (``spec="net.tflite"``, run by LiteRT without TensorFlow;
  ``spec="net.keras"``, checked here and loaded by a Keras loader the caller passes, see
  :class:`ModelProvider`) or a Keras model already in memory.

Every provider has the contract of :class:`ModalityProvider`: ``provider(image)`` takes a uint8
(or float 0..255) RGB ``HxWx3`` image and returns a float32 ``HxW`` map in 0..1, the size of the
image; ``provider.describe()`` returns the provider as JSON-ready data for a model manifest (name,
settings, sha256 of a user model file), so a trained model records which maps it saw.

How far the classical defaults are from the paper's networks (read before trusting them):

- **saliency** is the core's spectral residual (:func:`jndtf.priors.saliency.saliency`, Hou &
  Zhang 2007): a bottom-up "what differs from its surroundings" map, blob-like and soft, with no
  notion of objects. BASNet outputs a near-binary mask of the salient object with sharp boundaries;
  expect the spectral residual to light up high-contrast texture and small details instead of a
  whole object.
- **depth** is a *weak* relative-depth cue: local defocus (the re-blur gradient ratio of Zhuo &
  Sim, "Defocus map estimation from a single image", Pattern Recognition 44(9), 2011: sharp = in
  focus = taken as near) blended with a vertical-position prior (the ground plane: lower = nearer).
  It is right for shallow depth-of-field photos with the subject in focus and for scenes standing on
  a floor or ground; it is wrong for all-in-focus photos (the defocus term then follows edge
  sharpness, not distance), for close-ups whose blurred foreground lies in front of the focus, and
  for skies and ceilings (no edges: only the vertical term speaks). DPT-Hybrid predicts metric-like
  inverse depth from learned scene understanding; this cue shares only its convention (1 = near,
  0 = far, like DPT's inverse depth) and its coarse ordering on favourable photos.
- **segmentation** groups SLIC superpixels (Achanta et al., TPAMI 2012,
  :func:`skimage.segmentation.slic`) by mean colour (CIELAB) and texture (local standard
  deviation of L*) into regions, and outputs a region map: each region's value is its rank by
  texture (then lightness) scaled to 0..1, so flat regions (sky, walls) sit near 0 and textured
  ones (foliage, brick) near 1. This matches what eq. (9) uses the modality for (the "category
  information" that modulates the fused features, the paper's example being textured trees and
  houses versus flat sky and walls), but the regions are colour/texture clusters, not BEiT's 150
  semantic classes: two objects of similar colour and texture merge, and one object with two
  colours splits. ``output="boundaries"`` gives the region boundaries instead (1 on a boundary).

Example:
    >>> from skimage import data
    >>> stack = modality_stack(data.astronaut())        # saliency, depth, segmentation
    >>> stack.shape, stack.dtype
    ((512, 512, 3), dtype('float32'))
    >>> depth = get_provider("depth", "my_depth_net.tflite")
    >>> describe_stack({"depth": depth}, kinds=("depth",))[0]["model_sha256"]
"""

from __future__ import annotations

import hashlib
import heapq
import inspect
import json
import os
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from jndtf.io import MIN_SIDE, check_image, file_sha256, to_luma
from jndtf.priors.saliency import SALIENCY_METHODS, saliency

#: Network input channel name (registry modality, manifest ``inputs.channel_names``) ->
#: provider kind: how training, evaluation and the edge runtime name the same map.
MODALITY_CHANNELS = {"saliency_map": "saliency", "depth": "depth", "segmentation": "segmentation"}

#: The three modalities, in the channel order of :func:`modality_stack`.
KINDS = ("saliency", "depth", "segmentation")

#: The ``spec`` that selects the classical default of a modality.
CLASSICAL = "classical"

#: Smallest image side a user model is run on (the classical providers need jndtf's MIN_SIDE).
MODEL_MIN_SIDE = 8

#: Layer classes a ``.keras`` file must not contain: they hold Python code (marshalled bytecode or
#: a lambda) that deserialization would run. Keras 3 refuses them under ``safe_mode=True``;
#: :func:`check_keras_archive` refuses them before Keras is involved at all.
UNSAFE_KERAS_CLASSES = ("Lambda", "__lambda__", "TFOpLambda", "SlicingOpLambda")

#: Archive members refused in a ``.keras`` file: pickles are never loaded by jndtf.
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dill")

#: Smallest blur std the depth cue tells apart (px): sharper edges all count as fully sharp.
_SHARPEST = 0.5

#: Largest ``config.json`` read from a ``.keras`` archive (a real config is kilobytes).
_MAX_CONFIG_BYTES = 16 * 1024 * 1024


@runtime_checkable
class ModalityProvider(Protocol):
    """What every modality provider is: a function ``image -> map`` with a name and settings.

    Attributes:
        name: short name (``"spectral_residual"``, ``"defocus_vertical"``, ``"slic_regions"``, or
            the user model's file name).
        kind: one of :data:`KINDS`.
        settings: the settings that change the map (JSON-ready; recorded in manifests).
    """

    name: str
    kind: str
    settings: dict

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """uint8 (or float 0..255) RGB ``HxWx3`` -> float32 ``HxW`` in 0..1."""
        ...

    def describe(self) -> dict:
        """The provider as JSON-ready data for a manifest."""
        ...


def _minmax(m: np.ndarray) -> np.ndarray:
    """Min-max scaling to 0..1; a (numerically) constant map becomes all zeros."""
    lo, hi = float(m.min()), float(m.max())
    if not np.isfinite(hi - lo) or hi - lo <= 1e-9 * max(1.0, abs(hi)):
        return np.zeros(m.shape, np.float32)
    return ((m - lo) / (hi - lo)).astype(np.float32)


def _scaled_size(h: int, w: int, max_side: int | None) -> tuple[int, int]:
    """``(h, w)`` scaled so the long side is <= `max_side` (None: unchanged)."""
    if max_side is None or max(h, w) <= max_side:
        return h, w
    s = max_side / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def _check_max_side(max_side, least: int) -> None:
    if max_side is not None and (
        isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < least
    ):
        raise ValueError(f"max_side must be an integer >= {least} or None, got {max_side!r}")


class _Described:
    """describe() and fingerprint shared by the providers."""

    name: str
    kind: str
    settings: dict
    model_sha256: str | None = None

    def describe(self) -> dict:
        """The provider as JSON-ready data for a model manifest: kind, name, implementation,
        settings and the sha256 of a user model file (None for classical providers)."""
        return {
            "kind": self.kind,
            "name": self.name,
            "implementation": f"{__name__}.{type(self).__name__}",
            "settings": dict(self.settings),
            "model_sha256": self.model_sha256,
        }

    @property
    def fingerprint(self) -> str:
        """sha256 (hex) of :meth:`describe`: part of any cache key holding this provider's maps."""
        return hashlib.sha256(json.dumps(self.describe(), sort_keys=True).encode()).hexdigest()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kind}: {self.name}, {self.settings})"


# --------------------------------------------------------------------------- saliency


class SaliencyProvider(_Described):
    """Classical saliency modality: :func:`jndtf.priors.saliency.saliency` (spectral residual).

    Stands in for BASNet (the paper's saliency network); see the module docstring for how far it
    is from it.

    Args:
        method: one of :data:`jndtf.priors.SALIENCY_METHODS`.
        centre_weight: strength of the centre prior (``"spectral_residual_centre"`` only).
        centre_sigma: width of the centre prior as a fraction of the image side.

    Example:
        >>> SaliencyProvider()(image).shape == image.shape[:2]
        True
    """

    kind = "saliency"

    def __init__(
        self,
        *,
        method: str = "spectral_residual",
        centre_weight: float = 0.5,
        centre_sigma: float = 0.25,
    ):
        if method not in SALIENCY_METHODS:
            raise ValueError(f"unknown saliency method {method!r}; choose from {SALIENCY_METHODS}")
        if not 0.0 <= centre_weight <= 1.0:
            raise ValueError(f"centre_weight must be in 0..1, got {centre_weight}")
        if centre_sigma <= 0:
            raise ValueError(f"centre_sigma must be > 0, got {centre_sigma}")
        self.name = method
        self.settings = {"method": method}
        if method == "spectral_residual_centre":
            self.settings |= {"centre_weight": float(centre_weight), "centre_sigma": centre_sigma}

    def __call__(self, image: np.ndarray) -> np.ndarray:
        rgb = check_image(image)
        return saliency(rgb, **self.settings)


# --------------------------------------------------------------------------- depth


#: Variance (px^2) the pixel grid and the Sobel derivative add to an edge's blur estimate:
#: measured on a step edge blurred by cv2.GaussianBlur with sigma 1, 2, 3 px, whose raw
#: estimates were 1.259, 2.128, 3.084 px (0.58, 0.53, 0.51 px^2 above sigma^2).
_SAMPLING_VARIANCE = 0.5


def defocus_blur(
    luma: np.ndarray, *, sigma0: float = 1.0, min_gradient: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel defocus blur at edges by the re-blur gradient ratio (Zhuo & Sim 2011).

    An edge of amplitude ``A`` blurred by a Gaussian of std ``s`` has the peak gradient
    ``A / (sqrt(2 pi) s)``. Blurring it again by ``sigma0`` gives ``A / (sqrt(2 pi)
    sqrt(s^2 + sigma0^2))``, so the ratio ``R = |grad I| / |grad (g_sigma0 * I)|`` at the edge
    gives ``s = sigma0 / sqrt(R^2 - 1)`` (the paper's eqs. (4)-(5)), independently of the edge's
    contrast ``A``. Gradients are Sobel 3x3 on the luma; the pixel grid and the discrete
    derivative add about 0.5 px^2 of variance to an edge (:data:`_SAMPLING_VARIANCE`), which is
    subtracted: ``s = sqrt(max(s_raw^2 - 0.5, 0))``.

    Args:
        luma: float ``HxW`` luma in 0..255.
        sigma0: re-blur std in pixels (> 0).
        min_gradient: gradient magnitude (grey levels per pixel) below which a pixel is not an edge.

    Returns:
        ``(sigma, weight)``: float32 ``HxW`` blur std in pixels (0 where ``weight`` is 0; R is
        floored at 1.0001 so a fully blurred edge stays finite) and the edge weight, the gradient
        magnitude where it exceeds `min_gradient` and is a local maximum across the edge, else 0.

    Example:
        >>> sigma, w = defocus_blur(to_luma(image))
        >>> float(np.average(sigma, weights=w))        # mean blur of the edges, pixels
    """
    if sigma0 <= 0:
        raise ValueError(f"sigma0 must be > 0, got {sigma0}")
    x = np.asarray(luma, np.float32)
    gx = cv2.Sobel(x, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(x, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
    g1 = np.hypot(gx, gy) / 8.0  # Sobel 3x3 sums 8x the central difference per pixel
    xb = cv2.GaussianBlur(x, (0, 0), sigma0, borderType=cv2.BORDER_REFLECT)
    bx = cv2.Sobel(xb, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
    by = cv2.Sobel(xb, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
    g2 = np.hypot(bx, by) / 8.0
    # the ratio holds at the edge's centre, where the gradient peaks: keep 3x3 maxima only
    peak = g1 >= cv2.dilate(g1, np.ones((3, 3), np.uint8))
    edge = peak & (g1 > min_gradient)
    ratio = np.maximum(g1 / np.maximum(g2, 1e-6), 1.0001)
    raw = sigma0 / np.sqrt(ratio**2 - 1.0)
    sigma = np.sqrt(np.maximum(raw**2 - _SAMPLING_VARIANCE, 0.0))
    sigma = np.where(edge, sigma, 0.0).astype(np.float32)
    weight = np.where(edge, g1, 0.0).astype(np.float32)
    return sigma, weight


class DepthCueProvider(_Described):
    """Classical relative-depth modality: defocus sharpness blended with a vertical prior.

    ``near = minmax(a * S + b * V)`` with ``V = y / (H - 1)`` (0 at the top row, 1 at the bottom:
    the ground-plane prior) and ``S`` the sharpness in 0..1: the blur std ``s`` of
    :func:`defocus_blur` at edges, clipped to ``[0.5, max_blur]`` px, turned into sharpness
    ``1 / s``, spread from the edges over the image by normalized convolution (Gaussian of
    `spread` times the short side, weights = edge gradients; where no edge is near it falls to
    ``1 / max_blur``: no visible focus reads as far), and mapped linearly from
    ``[1 / max_blur, 1 / 0.5]`` to 0..1 (a fixed scale, so a uniformly blurred photo reads far
    everywhere instead of being stretched). A flat image has no defocus cue: ``S`` is 0 and the
    map is ``V`` alone. Output: float32 ``HxW`` in 0..1, **1 = near, 0 = far** (the
    convention of DPT's inverse depth). A weak cue: see the module docstring.

    Args:
        sharpness_weight: ``a`` (>= 0).
        vertical_weight: ``b`` (>= 0; ``a + b > 0``).
        max_side: long side of the working image in pixels (the map is computed there and resized
            back, bilinear); None: full resolution.
        spread: std of the spreading Gaussian as a fraction of the working image's short side.
        max_blur: largest blur std counted, pixels at working resolution.

    Example:
        >>> near = DepthCueProvider()(image)          # float32 HxW, 1 = near
    """

    kind = "depth"
    name = "defocus_vertical"

    def __init__(
        self,
        *,
        sharpness_weight: float = 0.6,
        vertical_weight: float = 0.4,
        max_side: int | None = 512,
        spread: float = 1 / 16,
        max_blur: float = 8.0,
    ):
        if sharpness_weight < 0 or vertical_weight < 0 or sharpness_weight + vertical_weight <= 0:
            raise ValueError(
                "sharpness_weight and vertical_weight must be >= 0 with a positive sum, got "
                f"{sharpness_weight} and {vertical_weight}"
            )
        _check_max_side(max_side, MIN_SIDE)
        if not 0 < spread <= 1:
            raise ValueError(f"spread must be in (0, 1], got {spread}")
        if max_blur <= 0.5:
            raise ValueError(f"max_blur must be > 0.5 pixels, got {max_blur}")
        self.settings = {
            "sharpness_weight": float(sharpness_weight),
            "vertical_weight": float(vertical_weight),
            "max_side": max_side,
            "spread": float(spread),
            "max_blur": float(max_blur),
            "defocus_sigma0": 1.0,
        }

    def sharpness(self, luma: np.ndarray) -> np.ndarray:
        """The sharpness map ``S`` (float32 ``HxW`` in 0..1) of a working-size luma."""
        st = self.settings
        sigma, weight = defocus_blur(luma, sigma0=st["defocus_sigma0"])
        if not np.any(weight > 0):
            return np.zeros(luma.shape, np.float32)
        far, sharpest = 1.0 / st["max_blur"], 1.0 / _SHARPEST
        sharp = 1.0 / np.clip(sigma, _SHARPEST, st["max_blur"])
        spread = st["spread"] * min(luma.shape)
        num = cv2.GaussianBlur(weight * sharp, (0, 0), spread, borderType=cv2.BORDER_REFLECT)
        den = cv2.GaussianBlur(weight, (0, 0), spread, borderType=cv2.BORDER_REFLECT)
        # edge-free areas (den far below a tenth of the densest edge support) drift to "far":
        # no visible focus is read as out of focus
        c = 0.1 * float(den.max())
        dense = (num + c * far) / (den + c)
        return np.clip((dense - far) / (sharpest - far), 0.0, 1.0).astype(np.float32)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        rgb = check_image(image)
        h, w = rgb.shape[:2]
        sh, sw = _scaled_size(h, w, self.settings["max_side"])
        luma = to_luma(rgb)
        if (sh, sw) != (h, w):
            luma = cv2.resize(luma, (sw, sh), interpolation=cv2.INTER_AREA)
        vertical = np.repeat((np.arange(sh, dtype=np.float32) / max(sh - 1, 1))[:, None], sw, 1)
        a, b = self.settings["sharpness_weight"], self.settings["vertical_weight"]
        near = a * self.sharpness(luma) + b * vertical
        near = _minmax(near)
        if (sh, sw) != (h, w):
            near = cv2.resize(near, (w, h), interpolation=cv2.INTER_LINEAR)
        return np.clip(near, 0.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------- segmentation


def _local_std(x: np.ndarray, size: int = 5) -> np.ndarray:
    """Standard deviation of `x` in a `size` x `size` window (reflected borders)."""
    x = x.astype(np.float64)
    m = cv2.blur(x, (size, size), borderType=cv2.BORDER_REFLECT)
    m2 = cv2.blur(x * x, (size, size), borderType=cv2.BORDER_REFLECT)
    return np.sqrt(np.maximum(m2 - m * m, 0.0))


def _median_by_label(labels: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Median of `values` per label 0..n-1 (lower median for an even count)."""
    order = np.lexsort((values, labels))
    counts = np.bincount(labels, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return values[order][starts + (counts - 1) // 2]


def _merge_regions(
    labels: np.ndarray, features: np.ndarray, sizes: np.ndarray, threshold: float
) -> np.ndarray:
    """Average-linkage merging of adjacent superpixels: the closest adjacent pair (Euclidean
    distance of size-weighted mean features) merges while it is closer than `threshold`.

    Returns the region index (0..K-1, in order of first superpixel) of every superpixel.
    Deterministic: ties break on the superpixel indices.
    """
    n = len(sizes)
    a = np.concatenate([labels[:, :-1].ravel(), labels[:-1, :].ravel()])
    b = np.concatenate([labels[:, 1:].ravel(), labels[1:, :].ravel()])
    pairs = np.unique(np.sort(np.stack([a[a != b], b[a != b]], 1), axis=1), axis=0)
    neighbours: list[set[int]] = [set() for _ in range(n)]
    for i, j in pairs.tolist():
        neighbours[i].add(j)
        neighbours[j].add(i)
    feat = features.astype(np.float64).copy()
    size = sizes.astype(np.float64).copy()
    alive = np.ones(n, bool)
    parent = np.arange(n)

    def dist(i: int, j: int) -> float:
        return float(np.linalg.norm(feat[i] - feat[j]))

    heap = [(dist(i, j), i, j) for i, j in pairs.tolist()]
    heapq.heapify(heap)
    while heap:
        d, i, j = heapq.heappop(heap)
        if d >= threshold:
            break
        if not (alive[i] and alive[j]) or j not in neighbours[i]:
            continue
        if abs(d - dist(i, j)) > 1e-9:  # stale: a mean changed since it was pushed
            continue
        # merge j into i
        feat[i] = (feat[i] * size[i] + feat[j] * size[j]) / (size[i] + size[j])
        size[i] += size[j]
        alive[j] = False
        parent[j] = i
        for k in neighbours[j]:
            neighbours[k].discard(j)
            if k != i:
                neighbours[k].add(i)
                neighbours[i].add(k)
        neighbours[j] = set()
        for k in sorted(neighbours[i]):
            heapq.heappush(heap, (dist(min(i, k), max(i, k)), min(i, k), max(i, k)))

    def root(k: int) -> int:
        while parent[k] != k:
            k = parent[k]
        return k

    roots = np.array([root(k) for k in range(n)])
    _, region = np.unique(roots, return_inverse=True)
    return region


class SegmentationProvider(_Described):
    """Classical segmentation modality: SLIC superpixels grouped by colour and texture.

    1. Per pixel, on the image scaled to `max_side`: CIELAB and the texture, the 5x5 local
       standard deviation of L* after a 7x7 grey opening (a step edge leaves a ridge of local std
       as wide as the window; the opening removes ridges thinner than 7 px and keeps texture that
       fills an area).
    2. SLIC (:func:`skimage.segmentation.slic`, `n_segments`, `compactness` in CIELAB units) on
       CIELAB + ``texture_weight`` x texture, so superpixels follow texture boundaries as well as
       colour ones (on colour alone, a noise-like texture beside a flat area of the same mean
       colour gets superpixels that straddle both). Per superpixel: colour = the median of the
       5x5 local-mean CIELAB over its pixels (a noise-like texture's superpixels then share its
       mean colour; the median ignores a rim along an edge), texture = the median texture.
    3. Adjacent superpixels merge (average linkage) while the distance
       ``sqrt(dE^2 + (texture_weight * d_texture)^2)`` (CIE76 colour difference; L* units) of their
       regions is below `threshold`.
    4. ``output="regions"``: each region's value is its rank by (texture, then mean L*) over
       ``K - 1`` regions (0 = the flattest region, 1 = the most textured; one region: all 0).
       ``output="boundaries"``: 1 on the pixels where the region changes (both sides), else 0.
       The region labels are resized back to the image size by nearest neighbour.

    This is the input eq. (9) of the hmJND-Net paper modulates the fused saliency/depth features
    with; see the module docstring for how far it is from BEiT's semantic classes.

    Args:
        n_segments: approximate number of SLIC superpixels.
        compactness: SLIC's colour/space balance (higher: more square superpixels).
        threshold: merge distance in CIELAB units (dE 2.3 is a just-noticeable colour step).
        texture_weight: weight of the texture difference in the merge distance.
        max_side: long side of the working image (None: full resolution; SLIC costs ~1 s/MP).
        output: ``"regions"`` or ``"boundaries"``.

    Example:
        >>> regions = SegmentationProvider()(image)    # float32 HxW, one value per region
    """

    kind = "segmentation"
    OUTPUTS = ("regions", "boundaries")

    def __init__(
        self,
        *,
        n_segments: int = 200,
        compactness: float = 10.0,
        threshold: float = 12.0,
        texture_weight: float = 1.5,
        max_side: int | None = 320,
        output: str = "regions",
    ):
        if isinstance(n_segments, bool) or not isinstance(n_segments, int) or n_segments < 2:
            raise ValueError(f"n_segments must be an integer >= 2, got {n_segments!r}")
        if compactness <= 0 or threshold < 0 or texture_weight < 0:
            raise ValueError(
                "compactness must be > 0, threshold and texture_weight >= 0; got "
                f"{compactness}, {threshold}, {texture_weight}"
            )
        _check_max_side(max_side, MIN_SIDE)
        if output not in self.OUTPUTS:
            raise ValueError(f"output must be one of {self.OUTPUTS}, got {output!r}")
        self.name = "slic_regions" if output == "regions" else "slic_boundaries"
        self.settings = {
            "n_segments": n_segments,
            "compactness": float(compactness),
            "threshold": float(threshold),
            "texture_weight": float(texture_weight),
            "max_side": max_side,
            "output": output,
        }

    def regions(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(labels, value)``: int region labels ``HxW`` (0..K-1, at the image size) and each
        region's 0..1 value (its texture rank, step 4 above)."""
        from skimage.color import rgb2lab
        from skimage.segmentation import slic

        st = self.settings
        tw = st["texture_weight"]
        rgb = check_image(image)
        h, w = rgb.shape[:2]
        sh, sw = _scaled_size(h, w, st["max_side"])
        small = rgb.astype(np.float32)
        if (sh, sw) != (h, w):
            small = cv2.resize(small, (sw, sh), interpolation=cv2.INTER_AREA)
        lab = rgb2lab(np.clip(small / 255.0, 0.0, 1.0))
        # texture: the 5x5 local std of L*; a step edge gives a ridge of it as wide as the
        # window, which a 7x7 grey opening removes (texture that fills an area stays)
        tex = cv2.morphologyEx(
            _local_std(lab[..., 0]).astype(np.float32),
            cv2.MORPH_OPEN,
            np.ones((7, 7), np.uint8),
            borderType=cv2.BORDER_REFLECT,
        )
        # SLIC on CIELAB + weighted texture, so superpixels follow texture boundaries as well as
        # colour ones. slic rescales a non-RGB image by its overall value range before
        # clustering; dividing the compactness by that range keeps it in CIELAB units
        feature_image = np.dstack([lab, tw * tex])
        span = max(float(feature_image.max() - feature_image.min()), 1e-6)
        sp = slic(
            feature_image,
            n_segments=st["n_segments"],
            compactness=st["compactness"] / span,
            start_label=0,
            channel_axis=-1,
            convert2lab=False,
        )
        _, sp = np.unique(sp, return_inverse=True)  # consecutive 0..N-1
        sp = sp.reshape(sh, sw)
        n = int(sp.max()) + 1
        flat = sp.ravel()
        size = np.bincount(flat, minlength=n).astype(np.float64)
        # a superpixel's colour: the median of the 5x5 local mean (a noise-like texture's
        # superpixels then share its mean colour; the median ignores a rim along an edge)
        smooth = cv2.blur(lab, (5, 5), borderType=cv2.BORDER_REFLECT).reshape(-1, 3)
        mean = np.stack([_median_by_label(flat, smooth[:, c], n) for c in range(3)], 1)
        texture = _median_by_label(flat, tex.ravel(), n)
        feats = np.concatenate([mean, tw * texture[:, None]], 1)
        region = _merge_regions(sp, feats, size, st["threshold"])
        k = int(region.max()) + 1
        rsize = np.bincount(region, size, k)
        rtex = np.bincount(region, texture * size, k) / rsize
        rlight = np.bincount(region, mean[:, 0] * size, k) / rsize
        order = np.lexsort((np.round(rlight, 6), np.round(rtex, 6)))  # texture, then L*
        value = np.zeros(k, np.float32)
        if k > 1:
            value[order] = np.arange(k, dtype=np.float32) / (k - 1)
        labels = region[sp].astype(np.int32)
        if (sh, sw) != (h, w):
            labels = cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
        return labels, value

    def __call__(self, image: np.ndarray) -> np.ndarray:
        labels, value = self.regions(image)
        if self.settings["output"] == "regions":
            return value[labels]
        from skimage.segmentation import find_boundaries

        return find_boundaries(labels, mode="thick").astype(np.float32)


# --------------------------------------------------------------------------- user models


def check_keras_archive(path: str | os.PathLike) -> dict:
    """Checks a ``.keras`` file without Keras (and without unpickling anything) and returns its
    ``config.json``.

    A Keras 3 ``.keras`` file is a zip of ``config.json`` (the architecture, JSON),
    ``metadata.json`` and ``model.weights.h5``. Refused: a file that is not such a zip (a legacy
    HDF5 or pickled model renamed), an archive holding a pickle, and a config with a layer of
    :data:`UNSAFE_KERAS_CLASSES` (a ``Lambda`` stores Python bytecode that loading would run;
    Keras 3's ``safe_mode=True`` refuses it too, this check names the layer before Keras runs).

    Raises:
        ValueError: the reason, naming the file (and the layer).
    """
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path}: not a Keras 3 .keras archive (a zip holding config.json); legacy HDF5 and "
            "pickled models are refused: re-save it with keras.saving.save_model(model, "
            "'name.keras') or export it to .tflite"
        )
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pickles = [m for m in names if m.lower().endswith(_PICKLE_SUFFIXES)]
        if pickles:
            raise ValueError(f"{path}: refused: the archive holds pickled data {pickles}")
        if "config.json" not in names:
            raise ValueError(f"{path}: not a Keras 3 .keras archive (no config.json inside)")
        info = zf.getinfo("config.json")
        if info.file_size > _MAX_CONFIG_BYTES:
            raise ValueError(f"{path}: config.json is {info.file_size} bytes; refused as unreal")
        try:
            config = json.loads(zf.read("config.json"))
        except (ValueError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: config.json is not valid JSON ({err})") from None
    unsafe = _unsafe_layers(config)
    if unsafe:
        cls, name = unsafe[0]
        more = f" (and {len(unsafe) - 1} more)" if len(unsafe) > 1 else ""
        raise ValueError(
            f"{path}: refused by safe loading: layer {name!r} is a {cls} layer{more}, which "
            "stores Python code that loading would run (Keras safe_mode refuses it as well); "
            "rebuild the model with a registered custom layer instead, or export it to .tflite"
        )
    return config


def _unsafe_layers(node) -> list[tuple[str, str]]:
    """``(class_name, layer name)`` of every unsafe object in a Keras config tree."""
    found = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, dict):
            if n.get("class_name") in UNSAFE_KERAS_CLASSES:
                cfg = n.get("config")
                name = cfg.get("name", "?") if isinstance(cfg, dict) else "?"
                found.append((n["class_name"], str(name)))
            stack.extend(n.values())
        elif isinstance(n, list):
            stack.extend(n)
    return sorted(found)


class ModelProvider(_Described):
    """A user's network as a modality provider (``.tflite``, ``.keras`` or a Keras model object).

    **Contract of the network.** Input: float32 RGB in 0..1, NHWC ``(1, h, w, 3)``. Output:
    ``(1, h, w, 1)`` or ``(1, h, w)`` at the size of its input; a segmentation network may output
    ``(1, h, w, C)`` class scores with C > 1, taken as ``argmax / (C - 1)``. The image is
    area-resized so its long side is at most `max_side` (a fixed-shape model: to its input size),
    and the map is resized back to the image (bilinear; nearest for segmentation class maps).
    ``normalize="clip"`` clips the output to 0..1 (for networks that end in a sigmoid);
    ``"minmax"`` rescales each map to 0..1 (for unbounded outputs such as DPT's inverse depth; a
    constant map becomes 0). Default: ``"minmax"`` for depth, ``"clip"`` otherwise.

    **Loading.** A ``.tflite`` file runs in LiteRT (:func:`jndtf.litert.open_interpreter`, no
    TensorFlow). A ``.keras`` file is first checked without Keras (:func:`check_keras_archive`:
    no Lambda layers, no pickles), then loaded by `keras_loader`, a function ``path ->
    keras.Model`` from the training side (the core never imports Keras); it should be
    ``lambda p: keras.saving.load_model(p, compile=False, safe_mode=True)``, and a refusal by Keras
    safe mode is re-raised with the file and the reason. Other file types (``.h5``, ``.pkl``,
    SavedModel folders) are refused.

    Args:
        kind: one of :data:`KINDS`.
        model: a ``.tflite``/``.keras`` path, or a Keras model in memory (called, not imported).
        max_side: long side of the working image in pixels (None: the image's own size).
        normalize: ``"clip"`` or ``"minmax"`` (None: the kind's default).
        num_threads: LiteRT threads for a ``.tflite`` model.
        keras_loader: ``path -> keras.Model`` for a ``.keras`` path.

    Raises:
        FileNotFoundError: no such model file.
        ValueError: a refused file, or a network whose input is not ``(1, h, w, 3)`` float32 or
            whose output channels do not fit the kind (the message names the provider).
        ImportError: no LiteRT interpreter for a ``.tflite`` (names the pip extra).

    Example:
        >>> depth = ModelProvider("depth", "dpt_small.tflite", max_side=384)
        >>> near = depth(image)                        # float32 HxW in 0..1
    """

    NORMALIZE = ("clip", "minmax")

    def __init__(
        self,
        kind: str,
        model,
        *,
        max_side: int | None = 384,
        normalize: str | None = None,
        num_threads: int | None = None,
        keras_loader: Callable[[Path], object] | None = None,
    ):
        if kind not in KINDS:
            raise ValueError(f"unknown modality {kind!r}; choose from {KINDS}")
        _check_max_side(max_side, MODEL_MIN_SIDE)
        normalize = normalize or ("minmax" if kind == "depth" else "clip")
        if normalize not in self.NORMALIZE:
            raise ValueError(f"normalize must be one of {self.NORMALIZE}, got {normalize!r}")
        self.kind = kind
        self._interp = None
        self._keras = None
        self.path: Path | None = None
        if isinstance(model, (str, os.PathLike)):
            path = Path(model)
            if not path.is_file():
                raise FileNotFoundError(f"{kind} provider: model file {path} does not exist")
            self.path = path
            self.model_sha256 = file_sha256(path)
            suffix = path.suffix.lower()
            if suffix == ".tflite":
                from jndtf.litert import open_interpreter

                self.backend = "litert"
                self._interp = open_interpreter(path, num_threads=num_threads)
            elif suffix == ".keras":
                self.backend = "keras"
                check_keras_archive(path)
                self._keras = _load_keras(path, keras_loader, kind)
            else:
                raise ValueError(
                    f"{kind} provider {path}: a user model is a .tflite or .keras file "
                    f"(got {suffix or 'no suffix'}); HDF5, pickles and SavedModel folders are "
                    "refused (they can carry code); convert it to .keras or .tflite"
                )
            self.name = path.name
        else:
            if not (hasattr(model, "inputs") and callable(model)):
                raise ValueError(
                    f"{kind} provider: model must be a .tflite/.keras path or a Keras model, got "
                    f"{type(model).__name__}"
                )
            self.backend = "keras"
            self._keras = model
            self.model_sha256 = None
            self.name = f"in-memory:{getattr(model, 'name', type(model).__name__)}"
        self.fixed_size, self.out_channels = self._io()
        self.settings = {
            "model": None if self.path is None else str(self.path),
            "backend": self.backend,
            "max_side": max_side,
            "normalize": normalize,
            "fixed_size": None if self.fixed_size is None else list(self.fixed_size),
            "input": "RGB / 255, float32 NHWC, area-resized to the working size",
        }

    def _io(self) -> tuple[tuple[int, int] | None, int | None]:
        """Checks the network's input/output signature: ``(fixed (h, w) or None, out channels
        or None when the output rank leaves them implicit)``."""
        if self._keras is not None:
            ishape = tuple(self._keras.inputs[0].shape)
            oshape = tuple(self._keras.outputs[0].shape)
            idtype = "float32"
        else:
            inp = self._interp.get_input_details()[0]
            out = self._interp.get_output_details()[0]
            ishape = tuple(int(v) for v in inp.get("shape_signature", inp["shape"]))
            oshape = tuple(int(v) for v in out.get("shape_signature", out["shape"]))
            ishape = tuple(None if v < 0 else v for v in ishape)
            oshape = tuple(None if v < 0 else v for v in oshape)
            idtype = np.dtype(inp["dtype"]).name
        if len(ishape) != 4 or ishape[-1] != 3:
            raise ValueError(
                f"{self._who()}: the network must take RGB NHWC (1, h, w, 3); its input is {ishape}"
            )
        if idtype != "float32":
            raise ValueError(
                f"{self._who()}: the network must take float32 input; this one takes {idtype} "
                "(export with float input and output)"
            )
        cout = oshape[-1] if len(oshape) == 4 else None
        if len(oshape) not in (3, 4) or (
            cout is not None and cout != 1 and self.kind != "segmentation"
        ):
            raise ValueError(
                f"{self._who()}: a {self.kind} network outputs (1, h, w, 1) or (1, h, w); its "
                f"output is {oshape}"
            )
        h, w = ishape[1:3]
        return (None if h is None or w is None else (int(h), int(w))), cout

    def _who(self) -> str:
        where = self.path if self.path is not None else getattr(self, "name", "in-memory model")
        return f"{self.kind} provider {where}"

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Runs the network on float32 ``(h, w, 3)`` RGB in 0..1; returns its raw output with
        the batch axis dropped.

        Raises:
            ValueError: the output's spatial size differs from the input's (names both shapes).
        """
        x = np.ascontiguousarray(x, np.float32)[None]
        if self._keras is not None:
            y = np.asarray(self._keras(x, training=False))
        else:
            inp = self._interp.get_input_details()[0]
            if list(inp["shape"]) != list(x.shape):
                self._interp.resize_tensor_input(inp["index"], list(x.shape))
                self._interp.allocate_tensors()
            self._interp.set_tensor(inp["index"], x)
            self._interp.invoke()
            y = self._interp.get_tensor(self._interp.get_output_details()[0]["index"])
        y = np.asarray(y)
        want = (1, *x.shape[1:3])
        if y.ndim not in (3, 4) or y.shape[:3] != want:
            raise ValueError(
                f"{self._who()}: output shape {tuple(y.shape)} for input {tuple(x.shape)}; a "
                f"modality network must output (1, {x.shape[1]}, {x.shape[2]}, 1) (the size of "
                "its input)"
            )
        return y[0]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        rgb = check_image(image, min_side=MODEL_MIN_SIDE)
        h, w = rgb.shape[:2]
        size = self.fixed_size or _scaled_size(h, w, self.settings["max_side"])
        x = rgb.astype(np.float32) * np.float32(1.0 / 255.0)
        if size != (h, w):
            x = cv2.resize(x, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        y = self.predict(x)
        classes = y.ndim == 3 and y.shape[-1] > 1
        if y.ndim == 3 and y.shape[-1] > 1 and self.kind != "segmentation":
            raise ValueError(
                f"{self._who()}: output shape {(1, *y.shape)}; a {self.kind} network outputs one "
                "channel"
            )
        if classes:
            m = np.argmax(y, axis=-1).astype(np.float32) / (y.shape[-1] - 1)
        else:
            m = np.asarray(y.reshape(y.shape[:2]), np.float32)
        if not np.all(np.isfinite(m)):
            raise ValueError(f"{self._who()}: the network output NaN or Inf")
        if m.shape != (h, w):
            interp = cv2.INTER_NEAREST if classes else cv2.INTER_LINEAR
            m = cv2.resize(m, (w, h), interpolation=interp)
        if self.settings["normalize"] == "minmax" and not classes:
            m = _minmax(m)
        return np.clip(m, 0.0, 1.0).astype(np.float32)

    def close(self) -> None:
        """Releases the model."""
        self._interp = None
        self._keras = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _load_keras(path: Path, loader, kind: str):
    if loader is None:
        raise ValueError(
            f"{kind} provider {path}: a .keras model needs Keras, which the core does not import; "
            "pass keras_loader=lambda p: keras.saving.load_model(p, compile=False, "
            "safe_mode=True) from the training side, or export the model to .tflite for the "
            "TF-free runtime"
        )
    try:
        return loader(path)
    except Exception as err:
        text = str(err)
        if "safe_mode" in text or "lambda" in text.lower():
            raise ValueError(f"{path}: refused by Keras safe loading: {text}") from err
        raise ValueError(
            f"{kind} provider {path}: cannot load this .keras model ({type(err).__name__}: {text})"
        ) from err


# --------------------------------------------------------------------------- registry


#: kind -> the classical provider class.
CLASSICAL_PROVIDERS: dict[str, type] = {
    "saliency": SaliencyProvider,
    "depth": DepthCueProvider,
    "segmentation": SegmentationProvider,
}


def get_provider(kind: str, spec=CLASSICAL, **options) -> ModalityProvider:
    """The provider of one modality.

    Args:
        kind: one of :data:`KINDS`.
        spec: ``"classical"`` or None (the classical default), a ``.tflite``/``.keras`` path, a
            Keras model in memory, or a provider (returned as is when its kind matches).
        **options: keyword settings of the provider class (:class:`SaliencyProvider`,
            :class:`DepthCueProvider`, :class:`SegmentationProvider` or :class:`ModelProvider`,
            e.g. ``max_side=256`` or ``keras_loader=...``).

    Raises:
        ValueError: an unknown kind, a provider of another kind, or a refused model.
        FileNotFoundError: a path that does not exist.
        TypeError: an option the provider does not take.

    Example:
        >>> get_provider("segmentation", output="boundaries").name
        'slic_boundaries'
    """
    if kind not in KINDS:
        raise ValueError(f"unknown modality {kind!r}; choose from {', '.join(KINDS)}")
    if spec is None or (isinstance(spec, str) and spec == CLASSICAL):
        return CLASSICAL_PROVIDERS[kind](**options)
    if isinstance(spec, (str, os.PathLike)):
        if not Path(spec).is_file():
            raise FileNotFoundError(
                f"{kind} provider {str(spec)!r}: neither {CLASSICAL!r} nor an existing "
                ".tflite/.keras file"
            )
        return ModelProvider(kind, spec, **options)
    if isinstance(spec, ModalityProvider) and not hasattr(spec, "inputs"):
        if spec.kind != kind:
            raise ValueError(f"the provider {spec.name!r} gives {spec.kind!r}, not {kind!r}")
        if options:
            raise ValueError(f"options {sorted(options)} given with a ready provider {spec.name!r}")
        return spec
    return ModelProvider(kind, spec, **options)


def _resolve(providers, kinds: Sequence[str]) -> list:
    if providers is None:
        return [get_provider(k) for k in kinds]
    if isinstance(providers, Mapping):
        unknown = [k for k in providers if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown modalities {unknown}; choose from {KINDS}")
        missing = [k for k in kinds if k not in providers]
        if missing:
            raise ValueError(
                f"modality provider missing for {', '.join(missing)} (give one per modality in "
                f"{list(kinds)}; 'classical' is the training-free default)"
            )
        return [get_provider(k, providers[k]) for k in kinds]
    given = list(providers)
    by_kind = {}
    for p in given:
        kind = getattr(p, "kind", None)
        if kind not in KINDS:
            raise ValueError(f"{p!r} is not a modality provider (kind {kind!r})")
        if kind in by_kind:
            raise ValueError(f"two {kind} providers given: {by_kind[kind].name}, {p.name}")
        by_kind[kind] = p
    return _resolve(by_kind, kinds)


def check_map(provider, m, size: tuple[int, int]) -> np.ndarray:
    """Checks one provider's output against the contract (float ``HxW`` = the image's size,
    finite, in 0..1) and returns it as float32.

    Raises:
        ValueError: names the provider, the shape it returned and the one expected.
    """
    m = np.asarray(m)
    who = f"{getattr(provider, 'kind', '?')} provider {getattr(provider, 'name', provider)!r}"
    if m.shape != tuple(size):
        raise ValueError(
            f"{who} returned a map of shape {m.shape}; the image needs {tuple(size)} (HxW)"
        )
    if not np.issubdtype(m.dtype, np.floating):
        raise ValueError(f"{who} returned {m.dtype}; a modality map is float in 0..1")
    if not np.all(np.isfinite(m)) or float(m.min()) < 0.0 or float(m.max()) > 1.0:
        raise ValueError(
            f"{who} returned values outside 0..1 (range {float(np.nanmin(m)):.4g}.."
            f"{float(np.nanmax(m)):.4g}, finite: {bool(np.all(np.isfinite(m)))})"
        )
    return m.astype(np.float32, copy=False)


def modality_stack(
    image: np.ndarray, providers=None, *, kinds: Sequence[str] = KINDS
) -> np.ndarray:
    """The modality maps of one image, stacked as channels.

    Args:
        image: uint8 (or float 0..255) RGB ``HxWx3`` (grey is replicated).
        providers: None (the classical defaults), a mapping kind -> provider/spec (anything
            :func:`get_provider` takes), or a sequence of providers (one per kind).
        kinds: which modalities, in channel order (default :data:`KINDS`: saliency, depth,
            segmentation; an ablation passes fewer).

    Returns:
        float32 ``HxWxlen(kinds)`` in 0..1.

    Raises:
        ValueError: a missing or unknown provider, or a map of the wrong size or range (the
            message names the provider).
        ImageError: not an image in 0..255.
    """
    bad = [k for k in kinds if k not in KINDS]
    if bad or len(set(kinds)) != len(kinds) or not kinds:
        raise ValueError(f"kinds must be distinct names from {KINDS}, got {list(kinds)}")
    rgb = check_image(image, min_side=MODEL_MIN_SIDE)
    size = rgb.shape[:2]
    maps = [check_map(p, p(rgb), size) for p in _resolve(providers, kinds)]
    return np.stack(maps, axis=-1)


def describe_stack(providers=None, *, kinds: Sequence[str] = KINDS) -> list[dict]:
    """``[provider.describe() for each kind]`` in channel order: what a manifest records so that
    training, evaluation and the edge runtime build the same modality stack.

    Example:
        >>> json.dumps(describe_stack())               # the classical defaults
    """
    return [p.describe() for p in _resolve(providers, kinds)]


# ------------------------------------------------------------------ rebuilding from a manifest


def _json_normal(data):
    return json.loads(json.dumps(data, sort_keys=True))


def provider_from_record(
    record: dict,
    where: str | os.PathLike,
    *,
    search: Sequence[str | os.PathLike] = (),
    keras_loader: Callable[[Path], object] | None = None,
    allow_keras: bool = True,
    num_threads: int | None = None,
    version: str | None = None,
) -> ModalityProvider:
    """Rebuilds one provider from its manifest record (:meth:`describe`, as ``jndtf train
    hmjnd`` writes it under ``modality_providers`` and ``jndtf export`` under
    ``inputs.providers``) and checks that the rebuilt provider describes itself exactly as
    recorded. Training, evaluation (:func:`jndtf.evaluate.learned.providers_from_manifest`) and
    the edge runtime (:func:`jndtf.edge.manifest.rebuild_providers`) all call this one function,
    so the maps a model sees are built by the same code everywhere.

    A classical provider is made by its class in :data:`CLASSICAL_PROVIDERS` from the recorded
    settings. A user network (``settings.model``) is looked for in each `search` folder by file
    name, then at its recorded path; its sha256 must be the recorded one; a ``.tflite`` runs in
    LiteRT, a ``.keras`` is loaded by `keras_loader` (the caller's: the core imports no Keras).

    Args:
        record: one entry of :func:`describe_stack`.
        where: the model file the record belongs to (named in every error).
        search: folders to look in first for a provider network (the edge: beside the export).
        keras_loader: ``path -> keras.Model`` for a ``.keras`` provider network.
        allow_keras: False refuses a Keras provider, saying what to do instead (the edge).
        num_threads: LiteRT threads of a ``.tflite`` provider.
        version: the jndtf version that wrote the record (named when it no longer matches).

    Raises:
        FileNotFoundError: a provider network found neither in `search` nor where recorded.
        ValueError: an unknown kind or implementation, a Keras provider where none is allowed,
            a network whose sha256 differs, or a provider that no longer describes itself as
            recorded (the maps would differ); every message names `where` and the provider.

    Example:
        >>> rec = get_provider("segmentation", n_segments=50).describe()
        >>> provider_from_record(rec, "model.keras").settings["n_segments"]
        50
    """
    where = Path(where)
    if not isinstance(record, dict) or record.get("kind") not in KINDS:
        raise ValueError(
            f"{where}: a modality provider record must be a describe() dict with a kind in "
            f"{KINDS}, got {record!r}"
        )
    kind, name = record["kind"], record.get("name")
    impl = str(record.get("implementation") or "")
    settings = record.get("settings") or {}
    model = settings.get("model")
    if impl.rsplit(".", 1)[-1] == ModelProvider.__name__ or model:
        provider = _network_from_record(
            record, where, search, keras_loader, allow_keras, num_threads
        )
    else:
        cls = CLASSICAL_PROVIDERS[kind]
        full = f"{cls.__module__}.{cls.__name__}"
        if impl not in (full, cls.__name__):
            raise ValueError(
                f"{where}: its {kind} provider {name!r} is {impl or 'not recorded'!r}, which this "
                f"jndtf cannot rebuild ({full} or a .tflite/.keras network)"
            )
        params = inspect.signature(cls).parameters
        try:
            provider = cls(**{k: v for k, v in settings.items() if k in params})
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"{where}: its {kind} provider {name!r} settings {settings}: {err}"
            ) from None
    got, want = _json_normal(provider.describe()), _json_normal(record)
    if model:  # found beside `where` or where recorded: the same bytes (sha256), any path
        for side in (got, want):
            if isinstance(side.get("settings"), dict):
                side["settings"].pop("model", None)
    if got != want:
        diff = sorted(k for k in {*got, *want} if got.get(k) != want.get(k))
        getattr(provider, "close", lambda: None)()
        raise ValueError(
            f"{where}: the {kind} provider was recorded as {want}, but this jndtf rebuilds "
            f"{got} (they differ in {diff}): the maps would differ from the ones the model was "
            f"trained or exported with; run the jndtf that wrote it "
            f"({version or 'version not recorded'}), or retrain / re-export"
        )
    return provider


def _network_from_record(record, where: Path, search, keras_loader, allow_keras, num_threads):
    kind, name = record["kind"], record.get("name")
    settings = record.get("settings") or {}
    recorded = settings.get("model")
    is_keras = settings.get("backend") == "keras" or Path(str(recorded or "")).suffix == ".keras"
    if not recorded or (is_keras and not allow_keras):
        what = recorded or "a Keras model in memory"
        todo = (
            "the edge runtime runs no Keras: convert that network to .tflite (float32 RGB "
            "(1, h, w, 3) in, (1, h, w, 1) out) and re-export with it, e.g. "
            f"jndtf.export.export_model(..., providers={{{kind!r}: 'net.tflite'}})"
            if recorded
            else "a model in memory cannot be rebuilt: save it as .keras or .tflite, train or "
            "export with that file"
        )
        raise ValueError(f"{where}: its {kind} provider {name!r} is a Keras model ({what}); {todo}")
    file_name = Path(str(recorded)).name
    candidates = [Path(d) / file_name for d in search] + [Path(str(recorded))]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise FileNotFoundError(
            f"{where} needs its {kind} provider network {file_name}, found at none of "
            f"{[str(c) for c in candidates]}: put it back, or copy it beside {where.name}"
        )
    want = record.get("model_sha256")
    digest = file_sha256(found)
    if not want or digest != want:
        raise ValueError(
            f"{found}: sha256 {digest[:16]}... does not match the {str(want)[:16]}... that "
            f"{where.name}'s manifest records for its {kind} provider - refusing to load"
        )
    options = {k: settings[k] for k in ("max_side", "normalize") if k in settings}
    if is_keras:
        options["keras_loader"] = keras_loader
    return ModelProvider(kind, found, num_threads=num_threads, **options)


def providers_from_manifest(
    path: str | os.PathLike, manifest: dict, kinds: Sequence[str], **options
) -> tuple[list, str]:
    """``(providers, where they came from)`` of the modality `kinds` of the model at `path`, in
    that order: rebuilt by :func:`provider_from_record` (`options` go to it) from the
    manifest's ``modality_providers`` (``jndtf train hmjnd``) or ``inputs.providers`` (an
    export manifest), else the classical defaults. On an error the providers already opened
    are closed.

    Raises:
        ValueError: records that are not a list, or none for a kind (names the file); and
            what :func:`provider_from_record` raises.
    """
    records = manifest.get("modality_providers")
    if records is None:
        records = (manifest.get("inputs") or {}).get("providers")
    if records is None:
        return [get_provider(k) for k in kinds], "classical defaults (the manifest records none)"
    if not isinstance(records, list):
        raise ValueError(f"{path}: the manifest's modality_providers must be a list of records")
    by_kind = {r.get("kind"): r for r in records if isinstance(r, dict)}
    missing = [k for k in kinds if k not in by_kind]
    if missing:
        raise ValueError(
            f"{path}: the manifest records no modality provider for {', '.join(missing)} "
            f"(it has {sorted(k for k in by_kind if k)})"
        )
    out: list = []
    try:
        for k in kinds:
            out.append(provider_from_record(by_kind[k], path, **options))
    except BaseException:
        for p in out:
            getattr(p, "close", lambda: None)()
        raise
    return out, "the manifest"


__all__ = [
    "CLASSICAL",
    "CLASSICAL_PROVIDERS",
    "KINDS",
    "MODALITY_CHANNELS",
    "UNSAFE_KERAS_CLASSES",
    "DepthCueProvider",
    "ModalityProvider",
    "ModelProvider",
    "SaliencyProvider",
    "SegmentationProvider",
    "check_keras_archive",
    "check_map",
    "defocus_blur",
    "describe_stack",
    "get_provider",
    "modality_stack",
    "provider_from_record",
    "providers_from_manifest",
]
