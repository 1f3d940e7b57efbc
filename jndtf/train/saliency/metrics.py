"""Held-out metrics of the PoolNet saliency recipe: MAE and the maximum F-measure (β² = 0.3)
of PoolNet §4.1, and :func:`evaluate_saliency`, which runs them through the deployment path."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: β² of the F-measure (PoolNet §4.1, following Achanta et al. 2009): precision weighted more.
F_BETA2 = 0.3

#: Thresholds of the F-measure curve: the map quantized to 0..255, ``S >= t`` for t = 0..255.
F_THRESHOLDS = 256


def _as_pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, np.float32)
    g = np.asarray(gt, np.float32)
    p = p[..., 0] if p.ndim == 3 and p.shape[2] == 1 else p
    g = g[..., 0] if g.ndim == 3 and g.shape[2] == 1 else g
    if p.shape != g.shape or p.ndim != 2:
        raise ValueError(f"prediction and mask must be equal HxW maps, got {p.shape} and {g.shape}")
    if not (np.isfinite(p).all() and p.min() >= 0.0 and p.max() <= 1.0):
        raise ValueError("the prediction must be finite and in 0..1")
    return p, g >= 0.5


def mae(pred, gt) -> float:
    """Mean absolute error between a saliency map and its mask binarized at 0.5, ``mean |S − G|``
    (PoolNet §4.1); both ``HxW``, the map in 0..1.

    Example:
        >>> mae(np.full((2, 2), 0.25), np.eye(2))
        0.5
    """
    p, g = _as_pair(pred, gt)
    return float(np.mean(np.abs(p - g.astype(np.float32))))


def precision_recall(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall of ``round(255·S) >= t`` for t = 0..255 against the mask binarized
    at 0.5: two ``(256,)`` arrays (precision 0 where nothing is predicted, recall 0 for an empty
    mask)."""
    p, g = _as_pair(pred, gt)
    q = np.rint(p * (F_THRESHOLDS - 1)).astype(np.int64)
    fg = np.bincount(q[g], minlength=F_THRESHOLDS)[::-1].cumsum()[::-1]  # TP at t
    bg = np.bincount(q[~g], minlength=F_THRESHOLDS)[::-1].cumsum()[::-1]  # FP at t
    positive = fg + bg
    precision = np.divide(fg, positive, out=np.zeros(F_THRESHOLDS), where=positive > 0)
    recall = fg / g.sum() if g.any() else np.zeros(F_THRESHOLDS)
    return precision, recall


def max_f_measure(preds: Sequence, gts: Sequence, beta2: float = F_BETA2) -> float:
    """The maximum F-measure of a set of maps (PoolNet §4.1):
    ``F = (1 + β²)·P·R / (β²·P + R)`` with precision P and recall R averaged over the images at
    each of 256 thresholds, maximized over the thresholds.

    Args:
        preds: saliency maps ``HxW`` in 0..1.
        gts: masks ``HxW`` (binarized at 0.5), the same sizes.
        beta2: β² (0.3).

    Example:
        >>> max_f_measure([np.eye(3)], [np.eye(3)])
        1.0
    """
    if len(preds) != len(gts) or not len(preds):
        raise ValueError(f"need as many masks as maps (>= 1), got {len(preds)} and {len(gts)}")
    pr = [precision_recall(p, g) for p, g in zip(preds, gts, strict=True)]
    precision = np.mean([a for a, _ in pr], axis=0)
    recall = np.mean([b for _, b in pr], axis=0)
    denom = beta2 * precision + recall
    f = np.divide(
        (1 + beta2) * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0
    )
    return float(f.max())


def evaluate_saliency(model, pairs, *, max_side: int | None = 384, threshold=None) -> dict:
    """Held-out MAE and max F-measure of a saliency model through the deployment path.

    Args:
        model: a ``.keras`` / ``.tflite`` path or a :class:`keras.Model` (:class:`SaliencyPrior`).
        pairs: :class:`jndtf.data.saliency_pairs.SaliencyPair` list.
        max_side: working long side of the prior.
        threshold: mask binarization when reading (metrics binarize at 0.5 anyway).

    Returns:
        ``{"mae", "max_f", "pairs", "max_side", "beta2"}``.
    """
    from jndtf.data.saliency_pairs import load_pair
    from jndtf.models.saliency_prior import SaliencyPrior

    prior = SaliencyPrior(model, max_side=max_side)
    maps, masks = [], []
    for pair in pairs:
        rgb, mask = load_pair(pair, threshold=threshold)
        maps.append(prior(rgb))
        masks.append(mask)
    return {
        "mae": float(np.mean([mae(s, g) for s, g in zip(maps, masks, strict=True)])),
        "max_f": max_f_measure(maps, masks),
        "pairs": len(pairs),
        "max_side": max_side,
        "beta2": F_BETA2,
    }


__all__ = [
    "F_BETA2",
    "F_THRESHOLDS",
    "evaluate_saliency",
    "mae",
    "max_f_measure",
    "precision_recall",
]
