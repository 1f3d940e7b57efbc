"""hmJND-Net (Xie, Wang et al., "Just Noticeable Visual Redundancy Forecasting: A Deep
Multimodal-Driven Approach", AAAI 2023): RGB + saliency, depth and segmentation maps ->
the redundancy-removed image I_rr.

Layers, in order (widths of preset ``hmjnd``, C = 64; every width is a setting):

=======  ===========================================================================  =========
stage    what                                                                         names
=======  ===========================================================================  =========
input    (N, H, W, 6): RGB / 255, saliency, depth, segmentation maps in [0, 1]       ``x_hm``
split    :class:`SplitModalities`: RGB and one map per modality; a disabled modality  ``split``
         is replaced by repeating an enabled one (Table 1)
embed    three 3x3 convs (ReLU between) per modality and for RGB -> F_sa, F_de, F_se,  ``*_emb*``
         F_r (Sec. 3.1-3.2)
HMPF     F_sum = F_sa + F_de, F_sub = F_sa − F_de; F_e = SE(F_sum) + F_sum (eq. (7)),  ``hmpf_*``
         F_o = SE(F_sub) + F_sub (eq. (8)), F_fuse = F_e + F_o (eq. (6)),
         F_pr = F_fuse ⊗ γ(F_se) + β(F_se) with two-layer conv branches (eq. (9))
HMFA     n STA blocks (eqs. (10)-(12)); block i = a window multimodal encoder (wmE)   ``sta*``
         then a shifted-window one (swmE): Q from F_r (i = 1) or the previous output,
         K, V from F_pr (wmE of block 1) or F_conv^j(F_pr), j = 2i-2 (wmE), 2i-1 (swmE)
reshape  3x3 conv C -> 3 (the Reshape module M_RE)                                    ``reshape``
θ        I_rr = 255 · clip(I / 255 + residual, 0, 1) (:class:`ThetaNormalization`)   ``i_rr``
=======  ===========================================================================  =========

Each encoder is a pre-norm Swin block with cross attention: ``x = Q_in + P(WA(LN(Q_in)W_q,
LN(KV)W_k, LN(KV)W_v))``, then ``x = x + MLP(LN(x))`` (two 1x1 convs, GELU). The per-token linear
maps are 1x1 convs on the whole map, so only the attention itself (:class:`WindowAttention`:
softmax(QKᵀ/√d + B + mask) V with Swin's relative position bias B) runs per window.

**Choices the paper leaves open** (jndtf's, documented here and in the presets): all widths,
heads (4), window (8), MLP ratio (2), SE reduction (16, SENet's); ReLU between embedding and
conv-block layers; eq. (9) read as SFT (Wang et al. 2018): separate scale γ and shift β
branches (the paper writes one symbol F_conv for both); the K, V layer norm; the Reshape
module as one 3x3 conv; θ as a clip to the 0..255 range (the paper: "restrict the output to a
reasonable scale"); Glorot-uniform kernels (the paper: truncated normal, no σ given); the
attention mask value −100 (Swin's); the modality substitute of Table 1's ✗✗✗ row (the luma
Y = 0.299R + 0.587G + 0.114B: nothing is enabled to repeat); Table 2's alternatives read as
concat(F_sa, F_de, F_se) -> 3x3 (3C -> C), two 3x3 (C -> C), 1x1 (HMPF off) and
concat(F_pr, F_r) -> SE -> 1x1 (2C -> C) (HMFA off).

**Any input size**: each :class:`WindowAttention` pads its Q, K, V with zeros to multiples of
the window, masks the padded keys, and crops back; convs use "same" padding. Dynamic H, W also
in LiteRT (no TensorFlow-only op: the cyclic shift is slice + concat).

Example:
    >>> model = build_hmjnd("hmjnd_tiny")
    >>> i_rr = model(x)                      # (N, H, W, 6) -> (N, H, W, 3), 0..255
    >>> vt = visibility_threshold(255 * x[..., :3], i_rr)
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from jndtf.models.hmjnd.inputs import visibility_threshold
from jndtf.models.hmjnd.presets import (
    DEFAULT_PRESET,
    INPUT_CHANNELS,
    MODALITY_NAMES,
    OUTPUT_CHANNELS,
    check_config,
    get_preset,
)

#: Added to the attention logits of keys a query must not see (Swin's value).
MASK_VALUE = -100.0

#: BT.601 luma weights: the substitute map when no modality is enabled.
LUMA = (0.299, 0.587, 0.114)


# --------------------------------------------------------------------------- functions


def window_partition(x, window: int):
    """``(B, H, W, C)`` -> ``(B·(H/M)·(W/M), M², C)``: non-overlapping M x M windows, row-major
    within a window, windows ordered by batch, then window row, then window column. H and W
    must be multiples of ``M = window``. Only 4-D reshapes/transposes (LiteRT-friendly).

    Example:
        >>> window_partition(np.zeros((2, 8, 12, 5), "float32"), 4).shape
        (12, 16, 5)
    """
    _, _, w, c = ops.shape(x)
    m = int(window)
    t = ops.reshape(x, (-1, m, w // m, m * c))  # (B·H/M, M, W/M, M·C)
    t = ops.transpose(t, (0, 2, 1, 3))  # (B·H/M, W/M, M, M·C)
    return ops.reshape(t, (-1, m * m, c))


def window_reverse(windows, window: int, height, width):
    """Inverse of :func:`window_partition`: ``(B·(H/M)·(W/M), M², C)`` -> ``(B, H, W, C)``."""
    m = int(window)
    c = ops.shape(windows)[-1]
    t = ops.reshape(windows, (-1, width // m, m, m * c))  # (B·H/M, W/M, M, M·C)
    t = ops.transpose(t, (0, 2, 1, 3))  # (B·H/M, M, W/M, M·C)
    return ops.reshape(t, (-1, height, width, c))


def relative_position_index(window: int) -> np.ndarray:
    """``(M², M²)`` int32: the row of Swin's ``(2M−1)²``-entry bias table for each pair of
    positions in an M x M window (Liu et al. 2021, Sec. 3.2): with ``(Δy, Δx) = p_i − p_j``,
    ``(Δy + M − 1)·(2M − 1) + (Δx + M − 1)``.

    Example:
        >>> relative_position_index(2)[0]
        array([4, 3, 1, 0], dtype=int32)
    """
    m = int(window)
    yy, xx = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    coords = np.stack([yy.ravel(), xx.ravel()])  # (2, M²)
    rel = coords[:, :, None] - coords[:, None, :] + (m - 1)  # (2, M², M²), 0..2M-2
    return (rel[0] * (2 * m - 1) + rel[1]).astype(np.int32)


def _roll(x, shift: int):
    """``out[i] = x[(i − shift) mod n]`` along H and W (``np.roll`` on axes 1, 2) as slices and
    concatenations, which LiteRT runs with dynamic H, W."""
    if shift == 0:
        return x
    s = -shift
    x = ops.concatenate([x[:, s:], x[:, :s]], axis=1)
    return ops.concatenate([x[:, :, s:], x[:, :, :s]], axis=2)


def attention_mask(padded_height, padded_width, window: int, shift: int, height=None, width=None):
    """Additive attention mask ``(nW, M², M²)`` of the windows of a padded, shifted map:
    :data:`MASK_VALUE` where key j lies in another region of the cyclic shift than query i
    (Swin's shifted-window mask: the rolled map's last M rows/columns split into
    ``[−M, −shift)`` and ``[−shift, end)``), or where key j is padding (a pixel beyond the
    valid `height` x `width`, zero-padded before the shift); 0 elsewhere.

    Args:
        padded_height, padded_width: the padded map's size, multiples of ``window``.
        window, shift: M and the cyclic shift (0: no shift; only padding is masked).
        height, width: the valid size before padding (None: no padding).
    """
    m, s = int(window), int(shift)
    hp, wp = padded_height, padded_width
    height = hp if height is None else height
    width = wp if width is None else width

    def labels(n, valid_n):
        i = ops.arange(n, dtype="int32")
        region = ops.zeros_like(i)
        if s > 0:
            region = ops.cast(i >= n - m, "int32") + ops.cast(i >= n - s, "int32")
        valid = ops.less(ops.mod(i + s, n), valid_n)  # the pixel rolled onto i is not padding
        return region, valid

    rh, vh = labels(hp, height)
    rw, vw = labels(wp, width)
    region = rh[:, None] * 3 + rw[None, :]  # (Hp, Wp)
    valid = ops.logical_and(vh[:, None], vw[None, :])
    grid = ops.stack([ops.cast(region, "float32"), ops.cast(valid, "float32")], axis=-1)
    win = window_partition(grid[None], m)  # (nW, M², 2)
    reg, val = win[..., 0], win[..., 1]
    blocked = ops.logical_or(
        ops.not_equal(reg[:, :, None], reg[:, None, :]), ops.equal(val[:, None, :], 0.0)
    )
    return ops.where(blocked, MASK_VALUE, 0.0)


# --------------------------------------------------------------------------- layers


def _nhwc(layer: str, shape, what: str = "input") -> tuple:
    shape = tuple(shape) if shape is not None else ()
    if len(shape) != 4:
        raise ValueError(f"{layer} expects an NHWC (rank-4) {what}, got shape {shape}")
    return shape


@keras.saving.register_keras_serializable(package="jndtf")
class SplitModalities(layers.Layer):
    """``(N, H, W, 6)`` -> ``[RGB (N, H, W, 3), saliency, depth, segmentation (N, H, W, 1)]``.

    A modality not in `modalities` is replaced by repeating the first enabled one (Sec. 4.2,
    Table 1: "the substitution of a certain modality is done by repeating the enabled
    modality"); with none enabled, every map is the luma of the RGB channels.

    Args:
        modalities: enabled names of :data:`MODALITY_NAMES`.
        **kwargs: standard :class:`keras.layers.Layer` arguments.
    """

    def __init__(self, modalities=MODALITY_NAMES, **kwargs):
        super().__init__(**kwargs)
        mods = (modalities,) if isinstance(modalities, str) else tuple(modalities)
        unknown = [m for m in mods if m not in MODALITY_NAMES]
        if unknown:
            raise ValueError(f"SplitModalities: unknown modalities {unknown}; {MODALITY_NAMES}")
        self.modalities = tuple(m for m in MODALITY_NAMES if m in mods)

    def build(self, input_shape):
        shape = _nhwc("SplitModalities", input_shape)
        if shape[-1] != INPUT_CHANNELS:
            raise ValueError(
                f"SplitModalities expects {INPUT_CHANNELS} channels (RGB + "
                f"{', '.join(MODALITY_NAMES)}), got input shape {shape}"
            )
        self.built = True

    def call(self, x):
        rgb = x[..., :3]
        maps = {name: x[..., 3 + i : 4 + i] for i, name in enumerate(MODALITY_NAMES)}
        if self.modalities:
            fill = maps[self.modalities[0]]
        else:
            fill = ops.sum(rgb * ops.convert_to_tensor(LUMA, rgb.dtype), axis=-1, keepdims=True)
        return [rgb] + [maps[n] if n in self.modalities else fill for n in MODALITY_NAMES]

    def compute_output_shape(self, input_shape):
        n, h, w, _ = tuple(input_shape)
        return [(n, h, w, 3)] + [(n, h, w, 1)] * len(MODALITY_NAMES)

    def get_config(self):
        return {**super().get_config(), "modalities": list(self.modalities)}


def squeeze_excitation(x, w1, b1, w2, b2):
    """SE channel attention (Hu et al. 2018), the ⊗ term of eqs. (7)-(8):
    ``x ⊗ σ(W₂·ReLU(W₁·GAP(x) + b₁) + b₂)`` on NHWC `x` (GAP: the mean over H, W)."""
    z = ops.mean(x, axis=(1, 2))  # (N, C)
    s = ops.sigmoid(ops.matmul(ops.relu(ops.matmul(z, w1) + b1), w2) + b2)
    return x * s[:, None, None, :]


@keras.saving.register_keras_serializable(package="jndtf")
class ChannelAttention(layers.Layer):
    """SENet channel attention: ``x ⊗ F_fc^s(F_fc^r(F_gp(x)))`` (eqs. (7)-(8) without their
    ``⊕ x``; :func:`squeeze_excitation`).

    Args:
        reduction: hidden width ``max(1, C // reduction)`` of the first fully connected layer.
        **kwargs: standard :class:`keras.layers.Layer` arguments.
    """

    def __init__(self, reduction: int = 16, **kwargs):
        super().__init__(**kwargs)
        if int(reduction) < 1:
            raise ValueError(f"ChannelAttention: reduction must be >= 1, got {reduction}")
        self.reduction = int(reduction)

    def build(self, input_shape):
        c = _nhwc("ChannelAttention", input_shape)[-1]
        if c is None:
            raise ValueError(f"ChannelAttention needs a known channel count, got {input_shape}")
        hidden = max(1, c // self.reduction)
        self.w1 = self.add_weight(shape=(c, hidden), initializer="glorot_uniform", name="w1")
        self.b1 = self.add_weight(shape=(hidden,), initializer="zeros", name="b1")
        self.w2 = self.add_weight(shape=(hidden, c), initializer="glorot_uniform", name="w2")
        self.b2 = self.add_weight(shape=(c,), initializer="zeros", name="b2")

    def call(self, x):
        return squeeze_excitation(x, self.w1, self.b1, self.w2, self.b2)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}


@keras.saving.register_keras_serializable(package="jndtf")
class WindowAttention(layers.Layer):
    """Multi-head attention inside (shifted) M x M windows, Swin's eq. (4) with queries and
    keys/values from different maps: ``softmax(Q Kᵀ / √d + B + mask) V`` per window and head,
    B the learned relative position bias (a ``(2M−1)² x heads`` table indexed by
    :func:`relative_position_index`), the mask :func:`attention_mask`.

    ``[Q, K, V]``, each ``(N, H, W, C)`` (already projected), -> ``(N, H, W, C)``: pads to
    multiples of M (zeros, masked as keys), shifts cyclically by ``−shift`` (swmE), attends,
    shifts back and crops to H, W.

    Args:
        window: M.
        heads: attention heads; C must be a multiple.
        shift: cyclic shift (0: wmE; M // 2: swmE).
        **kwargs: standard :class:`keras.layers.Layer` arguments.
    """

    def __init__(self, window: int, heads: int, shift: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.window, self.heads, self.shift = int(window), int(heads), int(shift)
        if self.window < 1 or self.heads < 1 or not 0 <= self.shift < self.window:
            raise ValueError(
                f"WindowAttention: need window >= 1, heads >= 1, 0 <= shift < window; got "
                f"window={window}, heads={heads}, shift={shift}"
            )
        self._index = relative_position_index(self.window).reshape(-1)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 3:
            raise ValueError(f"WindowAttention expects [Q, K, V], got input shape {input_shape}")
        shapes = [_nhwc("WindowAttention", s) for s in input_shape]
        c = shapes[0][-1]
        if any(s[-1] != c for s in shapes) or c is None or c % self.heads:
            raise ValueError(
                f"WindowAttention: Q, K, V need the same channel count, a multiple of "
                f"heads={self.heads}; got {shapes}"
            )
        self.channels = int(c)
        self.bias_table = self.add_weight(
            shape=((2 * self.window - 1) ** 2, self.heads),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="relative_position_bias_table",
        )

    def relative_position_bias(self):
        """``(heads, M², M²)``: the bias table gathered by :func:`relative_position_index`."""
        mm = self.window * self.window
        b = ops.take(self.bias_table, ops.convert_to_tensor(self._index), axis=0)
        return ops.transpose(ops.reshape(b, (mm, mm, self.heads)), (2, 0, 1))

    def call(self, inputs):
        q, k, v = inputs
        m, heads, c = self.window, self.heads, self.channels
        d = c // heads
        n, h, w = ops.shape(q)[0], ops.shape(q)[1], ops.shape(q)[2]
        hp = (h + m - 1) // m * m
        wp = (w + m - 1) // m * m

        def prepare(t):  # pad with zeros (a static M−1, then cut to Hp, Wp), shift, split
            if m > 1:
                t = ops.pad(t, ((0, 0), (0, m - 1), (0, m - 1), (0, 0)))
                t = t[:, :hp, :wp, :]
            t = _roll(t, -self.shift)
            t = window_partition(t, m)  # (B·nW, M², C)
            t = ops.reshape(t, (-1, m * m, heads, d))
            return ops.transpose(t, (0, 2, 1, 3))  # (B·nW, heads, M², d)

        qw = prepare(q * (d**-0.5))
        kw, vw = prepare(k), prepare(v)
        logits = ops.matmul(qw, ops.transpose(kw, (0, 1, 3, 2)))  # (B·nW, heads, M², M²)
        logits = logits + self.relative_position_bias()[None]
        mask = attention_mask(hp, wp, m, self.shift, h, w)[:, None]  # (nW, 1, M², M²)
        logits = ops.reshape(logits, (n, -1, heads, m * m, m * m)) + mask[None]
        attn = ops.softmax(ops.reshape(logits, (-1, heads, m * m, m * m)), axis=-1)
        out = ops.matmul(attn, vw)  # (B·nW, heads, M², d)
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (-1, m * m, c))
        out = window_reverse(out, m, hp, wp)
        out = _roll(out, self.shift)
        return out[:, :h, :w, :]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {
            **super().get_config(),
            "window": self.window,
            "heads": self.heads,
            "shift": self.shift,
        }


@keras.saving.register_keras_serializable(package="jndtf")
class ThetaNormalization(layers.Layer):
    """``[I / 255, R] -> I_rr = 255 · clip(I / 255 + R, 0, 1)``: the residual connection to the
    input and θ of eq. (5), output in pixel values 0..255.

    Args:
        **kwargs: standard :class:`keras.layers.Layer` arguments.
    """

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(f"ThetaNormalization expects [image, residual], got {input_shape}")
        a, b = (_nhwc("ThetaNormalization", s) for s in input_shape)
        if a[-1] != b[-1]:
            raise ValueError(f"ThetaNormalization: channel counts differ, {a} vs {b}")
        self.built = True

    def call(self, inputs):
        image, residual = inputs
        return 255.0 * ops.clip(image + residual, 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])


# --------------------------------------------------------------------------- the network


def _convs(t, widths, prefix, kernel=3):
    """3x3 "same" convs, ReLU between them, the last one linear."""
    for j, f in enumerate(widths, start=1):
        last = j == len(widths)
        t = layers.Conv2D(
            f, kernel, padding="same", activation=None if last else "relu", name=f"{prefix}{j}"
        )(t)
    return t


def _encoder(q_in, kv_in, cfg, shift, prefix):
    """One window multimodal encoder (wmE, shift 0) or shifted one (swmE)."""
    c = cfg["channels"]
    qn = layers.LayerNormalization(epsilon=1e-5, name=f"{prefix}_norm_q")(q_in)
    kvn = layers.LayerNormalization(epsilon=1e-5, name=f"{prefix}_norm_kv")(kv_in)
    q = layers.Conv2D(c, 1, name=f"{prefix}_q")(qn)
    k = layers.Conv2D(c, 1, name=f"{prefix}_k")(kvn)
    v = layers.Conv2D(c, 1, name=f"{prefix}_v")(kvn)
    a = WindowAttention(cfg["window"], cfg["heads"], shift, name=f"{prefix}_attn")([q, k, v])
    a = layers.Conv2D(c, 1, name=f"{prefix}_proj")(a)
    x = layers.Add(name=f"{prefix}_res1")([q_in, a])
    h = layers.LayerNormalization(epsilon=1e-5, name=f"{prefix}_norm_mlp")(x)
    h = layers.Conv2D(cfg["mlp_ratio"] * c, 1, activation="gelu", name=f"{prefix}_mlp1")(h)
    h = layers.Conv2D(c, 1, name=f"{prefix}_mlp2")(h)
    return layers.Add(name=f"{prefix}_res2")([x, h])


def _hmpf(f_sa, f_de, f_se, cfg):
    """Eqs. (6)-(9)."""
    c = cfg["channels"]
    f_sum = layers.Add(name="hmpf_sum")([f_sa, f_de])
    f_sub = layers.Subtract(name="hmpf_sub")([f_sa, f_de])
    f_e = layers.Add(name="hmpf_enhance")(
        [ChannelAttention(cfg["se_reduction"], name="hmpf_se_sum")(f_sum), f_sum]
    )
    f_o = layers.Add(name="hmpf_offset")(
        [ChannelAttention(cfg["se_reduction"], name="hmpf_se_sub")(f_sub), f_sub]
    )
    f_fuse = layers.Add(name="hmpf_fuse")([f_e, f_o])
    gamma = _convs(f_se, (c, c), "hmpf_gamma")
    beta = _convs(f_se, (c, c), "hmpf_beta")
    return layers.Add(name="f_pr")([layers.Multiply(name="hmpf_scale")([f_fuse, gamma]), beta])


def _hmfa(f_r, f_pr, cfg):
    """Eqs. (10)-(12): n STA blocks."""
    c, n = cfg["channels"], cfg["sta_blocks"]
    shift = cfg["window"] // 2
    conv = {j: _convs(f_pr, (c, c), f"hmfa_conv{j}_") for j in range(1, 2 * n)}
    x = f_r
    for i in range(1, n + 1):
        kv_w = f_pr if i == 1 else conv[2 * i - 2]
        f_m = _encoder(x, kv_w, cfg, 0, f"sta{i}_wme")
        x = _encoder(f_m, conv[2 * i - 1], cfg, shift, f"sta{i}_swme")
    return x


def build_hmjnd(
    preset: str = DEFAULT_PRESET, *, with_features: bool = False, **overrides
) -> keras.Model:
    """hmJND-Net: ``(N, H, W, 6)`` -> I_rr ``(N, H, W, 3)`` in pixel values 0..255.

    Args:
        preset: a name of :data:`jndtf.models.hmjnd.presets.PRESETS` (``hmjnd``,
            ``hmjnd_tiny``).
        with_features: also output F_r and F_pr (for eq. (2)): the model then returns a dict
            ``{"image", "features_rgb", "features_prior"}``, what
            :class:`jndtf.losses.hmjnd.HmJNDLoss` takes.
        **overrides: settings replacing the preset's: ``channels``, ``heads``, ``window``,
            ``mlp_ratio``, ``sta_blocks``, ``se_reduction``, and the ablations ``modalities``
            (Table 1), ``fusion`` (``"hmpf"`` | ``"concat"``) and ``alignment`` (``"hmfa"`` |
            ``"se_conv"``) (Table 2); ``name`` of the model.

    Raises:
        KeyError: unknown preset. ValueError: an unknown or inconsistent setting.
    """
    name = overrides.pop("name", preset)
    cfg = get_preset(preset)
    unknown = sorted(set(overrides) - set(cfg))
    if unknown:
        raise ValueError(f"build_hmjnd: unknown setting(s) {unknown}; known: {sorted(cfg)}")
    cfg = check_config({**cfg, **overrides})
    c = cfg["channels"]

    inp = keras.Input((None, None, INPUT_CHANNELS), name="x_hm")
    rgb, i_sa, i_de, i_se = SplitModalities(cfg["modalities"], name="split")(inp)
    f_r = _convs(rgb, (c, c, c), "rgb_emb")
    f_sa = _convs(i_sa, (c, c, c), "saliency_emb")
    f_de = _convs(i_de, (c, c, c), "depth_emb")
    f_se = _convs(i_se, (c, c, c), "segmentation_emb")

    if cfg["fusion"] == "hmpf":
        f_pr = _hmpf(f_sa, f_de, f_se, cfg)
    else:  # Table 2, HMPF off
        t = layers.Concatenate(name="concat_priors")([f_sa, f_de, f_se])
        t = _convs(t, (c, c, c), "concat_conv")
        t = layers.ReLU(name="concat_relu")(t)
        f_pr = layers.Conv2D(c, 1, name="f_pr")(t)

    if cfg["alignment"] == "hmfa":
        f_an = _hmfa(f_r, f_pr, cfg)
    else:  # Table 2, HMFA off
        t = layers.Concatenate(name="concat_align")([f_pr, f_r])
        t = ChannelAttention(cfg["se_reduction"], name="align_se")(t)
        f_an = layers.Conv2D(c, 1, name="align_conv")(t)

    residual = layers.Conv2D(OUTPUT_CHANNELS, 3, padding="same", name="reshape")(f_an)
    i_rr = ThetaNormalization(name="i_rr")([rgb, residual])
    if with_features:
        outputs = {"image": i_rr, "features_rgb": f_r, "features_prior": f_pr}
        return keras.Model(inp, outputs, name=name)
    return keras.Model(inp, i_rr, name=name)


__all__ = [
    "MASK_VALUE",
    "ChannelAttention",
    "SplitModalities",
    "ThetaNormalization",
    "WindowAttention",
    "attention_mask",
    "build_hmjnd",
    "relative_position_index",
    "squeeze_excitation",
    "visibility_threshold",
    "window_partition",
    "window_reverse",
]
