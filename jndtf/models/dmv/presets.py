"""Named configurations of DMV-JND-NET's E-D (Jin et al., TCSVT 2022, Sec. IV-A, Fig. 4).

``dmv`` is the size jndtf would train on CIFAR-10 (32x32): encoder widths 64/128/256, a 256-wide
bottleneck, a 128-then-64 deconvolution decoder (~1.5 M parameters, ~66.5 k MACs per pixel).
``dmv_tiny`` keeps every layer with widths 8/16/16 for tests and CI.

Pure Python (no Keras import): registers the presets in :mod:`jndtf.models.registry` as family
``"dmv"``, output kind ``"dmv_jnd"`` (a *signed* perturbation e in pixel units, x̂ = x + e),
4 input channels (RGB 0..1 and the merged CAM map c in 0..1, modalities ``("rgb", "cam")``,
built by :func:`jndtf.models.dmv.inputs.dmv_input`). ``jndtf export`` exports the E-D alone
(4-channel input); calibration and parity take the merged CAM of the classifiers given by
``--classifiers`` or named by the model's manifest (:mod:`jndtf.export.inputs`).
"""

from __future__ import annotations

import functools
from types import MappingProxyType

PRESETS = MappingProxyType(
    {
        "dmv": MappingProxyType(
            {
                "encoder_filters": (64, 128, 256),
                "bottleneck_filters": 256,
                "decoder_filters": (128, 64),
                "decoder_strides": (4, 2),
                "description": "DMV-JND-NET E-D (machine-vision JND, signed e; CIFAR size)",
            }
        ),
        "dmv_tiny": MappingProxyType(
            {
                "encoder_filters": (8, 16, 16),
                "bottleneck_filters": 16,
                "decoder_filters": (8, 8),
                "decoder_strides": (4, 2),
                "description": "DMV-JND-NET E-D, tiny widths (tests, CI)",
            }
        ),
    }
)

DEFAULT_PRESET = "dmv"

#: Input channels: RGB, then the merged CAM map c (eq. (2)).
INPUT_CHANNELS = 4

#: Output channels: e per colour channel.
OUTPUT_CHANNELS = 3

#: Network settings a preset holds (``description`` is for listings only).
NETWORK_KEYS = ("encoder_filters", "bottleneck_filters", "decoder_filters", "decoder_strides")


def get_preset(name: str) -> dict:
    """A copy of preset `name`'s network settings; KeyError lists the known presets."""
    try:
        cfg = PRESETS[name]
    except KeyError:
        raise KeyError(
            f"unknown DMV-JND-NET preset {name!r}; available: {', '.join(PRESETS)}"
        ) from None
    return {k: cfg[k] for k in NETWORK_KEYS}


def check_config(cfg: dict) -> dict:
    """Validates network settings (ValueError naming the setting); returns them normalized."""
    out = {
        "encoder_filters": tuple(int(f) for f in cfg["encoder_filters"]),
        "bottleneck_filters": int(cfg["bottleneck_filters"]),
        "decoder_filters": tuple(int(f) for f in cfg["decoder_filters"]),
        "decoder_strides": tuple(int(s) for s in cfg["decoder_strides"]),
    }
    widths = (*out["encoder_filters"], out["bottleneck_filters"], *out["decoder_filters"])
    if not out["encoder_filters"] or any(f < 1 for f in widths):
        raise ValueError(f"DMV-JND-NET: every width must be >= 1, got {cfg}")
    if len(out["decoder_filters"]) != len(out["decoder_strides"]):
        raise ValueError(
            "DMV-JND-NET: decoder_filters and decoder_strides need the same length, got "
            f"{out['decoder_filters']} and {out['decoder_strides']}"
        )
    if any(s < 1 for s in out["decoder_strides"]):
        raise ValueError(f"DMV-JND-NET: decoder_strides must be >= 1, got {out['decoder_strides']}")
    total = 1
    for s in out["decoder_strides"]:
        total *= s
    if total != total_stride(out):
        raise ValueError(
            f"DMV-JND-NET: the decoder strides {out['decoder_strides']} multiply to {total}, but "
            f"the {len(out['encoder_filters'])} 2x2 max pools of the encoder shrink by "
            f"{total_stride(out)}; make them equal"
        )
    return out


def total_stride(cfg: dict) -> int:
    """Downsampling of the encoder: 2 per max pool (one per entry of ``encoder_filters``)."""
    return 2 ** len(tuple(cfg["encoder_filters"]))


def macs_per_pixel(preset: str | dict = DEFAULT_PRESET) -> float:
    """Multiply-accumulates per input pixel for H, W multiples of :func:`total_stride`.

    Hand count of :func:`jndtf.models.dmv.network.build_dmv_net`: each 3x3 conv costs
    ``9·c_in·c_out`` per output pixel, weighted by its resolution (1/4 after each max pool); a
    ``k``x``k`` transposed conv of stride ``k`` costs ``k²·c_in·c_out`` per *input* pixel (each
    input pixel writes one k x k block). Batch norm, ReLU, pooling, the crop and the rescale are
    left out.

    Example:
        >>> round(macs_per_pixel("dmv"))
        66496
    """
    cfg = check_config(get_preset(preset) if isinstance(preset, str) else dict(preset))
    cin, area, total = INPUT_CHANNELS, 1.0, 0.0
    for f in cfg["encoder_filters"]:
        total += 9 * cin * f * area
        cin, area = f, area / 4
    total += 9 * cin * cfg["bottleneck_filters"] * area
    cin = cfg["bottleneck_filters"]
    for f, s in zip(cfg["decoder_filters"], cfg["decoder_strides"], strict=True):
        total += s * s * cin * f * area
        cin, area = f, area * s * s
    total += 9 * cin * OUTPUT_CHANNELS * area
    return total


def _build(preset: str, **kwargs):
    from jndtf.models.dmv.network import build_dmv_net

    return build_dmv_net(preset, **kwargs)


def _macs(name: str) -> float:
    return macs_per_pixel(name)


#: ``jndtf train dmv``: settings, run and CLI glue of :mod:`jndtf.train.dmv`.
TRAIN = {
    "settings": "jndtf.train.dmv.config:DmvTrainConfig",
    "run": "jndtf.train.dmv:train_dmv",
    "help": "Train DMV-JND-NET (machine-vision JND, eq. (7)) through the four frozen CAM "
    "classifiers of a `jndtf train classifiers` run; per-epoch validation RCA (eqs. (16)-(17)) "
    "and PSNR. Resume is exact.",
    "report": "jndtf.train.dmv.config:report",
    "checkpoint": "jndtf.train.dmv.config:checkpoint_file",
    "progress": "jndtf.train.dmv.config:progress_fields",
    "interrupted": "jndtf.train._state:TrainingInterrupted",
}


def _register() -> None:
    from jndtf.models.registry import ExportHooks, TrainEntry, register_model

    train = TrainEntry(**TRAIN)
    for name, cfg in PRESETS.items():
        register_model(
            name,
            "dmv",
            functools.partial(_build, name),
            input_channels=INPUT_CHANNELS,
            normalization="unit",
            output_channels=OUTPUT_CHANNELS,
            jnd_units="signed pixel values (x̂ = x + e on 0..255 images)",
            description=cfg["description"],
            output_kind="dmv_jnd",
            modalities=("rgb", "cam"),
            input_builder="jndtf.models.dmv.inputs:dmv_input",
            # exported alone (4-channel input); calibration/parity CAMs from real classifiers
            export=ExportHooks(),
            train=train,
            macs=f"{__name__}:_macs",
            overwrite=True,
        )


_register()
