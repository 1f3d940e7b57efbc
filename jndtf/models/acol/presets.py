"""Named configurations of ACoL-JND (Yu, Jin, Meng, Chen & Zhang 2024, KSII TIIS) and its
ablations (§4.2, Fig. 2 (b1)-(b4), Table 3).

Pure Python (no Keras import): the model registry imports this module to list the models, so
``jndtf list`` and the export layer can look names up without loading TensorFlow.

Every preset holds Table 1's layer widths under the reading of ../shared/notes/acol-table1.md
(see :func:`jndtf.models.acol.network.build_acol`) and differs only in two switches:

==========  ==========================  ==============================  ===========
preset      priors (input channels)     complementary branch (ACoL)     paper
==========  ==========================  ==============================  ===========
``acol``    f_pm, f_cm, f_va (3 + 3)    yes                             BL+ACoL+PM+CM, "Ours"
``bl``      PC, f_va (3 + 2)            no                              BL (Jin 2022)
``bl_acol`` PC, f_va (3 + 2)            yes                             BL+ACoL
``bl_pmcm`` f_pm, f_cm, f_va (3 + 3)    no                              BL+PM+CM
==========  ==========================  ==============================  ===========

**BL, as this package reads it.** §4.2 names Jin 2022 (ref. [23], "Full RGB JND modelling") as
BL, "BL+ACoL represents the BL used ACoL network", and "BL+PM+CM represents using PM and CM to
replace PC". The paper gives no layer table for Jin 2022's generator, and that paper is not
available here; so BL is defined as the ACoL-JND network *without* its adversarial complementary
part (no Up1, thresholding, erasing or branch B): CNN1 -> branch A (CNN2 + layers 5-6) -> CNN4
(on i3 alone, 32 input channels) -> Up2, with the priors of [23] as §1 and §2.2 describe them:
pattern complexity PC [20] and visual attention f_va [33]. The ablations then differ from each
other in exactly the factor the paper names, which is what Table 3 compares. It is a
reconstruction, not Jin 2022's published network.

``width`` scales every hidden layer (``tiny`` = 0.25, for tests and quick experiments); the
output layer keeps its 3 channels.

Example:
    >>> get_preset("acol")["priors"]
    ('pattern_masking', 'contrast_masking', 'saliency')
    >>> round(macs_per_pixel("acol"))
    87147
"""

from __future__ import annotations

import functools
from types import MappingProxyType

#: Priors of ACoL-JND, eq. (1) and §3.2: pattern masking and contrast masking of Wu 2017 [20]
#: and visual attention [33], one luma map each (names of :data:`jndtf.priors.PRIORS`).
PRIORS_PM_CM_VA = ("pattern_masking", "contrast_masking", "saliency")

#: Priors of the baseline Jin 2022 [23] as the paper describes it: pattern complexity + VA.
PRIORS_PC_VA = ("pattern_complexity", "saliency")

#: Table 1 under the reading of notes/acol-table1.md, at width 1.
TABLE1 = MappingProxyType(
    {
        # CNN1 1E-4E: 6 -> 8 -> 16 -> 16 -> 32, full resolution.
        "cnn1_filters": (8, 16, 16, 32),
        # One branch = CNN2 1E-4E + "CNN3" 5E-6E: 32 -> 32 -> 64 (/2) -> 128 -> 64 (/2) -> 32 -> 32.
        "branch_filters": (32, 64, 128, 64, 32, 32),
        "branch_strides": (1, 2, 1, 2, 1, 1),
        # CNN4 1E-2E on stack(i3, i7) (64 channels); 3E is the 3-channel output conv.
        "cnn4_filters": (32, 16),
        "output_channels": 3,
        "kernel_size": 3,
        # LReLU slope: the paper cites Maas et al. 2013 [49] and gives no value; 0.01 is [49]'s
        # value and PyTorch's default.
        "negative_slope": 0.01,
        # JND map = min(jnd_scale * |Up2(i8)|, max_jnd): see network.build_acol.
        "output_activation": "abs",
        "jnd_scale": 255.0,
        "max_jnd": 255.0,
        # Branch B has its own weights (two parallel networks, §5); True shares A's.
        "share_branches": False,
        # Border of the 3x3 convs: "zeros" ('same', as the shipped weights) or "reflect"
        # (no border lines; network.build_acol). The paper does not say.
        "padding": "zeros",
    }
)

PRESETS = MappingProxyType(
    {
        "acol": MappingProxyType(
            {
                **TABLE1,
                "priors": PRIORS_PM_CM_VA,
                "complementary": True,
                "description": "ACoL-JND (BL+ACoL+PM+CM): Table 1 network, PM+CM+VA priors",
            }
        ),
        "bl": MappingProxyType(
            {
                **TABLE1,
                "priors": PRIORS_PC_VA,
                "complementary": False,
                "description": "Ablation BL (Jin 2022 reading): no complementary branch, PC+VA",
            }
        ),
        "bl_acol": MappingProxyType(
            {
                **TABLE1,
                "priors": PRIORS_PC_VA,
                "complementary": True,
                "description": "Ablation BL+ACoL: complementary branch, PC+VA priors",
            }
        ),
        "bl_pmcm": MappingProxyType(
            {
                **TABLE1,
                "priors": PRIORS_PM_CM_VA,
                "complementary": False,
                "description": "Ablation BL+PM+CM: no complementary branch, PM+CM+VA priors",
            }
        ),
    }
)

DEFAULT_PRESET = "acol"

#: Named width multipliers for ``build_acol(width=...)``.
WIDTHS = MappingProxyType({"default": 1.0, "tiny": 0.25})


def get_preset(name: str) -> dict:
    """A copy of preset `name`'s settings; KeyError lists the known presets."""
    try:
        return dict(PRESETS[name])
    except KeyError:
        raise KeyError(f"unknown ACoL preset {name!r}; available: {', '.join(PRESETS)}") from None


def width_multiplier(width: float | str) -> float:
    """``"default"``/``"tiny"`` or a positive number -> the multiplier (ValueError otherwise)."""
    if isinstance(width, str):
        if width not in WIDTHS:
            raise ValueError(f"unknown width {width!r}; use a number or one of {list(WIDTHS)}")
        return WIDTHS[width]
    w = float(width)
    if not w > 0:
        raise ValueError(f"width multiplier must be > 0, got {width}")
    return w


def scaled(filters: int, width: float | str) -> int:
    """Channels of a hidden layer at `width`: ``max(1, round(filters * width))``."""
    return max(1, round(filters * width_multiplier(width)))


def macs_per_pixel(preset: str | dict = DEFAULT_PRESET, width: float | str = 1.0) -> float:
    """Multiply-accumulates of the convolutions per input pixel (H, W multiples of 4).

    Counts ``k*k*c_in*c_out`` per output pixel of each conv, weighted by its output resolution
    relative to the input (1, 1/4 after one stride-2 conv, 1/16 after two); the complementary
    branch counts twice (shared weights or not). Resizes, thresholding and activations are left
    out (a few operations per element).

    Args:
        preset: a preset name or a settings dict like :func:`get_preset`'s.
        width: width multiplier or a name from :data:`WIDTHS`.

    Returns:
        MAC per input pixel (87147 for ``acol`` at width 1: CNN1 8496, each branch 38592,
        CNN4 1467, matching the ≈87k of notes/acol-table1.md).
    """
    cfg = get_preset(preset) if isinstance(preset, str) else dict(preset)
    k2 = int(cfg["kernel_size"]) ** 2
    cin = 3 + len(cfg["priors"])
    total = 0.0
    for f in cfg["cnn1_filters"]:
        cout = scaled(f, width)
        total += k2 * cin * cout
        cin = cout
    branch, area = 0.0, 1.0
    for f, s in zip(cfg["branch_filters"], cfg["branch_strides"], strict=True):
        cout = scaled(f, width)
        area /= int(s) ** 2
        branch += k2 * cin * cout * area
        cin = cout
    total += branch * (2 if cfg["complementary"] else 1)
    cin = cin * (2 if cfg["complementary"] else 1)
    for f in (*(scaled(f, width) for f in cfg["cnn4_filters"]), int(cfg["output_channels"])):
        total += k2 * cin * f * area
        cin = f
    return total


def _build(preset: str, **kwargs):
    from jndtf.models.acol.network import build_acol

    return build_acol(preset, **kwargs)


#: ``jndtf train acol``: settings, run and CLI glue of :mod:`jndtf.train.acol` (lazy paths).
TRAIN = {
    "settings": "jndtf.train.acol.config:AcolTrainConfig",
    "run": "jndtf.train.acol:train_acol",
    "help": "Train ACoL-JND (or an ablation) with eq. (6), L = δ·A-IQA + η·eq. (5), on any "
    "folder of images. Checkpoints every epoch and on Ctrl-C; --resume continues exactly.",
    "report": "jndtf.train.acol.config:report",
    "checkpoint": "jndtf.train.acol.config:checkpoint_file",
    "progress": "jndtf.train.acol.config:progress_fields",
    "interrupted": "jndtf.train.acol.errors:TrainingInterrupted",
}

#: Quantization-aware training: the Keras 3 network read as data, rebuilt with tf_keras.
EXPORT = {
    "qat_describe": "jndtf.models.acol.qat_describe:describe_acol",
    "qat_rebuild": "jndtf.models.acol.qat_rebuild",
    "qat_task_loss": "jndtf.models.acol.loss:ACoLJNDLoss",
}


def _register() -> None:
    from jndtf.models.registry import ExportHooks, TrainEntry, register_model

    train, export = TrainEntry(**TRAIN), ExportHooks(**EXPORT)
    for name, cfg in PRESETS.items():
        register_model(
            name,
            "acol",
            functools.partial(_build, name),
            input_channels=3 + len(cfg["priors"]),
            priors=cfg["priors"],
            normalization="unit",
            output_channels=int(cfg["output_channels"]),
            description=cfg["description"],
            output_kind="jnd_map",
            train=train,
            export=export,
            macs=f"{__name__}:macs_per_pixel",
            overwrite=True,
        )


_register()
