"""Named configurations of jndtf's compact PoolNet (Liu, Hou, Cheng, Feng & Jiang, "A Simple
Pooling-Based Design for Real-Time Salient Object Detection", CVPR 2019), the network behind
the visual-attention prior f_va of ACoL-JND (ref. [33] of the ACoL-JND paper, §3.2).

Pure Python (no Keras import): the model registry imports this module to list the models.

PoolNet puts a U-shape feature pyramid on a pretrained VGG-16/ResNet-50. Neither backbone can
be downloaded here (DESIGN.md, "Offline world"), so jndtf's encoder is a small MobileNetV2-style
stack of inverted-residual blocks trained from scratch; the decoder keeps PoolNet's two
modules (§3.1 GGM, §3.2 FAM) as :func:`jndtf.models.saliency.network.build_poolnet` describes.

=================  =====================  ==========================  ===========  ==========
preset             encoder channels        decoder channels            MAC / pixel  parameters
                   (/2, /4, /8, /16, /32)  (/4, /8, /16, /32), GGM
=================  =====================  ==========================  ===========  ==========
``poolnet_tiny``   8, 8, 12, 16, 24        8, 8, 12, 16; 16            399          40,053
``poolnet_small``  16, 24, 32, 64, 96      24, 32, 48, 64; 64          5,173        790,969
=================  =====================  ==========================  ===========  ==========

(MAC per input pixel from :func:`macs_per_pixel`, parameters from ``model.count_params()``;
both pinned by ``tests/test_saliency_net.py``.) ``poolnet_tiny`` is for tests and quick pipeline
checks; ``poolnet_small`` is the default. For comparison, ACoL-JND itself costs ~87k MAC per
pixel, so the prior adds 6 % at full resolution and far less at the prior's default working
size (long side 384 px, :class:`jndtf.models.saliency_prior.SaliencyPrior`).

Example:
    >>> get_preset("poolnet_small")["ppm_windows"]
    (4, 2)
    >>> round(macs_per_pixel("poolnet_tiny"))
    399
"""

from __future__ import annotations

import functools
from types import MappingProxyType

#: The part of PoolNet that is the same in every preset.
_COMMON = MappingProxyType(
    {
        # §3.1 GGM: pyramid pooling = the top feature itself, its global average and average
        # pools of these windows (in /32 feature pixels). PoolNet's adaptive 3x3 and 5x5 bins
        # need the feature size at build time; fixed windows keep H, W dynamic (TFLite
        # [1, -1, -1, 3]). At PoolNet's ~300 x 400 training size (a ~10 x 13 top feature) a
        # window of 4 gives ~3 x 4 bins and a window of 2 ~5 x 7: about PoolNet's 3 and 5.
        "ppm_windows": (4, 2),
        # §3.2 FAM: average pools with these windows (= strides), as PoolNet's code (2, 4, 8).
        "fam_windows": (2, 4, 8),
        # Inverted residual blocks (MobileNetV2): 3x3 depthwise, ReLU6, linear bottleneck.
        "kernel_size": 3,
        "output_channels": 1,
    }
)

PRESETS = MappingProxyType(
    {
        "poolnet_tiny": MappingProxyType(
            {
                **_COMMON,
                "stem_filters": 8,
                # (channels, blocks, expansion) per stage; each stage starts with stride 2.
                "stages": ((8, 1, 2), (12, 1, 2), (16, 1, 2), (24, 1, 2)),
                "decoder_filters": (8, 8, 12, 16),
                "ggm_filters": 16,
                "description": "compact PoolNet saliency net, tiny widths (tests, pipeline checks)",
            }
        ),
        "poolnet_small": MappingProxyType(
            {
                **_COMMON,
                "stem_filters": 16,
                "stages": ((24, 2, 4), (32, 3, 4), (64, 3, 4), (96, 2, 4)),
                "decoder_filters": (24, 32, 48, 64),
                "ggm_filters": 64,
                "description": "compact PoolNet saliency net (MobileNetV2-style encoder, GGM+FAM)",
            }
        ),
    }
)

DEFAULT_PRESET = "poolnet_small"


def get_preset(name: str) -> dict:
    """A copy of preset `name`'s settings; KeyError lists the known presets."""
    try:
        return dict(PRESETS[name])
    except KeyError:
        raise KeyError(
            f"unknown saliency preset {name!r}; available: {', '.join(PRESETS)}"
        ) from None


def check_preset(cfg: dict) -> None:
    """ValueError naming the first inconsistent setting of a preset dict."""
    stages = tuple(cfg["stages"])
    if not stages or any(len(s) != 3 for s in stages):
        raise ValueError(f"stages must be (channels, blocks, expansion) triples, got {stages}")
    for c, n, t in stages:
        if int(c) < 1 or int(n) < 1 or int(t) < 1:
            raise ValueError(f"stage (channels, blocks, expansion) must be >= 1, got {(c, n, t)}")
    if len(cfg["decoder_filters"]) != len(stages):
        raise ValueError(
            f"decoder_filters {cfg['decoder_filters']} needs one width per encoder stage "
            f"({len(stages)})"
        )
    positive = [int(cfg["stem_filters"]), int(cfg["ggm_filters"]), *cfg["decoder_filters"]]
    windows = [*cfg["ppm_windows"], *cfg["fam_windows"]]
    if min(positive) < 1 or any(int(w) < 2 for w in windows):
        raise ValueError(
            f"filters must be >= 1 and pool windows >= 2: filters {positive}, windows {windows}"
        )
    if int(cfg["kernel_size"]) % 2 != 1:
        raise ValueError(f"kernel_size must be odd, got {cfg['kernel_size']}")


def macs_per_pixel(preset: str | dict = DEFAULT_PRESET) -> float:
    """Multiply-accumulates of the convolutions per input pixel (H, W multiples of 32 and of
    every pool window, so each pooled grid is exact).

    Counts every Conv2D and depthwise conv (batch norm folds into them on export) except the
    GGM's global-average branch (one 1x1 conv on a 1 x 1 map per image); pools, resizes,
    additions and the sigmoid are not counted, as in
    :func:`jndtf.models.acol.presets.macs_per_pixel`.

    Args:
        preset: a preset name or a settings dict like :func:`get_preset`'s.

    Returns:
        MAC per input pixel (5173.3 for ``poolnet_small``, 398.6 for ``poolnet_tiny``).
    """
    cfg = get_preset(preset) if isinstance(preset, str) else dict(preset)
    check_preset(cfg)
    k2 = int(cfg["kernel_size"]) ** 2
    total = 0.0

    def conv(cin, cout, stride_area, k=1):  # stride_area: pixels of the input per output pixel
        return k * cin * cout / stride_area

    # encoder: stem 3x3 stride 2, then inverted residual blocks
    cin, area = 3, 4
    total += conv(cin, int(cfg["stem_filters"]), area, k2)
    cin = int(cfg["stem_filters"])
    levels = []
    for c, n, t in cfg["stages"]:
        for b in range(int(n)):
            hidden = cin * int(t)
            if int(t) != 1:
                total += conv(cin, hidden, area)
            area_out = area * (4 if b == 0 else 1)
            total += k2 * hidden / area_out  # depthwise
            total += conv(hidden, int(c), area_out)
            cin, area = int(c), area_out
        levels.append((cin, area))
    d = [int(f) for f in cfg["decoder_filters"]]
    g = int(cfg["ggm_filters"])
    # laterals (1x1) on every level
    for (c, a), dl in zip(levels, d, strict=True):
        total += conv(c, dl, a)
    top_c, top_a = d[-1], levels[-1][1]
    # GGM: pyramid branches (1x1 on pooled maps), concat -> 3x3 to g
    # (the global-average branch's 1x1 conv runs once per image, not per pixel: not counted)
    for w in cfg["ppm_windows"]:
        total += conv(top_c, g, top_a * int(w) ** 2)
    total += conv(top_c + g * (1 + len(cfg["ppm_windows"])), g, top_a, k2)
    # GGF: 3x3 from g to the width each finer level's fusion adds
    for i in range(len(d) - 1):
        total += conv(g, d[i], levels[i][1], k2)
    # FAMs coarse -> fine
    for i in range(len(d) - 1, -1, -1):
        c, a = d[i], levels[i][1]
        for w in cfg["fam_windows"]:
            total += conv(c, c, a * int(w) ** 2, k2)
        if i > 0:  # resize to the finer level, conv_sum, fuse, conv_sum_c
            total += conv(c, d[i - 1], levels[i - 1][1], k2)
            total += conv(d[i - 1], d[i - 1], levels[i - 1][1], k2)
        else:
            total += conv(c, c, a, k2)
    total += conv(d[0], int(cfg["output_channels"]), levels[0][1])  # score
    return total


def _build(preset: str, **kwargs):
    from jndtf.models.saliency.network import build_poolnet

    return build_poolnet(preset, **kwargs)


#: ``jndtf train saliency``: settings, run and CLI glue of :mod:`jndtf.train.saliency`.
TRAIN = {
    "settings": "jndtf.train.saliency.config:SaliencyTrainConfig",
    "run": "jndtf.train.saliency:train_saliency",
    "help": "Train the compact PoolNet saliency network (the f_va prior of ACoL-JND) on "
    "photo/mask pairs; without trained weights jndtf uses the classical spectral-residual "
    "saliency.",
    "report": "jndtf.train.saliency.config:report",
    "checkpoint": "jndtf.train.saliency.config:checkpoint_file",
}


def _register() -> None:
    from jndtf.models.registry import TrainEntry, register_model

    train = TrainEntry(**TRAIN)
    for name, cfg in PRESETS.items():
        register_model(
            name,
            "saliency",
            functools.partial(_build, name),
            input_channels=3,
            priors=(),
            normalization="unit",
            output_channels=int(cfg["output_channels"]),
            jnd_units="saliency probability 0..1 (not a JND map)",
            output_kind="saliency",
            description=cfg["description"],
            train=train,
            macs=f"{__name__}:macs_per_pixel",
            overwrite=True,
        )


_register()

__all__ = ["DEFAULT_PRESET", "PRESETS", "check_preset", "get_preset", "macs_per_pixel"]
