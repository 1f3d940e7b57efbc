"""Liu et al. 2010: JND with a structure/texture decomposition that separates edges from textures.

A. Liu, W. Lin, M. Paul, C. Deng and F. Zhang, "Just noticeable difference for images with
decomposition model for separating edge and textured regions", IEEE Trans. Circuits Syst. Video
Technol. 20(11), pp. 1648-1652, 2010.

Earlier pixel-domain models (Chou & Li, Yang) give every strong gradient the same contrast
masking, so edges get too much tolerance and textures too little. Liu et al. split the image
``I`` into a structural (cartoon) part ``u`` and a textural part ``v = I - u`` by total-variation
decomposition, compute the masking of each part separately and weight texture masking more:

1. ``u = argmin_u TV(u) + lambda ||u - I||_1`` (TV-L1, Yin, Goldfarb & Osher 2005), lambda 0.8,
   anisotropic TV over the 4 nearest neighbours; ``v = I - u``.
2. Luminance adaptation ``LA = T(bg)`` (Chou & Li curve on ``bg = filter2(B, I) / 32``).
3. Edge masking ``EM = clip(Gm(u) alpha(bg) + beta(bg), 0, 10)`` and texture masking
   ``TM = clip(Gm(v) alpha(bg) + beta(bg), 0, 10)`` with Chou's ``alpha = 0.0001 bg + 0.115``,
   ``beta = 0.5 - 0.01 bg`` and ``Gm`` the max of the four 5x5 directional gradients / 16.
4. ``CM = W_e EM + W_t TM`` with ``W_e = 0.7``, ``W_t = 1.4``; ``JND = LA + CM - 0.3 min(LA, CM)``
   (Yang's NAMM).

Where the constants come from: the paper could not be consulted here (offline). The team's notes
said no public code existed; there is one, ``JND_ID.m`` in Terriao/OpenJND (``Liu et al/Matlab``,
MIT repository, origin of the file not stated), which was read, not copied, and whose constants
(lambda 0.8, 4 neighbours, clip to [0, 10], W_e 0.7, W_t 1.4, C 0.3) jndtf uses. Filters pad
with zeros as MATLAB's ``filter2`` does.

Choices made here:

- ``JND_ID.m`` calls W. Yin's ParaMaxFlow MEX (an exact graph-cut TV-L1 solver, 8-bit output),
  which is not available in Python. jndtf solves the same convex problem with the first-order
  primal-dual algorithm of Chambolle & Pock (J. Math. Imaging Vis. 40, 2011; step sizes
  ``tau = 2``, ``sigma = 1 / (8 tau)``, tuned for the 0..255 scale) for `n_iter` iterations
  (300 by default, a relative energy gap of ~3e-4 on a 512x512 photo) and keeps ``u`` in float.
  TV-L1 minimisers are not unique, so an exact solver may return another ``u`` of the same
  energy. OpenJND's own Python port replaces TV-L1 by a Gaussian blur; jndtf does not, because
  a blur moves edges into the texture part, which is what the model is meant to avoid.
- ``Gm`` of the signed texture part is computed on the signed values (as ``filter2`` does).
"""

from __future__ import annotations

import numpy as np

from jndtf.baselines._registry import register
from jndtf.priors._input import as_luma
from jndtf.priors.edges import DIRECTIONAL_KERNELS
from jndtf.priors.luminance import BACKGROUND_KERNEL, filter2, luminance_threshold

__all__ = ["liu2010", "liu2010_components", "tv_l1_decompose"]

CITATION = (
    "A. Liu, W. Lin, M. Paul, C. Deng, F. Zhang, 'Just noticeable difference for images with "
    "decomposition model for separating edge and textured regions', IEEE TCSVT "
    "20(11):1648-1652, 2010"
)

#: TV-L1 fidelity weight (``lambda`` of ``JND_ID.m``): features narrower than about
#: ``2 / lambda`` pixels (lines) or smaller than ``4 / lambda`` (squares) go to the texture part.
TV_LAMBDA = 0.8
#: Weights of edge and texture masking.
EDGE_WEIGHT = 0.7
TEXTURE_WEIGHT = 1.4
#: Each masking term is clipped to [0, MASKING_CLIP] before weighting.
MASKING_CLIP = 10.0
NAMM_OVERLAP = 0.3
#: Chambolle-Pock iterations and primal step (sigma = 1 / (8 tau), so tau sigma ||D||^2 <= 1).
TV_ITERATIONS = 300
_TV_TAU = 2.0


def _tv_l1(f: np.ndarray, lam: float, n_iter: int) -> np.ndarray:
    """Chambolle-Pock for ``min_u sum |D_x u| + |D_y u| + lam sum |u - f|`` (forward
    differences, Neumann border). float32 iterations, float64 result."""
    f = np.ascontiguousarray(f, dtype=np.float32)
    tau = np.float32(_TV_TAU)
    sigma = np.float32(1.0 / (8.0 * _TV_TAU))
    shrink = np.float32(_TV_TAU * lam)
    u = f.copy()
    ubar = f.copy()
    px = np.zeros_like(f)
    py = np.zeros_like(f)
    div = np.empty_like(f)
    tmp = np.empty_like(f)
    for _ in range(n_iter):
        # dual ascent on p, projected onto the box |p| <= 1 (anisotropic TV)
        px[:, :-1] += sigma * (ubar[:, 1:] - ubar[:, :-1])
        py[:-1, :] += sigma * (ubar[1:, :] - ubar[:-1, :])
        np.clip(px, -1.0, 1.0, out=px)
        np.clip(py, -1.0, 1.0, out=py)
        # div p = -D^T p (the last column/row of p stays 0)
        div[:, 0] = px[:, 0]
        np.subtract(px[:, 1:], px[:, :-1], out=div[:, 1:])
        div[0, :] += py[0, :]
        div[1:, :] += py[1:, :] - py[:-1, :]
        # primal step and the prox of lam |u - f|: soft-threshold u - f
        np.multiply(div, tau, out=tmp)
        tmp += u
        tmp -= f
        ubar[...] = u  # keep the old u for the extrapolation
        np.copysign(np.maximum(np.abs(tmp) - shrink, 0.0), tmp, out=u)
        u += f
        # ubar = 2 u_new - u_old
        np.subtract(2.0 * u, ubar, out=ubar)
    return u.astype(np.float64)


def tv_l1_decompose(
    image: np.ndarray, *, lam: float = TV_LAMBDA, n_iter: int = TV_ITERATIONS
) -> tuple[np.ndarray, np.ndarray]:
    """Structure/texture decomposition by TV-L1 (step 1 of Liu et al. 2010).

    ``u = argmin TV(u) + lam ||u - I||_1`` with anisotropic 4-neighbour TV, ``v = I - u``.
    TV-L1 is contrast invariant: an object stays in ``u`` or goes to ``v`` by its size and
    shape, not its contrast (a square of side s stays when ``s > 4 / lam``).

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (luma is decomposed).
        lam: fidelity weight (0.8 in Liu et al.'s code).
        n_iter: Chambolle-Pock iterations.

    Returns:
        ``(structure, texture)``, float32 ``HxW`` each; ``structure + texture`` is the luma.

    Raises:
        ValueError: ``lam <= 0`` or ``n_iter < 1``.

    Example:
        >>> img = np.full((40, 40), 100, np.uint8); img[20, 10:30] = 200  # a 1-px line
        >>> u, v = tv_l1_decompose(img)
        >>> round(float(v[20, 20]))  # the line is texture
        100
    """
    if not lam > 0:
        raise ValueError(f"lam must be > 0, got {lam}")
    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1, got {n_iter}")
    luma = as_luma(image)
    u = _tv_l1(luma, lam, n_iter)
    return u.astype(np.float32), (luma - u).astype(np.float32)


def _max_gradient_signed(x: np.ndarray) -> np.ndarray:
    gm = np.abs(filter2(DIRECTIONAL_KERNELS[0], x))
    for k in DIRECTIONAL_KERNELS[1:]:
        np.maximum(gm, np.abs(filter2(k, x)), out=gm)
    return gm / 16.0


def liu2010_components(
    image: np.ndarray,
    *,
    lam: float = TV_LAMBDA,
    n_iter: int = TV_ITERATIONS,
    edge_weight: float = EDGE_WEIGHT,
    texture_weight: float = TEXTURE_WEIGHT,
) -> dict[str, np.ndarray]:
    """Every map of the Liu et al. 2010 model.

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (luma is used).
        lam: TV-L1 fidelity weight.
        n_iter: TV-L1 solver iterations.
        edge_weight: ``W_e`` (0.7).
        texture_weight: ``W_t`` (1.4).

    Returns:
        dict of float32 ``HxW`` maps: ``structure``, ``texture`` (the decomposition),
        ``background_luminance``, ``luminance_adaptation``, ``edge_masking``,
        ``texture_masking``, ``contrast_masking`` (``W_e EM + W_t TM``) and ``jnd``, all in
        grey levels.

    Example:
        >>> from skimage import data
        >>> maps = liu2010_components(data.camera()[:64, :64], n_iter=50)
        >>> maps["jnd"].shape
        (64, 64)
    """
    if edge_weight < 0 or texture_weight < 0:
        raise ValueError(f"weights must be >= 0, got {edge_weight}, {texture_weight}")
    structure, texture = tv_l1_decompose(image, lam=lam, n_iter=n_iter)
    return _liu2010_maps(as_luma(image), structure, texture, edge_weight, texture_weight)


def _liu2010_maps(
    luma: np.ndarray,
    structure: np.ndarray | None = None,
    texture: np.ndarray | None = None,
    edge_weight: float = EDGE_WEIGHT,
    texture_weight: float = TEXTURE_WEIGHT,
) -> dict[str, np.ndarray]:
    """:func:`liu2010_components` on a float64 luma map (no size check: a band of rows, for
    :mod:`jndtf.baselines._bands`); the default decomposition when none is given."""
    if structure is None or texture is None:
        u = _tv_l1(luma, TV_LAMBDA, TV_ITERATIONS)
        structure, texture = u.astype(np.float32), (luma - u).astype(np.float32)
    bg = filter2(BACKGROUND_KERNEL, luma) / 32.0
    la = luminance_threshold(bg).astype(np.float64)
    alpha = 0.0001 * bg + 0.115
    beta = 0.5 - 0.01 * bg
    em = np.clip(_max_gradient_signed(structure) * alpha + beta, 0.0, MASKING_CLIP)
    tm = np.clip(_max_gradient_signed(texture) * alpha + beta, 0.0, MASKING_CLIP)
    cm = edge_weight * em + texture_weight * tm
    jnd = la + cm - NAMM_OVERLAP * np.minimum(la, cm)
    maps = {
        "structure": structure,
        "texture": texture,
        "background_luminance": bg,
        "luminance_adaptation": la,
        "edge_masking": em,
        "texture_masking": tm,
        "contrast_masking": cm,
        "jnd": jnd,
    }
    return {k: np.asarray(v, dtype=np.float32) for k, v in maps.items()}


@register("liu2010", citation=CITATION)
def liu2010(image: np.ndarray) -> np.ndarray:
    """Liu et al. 2010 JND map (IEEE TCSVT 20(11)), edge/texture decomposition + NAMM.

    Args:
        image: uint8 or float (0..255) grey ``HxW`` or RGB ``HxWx3`` (luma is used).

    Returns:
        float32 ``HxWx1`` JND in grey levels (0..255 units).

    Example:
        >>> from skimage import data
        >>> liu2010(data.chelsea()).shape
        (300, 451, 1)
    """
    return liu2010_components(image)["jnd"][..., None]
