"""The losses of DMV-JND-NET, eqs. (7)-(15).

Jin, Zhang, Fu et al., "Just Noticeable Difference for Deep Machine Vision", IEEE TCSVT 2022,
Sec. IV-B. With x the image, e the DMV-JND, x̂ = x + e, c the merged CAM map (eq. (2), values in
[0, 1]), s_n / ŝ_n the softmax outputs of classifier n on x / x̂ and l_n = argmax s_n (eq. (6),
the *classifier-generated* label, a constant)::

    Loss  = Loss1 + α·Loss2 + β·Loss3,            α = β = 1 (Sec. V-A)        (7)
    Loss1 = 1/K Σ_n CE(ŝ_n, l_n)                                               (8), (9)
    I     = 1/(HW) Σ c(h, w),   N = 1 − I          (target mean DMV-JND)       (10), (11)
    N0    = 1/(HW) Σ |e(h, w)|                     (actual mean DMV-JND)       (12)
    Loss2 = ln(N² + N0² + q) − ln(2·N·N0 + q),    q = 1e-10                   (13)
    v     = softmax(c)        (over the H·W positions of each image)           (14)
    Loss3 = <v, e>                                                             (15)

Conventions (where the paper is silent; each a setting):

- **Units of e.** The paper's images are normalised to [-1, 1] (mean 0.5, std 0.5), so e is in
  those units and N0 is compared with N in [0, 1] directly: ``jnd_unit=1.0``. For a JND map in
  0..255 pixel units pass ``jnd_unit=127.5``; N0 and Loss3 use ``|e| / jnd_unit``.
- **Channels.** |e| is averaged over its colour channels before eqs. (12) and (15); the CAM map
  has one channel.
- **Loss3 uses |e|.** <v, e> on a signed e would be minimised by making e *negative* where the
  classifiers look, the opposite of "a smaller DMV-JND on the pixels with lower redundancy"; the
  paper also reports Loss3 rising as the DMV-JND grows (Fig. 6d), which only a magnitude does.
  ``absolute=False`` gives the literal signed product.
- **Loss2's gradient** ``dLoss2/dN0 = 2·N0/(N² + N0² + q) − 2·N/(2·N·N0 + q)`` is about −2N/q
  for a tiny N0: with the paper's q = 1e-10 it is huge (but finite) for an almost-zero e, and
  exactly 0 at e = 0, where d|e|/de = 0. Initialise the generator so that e is not ~0.

A public PyTorch reimplementation computed Loss2 twice and never Loss3 (notes/pitfalls.md): the
tests check that every term reaches the gradient.
"""

from __future__ import annotations

import keras
from keras import ops

from jndtf.losses._common import (
    SettingsLoss,
    check_positive,
    dims_agree,
    log_ratio_similarity,
    per_sample_mean,
)

#: q of eq. (13) ("1^{-10}" in the paper's text: 1e-10).
Q = 1e-10

#: Lower bound on probabilities before the logarithm of the cross-entropy.
PROB_EPS = 1e-7


def _stack_probs(probs, name):
    """K ``(N, classes)`` tensors, or one ``(N, K, classes)`` tensor -> ``(N, K, classes)``."""
    if isinstance(probs, (list, tuple)):
        if not probs:
            raise ValueError(f"{name}: expected at least one classifier output")
        t = ops.stack([ops.cast(ops.convert_to_tensor(p), "float32") for p in probs], axis=1)
    else:
        t = ops.cast(ops.convert_to_tensor(probs), "float32")
        if len(t.shape) == 2:
            t = t[:, None, :]
    if len(t.shape) != 3:
        raise ValueError(
            f"{name}: classifier outputs must be (N, classes), a list of them, or "
            f"(N, K, classes); got shape {tuple(t.shape)}"
        )
    return t


def dmv_cross_entropy(probs_original, probs_distorted, *, from_logits: bool = False):
    """Eqs. (8)-(9): ``1/K Σ_n CE(ŝ_n, argmax s_n)`` per image, ``(N,)``.

    The label of classifier n is the argmax of its output on the *original* image (eq. (6)); it is
    a constant (``stop_gradient``), so the gradient flows through the distorted image's output
    only.

    Args:
        probs_original: s_n, classifier outputs on x: ``(N, K, classes)``, ``(N, classes)``
            (K = 1) or a list of K ``(N, classes)`` tensors.
        probs_distorted: ŝ_n on x̂ = x + e, same layout.
        from_logits: the outputs are logits (softmax is applied) instead of probabilities.

    Returns:
        ``(N,)`` float32.
    """
    s = _stack_probs(probs_original, "dmv_cross_entropy")
    s_hat = _stack_probs(probs_distorted, "dmv_cross_entropy")
    if tuple(s.shape[1:]) != tuple(s_hat.shape[1:]):
        raise ValueError(
            f"dmv_cross_entropy: original {tuple(s.shape)} and distorted {tuple(s_hat.shape)} "
            "outputs differ in shape"
        )
    labels = ops.argmax(ops.stop_gradient(s), axis=-1)
    onehot = ops.one_hot(labels, s_hat.shape[-1], dtype="float32")
    if from_logits:
        log_p = ops.log_softmax(s_hat, axis=-1)
    else:
        log_p = ops.log(ops.clip(s_hat, PROB_EPS, 1.0))
    ce = -ops.sum(onehot * log_p, axis=-1)  # (N, K)
    return ops.mean(ce, axis=-1)


def _check_cam_jnd(cam, jnd, name):
    c = ops.cast(ops.convert_to_tensor(cam), "float32")
    e = ops.cast(ops.convert_to_tensor(jnd), "float32")
    if len(c.shape) == 3:
        c = c[..., None]
    if len(c.shape) != 4 or c.shape[-1] != 1:
        raise ValueError(f"{name}: the CAM map must be (N, H, W) or (N, H, W, 1), got {c.shape}")
    if len(e.shape) != 4:
        raise ValueError(f"{name}: the DMV-JND e must be NHWC, got shape {tuple(e.shape)}")
    if not dims_agree(c.shape[:3], e.shape[:3]):
        raise ValueError(
            f"{name}: CAM {tuple(c.shape)} and e {tuple(e.shape)} differ in N, H or W; "
            "resize the CAM to the image size first"
        )
    return c, e


def dmv_magnitude_loss(cam, jnd, *, q: float = Q, jnd_unit: float = 1.0):
    """Eqs. (10)-(13): ``ln(N² + N0² + q) − ln(2·N·N0 + q)`` per image, ``(N,)``.

    N = 1 − mean(c) is the target mean DMV-JND, N0 = mean|e| / `jnd_unit` the actual one.

    Args:
        cam: merged CAM map c in [0, 1], ``(N, H, W)`` or ``(N, H, W, 1)``.
        jnd: DMV-JND e, NHWC.
        q: the constant of eq. (13).
        jnd_unit: size of one unit of e (1 for the paper's [-1, 1] inputs, 127.5 for 0..255).
    """
    c, e = _check_cam_jnd(cam, jnd, "dmv_magnitude_loss")
    target = 1.0 - per_sample_mean(c)
    actual = per_sample_mean(ops.abs(e)) / jnd_unit
    return log_ratio_similarity(target, actual, q)


def dmv_spatial_loss(cam, jnd, *, jnd_unit: float = 1.0, absolute: bool = True):
    """Eqs. (14)-(15): ``<softmax(c), |e|>`` per image, ``(N,)``.

    The softmax runs over the H·W positions of each image's CAM map; |e| (or e with
    ``absolute=False``) is averaged over its channels and divided by `jnd_unit`.
    """
    c, e = _check_cam_jnd(cam, jnd, "dmv_spatial_loss")
    n = ops.shape(c)[0]
    v = ops.softmax(ops.reshape(c, (n, -1)), axis=-1)
    mag = ops.abs(e) if absolute else e
    mag = ops.reshape(ops.mean(mag, axis=-1), (n, -1)) / jnd_unit
    return ops.sum(v * mag, axis=-1)


def dmv_loss(
    probs_original,
    probs_distorted,
    cam,
    jnd,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    q: float = Q,
    jnd_unit: float = 1.0,
    absolute: bool = True,
    from_logits: bool = False,
):
    """Eq. (7): ``Loss1 + α·Loss2 + β·Loss3`` per image, ``(N,)``.

    Args:
        probs_original, probs_distorted: classifier outputs on x and x + e (see
            :func:`dmv_cross_entropy`).
        cam: merged CAM map c in [0, 1].
        jnd: the DMV-JND e, NHWC.
        alpha, beta: weights of eq. (7); 1 and 1 in the paper.
        q, jnd_unit, absolute, from_logits: see the term functions.

    Example:
        >>> loss = dmv_loss(s, s_hat, cam, e)      # (N,)
    """
    l1 = dmv_cross_entropy(probs_original, probs_distorted, from_logits=from_logits)
    l2 = dmv_magnitude_loss(cam, jnd, q=q, jnd_unit=jnd_unit)
    l3 = dmv_spatial_loss(cam, jnd, jnd_unit=jnd_unit, absolute=absolute)
    return l1 + alpha * l2 + beta * l3


@keras.saving.register_keras_serializable(package="jndtf")
class DMVJNDLoss(SettingsLoss):
    """Eq. (7) of DMV-JND as a Keras loss.

    Inputs are dicts (Keras passes nested structures through)::

        y_true = {"cam": c (N,H,W[,1]) in [0,1], "probs": s (N,K,classes) on x}
        y_pred = {"jnd": e (N,H,W,C),            "probs": ŝ (N,K,classes) on x + e}

    Args:
        alpha, beta: weights of eq. (7), 1 and 1 in the paper.
        q: constant of eq. (13), 1e-10.
        jnd_unit: size of one unit of e (1: the paper's [-1, 1] inputs; 127.5: 0..255).
        absolute: Loss3 on |e| (default) or on the signed e.
        from_logits: classifier outputs are logits.
        **kwargs: `name`, `reduction`, `dtype` of :class:`keras.losses.Loss`.

    Example:
        >>> loss = DMVJNDLoss()
        >>> value = loss({"cam": c, "probs": s}, {"jnd": e, "probs": s_hat})
    """

    SETTINGS = ("alpha", "beta", "q", "jnd_unit", "absolute", "from_logits")

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 1.0,
        q: float = Q,
        jnd_unit: float = 1.0,
        absolute: bool = True,
        from_logits: bool = False,
        **kwargs,
    ):
        kwargs.setdefault("name", "dmv_jnd_loss")
        super().__init__(**kwargs)
        self.alpha = check_positive(alpha, "alpha", name="DMVJNDLoss", allow_zero=True)
        self.beta = check_positive(beta, "beta", name="DMVJNDLoss", allow_zero=True)
        self.q = check_positive(q, "q", name="DMVJNDLoss")
        self.jnd_unit = check_positive(jnd_unit, "jnd_unit", name="DMVJNDLoss")
        self.absolute = bool(absolute)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        expected = (("y_true", y_true, ("cam", "probs")), ("y_pred", y_pred, ("jnd", "probs")))
        for what, d, keys in expected:
            if not isinstance(d, dict) or any(k not in d for k in keys):
                raise ValueError(f"DMVJNDLoss: {what} must be a dict with keys {keys}")
        return dmv_loss(
            y_true["probs"],
            y_pred["probs"],
            y_true["cam"],
            y_pred["jnd"],
            alpha=self.alpha,
            beta=self.beta,
            q=self.q,
            jnd_unit=self.jnd_unit,
            absolute=self.absolute,
            from_logits=self.from_logits,
        )


@keras.saving.register_keras_serializable(package="jndtf")
class DMVCrossEntropyLoss(SettingsLoss):
    """Eqs. (8)-(9) alone: ``y_true`` = outputs s on x, ``y_pred`` = outputs ŝ on x + e."""

    SETTINGS = ("from_logits",)

    def __init__(self, from_logits: bool = False, **kwargs):
        kwargs.setdefault("name", "dmv_cross_entropy")
        super().__init__(**kwargs)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        return dmv_cross_entropy(y_true, y_pred, from_logits=self.from_logits)


@keras.saving.register_keras_serializable(package="jndtf")
class DMVMagnitudeLoss(SettingsLoss):
    """Eq. (13) alone: ``y_true`` = merged CAM map c, ``y_pred`` = DMV-JND e."""

    SETTINGS = ("q", "jnd_unit")

    def __init__(self, q: float = Q, jnd_unit: float = 1.0, **kwargs):
        kwargs.setdefault("name", "dmv_magnitude_loss")
        super().__init__(**kwargs)
        self.q = check_positive(q, "q", name="DMVMagnitudeLoss")
        self.jnd_unit = check_positive(jnd_unit, "jnd_unit", name="DMVMagnitudeLoss")

    def call(self, y_true, y_pred):
        return dmv_magnitude_loss(y_true, y_pred, q=self.q, jnd_unit=self.jnd_unit)


@keras.saving.register_keras_serializable(package="jndtf")
class DMVSpatialLoss(SettingsLoss):
    """Eq. (15) alone: ``y_true`` = merged CAM map c, ``y_pred`` = DMV-JND e."""

    SETTINGS = ("jnd_unit", "absolute")

    def __init__(self, jnd_unit: float = 1.0, absolute: bool = True, **kwargs):
        kwargs.setdefault("name", "dmv_spatial_loss")
        super().__init__(**kwargs)
        self.jnd_unit = check_positive(jnd_unit, "jnd_unit", name="DMVSpatialLoss")
        self.absolute = bool(absolute)

    def call(self, y_true, y_pred):
        return dmv_spatial_loss(y_true, y_pred, jnd_unit=self.jnd_unit, absolute=self.absolute)
