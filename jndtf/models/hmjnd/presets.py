"""Named configurations of hmJND-Net (Xie, Wang et al., AAAI 2023) and its MAC count.

The paper states the structure (three-layer 3x3 embeddings, HMPF eqs. (6)-(9), HMFA with n = 3
STA blocks, eqs. (10)-(12), a Reshape module, a residual to the input, θ normalization) but no
widths, heads, window size or MLP ratio; jndtf's choices, one preset each:

- ``hmjnd``: 64 channels, 4 heads, 8x8 windows (224-pixel training patches are 28 windows),
  MLP ratio 2, 3 STA blocks, SE reduction 16 (SENet's default);
- ``hmjnd_tiny``: 8 channels, 2 heads, 4x4 windows, 2 STA blocks (so the i > 1 branch of eqs.
  (11)-(12) is built), SE reduction 2: every layer of ``hmjnd``, for tests and CI.

Ablation settings (Tables 1-2 of the paper) are overrides of any preset: ``modalities`` (which
of saliency, depth, segmentation are used; a disabled one is replaced by repeating an enabled
one, as Sec. 4.2 does), ``fusion="concat"`` (HMPF replaced by concatenation, three 3x3 convs and
a 1x1 conv) and ``alignment="se_conv"`` (HMFA replaced by concatenation, SE channel attention
and a 1x1 conv).

Pure Python (no Keras import): registers the presets in :mod:`jndtf.models.registry` as family
``"hmjnd"``, output kind ``"image"`` (the redundancy-removed image I_rr, 0..255), 6 input
channels (RGB / 255, then the saliency, depth and segmentation maps in [0, 1], built by
:func:`jndtf.models.hmjnd.inputs.hmjnd_input`).
"""

from __future__ import annotations

import functools
from types import MappingProxyType

#: The prior modalities, in input-channel order after RGB.
MODALITY_NAMES = ("saliency", "depth", "segmentation")

#: Input channels: RGB, then one map per modality.
INPUT_CHANNELS = 3 + len(MODALITY_NAMES)

#: Output channels: the redundancy-removed RGB image.
OUTPUT_CHANNELS = 3

#: ``fusion`` values: the paper's HMPF, or Table 2's alternative (concatenation + convs).
FUSIONS = ("hmpf", "concat")

#: ``alignment`` values: the paper's HMFA, or Table 2's alternative (concat + SE + 1x1 conv).
ALIGNMENTS = ("hmfa", "se_conv")

_COMMON = {
    "mlp_ratio": 2,
    "modalities": MODALITY_NAMES,
    "fusion": "hmpf",
    "alignment": "hmfa",
}

PRESETS = MappingProxyType(
    {
        "hmjnd": MappingProxyType(
            {
                **_COMMON,
                "channels": 64,
                "heads": 4,
                "window": 8,
                "sta_blocks": 3,
                "se_reduction": 16,
                "description": "hmJND-Net (multimodal redundancy-removed image; untrained)",
            }
        ),
        "hmjnd_tiny": MappingProxyType(
            {
                **_COMMON,
                "channels": 8,
                "heads": 2,
                "window": 4,
                "sta_blocks": 2,
                "se_reduction": 2,
                "description": "hmJND-Net, tiny widths (tests, CI)",
            }
        ),
    }
)

DEFAULT_PRESET = "hmjnd"

#: Network settings a preset holds (``description`` is for listings only).
NETWORK_KEYS = (
    "channels",
    "heads",
    "window",
    "mlp_ratio",
    "sta_blocks",
    "se_reduction",
    "modalities",
    "fusion",
    "alignment",
)


def get_preset(name: str) -> dict:
    """A copy of preset `name`'s network settings; KeyError lists the known presets."""
    try:
        cfg = PRESETS[name]
    except KeyError:
        raise KeyError(
            f"unknown hmJND-Net preset {name!r}; available: {', '.join(PRESETS)}"
        ) from None
    return {k: cfg[k] for k in NETWORK_KEYS}


def check_config(cfg: dict) -> dict:
    """Validates network settings (ValueError naming the setting); returns them normalized."""
    out = {k: int(cfg[k]) for k in ("channels", "heads", "window", "mlp_ratio", "sta_blocks")}
    out["se_reduction"] = int(cfg["se_reduction"])
    for key, value in out.items():
        if value < 1:
            raise ValueError(f"hmJND-Net: {key} must be >= 1, got {cfg[key]!r}")
    if out["channels"] % out["heads"]:
        raise ValueError(
            f"hmJND-Net: channels ({out['channels']}) must be a multiple of heads ({out['heads']})"
        )
    mods = cfg["modalities"]
    mods = (mods,) if isinstance(mods, str) else tuple(mods)
    unknown = [m for m in mods if m not in MODALITY_NAMES]
    if unknown:
        raise ValueError(
            f"hmJND-Net: unknown modalities {unknown}; choose from {MODALITY_NAMES} "
            "(an empty tuple uses none)"
        )
    out["modalities"] = tuple(m for m in MODALITY_NAMES if m in mods)
    for key, allowed in (("fusion", FUSIONS), ("alignment", ALIGNMENTS)):
        if cfg[key] not in allowed:
            raise ValueError(f"hmJND-Net: {key} must be one of {allowed}, got {cfg[key]!r}")
        out[key] = str(cfg[key])
    return out


def resolve(preset: str | dict = DEFAULT_PRESET) -> dict:
    """Checked settings of a preset name or a settings dict."""
    return check_config(get_preset(preset) if isinstance(preset, str) else dict(preset))


def macs_per_pixel(preset: str | dict = DEFAULT_PRESET, *, attention: bool = False) -> float:
    """Multiply-accumulates per input pixel of :func:`jndtf.models.hmjnd.network.build_hmjnd`.

    Hand count: a ``k``x``k`` conv costs ``k²·c_in·c_out`` per pixel (all convs run at full
    resolution); the per-token linear maps of each encoder (Q, K, V, output projection, the
    two MLP layers) are 1x1 convs: ``(4 + 2·mlp_ratio)·C²``. Left out: the SE fully connected
    layers (once per image), layer norms, activations, softmax.

    Args:
        preset: a preset name or a settings dict.
        attention: add the window attention's matrix products, ``2·M²·C`` per pixel and
            encoder (``Q·Kᵀ`` and ``A·V`` over an M x M window) at sizes that are multiples of
            the window (padding adds ``(H_p·W_p)/(H·W) - 1`` of that). The default (False) is
            what the conv layers hold, the number the shared model harness checks.

    Example:
        >>> round(macs_per_pixel("hmjnd"))
        1012800
    """
    cfg = resolve(preset)
    c, r = cfg["channels"], cfg["mlp_ratio"]
    three = 9 * (3 * c + 2 * c * c)  # RGB embedding: 3 -> C -> C -> C
    total = three
    total += 3 * 9 * (c + 2 * c * c)  # one 1 -> C -> C -> C embedding per modality
    if cfg["fusion"] == "hmpf":
        total += 2 * 2 * 9 * c * c  # eq. (9): scale and shift branches, two 3x3 convs each
    else:  # Table 2: concat(F_sa, F_de, F_se) -> 3x3 (3C -> C), two 3x3 (C -> C), 1x1
        total += 9 * 3 * c * c + 2 * 9 * c * c + c * c
    if cfg["alignment"] == "hmfa":
        n = cfg["sta_blocks"]
        total += (2 * n - 1) * 2 * 9 * c * c  # F_conv^1 .. F_conv^(2n-1), two 3x3 convs each
        per_encoder = (4 + 2 * r) * c * c
        if attention:
            per_encoder += 2 * cfg["window"] ** 2 * c
        total += 2 * n * per_encoder  # a wmE and a swmE per STA block
    else:  # Table 2: concat(F_pr, F_r) -> SE -> 1x1 (2C -> C)
        total += 2 * c * c
    total += 9 * c * OUTPUT_CHANNELS  # Reshape module: 3x3 conv C -> 3
    return float(total)


def _macs(name: str) -> float:
    return macs_per_pixel(name)


def _build(preset: str, **kwargs):
    from jndtf.models.hmjnd.network import build_hmjnd

    return build_hmjnd(preset, **kwargs)


#: ``jndtf train hmjnd`` (:mod:`jndtf.train.hmjnd`): distill, self-supervised or pairs.
TRAIN = {
    "settings": "jndtf.train.hmjnd.config:HmjndTrainConfig",
    "run": "jndtf.train.hmjnd:train_hmjnd",
    "help": "Train hmJND-Net (eq. (2)) offline: --mode distill (I_gt = eq. (14) under a "
    "teacher JND model), self (quality-constrained energy, no ground truth) or pairs "
    "(originals/ + redundancy_removed/). Per-epoch validation MS-SSIM at MSE 100. Resume is "
    "exact.",
    "report": "jndtf.train.hmjnd.config:report",
    "checkpoint": "jndtf.train.hmjnd.config:checkpoint_file",
    "progress": "jndtf.train.hmjnd.config:progress_fields",
    "interrupted": "jndtf.train._state:TrainingInterrupted",
}


def _register() -> None:
    from jndtf.models.registry import ExportHooks, TrainEntry, register_model

    train = TrainEntry(**TRAIN)

    for name, cfg in PRESETS.items():
        register_model(
            name,
            "hmjnd",
            functools.partial(_build, name),
            input_channels=INPUT_CHANNELS,
            normalization="unit",
            output_channels=OUTPUT_CHANNELS,
            jnd_units="pixel values 0..255 (the redundancy-removed image I_rr)",
            description=cfg["description"],
            output_kind="image",
            modalities=("rgb", "saliency_map", "depth", "segmentation"),
            input_builder="jndtf.models.hmjnd.inputs:hmjnd_input",
            # int8 keeps the STA blocks' layer norms in float (all-int8 lost ~20 dB of I_rr
            # parity on hmjnd_tiny, these ~0.1 % of the MACs win it back: jndtf.export.inputs)
            export=ExportHooks(
                float_layers=tuple(
                    f"sta{i}_{e}_norm_{n}"
                    for i in (1, 2, 3)
                    for e in ("wme", "swme")
                    for n in ("q", "kv", "mlp")
                )
            ),
            macs=f"{__name__}:_macs",
            train=train,
            overwrite=True,
        )


_register()
